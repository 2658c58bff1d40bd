"""What VoxelPose and VirtualPose share as estimators: the mode dispatch, the root-volume
targets and the packing of predictions into ``pred_instances``."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor


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


class VolumetricPoseEstimator(BaseModel):
    """Base of the voxel-space estimators.

    A subclass provides ``self.root_net`` (with ``space_shape`` and ``make_targets``),
    ``self.num_joints`` and the methods ``run(inputs, data_samples)`` → dict with
    ``poses`` (B, M, K, 3) world mm, ``proposals`` (B, M, 5) = (x, y, z, flag, score) and
    ``root_volume`` (B, X, Y, Z), ``loss(inputs, data_samples)`` and
    ``predict(inputs, data_samples)``.
    """

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

    def root_targets(self, data_samples, gt: Dict, device) -> Tensor:
        """(B, X, Y, Z) root targets: each sample's ``gt_fields.root_heatmap_3d`` if given,
        else rendered from ``gt['roots_list'][b]`` (G_b, 3) mm by the root net."""
        shape = tuple(self.root_net.space_shape)
        out = []
        for b, ds in enumerate(data_samples):
            fields = ds.get('gt_fields', None)
            t = None if fields is None else fields.get('root_heatmap_3d', None)
            if t is None:
                out.append(self.root_net.make_targets([gt['roots_list'][b]], device)[0])
            else:
                t = as_tensor(t, device)
                if tuple(t.shape) != shape:
                    raise ValueError(f'data_samples[{b}].gt_fields.root_heatmap_3d: shape '
                                     f'{tuple(t.shape)}, the root volume is {shape}')
                out.append(t)
        return torch.stack(out)

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
