"""What VoxelPose and VirtualPose share as estimators: the data preprocessor and the
reading of the batch (:meth:`VolumetricPoseEstimator.parse_meta`), the mode dispatch, GT
reading, the root-volume targets, the pose net over the proposals and its loss, and the
packing of predictions into ``pred_instances``."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor

from ..data_preprocessors.multiview import MultiViewDataPreprocessor
from ..utils.multiview import ViewMeta


def as_tensor(x, device=None, dtype=torch.float32) -> Tensor:
    """A detached tensor of ``dtype`` on ``device`` from a tensor, array or list."""
    if isinstance(x, Tensor):
        return x.detach().to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), device=device, dtype=dtype)


#: Data-sample fields under their names before the MMPose field convention → where they
#: live now (the table of :mod:`virtualpose_mm.datasets.transforms.formatting`).
RENAMED_FIELDS = {
    'gt_instances.keypoints_3d': 'gt_instances.lifting_target',
    'gt_instances.keypoints_3d_visible': 'gt_instances.lifting_target_visible (visibility) '
                                         'or gt_instance_labels.keypoint_weights (loss '
                                         'weights)',
    'gt_instances.keypoints_3d_eval_visible': 'gt_instances.lifting_target_visible',
    'gt_instances.root_depth': 'gt_instance_labels.root_depth',
    'gt_instances.root_ind': 'gt_instance_labels.root_ind',
    'gt_instances.root_mask': 'gt_instance_labels.root_mask',
    'gt_root_heatmap_3d': 'gt_fields.root_heatmap_3d',
    'gt_heatmaps_2d': 'gt_fields.heatmaps',
    'gt_heatmap_weights_2d': 'gt_fields.keypoint_weights_2d',
}


def reject_renamed_fields(ds, b: int) -> None:
    """Raise if data sample ``b`` carries a field under its old name (it would otherwise be
    ignored without a word)."""
    for old, new in RENAMED_FIELDS.items():
        parent, _, name = old.rpartition('.')
        holder = ds.get(parent, None) if parent else ds
        if holder is not None and name in holder:
            raise ValueError(f'data_samples[{b}].{old} is no longer read: it is now {new}')


def build_data_preprocessor(cfg, owner: str) -> MultiViewDataPreprocessor:
    """The estimators' data preprocessor: :class:`MultiViewDataPreprocessor` (default
    settings when ``cfg`` is None), built from a config dict or given as a module."""
    if cfg is None:
        return MultiViewDataPreprocessor()
    if isinstance(cfg, dict):
        from virtualpose_mm.registry import MODELS
        cfg = MODELS.build(dict(cfg))
    if not isinstance(cfg, MultiViewDataPreprocessor):
        raise TypeError(f'{owner}: data_preprocessor must be a MultiViewDataPreprocessor (it '
                        'stacks the cameras and affines of the batch that the model reads), '
                        f'got {type(cfg).__name__}')
    return cfg


class VolumetricPoseEstimator(BaseModel):
    """Base of the voxel-space estimators.

    **The batch.** ``inputs`` are (B, V, C, H, W) (V = 1 for a monocular model) and every
    data sample carries metainfo ``view_meta``: the :class:`ViewMeta` of the batch that the
    data preprocessor (always a :class:`MultiViewDataPreprocessor`, part of the model)
    stacks once from the pack transform's canonical layout
    (:mod:`virtualpose_mm.models.utils.multiview`). :meth:`parse_meta` is the one way to
    read it; nothing here reads camera formats.

    A subclass provides ``self.root_net`` (with ``space_shape``), ``self.pose_net``
    (:class:`~virtualpose_mm.models.heads.VoxelSinglePoseNet`), ``self.num_joints`` and the
    methods ``run(inputs, data_samples)`` → dict with ``poses`` (B, M, K, 3) world mm,
    ``proposals`` (B, M, 5) = (x, y, z, flag, score) and ``root_volume`` (B, X, Y, Z),
    ``loss(inputs, data_samples)`` and ``predict(inputs, data_samples)``.
    """

    def __init__(self, data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=build_data_preprocessor(
            data_preprocessor, type(self).__name__), init_cfg=init_cfg)

    # ------------------------------------------------------------------ the batch
    def _inputs(self, inputs) -> Tensor:
        """The (B, V, C, H, W) inputs tensor of the data preprocessor, checked."""
        if not isinstance(inputs, Tensor) or inputs.dim() != 5:
            raise ValueError(f'{type(self).__name__}: inputs must be a (B, V, C, H, W) tensor '
                             '(the data preprocessor stacks the frames), got '
                             f'{getattr(inputs, "shape", type(inputs).__name__)}')
        return inputs

    def parse_meta(self, data_samples, num_views: Optional[int] = None) -> ViewMeta:
        """The :class:`ViewMeta` of the batch (cameras (B, V), affines (B, V, 2, 3), image
        sizes (B, V, 2), input size, rig keys, depth normalisation), as the data
        preprocessor stacked it. ``num_views`` (the inputs' V) is checked against the
        model's ``num_views`` attribute (if set) and against the batch's cameras."""
        name = type(self).__name__
        want = getattr(self, 'num_views', None)
        if want is not None and num_views is not None and num_views != want:
            raise ValueError(f'{name}: the inputs have {num_views} views, the model is '
                             f'configured for num_views={want}')
        if data_samples is None or not len(data_samples):
            raise ValueError(f'{name} needs data_samples with the views of each frame '
                             '(cameras and affines, packed by PackMultiViewPoseInputs / '
                             'PackVirtualPoseInputs)')
        vm = None
        for b, ds in enumerate(data_samples):
            v = ds.metainfo.get('view_meta')
            if not isinstance(v, ViewMeta):
                raise ValueError(
                    f'data_samples[{b}].metainfo has no view_meta: the batch did not go '
                    f'through the model\'s data preprocessor (MultiViewDataPreprocessor), '
                    'which stacks the cameras and affines of the pack transform. Call '
                    '`data = model.data_preprocessor(dict(inputs=..., data_samples=...))` and '
                    '`model(**data, mode=...)`, or train_step / val_step / test_step')
            if vm is not None and v is not vm:
                raise ValueError(f'data_samples[{b}]: its view_meta is from another batch '
                                 'than data_samples[0]\'s; run the data preprocessor on this '
                                 'batch')
            vm = v
        if vm.batch_size != len(data_samples):
            raise ValueError(f'{name}: {len(data_samples)} data samples, but their view_meta '
                             f'was stacked for a batch of {vm.batch_size}; run the data '
                             'preprocessor on this batch')
        if num_views is not None and vm.num_views != num_views:
            raise ValueError(f"{name}: the inputs have {num_views} views, the cameras of the "
                             f"batch (metainfo 'cameras') {vm.num_views}")
        return vm

    def default_roots(self, joints: Tensor) -> Tensor:
        """(G, K, 3) GT joints → (G, 3) GT roots when ``gt_instances.roots_3d`` is not
        given."""
        raise NotImplementedError

    def read_gt_instance(self, ds, b: int, device) -> Optional[Tuple[Tensor, Tensor, Tensor]]:
        """One sample's GT for training: roots (G, 3) mm, joints (G, K, 3) mm and joint
        weights (G, K) — ``gt_instances.roots_3d`` (default :meth:`default_roots`),
        ``gt_instances.lifting_target`` and ``gt_instance_labels.keypoint_weights``
        (default ``gt_instances.lifting_target_visible``, else 1); fields as in the table
        of :mod:`virtualpose_mm.datasets.transforms.formatting`. None if the sample has no
        ``gt_instances.lifting_target``. Bad shapes, non-finite values and fields under
        their pre-MMPose-convention names raise."""
        K = self.num_joints
        src = f'data_samples[{b}].gt_instances'
        reject_renamed_fields(ds, b)
        gi = ds.get('gt_instances', None)
        if gi is None or 'lifting_target' not in gi:
            return None
        kp = as_tensor(gi.lifting_target, device)
        kp = kp.reshape(0, K, 3) if kp.numel() == 0 else kp
        if kp.dim() != 3 or tuple(kp.shape[1:]) != (K, 3):
            raise ValueError(f'{src}.lifting_target: shape {tuple(kp.shape)}, expected '
                             f'(G, {K}, 3)')
        G = kp.shape[0]
        labels = ds.get('gt_instance_labels', None)
        if labels is not None and 'keypoint_weights' in labels:
            w, name = labels.keypoint_weights, 'gt_instance_labels.keypoint_weights'
        elif 'lifting_target_visible' in gi:
            w, name = gi.lifting_target_visible, 'gt_instances.lifting_target_visible'
        else:
            w, name = None, ''
        if w is None:
            w = torch.ones(G, K, device=device)
        else:
            w = as_tensor(w, device)
            if w.numel() != G * K:
                raise ValueError(f'data_samples[{b}].{name}: shape '
                                 f'{tuple(w.shape)}, expected ({G}, {K})')
            w = w.reshape(G, K)
        if 'roots_3d' in gi:
            r = as_tensor(gi.roots_3d, device).reshape(G, 3)
        else:
            r = self.default_roots(kp) if G else kp.new_zeros(0, 3)
        if not (torch.isfinite(kp).all() and torch.isfinite(r).all()):
            raise ValueError(f'{src}: lifting_target / roots_3d contain NaN or Inf')
        return r, kp, w

    def missing_gt_error(self, b: int) -> ValueError:
        return ValueError(f'data_samples[{b}].gt_instances: training needs lifting_target '
                          f'(G, {self.num_joints}, 3) in world mm')

    def parse_gt(self, data_samples, device, require: bool = True) -> Optional[Dict]:
        """Padded GT of the batch (:meth:`read_gt_instance` per sample, :meth:`pad_gt`):
        ``roots`` (B, G, 3), ``counts`` (B,), ``joints`` (B, G, K, 3), ``weights``
        (B, G, K), ``roots_list``. A sample without ``gt_instances.lifting_target`` is an
        error, or, when ``require`` is False, makes the result None."""
        per = []
        for b, ds in enumerate(data_samples):
            gt = self.read_gt_instance(ds, b, device)
            if gt is None:
                if not require:
                    return None
                raise self.missing_gt_error(b)
            per.append(gt)
        return self.pad_gt([p[0] for p in per], [p[1] for p in per], [p[2] for p in per],
                           device)

    def pad_gt(self, roots: List[Tensor], joints: List[Tensor], weights: List[Tensor],
               device) -> Dict:
        """Per-sample GT → padded ``roots`` (B, G, 3), ``counts`` (B,), ``joints``
        (B, G, K, 3), ``weights`` (B, G, K) and ``roots_list`` (G = max(G_b, 1))."""
        K = self.num_joints
        counts = torch.tensor([r.shape[0] for r in roots], device=device)
        G = max(int(counts.max()) if len(counts) else 0, 1)
        B = len(roots)
        pr = torch.zeros(B, G, 3, device=device)
        pj = torch.zeros(B, G, K, 3, device=device)
        pw = torch.zeros(B, G, K, device=device)
        for b in range(B):
            n = roots[b].shape[0]
            pr[b, :n], pj[b, :n], pw[b, :n] = roots[b], joints[b], weights[b]
        return dict(roots=pr, counts=counts, joints=pj, weights=pw, roots_list=list(roots))

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            r = self.run(inputs, data_samples)
            return r['poses'], r['proposals'], r['root_volume']
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, predict and tensor')

    def root_targets(self, data_samples, device) -> Tensor:
        """(B, X, Y, Z) root targets: each sample's ``gt_fields.root_heatmap_3d``, made by
        the transform :class:`~virtualpose_mm.datasets.transforms.GenerateRootTarget3D`
        (the codec :class:`~virtualpose_mm.codecs.VoxelRootCodec`, the one producer of
        root targets)."""
        shape = tuple(self.root_net.space_shape)
        out = []
        for b, ds in enumerate(data_samples):
            fields = ds.get('gt_fields', None)
            t = None if fields is None else fields.get('root_heatmap_3d', None)
            if t is None:
                raise ValueError(
                    f'data_samples[{b}].gt_fields.root_heatmap_3d: missing; training needs '
                    'the root target, which the transform GenerateRootTarget3D (with the '
                    f'root net\'s space, space_shape={shape}) makes before the pack '
                    'transform')
            t = as_tensor(t, device)
            if tuple(t.shape) != shape:
                raise ValueError(f'data_samples[{b}].gt_fields.root_heatmap_3d: shape '
                                 f'{tuple(t.shape)}, the root volume is {shape}')
            out.append(t)
        return torch.stack(out)

    # ------------------------------------------------------------------ the pose net
    def run_pose_net(self, heatmaps: Tensor, proposals: Tensor, meta: ViewMeta, input_size,
                     per_slot: bool = False, return_intermediates: bool = False) -> Dict:
        """The pose net on every usable proposal (flag ≥ 0).

        Args:
            heatmaps: (B, V, K, h, w) joint heatmaps.
            proposals: (B, M, 5) ``x, y, z, flag, score``.
            meta: the batch's :class:`ViewMeta`.
            input_size: (w, h) of the network input the affines map to.
            per_slot: slot-major order and one pose-net call per proposal slot (the
                reference's BatchNorm statistics); else one call on all pairs.
            return_intermediates: also return the cubes and the pose-net volumes.

        Returns:
            dict: ``poses`` (B, M, K, 3) (detached, 0 for unused slots), ``pair_index``
            (P, 2) (sample, slot), ``pair_poses`` (P, K, 3) (with gradients),
            ``pose_grids`` (P, N, 3), and with ``return_intermediates`` ``pose_cubes`` and
            ``pose_volumes`` (P, K, x, y, z).
        """
        used = proposals[..., 3] >= 0                                         # (B, M)
        if per_slot:  # slot-major order, as the reference loops over slots
            m_idx, b_idx = used.t().nonzero(as_tuple=True)
        else:
            b_idx, m_idx = used.nonzero(as_tuple=True)
        pose_cubes, grids = self.pose_net.project(
            heatmaps, proposals[b_idx, m_idx, :3], b_idx, meta.cameras, meta.affines,
            meta.image_sizes, input_size=input_size)
        groups = None
        if per_slot and m_idx.numel():
            groups = [(m_idx == n).nonzero(as_tuple=True)[0] for n in m_idx.unique()]
        out = self.pose_net(pose_cubes, grids, groups=groups,
                            return_volumes=return_intermediates)
        pair_poses, pose_volumes = out if return_intermediates else (out, None)
        B, M = proposals.shape[:2]
        poses = heatmaps.new_zeros(B, M, self.num_joints, 3)
        poses[b_idx, m_idx] = pair_poses.detach().to(poses.dtype)
        result = dict(poses=poses, pair_index=torch.stack([b_idx, m_idx], -1),
                      pair_poses=pair_poses, pose_grids=grids)
        if return_intermediates:
            result.update(pose_cubes=pose_cubes, pose_volumes=pose_volumes)
        return result

    def pose_loss(self, result: Dict, gt: Dict) -> Tensor:
        """The pose-net loss over the GT-matched pairs of :meth:`run_pose_net` (the flag of
        a training proposal is its GT index); without pairs a zero connected to every
        pose-net parameter (DDP sees all of them)."""
        b_idx, m_idx = result['pair_index'].unbind(-1)
        if b_idx.numel():
            g_idx = result['proposals'][b_idx, m_idx, 3].long()
            return self.pose_net.loss(result['pair_poses'], gt['joints'][b_idx, g_idx],
                                      gt['weights'][b_idx, g_idx])
        params = [p for p in self.pose_net.parameters() if p.requires_grad]
        return sum((p.sum() * 0.0 for p in params), result['root_volume'].new_zeros(()))

    def add_pred_to_datasample(self, result: Dict, data_samples):
        """Valid proposals (flag ≥ 0) become ``pred_instances`` (numpy; N = people found,
        no padding rows): ``keypoints`` (N, K, 3) float32 world mm, ``keypoint_scores``
        (N, K) (the proposal score for every joint, as the reference), ``bbox_scores`` (N,)
        (the proposal score: detection confidence) and ``centers_3d`` (N, 3) mm (the
        proposal); the table of :mod:`virtualpose_mm.datasets.transforms.formatting`."""
        poses = result['poses'].detach().cpu().numpy().astype(np.float32)
        props = result['proposals'].detach().cpu().numpy().astype(np.float32)
        K = self.num_joints
        for b, ds in enumerate(data_samples):
            keep = props[b, :, 3] >= 0
            n = int(keep.sum())
            inst = InstanceData()
            inst.keypoints = np.ascontiguousarray(poses[b, keep].reshape(n, K, 3))
            score = np.ascontiguousarray(props[b, keep, 4].reshape(n))
            inst.bbox_scores = score
            inst.keypoint_scores = np.repeat(score[:, None], K, axis=1).reshape(n, K)
            inst.centers_3d = np.ascontiguousarray(props[b, keep, :3].reshape(n, 3))
            ds.pred_instances = inst
        return data_samples
