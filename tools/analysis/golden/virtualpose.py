"""Golden checks of VirtualPose stage 2 against the reference code (wkom/VirtualPose).

Three file formats (see ``shared/data/golden/virtualpose/README.md``), each recognised from
its ``format`` field:

* ``virtualpose-golden-stage2-v1`` — the eval-mode forward: DE map, decoded people, REN
  input volume, root volume, proposals, the first PEN call and the predictions;
* ``virtualpose-golden-stage2-loss-v1`` — the train-mode forward with GT matching: losses,
  proposals, predictions, BatchNorm buffers after the forward, gradients of the total loss
  (weights and AGR come from the stage-2 file it names under ``uses``, in the same folder);
* ``virtualpose-golden-agr-v1`` — AGR rendering (heatmaps, box maps, detection targets) and
  3D root targets.

Our model is built from the file's ``config`` with every reference-quirk option switched to
the reference behaviour (``peak_offset=0.5``, ``sort_by_depth=True``, per-slot pose-net
BatchNorm, no L/R swap in the DE flip, legacy AGR rendering); everything else is derived
from the file content.
"""
from __future__ import annotations

import copy
import math
import os
import re
from typing import Dict, List

import numpy as np
import torch

from .core import (F32_EPS, F64_EPS, GoldenReport, load_golden, register_checker,
                   tensor_scale)

#: Worst float32 noise measured for each compared quantity, in units of ``ε · scale``
#: (ε = float32 eps, scale = max |reference| unless the row says otherwise); the bound is
#: derived from it by the rule of :func:`.core.f32_ulps`. Measured over OMP threads 1 and 2
#: and CPU kernels of three vector widths (AVX-512, AVX2, SSE4.1: an AMD EPYC Zen 4 with
#: ``ATEN_CPU_CAPABILITY`` / ``ONEDNN_MAX_CPU_ISA`` limits); regenerate with
#: ``python -m tools.analysis.golden.noise``.
NOISE = {
    # eval forward (stage2_mupots_small.pt). The DE and V2V stages alone differ from a
    # float64 run by 4-17ε (on the reference's own stored inputs); the REN input volume
    # gathers more because the depth gate exp(−(z − d)²/2σ²) amplifies the DE's noise:
    # decoded depths carry ~10ε × 5000 mm = 6e-3 mm, times the gate's steepest slope
    # 1/(σ√e) = 3e-3 per mm (σ = 200 mm) ≈ 1.8e-5 ≈ 150ε, as measured.
    'depth_map': 18.2,
    'det scores': 0,               # max-pool NMS picks the same AGR pixels: exact copies
    'det bboxes': 0,
    'det depths_norm': 10.2,
    'decoded depths': 10.2,
    'ren_input_volume': 156,       # failed the old absolute 1e-5 on an AVX2-only machine
    'root_volume': 126,
    'proposal scores': 57.3,
    'PEN input_cube': 68.7,        # 8ε with vectorised grid_sample, 69ε with scalar ATen
    'PEN V2V output': 21.6,
    'loss_depth eval': 53.1,
    # train forward (stage2_loss.pt): batch-statistics BatchNorm
    'depth_map train': 13.9,
    'det scores train': 0,
    'det bboxes train': 0,
    'det depths_norm train': 5.79,
    'decoded depths train': 5.79,
    'ren_input_volume train': 82.3,
    'root_volume train': 65.9,
    'root targets': 2.31,
    'proposal scores train': 25.6,
    'loss_depth': 94.4,
    'loss_3d': 1.09,
    'loss_cord': 1.73,
    'total': 5.79,
    'loss_cord per pair': 2.52,
    'BN running_mean': 2.14,
    'BN running_var': 13.2,
    'DE forced-flip': 13.1,
    # AGR rendering (agr_render.pt): bit-identical in every configuration
    'heatmaps': 0,
    'box_map': 0,
    'sigma': 0,                    # float64 (ε64)
    'human_scale': 0,              # float64 (ε64)
    'bbox_hm': 0,
    'wh': 0,
    'root target': 0,
}

#: Gradients of the total loss (stage2_loss.pt), ``‖Δ‖₂`` in units of ε·‖g_ref(layer)‖₂,
#: per reference parameter name. ``conv1.weight`` (the DE's 7×7 stem) is a reduction over
#: B·H·W = 61,440 positions per weight, behind the whole DE and train-mode BatchNorm: a
#: float32 DE backward alone differs from float64 by 460-15,000ε depending on the kernels
#: (AVX2 / AVX-512 / SSE4.1 oneDNN), and the full loss gradient by up to 8.3e4ε ≈ 1.3·n·ε
#: (the old 1e-3 relative tolerance failed with SSE4.1-width kernels and was at 0.87 of
#: its limit with AVX2 ones); a missing or wrong gradient path is O(1).
NOISE_GRAD = {
    'REN.depth_net.conv1.weight': 8.29e4,
    'REN.depth_net.depth.2.weight': 289,
    'REN.depth_net.depth.2.bias': 22.8,
    'REN.v2v_net.output_layer.weight': 3.37,
    'REN.v2v_net.output_layer.bias': 1.65,
    'PEN.v2v_net.output_layer.weight': 27,
    'PEN.v2v_net.output_layer.bias': 7.78,
}

_F64_KEYS = ('sigma', 'human_scale')

#: The bound on predicted joints (mm): the final pose bound of every model golden check.
POSE_TOL_MM = 0.05

FMT_STAGE2 = 'virtualpose-golden-stage2-v1'
FMT_LOSS = 'virtualpose-golden-stage2-loss-v1'
FMT_AGR = 'virtualpose-golden-agr-v1'


def _fmt(d) -> str:
    return str(d.get('format', '')) if isinstance(d, dict) else ''


# ----------------------------------------------------------------------------- building
def letterbox_affine(center, scale, output_size) -> np.ndarray:
    """The reference ``get_affine_transform(center, scale, 0, output_size)`` (no rotation,
    no shift): (2, 3) float64, original px → canvas px. Same float32 point construction and
    ``cv2.getAffineTransform`` as the reference, so the matrix is bit-identical."""
    import cv2
    center = np.asarray(center, dtype=np.float64)
    scale_tmp = np.asarray(scale, dtype=np.float32) * 200.0
    src_w, src_h = scale_tmp[0], scale_tmp[1]
    dst_w, dst_h = output_size
    if src_w >= src_h:
        src_dir = np.array([0.0, src_w * -0.5])
        dst_dir = np.array([0, dst_w * -0.5], np.float32)
    else:
        src_dir = np.array([src_h * -0.5, 0.0])
        dst_dir = np.array([dst_h * -0.5, 0], np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir

    def third(a, b):
        d = a - b
        return np.array(b) + np.array([-d[1], d[0]], dtype=np.float32)

    src[2] = third(src[0], src[1])
    dst[2] = third(dst[0], dst[1])
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def cfg_get(config: dict, key: str):
    """A value of a reference config stored flat (``'NETWORK.NUM_JOINTS'``) or nested."""
    if key in config:
        return config[key]
    node = config
    for part in key.split('.'):
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f'golden config has no {key!r}')
        node = node[part]
    return node


def model_config_from_reference(config: dict, reference_quirks: bool = True) -> dict:
    """Our ``VirtualPose`` config from a reference config dict (flat dotted or nested
    keys). ``reference_quirks`` switches every quirk option to the reference behaviour."""
    g = lambda k: cfg_get(config, k)  # noqa: E731
    K = int(g('NETWORK.NUM_JOINTS'))
    return dict(
        type='VirtualPose',
        num_joints=K,
        root_index=int(g('DATASET.ROOTIDX')),
        input_size=tuple(g('NETWORK.IMAGE_SIZE')),
        root_net=dict(
            depth_net=dict(depth=int(g('DEPTH_RESNET.NUM_LAYERS')),
                           deconv_channels=tuple(g('POSE_RESNET.NUM_DECONV_FILTERS')),
                           deconv_kernels=tuple(g('POSE_RESNET.NUM_DECONV_KERNELS')),
                           flip_train=bool(g('TRAIN.FLIP')),
                           flip_swap_channels=not reference_quirks),
            space_size=tuple(g('ROOT_ESTIMATION.SPACE_SIZE')),
            space_center=tuple(g('ROOT_ESTIMATION.SPACE_CENTER')),
            space_shape=tuple(g('ROOT_ESTIMATION.INITIAL_CUBE_SIZE')),
            max_people=int(g('ROOT_ESTIMATION.MAX_PEOPLE_NUM')),
            threshold=float(g('ROOT_ESTIMATION.THRESHOLD')),
            match_distance=float(g('ROOT_ESTIMATION.MATCHED_THRESHOLD')),
            peak_offset=0.5 if reference_quirks else 0.0, sort_by_depth=reference_quirks,
            projection_precision='reference' if reference_quirks else 'float64'),
        pose_net=dict(type='VoxelSinglePoseNet', cube_size=tuple(g('PICT_STRUCT.GRID_SIZE')),
                      cube_shape=tuple(g('PICT_STRUCT.CUBE_SIZE')),
                      beta=float(g('NETWORK.BETA')),
                      projector=dict(precision='reference' if reference_quirks else 'float64'),
                      reference_soft_argmax=reference_quirks,
                      v2v_net=dict(type='V2VNet', input_channels=K, output_channels=K)),
        loss_weights=dict(depth=float(g('LOSS.DEPTH_WEIGHT')),
                          root=float(g('LOSS.PROP_WEIGHT')),
                          pose=float(g('LOSS.CORD_WEIGHT'))),
        gt_proposal_filter=reference_quirks,
        pen_train_per_slot=reference_quirks)


def build_reference_model(data: dict, state_dict: dict, device: str = 'cpu'):
    """Our model for a golden file, with the reference weights converted and loaded."""
    import virtualpose_mm  # noqa: F401  (registers everything)
    from virtualpose_mm.models.utils.virtualpose_converter import load_virtualpose_checkpoint
    from virtualpose_mm.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(model_config_from_reference(data['config']))
    load_virtualpose_checkpoint(model, state_dict)
    return model.to(device)


def data_samples_from_meta(meta: dict, config: dict, gt=None, root_codec=None) -> List:
    """One ``PoseDataSample`` per item of a collated reference ``meta``.

    metainfo: the views in the canonical layout of the pack transform
    (:func:`~virtualpose_mm.datasets.transforms.formatting.pack_view_meta`, V = 1) from
    ``camera`` (``meta.camera`` through ``camera_from_reference_dict``), ``affine`` (the
    letterbox of ``center``/``scale`` onto ``IMAGE_SIZE``), ``image_size`` (= 2·center,
    what the reference's bounding test uses), ``input_size`` and ``depth_norm_factor``.
    The GT of the first ``num_person`` people (``gt_instances``: lifting_target, roots_3d;
    ``gt_instance_labels``: keypoint_weights and, where the meta has them, root_depth,
    root_ind, root_mask; with ``root_codec`` (the root net's
    :class:`~virtualpose_mm.codecs.VoxelRootCodec`) ``gt_fields.root_heatmap_3d`` of the
    roots) is added when ``gt`` is True, or, with ``gt=None``, whenever the meta carries
    ``roots_3d`` and ``num_person`` — exactly when the reference flags proposals by GT
    (quirk 1, reproduced by the model's ``gt_proposal_filter``). Run the samples through
    the model's data preprocessor (:func:`prepare`) before the model.
    """
    from mmengine.structures import BaseDataElement, InstanceData
    from mmpose.structures import PoseDataSample

    from virtualpose_mm.datasets.transforms.formatting import pack_view_meta
    from virtualpose_mm.geometry.camera_io import camera_from_reference_dict
    cams = camera_from_reference_dict(meta['camera'], source='golden meta.camera')
    input_size = tuple(cfg_get(config, 'NETWORK.IMAGE_SIZE'))
    K = int(cfg_get(config, 'NETWORK.NUM_JOINTS'))
    root = int(cfg_get(config, 'DATASET.ROOTIDX'))
    if gt is None:
        gt = 'roots_3d' in meta and 'num_person' in meta and bool(
            (torch.as_tensor(meta['num_person']) > 0).any())
    out = []
    for b in range(len(meta['center'])):
        center = meta['center'][b].double().numpy()
        ds = PoseDataSample(metainfo=pack_view_meta(dict(
            camera=cams[b], affine=letterbox_affine(center, meta['scale'][b].numpy(),
                                                    input_size),
            image_size=2 * center, input_size=input_size,
            depth_norm_factor=float(meta['depth_norm_factor'][b])),
            what=f'golden meta, sample {b}'))
        if gt:
            n = int(meta['num_person'][b])
            inst = InstanceData()
            roots = meta['roots_3d'][b, :n].float()
            if 'joints_3d' in meta:
                kp = meta['joints_3d'][b, :n].float()
            else:  # only the roots are known: the pose loss is not checked then
                kp = torch.zeros(n, K, 3)
                kp[:, root] = roots
            inst.lifting_target = kp.numpy()
            inst.roots_3d = roots.numpy()
            labels = InstanceData()
            labels.keypoint_weights = (meta['joints_3d_vis'][b, :n, :, 0].float().numpy()
                                       if 'joints_3d_vis' in meta else np.ones((n, K),
                                                                               np.float32))
            if all(k in meta for k in ('depth', 'ind', 'reg_mask')):
                labels.root_depth = meta['depth'][b, :n, 0].double().numpy()
                labels.root_ind = meta['ind'][b, :n].numpy()
                labels.root_mask = meta['reg_mask'][b, :n].float().numpy()
            ds.gt_instances = inst
            ds.gt_instance_labels = labels
            if root_codec is not None:
                ds.gt_fields = BaseDataElement(root_heatmap_3d=torch.from_numpy(
                    root_codec.encode_roots(roots.numpy())))
        out.append(ds)
    return out


def prepare(model, agr: torch.Tensor, samples: List):
    """(B, K + 4, H, W) reference AGRs and our samples through the model's data
    preprocessor (as the runner does): inputs (B, 1, K + 4, H, W), views stacked once
    (metainfo ``view_meta``)."""
    data = model.data_preprocessor(dict(inputs=agr[:, None], data_samples=samples))
    return data['inputs'], data['data_samples']


# ----------------------------------------------------------------------------- comparisons
def _count_mismatch(a, b) -> float:
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape:
        return float('inf')
    return float((a != b).sum())


def _compare_det(report: GoldenReport, prefix: str, ours: dict, ref: dict,
                 ref_decoded: dict = None, ours_depths_mm=None, mode: str = '') -> None:
    """Decoded people: valid entries (score ≥ 0.1) in the reference's (depth-sorted) order.
    Discrete outputs exactly; scores/boxes/depths within float32 noise (``NOISE`` keys with
    the suffix ``mode``)."""
    ref_valid = ref['scores'][..., 0] >= 0.1
    ours_valid = ours['valid']
    report.add(f'{prefix} valid entries (count mismatch)',
               _count_mismatch(ours_valid.cpu(), ref_valid), 0, 'exact')
    if ours_valid.cpu().ne(ref_valid).any():
        return
    v = ref_valid
    report.add(f'{prefix} inds (mismatches)', _count_mismatch(ours['inds'].cpu()[v],
                                                              ref['inds'][v]), 0, 'exact')
    report.compare(f'{prefix} xys', ours['xys'].cpu()[v], ref['xys'][v], 0, 'exact')
    report.compare_fp(f'{prefix} scores', ours['scores'].cpu()[v], ref['scores'][..., 0][v],
                      NOISE['det scores' + mode])
    report.compare_fp(f'{prefix} bboxes (heatmap px)', ours['bboxes'].cpu()[v],
                      ref['bboxes'][v], NOISE['det bboxes' + mode])
    report.compare_fp(f'{prefix} depths_norm', ours['depths'].cpu()[v],
                      ref['depths_norm'][..., 0][v], NOISE['det depths_norm' + mode])
    if ref_decoded is not None:
        report.compare_fp(f'{prefix} decoded depths (mm)', ours_depths_mm.cpu()[v],
                          ref_decoded['depths'][..., 0][v], NOISE['decoded depths' + mode])
        report.compare_fp(f'{prefix} decoded bboxes', ours['bboxes'].cpu()[v],
                          ref_decoded['bboxes'][v], NOISE['det bboxes' + mode])


def _compare_proposals(report: GoldenReport, prefix: str, ours, ref, mode: str = '') -> None:
    ours = ours.detach().cpu()
    report.compare(f'{prefix} grid_centers xyz (mm)', ours[..., :3], ref[..., :3], 0, 'exact')
    report.add(f'{prefix} grid_centers flags (mismatches)',
               _count_mismatch(ours[..., 3], ref[..., 3]), 0, 'exact')
    report.compare_fp(f'{prefix} grid_centers scores', ours[..., 4], ref[..., 4],
                      NOISE['proposal scores' + mode])


def _compare_pred(report: GoldenReport, prefix: str, poses, proposals, ref_pred) -> float:
    """pred xyz where the reference ran the PEN (flag ≥ 0); returns the max error in mm."""
    used = ref_pred[:, :, 0, 3] >= 0
    report.add(f'{prefix} pred slots with a pose (mismatches)',
               _count_mismatch((proposals[..., 3] >= 0).cpu(), used), 0, 'exact')
    row = report.compare(f'{prefix} pred xyz (mm)', poses.detach().cpu()[used],
                         ref_pred[..., :3][used], POSE_TOL_MM, 'pose bound (mm)')
    report.compare(f'{prefix} pred xyz of unused slots (mm)', poses.detach().cpu()[~used],
                   ref_pred[..., :3][~used], 0, 'zeros')
    return row.error


def _ref_to_ours(names) -> Dict[str, str]:
    """Reference parameter / buffer names → ours (through the converter's renaming)."""
    from virtualpose_mm.models.utils.virtualpose_converter import \
        convert_virtualpose_state_dict
    conv, info = convert_virtualpose_state_dict({n: torch.zeros(1) for n in names})
    if info['unknown'] or info['dropped']:
        raise ValueError(f'golden names the converter cannot place: '
                         f'{info["unknown"] + info["dropped"]}')
    out_names = list(conv)
    return dict(zip(names, out_names))


# ----------------------------------------------------------------------------- stage 2 eval
@register_checker('virtualpose_stage2', lambda d, p: _fmt(d).startswith(FMT_STAGE2))
def check_stage2(data: dict, path: str, device: str = 'cpu') -> GoldenReport:
    report = GoldenReport('VirtualPose stage 2, eval forward (' + os.path.basename(path) + ')')
    out = data['outputs']
    model = build_reference_model(data, data['state_dict'], device)
    model.eval()
    agr, samples = prepare(model, data['input_AGR'].to(device),
                           data_samples_from_meta(data['meta'], data['config']))
    from virtualpose_mm.models.losses.virtualpose_losses import root_depth_l1
    with torch.no_grad():
        r = model.predict_forward(agr, samples, return_intermediates=True)
        m = data['meta']  # the reference computes loss_depth in eval mode too
        loss_depth = None
        if all(k in m for k in ('ind', 'reg_mask', 'depth')):
            loss_depth = root_depth_l1(r['depth_map'], r['meta'].depth_norm_factor,
                                       m['ind'].to(device), m['reg_mask'].to(device),
                                       m['depth'][..., 0].to(device))
    report.compare_fp('depth_map (normalised depth)', r['depth_map'].cpu(), out['depth_map'],
                      NOISE['depth_map'])
    _compare_det(report, 'det_decode', r['det'], out['det_decode'], out['decoded'],
                 r['depths_mm'])
    report.compare_fp('ren_input_volume', r['ren_input'].cpu(), out['ren_input_volume'],
                      NOISE['ren_input_volume'])
    report.compare_fp('root_volume', r['root_volume'].cpu(), out['root_volume'],
                      NOISE['root_volume'])
    _compare_proposals(report, 'eval', r['proposals'], out['grid_centers'])

    # the first PEN call: the pairs of the first slot the reference ran the PEN for
    b_idx, m_idx = r['pair_index'].cpu().unbind(-1)
    pf = out.get('pen_first_valid') or {}
    if 'proposal_index' in pf:
        sel = (m_idx == int(pf['proposal_index'])).nonzero(as_tuple=True)[0]
        valid = pf['valid_items'].bool()
        report.add('PEN first call: items (mismatches)',
                   _count_mismatch(b_idx[sel], valid.nonzero(as_tuple=True)[0]), 0, 'exact')
        if torch.equal(b_idx[sel], valid.nonzero(as_tuple=True)[0]):
            report.compare('PEN first call: grids (mm)', r['pose_grids'][sel].cpu(),
                           pf['grids'][valid], 0, 'exact')
            report.compare_fp('PEN first call: input_cube', r['pose_cubes'][sel].cpu(),
                              pf['input_cube'][valid], NOISE['PEN input_cube'])
            report.compare_fp('PEN first call: V2V output', r['pose_volumes'][sel].cpu(),
                              pf['v2v_output_valid_items'], NOISE['PEN V2V output'])
    if 'pen_call_order' in out:
        order = sorted(set(m_idx.tolist()))
        report.add('PEN call order (mismatches)',
                   0 if order == [int(n) for n in out['pen_call_order']] else
                   max(1, len(order)), 0, f'ours {order}')
    err = _compare_pred(report, 'eval', r['poses'], r['proposals'], out['pred'])
    if 'loss_depth_eval' in out and loss_depth is not None:
        ref_ld = float(out['loss_depth_eval'])
        report.add_fp('loss_depth (eval, relative)', abs(float(loss_depth) - ref_ld),
                      abs(ref_ld), NOISE['loss_depth eval'],
                      f'{float(loss_depth):.6g} vs {ref_ld:.6g}')
    report.final_label = 'max pose error'
    report.final_value = err
    report.final_unit = 'mm'
    return report


# ----------------------------------------------------------------------------- stage 2 train
@register_checker('virtualpose_stage2_loss', lambda d, p: _fmt(d).startswith(FMT_LOSS))
def check_stage2_loss(data: dict, path: str, device: str = 'cpu') -> GoldenReport:
    """Train-mode forward with GT matching, the losses, BN buffers and gradients.

    Gradients are compared per tensor as ``‖g − g_ref‖₂`` against the float32-noise bound
    with scale ``‖g_ref(layer)‖₂``, the gradient norm of the tensor's layer (weight and bias
    together, as stored). An elementwise comparison is meaningless for tensors whose
    entries span orders of magnitude around zero, and float32 train-mode BatchNorm (batch
    statistics over a few items) amplifies rounding differences of the inputs, while a
    wrong loss term, a missing path (e.g. the depth-gate gradient into the DE) or a wrong
    weight shows as O(1) errors. The layer norm, not the tensor's own, is the scale because
    some stored gradients are analytically zero: the PEN output bias shifts all logits of a
    joint alike and ``softmax(β·x)`` is shift-invariant, so its stored gradient (norm 0.025
    against 4176 for the weight) is float32 rounding noise of the reference.

    BatchNorm buffers: per buffer, ``max |Δ|`` with scale ``max √running_var`` (running
    means: the size of the activations averaged) or ``max running_var`` (running
    variances); the row shows the worst buffer.
    """
    report = GoldenReport('VirtualPose stage 2, train forward + losses (' +
                          os.path.basename(path) + ')')
    uses = str(data.get('uses', ''))
    found = re.findall(r'[\w.\-]+\.pt\b', uses)
    base = found[0] if found else None
    if base is None:
        raise ValueError(f'{path}: field \'uses\' does not name the stage-2 file with the '
                         f'weights and input_AGR: {uses!r}')
    src_path = os.path.join(os.path.dirname(os.path.abspath(path)), base)
    if not os.path.isfile(src_path):
        raise ValueError(f'{path}: needs {base} beside it (its \'uses\' field), not found at '
                         f'{src_path}')
    src = load_golden(src_path)
    model = build_reference_model(src, src['state_dict'], device)
    model.train()
    model.root_net.depth_net.flip_train = False  # as the golden run (flip_training = False)
    meta = data['meta_train']
    agr, samples = prepare(model, src['input_AGR'].to(device),
                           data_samples_from_meta(meta, src['config'], gt=True,
                                                  root_codec=model.root_net.codec))
    out = data['outputs']

    r = model.loss_forward(agr, samples, return_intermediates=True)
    raw = model.compute_raw_losses(r, samples, r['gt'])
    w = model.loss_weights
    total = w['depth'] * raw['depth'] + w['root'] * raw['root'] + w['pose'] * raw['pose']
    model.zero_grad()
    total.backward()

    # intermediates
    report.compare_fp('depth_map (train)', r['depth_map'].detach().cpu(), out['depth_map'],
                      NOISE['depth_map train'])
    _compare_det(report, 'det_decode (train)', {k: v.detach() for k, v in r['det'].items()},
                 out['det_decode'], out['decoded'],
                 r['depths_mm'].detach(), mode=' train')
    report.compare_fp('ren_input_volume (train)', r['ren_input'].detach().cpu(),
                      out['ren_input_volume'], NOISE['ren_input_volume train'])
    report.compare_fp('root_volume (train)', r['root_volume'].detach().cpu(),
                      out['root_volume'], NOISE['root_volume train'])
    targets = model.root_targets(samples, agr.device)
    report.compare_fp('root targets (rendered from GT roots)', targets.cpu(),
                      data['targets_3d'], NOISE['root targets'])
    _compare_proposals(report, 'train', r['proposals'], out['grid_centers'], mode=' train')
    err = _compare_pred(report, 'train', r['poses'], r['proposals'], out['pred'])

    # losses
    ref = data['losses']
    for ours, name in ((raw['depth'], 'loss_depth'), (raw['root'], 'loss_3d'),
                       (raw['pose'], 'loss_cord'), (total, 'total')):
        rv, ov = float(ref[name]), float(ours.detach())
        report.add_fp(f'{name} (relative)', abs(ov - rv), abs(rv), NOISE[name],
                      f'{ov:.6g} vs {rv:.6g}')
    pairs = data.get('loss_cord_pairs', [])
    b_idx, m_idx = r['pair_index'].cpu().unbind(-1)
    ours_pairs = [(int(b), int(m), int(r['proposals'][b, m, 3])) for b, m in zip(b_idx, m_idx)]
    ref_pairs = [(int(p['b']), int(p['n']), int(p['gt_index'])) for p in pairs]
    report.add('loss_cord pairs (b, n, gt) in order (mismatches)',
               0 if ours_pairs == ref_pairs else max(1, len(ref_pairs)), 0, 'exact')
    if ours_pairs == ref_pairs and pairs:
        gt = r['gt']
        l1 = []
        for i, (b, m, g) in enumerate(ours_pairs):
            wgt = gt['weights'][b, g][:, None]
            l1.append(float((r['pair_poses'][i].detach() * wgt - gt['joints'][b, g] * wgt)
                            .abs().mean()))
        ref_l1 = torch.tensor([float(p['l1']) for p in pairs], dtype=torch.float64)
        report.compare_fp('loss_cord per pair (relative)', torch.tensor(l1, dtype=torch.float64),
                          ref_l1, NOISE['loss_cord per pair'])

    # BN buffers after the forward
    bufs = data['bn_buffers_after_train_forward']
    names = _ref_to_ours(list(bufs))
    mine = dict(model.named_buffers())
    worst = {'running_mean': (-1.0, 0.0, 0.0, ''), 'running_var': (-1.0, 0.0, 0.0, '')}
    nbt = 0
    for k, v in bufs.items():
        o = mine.get(names[k])
        if o is None:
            report.add(f'BN buffer {k} (missing in our model)', float('inf'), 0)
            continue
        o = o.detach().cpu()
        if k.endswith('num_batches_tracked'):
            nbt += int(o.item() != v.item())
            continue
        kind = 'running_var' if k.endswith('running_var') else 'running_mean'
        scale = tensor_scale(v) if kind == 'running_var' else \
            tensor_scale(bufs[k.replace('running_mean', 'running_var')].clamp(min=0).sqrt())
        e = float((o.double() - v.double()).abs().max())
        if math.isnan(e):
            e = float('inf')
        rel = e / scale if scale > 0 else (0.0 if e == 0 else float('inf'))
        if rel > worst[kind][0]:
            worst[kind] = (rel, e, scale, k)
    for kind, label, key in (('running_mean', 'BN running_mean after forward', 'BN running_mean'),
                             ('running_var', 'BN running_var after forward', 'BN running_var')):
        _, e, scale, k = worst[kind]
        report.add_fp(label, e, scale, NOISE[key], f'worst buffer {k}' if k else '')
    report.add('BN num_batches_tracked (mismatches)', nbt, 0, 'exact')

    # gradients of the total loss, relative to the gradient norm of their layer
    params = dict(model.named_parameters())
    grads = data['grads_total_loss']
    gnames = _ref_to_ours(list(grads))
    layer_norm = {}
    for k, g_ref in grads.items():
        layer = k.rsplit('.', 1)[0]
        layer_norm[layer] = layer_norm.get(layer, 0.0) + float(g_ref.double().norm()) ** 2
    for k, g_ref in grads.items():
        p = params.get(gnames[k])
        if p is None or p.grad is None:
            report.add(f'grad {k}', float('inf'), 0, 'no gradient in our model')
            continue
        scale = math.sqrt(layer_norm[k.rsplit('.', 1)[0]])
        g = p.grad.detach().cpu().double()
        e = float((g - g_ref.double()).norm()) if g.shape == g_ref.shape else float('inf')
        measured = NOISE_GRAD.get(k)
        report.add_fp(f'grad {k} (‖Δ‖/‖g_layer‖)', e, scale,
                      max(NOISE_GRAD.values()) if measured is None else measured,
                      'scale = ‖g_ref‖₂ of the layer' +
                      ('; not measured: the worst gradient\'s noise' if measured is None
                       else ''))

    # the DE's flip branch (reference: mirror only, no L/R channel swap)
    if 'depth_map_train_forced_flip' in data:
        de = copy.deepcopy(model.root_net.depth_net).train()
        de.flip_swap_channels = False
        with torch.no_grad():
            flipped = de.flipped_forward(agr[:, 0, list(model.root_net.depth_joints)])
        report.compare_fp('DE forced-flip output (train)', flipped.cpu(),
                          data['depth_map_train_forced_flip'], NOISE['DE forced-flip'])
    report.final_label = 'max pose error'
    report.final_value = err
    report.final_unit = 'mm'
    return report


# ----------------------------------------------------------------------------- AGR rendering
@register_checker('virtualpose_agr', lambda d, p: _fmt(d).startswith(FMT_AGR))
def check_agr(data: dict, path: str, device: str = 'cpu') -> GoldenReport:
    """AGR heatmaps / box maps / detection targets (legacy options on) and 3D root targets.
    The closing line is the largest heatmap, box-map or target error."""
    from virtualpose_mm.structures import render_agr, render_root_target
    report = GoldenReport('VirtualPose AGR rendering (' + os.path.basename(path) + ')')
    prm = data['params']
    worst = 0.0
    for name, case in data['cases'].items():
        r = render_agr(case['joints_2d'].double().numpy(),
                       image_size=tuple(prm['IMAGE_SIZE']),
                       heatmap_size=tuple(prm['HEATMAP_SIZE']),
                       base_sigma=float(prm['SIGMA']),
                       bbox_extension=tuple(prm['BBOX_EXTENTION']),
                       box_radius=int(prm['box_square_radius_px']),
                       legacy_peak_offset=True, legacy_box_paint=True,
                       paint_offcanvas_roots=True)
        for key in ('heatmaps', 'box_map', 'sigma', 'human_scale', 'bbox_hm', 'wh'):
            # sigma and human_scale are float64 on both sides
            row = report.compare_fp(f'{name}: {key}', torch.from_numpy(np.asarray(r[key])),
                                    case[key], NOISE[key],
                                    eps=F64_EPS if key in _F64_KEYS else F32_EPS)
            if key in ('heatmaps', 'box_map'):
                worst = max(worst, row.error)
        report.add(f'{name}: reg_mask (mismatches)',
                   _count_mismatch(torch.from_numpy(r['reg_mask']), case['reg_mask'].float()),
                   0, 'exact')
        report.add(f'{name}: ind (mismatches)',
                   _count_mismatch(torch.from_numpy(r['ind']), case['ind']), 0, 'exact')
    rt = data['root_target']
    for key, t in rt.items():
        if not key.startswith('target_'):
            continue
        shape = tuple(t.shape)
        ours = render_root_target(rt['roots_3d'].double().numpy(), prm['space_size'],
                                  prm['space_center'], shape,
                                  sigma=float(prm['target_sigma_mm']))
        row = report.compare_fp(f'root target {"x".join(map(str, shape))}',
                                torch.from_numpy(ours), t, NOISE['root target'])
        worst = max(worst, row.error)
    report.final_label = 'max heatmap/target error'
    report.final_value = worst
    report.final_unit = ''
    return report
