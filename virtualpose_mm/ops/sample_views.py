"""Multi-view heatmap sampling fused with the in-image view average (CPU kernel).

VoxelPose, Faster-VoxelPose and VirtualPose turn per-view 2D heatmaps into volumes by
sampling every view at the projection of every 3D point (``grid_sample``, bilinear,
``align_corners=True``, zero padding) and averaging the views that see the point
(:func:`~virtualpose_mm.models.layers.projection.aggregate_views`). On the CPU
``grid_sample`` gathers the K joint values of a pixel from K planes (NCHW) and the
(B, V, K, N) samples are materialised before the average; in Faster-VoxelPose's joint stage
this was ~40 % of the frame. ``csrc/sample_views.cpp`` reads channels-last heatmaps (the K
values of a pixel are contiguous) and accumulates the average while sampling: one pass, no
(B, V, K, N) tensor. Results equal the PyTorch path up to float32 rounding (the kernel may
fuse multiply-adds).
"""
from __future__ import annotations

import os
from typing import Optional

import torch

from ._build import CpuKernel

_KERNEL = CpuKernel('vpmm_sample_views', 'sample_views.cpp', 'the view-sampling kernel')


def sample_views_kernel_available() -> bool:
    """Whether the kernel can run here (builds it on first call)."""
    return _KERNEL.load() is not None


def sample_views_kernel_unavailable_reason() -> Optional[str]:
    _KERNEL.load()
    return _KERNEL.error


def can_fuse(heatmaps: torch.Tensor, grid: torch.Tensor) -> bool:
    """Whether :func:`sample_views_average` runs these inputs in the kernel: CPU float32,
    no gradient wanted through the heatmaps or the grid, the kernel built, and
    ``VPMM_FUSED_SAMPLING`` not set to ``0`` in the environment."""
    if os.environ.get('VPMM_FUSED_SAMPLING', '1') == '0':
        return False
    if heatmaps.device.type != 'cpu' or heatmaps.dtype != torch.float32:
        return False
    if torch.is_grad_enabled() and (heatmaps.requires_grad or grid.requires_grad):
        return False
    return (_KERNEL.module if _KERNEL.module is not None else _KERNEL.load()) is not None


def sample_views_average(heatmaps: torch.Tensor, grid: torch.Tensor,
                         inside: torch.Tensor) -> torch.Tensor:
    """The kernel: ``aggregate_views(sample_views(heatmaps, grid), inside)`` in one pass.

    Call it only where :func:`can_fuse` is true.

    Args:
        heatmaps: (B, V, K, H, W) float32 on the CPU.
        grid: (B, V, N, 2) ``grid_sample`` coordinates (x, y) normalised to [-1, 1] with
            ``align_corners=True``.
        inside: (B, V, N) bool, whether the point lies inside each view's image.

    Returns:
        (B, K, N) float32 in [0, 1]: the mean over the views that see each point of the
        bilinear samples, 0 where no view sees it.

    One difference from the PyTorch path, for non-finite heatmaps only: a view that does
    not see a point is skipped here, while ``aggregate_views`` multiplies its sample by 0,
    so a NaN or inf there makes the point NaN and then 0. Non-finite values in the views
    that see the point give the same result on both paths (NaN → 0, ±inf → 1 / 0).
    """
    ext = _KERNEL.module if _KERNEL.module is not None else _KERNEL.load()
    if ext is None:
        raise RuntimeError(f'the view-sampling kernel is not available: {_KERNEL.error}')
    hm = heatmaps.permute(0, 1, 3, 4, 2).contiguous()                   # (B, V, H, W, K)
    return ext.sample_views_average(hm, grid.to(torch.float32).contiguous(),
                                    inside.to(torch.bool).contiguous())
