"""What VoxelPose and VirtualPose share as estimators: the mode dispatch, the root-volume
targets and the packing of predictions into ``pred_instances``."""
from __future__ import annotations

from typing import Dict

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


class VolumetricPoseEstimator(BaseModel):
    """Base of the voxel-space estimators.

    A subclass provides ``self.root_net`` (with ``space_shape`` and ``make_targets``),
    ``self.num_joints`` and the methods ``run(inputs, data_samples)`` → dict with
    ``poses`` (B, M, K, 3) world mm, ``proposals`` (B, M, 5) = (x, y, z, flag, score) and
    ``root_volume`` (B, X, Y, Z), ``loss(inputs, data_samples)`` and
    ``predict(inputs, data_samples)``.
    """

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
        """(B, X, Y, Z) root targets: each sample's ``gt_root_heatmap_3d`` if given, else
        rendered from ``gt['roots_list'][b]`` (G_b, 3) mm by the root net."""
        shape = tuple(self.root_net.space_shape)
        out = []
        for b, ds in enumerate(data_samples):
            t = ds.get('gt_root_heatmap_3d', None)
            if t is None:
                out.append(self.root_net.make_targets([gt['roots_list'][b]], device)[0])
            else:
                t = as_tensor(t, device)
                if tuple(t.shape) != shape:
                    raise ValueError(f'data_samples[{b}].gt_root_heatmap_3d: shape '
                                     f'{tuple(t.shape)}, the root volume is {shape}')
                out.append(t)
        return torch.stack(out)

    def add_pred_to_datasample(self, result: Dict, data_samples):
        """Valid proposals (flag ≥ 0) become ``pred_instances``: ``keypoints_3d`` (N, K, 3)
        world mm, ``scores`` (N,), ``keypoint_scores`` (N, K) (the proposal score per
        joint) and ``centers_3d`` (N, 3) mm; N = people found, no padding rows."""
        poses = result['poses'].detach().cpu().numpy().astype(np.float32)
        props = result['proposals'].detach().cpu().numpy().astype(np.float32)
        K = self.num_joints
        for b, ds in enumerate(data_samples):
            keep = props[b, :, 3] >= 0
            n = int(keep.sum())
            inst = InstanceData()
            inst.keypoints_3d = poses[b, keep].reshape(n, K, 3)
            inst.scores = props[b, keep, 4].reshape(n)
            inst.keypoint_scores = np.repeat(inst.scores[:, None], K, axis=1).reshape(n, K)
            inst.centers_3d = props[b, keep, :3].reshape(n, 3)
            ds.pred_instances = inst
        return data_samples
