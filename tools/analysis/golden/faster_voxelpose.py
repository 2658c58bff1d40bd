"""Golden check of the Faster-VoxelPose model against AlvinYH/Faster-VoxelPose outputs.

The file (see ``data/golden/faster_voxelpose/README.md``) holds the reference config, the
reference state dict (float16-stored, float32-exact), sparse input heatmaps (B, V, K, H, W),
the reference cameras (outside ``meta``), the resize affine, the collated ``meta`` (GT) and
``targets``, and every intermediate of one eval-mode and one train-mode forward of the
whole ``FasterVoxelPoseNet`` (HDN + JLN). Everything here is derived from the file, so
other seeds, rigs or sizes are checked the same way.

Our model is built with every ``reference_*`` option on (view averaging without in-image
mask, floor box-target index, the extra padding slot of the box loss, per-sample JLN calls,
the JLN confidence in the score column, the weight net's default init, the float32
soft-argmax sum) and ``projector.precision='reference'`` (the reference's float32
projection), and fed the file's inputs through its data preprocessor.
"""
from __future__ import annotations

import copy
import math
from typing import Dict

import numpy as np
import torch

from .core import GoldenReport, register_checker, tensor_scale

#: Worst float32 noise measured for each compared quantity, in units of ``ε · scale``
#: (ε = float32 eps, scale = max |reference| unless the row says otherwise); the bound is
#: derived from it by the rule of :func:`.core.f32_ulps`. Measured over OMP threads 1 and
#: 2 and CPU kernels of three vector widths (AVX-512, AVX2, SSE4.1) with
#: ``python -m tools.analysis.golden.noise ../shared/data/golden/faster_voxelpose/*.pt``.
NOISE = {
    # 0 where every configuration is bit-identical to the reference (AVX-512 and AVX2
    # kernels; AVX2 at 2 threads reproduces every row bit for bit); the larger values come
    # from the scalar (SSE4.1 / "default") ATen kernels, grid_sample in particular
    'grid': 0.569,
    'hdn volume': 80.1,
    'hdn volume sums': 0.941,   # scale max_j Σ|x_j|
    'topview input sums': 1.27,
    'columns': 11.7,
    'targets': 2.51,            # float64 Gaussians of float32 GT (the reference: float64 GT)
    'offset': 0,
    'cube sums': 0.957,
    'cube': 112,
    'planes in': 75.7,
    'planes in sums': 1.57,
    # eval
    'center_hm eval': 38.6,
    'center_size eval': 8.43,
    'topk values eval': 8.94,
    'heatmaps_1d eval': 5.22,
    'scores eval': 5.6,
    'other scores eval': 68.8,  # the HDN scores of the proposals that are not people
    'boxes eval': 5.99,
    'planes out eval': 6.69,
    'planes out sums eval': 0.423,
    'jln confidence eval': 8.49,
    'fusion weights eval': 4.33,
    # train (batch-statistics BatchNorm)
    'center_hm train': 26.1,
    'center_size train': 19.9,
    'topk values train': 3.1,
    'heatmaps_1d train': 4.85,
    'scores train': 3.89,
    'other scores train': 5.72,
    'boxes train': 28.6,
    'planes out train': 27.4,
    'planes out sums train': 1.2,
    'jln confidence train': 25.5,
    'fusion weights train': 7.52,
    'BN running_mean': 0.474,   # scale max √running_var of the buffer's layer
    'BN running_var': 1.57,
}

#: The bound on predicted joints (mm): the final pose bound of every model golden check.
POSE_TOL_MM = 0.05
#: Proposal centres lie on the voxel grid: exact up to float32 (mm).
XYZ_TOL_MM = 1e-3
#: Relative bound of the losses.
LOSS_RTOL = 1e-5

#: our loss names ↔ the reference's
LOSS_NAMES = (('loss_topview', '2d_heatmaps'), ('loss_height', '1d_heatmaps'),
              ('loss_bbox', 'bbox'), ('loss_joint', 'joint'))


def _dense(sp: dict) -> torch.Tensor:
    shape = [int(s) for s in sp['shape']]
    out = torch.zeros(math.prod(shape), dtype=sp['values'].dtype)
    out[sp['flat_index'].long()] = sp['values']
    return out.view(shape)


def model_config_from_reference(cfg: dict) -> dict:
    """Our ``FasterVoxelPose`` config (every reference option on) from a reference config."""
    ds, cap, ind, net, tr = (cfg['DATASET'], cfg['CAPTURE_SPEC'], cfg['INDIVIDUAL_SPEC'],
                             cfg['NETWORK'], cfg['TRAIN'])
    K = int(ds['NUM_JOINTS'])
    proj = dict(exclude_behind_camera=False, precision='reference')
    root = ds['ROOT_JOINT_ID']
    return dict(
        type='FasterVoxelPose', num_joints=K, image_size=tuple(ds['IMAGE_SIZE']),
        num_views=int(ds['CAMERA_NUM']),
        root_joints=tuple(root) if isinstance(root, (list, tuple)) else (int(root), ),
        reference_view_average=True, reference_bbox_index=True, reference_bbox_mask=True,
        reference_jln_per_sample=True, reference_jln_score=True,
        reference_weight_net_init=True, reference_soft_argmax=True,
        detector=dict(type='FasterVoxelPoseDetector', space_size=cap['SPACE_SIZE'],
                      space_center=cap['SPACE_CENTER'], space_shape=cap['VOXELS_PER_AXIS'],
                      max_people=int(cap['MAX_PEOPLE']), threshold=float(cap['MIN_SCORE']),
                      match_distance=500.0, target_sigma=200.0,
                      loss_weights=dict(topview=float(tr['LAMBDA_LOSS_2D']),
                                        height=float(tr['LAMBDA_LOSS_1D']),
                                        bbox=float(tr['LAMBDA_LOSS_BBOX'])),
                      projector=dict(proj, cache_size=2)),
        joint_net=dict(type='FasterVoxelPoseJointNet', cube_size=ind['SPACE_SIZE'],
                       cube_shape=ind['VOXELS_PER_AXIS'], beta=float(net['BETA']),
                       weight_feat_channels=int(net['NUM_CHANNEL_JOINT_FEAT']),
                       weight_hidden_channels=int(net['NUM_CHANNEL_JOINT_HIDDEN']),
                       loss_weights=dict(planes=1.0, fused=float(tr['LAMBDA_LOSS_FUSED'])),
                       projector=dict(proj, cache_size=1)))


def build_batch(d: dict, model):
    """The file's inputs as our batch: (inputs, data samples) after the model's data
    preprocessor (views in the canonical metainfo layout, GT from the reference ``meta``)."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    from virtualpose_mm.geometry.camera import Camera
    from virtualpose_mm.geometry.camera_io import camera_from_reference_dict
    cfg, inp = d['config'], d['inputs']
    hm = _dense(inp['input_heatmaps_sparse']).float()
    B, V = hm.shape[:2]
    cams = Camera.stack([camera_from_reference_dict(
        {k: v.numpy() for k, v in c.items()}, source=f'golden cameras[{i}]')
        for i, c in enumerate(inp['cameras'])]).to_dict()
    cams['image_size'] = np.tile(np.asarray(cfg['DATASET']['ORI_IMAGE_SIZE'], np.float64),
                                 (V, 1))
    A = np.stack([inp['resize_transform'].double().numpy()] * V)
    meta = inp['meta']
    samples = []
    for b in range(B):
        n = int(meta['num_person'][b])
        ds = PoseDataSample(metainfo=dict(cameras=copy.deepcopy(cams), affines=A.copy(),
                                          input_size=tuple(float(v) for v in
                                                           cfg['DATASET']['IMAGE_SIZE'])))
        gi = InstanceData()
        gi.lifting_target = meta['joints_3d'][b, :n].float()
        gi.lifting_target_visible = meta['joints_3d_vis'][b, :n].float()
        gi.roots_3d = meta['roots_3d'][b, :n].float()
        ds.gt_instances = gi
        samples.append(ds)
    data = model.data_preprocessor(dict(inputs=list(hm), data_samples=samples))
    return data['inputs'], data['data_samples']


def _sum_scale(x: torch.Tensor, dims) -> float:
    """Scale of float64 sums: the largest sum of |terms|."""
    return float(x.detach().double().abs().sum(dims).max()) if x.numel() else 0.0


def _grid_rows(rep: GoldenReport, model, d: dict) -> None:
    from virtualpose_mm.models.layers import voxel_grid
    g, det, jn = d['grids'], model.detector, model.joint_net
    v = voxel_grid(det.space_size, det.space_center, det.space_shape)
    rep.compare_fp('HDN grid first/last (mm)', torch.stack([v[0], v[-1]]),
                   g['hdn_grid_first_last'], NOISE['grid'])
    scale, bias = det._scale_bias('cpu')
    rep.compare_fp('proposal scale, bias', torch.stack([scale, bias]),
                   torch.stack([g['proposal_scale'], g['proposal_bias']]), NOISE['grid'])
    k = jn._consts('cpu')
    rep.compare('JLN fine voxels per axis (mismatches)', k['F'], g['jln_fine_voxels_per_axis'],
                0, 'exact')
    rep.compare_fp('JLN corner scale, bias', torch.stack([k['scale'], k['bias']]),
                   torch.stack([g['jln_scale'], g['jln_bias']]), NOISE['grid'])
    _, ab = jn.plane_grids()
    rep.compare_fp('JLN plane grids (mm)', ab, g['jln_center_grid'], NOISE['grid'])


def _forward_rows(rep: GoldenReport, tag: str, r: Dict, ref: dict) -> float:
    """Rows shared by the eval and train forwards; returns the max pose error (mm)."""
    det = {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v)
           for k, v in r['det'].items()}
    vol = r['volume'].detach().cpu()
    rep.compare_fp(f'{tag} top-view input sums', vol.amax(-1).double().sum((2, 3)),
                   ref['topview_input_sum'], NOISE['topview input sums'],
                   'float64 sums; scale max Σ', scale=_sum_scale(vol.amax(-1), (2, 3)))
    rep.compare_fp(f'{tag} center_hm', det['center_hm'], ref['center_hm'],
                   NOISE[f'center_hm {tag}'])
    rep.compare_fp(f'{tag} center_size', det['center_size'], ref['center_size'],
                   NOISE[f'center_size {tag}'])
    nms = ref['nms2d']
    rep.compare_fp(f'{tag} 2D NMS top-k values', det['topk_values'], nms['topk_values'],
                   NOISE[f'topk values {tag}'])
    rep.compare(f'{tag} 2D NMS top-k cells (mismatches)',
                (det['topk_index'] != nms['topk_flat_index']).sum(), 0, 0, 'exact')
    rep.compare(f'{tag} 2D NMS top-k x, y (mismatches)',
                (det['index'][..., :2] != nms['topk_index_xy']).sum(), 0, 0, 'exact')
    B, M = det['topk_index'].shape
    rep.compare_fp(f'{tag} 1D net input columns', det['columns'].reshape(B * M, *det[
        'columns'].shape[2:]), ref['c2c_input'], NOISE['columns'])
    rep.compare_fp(f'{tag} 1D heatmaps', det['heatmaps_1d'], ref['heatmaps_1d'],
                   NOISE[f'heatmaps_1d {tag}'])
    rep.compare(f'{tag} height index (mismatches)',
                (det['index'][..., 2] != ref['height_index']).sum(), 0, 0, 'exact')
    pli = ref['proposal_layer_input']
    rep.compare(f'{tag} proposal voxel index (mismatches)',
                (det['index'] != pli['topk_index_xyz']).sum(), 0, 0, 'exact')
    rep.compare_fp(f'{tag} proposal scores (2D × 1D)', det['scores'], pli['topk_confs'],
                   NOISE[f'scores {tag}'])
    rep.compare_fp(f'{tag} box predictions at the peaks', det['bbox_preds'],
                   pli['match_bbox_preds'], NOISE[f'boxes {tag}'])
    hdn, fin = det['proposals'], r['proposals'].detach().cpu()
    ph = ref['proposal_centers_hdn']
    rep.compare(f'{tag} proposal xyz (mm)', hdn[..., :3], ph[..., :3], XYZ_TOL_MM,
                'voxel grid, float32 formula')
    rep.add(f'{tag} proposal flags (mismatches)', int((hdn[..., 3] != ph[..., 3]).sum()), 0,
            'exact')
    rep.compare_fp(f'{tag} proposal HDN scores', hdn[..., 4], ph[..., 4], NOISE[f'scores {tag}'])
    rep.compare_fp(f'{tag} proposal boxes', hdn[..., 5:7], ph[..., 5:7], NOISE[f'boxes {tag}'])
    pf = ref['proposal_centers_final']
    used = fin[..., 3] >= 0
    rep.compare_fp(f'{tag} final scores of people (JLN confidence)', fin[..., 4][used],
                   pf[..., 4][used], NOISE[f'jln confidence {tag}'])
    rep.compare_fp(f'{tag} final scores of the others (HDN score)', fin[..., 4][~used],
                   pf[..., 4][~used], NOISE[f'other scores {tag}'])
    # JLN, per reference call (one per sample with proposals)
    pair = r['pair_index'].cpu()
    planes = r['planes']
    jo = {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v)
          for k, v in r['jln'].items()}
    P = pair.shape[0]
    K = r['poses'].shape[2]
    pin = planes['planes'].detach().cpu().view(3, P, K, *planes['planes'].shape[-2:])
    calls = ref['jln_calls']
    ours_samples = sorted(set(pair[:, 0].tolist()))
    rep.add(f'{tag} JLN calls: samples (mismatch)',
            0 if ours_samples == [int(c['sample']) for c in calls] else 1, 0,
            f'exact; ours {ours_samples}')
    worst = dict()

    def acc(name, err, scale=None, kind='fp'):
        e0, s0, _ = worst.get(name, (0.0, 0.0, kind))
        worst[name] = (max(e0, float(err)), max(s0, float(scale or 0.0)), kind)

    for c in calls:
        b = int(c['sample'])
        rows = (pair[:, 0] == b).nonzero(as_tuple=True)[0]
        slots = pair[rows, 1]
        if slots.tolist() != c['slots'].tolist():
            acc('slots (mismatches)', 1, kind='exact')
            continue
        acc('slots (mismatches)', 0, kind='exact')
        for key in ('corner', 'mask', 'start', 'end'):
            refk = {'corner': 'corner_index', 'mask': 'bbox_mask'}.get(key, key)
            acc(f'window {key} (mismatches)', int((planes[key][rows].cpu() != c[refk]).sum()),
                kind='exact')
        acc('cube offset (mm)', (planes['offset'][rows].cpu() - c['offset']).abs().max(),
            tensor_scale(c['offset']))
        acc('cube non-zero voxels (count difference)',
            int((planes['cube_nonzero'][rows] - c['cube_nonzero']).abs().max()),
            1e-5 * float(c['cube_nonzero'].max()), kind='count')
        acc('cube sums', (planes['cube_sum'][rows] - c['cube_joint_sum']).abs().max(),
            tensor_scale(c['cube_joint_sum']))
        pi = pin[:, rows]
        acc('planes in sums', (pi.double().sum((3, 4)) - c['planes_in_sum']).abs().max(),
            _sum_scale(pi, (3, 4)))
        acc('planes in max', (pi.amax((3, 4)) - c['planes_in_max']).abs().max(),
            tensor_scale(c['planes_in_max']))
        po = jo['planes_out'][:, rows]
        acc('planes out sums', (po.double().sum((3, 4)) - c['planes_out_sum']).abs().max(),
            _sum_scale(po, (3, 4)))
        acc('planes out max', (po.amax((3, 4)) - c['planes_out_max']).abs().max(),
            tensor_scale(c['planes_out_max']))
        acc('planes out argmax (mismatches)',
            int((po.flatten(3).argmax(-1) != c['planes_out_argmax']).sum()), kind='exact')
        acc('soft-argmax before offsets (mm)',
            (jo['plane_rel'][:, rows] - c['softargmax_pred_no_offset']).abs().max(), kind='pose')
        acc('JLN confidence', (jo['confidence'][rows] - c['softargmax_conf']).abs().max(),
            tensor_scale(c['softargmax_conf']))
        acc('fusion weights', (jo['weights'][:, rows] - c['fusion_weights']).abs().max(),
            tensor_scale(c['fusion_weights']))
    noise_key = {'cube offset (mm)': 'offset', 'cube sums': 'cube sums',
                 'planes in sums': 'planes in sums', 'planes in max': 'planes in',
                 'planes out sums': f'planes out sums {tag}',
                 'planes out max': f'planes out {tag}',
                 'JLN confidence': f'jln confidence {tag}',
                 'fusion weights': f'fusion weights {tag}'}
    for name, (err, scale, kind) in worst.items():
        if kind == 'exact':
            rep.add(f'{tag} JLN calls: {name}', err, 0, 'exact')
        elif kind == 'count':
            rep.add(f'{tag} JLN calls: {name}', err, scale,
                    '1e-5 of the count: a voxel at the edge of a Gaussian\'s support may round '
                    'to 0 with scalar (SSE) grid_sample kernels')
        elif kind == 'pose':
            rep.add(f'{tag} JLN calls: {name}', err, POSE_TOL_MM, 'pose bound (mm)')
        else:
            rep.add_fp(f'{tag} JLN calls: {name}', err, scale, NOISE[noise_key[name]],
                       'worst over calls')
    ex = ref['jln_example']
    hit = ((pair[:, 0] == int(ex['sample'])) & (pair[:, 1] == int(ex['slot']))).nonzero()
    if len(hit) and int(hit[0, 0]) == 0 and planes.get('cube') is not None:
        cube = planes['cube'].detach().cpu()
        rep.compare_fp(f'{tag} JLN example cube (stride 2)', cube[:, ::2, ::2, ::2],
                       _dense(ex['cube_stride2_sparse']), NOISE['cube'])
        rep.compare_fp(f'{tag} JLN example planes in', pin[:, 0], ex['planes_in'],
                       NOISE['planes in'])
        rep.compare_fp(f'{tag} JLN example planes out', jo['planes_out'][:, 0],
                       ex['planes_out'], NOISE[f'planes out {tag}'])
    else:
        rep.add(f'{tag} JLN example pair found', float('inf'), 0,
                f'sample {int(ex["sample"])} slot {int(ex["slot"])} is not our first pair')
    rep.compare(f'{tag} JLN plane poses (mm)', r['plane_poses'].cpu(), ref['jln_plane_poses'],
                POSE_TOL_MM, 'pose bound (mm)')
    rep.compare(f'{tag} JLN fused poses (mm)', r['poses'].cpu(), ref['jln_fused_poses'],
                POSE_TOL_MM, 'pose bound (mm)')
    pose_err = (r['poses'].cpu() - ref['pred'][..., :3]).abs().max().item()
    rep.add(f'{tag} pred joints (mm)', pose_err, POSE_TOL_MM, 'pose bound (mm)')
    cols = fin[:, :, None, 3:5].expand(-1, -1, K, -1)
    rep.compare(f'{tag} pred flag column (mismatches)', (cols[..., 0] != ref['pred'][..., 3]).sum(),
                0, 0, 'exact')
    rep.compare_fp(f'{tag} pred score column', cols[..., 1], ref['pred'][..., 4],
                   NOISE[f'other scores {tag}'])
    return pose_err


def _target_rows(rep: GoldenReport, targets: Dict, ref: dict, max_people: int) -> None:
    t = {k: v.detach().cpu() for k, v in targets.items()}
    B, G = t['index'].shape
    rep.compare_fp('train target top-view heatmaps', t['topview'], ref['2d_heatmaps'],
                   NOISE['targets'])

    def pad(x, fill=0):
        out = torch.full((B, max_people) + tuple(x.shape[2:]), fill, dtype=x.dtype)
        out[:, :G] = x[:, :max_people]
        return out

    rep.compare_fp('train target 1D heatmaps', pad(t['height']), ref['1d_heatmaps'],
                   NOISE['targets'])
    real = torch.arange(max_people)[None] < t['counts'][:, None]
    rep.add('train target box cells (mismatches)',
            int((pad(t['index'])[real] != ref['index'][real].long()).sum()), 0,
            'exact (floor, reference_bbox_index)')
    rep.compare_fp('train target boxes', pad(t['bbox']), ref['bbox'], NOISE['targets'])
    mask = real | ((torch.arange(max_people)[None] == t['counts'][:, None]) &
                   (t['counts'][:, None] < max_people))
    rep.add('train box-loss mask (mismatches)', int((mask != ref['mask']).sum()), 0,
            'exact (with the padding slot, reference_bbox_mask)')


def _bn_rows(rep: GoldenReport, model, ref_stats: dict) -> None:
    from virtualpose_mm.models.utils.faster_voxelpose_converter import \
        convert_faster_voxelpose_state_dict
    ours = {k: (v.cpu() if isinstance(v, torch.Tensor) else v)
            for k, v in model.state_dict().items()}
    conv, _ = convert_faster_voxelpose_state_dict(dict(ref_stats), layout='faster-voxelpose')
    worst = {'running_mean': (-1.0, 0.0, 0.0, ''), 'running_var': (-1.0, 0.0, 0.0, '')}
    n_bad, missing = 0, []
    for k, v in conv.items():
        if k not in ours:
            missing.append(k)
            continue
        if k.endswith('num_batches_tracked'):
            n_bad += int(int(ours[k]) != int(v))
            continue
        kind = 'running_var' if k.endswith('running_var') else 'running_mean'
        scale = tensor_scale(v) if kind == 'running_var' else tensor_scale(
            conv[k[:-len('running_mean')] + 'running_var'].double().clamp(min=0).sqrt())
        e = (ours[k].double() - v.double()).abs().max().item()
        e = float('inf') if math.isnan(e) else e
        rel = e / scale if scale > 0 else (0.0 if e == 0 else float('inf'))
        if rel > worst[kind][0]:
            worst[kind] = (rel, e, scale, k)
    for kind in ('running_mean', 'running_var'):
        _, e, scale, k = worst[kind]
        rep.add_fp(f'train BN {kind}', e if not missing else float('inf'), scale,
                   NOISE[f'BN {kind}'], f'{len(conv)} buffers; worst {k}' +
                   (f'; not in our model: {missing[:3]}' if missing else ''))
    rep.add('train BN num_batches_tracked (mismatches)', n_bad, 0, 'exact')


@register_checker('faster_voxelpose_model',
                  match=lambda d, p: 'state_dict' in d and any(
                      k.startswith('pose_net.center_net.') for k in d['state_dict']))
def check_faster_voxelpose_model(d: dict, path: str, device: str = 'cpu') -> GoldenReport:
    import virtualpose_mm  # noqa: F401  (registers the models)
    from virtualpose_mm.models.utils.faster_voxelpose_converter import \
        load_faster_voxelpose_checkpoint
    from virtualpose_mm.registry import MODELS

    rep = GoldenReport(kind=f'faster_voxelpose_model ({d.get("case", "?")}, '
                            f'{d.get("reference", {}).get("repo", "reference")})')
    model = MODELS.build(model_config_from_reference(d['config']))
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in d['state_dict'].items()}
    info = load_faster_voxelpose_checkpoint(model, sd)
    rep.add('state dict conversion (unplaced keys)', len(info['unknown']), 0,
            f'{len(sd)} reference entries')
    model.to(device)
    model_train = copy.deepcopy(model)
    # one rig: the train model reuses the sampling grids the eval model caches
    model_train.detector.projector.cache = model.detector.projector.cache
    model_train.joint_net.fine_cache = model.joint_net.fine_cache
    _grid_rows(rep, model, d)
    ev, tr = d['eval'], d['train']

    # ------------------------------------------------------------------ eval
    model.eval()
    inputs, samples = build_batch(d, model)
    with torch.no_grad():
        r = model.run(inputs, samples, return_intermediates=True)
    vol = r['volume'].cpu()
    ref_vol = _dense(ev['hdn_cubes_sparse'])
    rep.compare_fp('eval HDN volume', vol, ref_vol, NOISE['hdn volume'])
    rep.compare_fp('eval HDN volume sums', vol.double().sum((2, 3, 4)), ev['hdn_cubes_joint_sum'],
                   NOISE['hdn volume sums'], 'float64 sums; scale max Σ',
                   scale=_sum_scale(vol, (2, 3, 4)))
    err_eval = _forward_rows(rep, 'eval', r, ev)
    out = model.add_pred_to_datasample(r, samples)     # what predict() returns
    api_err = 0.0
    for b, ds in enumerate(out):
        keep = ev['proposal_centers_final'][b, :, 3] >= 0
        refp = ev['pred'][b, keep, :, :3]
        ours = torch.as_tensor(ds.pred_instances.keypoints)
        api_err = max(api_err, float('inf') if ours.shape != refp.shape else
                      (ours - refp).abs().max().item() if ours.numel() else 0.0)
    rep.add('eval pred_instances (mm)', api_err, POSE_TOL_MM, 'pose bound (mm); as predict()')

    # ------------------------------------------------------------------ train
    model_train.train()
    inputs, samples = build_batch(d, model_train)
    gt = model_train.parse_gt(samples, inputs.device)
    rt = model_train.run(inputs, samples, gt=gt, return_intermediates=True)
    losses = model_train.compute_losses(rt, gt)
    _target_rows(rep, rt['targets'], d['inputs']['targets'], model_train.detector.max_people)
    err_train = _forward_rows(rep, 'train', rt, tr)
    rep.add('train boxes replaced by GT (mismatches)',
            int((rt['det']['bbox_replaced'].cpu() != tr['bbox_replaced']).sum()), 0, 'exact')
    total = 0.0
    for ours_k, ref_k in LOSS_NAMES:
        v, ref_v = float(losses[ours_k].detach()), float(tr['losses'][ref_k])
        total += v
        rep.add(f'train {ours_k} ↔ {ref_k} (abs)', abs(v - ref_v), LOSS_RTOL * abs(ref_v),
                f'rtol {LOSS_RTOL:g}; {v:.7g} vs {ref_v:.7g}')
    ref_t = float(tr['losses']['total'])
    rep.add('train total loss (abs)', abs(total - ref_t), LOSS_RTOL * abs(ref_t),
            f'rtol {LOSS_RTOL:g}; {total:.7g} vs {ref_t:.7g}')
    b_idx, m_idx = rt['pair_index'].unbind(-1)
    g_idx = rt['det']['proposals'][b_idx, m_idx, 3].long()
    terms = model_train.joint_net.loss_terms(rt['jln'], gt['joints'][b_idx, g_idx],
                                             gt['weights'][b_idx, g_idx]).detach().cpu()
    ref_terms = tr['loss_joint_terms']
    rep.add('train joint-loss terms xy, xz, yz, fused (max rel)',
            float(((terms - ref_terms).abs() / ref_terms.abs()).max()), LOSS_RTOL,
            f'rtol {LOSS_RTOL:g}')
    _bn_rows(rep, model_train, tr['bn_running_stats_after_forward'])
    sum(losses.values()).backward()
    bad = [n for n, p in model_train.named_parameters()
           if p.grad is None or not torch.isfinite(p.grad).all()]
    rep.add('train backward: parameters without finite gradients', len(bad), 0,
            'exact' + (f'; e.g. {bad[:3]}' if bad else ''))

    rep.final_value = max(err_eval, err_train)
    rep.notes.append(f'eval: {int((ev["proposal_centers_final"][..., 3] >= 0).sum())} people, '
                     f'train: {int((tr["proposal_centers_final"][..., 3] >= 0).sum())} '
                     'matched proposals')
    return rep
