"""Speed of the VoxelPose forward (inference), per stage; against the authors' code.

    python tools/analysis/benchmark_voxelpose.py CONFIG [--device cpu|cuda] [--threads T]
        [--reference-root DIR [--repeats N] [--proposal-counts 4 10] [--plain-repeats N]]
        [--iters N] [--compare-loop] [--views V] [--people P] [--num-proposals M]
        [--space-shape X Y Z] [--cube-shape X Y Z] [--train] [--tf32] [--bf16]
        [--cfg-options KEY=VALUE ...]

**Against the reference** (``--reference-root``, a voxelpose-pytorch checkout; it needs
``easydict``, taken from ``/tmp/refdeps`` when not installed): the reference's
``MultiPersonPoseNet`` (heatmap input, its ``configs/shelf/prn64_cpn80x80x20.yaml``) and our
model from CONFIG get the SAME weights (the reference's modules with random non-degenerate
weights, converted with ``convert_voxelpose_state_dict``) and the SAME inputs: the five
real Shelf cameras of ``demo/data/calibration_shelf.json`` (1032×776), heatmaps of a
synthetic scene with P people each seen by ≥ 3 cameras, letterboxed to 800×608 with the
reference's affine, and the collated reference meta (cameras, centre/scale) from which our
data samples are made as the golden checks make them. The root threshold is set so that
exactly 4, then 10 proposals are valid; our model uses the reference's projection
semantics (``exclude_behind_camera=False``) and soft-argmax sum so that the poses can be
compared, everything else as CONFIG says. Both run interleaved (reference, ours, ...)
``--repeats`` times after one warm-up each; printed: our per-stage medians, both totals,
the pose agreement (max joint distance in mm over proposals valid in both at the same
position) and ``speedup vs reference: X`` (reference median / ours median), then
``speedup vs plain loop`` (see below; ``--plain-repeats 0`` skips it).

**Alone** (no ``--reference-root``): a ring of V cameras, P standing people and their
heatmaps (image-input configs get random images); the threshold makes
``--num-proposals`` proposals people. With ``--compare-loop`` the same forward is also run
by a plain implementation (one view and one proposal at a time, no grid cache: the
reference's structure) with the same weights and inputs; it checks that both give the
same poses and ends with ``speedup: <x>`` (plain total / batched total).

**Training** (``--train``): a training step (forward + backward; proposals guided to the
GT roots so that the pose net trains on every person) at batch 1 and 2 for CONFIG and
``--train-configs`` (default the demo config), each in its own process, with iterations
per second and the peak RSS (``resource.getrusage``; CUDA: also the peak allocated
memory); with ``--reference-root`` on the CPU also the reference's training step.

**GPU** (``--device cuda``): the same code paths (all cubes per pose-net call,
channels-last V2V, ``cudnn.benchmark``); ``--tf32`` / ``--bf16`` add a run under TF32 /
bf16 autocast with its pose error against the fp32 run.
"""
import argparse
import os.path as osp
import sys
import time
from collections import OrderedDict
from typing import List

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


# ============================================================================ reference mode
REF_CONFIG = osp.join('configs', 'shelf', 'prn64_cpn80x80x20.yaml')
CALIBRATION = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'demo',
                       'data', 'calibration_shelf.json')
SHELF_IMAGE = (1032, 776)


def import_reference(root: str):
    """``MultiPersonPoseNet`` and the yacs config of a voxelpose-pytorch checkout.

    The reference needs ``easydict``; when it is not installed, ``/tmp/refdeps`` (``pip
    install --target /tmp/refdeps easydict``) is put on ``sys.path`` here, only for this
    path. Its ``lib`` folder is put first on ``sys.path`` (top-level packages ``models``,
    ``core``, ``utils``) while importing."""
    lib = osp.join(osp.abspath(root), 'lib')
    if not osp.isdir(lib):
        raise FileNotFoundError(f'--reference-root {root}: no lib/ folder (a voxelpose-pytorch '
                                'checkout is expected)')
    try:
        import easydict  # noqa: F401
    except ImportError:
        if osp.isdir('/tmp/refdeps'):
            sys.path.append('/tmp/refdeps')
    sys.path.insert(0, lib)
    try:
        from core.config import config, update_config
        from models.multi_person_posenet import MultiPersonPoseNet
    finally:
        sys.path.remove(lib)
    return MultiPersonPoseNet, config, update_config


def reference_config(root: str, space_shape, cube_shape, update_config, config):
    """The reference's Shelf heatmap-input config (``configs/shelf/prn64_cpn80x80x20.yaml``),
    with the root-grid and cube shapes of our model (the same for the stock 64³ config)."""
    import copy
    yaml_path = osp.join(root, REF_CONFIG)
    if osp.isfile(yaml_path):
        update_config(yaml_path)
    cfg = copy.deepcopy(config)
    if not osp.isfile(yaml_path):  # the same settings, built in code
        cfg.BACKBONE_MODEL = ''
        cfg.NETWORK.IMAGE_SIZE = [800, 608]
        cfg.NETWORK.HEATMAP_SIZE = [200, 152]
        cfg.NETWORK.NUM_JOINTS = 17
        cfg.MULTI_PERSON.SPACE_SIZE = [8000.0, 8000.0, 2000.0]
        cfg.MULTI_PERSON.SPACE_CENTER = [450.0, -320.0, 800.0]
        cfg.MULTI_PERSON.MAX_PEOPLE_NUM = 10
        cfg.MULTI_PERSON.THRESHOLD = 0.1
        cfg.PICT_STRUCT.GRID_SIZE = [2000.0, 2000.0, 2000.0]
        cfg.DATASET.ROOTIDX = [2, 3]
        cfg.DATASET.TEST_DATASET = 'shelf'
    cfg.MULTI_PERSON.INITIAL_CUBE_SIZE = [int(s) for s in space_shape]
    cfg.PICT_STRUCT.CUBE_SIZE = [int(s) for s in cube_shape]
    return cfg


@torch.no_grad()
def randomise_reference_weights(ref, seed: int) -> None:
    """Non-degenerate random weights (the reference init, N(0, 1e-3) convs, gives a flat
    root volume): Kaiming-normal convs, small biases, random BatchNorm affine and running
    statistics (as the golden data, README "How the weights were made")."""
    import torch.nn as nn
    g = torch.Generator().manual_seed(1000 + seed)
    for m in ref.modules():
        if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
            w = m.weight
            fan_in = w[0].numel() if isinstance(m, nn.Conv3d) else w.shape[0] * w[0, 0].numel()
            w.copy_(torch.randn(w.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.02)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)


def shelf_reference_cameras(path: str = CALIBRATION, views: int = 5) -> List[dict]:
    """The reference ``Shelf._get_cam`` dicts (numpy float64) of the first ``views``."""
    import json
    import numpy as np
    with open(path) as f:
        cams = json.load(f)
    return [{k: np.array(v, dtype=np.float64) for k, v in cams[str(c)].items()}
            for c in range(views)]


def place_people(num: int, cams, affines, space_center, seed: int, min_views: int = 3):
    """(num, 17, 3) standing people (mm) each seen (all joints in the image, in front) by
    at least ``min_views`` of the cameras."""
    import numpy as np
    from tools.analysis.voxelpose_synthetic import random_people
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(10000):
        if len(out) == num:
            break
        p = random_people(1, space_center, spread=1500.0, rng=rng)[0]
        if any(np.linalg.norm(p[11:13].mean(0)[:2] - q[11:13].mean(0)[:2]) < 700 for q in out):
            continue
        uv = cams.project(np.broadcast_to(p[None], (len(cams), 17, 3)))
        front = cams.depth(np.broadcast_to(p[None], (len(cams), 17, 3))) > 0
        w, h = SHELF_IMAGE
        ok = (front & (uv[..., 0] >= 0) & (uv[..., 1] >= 0) & (uv[..., 0] < w) &
              (uv[..., 1] < h)).all(-1)
        if ok.sum() >= min_views:
            out.append(p)
    if len(out) < num:
        raise RuntimeError(f'could not place {num} people seen by {min_views} Shelf cameras')
    return np.stack(out)


def make_reference_inputs(ref_cfg, num_frames: int, people, seed: int):
    """Heatmaps and metas for both models from the 5 real Shelf cameras.

    Returns ``(hm (B, V, K, h, w), ref_meta (list of V collated dicts), d)`` where ``d`` is
    a golden-style dict (``meta``, ``config``, ``targets_3d``) that
    :func:`tools.analysis.golden.voxelpose_model.build_data_samples` turns into our data
    samples (the same conversion the golden checks use)."""
    import numpy as np
    from virtualpose_mm.geometry.camera import Camera
    from tools.analysis.golden.voxelpose_model import reference_letterbox_affine
    from tools.analysis.voxelpose_synthetic import render_heatmaps
    net, mp = ref_cfg.NETWORK, ref_cfg.MULTI_PERSON
    V, K = 5, int(net.NUM_JOINTS)
    img_size = [int(v) for v in net.IMAGE_SIZE]
    hm_size = [int(v) for v in net.HEATMAP_SIZE]
    raw = shelf_reference_cameras(views=V)
    cams = Camera.from_center(np.stack([c['R'] for c in raw]),
                              np.stack([c['T'].reshape(3) for c in raw]),
                              np.stack([[c['fx'], c['fy']] for c in raw]),
                              np.stack([[c['cx'], c['cy']] for c in raw]),
                              np.stack([[c['k'][0, 0], c['k'][1, 0], c['p'][0, 0], c['p'][1, 0],
                                         c['k'][2, 0]] for c in raw]),
                              np.tile(np.asarray(SHELF_IMAGE, dtype=np.float64), (V, 1)))
    w, h = SHELF_IMAGE
    center = np.array([w / 2.0, h / 2.0], dtype=np.float32)
    ws, hs = img_size
    # the reference get_scale (letterbox in units of 200 px)
    if w / ws < h / hs:
        scale = np.array([h / hs * ws / 200.0, h / 200.0], dtype=np.float32)
    else:
        scale = np.array([w / 200.0, w / ws * hs / 200.0], dtype=np.float32)
    A = np.stack([reference_letterbox_affine(center, scale, img_size)] * V)
    M = int(mp.MAX_PEOPLE_NUM)
    hms, j3d, counts = [], [], []
    for b in range(num_frames):
        n = people[b % len(people)]
        joints = place_people(n, cams, A, mp.SPACE_CENTER, seed + b)
        hms.append(render_heatmaps(joints, cams, A, img_size, hm_size, sigma=2.0))
        j3d.append(joints)
        counts.append(n)
    B = num_frames
    joints_3d = torch.zeros(B, M, K, 3, dtype=torch.float64)
    for b in range(B):
        joints_3d[b, :counts[b]] = torch.as_tensor(j3d[b][:M])
    vis = (joints_3d.abs().sum(-1, keepdim=True) > 0).double().expand(-1, -1, -1, 3)
    roots = joints_3d[:, :, [11, 12]].mean(2)
    meta = []
    for c in range(V):
        cam = {k: torch.as_tensor(np.stack([v] * B)) for k, v in raw[c].items()}
        meta.append(dict(center=torch.as_tensor(np.stack([center] * B)),
                         scale=torch.as_tensor(np.stack([scale] * B)),
                         rotation=torch.zeros(B), camera=cam,
                         num_person=torch.as_tensor(counts), joints_3d=joints_3d.clone(),
                         joints_3d_vis=vis.clone(), roots_3d=roots.clone()))
    hm = torch.as_tensor(np.stack(hms)).float()                               # (B, V, K, h, w)
    # the root target (Gaussian, sigma 200 mm) on the reference grid, as its datasets make it
    shape = [int(s) for s in mp.INITIAL_CUBE_SIZE]
    axes = [torch.linspace(-s / 2, s / 2, n, dtype=torch.float64) + c
            for s, n, c in zip(mp.SPACE_SIZE, shape, mp.SPACE_CENTER)]
    gx, gy, gz = torch.meshgrid(*axes, indexing='ij')
    targets = torch.zeros(B, *shape)
    for b in range(B):
        for r in roots[b, :counts[b]]:
            d2 = (gx - r[0]) ** 2 + (gy - r[1]) ** 2 + (gz - r[2]) ** 2
            targets[b] = torch.maximum(targets[b], torch.exp(-d2 / (2 * 200.0 ** 2)).float())
    d = dict(meta=meta, config=dict(NETWORK=dict(IMAGE_SIZE=img_size)), targets_3d=targets)
    return hm, meta, d


def build_pair(args):
    """Our model (from the config) and the reference ``MultiPersonPoseNet`` with the SAME
    weights (reference random init → converted into ours) and inputs."""
    import virtualpose_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    from virtualpose_mm.registry import MODELS
    MultiPersonPoseNet, config, update_config = import_reference(args.reference_root)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    opts = dict(args.cfg_options or {})
    if args.space_shape:
        opts['model.root_net.space_shape'] = tuple(args.space_shape)
    if args.cube_shape:
        opts['model.pose_net.cube_shape'] = tuple(args.cube_shape)
    if opts:
        cfg.merge_from_dict(opts)
    resolve_config_variables(cfg)
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model)
    rn, pn = model.root_net, model.pose_net
    ref_cfg = reference_config(args.reference_root, rn.space_shape, pn.cube_shape,
                               update_config, config)
    mismatch = []
    for name, ours, theirs in (
            ('space size', rn.space_size, ref_cfg.MULTI_PERSON.SPACE_SIZE),
            ('space centre', rn.space_center, ref_cfg.MULTI_PERSON.SPACE_CENTER),
            ('cube size', pn.cube_size, ref_cfg.PICT_STRUCT.GRID_SIZE),
            ('image size', model.image_size, ref_cfg.NETWORK.IMAGE_SIZE)):
        if tuple(float(v) for v in ours) != tuple(float(v) for v in theirs):
            mismatch.append(f'{name} {tuple(ours)} vs reference {tuple(theirs)}')
    if mismatch:
        raise ValueError('config does not match the reference Shelf config: ' +
                         '; '.join(mismatch))
    torch.manual_seed(args.seed)
    ref = MultiPersonPoseNet(None, ref_cfg)
    randomise_reference_weights(ref, args.seed)
    ref.eval()
    # the reference's semantics on our side, so that the poses can be compared: voxels
    # behind a camera count through their mirrored projection; the soft-argmax sums in
    # float32 like the reference (neither changes the speed measurably)
    for proj in (rn.projector, pn.projector):
        proj.exclude_behind_camera = False
    pn.soft_argmax.reference_reduction = True
    model.eval()
    return model, ref, ref_cfg


def load_reference_weights(model, ref) -> None:
    from virtualpose_mm.models.utils.voxelpose_converter import (convert_voxelpose_state_dict,
                                                                 match_state_dict)
    conv, info = convert_voxelpose_state_dict(ref.state_dict(), layout='voxelpose-pytorch')
    model.load_state_dict(match_state_dict(model, conv, 'reference', info), strict=True)


@torch.no_grad()
def calibrate(ref, hm_list, meta) -> torch.Tensor:
    """Root output shifted and scaled so that every NMS peak is positive (std 0.1); the
    pose-net output layer scaled so that softmax(β·v) is smooth (std 0.04, as the golden
    data). Returns the sorted (B, M) proposal scores."""
    rn = ref.root_net
    cubes, _ = rn.project_layer(hm_list, meta, rn.grid_size, [rn.grid_center], rn.cube_size)
    vol = rn.v2v_net(cubes)
    out = rn.v2v_net.output_layer
    a = 0.1 / max(float(vol.std()), 1e-12)
    out.weight.mul_(a)
    out.bias.mul_(a)
    out.bias.add_(0.05 - float(vol.min()) * a)
    _, gc = rn(hm_list, meta)
    pn = ref.pose_net
    cube, _ = pn.project_layer(hm_list, meta, pn.grid_size, gc[:, 0], pn.cube_size)
    v = pn.v2v_net(cube[:1])
    s = 0.04 / max(float(v.std()), 1e-12)
    pn.v2v_net.output_layer.weight.mul_(s)
    pn.v2v_net.output_layer.bias.mul_(s)
    return gc[..., 4]


def set_threshold(model, ref, scores: torch.Tensor, k: int) -> float:
    """A threshold between the k-th and (k+1)-th score of sample 0 (all k if k = M)."""
    s = scores[0].sort(descending=True).values
    lo = s[k] if k < len(s) else s[-1] / 2
    thr = float((s[k - 1] + lo) / 2)
    ref.root_net.proposal_layer.threshold = thr
    model.root_net.proposal_layer.threshold = thr
    return thr


@torch.no_grad()
def reference_forward(ref, hm_list, meta):
    pred, _, gc, _, _, _ = ref(meta=meta, input_heatmaps=hm_list)
    return pred, gc


def pose_agreement(poses, props, pred, gc):
    """Max joint distance (mm) over proposals valid in both and at the same position,
    and the number of valid proposals that have no partner."""
    worst, matched, unmatched = 0.0, 0, 0
    for b in range(props.shape[0]):
        ours = [(m, props[b, m, :3]) for m in range(props.shape[1]) if props[b, m, 3] >= 0]
        theirs = [(m, gc[b, m, :3]) for m in range(gc.shape[1]) if gc[b, m, 3] >= 0]
        used = set()
        for m, xyz in ours:
            j = next((n for n, t in theirs if n not in used and
                      float((t - xyz).abs().max()) < 1e-3), None)
            if j is None:
                unmatched += 1
                continue
            used.add(j)
            matched += 1
            d = (poses[b, m] - pred[b, j, :, :3].to(poses)).norm(dim=-1).max().item()
            worst = max(worst, d)
        unmatched += len(theirs) - len(used)
    return worst, matched, unmatched


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def run_reference_comparison(args) -> int:
    import virtualpose_mm  # noqa: F401
    from tools.analysis.golden.voxelpose_model import build_data_samples, prepare
    model, ref, ref_cfg = build_pair(args)
    device = args.device
    rn, pn = model.root_net, model.pose_net
    print(f'VoxelPose vs reference: {args.config}')
    print(f'reference {osp.abspath(args.reference_root)} (MultiPersonPoseNet, heatmap input, '
          f'{REF_CONFIG}), same weights (reference random init, converted), 5 real Shelf '
          f'cameras ({osp.relpath(CALIBRATION)}), batch 1')
    print(f'device {device}, torch threads {torch.get_num_threads()}, space '
          f'{"x".join(map(str, rn.space_shape))}, cube {"x".join(map(str, pn.cube_shape))}, '
          f'repeats {args.repeats} (medians; interleaved after one warm-up each), pose-net '
          f'cubes per call {pn.cubes_per_call(torch.device(device), 10)}, projection '
          f'{rn.projector.precision}/{pn.projector.precision}')
    status = 0
    for k in args.proposal_counts:
        people = args.people or k
        hm, meta, d = make_reference_inputs(ref_cfg, 1, [people], args.seed)
        # the reference on the same device (its projection moves the camera tensors of
        # the meta to the heatmaps' device itself)
        hm_list = [hm[:, v].contiguous().to(device) for v in range(hm.shape[1])]
        if k == args.proposal_counts[0]:
            ref.to(device)
            scores = calibrate(ref, hm_list, meta)
            load_reference_weights(model, ref)
            model.to(device)
        else:
            _, gc = reference_forward(ref, hm_list, meta)
            scores = gc[..., 4]
        thr = set_threshold(model, ref, scores.cpu(), k)
        inputs, samples = prepare(model, hm.to(device), build_data_samples(d))
        impls = [('reference', lambda t: reference_forward(ref, hm_list, meta)),
                 ('ours', lambda t: batched_forward(model, inputs, samples, t))]
        if args.plain_repeats:
            impls.append(('plain loop', lambda t: plain_forward(model, inputs, samples, t)))
        totals = {n: [] for n, _ in impls}
        stages = {s: [] for s in STAGES}
        out = {}
        for n, fn in impls[:2]:  # warm-up: grid cache, oneDNN primitives
            out[n] = fn(Timer(device))
        for r in range(max(args.repeats, args.plain_repeats)):
            for n, fn in impls:
                if n == 'plain loop' and r >= args.plain_repeats:
                    continue
                if n != 'plain loop' and r >= args.repeats:
                    continue
                t = Timer(device)
                _sync(device)
                t0 = time.perf_counter()
                out[n] = fn(t)
                _sync(device)
                totals[n].append(time.perf_counter() - t0)
                if n == 'ours':
                    for s in STAGES:
                        stages[s].append(t.times.get(s, 0.0))
        poses, props = out['ours']
        pred, gc = (t.cpu() for t in out['reference'])
        n_ours = int((props[..., 3] >= 0).sum())
        n_ref = int((gc[..., 3] >= 0).sum())
        err, matched, unmatched = pose_agreement(poses.cpu(), props.cpu(), pred, gc)
        print(f'\n== {k} proposals (people {people}, threshold {thr:.4f}; valid: ours '
              f'{n_ours}, reference {n_ref})')
        for s in STAGES:
            print(f'  ours {s:<30}{1e3 * _median(stages[s]):10.1f} ms')
        med = {n: _median(v) for n, v in totals.items()}
        print(f'  total: reference {1e3 * med["reference"]:.1f} ms, ours '
              f'{1e3 * med["ours"]:.1f} ms (runs: reference '
              f'{", ".join(f"{1e3 * x:.0f}" for x in totals["reference"])}; ours '
              f'{", ".join(f"{1e3 * x:.0f}" for x in totals["ours"])})')
        ok = unmatched == 0 and n_ours == k and err <= args.pose_tol
        print(f'  pose agreement: max {err:.4g} mm over {matched} matched proposals '
              f'(unmatched {unmatched}; tolerance {args.pose_tol} mm): '
              f'{"ok" if ok else "FAILED"}')
        print(f'  speedup vs reference: {med["reference"] / med["ours"]:.2f} ({k} proposals)')
        if 'plain loop' in med:
            print(f'  speedup vs plain loop: {med["plain loop"] / med["ours"]:.2f} '
                  f'({k} proposals)')
        status |= 0 if ok else 1
        precision_variants(args, model, inputs, samples, out['ours'])
    return status


# ============================================================================ training step
def _train_batch(model, B: int, people: int, seed: int):
    """A synthetic training batch for ``model`` (ring rig; root targets on its space)."""
    from tools.analysis.voxelpose_synthetic import make_batch
    rn = model.root_net
    iw, ih = (int(v) for v in (model.image_size or (960, 512)))
    inputs, samples = make_batch(
        B, 5, (people, ), space_center=rn.space_center, input_size=(iw, ih),
        heatmap_size=(iw // 4, ih // 4), spread=0.2 * min(rn.space_size[:2]), seed=seed,
        root_target=dict(space_size=rn.space_size, space_center=rn.space_center,
                         space_shape=rn.space_shape, sigma=rn.target_sigma))
    data = model.data_preprocessor(dict(inputs=list(inputs), data_samples=samples), True)
    return data['inputs'], data['data_samples']


def _guide_proposals(root_net_get, targets_fn):
    """Proposals taken from ``root volume + 10·target`` (peaks at the GT roots), so that the
    pose net trains on every person from the first step, as in a trained model; the
    losses still use the root volume itself."""
    def get(root_volume, *a, **k):
        return root_net_get(root_volume.detach() + 10.0 * targets_fn(root_volume), *a, **k)
    return get


def train_step_child(args) -> int:
    """One (implementation, config, batch) training-step timing; prints one JSON line."""
    import json
    import resource
    torch.manual_seed(args.seed)
    B, which = args.train_batch, args.train_impl
    if which == 'reference':
        MultiPersonPoseNet, config, update_config = import_reference(args.reference_root)
        cfg = reference_config(args.reference_root, args.space_shape or (80, 80, 20),
                               args.cube_shape or (64, 64, 64), update_config, config)
        net = MultiPersonPoseNet(None, cfg)
        randomise_reference_weights(net, args.seed)
        hm, meta, d = make_reference_inputs(cfg, B, [args.train_people], args.seed)
        hm_list = [hm[:, v].contiguous() for v in range(hm.shape[1])]
        targets = d['targets_3d']
        pl = net.root_net.proposal_layer
        orig = pl.forward
        pl.forward = lambda rc, m: orig(rc.detach() + 10.0 * targets, m)

        def step():
            _, _, _, _, l3d, lcord = net(meta=meta, targets_3d=targets, input_heatmaps=hm_list)
            (l3d + lcord).backward()
            return l3d, lcord
    else:
        import virtualpose_mm  # noqa: F401
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from virtualpose_mm.engine.config_checks import resolve_config_variables
        from virtualpose_mm.registry import MODELS
        cfg = Config.fromfile(args.config)
        init_default_scope(cfg.get('default_scope', 'mmpose'))
        opts = dict(args.cfg_options or {})
        if args.space_shape:
            opts['model.root_net.space_shape'] = tuple(args.space_shape)
        if args.cube_shape:
            opts['model.pose_net.cube_shape'] = tuple(args.cube_shape)
        if opts:
            cfg.merge_from_dict(opts)
        resolve_config_variables(cfg)
        net = MODELS.build(cfg.model).to(args.device)
        inputs, samples = _train_batch(net, B, args.train_people, args.seed)
        tg = net.root_targets(samples, inputs.device)
        rn = net.root_net
        rn.get_proposals = _guide_proposals(rn.get_proposals, lambda v: tg.to(v))

        def step():
            losses = net.loss(inputs, samples)
            sum(losses.values()).backward()
            return losses
    net.train()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    times = []
    for i in range(1 + args.train_steps):
        net.zero_grad(set_to_none=True)
        _sync(args.device)
        t0 = time.perf_counter()
        step()
        _sync(args.device)
        if i:
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    gpu = (torch.cuda.max_memory_allocated() / 2 ** 20) if args.device.startswith('cuda') \
        else None
    print('TRAIN_STEP ' + json.dumps(dict(impl=which, batch=B, median_s=_median(times),
                                          peak_rss_mb=peak, rss_before_mb=rss0,
                                          gpu_peak_mb=gpu)))
    return 0


def run_training_benchmark(args) -> None:
    """Training-step timings in separate processes (peak RSS per case)."""
    import json
    import subprocess
    configs = [args.config] + list(args.train_configs)
    print(f'\n== training step (forward + backward; proposals guided to the GT roots so that '
          f'{args.train_people} people per frame train the pose net; {args.train_steps} timed '
          f'steps after 1 warm-up; separate process per case)')
    cases = [(c, 'ours') for c in configs]
    if args.reference_root and args.device == 'cpu':
        cases.append((args.config, 'reference'))
    for cfg_path, impl in cases:
        for B in args.train_batches:
            cmd = [sys.executable, osp.abspath(__file__), cfg_path, '--train-child',
                   '--train-impl', impl, '--train-batch', str(B), '--train-steps',
                   str(args.train_steps), '--train-people', str(args.train_people),
                   '--device', args.device, '--seed', str(args.seed)]
            if args.threads:
                cmd += ['--threads', str(args.threads)]
            if args.reference_root:
                cmd += ['--reference-root', args.reference_root]
            if args.space_shape and cfg_path == args.config:
                cmd += ['--space-shape', *map(str, args.space_shape)]
            if args.cube_shape and cfg_path == args.config:
                cmd += ['--cube-shape', *map(str, args.cube_shape)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in p.stdout.splitlines() if ln.startswith('TRAIN_STEP ')]
            name = 'reference' if impl == 'reference' else 'ours'
            label = f'  {name:<9} {osp.basename(cfg_path):<52} batch {B}: '
            if p.returncode or not line:
                print(label + 'FAILED: ' + (p.stderr.strip().splitlines() or ['?'])[-1])
                continue
            r = json.loads(line[0][len('TRAIN_STEP '):])
            mem = f'peak RSS {r["peak_rss_mb"]:.0f} MB (before the first step ' \
                  f'{r["rss_before_mb"]:.0f} MB)'
            if r.get('gpu_peak_mb') is not None:
                mem += f', GPU peak {r["gpu_peak_mb"]:.0f} MB'
            print(label + f'{r["median_s"]:.2f} s/step, {1.0 / r["median_s"]:.3f} it/s, '
                  f'{B / r["median_s"]:.3f} frames/s, {mem}')


@torch.no_grad()
def precision_variants(args, model, inputs, samples, base) -> None:
    """``--tf32`` / ``--bf16``: time our forward again under reduced precision and print the
    pose error against the float32 result ``base`` (poses, proposals)."""
    variants = []
    if args.tf32:
        variants.append('tf32')
    if args.bf16:
        variants.append('bf16')
    for v in variants:
        prev = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        if v == 'tf32':
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            ctx = _nullcontext()
        else:
            ctx = torch.autocast(device_type=torch.device(args.device).type,
                                 dtype=torch.bfloat16)
        try:
            with ctx:
                batched_forward(model, inputs, samples, Timer(args.device))  # warm-up
                ts, out = [], None
                for _ in range(args.repeats):
                    t = Timer(args.device)
                    _sync(args.device)
                    t0 = time.perf_counter()
                    out = batched_forward(model, inputs, samples, t)
                    _sync(args.device)
                    ts.append(time.perf_counter() - t0)
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev
        poses, props = out
        same = bool(torch.equal(props[..., 3], base[1][..., 3]))
        used = base[1][..., 3] >= 0
        err = (poses.float() - base[0].float())[used].norm(dim=-1).max().item() \
            if used.any() else 0.0
        print(f'{v}: total {1e3 * _median(ts):.1f} ms, pose error vs fp32 max {err:.4g} mm '
              f'(same proposals: {same})')


class _nullcontext:

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def setup_device(args) -> None:
    """Threads, and on a GPU the fast paths: cudnn.benchmark (the V2V nets already run
    channels-last through ``fast_eval``; all cubes go in one call by default there)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda'):
        if not torch.cuda.is_available():
            raise SystemExit('--device cuda: no CUDA device available')
        torch.backends.cudnn.benchmark = True
        # plain fp32 unless --tf32 (then printed as a separate line with its pose error)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('--device', default='cpu')
    p.add_argument('--iters', type=int, default=3, help='timed iterations (after 1 warm-up)')
    p.add_argument('--compare-loop', action='store_true',
                   help='also time a plain per-view, per-proposal implementation')
    p.add_argument('--views', type=int, default=5)
    p.add_argument('--people', type=int, default=None,
                   help='people in the scene (default: 4; with --reference-root: as many as '
                   'proposals)')
    p.add_argument('--num-proposals', type=int, default=4)
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='override config entries, e.g. model.pose_net.max_cubes_per_call=1')
    p.add_argument('--pose-tol', type=float, default=None,
                   help='largest joint difference (mm) accepted as "same poses" (default '
                   '0.01 against the plain loop, 0.05 against the reference)')
    # against the authors' code
    p.add_argument('--reference-root', default=None,
                   help='a voxelpose-pytorch checkout: compare with its MultiPersonPoseNet '
                   '(same weights, same real Shelf cameras and heatmaps)')
    p.add_argument('--repeats', type=int, default=3,
                   help='interleaved timed repetitions per implementation (reference mode)')
    p.add_argument('--proposal-counts', type=int, nargs='+', default=[4, 10],
                   help='valid proposals of each reference comparison')
    p.add_argument('--plain-repeats', type=int, default=1,
                   help='timed runs of the plain loop in reference mode (0: none)')
    p.add_argument('--space-shape', type=int, nargs=3, default=None,
                   help='override the root grid (e.g. 16 16 8 for a quick check)')
    p.add_argument('--cube-shape', type=int, nargs=3, default=None,
                   help='override the pose cube (e.g. 16 16 16)')
    # training throughput
    p.add_argument('--train', action='store_true',
                   help='also time training steps (forward + backward), batch 1 and 2')
    p.add_argument('--train-only', action='store_true',
                   help='only the training-step timings (implies --train)')
    p.add_argument('--train-configs', nargs='*',
                   default=['configs/voxelpose/voxelpose_shelf_virtual_cpu.py'],
                   help='configs timed besides CONFIG in --train')
    p.add_argument('--train-batches', type=int, nargs='+', default=[1, 2])
    p.add_argument('--train-steps', type=int, default=2)
    p.add_argument('--train-people', type=int, default=3)
    p.add_argument('--train-child', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--train-impl', default='ours', help=argparse.SUPPRESS)
    p.add_argument('--train-batch', type=int, default=1, help=argparse.SUPPRESS)
    # reduced precision (GPU)
    p.add_argument('--tf32', action='store_true', help='also run with TF32 (CUDA) and print '
                   'the pose error vs fp32')
    p.add_argument('--bf16', action='store_true', help='also run under bf16 autocast and '
                   'print the pose error vs fp32')
    args = p.parse_args(argv)
    setup_device(args)
    if args.train_child:
        return train_step_child(args)
    if args.train_only:
        run_training_benchmark(args)
        return 0
    if args.reference_root:
        if args.pose_tol is None:
            args.pose_tol = 0.05
        status = run_reference_comparison(args)
        if args.train:
            run_training_benchmark(args)
        return status
    if args.pose_tol is None:
        args.pose_tol = 1e-2
    if args.people is None:
        args.people = 4
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
    precision_variants(args, model, inputs, samples, results['batched'])
    if args.train:
        run_training_benchmark(args)
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
