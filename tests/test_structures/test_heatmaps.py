"""2D Gaussian heatmaps, box maps, AGR rendering and 3D root targets."""
import numpy as np
import pytest
import torch

from virtualpose_mm.structures import (adaptive_sigma, paint_box_map, render_agr,
                                       render_gaussian_heatmaps, render_root_target,
                                       root_pixel)


def _subpixel_peak(hm: np.ndarray):
    """(x, y) of a heatmap's maximum refined by a log-parabola through its neighbours
    (exact for a sampled Gaussian)."""
    y, x = np.unravel_index(np.argmax(hm), hm.shape)
    lg = np.log(np.maximum(hm, 1e-30))

    def refine(left, mid, right):
        return 0.5 * (left - right) / (left - 2 * mid + right)

    return (x + refine(lg[y, x - 1], lg[y, x], lg[y, x + 1]),
            y + refine(lg[y - 1, x], lg[y, x], lg[y + 1, x]))


@pytest.mark.parametrize('sigma', [2.121, 3.3, 4.75])
def test_sound_peaks_land_at_the_true_position(sigma):
    pts = np.array([[[30.37, 20.81], [10.62, 7.49], [50.0, 12.0]]])        # (1, 3, 2) hm px
    hm = render_gaussian_heatmaps(pts, (64, 32), [sigma])
    for k in range(3):
        px, py = _subpixel_peak(hm[k])
        assert abs(px - pts[0, k, 0]) < 1e-4 and abs(py - pts[0, k, 1]) < 1e-4
        # the brightest pixel is the nearest one, with the Gaussian's value there
        y, x = np.unravel_index(np.argmax(hm[k]), hm[k].shape)
        assert (x, y) == tuple(np.floor(pts[0, k] + 0.5).astype(int))
        d2 = (x - pts[0, k, 0])**2 + (y - pts[0, k, 1])**2
        assert hm[k, y, x] == pytest.approx(np.exp(-d2 / (2 * sigma**2)), abs=1e-6)


def test_legacy_peak_offset_reproduces_the_reference_shift():
    """frac(3σ) < 0.5 puts the reference peak one pixel before int(x); ≥ 0.5 at int(x)."""
    pts = np.array([[[30.7, 20.2]]])
    low = render_gaussian_heatmaps(pts, (64, 32), [2.121], legacy_peak_offset=True)[0]
    assert np.unravel_index(np.argmax(low), low.shape) == (19, 29)   # (row, col) = μ − 1
    assert low.max() == pytest.approx(1.0)
    high = render_gaussian_heatmaps(pts, (64, 32), [2.2], legacy_peak_offset=True)[0]  # 3σ=6.6
    assert np.unravel_index(np.argmax(high), high.shape) == (20, 30)


def test_sigma_grows_with_person_size_and_is_clipped():
    def person(extent):
        j = np.zeros((17, 2))
        j[:, 1] = np.linspace(0, extent, 17)
        j[:, 0] = 5.0
        return j

    sizes = [10.0, 48.0, 60.0, 80.0, 120.0, 300.0]
    sigma, scale = adaptive_sigma(np.stack([person(s) for s in sizes]))
    assert np.all(np.diff(sigma) >= 0) and sigma[3] > sigma[2] > sigma[1]
    assert sigma[0] == pytest.approx(3 * np.sqrt(2 * 48**2) / 96)       # bottom clip (2.121)
    assert sigma[1] == pytest.approx(sigma[0])
    assert sigma[2] == pytest.approx(3 * np.sqrt(2) * 60 / 96)           # unclipped
    assert sigma[-1] == pytest.approx(3 * np.sqrt(2 * 192**2) / 96)     # top clip (8.485)
    assert scale[2] == pytest.approx(2 * 60**2)
    # a larger σ makes a wider blob: the heatmap value 3 px from the joint rises
    hm = render_gaussian_heatmaps(np.array([[[20.0, 20.0]], [[20.0, 20.0]]]), (40, 40),
                                  [2.0, 4.0])
    one = render_gaussian_heatmaps(np.array([[[20.0, 20.0]]]), (40, 40), [2.0])
    assert hm[0, 20, 23] == pytest.approx(np.exp(-9 / 32), abs=1e-6)     # max-merged: σ = 4
    assert one[0, 20, 23] == pytest.approx(np.exp(-9 / 8), abs=1e-6)


def test_max_merge_clip_visibility_and_skipped_joints():
    pts = np.array([[[10.0, 10.0], [np.nan, 3.0]], [[12.0, 10.0], [30.0, 5.0]]])
    amp = np.array([[1.0, 1.0], [1.5, 1.0]])
    hm = render_gaussian_heatmaps(pts, (40, 20), [2.0, 2.0], amplitudes=amp)
    a = render_gaussian_heatmaps(pts[:1], (40, 20), [2.0], amplitudes=amp[:1])
    b = render_gaussian_heatmaps(pts[1:], (40, 20), [2.0], amplitudes=amp[1:])
    assert np.array_equal(hm, np.clip(np.maximum(a, b), 0, 1))
    assert hm.max() == 1.0 and hm[0, 10, 12] == 1.0                    # clipped amplitude 1.5
    assert not a[1].any()                                               # NaN joint skipped
    vis = np.array([[True, True], [True, False]])
    hv = render_gaussian_heatmaps(pts, (40, 20), [2.0, 2.0], visible=vis)
    assert not hv[1].any()


def test_box_map_painting_sound_and_legacy():
    vals = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    roots = np.array([[62, 30], [5, 5]])                    # the first at the map's corner
    sound = paint_box_map(roots, vals, (64, 32), radius=3)
    assert sound[:, 31, 63].tolist() == [1.0, 2.0, 3.0, 4.0]           # last row/col painted
    assert (sound[0] == 1).sum() == 5 * 5                              # clipped 7×7 square
    assert (sound[0] == 5).sum() == 49
    legacy = paint_box_map(roots, vals, (64, 32), radius=3, legacy_exclusive_end=True)
    assert legacy[0, 31, 63] == 0 and (legacy[0] == 1).sum() == 16      # 4×4, never the end
    assert (legacy[0] == 5).sum() == 36
    over = paint_box_map(np.array([[10, 10], [12, 10]]), vals, (64, 32), radius=3)
    assert over[0, 10, 10] == 5.0 and over[0, 10, 7] == 1.0              # later overwrites
    assert root_pixel(np.array([[-5.9, 7.9]]), 4.0, legacy_truncation=True).tolist() == [[-1, 1]]
    assert root_pixel(np.array([[-5.9, 7.9]]), 4.0).tolist() == [[-1, 2]]


def _people():
    base = np.stack([np.linspace(0, 10, 17) * 4, np.linspace(0, 120, 17)], -1)
    p0 = base + [401.3, 101.7]
    p1 = base + [-60.0, 150.0]                         # root off the canvas (x < 0)
    return np.stack([p0, p1])


def test_render_agr_sound_defaults():
    joints = _people()
    r = render_agr(joints, image_size=(960, 512), heatmap_size=(240, 128))
    hm, box = r['heatmaps'], r['box_map']
    assert r['agr'].shape == (21, 128, 240)
    assert r['reg_mask'].tolist() == [1.0, 0.0]
    # the depth/box targets are read where the root heatmap peaks
    root = hm[2]
    assert int(np.argmax(root)) == int(r['ind'][0]) and r['ind'][1] == 0
    cx, cy = _subpixel_peak(root)
    assert abs(cx - joints[0, 2, 0] / 4) < 1e-3 and abs(cy - joints[0, 2, 1] / 4) < 1e-3
    # box values at the root pixel, the off-canvas person is not painted
    y, x = divmod(int(r['ind'][0]), 240)
    assert np.allclose(box[:, y, x], r['wh'][0])
    x1 = joints[0, :, 0].min() - np.ptp(joints[0, :, 0]) * 0.25
    assert r['wh'][0, 0] == pytest.approx((joints[0, 2, 0] - x1) / 4, rel=1e-6)
    assert not box[:, :, :5].any()
    legacy = render_agr(joints, image_size=(960, 512), heatmap_size=(240, 128),
                        paint_offcanvas_roots=True, legacy_box_paint=True)
    assert legacy['box_map'][0, :, :5].any() and legacy['box_map'][0, :, :5].min() < 0


def test_root_target_3d():
    roots = np.array([[0.0, 0.0, 1000.0], [130.0, 40.0, 1000.0], [5000.0, 0.0, 1000.0]])
    t = render_root_target(roots, (4000, 4000, 2000), (0, 0, 1000), (21, 21, 11))
    axes = [np.linspace(-2000, 2000, 21), np.linspace(-2000, 2000, 21),
            np.linspace(0, 2000, 11)]
    assert t.dtype == np.float32 and t.shape == (21, 21, 11)
    assert t[10, 10, 5] == pytest.approx(1.0)
    # max-merge: a voxel nearer to the second root takes its value
    v = np.array([axes[0][11], axes[1][10], axes[2][5]])
    d2 = min(((v - r)**2).sum() for r in roots[:2])
    assert t[11, 10, 5] == pytest.approx(np.exp(-d2 / (2 * 200**2)), rel=1e-6)
    # 3σ box window (per axis): 800 mm away on x is outside, the far root contributes nothing
    assert t[14, 10, 5] == 0 and not t[18:].any()
    tt = render_root_target(torch.tensor(roots), (4000, 4000, 2000), (0, 0, 1000), (21, 21, 11))
    assert isinstance(tt, torch.Tensor) and np.array_equal(tt.numpy(), t)
