"""Training targets: 3D Gaussian root volumes and VirtualPose's AGR rendering.

* :func:`render_root_target` — the root-net target: one 3D Gaussian (σ 200 mm) per person
  root on the voxel grid of the capture space (VoxelPose and VirtualPose alike), numpy or
  torch.
* :func:`render_agr` — VirtualPose's abstract geometry representation from 2D joints:
  K joint heatmaps + a 4-channel box map, plus the per-person detection targets (root pixel
  index, box extents). Every reference quirk is an explicit argument (table below).

Reference quirks of the AGR (wkom/VirtualPose ``SynJointsDataset``) and their options:

============================  =========  ==================================================
option                        default    reference (``True`` reproduces it)
============================  =========  ==================================================
``legacy_peak_offset``        False      heatmap peak at ``int(x/4) − 1`` when frac(3σ)<0.5
                                         (see :mod:`.heatmaps`); default: peak at ``x/4``
``legacy_box_paint``          False      root pixel ``int(x/4)`` (truncation) for the box
                                         square and the detection index, square rows
                                         ``[r−15, min(H−1, r+15))`` (last row/column never
                                         painted); default: nearest pixel, full clipped
                                         31×31 square
``paint_offcanvas_roots``     False      people whose root is off the canvas are painted
                                         into the box map too (with negative extents);
                                         default: they are not (no detection can peak
                                         there; painting them corrupts neighbours' boxes)
============================  =========  ==================================================

Not flaws, kept as the reference does them: σ from the extent of *all* joints (also those
off the canvas), every joint rendered whatever its visibility, boxes from all joints grown
by (25 %, 12 %) and clipped to the canvas, box values ``(root − x1, root − y1, x2 − root,
y2 − root)/stride`` (negative when the root is outside its clipped box).
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from .heatmaps import (_as_np, adaptive_sigma, paint_box_map, person_boxes,
                       render_gaussian_heatmaps, root_pixel)

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

__all__ = ['voxel_axes', 'render_root_target', 'render_agr']


def voxel_axes(space_size: Sequence[float], space_center: Sequence[float],
               shape: Sequence[int]):
    """The three 1D voxel-centre axes (float64 numpy) of ``DESIGN.md`` §2: see
    :meth:`virtualpose_mm.geometry.VoxelSpace.axes` (the one implementation)."""
    from ..geometry.voxel_space import VoxelSpace
    return list(VoxelSpace(space_size, space_center, shape).axes())


def render_root_target(roots, space_size: Sequence[float], space_center: Sequence[float],
                       shape: Sequence[int], sigma: float = 200.0, truncate: float = 3.0):
    """3D Gaussian root target volume: :meth:`VoxelRootCodec.encode_roots
    <virtualpose_mm.codecs.VoxelRootCodec.encode_roots>` of a codec for this space.

    Each root contributes ``exp(−‖v − root‖² / 2σ²)`` at the voxel centres ``v`` within
    ``truncate·σ`` of it *per axis* (a box window, as the reference), merged over people by
    maximum and clipped to [0, 1]. Non-finite roots are skipped.

    Args:
        roots: (N, 3) world mm (numpy or torch).
        space_size, space_center: (3,) mm.
        shape: (X, Y, Z) voxels.
        sigma: mm (reference 200).
        truncate: window half-width in σ.

    Returns:
        (X, Y, Z) float32, numpy for numpy input, torch (on the input's device) for torch.
    """
    from ..codecs.voxel_root_codec import VoxelRootCodec
    return VoxelRootCodec(space_size, space_center, shape, sigma=sigma,
                          truncate=truncate).encode_roots(roots)


def render_agr(joints_2d, image_size: Sequence[int] = (960, 512),
               heatmap_size: Sequence[int] = (240, 128), root_index: int = 2,
               base_sigma: float = 3.0, bbox_extension: Sequence[float] = (0.25, 0.12),
               box_radius: int = 15, legacy_peak_offset: bool = False,
               legacy_box_paint: bool = False,
               paint_offcanvas_roots: bool = False,
               render_heatmaps: bool = True,
               sigma_ref_size: float = 96.0) -> Dict[str, np.ndarray]:
    """Render VirtualPose's AGR (K heatmaps + box map) and detection targets from 2D joints.

    Args:
        joints_2d: (P, K, 2) joints in canvas (network input) px, float64; joints outside
            the canvas are allowed.
        image_size: canvas (W, H) (reference 960×512).
        heatmap_size: AGR (W, H) (reference 240×128); stride = image / heatmap size.
        root_index: the root joint (17-joint MuCo order: 2, mid-hip).
        base_sigma: σ of a person of the reference size (3 px).
        bbox_extension: box growth per side as a fraction of (width, height).
        box_radius: half-width of the painted box-map square (15 px).
        legacy_peak_offset, legacy_box_paint, paint_offcanvas_roots: reference quirks, see
            the module docstring.
        render_heatmaps: False skips the joint heatmaps (``heatmaps`` and ``agr`` are then
            None; everything else is computed): for a caller that renders its own (noisy)
            heatmaps from ``sigma`` or does not need them.
        sigma_ref_size: the reference person extent of the σ rule, heatmap px (96 at the
            reference's 240×128; ``ref_size`` of
            :func:`~virtualpose_mm.structures.heatmaps.adaptive_sigma`). At another heatmap
            size, ``base_sigma`` and ``sigma_ref_size`` scaled with it keep the reference's
            σ relative to the image (e.g. 1.5 and 48 at 120×64).

    Returns:
        dict of numpy arrays:

        * ``heatmaps`` (K, H, W) float32 in [0, 1];
        * ``box_map`` (4, H, W) float32: (l, t, r, b) heatmap px from the root to the box;
        * ``agr`` (K + 4, H, W) float32: the two concatenated (the model input);
        * ``sigma``, ``human_scale`` (P,) float64;
        * ``bbox_hm`` (P, 4) float32: box (x1, y1, x2, y2) in heatmap px;
        * ``wh`` (P, 4) float32: box-map values (l, t, r, b) per person;
        * ``reg_mask`` (P,) float32: 1 where the root is on the canvas;
        * ``ind`` (P,) int64: flat heatmap index ``row·W + col`` of the root pixel (0 where
          ``reg_mask`` is 0) — where the depth and box targets are read.
    """
    j = _as_np(joints_2d)
    if j.ndim != 3 or j.shape[-1] != 2:
        raise ValueError(f'joints_2d must be (P, K, 2) canvas px, got shape {j.shape}')
    P, K = j.shape[:2]
    W, H = int(heatmap_size[0]), int(heatmap_size[1])
    stride = np.asarray(image_size, dtype=np.float64) / np.asarray(heatmap_size, np.float64)
    if stride[0] != stride[1]:
        raise ValueError(f'image_size {tuple(image_size)} and heatmap_size '
                         f'{tuple(heatmap_size)} must have one stride for x and y')
    st = float(stride[0])

    joints_hm = j / stride
    sigma, human_scale = adaptive_sigma(joints_hm, base_sigma=base_sigma,
                                        ref_size=sigma_ref_size)
    heatmaps = render_gaussian_heatmaps(joints_hm, (W, H), sigma,
                                        legacy_peak_offset=legacy_peak_offset) \
        if render_heatmaps else None

    roots = j[:, root_index] if P else np.zeros((0, 2))
    boxes = person_boxes(j, image_size, bbox_extension) if P else np.zeros((0, 4))
    wh = np.stack([roots[:, 0] - boxes[:, 0], roots[:, 1] - boxes[:, 1],
                   boxes[:, 2] - roots[:, 0], boxes[:, 3] - roots[:, 1]], -1) / st \
        if P else np.zeros((0, 4))
    on_canvas = (roots[:, 0] >= 0) & (roots[:, 1] >= 0) & (roots[:, 0] < image_size[0]) & \
        (roots[:, 1] < image_size[1])
    pix = root_pixel(roots, st, legacy_truncation=legacy_box_paint)
    box_map = paint_box_map(pix, wh, (W, H), radius=box_radius,
                            legacy_exclusive_end=legacy_box_paint,
                            paint=None if paint_offcanvas_roots else on_canvas)
    pix_c = np.stack([np.clip(pix[:, 0], 0, W - 1), np.clip(pix[:, 1], 0, H - 1)], -1) \
        if P else np.zeros((0, 2), np.int64)
    ind = np.where(on_canvas, pix_c[:, 1] * W + pix_c[:, 0], 0).astype(np.int64)
    return dict(
        heatmaps=heatmaps,
        box_map=box_map,
        agr=np.concatenate([heatmaps, box_map], 0) if render_heatmaps else None,
        sigma=sigma,
        human_scale=human_scale,
        bbox_hm=(boxes / st).astype(np.float32),
        wh=wh.astype(np.float32),
        reg_mask=on_canvas.astype(np.float32),
        ind=ind)
