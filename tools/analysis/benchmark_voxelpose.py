"""Speed of the VoxelPose forward (inference), per stage, on a synthetic scene.

    python tools/analysis/benchmark_voxelpose.py CONFIG [--device cpu|cuda] [--iters N]
        [--compare-loop] [--views V] [--people P] [--num-proposals M] [--threads T]
        [--cfg-options KEY=VALUE ...]

The model is built from CONFIG with random weights; the inputs are structured: a ring of
V cameras around the capture space, P standing people, and per-view Gaussian heatmaps at
their projected joints (heatmap-input configs; image-input configs get random images).
The root-net threshold is set so that ``--num-proposals`` proposals are people, and the
pose net's output layer is scaled so its soft-argmax is smooth (as in the golden data).

Reported: per-stage times (2D net, root projection, root V2V, proposals, pose projection,
pose V2V + soft-argmax), the total and frames per second. With ``--compare-loop`` the same
forward is also run by a plain implementation (one view and one proposal at a time, no
grid cache: the reference's structure) with the same weights and inputs, in the same run;
the tool checks that both give the same poses and ends with ``speedup: <x>`` (plain total
time / batched total time). The plain implementation uses the plain V2V modules; ours uses
whatever the config enables (``fast_eval``: BatchNorm folded, channels-last V2V copy).
"""
import argparse
import os.path as osp
import sys
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from mmengine.config import DictAction

# the repository root (tools.analysis.voxelpose_synthetic, the synthetic scenes)
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


class Timer:

    def __init__(self, device):
        self.device = device
        self.times = OrderedDict()

    def __call__(self, name):
        timer = self

        class _Ctx:

            def __enter__(self):
                _sync(timer.device)
                self.t = time.perf_counter()

            def __exit__(self, *a):
                _sync(timer.device)
                timer.times[name] = timer.times.get(name, 0.0) + time.perf_counter() - self.t

        return _Ctx()


STAGES = ('2d network', 'root projection', 'root net (V2V)', 'proposals', 'pose projection',
          'pose net (V2V + soft-argmax)')


@torch.no_grad()
def batched_forward(model, inputs, samples, timer):
    """Our forward (``VoxelPose.run``), stage by stage."""
    inputs = model._inputs(inputs)
    B, V = inputs.shape[:2]
    meta = model.parse_meta(samples, V)
    input_size = model._input_size(inputs, meta)
    with timer('2d network'):
        hm = model.extract_heatmaps(inputs)
    with timer('root projection'):
        cubes = model.root_net.project(hm, meta.cameras, meta.affines, meta.image_sizes,
                                       input_size=input_size, sample_keys=meta.keys)
    with timer('root net (V2V)'):
        root = model.root_net(cubes)
    with timer('proposals'):
        props = model.root_net.get_proposals(root)
        b_idx, m_idx = (props[..., 3] >= 0).nonzero(as_tuple=True)
    with timer('pose projection'):
        pc, grids = model.pose_net.project(hm, props[b_idx, m_idx, :3], b_idx, meta.cameras,
                                           meta.affines, meta.image_sizes,
                                           input_size=input_size)
    with timer('pose net (V2V + soft-argmax)'):
        pp = model.pose_net(pc, grids)
    poses = hm.new_zeros(B, props.shape[1], model.num_joints, 3)
    poses[b_idx, m_idx] = pp
    return poses, props


def _plain_project(projector, hm, points, cameras, affines, sizes, input_size):
    """One view at a time (the reference's ProjectLayer structure), no cache.

    hm (V, K, H, W) of one sample; points (N, 3); cameras/affines/sizes of that sample."""
    from virtualpose_mm.models.layers.projection import compute_sampling_grid
    V, K, H, W = hm.shape
    acc = hm.new_zeros(K, points.shape[0])
    cnt = hm.new_zeros(points.shape[0])
    for v in range(V):
        g = compute_sampling_grid(points[None], cameras[v:v + 1][None], affines[v:v + 1][None],
                                  sizes[v:v + 1][None], (W, H), input_size=input_size,
                                  exclude_behind_camera=projector.exclude_behind_camera,
                                  precision=projector.precision)
        s = F.grid_sample(hm[v:v + 1], g.grid[0, 0][None, None], align_corners=True)[0, :, 0]
        m = g.inside[0, 0].to(hm.dtype)
        acc += s * m
        cnt += m
    return torch.nan_to_num(acc / (cnt + 1e-6), nan=0.0).clamp(0, 1)


@torch.no_grad()
def plain_forward(model, inputs, samples, timer):
    """The same forward, one view and one proposal at a time, without the grid cache."""
    from virtualpose_mm.models.heads.voxel_center_net import v2v_forward
    from virtualpose_mm.models.layers import voxel_grid
    inputs = model._inputs(inputs)
    B, V = inputs.shape[:2]
    meta = model.parse_meta(samples, V)
    input_size = model._input_size(inputs, meta)
    rn, pn = model.root_net, model.pose_net
    with timer('2d network'):
        hm = model.extract_heatmaps(inputs)
    K = hm.shape[2]
    with timer('root projection'):
        pts = voxel_grid(rn.space_size, rn.space_center, rn.space_shape, device=hm.device)
        cubes = torch.stack([
            _plain_project(rn.projector, hm[b], pts, meta.cameras[b], meta.affines[b],
                           meta.image_sizes[b], input_size) for b in range(B)])
        cubes = cubes.view(B, K, *rn.space_shape)
    with timer('root net (V2V)'):  # the plain modules (no fast_eval copy)
        root = v2v_forward(rn.v2v_net, cubes).squeeze(1)
    with timer('proposals'):
        props = rn.get_proposals(root)
    poses = hm.new_zeros(B, props.shape[1], K, 3)
    for n in range(props.shape[1]):
        for b in range(B):
            if props[b, n, 3] < 0:
                continue
            with timer('pose projection'):
                g = voxel_grid(pn.cube_size, props[b, n, None, :3], pn.cube_shape,
                               device=hm.device)[0]
                cube = _plain_project(pn.projector, hm[b], g, meta.cameras[b],
                                      meta.affines[b], meta.image_sizes[b], input_size)
            with timer('pose net (V2V + soft-argmax)'):
                vol = v2v_forward(pn.v2v_net, cube.view(1, K, *pn.cube_shape))
                poses[b, n] = pn.soft_argmax(vol, g[None])[0]
    return poses, props


def build(config, device, views, people, num_proposals, seed, cfg_options=None):
    import virtualpose_mm  # noqa: F401
    from mmengine.config import Config
    from virtualpose_mm.registry import MODELS
    from tools.analysis.voxelpose_synthetic import make_batch
    cfg = Config.fromfile(config)
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    resolve_config_variables(cfg)  # '${name}' config variables
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model).to(device)
    model.eval()
    rn = model.root_net
    iw, ih = (int(v) for v in (model.image_size or (960, 512)))
    hw, hh = iw // 4, ih // 4
    inputs, samples = make_batch(1, views, (people, ), space_center=rn.space_center,
                                 input_size=(iw, ih), heatmap_size=(hw, hh),
                                 spread=0.3 * min(rn.space_size[:2]), seed=seed)
    if model.with_2d:  # image input: random images of the input size
        inputs = torch.randn(1, views, 3, ih, iw)
    # the model's data preprocessor: inputs on the device, the views stacked (view_meta)
    data = model.data_preprocessor(dict(inputs=list(inputs), data_samples=samples))
    inputs, samples = data['inputs'], data['data_samples']
    with torch.no_grad():
        r = model.run(inputs, samples, return_intermediates=True)
        # threshold between the num_proposals-th and the next score
        s = r['proposals'][0, :, 4].sort(descending=True).values
        k = min(num_proposals, len(s)) - 1
        nxt = s[k + 1] if k + 1 < len(s) else s[k] - 1
        rn.proposal_layer.threshold = float((s[k] + nxt) / 2)
        # pose-net output scaled so that softmax(beta * v) is smooth (std ~0.04)
        r = model.run(inputs, samples, return_intermediates=True)
        vol = r['pose_volumes']
        if vol.numel():
            out = model.pose_net.v2v_net.output_layer
            scale = 0.04 / max(float(vol.std()), 1e-12)
            out.weight.mul_(scale)
            out.bias.mul_(scale)
    return model, inputs, samples


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('--device', default='cpu')
    p.add_argument('--iters', type=int, default=3, help='timed iterations (after 1 warm-up)')
    p.add_argument('--compare-loop', action='store_true',
                   help='also time a plain per-view, per-proposal implementation')
    p.add_argument('--views', type=int, default=5)
    p.add_argument('--people', type=int, default=4)
    p.add_argument('--num-proposals', type=int, default=4)
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='override config entries, e.g. model.pose_net.max_cubes_per_call=1')
    p.add_argument('--pose-tol', type=float, default=1e-2,
                   help='largest joint difference (mm) accepted as "same poses"')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, inputs, samples = build(args.config, args.device, args.views, args.people,
                                   args.num_proposals, args.seed, args.cfg_options)
    rn, pn = model.root_net, model.pose_net
    impls = [('batched', batched_forward)]
    if args.compare_loop:
        impls.append(('plain loop', plain_forward))
    results, timers = {}, {}
    for name, fn in impls:
        fn(model, inputs, samples, Timer(args.device))  # warm-up (fills the grid cache)
        t = Timer(args.device)
        for _ in range(args.iters):
            results[name] = fn(model, inputs, samples, t)
        timers[name] = {k: v / args.iters for k, v in t.times.items()}
    props = results['batched'][1]
    n_people = int((props[..., 3] >= 0).sum())
    print(f'VoxelPose benchmark: {args.config}')
    print(f'device {args.device}, torch threads {torch.get_num_threads()}, views {args.views}, '
          f'space {"x".join(map(str, rn.space_shape))}, cube '
          f'{"x".join(map(str, pn.cube_shape))}, batch 1, people found {n_people}, '
          f'iters {args.iters}')
    head = f'{"stage":<30}' + ''.join(f'{n + " (ms)":>18}' for n, _ in impls)
    print(head)
    totals = {}
    for st in STAGES:
        row = f'{st:<30}'
        for n, _ in impls:
            v = timers[n].get(st, 0.0)
            row += f'{1e3 * v:18.1f}'
        print(row)
    for n, _ in impls:
        totals[n] = sum(timers[n].values())
    print(f'{"total":<30}' + ''.join(f'{1e3 * totals[n]:18.1f}' for n, _ in impls))
    print('FPS: ' + ', '.join(f'{n} {1.0 / totals[n]:.3f}' for n, _ in impls))
    if not args.compare_loop:
        return 0
    pa, pra = results['batched']
    pb, prb = results['plain loop']
    same_props = bool(torch.equal(pra[..., 3], prb[..., 3]))
    diff = (pa - pb).abs().max().item() if pa.numel() else 0.0
    ok = same_props and diff <= args.pose_tol
    print(f'poses identical: {"yes" if ok else "NO"} (same proposals: {same_props}, '
          f'max joint difference {diff:.3g} mm over {n_people} people, tolerance '
          f'{args.pose_tol} mm)')
    def ratio(*stages):
        t = {n: sum(timers[n].get(s, 0.0) for s in stages) for n, _ in impls}
        return t['plain loop'] / max(t['batched'], 1e-12)

    print(f'projection speedup: {ratio("root projection", "pose projection"):.2f}')
    print(f'pose-net speedup: {ratio(STAGES[5]):.2f}')
    print(f'speedup: {totals["plain loop"] / totals["batched"]:.2f}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
