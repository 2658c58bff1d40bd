"""The capture space as an MMPose codec: GT joints ↔ root-net targets, voxels ↔ mm.

One object owns the voxel-grid convention of ``DESIGN.md`` §2 at run time (it is backed by
:class:`~virtualpose_mm.geometry.VoxelSpace`): :class:`GenerateRootTarget3D` calls
:meth:`VoxelRootCodec.encode` to make the root targets (their only producer), and the root
nets call :meth:`~VoxelRootCodec.decode` to turn root-volume peaks into world millimetres.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec

from ..geometry.voxel_space import VoxelSpace
from ..registry import KEYPOINT_CODECS

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


@KEYPOINT_CODECS.register_module()
class VoxelRootCodec(BaseKeypointCodec):
    """Root (person-centre) targets on the capture-space voxel grid, and their decoding.

    Args:
        space_size: (3,) edge lengths of the capture space, mm (first to last voxel centre).
        space_center: (3,) its centre, world mm.
        space_shape: (3,) voxels per axis (X, Y, Z) of the root volume.
        root_joints: joint index or indices whose mean is a person's root (COCO-17: the
            hips 11, 12; Panoptic-15 / the 17-joint MuCo order: 2).
        sigma: std of the 3D Gaussian per root, mm (reference 200).
        truncate: the Gaussian window half-width per axis, in σ (reference 3).

    ``encode(keypoints (N, K, 3) world mm)`` → dict ``roots_3d`` (N, 3) float64 mm and
    ``root_heatmap_3d`` (X, Y, Z) float32 in [0, 1] (max over people of
    ``exp(−‖v − root‖² / 2σ²)`` at the voxel centres within ±truncate·σ per axis).
    ``decode(index (..., 3))`` → world mm (..., 3): torch indices give float32 with the
    reference formula ``idx / (shape − 1) · size + center − size / 2`` (bit-compatible with
    the reference proposals), numpy indices float64 through the :class:`VoxelSpace`.
    """

    def __init__(self, space_size: Sequence[float], space_center: Sequence[float],
                 space_shape: Sequence[int], root_joints: Union[int, Sequence[int]] = (11, 12),
                 sigma: float = 200.0, truncate: float = 3.0):
        super().__init__()
        self.space = VoxelSpace(space_size, space_center, space_shape)
        self.root_joints = (int(root_joints), ) if isinstance(root_joints, (int, np.integer)) \
            else tuple(int(j) for j in root_joints)
        self.sigma = float(sigma)
        self.truncate = float(truncate)

    # ------------------------------------------------------------------ encode
    def roots(self, keypoints) -> np.ndarray:
        """(N, K, 3) joints → (N, 3) float64 roots (mean of ``root_joints``)."""
        X = np.asarray(keypoints, dtype=np.float64)
        K = X.shape[1] if X.ndim == 3 else 0
        bad = [j for j in self.root_joints if not 0 <= j < max(K, 1)]
        if X.ndim != 3 or X.shape[-1] != 3 or (len(X) and bad):
            raise ValueError(f'VoxelRootCodec: keypoints have shape {X.shape}; root_joints '
                             f'{self.root_joints} need (N, K > {max(self.root_joints)}, 3)')
        return X[:, list(self.root_joints)].mean(1) if len(X) else np.zeros((0, 3))

    def encode_roots(self, roots):
        """(N, 3) roots mm → (X, Y, Z) float32 target (numpy in/out, or torch in/out on
        the input's device); non-finite roots are skipped. Computed in float64."""
        is_torch = torch is not None and isinstance(roots, torch.Tensor)
        r = (roots.detach().cpu().double().numpy() if is_torch else
             np.asarray(roots, dtype=np.float64)).reshape(-1, 3)
        axes = self.space.axes()
        out = np.zeros(self.space.shape, dtype=np.float64)
        s, w = self.sigma, self.truncate * self.sigma
        for p in range(r.shape[0]):  # separable: a product of three 1D profiles per person
            if not np.isfinite(r[p]).all():
                continue
            g = []
            for a in range(3):
                d = axes[a] - r[p, a]
                win = (axes[a] >= r[p, a] - w) & (axes[a] <= r[p, a] + w)
                g.append(np.exp(-d * d / (2 * s * s)) * win)
            np.maximum(out, g[0][:, None, None] * g[1][None, :, None] * g[2][None, None, :],
                       out=out)
        out = np.clip(out, 0, 1).astype(np.float32)
        return torch.from_numpy(out).to(roots.device) if is_torch else out

    def encode(self, keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """(N, K, 3) world mm → ``roots_3d`` (N, 3) and ``root_heatmap_3d`` (X, Y, Z)."""
        roots = self.roots(keypoints)
        return dict(roots_3d=roots, root_heatmap_3d=self.encode_roots(roots))

    # ------------------------------------------------------------------ decode
    def decode(self, index):
        """(..., 3) voxel indices (integer or continuous) → (..., 3) world mm."""
        if torch is not None and isinstance(index, torch.Tensor):
            dev = index.device
            sh = torch.as_tensor([float(s) for s in self.space.shape], dtype=torch.float32,
                                 device=dev)
            sz = torch.as_tensor(self.space.size, dtype=torch.float32, device=dev)
            ct = torch.as_tensor(self.space.center, dtype=torch.float32, device=dev)
            return index.float() / (sh - 1) * sz + ct - sz / 2.0
        return self.space.index_to_world(index)

    def world_to_index(self, points):
        """(..., 3) world mm → continuous voxel indices (inverse of :meth:`decode`)."""
        return self.space.world_to_index(points)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(space={self.space!r}, root_joints={self.root_joints}, '
                f'sigma={self.sigma})')
