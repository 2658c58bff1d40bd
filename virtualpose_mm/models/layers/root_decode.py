"""Decoding people from the AGR: root-heatmap peaks with their box and root depth.

Reference: wkom/VirtualPose ``utils/decode.py:det_decode``. Steps: 3×3 max-pool NMS on the
root-joint heatmap (no sigmoid; the AGR is already a heatmap), top-K over H·W, the box-map
extents (l, t, r, b) and the DE's normalised depth gathered at each peak and clamped ≥ 0,
detections with score < ``score_thr`` (0.1) invalid.

Quirk options (defaults are the sound behaviour):

* ``peak_offset`` (default 0.0; reference 0.5): the reference reports the peak at
  ``(col + 0.5, row + 0.5)``, while the projection layers sample heatmap pixel ``p`` at
  coordinate ``p`` (``align_corners=True``) — a half-pixel inconsistency that shifts every
  person's box by half a heatmap pixel (2 canvas px) down-right;
* ``sort_by_depth`` (default False; reference True): the reference re-orders detections
  by decoded depth, far → near, with an unstable sort (ties among invalid entries come out in
  an implementation-defined order). By default the detections stay in score order. The
  order does not change the REN input (people are max-merged), only tie-breaking.

The clamps (extents and depth ≥ 0) are kept: negative box extents and depths are
meaningless.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F


def heatmap_peaks(heat: torch.Tensor, k: int, kernel: int = 3):
    """Top-k local maxima of 2D maps.

    Args:
        heat: (B, H, W).
        k: number of peaks (≤ H·W).
        kernel: max-pool NMS window (odd).

    Returns:
        ``(scores (B, k), inds (B, k) int64 flat index row·W + col)``, scores descending.
        Non-maxima are set to 0 before the top-k (ties among them are broken by
        ``torch.topk``).
    """
    B, H, W = heat.shape
    if k > H * W:
        raise ValueError(f'cannot take {k} peaks from a {H}×{W} map')
    pad = (kernel - 1) // 2
    hmax = F.max_pool2d(heat[:, None], kernel, stride=1, padding=pad)[:, 0]
    nms = heat * (hmax == heat).to(heat.dtype)
    return torch.topk(nms.reshape(B, -1), k)


def gather_at(feat: torch.Tensor, inds: torch.Tensor) -> torch.Tensor:
    """Gather per-pixel vectors: feat (B, C, H, W), inds (B, K) flat → (B, K, C)."""
    B, C = feat.shape[:2]
    flat = feat.reshape(B, C, -1)
    return flat.gather(2, inds[:, None, :].expand(B, C, inds.shape[1])).transpose(1, 2)


def decode_root_detections(root_heatmap: torch.Tensor, box_map: torch.Tensor,
                           depth_map: torch.Tensor, max_people: int,
                           score_thr: float = 0.1, nms_kernel: int = 3,
                           peak_offset: float = 0.0,
                           sort_by_depth: bool = False) -> Dict[str, torch.Tensor]:
    """Decode up to ``max_people`` people per sample.

    Args:
        root_heatmap: (B, H, W) root-joint heatmap of the AGR.
        box_map: (B, 4, H, W) (l, t, r, b) extents from the root to the box sides, heatmap px.
        depth_map: (B, 1, H, W) DE output (depth / depth_norm_factor). Gradients flow from
            the returned ``depths`` into it.
        max_people: K, detections per sample.
        score_thr: detections with a peak value below it are invalid.
        nms_kernel: max-pool NMS window.
        peak_offset: added to the integer peak (col, row) (module docstring).
        sort_by_depth: order by depth, far → near, invalid last (module docstring).

    Returns:
        dict with, per sample and detection (K entries, valid ones first):

        * ``scores`` (B, K); ``valid`` (B, K) bool (score ≥ ``score_thr``);
        * ``inds`` (B, K) int64 flat peak index; ``xys`` (B, K, 2) peak (x, y) heatmap px;
        * ``bboxes`` (B, K, 4) (x1, y1, x2, y2) heatmap px, 0 for invalid entries;
        * ``depths`` (B, K) normalised depth (clamped ≥ 0), −1 for invalid entries.
    """
    B, H, W = root_heatmap.shape
    scores, inds = heatmap_peaks(root_heatmap, max_people, nms_kernel)
    xs = (inds % W).to(root_heatmap.dtype) + peak_offset
    ys = torch.div(inds, W, rounding_mode='floor').to(root_heatmap.dtype) + peak_offset
    wh = gather_at(box_map, inds).clamp(min=0.)                       # (B, K, 4)
    depth = gather_at(depth_map, inds)[..., 0].clamp(min=0.)           # (B, K)
    bboxes = torch.stack([xs - wh[..., 0], ys - wh[..., 1], xs + wh[..., 2], ys + wh[..., 3]],
                         -1)
    valid = scores >= score_thr
    depth = torch.where(valid, depth, depth.new_tensor(-1.0))
    bboxes = bboxes * valid[..., None].to(bboxes.dtype)
    if sort_by_depth:
        order = torch.argsort(depth, dim=1, descending=True)
    else:  # score order from topk; invalid ones (lowest scores) are already last
        order = torch.arange(max_people, device=inds.device).expand(B, -1)
    take = lambda t: t.gather(1, order) if t.dim() == 2 else \
        t.gather(1, order[..., None].expand(-1, -1, t.shape[-1]))  # noqa: E731
    return dict(scores=take(scores), valid=take(valid), inds=take(inds),
                xys=take(torch.stack([xs, ys], -1)), bboxes=take(bboxes), depths=take(depth))
