"""Depth-gated, box-masked single-view projection: the input volume of VirtualPose's REN.

Built on the shared projection maths of :mod:`virtualpose_mm.models.layers.projection`
(camera projection, the original-image bounding test, the clamp to ``[−1, max(W, H)]``, the
image → input affine and input → heatmap scaling, ``align_corners=True`` normalisation
clamped to ±1.1, one batched ``grid_sample``) with one view per sample.

For every decoded person ``j`` the heatmaps are sampled at each voxel, masked by the
person's 2D box (inclusive, heatmap px) and weighted by a Gaussian of the voxel's camera
depth around the person's decoded root depth (σ 200 mm); people are merged by maximum
(reference: wkom/VirtualPose ``models/project_layer.py``). Because the box mask and the
depth gate form one non-negative weight ``w_j`` per voxel that multiplies the same sampled
value ``s``, ``max_j (w_j · s) = s · max_j w_j`` for ``s ≥ 0``, and every feature is
clamped to ≥ 0, so negative samples give 0 either way: the merge is one (B, P, N) max
instead of (B, P, K, N) features. The gate is differentiable: gradients reach the depth
estimator through the decoded depths (of the person whose gate wins at each voxel, as in
the reference's strict-greater merge).

(The PEN cubes use the shared :class:`~virtualpose_mm.models.heads.VoxelSinglePoseNet`
projection with one view.)
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch

from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.models.layers.projection import compute_sampling_grid, sample_views


def _normalise(v: torch.Tensor, size: float) -> torch.Tensor:
    """Heatmap px → ``grid_sample`` coordinates (``align_corners=True``), as the grid."""
    return v / (size - 1) * 2.0 - 1.0


def depth_gated_projection(heatmaps: torch.Tensor, points: torch.Tensor, cameras: Camera,
                           affines: torch.Tensor, image_sizes: torch.Tensor,
                           bboxes: torch.Tensor, depths_mm: torch.Tensor,
                           valid: torch.Tensor, input_size: Optional[Sequence[float]] = None,
                           sigma: float = 200.0, precision: str = 'float64'
                           ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The REN input volume.

    Args:
        heatmaps: (B, K, H, W) AGR joint heatmaps.
        points: (N, 3) or (B, N, 3) voxel centres, world mm.
        cameras: torch :class:`Camera` of batch shape (B, 1) (one view per sample).
        affines: (B, 1, 2, 3) original image px → network input px (or → heatmap px when
            ``input_size`` is None).
        image_sizes: (B, 1, 2) original image (w, h); a voxel counts only where it
            projects inside ``[0, w) × [0, h)`` and lies in front of the camera.
        bboxes: (B, P, 4) decoded person boxes (x1, y1, x2, y2), heatmap px.
        depths_mm: (B, P) decoded root depths in mm (camera z); gradients flow into them.
        valid: (B, P) bool, the decoded people that take part.
        input_size: (w, h) of the network input the affines map to.
        sigma: depth gate σ in mm.
        precision: arithmetic of the camera projection, ``'float64'``, ``'float32'`` or
            ``'reference'`` (float32 in the reference's order of operations), see
            :func:`~virtualpose_mm.models.layers.projection.compute_sampling_grid`.

    Returns:
        ``(volume (B, K, N) in [0, 1], weight (B, N))``; ``weight`` is the merged gate
        ``max_j w_j`` (0 outside the image and outside every box).
    """
    B, K, H, W = heatmaps.shape
    g = compute_sampling_grid(points, cameras, affines, image_sizes, (W, H),
                              input_size=input_size, exclude_behind_camera=True,
                              precision=precision, return_depth=True)
    grid, inside, z = g.grid[:, 0], g.inside[:, 0], g.depth[:, 0].to(heatmaps.dtype)
    samples = sample_views(heatmaps[:, None], g.grid)[:, 0]                    # (B, K, N)

    # The box test in grid coordinates. A voxel inside the image maps into the heatmap, so
    # its coordinate is not clamped, and the normalisation (done in float64 like the grid's,
    # then rounded to the grid's dtype) is monotone: the order of coordinates is kept.
    bx = _normalise(bboxes[..., 0::2].double(), W).to(grid.dtype)              # (B, P, 2)
    by = _normalise(bboxes[..., 1::2].double(), H).to(grid.dtype)
    gx, gy = grid[:, None, :, 0], grid[:, None, :, 1]                          # (B, 1, N)
    in_box = (gx >= bx[..., 0:1]) & (gx <= bx[..., 1:2]) & \
        (gy >= by[..., 0:1]) & (gy <= by[..., 1:2])                            # (B, P, N)
    in_box &= valid[..., None] & inside[:, None]
    d = z[:, None, :] - depths_mm.to(z.dtype)[..., None]                       # (B, P, N)
    gate = torch.exp(-d ** 2 / (2 * sigma ** 2))
    w = torch.where(in_box, gate, torch.zeros_like(gate))
    weight = w.max(dim=1).values if w.shape[1] else w.new_zeros(B, w.shape[-1])
    volume = torch.nan_to_num(samples * weight[:, None], nan=0.0).clamp(0.0, 1.0)
    return volume, weight
