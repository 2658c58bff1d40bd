"""Person proposals from a 3D root (centre) likelihood volume (shared by VoxelPose and
VirtualPose).

* :func:`nms_3d` keeps a voxel where it equals the 3D max-pool of its neighbourhood
  (``max_pool3d(kernel, stride 1, padding (kernel − 1) // 2)``) and zeroes the others;
* :func:`topk_peaks` takes the ``k`` largest values of the NMS volume (as the reference
  does, over the whole flattened volume, so non-peaks count as 0);
* :func:`refine_peaks` (optional, off by default as in the references) moves each peak by a
  sub-voxel offset: per axis, the vertex of the parabola through the peak and its two
  neighbours;
* :func:`index_to_world` turns voxel indices into world mm:
  ``idx / (shape − 1) · size + center − size / 2`` (float32, the reference formula);
* :func:`match_to_gt` assigns each proposal the index of its nearest ground-truth root,
  or −1 when that root is farther than ``max_dist`` mm (training);
* :class:`ProposalLayer` combines them into the ``(B, M, 5)`` proposal tensor
  ``x, y, z (mm), flag, score`` where flag ≥ 0 marks a usable proposal (the matched GT index
  when GT is given, else 0 for ``score > threshold`` and −1 otherwise).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def nms_3d(volume: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """Zero every voxel that is not the maximum of its ``kernel³`` neighbourhood.

    Args:
        volume: (B, X, Y, Z) or (B, C, X, Y, Z).
        kernel: odd max-pool kernel size.

    Returns:
        Tensor of the same shape: ``volume`` where it equals its local maximum, else 0.
    """
    if kernel % 2 != 1:
        raise ValueError(f'the NMS kernel must be odd, got {kernel}')
    squeeze = volume.dim() == 4
    v = volume[:, None] if squeeze else volume
    pooled = F.max_pool3d(v, kernel_size=kernel, stride=1, padding=(kernel - 1) // 2)
    out = (v == pooled).to(v.dtype) * v
    return out[:, 0] if squeeze else out


def unravel_index(flat: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """(...) flat C-order indices → (..., 3) indices (x slowest, z fastest)."""
    X, Y, Z = (int(s) for s in shape)
    ix = torch.div(flat, Y * Z, rounding_mode='floor')
    iy = torch.div(flat % (Y * Z), Z, rounding_mode='floor')
    iz = flat % Z
    return torch.stack([ix, iy, iz], dim=-1)


def topk_peaks(volume: torch.Tensor, k: int, kernel: int = 3
               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` strongest NMS peaks of each volume.

    Args:
        volume: (B, X, Y, Z) root likelihood.
        k: number of peaks (``k`` ≤ X·Y·Z).
        kernel: NMS kernel.

    Returns:
        scores (B, k) in descending order and voxel indices (B, k, 3) (long).
    """
    B = volume.shape[0]
    n = volume[0].numel()
    if k > n:
        raise ValueError(f'cannot take {k} proposals from a volume of {n} voxels')
    peaks = nms_3d(volume, kernel).reshape(B, -1)
    scores, flat = peaks.topk(k, dim=1)
    return scores, unravel_index(flat, volume.shape[1:])


def refine_peaks(volume: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Sub-voxel peak positions: per axis, the vertex of the parabola through the peak
    voxel and its two neighbours along that axis.

    With the values ``f₋, f₀, f₊`` at ``i − 1, i, i + 1`` the offset is
    ``(f₋ − f₊) / (2 (f₋ − 2 f₀ + f₊))``, clamped to ±0.5 voxel; it is 0 where the
    parabola is not concave (``f₋ − 2 f₀ + f₊ ≥ 0``, e.g. a flat volume) or a neighbour
    lies outside the volume. Each axis is fitted independently; a peak that is a
    quadratic along each axis gets its exact vertex.

    Why: the references place a proposal at its voxel's centre, so the root volume's voxel
    (e.g. 200 mm) quantises the proposal by up to half a voxel per axis; VirtualPose takes
    the person's depth from the proposal.

    Args:
        volume: (B, X, Y, Z) root likelihood.
        index: (B, k, 3) long voxel indices of its peaks (:func:`topk_peaks`).

    Returns:
        (B, k, 3) float32 continuous voxel indices.
    """
    B, k = index.shape[:2]
    shape = volume.shape[1:]
    flat = volume.reshape(B, -1).float()
    strides = (shape[1] * shape[2], shape[2], 1)
    lin = (index * torch.as_tensor(strides, device=index.device)).sum(-1)       # (B, k)
    f0 = flat.gather(1, lin)
    out = index.float().clone()
    for a in range(3):
        lo_ok = index[..., a] > 0
        hi_ok = index[..., a] < shape[a] - 1
        fm = flat.gather(1, torch.where(lo_ok, lin - strides[a], lin))
        fp = flat.gather(1, torch.where(hi_ok, lin + strides[a], lin))
        den = fm - 2.0 * f0 + fp
        ok = lo_ok & hi_ok & (den < 0)
        off = torch.where(ok, (fm - fp) / (2.0 * torch.where(ok, den, -torch.ones_like(den))),
                          torch.zeros_like(den))
        out[..., a] += off.clamp(-0.5, 0.5)
    return out


def index_to_world(index: torch.Tensor, size: Sequence[float], center: Sequence[float],
                   shape: Sequence[int]) -> torch.Tensor:
    """Voxel indices → world mm: :meth:`VoxelRootCodec.decode
    <virtualpose_mm.codecs.VoxelRootCodec.decode>` for this space.

    Args:
        index: (..., 3) voxel indices.
        size: (3,) space size in mm. center: (3,) space centre in mm.
        shape: (3,) voxels per axis.

    Returns:
        (..., 3) float32 world mm, ``idx / (shape − 1) · size + center − size / 2``.
    """
    from ...codecs.voxel_root_codec import VoxelRootCodec
    return VoxelRootCodec(size, center, shape).decode(index)


def match_to_gt(centers: torch.Tensor, gt_roots: torch.Tensor, gt_counts: torch.Tensor,
                max_dist: float = 500.0) -> torch.Tensor:
    """Nearest ground-truth root of each proposal.

    Args:
        centers: (B, M, 3) proposal centres, mm.
        gt_roots: (B, G, 3) ground-truth roots, mm (rows ≥ ``gt_counts[b]`` are padding).
        gt_counts: (B,) number of real GT people per sample.
        max_dist: farthest match in mm.

    Returns:
        (B, M) long: index of the nearest GT root, or −1 if none lies within ``max_dist``
        (also −1 for a sample without GT people).
    """
    B, M = centers.shape[:2]
    G = gt_roots.shape[1]
    out = torch.full((B, M), -1, dtype=torch.long, device=centers.device)
    if G == 0:
        return out
    diff = centers[:, :, None, :].float() - gt_roots[:, None, :, :].float().to(centers.device)
    dist = torch.sqrt((diff ** 2).sum(-1))                                  # (B, M, G)
    pad = torch.arange(G, device=centers.device)[None] >= gt_counts.to(centers.device)[:, None]
    dist = dist.masked_fill(pad[:, None, :], float('inf'))
    min_dist, min_gt = dist.min(-1)
    return torch.where(min_dist <= max_dist, min_gt, out)


class ProposalLayer(nn.Module):
    """Root volume → ``max_num`` proposals (no parameters).

    Args:
        space_size: (3,) capture-space size in mm.
        space_center: (3,) capture-space centre in mm.
        space_shape: (3,) voxels per axis of the root volume.
        max_num: proposals per sample (M).
        nms_kernel: max-pool kernel of the NMS.
        threshold: a proposal is valid (flag 0) when its score exceeds this, without GT.
        match_distance: GT matching radius in mm (training).
        codec: the space's :class:`~virtualpose_mm.codecs.VoxelRootCodec` (decodes the
            peaks to mm); built from the space when not given.
        subvoxel: refine each peak by :func:`refine_peaks` before decoding it (an addition
            of this package; default False, the references' voxel centres). The NMS, the
            top-k and the scores are unchanged; the centres (and so the GT matching in
            training) move by at most half a voxel per axis.
    """

    def __init__(self, space_size: Sequence[float], space_center: Sequence[float],
                 space_shape: Sequence[int], max_num: int = 10, nms_kernel: int = 3,
                 threshold: float = 0.3, match_distance: float = 500.0, codec=None,
                 subvoxel: bool = False):
        super().__init__()
        self.subvoxel = bool(subvoxel)
        self.space_size = tuple(float(s) for s in space_size)
        self.space_center = tuple(float(s) for s in space_center)
        self.space_shape = tuple(int(s) for s in space_shape)
        self.max_num = int(max_num)
        self.nms_kernel = int(nms_kernel)
        self.threshold = float(threshold)
        self.match_distance = float(match_distance)
        from ...codecs.voxel_root_codec import VoxelRootCodec
        self.codec = codec if codec is not None else VoxelRootCodec(
            self.space_size, self.space_center, self.space_shape)
        if self.codec.space.key() != (self.space_size, self.space_center, self.space_shape):
            raise ValueError(f'ProposalLayer: codec space {self.codec.space} differs from '
                             f'{self.space_size}, {self.space_center}, {self.space_shape}')

    def forward(self, root_volume: torch.Tensor, gt_roots: Optional[torch.Tensor] = None,
                gt_counts: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            root_volume: (B, X, Y, Z) root likelihood (detached internally).
            gt_roots: optional (B, G, 3) GT roots in mm; with ``gt_counts`` (B,), the flag
                becomes the matched GT index (or −1) instead of the score threshold.

        Returns:
            (B, M, 5) float32: x, y, z (mm), flag (≥ 0 usable, −1 not), score.
        """
        volume = root_volume.detach()
        scores, index = topk_peaks(volume, self.max_num, self.nms_kernel)
        if self.subvoxel:
            index = refine_peaks(volume, index)
        centers = self.codec.decode(index)
        if gt_roots is not None:
            flag = match_to_gt(centers, gt_roots, gt_counts, self.match_distance).float()
        else:
            flag = (scores > self.threshold).float() - 1.0
        return torch.cat([centers, flag[..., None], scores[..., None].float()], dim=-1)
