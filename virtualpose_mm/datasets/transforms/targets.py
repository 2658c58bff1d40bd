"""The 3D root target of the root (centre) net."""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform

from ...engine.config_checks import reject_unresolved
from ...registry import TRANSFORMS
from ...codecs.voxel_root_codec import VoxelRootCodec

__all__ = ['GenerateRootTarget3D']


@TRANSFORMS.register_module()
class GenerateRootTarget3D(BaseTransform):
    """Root positions and the 3D Gaussian root volume on the capture-space voxel grid.

    A thin transform over :class:`~virtualpose_mm.codecs.VoxelRootCodec` (the one
    producer of root targets): the root of a person is the mean of ``root_joints``
    (COCO-17: the hips 11, 12; Panoptic-15: the mid-hip 2), the volume a 3D Gaussian per
    root (σ mm, window ±3σ per axis, max over people) on the space's voxel centres.

    Required Keys:

    - gt_keypoints_3d (N, K, 3) world mm

    Added Keys:

    - gt_roots_3d (N, 3) float64 mm
    - root_target_3d (X, Y, Z) float32

    Args:
        space_size: (3,) mm.
        space_center: (3,) mm.
        space_shape: (3,) voxels (the root net's grid, e.g. (80, 80, 20)).
        root_joints: joint index or indices averaged into the root.
        sigma: mm (reference 200).
    """

    def __init__(self, space_size: Sequence[float], space_center: Sequence[float],
                 space_shape: Sequence[int], root_joints: Union[int, Sequence[int]] = (11, 12),
                 sigma: float = 200.0):
        reject_unresolved(type(self).__name__, locals())
        self.space_size = tuple(float(v) for v in space_size)
        self.space_center = tuple(float(v) for v in space_center)
        self.space_shape = tuple(int(v) for v in space_shape)
        if len(self.space_size) != 3 or len(self.space_center) != 3 or \
                len(self.space_shape) != 3:
            raise ValueError('space_size, space_center and space_shape need 3 values each')
        self.root_joints = (int(root_joints), ) if isinstance(root_joints, (int, np.integer)) \
            else tuple(int(j) for j in root_joints)
        self.sigma = float(sigma)
        self.codec = VoxelRootCodec(self.space_size, self.space_center, self.space_shape,
                                    root_joints=self.root_joints, sigma=self.sigma)

    def transform(self, results: dict) -> dict:
        try:
            enc = self.codec.encode(results['gt_keypoints_3d'])
        except ValueError as e:
            raise ValueError(f'GenerateRootTarget3D: gt_keypoints_3d: {e}') from None
        results['gt_roots_3d'] = enc['roots_3d']
        results['root_target_3d'] = enc['root_heatmap_3d']
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(space_size={self.space_size}, '
                f'space_center={self.space_center}, space_shape={self.space_shape}, '
                f'root_joints={self.root_joints}, sigma={self.sigma})')
