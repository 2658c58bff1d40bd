"""The fused view-sampling kernel (virtualpose_mm/ops/sample_views.py) against the PyTorch
path ``aggregate_views(sample_views(...))`` and against hand-computed values."""
import pytest
import torch

from virtualpose_mm.models.layers import aggregate_views, sample_and_average, sample_views
from virtualpose_mm.ops import (can_fuse, sample_views_average,
                                sample_views_kernel_available,
                                sample_views_kernel_unavailable_reason)
from virtualpose_mm.ops._build import cpu_has_avx2

pytestmark = pytest.mark.skipif(not cpu_has_avx2(),
                                reason='the view-sampling kernel needs AVX2+FMA')


def test_kernel_builds_here():
    # every machine of this project has AVX2+FMA and a compiler: a build failure is a bug
    assert sample_views_kernel_available(), sample_views_kernel_unavailable_reason()


def _inputs(B, V, K, H, W, N, seed=0):
    g = torch.Generator().manual_seed(seed)
    hm = torch.rand(B, V, K, H, W, generator=g)
    # points inside, on the border and outside the heatmaps (grid_sample's zero padding)
    grid = (torch.rand(B, V, N, 2, generator=g) * 2.4 - 1.2).clamp(-1.1, 1.1)
    inside = torch.rand(B, V, N, generator=g) > 0.3
    return hm, grid, inside


@pytest.mark.parametrize('B,V,K,H,W,N', [
    (1, 5, 17, 38, 50, 5000),     # Shelf-like: 5 views, COCO joints
    (2, 3, 15, 16, 12, 777),      # batch 2, N not a multiple of the 64-point block
    (1, 1, 1, 7, 5, 64),          # one view, one joint, one block exactly
    (3, 4, 33, 9, 11, 1),         # K above a vector width, one point per sample
])
def test_matches_sample_then_average(B, V, K, H, W, N):
    hm, grid, inside = _inputs(B, V, K, H, W, N)
    ref = aggregate_views(sample_views(hm, grid), inside)
    out = sample_views_average(hm, grid, inside)
    assert out.shape == (B, K, N) and out.dtype == torch.float32
    # float32 rounding only (the kernel may fuse multiply-adds): values are in [0, 1]
    assert (out - ref).abs().max().item() <= 1e-6


def test_exact_values_at_pixels_corners_and_outside():
    # one 3x4 heatmap per view with known values; the grid hits a pixel centre, a corner
    # pixel, the middle of four pixels, half a pixel outside and wholly outside
    # (align_corners=True: grid -1 / +1 are the centres of the first / last pixels)
    V, K, H, W = 2, 2, 3, 4
    hm = torch.arange(V * K * H * W, dtype=torch.float32).view(1, V, K, H, W) / 100.0

    def norm(x, y):  # heatmap px -> grid_sample coordinates
        return [x / (W - 1) * 2 - 1, y / (H - 1) * 2 - 1]

    pts = [norm(0, 0), norm(3, 2), norm(1.5, 0.5), norm(-0.5, 1), norm(4.5, 1)]
    grid = torch.tensor([pts, pts], dtype=torch.float32)[None]           # (1, V, 5, 2)
    inside = torch.tensor([[[True] * 5, [True, False, True, True, False]]])
    out = sample_views_average(hm, grid, inside)[0]                      # (K, 5)
    for k in range(K):
        h = [hm[0, v, k] for v in range(V)]
        samples = [[float(x[0, 0]), float(x[2, 3]), float(x[0:2, 1:3].mean()),
                    0.5 * float(x[1, 0]), 0.0] for x in h]                # zero padding
        for j in range(5):
            seen = [v for v in range(V) if inside[0, v, j]]
            expect = sum(samples[v][j] for v in seen) / (len(seen) + 1e-6)
            assert out[k, j].item() == pytest.approx(expect, abs=1e-6), (k, j)


def test_no_view_sees_the_point_and_non_finite_heatmaps():
    hm, grid, inside = _inputs(1, 3, 4, 6, 6, 128, seed=3)
    inside[0, :, :10] = False                                    # no view: 0
    hm[0, 1, 2] = float('nan')                                   # view 1, joint 2: NaN
    hm[0, 2, 3] = float('inf')                                   # view 2, joint 3: +inf
    out = sample_views_average(hm, grid, inside)[0]
    assert torch.all(out[:, :10] == 0)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    ref = aggregate_views(sample_views(hm, grid), inside)[0]
    # documented difference: a view that does not see the point is skipped by the kernel
    # (the PyTorch path multiplies its NaN / inf sample by 0 and gets 0 for the point)
    sees1, sees2 = inside[0, 1], inside[0, 2]
    same2 = sees1 & (grid[0, 1].abs() < 0.9).all(-1)             # NaN seen: 0 on both
    assert torch.all(out[2, same2] == 0) and torch.all(ref[2, same2] == 0)
    others = (~sees1)[10:]
    assert others.any()
    j = 10 + int(torch.nonzero(others)[0])
    assert ref[2, j] == 0 and out[2, j] == pytest.approx(
        float(aggregate_views(sample_views(hm[:, [0, 2]], grid[:, [0, 2]]),
                              inside[:, [0, 2]])[0, 2, j]), abs=1e-6)
    seen_inf = sees2 & (grid[0, 2].abs() < 0.9).all(-1)          # +inf seen: 1 on both
    assert torch.all(out[3, seen_inf] == 1) and torch.all(ref[3, seen_inf] == 1)


def test_dispatch_rules(monkeypatch):
    hm, grid, inside = _inputs(1, 2, 3, 5, 5, 10)
    assert can_fuse(hm, grid)
    assert not can_fuse(hm.double(), grid)
    hm_req = hm.clone().requires_grad_()
    assert not can_fuse(hm_req, grid)                            # gradients wanted
    with torch.no_grad():
        assert can_fuse(hm_req, grid)
    monkeypatch.setenv('VPMM_FUSED_SAMPLING', '0')
    assert not can_fuse(hm, grid)
    # the PyTorch path then: the same numbers up to rounding, and gradients flow
    out = sample_and_average(hm_req, grid, inside)
    out.sum().backward()
    assert hm_req.grad is not None and hm_req.grad.abs().sum() > 0
