"""Golden check of the VoxelPose model against voxelpose-pytorch outputs.

The file (see ``data/golden/voxelpose/README.md``) holds the reference config, the
reference state dict (float16-stored, float32-exact), sparse input heatmaps, the collated
reference ``meta`` (cameras, letterbox centre/scale, GT), the root targets and every
intermediate of one eval-mode and one train-mode forward. Everything here is derived from
the file, so unseen cases (other seeds, rigs, sizes) work the same way.
"""
from __future__ import annotations

import copy
import math
from typing import Dict, List

import numpy as np
import torch

from .core import GoldenReport, register_checker, tensor_scale

#: Worst float32 noise measured for each compared quantity, in units of ``ε · scale``
#: (ε = float32 eps, scale = max |reference| unless the row says otherwise), over both
#: model files; the bound is derived from it by the rule of :func:`.core.f32_ulps`.
#: Measured over OMP threads 1 and 2 and CPU kernels of three vector widths (AVX-512,
#: AVX2, SSE4.1); regenerate with ``python -m tools.analysis.golden.noise``.
NOISE = {
    # eval (shelf / campus worst). Bit-identical to the reference with AVX-512 kernels at
    # 2 threads (the reference machine's); the spread comes from other kernels.
    'cpn cubes': 52.2,             # 0-1ε with vectorised grid_sample, 52ε with scalar ATen
    'cpn grid': 0,
    'root volume eval': 60.8,
    'proposal scores eval': 17.3,
    'loss_3d eval': 1.92,
    'pose-net cube': 1.15,
    'pose-net cube sums': 1.02,    # scale max_j Σ|cube_j|
    'pose-net V2V output': 6.56,
    'pose-net V2V output sums': 0.187,  # scale max_j Σ|out_j|
    'pose-net grid': 0,
    # train (batch-statistics BatchNorm)
    'root volume train': 38.4,
    'proposal scores train': 8.74,
    'loss_3d train': 2.9,
    'loss_cord train': 4.32,
    'BN running_mean': 0.671,      # scale max √running_var of the buffer's layer
    'BN running_var': 1.71,
}

#: The bound on predicted joints (mm): the final pose bound of every model golden check.
POSE_TOL_MM = 0.05


def _dense(sp: dict) -> torch.Tensor:
    shape = [int(s) for s in sp['shape']]
    out = torch.zeros(int(np.prod(shape)), dtype=sp['values'].dtype)
    out[sp['flat_index'].long()] = sp['values']
    return out.view(shape)


def reference_letterbox_affine(center, scale, output_size) -> np.ndarray:
    """The reference ``get_affine_transform(center, scale, 0, output_size)``.

    ``scale`` is in units of 200 px; three points (centre, centre + half-width direction,
    their perpendicular third point) are mapped with ``cv2.getAffineTransform`` in float32,
    exactly as the reference does. Returns the (2, 3) float64 affine original → input px.
    """
    import cv2
    center = np.asarray(center, dtype=np.float32).reshape(2)
    s = np.asarray(scale, dtype=np.float32).reshape(2) * 200.0
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    if s[0] >= s[1]:
        src_dir = np.array([0, s[0] * -0.5], np.float32)
        dst_dir = np.array([0, dst_w * -0.5], np.float32)
    else:
        src_dir = np.array([s[1] * -0.5, 0], np.float32)
        dst_dir = np.array([dst_h * -0.5, 0], np.float32)
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]], dtype=np.float32)

    src[2] = third(src[0], src[1])
    dst[2] = third(dst[0], dst[1])
    return np.asarray(cv2.getAffineTransform(np.float32(src), np.float32(dst)),
                      dtype=np.float32).astype(np.float64)


def model_config_from_reference(cfg: dict, exclude_behind_camera: bool = False,
                                prn_train_per_slot: bool = True) -> dict:
    """Our ``VoxelPose`` config from a reference (yacs) config dict."""
    net, mp, ps = cfg['NETWORK'], cfg['MULTI_PERSON'], cfg['PICT_STRUCT']
    if cfg.get('BACKBONE_MODEL'):
        raise ValueError(f'golden case has a 2D backbone ({cfg["BACKBONE_MODEL"]!r}); this '
                         'checker handles heatmap-input cases (BACKBONE_MODEL empty) only')
    K = int(net['NUM_JOINTS'])
    # the reference-exact settings, forced explicitly (the shipped configs default to the
    # faster float32 projection, auto cube batching and the fast inference V2V copy): the
    # reference's float32 projection order, its soft-argmax sum, the plain V2V modules, no
    # FFT first layer, all cubes of a slot in one V2V call
    proj = dict(exclude_behind_camera=exclude_behind_camera, precision='reference',
                cache_size=4)
    exact = dict(fast_eval=False, fft_first_layer=False, compile_v2v=False)
    return dict(
        type='VoxelPose', num_joints=K, image_size=tuple(net['IMAGE_SIZE']),
        prn_train_per_slot=prn_train_per_slot,
        root_net=dict(type='VoxelCenterNet', space_size=mp['SPACE_SIZE'],
                      space_center=mp['SPACE_CENTER'], space_shape=mp['INITIAL_CUBE_SIZE'],
                      max_people=int(mp['MAX_PEOPLE_NUM']), threshold=float(mp['THRESHOLD']),
                      match_distance=500.0, projector=proj, **exact,
                      v2v_net=dict(type='V2VNet', input_channels=K, output_channels=1)),
        pose_net=dict(type='VoxelSinglePoseNet', cube_size=ps['GRID_SIZE'],
                      cube_shape=ps['CUBE_SIZE'], beta=float(net['BETA']), projector=proj,
                      reference_soft_argmax=True, max_cubes_per_call=0, **exact,
                      v2v_net=dict(type='V2VNet', input_channels=K, output_channels=K)))


def build_data_samples(d: dict) -> List:
    """Reference ``meta`` (one dict per view, collated over B) → our data samples, with the
    views in the canonical metainfo (the pack transform's :func:`pack_view_meta` converts
    the voxelpose-pytorch camera dicts) and the reference's root targets as
    ``gt_fields.root_heatmap_3d``. Run them through the model's data preprocessor
    (:func:`prepare`) before the model."""
    from mmengine.structures import BaseDataElement, InstanceData
    from mmpose.structures import PoseDataSample
    from virtualpose_mm.datasets.transforms.formatting import pack_view_meta
    meta = d['meta']
    V = len(meta)
    img_size = d['config']['NETWORK']['IMAGE_SIZE']
    B = int(meta[0]['center'].shape[0])
    samples = []
    for b in range(B):
        cams = [{k: v[b] for k, v in meta[c]['camera'].items()} for c in range(V)]
        affines = np.stack([reference_letterbox_affine(meta[c]['center'][b],
                                                       meta[c]['scale'][b], img_size)
                            for c in range(V)])
        sizes = np.stack([meta[c]['center'][b].double().numpy() * 2 for c in range(V)])
        ds = PoseDataSample(metainfo=pack_view_meta(
            dict(cameras=cams, affines=affines, image_sizes=sizes, input_size=img_size),
            what=f'golden meta, sample {b}'))
        n = int(meta[0]['num_person'][b])
        gi = InstanceData()
        gi.lifting_target = meta[0]['joints_3d'][b, :n].float()
        gi.lifting_target_visible = meta[0]['joints_3d_vis'][b, :n, :, 0].float()
        gi.roots_3d = meta[0]['roots_3d'][b, :n].float()
        ds.gt_instances = gi
        ds.gt_fields = BaseDataElement(root_heatmap_3d=d['targets_3d'][b].float())
        samples.append(ds)
    return samples


def prepare(model, inputs: torch.Tensor, samples: List):
    """The batch through the model's data preprocessor (as the runner does): inputs on the
    model's device, the views stacked once (metainfo ``view_meta``)."""
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples))
    return data['inputs'], data['data_samples']


def _sum_scale(x: torch.Tensor) -> float:
    """The scale of per-channel sums over voxels: ``max_c Σ |x_c|``, the size of the terms
    summed (their rounding noise adds up, whatever the cancellation in the sum)."""
    return float(x.detach().double().abs().flatten(1).sum(1).max()) if x.numel() else 0.0


def _compare_forward(rep: GoldenReport, tag: str, r: Dict[str, torch.Tensor],
                     ref: dict) -> float:
    """Rows shared by the eval and train forwards (``tag`` 'eval' or 'train'); returns the
    max pose error (mm)."""
    r = {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in r.items()}
    rep.compare_fp(f'{tag} root volume', r['root_volume'], ref['root_cubes'],
                   NOISE[f'root volume {tag}'])
    props, gc = r['proposals'], ref['grid_centers']
    rep.compare(f'{tag} proposal xyz (mm)', props[..., :3], gc[..., :3], 0,
                'exact: voxel index → position, same float32 formula')
    rep.compare_fp(f'{tag} proposal scores', props[..., 4], gc[..., 4],
                   NOISE[f'proposal scores {tag}'])
    rep.add(f'{tag} proposal flags (mismatches)',
            int((props[..., 3] != gc[..., 3]).sum()), 0, 'exact')
    pose_err = (r['poses'] - ref['pred'][..., :3]).abs().max().item()
    rep.add(f'{tag} pred joints (mm)', pose_err, POSE_TOL_MM, 'pose bound (mm)')
    K = r['poses'].shape[2]
    cols = torch.cat([props[:, :, None, 3:5].expand(-1, -1, K, -1)], -1)
    rep.compare(f'{tag} pred flag columns', cols[..., 0], ref['pred'][..., 3], 0, 'exact')
    rep.compare_fp(f'{tag} pred score columns', cols[..., 1], ref['pred'][..., 4],
                   NOISE[f'proposal scores {tag}'])
    # pose-net calls: one per slot with any usable proposal, sorted by slot
    used = props[..., 3] >= 0
    slots = sorted(set(r['pair_index'][:, 1].tolist()))
    rep.add(f'{tag} pose-net called slots (mismatch)',
            0 if slots == [int(s) for s in ref['prn_slot_per_call']] else 1, 0,
            f'exact; ours {slots} vs reference {list(ref["prn_slot_per_call"])}')
    if slots == [int(s) for s in ref['prn_slot_per_call']]:
        mask = torch.stack([used[:, n] for n in slots])
        rep.add(f'{tag} pose-net valid masks (mismatches)',
                int((mask != ref['prn']['valid_mask_per_call']).sum()), 0, 'exact')
        per_call = torch.stack([r['poses'][:, n] * used[:, n, None, None] for n in slots])
        rep.compare(f'{tag} pose-net per-call outputs (mm)', per_call,
                    ref['prn']['single_pose_per_call'], POSE_TOL_MM, 'pose bound (mm)')
    return pose_err


def _bn_rows(rep: GoldenReport, model, ref_stats: dict) -> None:
    from virtualpose_mm.models.utils.voxelpose_converter import convert_voxelpose_state_dict
    ours = {k: (v.cpu() if isinstance(v, torch.Tensor) else v)
            for k, v in model.state_dict().items()}
    conv, _ = convert_voxelpose_state_dict(
        {k: v for k, v in ref_stats.items()}, layout='voxelpose-pytorch')
    # per buffer max |Δ|; scale max √running_var for running means (the size of the
    # activations averaged), max running_var for running variances; the worst buffer shown
    worst = {'running_mean': (-1.0, 0.0, 0.0, ''), 'running_var': (-1.0, 0.0, 0.0, '')}
    n_bad_count, missing = 0, []
    for k, v in conv.items():
        if k not in ours:
            missing.append(k)
            continue
        if k.endswith('num_batches_tracked'):
            n_bad_count += int(int(ours[k]) != int(v))
            continue
        kind = 'running_var' if k.endswith('running_var') else 'running_mean'
        scale = tensor_scale(v) if kind == 'running_var' else \
            tensor_scale(conv[k[:-len('running_mean')] + 'running_var'].double().clamp(min=0)
                         .sqrt())
        e = (ours[k].double() - v.double()).abs().max().item()
        if math.isnan(e):
            e = float('inf')
        rel = e / scale if scale > 0 else (0.0 if e == 0 else float('inf'))
        if rel > worst[kind][0]:
            worst[kind] = (rel, e, scale, k)
    for kind in ('running_mean', 'running_var'):
        _, e, scale, k = worst[kind]
        rep.add_fp(f'train BN {kind}', e if not missing else float('inf'), scale,
                   NOISE[f'BN {kind}'], f'{len(conv)} buffers; worst {k}' +
                   (f'; not in our model: {missing[:3]}' if missing else ''))
    rep.add('train BN num_batches_tracked (mismatches)', n_bad_count, 0, 'exact')


@register_checker('voxelpose_model',
                  match=lambda d, p: 'state_dict' in d and any(
                      k.startswith('root_net.v2v_net.') for k in d['state_dict']))
def check_voxelpose_model(d: dict, path: str, device: str = 'cpu') -> GoldenReport:
    import virtualpose_mm  # noqa: F401  (registers the models)
    from virtualpose_mm.models.layers import voxel_grid
    from virtualpose_mm.models.utils.voxelpose_converter import (convert_voxelpose_state_dict,
                                                                 match_state_dict)
    from virtualpose_mm.registry import MODELS

    rep = GoldenReport(kind=f'voxelpose_model ({d.get("case", "?")}, '
                            f'{d.get("reference", {}).get("repo", "reference")})')
    cfg = d['config']
    model = MODELS.build(model_config_from_reference(cfg))
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in d['state_dict'].items()}
    conv, info = convert_voxelpose_state_dict(sd, layout='voxelpose-pytorch')
    model.load_state_dict(match_state_dict(model, conv, path, info), strict=True)
    model.to(device)
    model_train = copy.deepcopy(model)

    hm = _dense(d['input_heatmaps_sparse']).transpose(0, 1).contiguous().float().to(device)
    hm, samples = prepare(model, hm, build_data_samples(d))
    ev, tr = d['eval'], d['train']

    # ------------------------------------------------------------------ eval
    model.eval()
    with torch.no_grad():
        r = model.run(hm, samples, return_intermediates=True)
        loss_3d = model.root_net.loss(r['root_volume'],
                                      d['targets_3d'].float().to(device)).item()
    r = {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in r.items()}
    rep.compare_fp('eval cpn cubes', r['root_cubes'], _dense(ev['cpn_cubes_sparse']),
                   NOISE['cpn cubes'])
    mp = cfg['MULTI_PERSON']
    g = voxel_grid(mp['SPACE_SIZE'], mp['SPACE_CENTER'], mp['INITIAL_CUBE_SIZE'])
    rep.compare_fp('cpn grid first/last (mm)', torch.stack([g[0], g[-1]]),
                   ev['cpn_grid_first_last'], NOISE['cpn grid'])
    err_eval = _compare_forward(rep, 'eval', r, ev)
    rep.add_fp('eval loss_3d (rel)', abs(loss_3d - float(ev['loss_3d'])),
               abs(float(ev['loss_3d'])), NOISE['loss_3d eval'],
               f'{loss_3d:.7g} vs {float(ev["loss_3d"]):.7g}')
    # the example cube of the first pose-net call
    ex = ev['prn']['example']
    slots = sorted(set(r['pair_index'][:, 1].tolist()))
    ci, bi = int(ex['call_index']), int(ex['batch_index'])
    s = int(ex['subsample_stride'])
    pi = [i for i, (b, m) in enumerate(r['pair_index'].tolist())
          if ci < len(slots) and b == bi and m == slots[ci]]
    if pi:
        p = pi[0]
        cube, vol = r['pose_cubes'][p], r['pose_volumes'][p]
        rep.compare_fp('eval pose-net cube (subsampled)', cube[:, ::s, ::s, ::s],
                       ex['cubes_sub'], NOISE['pose-net cube'])
        rep.compare_fp('eval pose-net cube sums (rel)', cube.double().flatten(1).sum(1),
                       ex['cubes_sum_per_joint'], NOISE['pose-net cube sums'],
                       'float64 sums over all voxels; scale max_j Σ|cube_j|',
                       scale=_sum_scale(cube))
        rep.compare_fp('eval pose-net V2V output (subsampled)', vol[:, ::s, ::s, ::s],
                       ex['v2v_out_sub'], NOISE['pose-net V2V output'])
        rep.compare_fp('eval pose-net V2V output sums', vol.double().flatten(1).sum(1),
                       ex['v2v_out_sum_per_joint'], NOISE['pose-net V2V output sums'],
                       'float64 sums over all voxels; scale max_j Σ|out_j|',
                       scale=_sum_scale(vol))
        cg = voxel_grid(cfg['PICT_STRUCT']['GRID_SIZE'], ex['grid_center'][None, :3],
                        cfg['PICT_STRUCT']['CUBE_SIZE'])[0]
        rep.compare_fp('eval pose-net cube first/last (mm)', torch.stack([cg[0], cg[-1]]),
                       ex['grid_first_last'], NOISE['pose-net grid'])
    else:
        rep.add('eval pose-net example call found', float('inf'), 0,
                f'no pair for call {ci}, sample {bi}')
    # the public API gives the same people
    with torch.no_grad():
        out = model.predict(*prepare(model, hm, build_data_samples(d)))
    api_err = 0.0
    for b, ds in enumerate(out):
        keep = ev['grid_centers'][b, :, 3] >= 0
        refp = ev['pred'][b, keep, :, :3]
        ours = torch.as_tensor(ds.pred_instances.keypoints)
        api_err = max(api_err, float('inf') if ours.shape != refp.shape else
                      (ours - refp).abs().max().item() if ours.numel() else 0.0)
    rep.add('eval predict() pred_instances (mm)', api_err, POSE_TOL_MM, 'pose bound (mm)')

    # ------------------------------------------------------------------ train
    model_train.train()
    hm, samples = prepare(model_train, hm, build_data_samples(d))
    gt = model_train.parse_gt(samples, hm.device)
    rt = model_train.run(hm, samples, gt=gt, per_slot=True)
    losses = model_train.compute_losses(rt, samples, gt)
    err_train = _compare_forward(rep, 'train', rt, tr)
    for key, ours, name in (('loss_3d', losses['loss_center'].item(), 'loss_3d'),
                            ('loss_cord', losses['loss_pose'].item(), 'loss_cord')):
        ref_v = float(tr[key])
        rep.add_fp(f'train {name} (rel)', abs(ours - ref_v), abs(ref_v),
                   NOISE[f'{name} train'], f'{ours:.7g} vs {ref_v:.7g}')
    _bn_rows(rep, model_train, tr['bn_running_stats_after_forward'])
    (losses['loss_center'] + losses['loss_pose']).backward()
    grads_ok = all(p.grad is not None and torch.isfinite(p.grad).all()
                   for p in model_train.pose_net.parameters())
    rep.add('train backward: finite pose-net grads (failures)', 0 if grads_ok else 1, 0,
            'exact')

    rep.final_value = max(err_eval, err_train)
    rep.notes.append(f'eval: {int((ev["grid_centers"][..., 3] >= 0).sum())} people, '
                     f'train: {int((tr["grid_centers"][..., 3] >= 0).sum())} matched proposals')
    return rep
