"""LiftingPoseRefiner (the one-view lifting refinement after VirtualPose's pose net) and its
place in VirtualPose: 2D joints read off the heatmaps, the geometry of its features, the
identity start, root-relative loss, training it alone."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import virtualpose_mm  # noqa: F401  (registers the models)
from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.models.heads.lifting_pose_refiner import (LiftingPoseRefiner,
                                                              heatmap_keypoints)
from virtualpose_mm.registry import MODELS
from virtualpose_mm.structures.heatmaps import render_gaussian_heatmaps

sys.path.insert(0, str(Path(__file__).parent))
import virtualpose_toy as T  # noqa: E402


def test_heatmap_keypoints_find_subpixel_peaks_near_the_guess():
    """The log-parabola step returns a Gaussian's sub-pixel centre from a guess up to
    ``search_radius`` px away, picks the person next to the guess when two are close,
    and keeps the guess (confidence 0) where the map is empty."""
    W, H = 40, 30
    true = np.array([[[10.3, 12.7], [25.6, 8.2], [30.0, 20.0]]])         # (1, 3, 2)
    hm = render_gaussian_heatmaps(true, (W, H), np.array([1.5]))          # (3, H, W)
    hm[2] = 0.0                                                           # joint 2 empty
    other = render_gaussian_heatmaps(np.array([[[17.0, 12.7]]]), (W, 1 * H), np.array([1.5]))
    hm[0] = np.maximum(hm[0], other[0])                 # a second person 6.7 px to the right
    heat = torch.from_numpy(hm)[None]
    guess = torch.tensor([[[12.6, 14.1], [22.9, 9.9], [29.4, 21.3]]], dtype=torch.float64)
    kpt, conf = heatmap_keypoints(heat, guess, search_radius=4)
    assert kpt[0, 0].tolist() == pytest.approx([10.3, 12.7], abs=0.06)
    assert kpt[0, 1].tolist() == pytest.approx([25.6, 8.2], abs=0.06)
    assert kpt[0, 2].tolist() == guess[0, 2].tolist() and conf[0, 2] == 0
    assert conf[0, 0] > 0.8 and conf[0, 1] > 0.8
    # a guess beyond the search window finds nothing of that joint
    far = guess.clone()
    far[0, 1] = torch.tensor([12.0, 25.0])
    kpt2, conf2 = heatmap_keypoints(heat, far, search_radius=4)
    assert conf2[0, 1] < 1e-3


def _tilted_camera(dist=None) -> Camera:
    """A camera 3 m up, pitched 25° down, looking along +y; optional distortion."""
    a = np.deg2rad(25.0)
    fwd = np.array([0.0, np.cos(a), -np.sin(a)])
    right = np.array([1.0, 0.0, 0.0])
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    return Camera.from_center(R, [300.0, -4500.0, 3000.0], [620.0, 600.0], [250.0, 131.0],
                              dist=dist, image_size=T.IMAGE_SIZE)


def _inputs(cam, people):
    """Heatmaps (B=1, K, H, W) rendered (sound, no noise) from the people's projections and
    the refiner's geometry inputs."""
    uv = cam.project(people.reshape(-1, 3)).reshape(*people.shape[:2], 2)
    canvas = uv @ T.AFFINE[:, :2].T + T.AFFINE[:, 2]
    hm_px = canvas * (T.HEATMAP_SIZE[0] / T.INPUT_SIZE[0])
    hm = render_gaussian_heatmaps(hm_px, T.HEATMAP_SIZE, np.full(len(people), 1.5))
    cams = Camera.stack([cam]).to_tensor(dtype=torch.float64)
    cams = Camera(**{k: (None if getattr(cams, k) is None else getattr(cams, k)[:, None])
                     for k in ('R', 't', 'f', 'c', 'dist', 'image_size')}, validate=False)
    affines = torch.as_tensor(T.AFFINE, dtype=torch.float64)[None, None]
    return torch.from_numpy(hm)[None].float(), cams, affines, hm_px


def _peak_search_by_definition(hm, guess, radius, batch_index, eps=1e-6):
    """heatmap_keypoints' integer peak and confidence, pixel by pixel over the whole map
    (a local maximum: ≥ its in-map 3 × 3 neighbours and > eps)."""
    H, W = hm.shape[-2:]
    s2 = max(radius / 2.0, 0.5) ** 2
    peaks = np.zeros(guess.shape[:2] + (2, ), np.int64)
    conf = np.zeros(guess.shape[:2])
    for p in range(guess.shape[0]):
        for k in range(guess.shape[1]):
            m = hm[batch_index[p], k]
            gx, gy = guess[p, k]
            cx, cy = int(np.round(gx)), int(np.round(gy))
            best, arg = 0.0, None
            for y in range(cy - radius, cy + radius + 1):      # row-major, first best wins
                for x in range(cx - radius, cx + radius + 1):
                    if not (0 <= x < W and 0 <= y < H) or m[y, x] <= eps:
                        continue
                    if m[y, x] < m[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].max():
                        continue
                    score = m[y, x] * np.exp(-((x - gx) ** 2 + (y - gy) ** 2) / (2 * s2))
                    if score > best:
                        best, arg = score, (x, y)
            if arg is not None:
                peaks[p, k], conf[p, k] = arg, m[arg[1], arg[0]]
    return peaks, conf


def test_heatmap_keypoints_peak_search_matches_its_definition_at_the_map_edges():
    # the search looks at a window around each guess only: the same peaks as the
    # definition over the whole map, guesses near and beyond the edges included
    g = torch.Generator().manual_seed(0)
    hm = torch.rand(3, 5, 20, 30, generator=g) ** 4
    hm = torch.nn.functional.avg_pool2d(hm, 3, 1, 1)
    hm[hm < 0.05] = 0
    batch_index = torch.randint(3, (9, ), generator=g)
    guess = torch.rand(9, 5, 2, generator=g) * torch.tensor([36.0, 26.0]) - 3.0
    kpt, conf = heatmap_keypoints(hm, guess, 3, batch_index=batch_index)
    peaks, conf_ref = _peak_search_by_definition(hm.double().numpy(), guess.double().numpy(),
                                                 3, batch_index.numpy())
    found = conf_ref > 0
    assert 0 < found.sum() < found.size               # found and empty windows both occur
    np.testing.assert_array_equal(conf.numpy() > 0, found)
    np.testing.assert_allclose(conf.numpy(), conf_ref, rtol=1e-6)
    # (the confidence is the value at the peak pixel); the sub-pixel step moves it by at
    # most half a pixel
    assert np.abs(kpt.double().numpy()[found] - peaks[found]).max() <= 0.5 + 1e-6
    np.testing.assert_array_equal(kpt.numpy()[~found], guess.numpy()[~found])


@pytest.mark.parametrize('dist', [None, [-0.12, 0.03, 0.001, -0.002, 0.0]])
def test_features_read_the_true_2d_joints_and_their_geometry(dist):
    """From a pose net that is 150 mm off in every joint, the 2D joints read off heatmaps
    rendered from the true pose are the true projections (within 0.1 heatmap px), and the
    lateral feature is each joint's true offset from the root's ray at the root's depth
    (the pose net's root depth); the up feature is the world's z in the camera frame."""
    cam = _tilted_camera(dist)
    people = np.stack([T.person((200.0, 600.0)), T.person((-1300.0, 1500.0))])
    heat, cams, affines, hm_px = _inputs(cam, people)
    rng = np.random.default_rng(0)
    off = rng.normal(0, 1, people.shape)
    pen = people + 150.0 * off / np.linalg.norm(off, axis=-1, keepdims=True)
    ref = LiftingPoseRefiner(hidden_channels=16)
    f = ref.features(torch.from_numpy(pen), torch.tensor([0, 0]), heat, cams, affines,
                     T.INPUT_SIZE)
    W, H = T.HEATMAP_SIZE      # joints within 1 px of the border have no sub-pixel step
    inner = (hm_px[..., 0] > 1) & (hm_px[..., 1] > 1) & (hm_px[..., 0] < W - 2) & \
        (hm_px[..., 1] < H - 2)
    assert inner.sum() >= 30
    assert f['keypoints_2d'].numpy()[inner] == pytest.approx(hm_px[inner], abs=0.1)
    assert f['keypoints_2d'].numpy() == pytest.approx(hm_px, abs=0.5)
    assert (f['confidence'] > 0.9).all()
    K = 17
    feats = f['features'].double().numpy()
    lateral = feats[:, :2 * K].reshape(2, K, 2) * 1000.0
    Xc_true = cam.world_to_camera(people)
    Xc_pen = cam.world_to_camera(pen)
    xy = Xc_true[..., :2] / Xc_true[..., 2:]
    want = (xy - xy[:, 2:3]) * Xc_pen[:, 2, 2][:, None, None]
    # 0.1 heatmap px of 2D error is ~ 0.1·8/600 of the depth: < 6 mm at 4.5 m
    assert lateral[inner] == pytest.approx(want[inner], abs=6.0)
    rel = feats[:, 2 * K:5 * K].reshape(2, K, 3) * 1000.0
    assert rel == pytest.approx(Xc_pen - Xc_pen[:, 2:3], abs=1e-2)
    up = feats[:, 6 * K:6 * K + 3]
    assert up == pytest.approx(np.broadcast_to(cam.R[:, 2], (2, 3)), abs=1e-6)


@pytest.mark.parametrize('refine_depth', [False, True])
def test_untrained_refiner_is_the_identity_and_the_root_keeps_its_ray(refine_depth):
    """Untrained: the pose net's poses come back. With random output weights every joint
    moves, but the root joint only along its camera ray (its pixel stays), and not at all
    without ``refine_depth``."""
    cam = _tilted_camera()
    people = np.stack([T.person((200.0, 600.0))])
    heat, cams, affines, _ = _inputs(cam, people)
    poses = torch.from_numpy(people).float()
    ref = LiftingPoseRefiner(hidden_channels=32, refine_depth=refine_depth).eval()
    ref.requires_grad_(False)
    out = ref(poses, torch.tensor([0]), heat, cams, affines, T.INPUT_SIZE)
    assert out['poses'].numpy() == pytest.approx(people, abs=1e-2)     # float32 world mm
    assert float(out['depth_scale']) == 1.0
    torch.nn.init.normal_(ref.output_layer.weight, std=0.1)
    torch.nn.init.normal_(ref.output_layer.bias, std=0.1)
    out = ref(poses, torch.tensor([0]), heat, cams, affines, T.INPUT_SIZE)
    moved = (out['poses'] - poses).norm(dim=-1)[0]
    assert (moved[torch.arange(17) != 2] > 1.0).all()
    root_px = cam.project(out['poses'][0, 2:3].double().numpy())
    assert root_px == pytest.approx(cam.project(people[0, 2:3]), abs=1e-3)
    s = float(out['depth_scale'])
    z_new, z_old = cam.depth(out['poses'][0, 2:3].double().numpy()), cam.depth(people[0, 2:3])
    assert float(z_new[0]) == pytest.approx(s * float(z_old[0]), rel=1e-5)
    if refine_depth:
        assert s != 1.0 and np.exp(-0.5) <= s <= np.exp(0.5)
    else:
        assert s == 1.0 and moved[2] < 1e-2
    # no people: empty outputs
    empty = ref(poses[:0], torch.zeros(0, dtype=torch.long), heat, cams, affines,
                T.INPUT_SIZE)
    assert empty['poses'].shape == (0, 17, 3)
    with pytest.raises(ValueError, match='poses must be'):
        ref(poses[:, :5], torch.tensor([0]), heat, cams, affines, T.INPUT_SIZE)


def test_loss_is_root_relative_plus_the_depth_error():
    ref = LiftingPoseRefiner(hidden_channels=8, refine_depth=False)
    gt = torch.from_numpy(np.stack([T.person((0.0, 0.0))])).float()
    pred = gt.clone()
    pred[:, 5] += torch.tensor([30.0, 40.0, 0.0])                 # one joint 50 mm off
    w = torch.ones(1, 17)
    base = ref.loss(pred, gt, w)
    assert float(base) == pytest.approx(50.0 / 17, rel=1e-5)     # MMPose MPJPELoss mean
    assert float(ref.loss(pred + 1000.0, gt, w)) == pytest.approx(float(base), rel=1e-5)
    w[0, 5] = 0
    assert float(ref.loss(pred, gt, w)) == pytest.approx(0.0, abs=1e-5)
    # with refine_depth: + |root depth error| (T.camera looks along +y: depth = y + 5000)
    ref = LiftingPoseRefiner(hidden_channels=8, depth_loss_weight=0.5)
    cams = Camera.stack([T.camera()])
    shifted = pred + torch.tensor([0.0, 300.0, 0.0])
    b = torch.tensor([0])
    assert float(ref.loss(shifted, gt, w, cams, b)) == pytest.approx(0.5 * 300.0, rel=1e-5)
    with pytest.raises(ValueError, match='needs the cameras'):
        ref.loss(shifted, gt, w)


def _four_people():
    """Seeded: the tilted camera, four standing people, their heatmaps and geometry
    inputs, and their camera-frame joints."""
    torch.manual_seed(0)
    cam = _tilted_camera()
    people = np.stack([T.person((x, y)) for x, y in
                       [(-1200.0, 300.0), (0.0, 800.0), (1100.0, 1500.0), (400.0, -200.0)]])
    heat, cams, affines, _ = _inputs(cam, people)
    return cam, people, heat, cams, affines, cam.world_to_camera(people)


def test_refiner_learns_a_systematic_pose_error():
    """A pose net whose every joint is 120 mm too far from the camera relative to its root
    (root exact): the refiner learns the correction from the features (root-relative
    error 120 → < 40 mm in 150 Adam steps)."""
    cam, people, heat, cams, affines, Xc = _four_people()
    Xc_bad = Xc.copy()
    Xc_bad[..., 2] += 120.0
    Xc_bad[:, 2] = Xc[:, 2]
    pen = torch.from_numpy(cam.camera_to_world(Xc_bad)).float()
    gt = torch.from_numpy(people).float()
    b = torch.zeros(len(people), dtype=torch.long)
    ref = LiftingPoseRefiner(hidden_channels=64, dropout=0.0, refine_depth=False)
    opt = torch.optim.Adam(ref.parameters(), lr=3e-3)
    w = torch.ones(len(people), 17)

    def err():
        out = ref(pen, b, heat, cams, affines, T.INPUT_SIZE)['poses']
        d = (out - out[:, 2:3]) - (gt - gt[:, 2:3])
        return float(d.norm(dim=-1)[:, torch.arange(17) != 2].mean())

    assert err() == pytest.approx(120.0, abs=1.0)
    for _ in range(150):
        loss = ref.loss(ref(pen, b, heat, cams, affines, T.INPUT_SIZE)['poses'], gt, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert err() < 40.0


def test_refiner_learns_a_systematic_depth_error():
    """People placed 12 % too far along their camera rays by the pose net (the same
    image, so the same heatmaps): the depth scale learns to bring them back (root depth
    error ~12 % → < 3 % in 150 Adam steps)."""
    cam, people, heat, cams, affines, Xc = _four_people()
    pen = torch.from_numpy(cam.camera_to_world(Xc * 1.12)).float()
    gt = torch.from_numpy(people).float()
    b = torch.zeros(len(people), dtype=torch.long)
    ref = LiftingPoseRefiner(hidden_channels=64, dropout=0.0)
    opt = torch.optim.Adam(ref.parameters(), lr=3e-3)
    w = torch.ones(len(people), 17)
    z_gt = Xc[:, 2, 2]

    def depth_err():
        out = ref(pen, b, heat, cams, affines, T.INPUT_SIZE)['poses'].detach().double().numpy()
        return float(np.mean(np.abs(cam.depth(out[:, 2]) / z_gt - 1)))

    assert depth_err() == pytest.approx(0.12, abs=1e-3)
    for _ in range(150):
        out = ref(pen, b, heat, cams, affines, T.INPUT_SIZE)['poses']
        loss = ref.loss(out, gt, w, cams, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert depth_err() < 0.03


def _refiner_model(**overrides):
    return MODELS.build(T.model_config(refiner=dict(type='LiftingPoseRefiner',
                                                    hidden_channels=32), **overrides))


def test_virtualpose_with_a_refiner_trains_it_alone_and_predicts_refined_poses():
    """``frozen=('root_net', 'pose_net')`` with a refiner: only ``loss_refine``, gradients
    only in the refiner, the frozen networks unchanged; ``predict`` returns the refiner's
    poses (which differ from the pose net's once it is trained); freezing every network
    is an error."""
    from test_virtualpose_model import _force_root_volume, _nearest_voxel
    torch.manual_seed(0)
    m = _refiner_model(frozen=('root_net', 'pose_net'))
    m.train()
    assert m.refiner.training and not m.pose_net.training and not m.root_net.training
    people = [np.stack([T.person((-800.0, 0.0)), T.person((700.0, 800.0))])]
    x, ds = T.batch(m, people)
    near = _nearest_voxel(m, people[0][0, 2])
    _force_root_volume(m, {near: 0.9}, people[0][0, 2])        # a matched proposal
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    # the frozen pose net runs without gradients, so with fast_eval its V2V takes the
    # inference copy in training too
    m.pose_net.fast_eval = True
    grad_on = []
    hook = m.pose_net.register_forward_hook(
        lambda *a: grad_on.append(torch.is_grad_enabled()))
    for _ in range(3):
        losses = m.loss(x, ds)
        assert set(losses) == {'loss_refine'} and float(losses['loss_refine']) > 0
        opt.zero_grad()
        losses['loss_refine'].backward()
        assert all(p.grad is not None for p in m.refiner.parameters())
        assert all(p.grad is None for n, p in m.named_parameters()
                   if not n.startswith('refiner.'))
        opt.step()
    hook.remove()
    assert grad_on == [False] * 3 and m.pose_net._fast_v2v._net is not None
    after = m.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items()
               if not k.startswith('refiner.'))
    m.eval()
    with torch.no_grad():
        res = m.run(x, meta=m.parse_meta(ds, 1))
    used = res['proposals'][..., 3] >= 0
    assert used.sum() == 1
    moved = (res['poses'][used] - res['unrefined_poses'][used]).norm(dim=-1)
    assert moved.max() > 1.0
    cam = T.camera()          # the root joint keeps its pixel
    assert cam.project(res['poses'][used][:, 2].double().numpy()) == pytest.approx(
        cam.project(res['unrefined_poses'][used][:, 2].double().numpy()), abs=1e-3)
    with torch.no_grad():
        out = m.predict(x, ds)
    assert out[0].pred_instances.keypoints == pytest.approx(res['poses'][used].numpy())
    with pytest.raises(ValueError, match='frozen'):
        _refiner_model(frozen=('root_net', 'pose_net', 'refiner'))
    with pytest.raises(ValueError, match='frozen'):
        MODELS.build(T.model_config(frozen=('refiner', )))     # no refiner to freeze


def test_virtualpose_refiner_state_dict_and_no_refiner_unchanged():
    """A refiner adds only ``refiner.*`` keys; without one the model is the same as before
    (same keys, same outputs)."""
    plain = MODELS.build(T.model_config()).eval()
    m = _refiner_model().eval()
    extra = set(m.state_dict()) - set(plain.state_dict())
    assert extra and all(k.startswith('refiner.') for k in extra)
    assert set(plain.state_dict()) <= set(m.state_dict())
    m.load_state_dict({**m.state_dict(), **plain.state_dict()})
    from test_virtualpose_model import _force_root_volume, _nearest_voxel
    people = np.stack([T.person((0.0, 0.0))])
    x, ds = T.batch(plain, [people], with_gt=False)
    near = _nearest_voxel(plain, people[0, 2])
    _force_root_volume(plain, {near: 0.9}, people[0, 2])
    _force_root_volume(m, {near: 0.9}, people[0, 2])
    with torch.no_grad():
        a = plain.run(x, meta=plain.parse_meta(ds, 1))
        b = m.run(x, meta=m.parse_meta(ds, 1))
    # the untrained refiner starts at the identity
    assert (a['proposals'][..., 3] >= 0).sum() == 1
    assert a['poses'].abs().max() > 100
    assert torch.allclose(a['poses'], b['poses'], atol=1e-2)


def test_depth_refiner_puts_the_refiners_poses_at_its_depth():
    """``depth_refiner``: in eval mode each refined pose keeps the refiner's root-relative
    pose and takes the depth refiner's root (on the same camera ray); in training it is
    frozen (eval mode, no gradients) and not run, and ``loss_refine`` is the refiner's;
    its weights are ``depth_refiner.*``; it needs a refiner."""
    from test_virtualpose_model import _force_root_volume, _nearest_voxel
    torch.manual_seed(0)
    kind = dict(type='LiftingPoseRefiner', hidden_channels=32, use_pose_net_pose=False,
                dropout=0.0)
    m = MODELS.build(T.model_config(frozen=('root_net', 'pose_net'), refiner=kind,
                                    depth_refiner=dict(kind, mask_unfound_joints=True)))
    extra = {k.split('.')[0] for k in m.state_dict()} - {'root_net', 'pose_net', 'refiner'}
    assert extra == {'depth_refiner'}
    for net in (m.refiner, m.depth_refiner):        # two different, non-identity refiners
        torch.nn.init.normal_(net.output_layer.weight, std=0.1)
    assert not any(p.requires_grad for p in m.depth_refiner.parameters())
    people = [np.stack([T.person((-800.0, 0.0)), T.person((700.0, 800.0))])]
    x, ds = T.batch(m, people)
    _force_root_volume(m, {_nearest_voxel(m, people[0][0, 2]): 0.9}, people[0][0, 2])
    calls = []
    m.depth_refiner.register_forward_hook(lambda *a: calls.append(1))
    m.train()
    assert m.refiner.training and not m.depth_refiner.training
    losses = m.loss(x, ds)
    assert set(losses) == {'loss_refine'} and not calls
    losses['loss_refine'].backward()
    assert all(p.grad is None for p in m.depth_refiner.parameters())
    m.eval()
    with torch.no_grad():
        res = m.run(x, meta=m.parse_meta(ds, 1))
        assert len(calls) == 1                                      # run in eval mode
        meta = res['meta']
        b_idx, m_idx = res['pair_index'].unbind(-1)
        args = (res['pair_poses'], b_idx, x[:, :, :m.num_joints], meta.cameras, meta.affines,
                meta.input_size)
        a = m.refiner(*args)['poses'].double().numpy()
        d = m.depth_refiner(*args)['poses'].double().numpy()
    assert len(a) == 1
    out = res['poses'][b_idx, m_idx].double().numpy()
    cam = T.camera()
    Xc = lambda P: cam.world_to_camera(P)                          # noqa: E731
    assert abs(Xc(a)[0, 2, 2] - Xc(d)[0, 2, 2]) > 5.0               # the depths differ
    assert out[:, 2] == pytest.approx(d[:, 2], abs=0.05)             # the depth refiner's root
    assert out - out[:, 2:3] == pytest.approx(a - a[:, 2:3], abs=0.05)   # the refiner's pose
    assert cam.project(d[:, 2]) == pytest.approx(cam.project(a[:, 2]), abs=1e-3)
    with torch.no_grad():
        pred = m.predict(x, ds)
    assert pred[0].pred_instances.keypoints == pytest.approx(out, abs=0.05)
    with pytest.raises(ValueError, match='depth_refiner needs a refiner'):
        MODELS.build(T.model_config(depth_refiner=kind))


def _gt_trained_model(**rti):
    return MODELS.build(T.model_config(
        frozen=('root_net', 'pose_net'),
        refiner=dict(type='LiftingPoseRefiner', hidden_channels=32, use_pose_net_pose=False),
        refiner_train_inputs=rti))


def test_refiner_trains_on_perturbed_gt_poses_without_the_two_nets():
    """``refiner_train_inputs``: the root and pose nets are not run; the refiner gets the
    GT poses, each person scaled about the camera centre by exp(N(0, depth_log_std²))
    (same pixels, other depths) and every joint moved by N(0, joint_std²); its loss is
    ``loss_refine`` and only the refiner gets gradients."""
    torch.manual_seed(0)
    m = _gt_trained_model(joint_std=0.0, depth_log_std=0.1)
    m.train()
    people = [np.stack([T.person((-800.0, 0.0)), T.person((700.0, 800.0))]),
              np.stack([T.person((0.0, -500.0))])]
    x, ds = T.batch(m, people)
    called, seen = [], []
    hooks = [m.root_net.register_forward_hook(lambda *a: called.append('root')),
             m.pose_net.register_forward_hook(lambda *a: called.append('pose')),
             m.refiner.register_forward_hook(lambda mod, args, out: seen.append(args))]
    losses = m.loss(x, ds)
    for h in hooks:
        h.remove()
    assert called == [] and set(losses) == {'loss_refine'}
    poses, b_idx = seen[0][0].double().numpy(), seen[0][1]
    assert b_idx.tolist() == [0, 0, 1]
    gt = np.concatenate(people)
    cam = T.camera()
    assert cam.project(poses.reshape(-1, 3)) == pytest.approx(
        cam.project(gt.reshape(-1, 3)), abs=1e-3)                        # same pixels
    ratio = cam.depth(poses.reshape(-1, 3)) / cam.depth(gt.reshape(-1, 3))
    ratio = ratio.reshape(3, 17)
    assert np.ptp(ratio, axis=1) == pytest.approx(0.0, abs=1e-4)       # one scale a person
    assert np.abs(np.log(ratio[:, 0])).max() > 1e-3
    # the loss is the refiner's on those inputs
    m.refiner.eval()                      # dropout off: the same numbers
    with torch.no_grad():
        torch.manual_seed(1)
        a = m.loss(x, ds)['loss_refine']
        torch.manual_seed(1)
        captured = []
        h = m.refiner.register_forward_hook(lambda mod, args, out: captured.append(args))
        b = m.loss(x, ds)['loss_refine']
        h.remove()
        again = m.refiner(captured[0][0], b_idx, x[:, :, :17], *captured[0][3:])
        ref_loss = m.refiner.loss(again['poses'], torch.from_numpy(gt).float(),
                                  torch.ones(3, 17), captured[0][3], b_idx)
    assert float(a) == pytest.approx(float(b)) == pytest.approx(float(ref_loss), rel=1e-6)
    assert float(a) > 10.0
    m.refiner.train()
    m.zero_grad()
    m.loss(x, ds)['loss_refine'].backward()
    assert all(p.grad is not None for p in m.refiner.parameters())
    assert all(p.grad is None for n, p in m.named_parameters() if not n.startswith('refiner.'))
    # joint noise: the joints move independently
    m2 = _gt_trained_model(joint_std=50.0, depth_log_std=0.0)
    m2.load_state_dict(m.state_dict())
    seen.clear()
    h = m2.refiner.register_forward_hook(lambda mod, args, out: seen.append(args))
    m2.train()
    m2.loss(x, ds)
    h.remove()
    d = seen[0][0].double().numpy() - gt
    assert 30.0 < d.std() < 70.0
    # outliers: every person's depth scaled by exp(N(0, 0.3²)), not 0.001²
    m3 = _gt_trained_model(depth_log_std=0.001, outlier_prob=1.0, outlier_log_std=0.3)
    m3.load_state_dict(m.state_dict())
    m3.train()
    logs = []
    h = m3.refiner.register_forward_hook(lambda mod, args, out: logs.append(
        np.log(cam.depth(args[0][:, 2].double().numpy()) / cam.depth(gt[:, 2]))))
    for _ in range(30):
        m3.loss(x, ds)
    h.remove()
    assert 0.2 < np.concatenate(logs).std() < 0.4


def test_refiner_train_inputs_are_checked():
    with pytest.raises(ValueError, match='use_pose_net_pose=False'):
        MODELS.build(T.model_config(frozen=('root_net', 'pose_net'),
                                    refiner=dict(type='LiftingPoseRefiner', hidden_channels=8),
                                    refiner_train_inputs=dict(joint_std=1.0)))
    with pytest.raises(ValueError, match="frozen must be"):
        MODELS.build(T.model_config(
            frozen=('root_net', ),
            refiner=dict(type='LiftingPoseRefiner', hidden_channels=8, use_pose_net_pose=False),
            refiner_train_inputs=dict(joint_std=1.0)))
    with pytest.raises(ValueError, match='unknown refiner_train_inputs keys'):
        _gt_trained_model(joint_sd=1.0)
    with pytest.raises(ValueError, match='≥ 0'):
        _gt_trained_model(joint_std=-1.0)
    with pytest.raises(ValueError, match='outlier_prob must lie'):
        _gt_trained_model(outlier_prob=1.5)


def _two_people_and_a_random_refiner(pen_std, **kwargs):
    """Two people, their heatmaps, pose-net poses ``pen_std`` mm off per axis (float32) and
    an eval-mode lifting refiner (``use_pose_net_pose=False``) with random output weights."""
    torch.manual_seed(0)
    cam = _tilted_camera()
    people = np.stack([T.person((200.0, 600.0)), T.person((-900.0, 1400.0))])
    heat, cams, affines, _ = _inputs(cam, people)
    pen = people + np.random.default_rng(1).normal(0, pen_std, people.shape)
    ref = LiftingPoseRefiner(hidden_channels=32, use_pose_net_pose=False, dropout=0.0,
                             **kwargs)
    torch.nn.init.normal_(ref.output_layer.weight, std=0.1)
    ref.eval().requires_grad_(False)
    return cam, torch.from_numpy(pen).float(), ref, (torch.tensor([0, 0]), heat, cams,
                                                     affines, T.INPUT_SIZE)


def test_test_time_blend_with_the_pose_net():
    """``pose_net_weight`` / ``depth_weight`` (eval mode only): 1 / 0 give the pose net's
    poses back, 0 / 1 the refiner's, 0.5 / 0.5 the mean root-relative pose and the square
    root of the depth scale; training ignores them."""
    cam, pen, ref, args = _two_people_and_a_random_refiner(60.0)
    b, heat, cams, affines, _ = args

    def run(w_pose, w_depth):
        ref.pose_net_weight, ref.depth_weight = w_pose, w_depth
        out = ref(pen, b, heat, cams, affines, T.INPUT_SIZE)
        return out['poses'].double().numpy(), out['depth_scale'].double().numpy()

    alone, s = run(0.0, 1.0)
    assert np.abs(np.log(s)).min() > 1e-3
    back, s1 = run(1.0, 0.0)
    assert back == pytest.approx(pen.double().numpy(), abs=1e-2) and s1 == pytest.approx(1.0)
    half, s_half = run(0.5, 0.5)
    assert s_half == pytest.approx(np.sqrt(s), rel=1e-5)
    Xc = lambda P: cam.world_to_camera(P)                       # noqa: E731
    rel = lambda P: Xc(P) - Xc(P)[:, 2:3]                        # noqa: E731
    assert rel(half) == pytest.approx(0.5 * (rel(alone) + rel(pen.double().numpy())),
                                      abs=1e-2)
    ref.train()
    ref.pose_net_weight, ref.depth_weight = 1.0, 0.0
    trained = ref(pen, b, heat, cams, affines, T.INPUT_SIZE)['poses'].double().numpy()
    assert trained == pytest.approx(alone, abs=1e-3)
    with pytest.raises(ValueError, match='must lie'):
        LiftingPoseRefiner(pose_net_weight=1.5)


@pytest.mark.parametrize('use_pose_net_pose', [False, True])
def test_flip_test_is_mirror_equivariant(use_pose_net_pose):
    """``flip_test``: the mirrored features negate every camera-x component (lateral
    offsets, pose-net pose, up axis, root ray) and swap left and right joints; mirroring
    is an involution, so the flip-tested output of a person and that of its mirrored
    features are mirror images of each other."""
    from virtualpose_mm.datasets.joint_sets import get_joint_set
    torch.manual_seed(0)
    idx = get_joint_set('virtualpose17').flip_indices()
    assert idx != list(range(17))
    ref = LiftingPoseRefiner(hidden_channels=32, use_pose_net_pose=use_pose_net_pose,
                             flip_test=True, dropout=0.0)
    torch.nn.init.normal_(ref.output_layer.weight, std=0.1)
    ref.eval()
    K = 17
    feats = torch.randn(5, (6 if use_pose_net_pose else 3) * K + 6)
    mirrored = ref._mirror_features(feats)
    assert torch.equal(ref._mirror_features(mirrored), feats)          # an involution
    lateral = feats[:, :2 * K].view(5, K, 2)
    m_lat = mirrored[:, :2 * K].view(5, K, 2)
    assert torch.equal(m_lat[:, :, 0], -lateral[:, idx, 0])
    assert torch.equal(m_lat[:, :, 1], lateral[:, idx, 1])
    if use_pose_net_pose:
        rel, m_rel = feats[:, 2 * K:5 * K].view(5, K, 3), mirrored[:, 2 * K:5 * K].view(5, K, 3)
        assert torch.equal(m_rel, rel[:, idx] * torch.tensor([-1., 1, 1]))
    conf_at = (5 if use_pose_net_pose else 2) * K
    assert torch.equal(mirrored[:, conf_at:conf_at + K], feats[:, conf_at:conf_at + K][:, idx])
    tail = feats[:, -6:]
    assert torch.equal(mirrored[:, -6:], tail * torch.tensor([-1., 1, 1, -1, 1, 1]))
    with torch.no_grad():
        out = ref.mlp(feats)
        both = 0.5 * (out + ref._mirror_output(ref.mlp(mirrored)))
        both_m = 0.5 * (ref.mlp(mirrored) + ref._mirror_output(out))
    assert torch.allclose(ref._mirror_output(both), both_m, atol=1e-6)
    assert not torch.allclose(both, out, atol=1e-4)
    with pytest.raises(ValueError, match='joints, the refiner'):
        LiftingPoseRefiner(num_joints=15, flip_test=True)


def test_flip_test_runs_in_eval_only():
    cam = _tilted_camera()
    people = np.stack([T.person((200.0, 600.0))])
    heat, cams, affines, _ = _inputs(cam, people)
    poses = torch.from_numpy(people).float()
    ref = LiftingPoseRefiner(hidden_channels=32, use_pose_net_pose=False, dropout=0.0)
    torch.nn.init.normal_(ref.output_layer.weight, std=0.1)
    ref.requires_grad_(False)
    flip = LiftingPoseRefiner(hidden_channels=32, use_pose_net_pose=False, dropout=0.0,
                              flip_test=True)
    flip.load_state_dict(ref.state_dict())
    flip.requires_grad_(False)
    args = (poses, torch.tensor([0]), heat, cams, affines, T.INPUT_SIZE)
    assert torch.equal(ref.train()(*args)['poses'], flip.train()(*args)['poses'])
    assert not torch.allclose(ref.eval()(*args)['poses'], flip.eval()(*args)['poses'])


def test_peak_heatmaps_read_as_the_rendered_maps():
    """PeakHeatmaps gives, in every window the refiner reads, the values the renderer
    paints (people overlapping, Gaussians cut at the map's edges and at 3σ, amplitudes
    clipped to 1, non-finite joints and padding rows ignored), so heatmap_keypoints finds
    the same joints on either."""
    from virtualpose_mm.models.heads import PeakHeatmaps
    from virtualpose_mm.models.heads.lifting_pose_refiner import gather_windows
    rng = np.random.RandomState(0)
    W, H, K = 40, 24, 5
    counts = [3, 1]
    peaks = np.zeros((2, 3, K, 4))
    maps = []
    for b, n in enumerate(counts):
        c = rng.uniform([-4, -4], [W + 4, H + 4], (n, K, 2))
        c[0, 1] = c[0, 0] + [1.5, 0.5]                 # overlapping Gaussians
        sig = rng.uniform(1.0, 4.0, n)
        amp = rng.uniform(0.6, 1.3, (n, K))            # some over 1: clipped
        if b == 0:
            c[1, 2] = np.nan                           # a joint that is not drawn
        peaks[b, :n] = np.concatenate([c, np.broadcast_to(sig[:, None, None], (n, K, 1)),
                                       amp[..., None]], -1)
        peaks[b, n:] = [W / 2, H / 2, 3.0, 1.0]        # padding rows: must not count
        maps.append(render_gaussian_heatmaps(c, (W, H), sig, amplitudes=amp))
    hm = torch.from_numpy(np.stack(maps))
    assert hm.max() == 1.0
    ph = PeakHeatmaps(torch.from_numpy(peaks), torch.tensor(counts), (W, H))
    assert tuple(ph.shape) == (2, K, H, W)
    g = torch.Generator().manual_seed(1)
    batch_index = torch.tensor([0, 0, 0, 1, 1, 0, 1])
    guess = torch.rand(7, K, 2, generator=g) * torch.tensor([W + 8.0, H + 8.0]) - 4.0
    for radius in (0, 1, 5):
        a = gather_windows(hm, batch_index, guess.round().long(), radius)
        b = gather_windows(ph, batch_index, guess.round().long(), radius)
        assert a[0].max() > 0.3
        torch.testing.assert_close(b[0], a[0], rtol=0, atol=1e-7)
        assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    # the joints near the guesses of the people drawn
    guess = torch.from_numpy(np.nan_to_num(peaks[[0, 0, 0, 1], [0, 1, 2, 0], :, :2])
                             ).float() + 1.3
    batch_index = torch.tensor([0, 0, 0, 1])
    ka, ca = heatmap_keypoints(hm, guess, 4, batch_index=batch_index)
    kb, cb = heatmap_keypoints(ph, guess, 4, batch_index=batch_index)
    assert (ca > 0.5).sum() > 10
    torch.testing.assert_close(kb, ka, rtol=0, atol=1e-5)
    torch.testing.assert_close(cb, ca, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match=r'\(B, G, K, 4\)'):
        PeakHeatmaps(torch.zeros(2, 3, K), torch.tensor(counts), (W, H))


def _noisy_frame(people_3d, seed, mode):
    from virtualpose_mm.datasets.transforms import (GenerateVirtualPoseAGR,
                                                    PackVirtualPoseInputs)
    r = dict(camera=T.camera(), image_size=np.asarray(T.IMAGE_SIZE, np.float64),
             gt_keypoints_3d=people_3d, gt_keypoints_3d_visible=np.ones(people_3d.shape[:2]),
             random_seed=seed)
    r = GenerateVirtualPoseAGR(input_size=T.INPUT_SIZE, heatmap_size=T.HEATMAP_SIZE,
                               noise=True, heatmap_mode=mode)(r)
    out = PackVirtualPoseInputs()(r)
    return out['inputs'], out['data_samples']


def test_refiner_trains_on_heatmap_peaks_as_on_the_rendered_agr():
    """``refiner_train_inputs.heatmap_peaks``: the refiner reads the AGR's Gaussians
    (``GenerateVirtualPoseAGR(heatmap_mode='peaks')``) instead of the rendered heatmaps:
    the same loss on the same frames and random numbers."""
    people = [np.stack([T.person((-800.0, 0.0)), T.person((-500.0, 300.0)),
                        T.person((700.0, 800.0))]),
              np.stack([T.person((0.0, -500.0))])]
    m = _gt_trained_model(joint_std=40.0, depth_log_std=0.1)
    mp = _gt_trained_model(joint_std=40.0, depth_log_std=0.1, heatmap_peaks=True)
    torch.manual_seed(0)
    for p in m.refiner.output_layer.parameters():       # not the identity
        torch.nn.init.normal_(p, std=0.05)
    mp.load_state_dict(m.state_dict())
    losses = []
    for model, mode in ((m, 'render'), (mp, 'peaks')):
        frames = [_noisy_frame(p, 100 + i, mode) for i, p in enumerate(people)]
        data = model.data_preprocessor(dict(inputs=[f[0] for f in frames],
                                            data_samples=[f[1] for f in frames]))
        model.train()
        model.refiner.eval()                              # dropout off
        torch.manual_seed(3)
        losses.append(model.loss(data['inputs'], data['data_samples'])['loss_refine'])
    assert float(losses[0]) > 10.0
    assert float(losses[1]) == pytest.approx(float(losses[0]), rel=1e-6)
    # the rendered maps are not read: the loss needs the peaks
    x, ds = T.batch(mp, people)
    with pytest.raises(ValueError, match="agr_peaks.*heatmap_mode='peaks'"):
        mp.loss(x, ds)


def test_read_passes_read_the_heatmaps_near_the_previous_pass():
    """``read_passes`` (eval mode only): pass 2 reads the heatmaps near pass 1's blended
    pose put on the pose net's root (no depth scale), lifts them, and blends the result
    with the pose net's own pose (not pass 1's); its depth scale is the one returned.
    Checked against two single-pass calls; training makes one pass."""
    cam, pen, ref, args = _two_people_and_a_random_refiner(80.0, pose_net_weight=0.3,
                                                           depth_weight=0.5)
    torch.nn.init.normal_(ref.output_layer.bias, std=0.05)
    Xc = lambda P: cam.world_to_camera(P.double().numpy())       # noqa: E731
    r = 2
    one = ref(pen, *args)
    x1 = Xc(one['poses'])
    # pass 1's pose on the pose net's root, unscaled: pass 2's guesses
    guess_c = Xc(pen)[:, r:r + 1] + (x1 - x1[:, r:r + 1])
    guess = torch.from_numpy(cam.camera_to_world(guess_c)).float()
    ref.pose_net_weight = 0.0
    lifted = ref(guess, *args)                   # pass 2 alone, unblended
    x2 = Xc(lifted['poses'])
    ref.pose_net_weight, ref.read_passes = 0.3, 2
    two = ref(pen, *args)
    assert float((two['poses'] - one['poses']).abs().max()) > 1.0     # pass 2 differs
    s2 = lifted['depth_scale'].double().numpy()[:, None, None]
    assert two['depth_scale'].double().numpy() == pytest.approx(s2[:, 0, 0], rel=1e-5)
    root = Xc(pen)[:, r:r + 1]
    want = s2 * root + 0.3 * (Xc(pen) - root) + 0.7 * (x2 - x2[:, r:r + 1])
    assert Xc(two['poses']) == pytest.approx(want, abs=0.05)          # float32 world mm
    assert two['keypoints_2d'].numpy() == pytest.approx(lifted['keypoints_2d'].numpy(), abs=1e-3)
    ref.train()
    ref.read_passes = 1
    single = ref(pen, *args)['poses']
    ref.read_passes = 3
    assert torch.equal(ref(pen, *args)['poses'], single)
    with pytest.raises(ValueError, match='read_passes must be'):
        LiftingPoseRefiner(read_passes=0)
    with pytest.raises(ValueError, match='needs use_pose_net_pose=False'):
        LiftingPoseRefiner(read_passes=2, use_pose_net_pose=True)


def test_mask_unfound_joints_zeroes_their_lateral_offsets():
    """``mask_unfound_joints``: a joint with no peak in its search window (guessed far from
    its peak, or off the heatmaps) gets a zero lateral feature; every other feature is the
    unmasked refiner's."""
    cam = _tilted_camera()
    people = np.stack([T.person((200.0, 600.0))])
    heat, cams, affines, hm_px = _inputs(cam, people)
    pen = people.copy()
    pen[0, 9] += (900.0, 0.0, 0.0)          # a wrist guessed ~0.9 m off: no peak near it
    W, H = T.HEATMAP_SIZE
    args = (torch.from_numpy(pen), torch.tensor([0]), heat, cams, affines, T.INPUT_SIZE)
    plain = LiftingPoseRefiner(hidden_channels=16, use_pose_net_pose=False).features(*args)
    masked = LiftingPoseRefiner(hidden_channels=16, use_pose_net_pose=False,
                                mask_unfound_joints=True).features(*args)
    conf = plain['confidence'][0]
    assert float(conf[9]) == 0.0
    unfound = (conf == 0).numpy()
    assert unfound.sum() < 17 and (conf[~torch.from_numpy(unfound)] > 0.9).all()
    K = 17
    lat_p = plain['features'][0, :2 * K].view(K, 2)
    lat_m = masked['features'][0, :2 * K].view(K, 2)
    assert (lat_p[9].abs() > 0.1).any() and torch.equal(lat_m[9], torch.zeros(2))
    assert torch.equal(lat_m[~torch.from_numpy(unfound)], lat_p[~torch.from_numpy(unfound)])
    assert torch.equal(masked['features'][:, 2 * K:], plain['features'][:, 2 * K:])
    assert torch.equal(masked['lateral'][0, 9], torch.zeros(2, dtype=torch.float64))


def test_test_search_radius_is_the_eval_mode_window():
    """``test_search_radius`` replaces ``search_radius`` in eval mode only: a wrist guessed
    ~6 heatmap px from its peak is found with a 7 px window and not with a 4 px one."""
    cam = _tilted_camera()
    people = np.stack([T.person((200.0, 600.0))])
    heat, cams, affines, hm_px = _inputs(cam, people)
    scale = T.HEATMAP_SIZE[0] / T.INPUT_SIZE[0]
    pen = people.copy()
    for _ in range(50):              # move the wrist sideways until it projects ~6 px off
        uv = cam.project(pen[0, 9:10]) @ T.AFFINE[:, :2].T + T.AFFINE[:, 2]
        if np.linalg.norm(uv[0] * scale - hm_px[0, 9]) >= 6.0:
            break
        pen[0, 9, 0] += 20.0
    guess_px = (cam.project(pen[0]) @ T.AFFINE[:, :2].T + T.AFFINE[:, 2]) * scale
    assert 6.0 <= np.linalg.norm(guess_px[9] - hm_px[0, 9]) < 6.5
    ref = LiftingPoseRefiner(hidden_channels=16, use_pose_net_pose=False, search_radius=4,
                             test_search_radius=7)
    args = (torch.from_numpy(pen), torch.tensor([0]), heat, cams, affines, T.INPUT_SIZE)
    for mode, radius in ((ref.train, 4), (ref.eval, 7)):
        mode()
        f = ref.features(*args)
        want, conf = heatmap_keypoints(heat, torch.from_numpy(guess_px)[None], radius)
        assert f['keypoints_2d'].numpy() == pytest.approx(want.numpy(), abs=1e-6)
        assert (float(f['confidence'][0, 9]) > 0.5) == (radius == 7)
    with pytest.raises(ValueError, match='test_search_radius must be'):
        LiftingPoseRefiner(test_search_radius=-1)


def _exclusive_by_definition(hm, guess, radius, batch_index, eps=1e-6, max_rounds=16):
    """heatmap_keypoints(exclusive=True)'s integer peak and confidence by its definition:
    per (item, joint) the candidate peaks of :func:`_peak_search_by_definition`'s window
    with their scores; in rounds each picks its best remaining candidate, and of the items
    that picked one peak (sample, joint, pixel) the highest score (the first item on a tie)
    keeps it, the others drop it."""
    H, W = hm.shape[-2:]
    s2 = max(radius / 2.0, 0.5) ** 2
    P, K = guess.shape[:2]
    cands = [[{} for _ in range(K)] for _ in range(P)]
    for p in range(P):
        for k in range(K):
            m = hm[batch_index[p], k]
            gx, gy = guess[p, k]
            cx, cy = int(np.round(gx)), int(np.round(gy))
            for y in range(cy - radius, cy + radius + 1):
                for x in range(cx - radius, cx + radius + 1):
                    if not (0 <= x < W and 0 <= y < H) or m[y, x] <= eps:
                        continue
                    if m[y, x] < m[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].max():
                        continue
                    cands[p][k][(x, y)] = m[y, x] * np.exp(
                        -((x - gx) ** 2 + (y - gy) ** 2) / (2 * s2))

    def pick(p, k):          # the best remaining candidate (the first in row-major on a tie)
        c = cands[p][k]
        if not c:
            return None
        best = max(c.values())
        return min((xy for xy, v in c.items() if v == best), key=lambda xy: (xy[1], xy[0]))

    for _ in range(max_rounds):
        claims = {}
        for p in range(P):
            for k in range(K):
                xy = pick(p, k)
                if xy is not None:
                    claims.setdefault((batch_index[p], k, xy), []).append(p)
        lost = [(p, k, xy) for (b, k, xy), ps in claims.items() for p in ps
                if p != max(ps, key=lambda q: (cands[q][k][xy], -q))]
        if not lost:
            break
        for p, k, xy in lost:
            del cands[p][k][xy]
    peaks = np.zeros((P, K, 2), np.int64)
    conf = np.zeros((P, K))
    for p in range(P):
        for k in range(K):
            xy = pick(p, k)
            if xy is not None:
                peaks[p, k], conf[p, k] = xy, hm[batch_index[p], k][xy[1], xy[0]]
    return peaks, conf


def test_exclusive_peaks_match_their_definition():
    """``heatmap_keypoints(exclusive=True)`` on random maps with crowded guesses (several
    items per sample competing for the same peaks) gives the peaks of its definition, and
    no two items of a sample share a joint's peak."""
    g = torch.Generator().manual_seed(1)
    hm = torch.rand(2, 4, 16, 20, generator=g) ** 4
    hm = torch.nn.functional.avg_pool2d(hm, 3, 1, 1)
    hm[hm < 0.05] = 0
    batch_index = torch.tensor([0, 0, 0, 0, 1, 1, 1, 0, 1])
    centre = torch.rand(1, 4, 2, generator=g) * torch.tensor([12.0, 8.0]) + 4.0
    guess = centre + torch.randn(9, 4, 2, generator=g) * 1.5         # all near each other
    kpt, conf = heatmap_keypoints(hm, guess, 3, batch_index=batch_index, exclusive=True)
    peaks, conf_ref = _exclusive_by_definition(hm.double().numpy(), guess.double().numpy(),
                                               3, batch_index.numpy())
    found = conf_ref > 0
    np.testing.assert_array_equal(conf.numpy() > 0, found)
    np.testing.assert_allclose(conf.numpy(), conf_ref, rtol=1e-6)
    assert np.abs(kpt.double().numpy()[found] - peaks[found]).max() <= 0.5 + 1e-6
    np.testing.assert_array_equal(kpt.numpy()[~found], guess.numpy()[~found])
    # exclusive: no two items of a sample on one joint's peak; and it made a difference
    for b in (0, 1):
        for k in range(4):
            got = [tuple(peaks[p, k]) for p in np.nonzero(batch_index.numpy() == b)[0]
                   if found[p, k]]
            assert len(got) == len(set(got))
    _, conf_shared = heatmap_keypoints(hm, guess, 3, batch_index=batch_index)
    assert (conf_shared.numpy() > 0).sum() > found.sum()


def test_exclusive_peaks_give_an_overlapped_joint_to_the_nearest_guess():
    """Two people's wrists 4 px apart, both guessed next to the first one's: one at a
    time both read the first wrist; with exclusive peaks the first keeps it and the second
    reads its own wrist. In different samples they do not compete."""
    W, H = 30, 20
    hm = render_gaussian_heatmaps(np.array([[[10.2, 8.6]], [[14.2, 8.6]]]), (W, H),
                                  np.array([1.5, 1.5]))
    heat = torch.from_numpy(hm)[None]                                      # (1, 1, H, W)
    guess = torch.tensor([[[10.0, 9.0]], [[11.5, 9.0]]], dtype=torch.float64)
    b = torch.tensor([0, 0])
    kpt, conf = heatmap_keypoints(heat, guess, 4, batch_index=b)
    assert kpt[:, 0].tolist() == [pytest.approx([10.2, 8.6], abs=0.06)] * 2
    kpt, conf = heatmap_keypoints(heat, guess, 4, batch_index=b, exclusive=True)
    assert kpt[0, 0].tolist() == pytest.approx([10.2, 8.6], abs=0.06)
    assert kpt[1, 0].tolist() == pytest.approx([14.2, 8.6], abs=0.06)
    assert float(conf.min()) > 0.8
    # the second person's only candidate taken: not found, its guess kept
    guess[1, 0, 0] = 10.5
    kpt, conf = heatmap_keypoints(heat, guess, 2, batch_index=b, exclusive=True)
    assert kpt[0, 0].tolist() == pytest.approx([10.2, 8.6], abs=0.06)
    assert conf[1, 0] == 0 and kpt[1, 0].tolist() == guess[1, 0].tolist()
    # the same two people in two samples each read the first wrist
    kpt, _ = heatmap_keypoints(heat.expand(2, -1, -1, -1), guess, 4,
                               batch_index=torch.tensor([0, 1]), exclusive=True)
    assert kpt[:, 0].tolist() == [pytest.approx([10.2, 8.6], abs=0.06)] * 2


def test_refiner_exclusive_peaks_in_eval_and_train_exclusive_peaks_in_training():
    """``exclusive_peaks`` reads exclusively in eval mode, ``train_exclusive_peaks`` in
    training mode; each only then."""
    cam = _tilted_camera()
    people = np.stack([T.person((200.0, 600.0)), T.person((420.0, 600.0))])
    heat, cams, affines, hm_px = _inputs(cam, people)
    guess = people.copy()
    guess[1] = people[0] + (people[1] - people[0]) * 0.3    # the second guessed near the first
    args = (torch.from_numpy(guess), torch.tensor([0, 0]), heat, cams, affines, T.INPUT_SIZE)
    for test_x, train_x in ((False, False), (True, False), (False, True)):
        ref = LiftingPoseRefiner(hidden_channels=16, use_pose_net_pose=False,
                                 exclusive_peaks=test_x, train_exclusive_peaks=train_x)
        for mode, exclusive in ((ref.train, train_x), (ref.eval, test_x)):
            mode()
            f = ref.features(*args)
            scale = T.HEATMAP_SIZE[0] / T.INPUT_SIZE[0]
            gpx = np.stack([(cam.project(p) @ T.AFFINE[:, :2].T + T.AFFINE[:, 2]) * scale
                            for p in guess])
            want, _ = heatmap_keypoints(heat, torch.from_numpy(gpx), ref.search_radius,
                                        batch_index=torch.tensor([0, 0]), exclusive=exclusive)
            assert f['keypoints_2d'].numpy() == pytest.approx(want.numpy(), abs=1e-6)
    readings = [heatmap_keypoints(heat, torch.from_numpy(gpx), 4, batch_index=torch.tensor(
        [0, 0]), exclusive=x)[0].numpy() for x in (False, True)]
    assert np.abs(readings[0] - readings[1]).max() > 1.0    # the two readings differ here


def _heatmap_px(cam, joints):
    uv = cam.project(joints.reshape(-1, 3)) @ T.AFFINE[:, :2].T + T.AFFINE[:, 2]
    return (uv * (T.HEATMAP_SIZE[0] / T.INPUT_SIZE[0])).reshape(*joints.shape[:-1], 2)


def test_refiner_train_inputs_unseen_joint_std_moves_the_joints_off_the_heatmaps():
    """``unseen_joint_std``: only the joints whose GT projection lies off the heatmaps move
    (joint_std 0, no depth noise), by about unseen_joint_std per axis; the others stay."""
    cam = T.camera()
    W, H = T.HEATMAP_SIZE
    cut = None
    for x in np.arange(0.0, 8000.0, 100.0):              # a person cut by the image border
        p = T.person((x, 0.0))
        px = _heatmap_px(cam, p)
        off = (px[:, 0] < -0.5) | (px[:, 0] >= W - 0.5) | (px[:, 1] < -0.5) | \
            (px[:, 1] >= H - 0.5)
        if 3 <= off.sum() <= 14:
            cut = p
            break
    assert cut is not None
    people = [np.stack([T.person((0.0, 0.0)), cut])]
    m = _gt_trained_model(joint_std=0.0, depth_log_std=0.0, unseen_joint_std=200.0)
    m.train()
    x, ds = T.batch(m, people)
    seen = []
    h = m.refiner.register_forward_hook(lambda mod, args, out: seen.append(args))
    torch.manual_seed(0)
    moves = []
    for _ in range(20):
        m.loss(x, ds)
        moves.append(seen[-1][0].double().numpy() - np.concatenate(people))
    h.remove()
    d = np.stack(moves)                                                # (20, 2, 17, 3)
    moved = np.abs(d).max(axis=(0, 3)) > 1e-3                          # (2, 17)
    np.testing.assert_array_equal(moved, np.stack([np.zeros(17, bool), off]))
    assert 150.0 < d[:, 1][:, off].std() < 250.0
    # the model's own test of the same: joints_off_heatmaps
    meta = m.parse_meta(ds)
    got = m.joints_off_heatmaps(torch.from_numpy(np.concatenate(people)), torch.tensor([0, 0]),
                                meta, W, H)
    np.testing.assert_array_equal(got.numpy(), np.stack([np.zeros(17, bool), off]))
    with pytest.raises(ValueError, match='≥ 0'):
        _gt_trained_model(unseen_joint_std=-1.0)


def _randomised_refiner(width, **kw):
    torch.manual_seed(width)
    ref = LiftingPoseRefiner(hidden_channels=width, use_pose_net_pose=False, **kw)
    with torch.no_grad():
        for p in ref.parameters():           # the output layer starts at zero: fill all
            p.normal_(0.0, 0.3)
    return ref.eval()


@pytest.mark.parametrize('factor', [2, 3])
def test_widened_refiner_computes_the_same_function(factor):
    """widen_refiner_state_dict (publish_model --widen): the hidden units copied, their
    outgoing weights split in unequal shares; the wider MLP gives the same output, and
    one training step moves the copies apart."""
    from virtualpose_mm.models.heads import widen_refiner_state_dict
    narrow = _randomised_refiner(16, num_blocks=2, dropout=0.0)
    state = {f'refiner.{k}': v for k, v in narrow.state_dict().items()}
    state['pose_net.w'] = torch.ones(2)
    wide_state = widen_refiner_state_dict(state, 'refiner.', factor,
                                          torch.Generator().manual_seed(0))
    assert torch.equal(wide_state['pose_net.w'], state['pose_net.w'])
    wide = LiftingPoseRefiner(hidden_channels=16 * factor, use_pose_net_pose=False,
                              num_blocks=2, dropout=0.0)
    wide.load_state_dict({k[len('refiner.'):]: v for k, v in wide_state.items()
                          if k.startswith('refiner.')}, strict=True)
    wide.eval()
    x = torch.randn(64, 3 * 17 + 6)
    torch.testing.assert_close(wide.mlp(x), narrow.mlp(x), rtol=1e-5, atol=1e-5)
    # the copies of unit 0 share its incoming weights, not its outgoing ones
    w_in = wide.input_layer[0].weight
    assert torch.equal(w_in[0], w_in[16]) and torch.equal(w_in[0], narrow.input_layer[0].weight[0])
    w_out = wide.output_layer.weight
    assert not torch.allclose(w_out[:, 0], w_out[:, 16])
    torch.testing.assert_close(sum(w_out[:, 16 * c] for c in range(factor)),
                               narrow.output_layer.weight[:, 0])
    wide.train()
    wide.mlp(x).square().sum().backward()
    torch.optim.SGD(wide.parameters(), lr=1e-3).step()
    assert not torch.allclose(wide.input_layer[0].weight[0], wide.input_layer[0].weight[16])


def test_widen_refiner_state_dict_errors_name_the_problem():
    from virtualpose_mm.models.heads import widen_refiner_state_dict
    state = {f'refiner.{k}': v for k, v in _randomised_refiner(8).state_dict().items()}
    with pytest.raises(ValueError, match='integer ≥ 2'):
        widen_refiner_state_dict(state, 'refiner.', 1)
    with pytest.raises(KeyError, match=r"a\.pth: no weights under 'depth_refiner\.'"):
        widen_refiner_state_dict(state, 'depth_refiner.', 2, source='a.pth')
    with pytest.raises(KeyError, match=r"unexpected \['refiner\.extra'\]"):
        widen_refiner_state_dict({**state, 'refiner.extra': torch.ones(8)}, 'refiner.', 2)
    bad = dict(state)
    del bad['refiner.blocks.1.layers.5.bias']
    with pytest.raises(KeyError, match=r"missing \['refiner\.blocks\.1\.layers\.5\.bias'\]"):
        widen_refiner_state_dict(bad, 'refiner.', 2)
