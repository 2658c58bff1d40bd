"""Unit tests of the shared voxel layers (projection, proposals, soft-argmax, targets)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.structures.targets import render_root_target
from virtualpose_mm.models.layers import (VoxelProjector, compute_sampling_grid,
                                          ProposalLayer, index_to_world, match_to_gt,
                                          nms_3d, refine_peaks, soft_argmax_3d,
                                          topk_peaks, voxel_grid)
from tools.analysis.voxelpose_synthetic import (letterbox_affine, look_at,
                                                render_heatmaps, ring_rig)

IMG = (640, 480)
INP = (320, 256)
HM = (80, 64)


def _rig(V=3, dist=(0.05, -0.02, 0.001, -0.002, 0.003)):
    cams = ring_rig(V, [0.0, 0.0, 900.0], radius=5000, image_size=IMG, focal=600.0, dist=dist)
    A = np.stack([letterbox_affine(IMG, INP)] * V)
    S = np.tile(np.asarray(IMG, float), (V, 1))
    return cams, A, S


def _batched(cams, A, S, B=1):
    c = Camera.stack([cams] * B).to_tensor(dtype=torch.float64)
    return c, torch.tensor(np.stack([A] * B)), torch.tensor(np.stack([S] * B))


def test_voxel_grid_order_and_ends():
    g = voxel_grid((2000, 1000, 500), (100, 200, 300), (5, 3, 2))
    assert g.shape == (30, 3)
    np.testing.assert_allclose(g[0].numpy(), [-900, -300, 50])
    np.testing.assert_allclose(g[-1].numpy(), [1100, 700, 550])
    # x slowest, z fastest
    np.testing.assert_allclose(g[1].numpy(), [-900, -300, 550])
    np.testing.assert_allclose(g[2].numpy(), [-900, 200, 50])
    # several centres at once
    gc = voxel_grid((2000, 1000, 500), torch.tensor([[0., 0, 0], [10, 20, 30]]), (5, 3, 2))
    assert gc.shape == (2, 30, 3)
    np.testing.assert_allclose((gc[1] - gc[0]).numpy(), np.tile([10, 20, 30], (30, 1)))


def test_projection_equals_independent_per_view_computation():
    """The batched projector against a straightforward per-view numpy/torch version."""
    cams, A, S = _rig()
    V = 3
    rng = np.random.default_rng(0)
    hm = torch.from_numpy(rng.random((2, V, 4, HM[1], HM[0])).astype(np.float32))
    pts = torch.from_numpy(rng.uniform([-2500, -2500, 0], [2500, 2500, 2000], (2, 500, 3)))
    c, At, St = _batched(cams, A, S, B=2)
    vol = VoxelProjector()(hm, pts, c, At, St, input_size=INP)
    assert vol.shape == (2, 4, 500)
    expect = np.zeros((2, 4, 500))
    for b in range(2):
        acc, cnt = np.zeros((4, 500)), np.zeros(500)
        for v in range(V):
            uv = cams[v].project(pts[b].numpy())
            z = cams[v].depth(pts[b].numpy())
            inside = (uv[:, 0] >= 0) & (uv[:, 1] >= 0) & (uv[:, 0] < IMG[0]) & \
                (uv[:, 1] < IMG[1]) & (z > 0)
            uv = np.clip(uv, -1, max(IMG))
            x = uv @ A[v, :, :2].T + A[v, :, 2]
            x = x * np.array(HM) / np.array(INP)
            n = np.clip(x / (np.array(HM) - 1) * 2 - 1, -1.1, 1.1)
            s = F.grid_sample(hm[b, v][None], torch.tensor(n, dtype=torch.float32)[None, None],
                              align_corners=True)[0, :, 0].double().numpy()
            acc += s * inside
            cnt += inside
        expect[b] = np.clip(acc / (cnt + 1e-6), 0, 1)
    np.testing.assert_allclose(vol.double().numpy(), expect, atol=1e-5)  # float32 grid


def test_projected_gaussian_peaks_are_found_in_3d():
    cams, A, S = _rig(V=4, dist=None)
    joints = np.array([[[300.0, -200.0, 1000.0], [-800.0, 600.0, 400.0]]])  # 1 person, 2 joints
    hm = torch.from_numpy(render_heatmaps(joints, cams, A, INP, HM, sigma=2.0))[None]
    c, At, St = _batched(cams, A, S)
    vol = VoxelProjector()(hm, torch.tensor(joints[0]), c, At, St, input_size=INP)
    # the joint's own channel is ~1 at the joint, the other channel much lower
    assert vol[0, 0, 0] > 0.9 and vol[0, 1, 1] > 0.9  # bilinear between pixel centres
    assert vol[0, 0, 1] < 0.05 and vol[0, 1, 0] < 0.05
    # 300 mm away the response drops
    off = torch.tensor(joints[0]) + torch.tensor([300.0, 0, 0])
    assert VoxelProjector()(hm, off, c, At, St, input_size=INP)[0, 0, 0] < 0.5


def test_inside_mask_averages_only_visible_views():
    cams, A, S = _rig(V=2, dist=None)
    hm = torch.zeros(1, 2, 1, HM[1], HM[0])
    hm[0, 0] = 0.2
    hm[0, 1] = 0.8
    c, At, St = _batched(cams, A, S)
    # a point visible in both views: mean 0.5; a point far away: visible in none -> 0
    pts = torch.tensor([[0.0, 0.0, 900.0], [1e6, 1e6, 0.0]])
    g = compute_sampling_grid(pts, c, At, St, HM, input_size=INP)
    assert g.inside[0, :, 0].all() and not g.inside[0, :, 1].any()
    vol = VoxelProjector()(hm, pts, c, At, St, input_size=INP)
    assert vol[0, 0, 0].item() == pytest.approx(0.5, abs=1e-5)
    assert vol[0, 0, 1].item() == 0.0
    # shrink view 1's image so the point is outside it: only view 0 counts
    St2 = St.clone()
    uv1 = cams[1].project(pts[:1].numpy())[0]
    St2[0, 1] = torch.tensor([uv1[0] - 1, IMG[1]])
    vol2 = VoxelProjector()(hm, pts, c, At, St2, input_size=INP)
    assert vol2[0, 0, 0].item() == pytest.approx(0.2, abs=1e-5)


def test_points_behind_the_camera():
    R, t = look_at([0, -5000, 1000], [0, 0, 1000])
    cam = Camera(R[None], t[None], [[500.0, 500.0]], [[320.0, 240.0]], image_size=[IMG])
    behind = torch.tensor([[0.0, -10000.0, 1000.0]])  # mirrored projection = image centre
    c = cam.to_tensor(dtype=torch.float64)
    c = Camera(**{k: getattr(c, k)[None] for k in ('R', 't', 'f', 'c', 'dist', 'image_size')},
               validate=False)
    A = torch.tensor([[[1.0, 0, 0], [0, 1, 0]]], dtype=torch.float64)[None]
    S = torch.tensor([[IMG]], dtype=torch.float64)
    sound = compute_sampling_grid(behind, c, A, S, IMG, exclude_behind_camera=True)
    ref = compute_sampling_grid(behind, c, A, S, IMG, exclude_behind_camera=False)
    assert not sound.inside.any() and ref.inside.all()


def test_whole_space_grid_cache():
    cams, A, S = _rig()
    rng = np.random.default_rng(1)
    hm = torch.from_numpy(rng.random((2, 3, 2, HM[1], HM[0])).astype(np.float32))
    c, At, St = _batched(cams, A, S, B=2)
    proj = VoxelProjector(cache_size=4)
    space = ((4000, 4000, 2000), (0, 0, 1000), (8, 8, 4))
    v1 = proj.project_space(hm, *space, c, At, St, input_size=INP)
    assert len(proj.cache) == 1 and proj.cache.misses == 2  # one rig, computed once
    v2 = proj.project_space(hm, *space, c, At, St, input_size=INP)
    assert proj.cache.hits == 2 and torch.equal(v1, v2)
    # the cached result equals a direct projection of the voxel centres
    direct = proj(hm, voxel_grid(*[space[i] for i in (0, 1, 2)]), c, At, St, input_size=INP)
    assert torch.equal(v1.flatten(2), direct)
    # another affine is another rig
    At2 = At.clone()
    At2[:, :, 0, 2] += 3
    proj.project_space(hm, *space, c, At2, St, input_size=INP)
    assert len(proj.cache) == 2


def test_project_space_through_the_fused_kernel_equals_the_pytorch_path(monkeypatch):
    # VoxelPose / VirtualPose volumes: the CPU kernel that samples and averages the views in
    # one pass (virtualpose_mm/ops/sample_views.py) against grid_sample + aggregate_views
    from virtualpose_mm.ops import sample_views_kernel_available
    if not sample_views_kernel_available():
        pytest.skip('the view-sampling kernel is not built on this machine')
    import virtualpose_mm.ops.sample_views as sv
    cams, A, S = _rig()
    rng = np.random.default_rng(4)
    hm = torch.from_numpy(rng.random((2, 3, 5, HM[1], HM[0])).astype(np.float32))
    c, At, St = _batched(cams, A, S, B=2)
    space = ((6000, 6000, 2000), (0, 0, 1000), (12, 12, 6))
    calls = []
    real = sv.sample_views_average
    monkeypatch.setattr(sv, 'sample_views_average', lambda *a: calls.append(1) or real(*a))
    fused = VoxelProjector().project_space(hm, *space, c, At, St, input_size=INP)
    monkeypatch.setenv('VPMM_FUSED_SAMPLING', '0')
    plain = VoxelProjector().project_space(hm, *space, c, At, St, input_size=INP)
    assert calls == [1]
    assert fused.shape == (2, 5, 12, 12, 6) and (fused > 0).float().mean() > 0.3
    assert (fused - plain).abs().max().item() <= 1e-6


def test_reference_and_float32_precision_agree_with_float64():
    cams, A, S = _rig()
    rng = np.random.default_rng(2)
    hm = torch.from_numpy(rng.random((1, 3, 2, HM[1], HM[0])).astype(np.float32))
    pts = torch.from_numpy(rng.uniform([-2000, -2000, 0], [2000, 2000, 2000], (1, 300, 3)))
    c, At, St = _batched(cams, A, S)
    ref = VoxelProjector(precision='float64')(hm, pts, c, At, St, input_size=INP)
    for p in ('float32', 'reference'):
        out = VoxelProjector(precision=p)(hm, pts, c, At, St, input_size=INP)
        assert (out - ref).abs().max() < 1e-4, p
    with pytest.raises(ValueError, match='precision'):
        VoxelProjector(precision='half')


def test_nms_topk_and_world_locations():
    vol = torch.zeros(1, 6, 6, 4)
    vol[0, 1, 1, 1] = 0.9
    vol[0, 1, 2, 1] = 0.8   # neighbour of the 0.9 peak: suppressed
    vol[0, 4, 4, 2] = 0.5
    vol[0, 0, 5, 3] = 0.7
    nms = nms_3d(vol)
    assert nms[0, 1, 2, 1] == 0 and nms[0, 1, 1, 1] == 0.9
    scores, idx = topk_peaks(vol, 3)
    np.testing.assert_allclose(scores[0].numpy(), [0.9, 0.7, 0.5])
    assert idx[0].tolist() == [[1, 1, 1], [0, 5, 3], [4, 4, 2]]
    loc = index_to_world(idx, (5000, 5000, 3000), (100, 0, 1500), (6, 6, 4))
    np.testing.assert_allclose(loc[0, 0].numpy(), [-1400, -1500, 1000])
    np.testing.assert_allclose(loc[0, 1].numpy(), [-2400, 2500, 3000])
    # the same positions as the voxel grid
    g = voxel_grid((5000, 5000, 3000), (100, 0, 1500), (6, 6, 4)).view(6, 6, 4, 3)
    np.testing.assert_allclose(loc[0, 2].numpy(), g[4, 4, 2].numpy())
    with pytest.raises(ValueError):
        nms_3d(vol, kernel=2)


def _quadratic_peak(shape, vertex, curvature=(1.0, 0.5, 2.0)):
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in shape],
                          indexing='ij')
    return 10.0 - sum(c * (a - v) ** 2 for a, v, c in zip(axes, vertex, curvature))


def test_refine_peaks_finds_the_vertex_between_voxels():
    # a peak that is quadratic along each axis: the parabola fit gives its exact vertex
    vol = _quadratic_peak((12, 9, 10), (5.3, 3.8, 6.45))[None].float()
    scores, idx = topk_peaks(vol, 1, kernel=5)
    assert idx[0, 0].tolist() == [5, 4, 6]
    ref = refine_peaks(vol, idx)
    np.testing.assert_allclose(ref[0, 0].numpy(), [5.3, 3.8, 6.45], atol=1e-4)
    # a Gaussian (σ one voxel): much nearer its centre than the voxel is
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in (12, 9, 10)],
                          indexing='ij')
    c = (5.3, 3.8, 6.45)
    g = torch.exp(-sum((a - v) ** 2 for a, v in zip(axes, c)) / 2)[None].float()
    ref = refine_peaks(g, topk_peaks(g, 1)[1])[0, 0].numpy()
    assert np.abs(ref - c).max() < 0.1 < np.abs(np.array([5, 4, 6]) - c).max()


def test_refine_peaks_keeps_the_voxel_where_the_fit_is_undefined():
    vol = torch.zeros(2, 6, 6, 4)
    vol[0, 0, 2, 1] = 1.0            # on the x = 0 face: no x neighbour below
    vol[0, 1, 2, 1] = 0.5            # (a larger one above must not move it along x)
    vol[0, 0, 2, 2] = 0.4            # y unchanged (symmetric), z pulled up by 0.4 vs 0
    idx = torch.tensor([[[0, 2, 1]], [[3, 3, 2]]])   # sample 1: a flat (all-zero) volume
    ref = refine_peaks(vol, idx)
    # z: f- = 0, f0 = 1, f+ = 0.4 → (0 − 0.4) / (2 (0 − 2 + 0.4)) = 0.125
    np.testing.assert_allclose(ref[0, 0].numpy(), [0.0, 2.0, 1.125], atol=1e-6)
    np.testing.assert_allclose(ref[1, 0].numpy(), [3.0, 3.0, 2.0])
    assert ref.dtype == torch.float32


def test_proposal_layer_subvoxel_option():
    size, center, shape = (5000., 4000., 2000.), (0., 0., 1000.), (12, 9, 10)
    vol = _quadratic_peak(shape, (5.3, 3.8, 6.45))[None].float()
    plain = ProposalLayer(size, center, shape, max_num=2, nms_kernel=5, threshold=0.0)
    sub = ProposalLayer(size, center, shape, max_num=2, nms_kernel=5, threshold=0.0,
                        subvoxel=True)
    p0, p1 = plain(vol), sub(vol)
    # scores and flags unchanged; the centre moves to the vertex, in mm
    assert torch.equal(p0[..., 3:], p1[..., 3:])
    want = index_to_world(torch.tensor([[5.3, 3.8, 6.45]]), size, center, shape)[0]
    np.testing.assert_allclose(p1[0, 0, :3].numpy(), want.numpy(), atol=0.5)
    np.testing.assert_allclose(p0[0, 0, :3].numpy(),
                               index_to_world(torch.tensor([5, 4, 6]), size, center,
                                              shape).numpy())
    assert (p1[0, 0, :3] - p0[0, 0, :3]).abs().max() > 100   # mm: it did move


def test_match_to_gt():
    centers = torch.tensor([[[0., 0, 0], [1000, 0, 0], [5000, 0, 0]],
                            [[0., 0, 0], [1, 1, 1], [2, 2, 2]]])
    gt = torch.tensor([[[900., 0, 0], [100, 0, 0]], [[0., 0, 0], [0, 0, 0]]])
    counts = torch.tensor([2, 0])
    m = match_to_gt(centers, gt, counts, max_dist=500)
    assert m.tolist() == [[1, 0, -1], [-1, -1, -1]]
    assert match_to_gt(centers, gt[:, :0], torch.tensor([0, 0])).eq(-1).all()
    # the padding row (index 1 of sample 0 if count were 1) is ignored
    assert match_to_gt(centers, gt, torch.tensor([1, 0]), 500)[0].tolist() == [-1, 0, -1]


def test_soft_argmax():
    grid = voxel_grid((2000, 2000, 2000), (100, 200, 300), (8, 8, 8))
    vol = torch.zeros(2, 3, 8, 8, 8)
    vol[0, 0, 2, 3, 4] = 1.0
    vol[1, 2, 7, 0, 5] = 1.0
    g = grid[None].expand(2, -1, -1)
    out = soft_argmax_3d(vol, g, beta=1000.0)
    np.testing.assert_allclose(out[0, 0].numpy(), grid.view(8, 8, 8, 3)[2, 3, 4].numpy(), atol=1e-3)
    np.testing.assert_allclose(out[1, 2].numpy(), grid.view(8, 8, 8, 3)[7, 0, 5].numpy(), atol=1e-3)
    # a flat volume gives the centre of the cube
    np.testing.assert_allclose(out[0, 1].numpy(), [100, 200, 300], atol=1e-3)
    # the reference float32 reduction and the shared-grid form agree
    rnd = torch.randn(2, 3, 8, 8, 8) * 0.05
    a = soft_argmax_3d(rnd, g, 100.0)
    b = soft_argmax_3d(rnd, g, 100.0, reference_reduction=True)
    c = soft_argmax_3d(rnd, grid, 100.0)
    assert (a - b).abs().max() < 1e-2 and torch.allclose(a, c)


def test_root_target_matches_formula():
    roots = np.array([[100.0, -200.0, 900.0], [2000.0, 1500.0, 1000.0]])
    size, center, shape = (6000, 6000, 2000), (0, 0, 1000), (31, 31, 11)
    t = render_root_target(torch.as_tensor(roots), size, center, shape, sigma=200.0)
    assert t.shape == shape and t.dtype == torch.float32
    g = voxel_grid(size, center, shape, dtype=torch.float64).view(*shape, 3)
    d0 = ((g - torch.tensor(roots[0])) ** 2).sum(-1)
    d1 = ((g - torch.tensor(roots[1])) ** 2).sum(-1)
    win0 = ((g - torch.tensor(roots[0])).abs() <= 600).all(-1)
    win1 = ((g - torch.tensor(roots[1])).abs() <= 600).all(-1)
    exp = torch.maximum(torch.exp(-d0 / 8e4) * win0, torch.exp(-d1 / 8e4) * win1)
    np.testing.assert_allclose(t.numpy(), exp.float().numpy(), atol=1e-7)
    assert (t[~(win0 | win1)] == 0).all()
    assert np.abs(render_root_target(np.zeros((0, 3)), size, center, shape)).sum() == 0


def test_root_target_matches_golden(shared_data):
    import glob
    files = sorted(glob.glob(str(shared_data / 'golden' / 'voxelpose' / '*_cpn*_prn*.pt')))
    if not files:
        pytest.skip('no VoxelPose model golden files')
    for f in files:
        d = torch.load(f, weights_only=True)
        mp, m = d['config']['MULTI_PERSON'], d['meta'][0]
        for b in range(len(m['num_person'])):
            n = int(m['num_person'][b])
            t = render_root_target(m['roots_3d'][b, :n], mp['SPACE_SIZE'],
                                   mp['SPACE_CENTER'], mp['INITIAL_CUBE_SIZE'])
            assert torch.equal(t, d['targets_3d'][b].float()), (f, b)


@pytest.mark.parametrize('exclude', [True, False])
def test_float32_linear_path_of_undistorted_cameras(exclude):
    """Undistorted cameras take the one-matrix-product float32 path: same visibility and
    the same aggregated volume as float64, also with points behind a camera."""
    cams, A, S = _rig(dist=(0, 0, 0, 0, 0))
    rng = np.random.default_rng(3)
    hm = torch.from_numpy(rng.random((2, 3, 2, HM[1], HM[0])).astype(np.float32))
    pts = torch.from_numpy(rng.uniform([-9000, -9000, 0], [9000, 9000, 2000], (2, 500, 3)))
    c, At, St = _batched(cams, A, S, B=2)
    g64 = compute_sampling_grid(pts, c, At, St, HM, input_size=INP,
                                exclude_behind_camera=exclude, return_depth=True)
    g32 = compute_sampling_grid(pts, c, At, St, HM, input_size=INP, precision='float32',
                                exclude_behind_camera=exclude, return_depth=True)
    assert g32.grid.dtype == torch.float32 and g32.grid.shape == g64.grid.shape
    assert torch.equal(g32.inside, g64.inside)
    assert bool(((g32.grid - g64.grid).abs().amax(-1) * g64.inside).max() < 1e-5)
    assert torch.allclose(g32.depth.double(), g64.depth, rtol=1e-5, atol=1e-2)
    if not exclude:
        assert bool((g64.depth < 0).any())  # some points are behind a camera
    ref = VoxelProjector(precision='float64', exclude_behind_camera=exclude)(
        hm, pts, c, At, St, input_size=INP)
    out = VoxelProjector(precision='float32', exclude_behind_camera=exclude)(
        hm, pts, c, At, St, input_size=INP)
    assert (out - ref).abs().max() < 1e-4
