"""Speed of Faster-VoxelPose against the authors' code, and against our VoxelPose.

    python tools/analysis/benchmark_faster_voxelpose.py --reference-root DIR
        [--golden ../shared/data/golden/faster_voxelpose/shelf_seed0.pt] [--repeats 3]
        [--iters 3] [--threads 2] [--voxelpose-config CONFIG] [--no-voxelpose]
        [--train-steps N] [--no-train]

``--reference-root`` is a checkout of AlvinYH/Faster-VoxelPose (its ``lib/`` is imported
unmodified; it needs ``easydict``, taken from ``/tmp/refdeps`` when not installed). A
checkout from the snapshot the ``fetch`` tool brings (a bare git directory)::

    mkdir -p /tmp/fvp_ref && cd /tmp/fvp_ref && G=/work/.mirror/AlvinYH+Faster-VoxelPose/repo
    for f in $(git --git-dir=$G ls-tree -r --name-only HEAD lib configs); do
        mkdir -p $(dirname $f); git --git-dir=$G show HEAD:$f > $f; done

**Inputs and weights.** The golden file's Shelf frames (five real Shelf cameras, the
reference's heatmaps of a synthetic scene letterboxed to 800×608): frame 1 gives 3 valid
proposals, frame 0 gives 8. Both models get the file's reference weights (ours through
:func:`load_faster_voxelpose_checkpoint`). Ours runs as shipped (the Shelf config's
defaults: sound behaviours, ``fast_eval``; its score threshold set so that it sends as many
proposals to the joint net as the reference) and, for the pose agreement, with every
``reference_*`` option on; each frame is one batch of 1 (eval, no gradients).

**Timing.** Per run (``--repeats``), every implementation is called once to build its
caches, then ``--iters`` times interleaved (reference, ours, ours-reference-options, ...);
a run's time is the minimum per call. Printed per run and proposal count:
``speedup vs reference: X`` = reference / ours (shipped), and the medians over the runs.

**VoxelPose ratio** (not with ``--no-voxelpose``): our VoxelPose (``--voxelpose-config``,
default the Shelf config: 80×80×20 root grid, 64³ cubes, ``fast_eval`` and the FFT first
layer as shipped) with random weights on the same frame, its root threshold set so that
it sends the same number of proposals to its pose net; ``VoxelPose / Faster-VoxelPose``.

**Training throughput** (not with ``--no-train``): iterations per second of a training
step (forward + backward + Adam) of our model on the golden training frames (batch 2,
the proposals matched to the file's GT), and of the reference's training step on the
same frames and targets.
"""
import argparse
import copy
import os
import os.path as osp
import statistics
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
DEFAULT_GOLDEN = osp.join(ROOT, '..', 'shared', 'data', 'golden', 'faster_voxelpose',
                          'shelf_seed0.pt')
VOXELPOSE_CONFIG = osp.join(ROOT, 'configs', 'voxelpose',
                            'voxelpose_prn64x64x64_cpn80x80x20_shelf_cam5.py')
SHIPPED_CONFIG = osp.join(ROOT, 'configs', 'faster_voxelpose',
                          'faster-voxelpose_shelf_cam5.py')


class _AttrDict(dict):
    __getattr__ = dict.__getitem__


def _attr(x):
    return _AttrDict({k: _attr(v) for k, v in x.items()}) if isinstance(x, dict) else x


def import_reference(root: str):
    """The reference's ``models.faster_voxelpose`` module of a checkout."""
    lib = osp.join(root, 'lib')
    if not osp.isfile(osp.join(lib, 'models', 'faster_voxelpose.py')):
        raise SystemExit(f'--reference-root {root}: no lib/models/faster_voxelpose.py (a '
                         'checkout of AlvinYH/Faster-VoxelPose is expected)')
    try:
        import easydict  # noqa: F401
    except ImportError:
        if osp.isdir('/tmp/refdeps'):
            sys.path.append('/tmp/refdeps')
    sys.path.insert(0, lib)
    import models.faster_voxelpose as ref_fvp  # noqa: E402
    return ref_fvp


def _model_cfg(reference_options: bool):
    """Our model config for the golden frames: the file's reference settings
    (``reference_options``) or the shipped Shelf config's model (sound defaults)."""
    from tools.analysis.golden.faster_voxelpose import model_config_from_reference
    if reference_options:
        c = model_config_from_reference(GOLDEN['config'])
        for h in ('detector', 'joint_net'):
            c[h]['fast_eval'] = True
        return c
    from mmengine.config import Config
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    cfg = Config.fromfile(SHIPPED_CONFIG)
    resolve_config_variables(cfg)
    return cfg.model.to_dict()


def build_ours(reference_options: bool, state_dict):
    from virtualpose_mm.registry import MODELS
    from virtualpose_mm.models.utils.faster_voxelpose_converter import \
        load_faster_voxelpose_checkpoint
    m = MODELS.build(_model_cfg(reference_options))
    load_faster_voxelpose_checkpoint(m, state_dict)
    return m.eval()


def frame_call(model, x, ds, b, threshold=None):
    """A no-argument call running ``model`` on frame ``b`` (its own data preprocessor),
    with the detector's score ``threshold`` set first when given."""
    data = model.data_preprocessor(dict(inputs=[x[b]], data_samples=[copy.deepcopy(ds[b])]))

    def call():
        if threshold is not None:
            model.detector.threshold = threshold
        return model.run(data['inputs'], data['data_samples'])
    return call


def threshold_for(scores: torch.Tensor, k: int) -> float:
    """A score threshold that keeps exactly the ``k`` best of ``scores`` (M,)."""
    s = scores.sort(descending=True).values
    if k <= 0:
        return float(s[0]) + 1.0
    k = min(k, len(s))
    nxt = s[k] if k < len(s) else s[k - 1] - 1
    return float((s[k - 1] + nxt) / 2)


def build_voxelpose(config: str, x, ds, b: int, num_proposals: int):
    """Our VoxelPose (random weights) on frame ``b``, thresholded to ``num_proposals``."""
    from mmengine.config import Config
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    from virtualpose_mm.registry import MODELS
    cfg = Config.fromfile(config)
    resolve_config_variables(cfg)
    torch.manual_seed(0)
    m = MODELS.build(cfg.model).eval()
    call = frame_call(m, x, ds, b)
    with torch.no_grad():
        m.root_net.proposal_layer.threshold = threshold_for(call()['proposals'][0, :, 4],
                                                            num_proposals)
        n = int((call()['proposals'][0, :, 3] >= 0).sum())
    return call, n


def pose_agreement(ours, ref_out) -> float:
    """Max joint distance (mm) between our poses and the reference's, over the proposals
    valid in both."""
    ref_poses = ref_out[0] if isinstance(ref_out, (tuple, list)) else ref_out
    ref_poses = ref_poses.detach().float()
    valid_ref = ref_poses[0, :, 0, 3] >= 0
    valid = (ours['proposals'][0, :, 3] >= 0) & valid_ref
    if not bool(valid.any()):
        return float('nan')
    d = (ours['poses'][0, valid] - ref_poses[0, valid, :, :3]).norm(dim=-1)
    return float(d.max())


def train_throughput(args, ref_fvp, state_dict, cfg_ref) -> None:
    from tools.analysis.golden.faster_voxelpose import _dense, build_batch
    ours = build_ours(False, state_dict).train()
    inputs, samples = build_batch(GOLDEN, ours)
    opt = torch.optim.Adam([p for p in ours.parameters() if p.requires_grad], lr=1e-4)

    def ours_step():
        losses = ours.loss(inputs, samples)
        total = sum(v for k, v in losses.items() if k.startswith('loss'))
        opt.zero_grad()
        total.backward()
        opt.step()

    rm = ref_fvp.get(cfg_ref)
    rm.load_state_dict(state_dict)
    rm.train()
    ropt = torch.optim.Adam(rm.parameters(), lr=1e-4)
    inp = GOLDEN['inputs']
    hm = _dense(inp['input_heatmaps_sparse']).float()
    cams = {'synthetic': {i: {k: v.numpy() for k, v in c.items()}
                          for i, c in enumerate(inp['cameras'])}}
    meta = copy.copy(inp['meta'])
    meta['seq'] = ['synthetic'] * hm.shape[0]
    targets = inp['targets']

    def ref_step():
        # the reference returns (poses, plane poses, proposals, heatmaps, loss dict)
        loss = rm(meta=meta, targets=targets, input_heatmaps=hm, cameras=cams,
                  resize_transform=inp['resize_transform'])[-1]['total']
        ropt.zero_grad()
        loss.backward()
        ropt.step()

    rows = []
    for name, step in (('reference', ref_step), ('ours (shipped config)', ours_step)):
        try:
            step()                                   # warm-up (grid caches, allocator)
            t = time.perf_counter()
            for _ in range(args.train_steps):
                step()
            dt = (time.perf_counter() - t) / args.train_steps
            rows.append((name, 1.0 / dt))
        except Exception as e:  # the reference's training signature is version-specific
            print(f'  {name}: training step failed: {type(e).__name__}: {e}')
    B = hm.shape[0]
    for name, its in rows:
        print(f'  train {name:28s} batch {B}: {its:.3f} it/s ({its * B:.2f} frames/s)')
    if len(rows) == 2:
        print(f'  training speedup vs reference: {rows[1][1] / rows[0][1]:.2f}')


def main(argv=None) -> int:
    global GOLDEN
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--reference-root', required=True)
    p.add_argument('--golden', default=DEFAULT_GOLDEN)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--iters', type=int, default=3)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--voxelpose-config', default=VOXELPOSE_CONFIG)
    p.add_argument('--no-voxelpose', action='store_true')
    p.add_argument('--train-steps', type=int, default=3)
    p.add_argument('--no-train', action='store_true')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not osp.isfile(args.golden):
        raise SystemExit(f'--golden {args.golden}: no such file')
    ref_fvp = import_reference(args.reference_root)
    import virtualpose_mm  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    from tools.analysis.golden.faster_voxelpose import _dense, build_batch
    GOLDEN = torch.load(args.golden, map_location='cpu', weights_only=False)
    sd = {k: (v.float() if v.is_floating_point() else v)
          for k, v in GOLDEN['state_dict'].items()}
    cfg_ref = _attr(GOLDEN['config'])
    rm = ref_fvp.get(cfg_ref)
    rm.load_state_dict(sd)
    rm.eval()
    inp = GOLDEN['inputs']
    hm = _dense(inp['input_heatmaps_sparse']).float()
    cams = {'synthetic': {i: {k: v.numpy() for k, v in c.items()}
                          for i, c in enumerate(inp['cameras'])}}
    ours = {'ours (shipped config)': build_ours(False, sd),
            'ours (reference options)': build_ours(True, sd)}
    x, ds = build_batch(GOLDEN, ours['ours (reference options)'])
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'ATEN_CPU_CAPABILITY={os.environ.get("ATEN_CPU_CAPABILITY", "default")}')

    frames = {}
    with torch.no_grad():
        for b in range(hm.shape[0]):
            def ref_call(b=b):
                return rm(meta={'seq': ['synthetic']}, input_heatmaps=hm[b:b + 1],
                          cameras=cams, resize_transform=inp['resize_transform'])
            ref_out = ref_call()
            n = int((ref_out[2][0, :, 3] >= 0).sum())      # the reference's proposals
            agree = pose_agreement(frame_call(ours['ours (reference options)'], x, ds, b)(),
                                   ref_out)
            # the shipped model thresholded to the same number of proposals (its scores
            # differ: in-image view averaging), so that both do the same work
            shipped = ours['ours (shipped config)']
            thr = threshold_for(frame_call(shipped, x, ds, b)()['proposals'][0, :, 4], n)
            calls = {'reference': ref_call,
                     'ours (shipped config)': frame_call(shipped, x, ds, b, thr),
                     'ours (reference options)': frame_call(ours['ours (reference options)'],
                                                            x, ds, b)}
            n_ours = int((calls['ours (shipped config)']()['proposals'][0, :, 3] >= 0).sum())
            if n_ours != n:
                print(f'  note: ours has {n_ours} proposals on frame {b}, the reference {n}')
            if not args.no_voxelpose:
                calls['VoxelPose (ours)'], n_vp = build_voxelpose(args.voxelpose_config,
                                                                  x, ds, b, n)
                if n_vp != n:
                    print(f'  note: VoxelPose has {n_vp} proposals on frame {b}, not {n}')
            frames[n] = dict(b=b, calls=calls, agree=agree, runs=[])
        for rep in range(args.repeats):
            for n, f in sorted(frames.items()):
                for c in f['calls'].values():
                    c()                                      # caches, allocator
                best = {k: float('inf') for k in f['calls']}
                for _ in range(args.iters):
                    for k, c in f['calls'].items():
                        t = time.perf_counter()
                        c()
                        best[k] = min(best[k], time.perf_counter() - t)
                f['runs'].append(best)
                sp = best['reference'] / best['ours (shipped config)']
                print(f'run {rep + 1}, {n} proposals: ' + ', '.join(
                    f'{k} {v:.3f} s' for k, v in best.items()) +
                    f'; speedup vs reference: {sp:.2f}')
    print('\nmedians over the runs:')
    for n, f in sorted(frames.items()):
        med = {k: statistics.median(r[k] for r in f['runs']) for k in f['runs'][0]}
        ours_t = med['ours (shipped config)']
        line = (f'  {n} proposals (golden frame {f["b"]}): reference {med["reference"]:.3f} s, '
                f'ours {ours_t:.3f} s (reference options {med["ours (reference options)"]:.3f}'
                f' s); speedup vs reference: {med["reference"] / ours_t:.2f}; '
                f'pose agreement (reference options) {f["agree"]:.4f} mm')
        if 'VoxelPose (ours)' in med:
            line += (f'; VoxelPose {med["VoxelPose (ours)"]:.3f} s, VoxelPose / '
                     f'Faster-VoxelPose: {med["VoxelPose (ours)"] / ours_t:.1f}')
        print(line)
    if not args.no_train:
        print('\ntraining throughput (golden training frames):')
        train_throughput(args, ref_fvp, sd, cfg_ref)
    return 0


if __name__ == '__main__':
    sys.exit(main())
