"""Regular voxel grids over a box of the world (``DESIGN.md`` §2).

A :class:`VoxelSpace` is ``size`` (mm), ``center`` (mm) and ``shape`` (voxels per axis).
Voxel centres lie on ``linspace(center − size/2, center + size/2, shape)`` on each axis,
**both ends included** (as the reference code builds its grids), so the spacing is
``size / (shape − 1)`` and the first and last voxel centres sit on the faces of the box.
Flattened voxel order is x slowest, z fastest (``indexing='ij'``, C order), the order of
the reference ``ProjectLayer`` grid and of ``(X, Y, Z)`` volumes flattened in C order.
"""
from __future__ import annotations

from typing import Any, Sequence, Tuple

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

Array = Any  # np.ndarray or torch.Tensor


def _is_torch(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _vec3(value, name: str, integer: bool = False) -> tuple:
    try:
        arr = np.asarray(value.detach().cpu().numpy() if _is_torch(value) else value,
                         dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f'VoxelSpace: {name} must be 3 numbers, got {value!r}') from None
    if arr.ndim == 0:
        arr = np.repeat(arr, 3)
    if arr.shape != (3, ):
        raise ValueError(f'VoxelSpace: {name} must be 3 numbers (x, y, z), got shape '
                         f'{arr.shape}: {value!r}')
    if not np.all(np.isfinite(arr)):
        raise ValueError(f'VoxelSpace: {name} must be finite, got {arr.tolist()}')
    if integer:
        if np.any(arr != np.round(arr)):
            raise ValueError(f'VoxelSpace: {name} must be whole numbers of voxels, '
                             f'got {arr.tolist()}')
        return tuple(int(v) for v in arr)
    return tuple(float(v) for v in arr)


class VoxelSpace:
    """An axis-aligned box of the world sampled at ``shape`` voxel centres per axis.

    Args:
        size: (3,) edge lengths of the box in mm (first to last voxel centre), all > 0.
        center: (3,) centre of the box in world mm.
        shape: (3,) number of voxel centres per axis, each ≥ 2 (so that both ends exist).

    Example:
        >>> space = VoxelSpace([8000, 8000, 2000], [0, -500, 800], [80, 80, 20])
        >>> space.points().shape
        (128000, 3)
    """

    def __init__(self, size: Sequence[float], center: Sequence[float], shape: Sequence[int]):
        self.size = _vec3(size, 'size')
        self.center = _vec3(center, 'center')
        self.shape = _vec3(shape, 'shape', integer=True)
        if any(s <= 0 for s in self.size):
            raise ValueError(f'VoxelSpace: size must be positive in every axis (mm), got '
                             f'{list(self.size)}')
        if any(n < 2 for n in self.shape):
            raise ValueError(f'VoxelSpace: shape must be at least 2 voxels per axis (both '
                             f'ends of the box are voxel centres), got {list(self.shape)}')

    # ------------------------------------------------------------------ basics
    @property
    def num_voxels(self) -> int:
        return int(np.prod(self.shape))

    @property
    def first(self) -> np.ndarray:
        """(3,) centre of voxel (0, 0, 0) in mm: ``center − size/2``."""
        return np.asarray(self.center) - np.asarray(self.size) / 2

    @property
    def last(self) -> np.ndarray:
        """(3,) centre of the last voxel in mm: ``center + size/2``."""
        return np.asarray(self.center) + np.asarray(self.size) / 2

    @property
    def spacing(self) -> np.ndarray:
        """(3,) distance between neighbouring voxel centres in mm: ``size / (shape − 1)``."""
        return np.asarray(self.size) / (np.asarray(self.shape) - 1)

    def axes(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The voxel-centre coordinates along x, y, z: (X,), (Y,), (Z,) float64 mm.

        Computed as ``linspace(−size/2, size/2, n) + center``, the reference code's order
        of operations (it differs from ``linspace(center − size/2, ...)`` by ~1e-12 mm, and
        the root targets reproduce the reference bit for bit)."""
        return tuple(np.linspace(-self.size[i] / 2, self.size[i] / 2, self.shape[i]) +
                     self.center[i] for i in range(3))

    def grid(self) -> np.ndarray:
        """(X, Y, Z, 3) float64 voxel centres in mm; ``grid()[i, j, k]`` = voxel (i, j, k)."""
        return np.stack(np.meshgrid(*self.axes(), indexing='ij'), axis=-1)

    def points(self) -> np.ndarray:
        """(X·Y·Z, 3) float64 voxel centres in mm, x slowest and z fastest."""
        return self.grid().reshape(-1, 3)

    def offsets(self) -> np.ndarray:
        """(X·Y·Z, 3) voxel centres relative to ``center`` (for cubes that move)."""
        return self.points() - np.asarray(self.center)

    def as_tensor(self, device=None, dtype=None) -> 'torch.Tensor':
        """:meth:`points` as a torch tensor (default float32), computed in float64 then cast."""
        return torch.as_tensor(self.points(), device=device).to(dtype or torch.float32)

    def points_at(self, centers: Array) -> Array:
        """Voxel centres of this grid moved to each of ``centers`` (..., 3) mm.

        Returns (..., X·Y·Z, 3), numpy or torch like ``centers`` (torch keeps its dtype and
        device). Used for the per-proposal cubes of the pose net.
        """
        if _is_torch(centers):
            off = torch.as_tensor(self.offsets(), device=centers.device).to(centers.dtype)
            return centers[..., None, :] + off
        return np.asarray(centers, dtype=np.float64)[..., None, :] + self.offsets()

    # ------------------------------------------------------------------ conversions
    def _consts(self, x):
        if _is_torch(x):
            dt = x.dtype if x.is_floating_point() else torch.float64
            return (torch.as_tensor(self.first, device=x.device).to(dt),
                    torch.as_tensor(self.spacing, device=x.device).to(dt))
        return self.first, self.spacing

    def world_to_index(self, points: Array) -> Array:
        """(..., 3) world mm → (..., 3) continuous voxel index (0 at the first voxel centre,
        ``shape − 1`` at the last). numpy in, numpy out; torch in, torch out."""
        first, spacing = self._consts(points)
        if not _is_torch(points):
            points = np.asarray(points, dtype=np.float64)
        return (points - first) / spacing

    def index_to_world(self, index: Array) -> Array:
        """(..., 3) continuous voxel index → (..., 3) world mm (inverse of
        :meth:`world_to_index`; integer indices give voxel centres)."""
        first, spacing = self._consts(index)
        if not _is_torch(index):
            index = np.asarray(index, dtype=np.float64)
        elif not index.is_floating_point():
            index = index.to(first.dtype)
        return first + index * spacing

    def flat_index_to_world(self, flat: Array) -> Array:
        """(...,) flat voxel index (x slowest, z fastest) → (..., 3) world mm."""
        if _is_torch(flat):
            flat = flat.long()
            nz, ny = self.shape[2], self.shape[1]
            idx = torch.stack([flat // (ny * nz), (flat // nz) % ny, flat % nz], dim=-1)
            return self.index_to_world(idx.to(torch.float64))
        idx = np.stack(np.unravel_index(np.asarray(flat, dtype=np.int64), self.shape), -1)
        return self.index_to_world(idx)

    def contains(self, points: Array, atol: float = 0.0) -> Array:
        """(..., 3) world mm → (...,) bool: inside the closed box ``[first, last]`` widened
        by ``atol`` mm on every side."""
        first, spacing = self._consts(points)
        if _is_torch(points):
            last = first + spacing * torch.as_tensor(
                np.asarray(self.shape) - 1, device=points.device).to(first.dtype)
            return ((points >= first - atol) & (points <= last + atol)).all(dim=-1)
        points = np.asarray(points, dtype=np.float64)
        return np.all((points >= self.first - atol) & (points <= self.last + atol), axis=-1)

    # ------------------------------------------------------------------ identity
    def key(self) -> tuple:
        """Hashable identity (size, center, shape) for caches keyed by the space."""
        return (self.size, self.center, self.shape)

    def __eq__(self, other) -> bool:
        return isinstance(other, VoxelSpace) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def to_dict(self) -> dict:
        return {'size': list(self.size), 'center': list(self.center), 'shape': list(self.shape)}

    @classmethod
    def from_dict(cls, d: dict) -> 'VoxelSpace':
        missing = [k for k in ('size', 'center', 'shape') if k not in d]
        if missing:
            raise ValueError(f'VoxelSpace: missing field(s) {missing} in {d!r}')
        return cls(d['size'], d['center'], d['shape'])

    def __repr__(self) -> str:
        return (f'VoxelSpace(size={list(self.size)}, center={list(self.center)}, '
                f'shape={list(self.shape)})')


__all__ = ['VoxelSpace']
