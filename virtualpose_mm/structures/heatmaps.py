"""2D Gaussian heatmaps and box maps rendered from 2D joints (numpy, data pipeline side).

Shared by VoxelPose's synthetic input heatmaps and VirtualPose's abstract geometry
representation (AGR: K joint heatmaps + a 4-channel box map).

Coordinates
-----------
Heatmap coordinates are *pixel-index* coordinates of the heatmap grid: heatmap pixel
``(i, j)`` (column ``i``, row ``j``) is the point ``(i, j)``, and a canvas (network input)
point ``x`` maps to ``x / stride``. This is the convention of the projection layers, which
sample the heatmaps with ``grid_sample(..., align_corners=True)`` at ``x / stride``; with
it a joint's Gaussian peak and the projection of the joint's 3D position coincide.

Reference quirk (``legacy_peak_offset``)
----------------------------------------
The reference renderers (voxelpose-pytorch ``generate_input_heatmap``, VirtualPose
``SynJointsDataset.generate_input_heatmap``) truncate the joint to ``mu = int(x)``, cut a
window ``ul = int(mu - 3σ)``, and paste a kernel of ``ceil(6σ + 1)`` samples whose centre is
at index ``floor(3σ + 0.5)`` of the window. The peak therefore lands at
``ul + floor(3σ + 0.5)``, which is ``mu - 1`` whenever ``frac(3σ) < 0.5`` (e.g. σ = 2.121
puts every peak one pixel up and to the left of ``int(x)``), i.e. up to 1.5 px away from
the true position. ``legacy_peak_offset=True`` reproduces that rendering bit for bit (used
by the golden checks and for running reference checkpoints); the default renders the
Gaussian centred on the true, continuous position.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

__all__ = [
    'adaptive_sigma', 'render_gaussian_heatmaps', 'root_pixel', 'person_boxes',
    'paint_box_map'
]


def _as_np(x, dtype=np.float64) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def adaptive_sigma(joints_hm, base_sigma: float = 3.0, ref_size: float = 96.0,
                   min_ratio: float = 0.5, max_ratio: float = 2.0,
                   visible=None) -> Tuple[np.ndarray, np.ndarray]:
    """Person-size-adaptive Gaussian σ (the reference's ``SIGMA_SCALE``).

    ``s`` is the larger of a person's x and y extents in heatmap px (over the joints marked
    ``visible``; all joints by default, as VirtualPose's synthetic AGR does, including joints
    outside the map). ``s²`` is clipped to ``[(min_ratio·ref)², (max_ratio·ref)²]``, the
    person *scale* is ``2·s²`` and ``σ = base_sigma · sqrt(scale) / ref``. With the defaults
    σ ranges over [2.12, 8.49] px and grows as ``3·√2·s/96`` in between.

    Args:
        joints_hm: (P, K, 2) joints in heatmap px.
        base_sigma: σ of a person of extent ``ref_size/√2`` (reference: 3).
        ref_size: reference size in heatmap px (reference: 96).
        min_ratio, max_ratio: clip bounds of the extent relative to ``ref_size``.
        visible: optional (P, K) bool; joints that count for the extent. A person with no
            counted joint gets σ = 0 and scale 0 (the renderers skip it).

    Returns:
        ``(sigma, scale)``, both (P,) float64; ``scale`` = 2·clip(s²) (the reference's
        ``human_scale``).
    """
    j = _as_np(joints_hm)
    if j.ndim != 3 or j.shape[-1] != 2:
        raise ValueError(f'joints_hm must be (P, K, 2), got shape {j.shape}')
    vis = np.isfinite(j).all(-1)
    if visible is not None:
        vis &= _as_np(visible, bool).reshape(j.shape[:2])
    P = j.shape[0]
    scale = np.zeros(P)
    for p in range(P):  # P ≤ ~10 people; per-person min/max over a handful of joints
        if not vis[p].any():
            continue
        pts = j[p, vis[p]]
        ext = max(pts[:, 1].max() - pts[:, 1].min(), pts[:, 0].max() - pts[:, 0].min())
        scale[p] = 2 * np.clip(ext**2, (min_ratio * ref_size)**2, (max_ratio * ref_size)**2)
    sigma = base_sigma * np.sqrt(scale / (ref_size * ref_size))
    return sigma, scale


def _legacy_axis(mu_f: np.ndarray, tmp: np.ndarray, size: int):
    """Per joint window and kernel centre along one axis, exactly as the reference does it.

    Returns ``(lo, hi, centre, skip_lo, skip_hi)`` where pixels ``lo ≤ i < hi`` of the map are
    painted with a Gaussian centred at pixel ``centre``, and ``skip_*`` tell whether the
    joint is skipped (``ul ≥ size`` or ``br < 0``).
    """
    mu = np.trunc(mu_f)                        # int(x / stride): toward zero
    ul = np.trunc(mu - tmp)                    # int(mu - 3σ)
    br = np.trunc(mu + tmp + 1)                # int(mu + 3σ + 1)
    ksize = 2 * tmp + 1
    n_kernel = np.ceil(ksize)                  # len(np.arange(0, 2·3σ + 1, 1))
    centre = ul + np.floor(ksize / 2)          # kernel centre index size // 2, pasted at ul
    lo = np.maximum(ul, 0)
    hi = np.minimum(np.minimum(br, size), ul + n_kernel)
    return lo, hi, centre, ul >= size, br < 0


def render_gaussian_heatmaps(joints_hm, heatmap_size: Sequence[int], sigmas,
                             visible=None, amplitudes=None, legacy_peak_offset: bool = False,
                             truncate: float = 3.0) -> np.ndarray:
    """Render one Gaussian per joint and person, merged over people by maximum.

    Args:
        joints_hm: (P, K, 2) joint positions in heatmap px (pixel-index convention, see the
            module docstring). Non-finite joints are skipped.
        heatmap_size: (W, H) of the heatmaps.
        sigmas: (P,) σ per person in heatmap px (see :func:`adaptive_sigma`); people with
            σ ≤ 0 are skipped. A scalar is broadcast.
        visible: optional (P, K) bool; invisible joints are not rendered (VoxelPose's
            synthetic heatmaps). VirtualPose's AGR renders every joint (leave it None).
        amplitudes: optional (P, K) peak values (default 1).
        legacy_peak_offset: reproduce the reference's integer window and peak placement
            (module docstring). Default False: the Gaussian is centred on the true position.
        truncate: the Gaussian is cut to a square window of half-width ``truncate·σ``.

    Returns:
        (K, H, W) float32 heatmaps clipped to [0, 1].
    """
    j = _as_np(joints_hm)
    if j.ndim != 3 or j.shape[-1] != 2:
        raise ValueError(f'joints_hm must be (P, K, 2), got shape {j.shape}')
    P, K = j.shape[:2]
    W, H = int(heatmap_size[0]), int(heatmap_size[1])
    sig = np.broadcast_to(_as_np(sigmas), (P, )).astype(np.float64)
    ok = np.isfinite(j).all(-1) & (sig[:, None] > 0)
    if visible is not None:
        ok &= _as_np(visible, bool).reshape(P, K)
    amp = np.ones((P, K)) if amplitudes is None else _as_np(amplitudes).reshape(P, K)

    out = np.zeros((K, H, W), dtype=np.float64)
    xs = np.arange(W, dtype=np.float64)
    ys = np.arange(H, dtype=np.float64)
    jj = np.where(ok, 1.0, 0.0)[..., None] * np.nan_to_num(j)   # finite everywhere
    for p in range(P):  # vectorised over joints and pixels; P is small
        if not ok[p].any():
            continue
        s = sig[p]
        tmp = truncate * s
        if legacy_peak_offset:
            lo_x, hi_x, cx, skx0, skx1 = _legacy_axis(jj[p, :, 0], tmp, W)
            lo_y, hi_y, cy, sky0, sky1 = _legacy_axis(jj[p, :, 1], tmp, H)
            skip = skx0 | sky0 | skx1 | sky1
        else:
            cx, cy = jj[p, :, 0], jj[p, :, 1]
            lo_x, hi_x = np.ceil(cx - tmp), np.floor(cx + tmp) + 1
            lo_y, hi_y = np.ceil(cy - tmp), np.floor(cy + tmp) + 1
            skip = np.zeros(K, bool)
        use = ok[p] & ~skip
        # separable Gaussian: exp(-(dx² + dy²)/2σ²) = exp(-dx²/2σ²)·exp(-dy²/2σ²)
        gx = np.exp(-(xs[None] - cx[:, None])**2 / (2 * s * s))
        gx *= (xs[None] >= lo_x[:, None]) & (xs[None] < hi_x[:, None])
        gy = np.exp(-(ys[None] - cy[:, None])**2 / (2 * s * s))
        gy *= (ys[None] >= lo_y[:, None]) & (ys[None] < hi_y[:, None])
        g = gy[:, :, None] * gx[:, None, :] * (amp[p] * use)[:, None, None]
        np.maximum(out, g, out=out)
    return np.clip(out, 0, 1).astype(np.float32)


def root_pixel(roots, stride: float, legacy_truncation: bool = False) -> np.ndarray:
    """Heatmap pixel (column, row) that holds a root's detection, (P, 2) int64.

    Default: the nearest pixel ``floor(x/stride + 0.5)`` (where a Gaussian centred on the
    root peaks). ``legacy_truncation``: the reference's ``int(x / stride)`` (toward zero).
    """
    r = _as_np(roots).reshape(-1, 2) / stride
    r = np.trunc(r) if legacy_truncation else np.floor(r + 0.5)
    return r.astype(np.int64)


def person_boxes(joints, image_size: Sequence[float],
                 extension: Sequence[float] = (0.25, 0.12)) -> np.ndarray:
    """Person boxes from 2D joints, grown and clipped to the canvas.

    Box = extent of all joints ± ``extension`` × (width, height), clipped to
    ``[0, W] × [0, H]`` (the reference's ``BBOX_EXTENTION``).

    Args:
        joints: (P, K, 2) canvas px.
        image_size: canvas (W, H).
        extension: fraction of the joints' width and height added on each side.

    Returns:
        (P, 4) float64 boxes (x1, y1, x2, y2) in canvas px.
    """
    j = _as_np(joints)
    mn, mx = j.min(1), j.max(1)
    ext = (mx - mn) * np.asarray(extension, dtype=np.float64)
    lim = np.asarray(image_size, dtype=np.float64)
    return np.concatenate([np.clip(mn - ext, 0, lim), np.clip(mx + ext, 0, lim)], -1)


def paint_box_map(roots_hm_px, values, heatmap_size: Sequence[int], radius: int = 15,
                  legacy_exclusive_end: bool = False, paint=None) -> np.ndarray:
    """Paint per-person 4-vectors into a square around each root pixel (the AGR box map).

    People are painted in order; a later person overwrites an earlier one where they
    overlap.

    Args:
        roots_hm_px: (P, 2) int root pixels (column, row), see :func:`root_pixel`. They may
            lie outside the map; only the part of the square inside the map is painted.
        values: (P, C) values painted into the C channels (the box map: (l, t, r, b) heatmap
            px from the root to the box sides).
        heatmap_size: (W, H).
        radius: half-width of the square in pixels (reference: 15).
        legacy_exclusive_end: the reference paints rows ``[max(0, r−15), min(H−1, r+15))``:
            the square is 30 px, not 31, and never covers the last row and column of the map.
            Default False paints the full square ``[r−15, r+15]`` clipped to the map.
        paint: optional (P,) bool; people not painted (default: all).

    Returns:
        (C, H, W) float32.
    """
    r = _as_np(roots_hm_px, np.int64).reshape(-1, 2)
    v = _as_np(values).reshape(r.shape[0], -1)
    W, H = int(heatmap_size[0]), int(heatmap_size[1])
    out = np.zeros((v.shape[1], H, W), dtype=np.float32)
    for p in range(r.shape[0]):  # order matters: later people overwrite earlier ones
        if paint is not None and not paint[p]:
            continue
        cx, cy = int(r[p, 0]), int(r[p, 1])
        if legacy_exclusive_end:
            y0, y1 = max(0, cy - radius), min(H - 1, cy + radius)
            x0, x1 = max(0, cx - radius), min(W - 1, cx + radius)
        else:
            y0, y1 = max(0, cy - radius), min(H, cy + radius + 1)
            x0, x1 = max(0, cx - radius), min(W, cx + radius + 1)
        if y1 > y0 and x1 > x0:
            out[:, y0:y1, x0:x1] = v[p].astype(np.float32)[:, None, None]
    return out
