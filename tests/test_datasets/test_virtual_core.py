"""The virtual-scene core shared by VirtualMviewSceneDataset and VirtualPoseSceneDataset:
pinned frames (the numbers may not move), the two RNG call orders, the checks, the
rejection counts and the people-that-fit-nowhere policies."""
import numpy as np
import pytest

import virtualpose_mm  # noqa: F401
from virtualpose_mm.datasets import VirtualMviewSceneDataset, VirtualPoseSceneDataset
from virtualpose_mm.datasets.joint_sets import root_of
from virtualpose_mm.datasets.datasets.virtual.posebank import PoseBank
from virtualpose_mm.datasets.datasets.virtual.virtual_core import (Candidates, FootprintOverlap,
                                                                   InsideSpace, MinSpacing,
                                                                   PeoplePlacer, PlacedPeople,
                                                                   PlacementCheck, RootInView,
                                                                   UnplaceableError,
                                                                   VirtualSceneMixin,
                                                                   points_in_view, scene_rng,
                                                                   tilt_pose, yaw_rotation)
from virtualpose_mm.geometry.camera import Camera

SHELF = dict(image_size=(1032, 776), space_size=(8000, 8000, 2000),
             space_center=(450, -320, 800))


@pytest.fixture(scope='module')
def calib(test_data):
    return str(test_data / 'shelf' / 'calibration_shelf.json')


# ----------------------------------------------------------------------------- pinned frames
# Frames 0–2 of seed 0 with the default settings, recorded before the two datasets were
# moved onto the shared core (and identical to it bit for bit); the draws may never move.
MVIEW_PINNED = [
    ([9034, 7249, 3826, 4365, 581], 5, dict(overlap=1, outside_space=0, few_views=4),
     [-174.05005120972953, 38.38887927618475, -169.80491838763334, 178.99557688411596,
      67.84082300553843],
     [[2642.891674401907, 2569.2890409440524], [-952.0167662383064, -861.1894516163907],
      [3160.467177906558, 3114.462550026643], [1748.7938913648632, 733.214933874714],
      [3488.3046116937476, -1315.4336230365084]]),
    ([12619, 14082, 7901], 3, dict(overlap=0, outside_space=1, few_views=5),
     [108.32691128110997, -141.01005885147816, -23.785901672444737],
     [[1281.3666288041495, -3791.638984171136], [-1204.9113725218324, 1095.6270706062878],
      [1220.5049853629762, 665.5470352691018]]),
    ([1146, 4069, 5707, 3247, 8528], 5, dict(overlap=1, outside_space=0, few_views=0),
     [-127.76391532242809, -137.39699330541222, -6.607716003970523, -153.59980630042008,
      -52.98312921305791],
     [[-2242.769071773393, -1531.4290938847325], [306.67670552045183, -1990.3426882827237],
      [1499.7815661737022, 892.4020518335046], [2940.7813116630996, -1156.3122919327143],
      [-2781.764948106936, -2115.722448376245]]),
]
MONO_PINNED = [
    ([9034, 7249, 3826, 4365, 581], 5, dict(spacing=0, no_position=5, cameras_rejected=1), 2,
     [8.008535847707435, 44.349765685406624, -64.81403155789693, -143.2177106339152,
      -163.7211866084703],
     [[412.46153741467606, 1907.600664889529], [240.13783446793832, -1529.1330987292629],
      [-2821.65182466473, -1741.068011665179], [2160.243165332573, -762.6584689858428],
      [-1028.924957244443, 1501.3520470598132]],
     [91.95103543428591, 2733.8427616306976, 4945.145651096978]),
    ([12619, 14082, 7901], 3, dict(spacing=0, no_position=0, cameras_rejected=0), 1,
     [-133.0183037605867, -126.54558077568359, 83.38007482035147],
     [[1570.2136804706488, -1822.336800668369], [1577.2227060208807, 1602.865356359257],
      [-2486.1542645554746, -493.163376314737]],
     [-1628.9939194963902, -189.33070546921732, 6145.619139441927]),
    ([1146, 4069, 5707, 3247, 8528], 5, dict(spacing=0, no_position=0, cameras_rejected=0), 1,
     [62.35210552286597, -138.10882812538944, 142.9181633567407, -37.965783500051884,
      -70.54957963869396],
     [[2245.781409504789, -339.56494142307747], [-2412.716049963444, 2219.7196368838095],
      [-306.7214817933009, 1145.0447332850063], [-115.92682985921101, 2854.17667721424],
      [-535.5034249899345, 1808.8116792467508]],
     [-1128.6795481533873, 235.3636175857848, 2801.0726134279744]),
]


def test_pinned_frames_of_the_multiview_dataset(calib):
    ds = VirtualMviewSceneDataset(calibration=calib, num_samples=3, seed=0, **SHELF)
    assert isinstance(ds, VirtualSceneMixin) and ds.placer.draw == 'sequential'
    for i, (ids, n_req, fails, yaws, roots) in enumerate(MVIEW_PINNED):
        f = ds.get_data_info(i)
        assert f['gt_ids'].tolist() == ids and f['num_people_requested'] == n_req
        assert f['placement_failures'] == fails and f['random_seed'] == (0, i)
        np.testing.assert_allclose(f['yaw_deg'], yaws, rtol=1e-12)
        np.testing.assert_allclose(root_of(f['gt_keypoints_3d'], 'coco17')[:, :2], roots,
                                   rtol=1e-12)


def test_pinned_frames_of_the_monocular_dataset():
    ds = VirtualPoseSceneDataset(num_samples=3, seed=0)
    assert isinstance(ds, VirtualSceneMixin) and ds.placer.draw == 'batch'
    for i, (ids, n_req, fails, tries, yaws, roots, t) in enumerate(MONO_PINNED):
        f = ds.get_data_info(i)
        assert f['gt_ids'].tolist() == ids and f['num_people_requested'] == n_req
        assert f['placement_failures'] == fails and f['camera_tries'] == tries
        np.testing.assert_allclose(f['yaw_deg'], yaws, rtol=1e-12)
        np.testing.assert_allclose(f['gt_keypoints_3d'][:, 2, :2], roots, rtol=1e-12)
        np.testing.assert_allclose(f['camera'].t, t, rtol=1e-12)


# ----------------------------------------------------------------------------- the placer
def _bank(n=6):
    """n standing people (Panoptic-15 order, root = joint 2 at 900 mm) of different widths."""
    rng = np.random.default_rng(0)
    base = np.zeros((15, 3))
    base[:, 2] = np.linspace(0, 1700, 15)
    base[2] = (0, 0, 900)
    poses = []
    for i in range(n):
        p = base.copy()
        p[:, 0] = rng.uniform(-200, 200, 15) * (1 + i / n)
        p[:, 1] = rng.uniform(-100, 100, 15)
        p[2, :2] = 0
        poses.append(p)
    return PoseBank(np.stack(poses), joint_set='panoptic15', clip_id=[0, 0, 0, 0, 1, 2][:n])


class Never(PlacementCheck):
    name = 'never'

    def __call__(self, cands, placed):
        return np.zeros(len(cands), bool)


def test_sequential_draw_order_is_one_position_per_try():
    bank = _bank()
    placer = PeoplePlacer(bank, num_people=(2, 2), area=((0, 1000), (0, 500)), max_tries=5,
                          yaw_range=(-10, 10), floor_z=50.0)
    n_req, people = placer.sample(scene_rng(3, 7), [], {})
    # the same draws by hand: count, poses, then per person yaw, random() once someone is
    # placed, x, y
    rng = np.random.default_rng([3, 7])
    assert n_req == int(rng.integers(2, 3))
    ids = rng.choice(len(bank), size=2, replace=True)
    xy = []
    for n, pid in enumerate(ids):
        yaw = rng.uniform(-10, 10)
        assert people.yaws[n] == yaw
        if n:
            rng.random()
        xy.append([rng.uniform(0, 1000), rng.uniform(0, 500)])
        pose = bank.poses[pid]
        want = pose.copy()
        want[:, :2] = (pose[:, :2] - pose[2, :2]) @ yaw_rotation(yaw).T + xy[-1]
        want[:, 2] += 50.0
        np.testing.assert_array_equal(people.poses[n], want)
    assert people.ids == ids.tolist()
    np.testing.assert_array_equal(np.stack(people.xy), xy)
    np.testing.assert_array_equal(np.stack(people.roots), np.stack(people.poses)[:, 2])


def test_batch_draw_order_is_all_positions_at_once():
    bank = _bank()
    placer = PeoplePlacer(bank, num_people=(1, 1), area=((-100, 100), (-50, 50)),
                          area_offset=(1000, 2000), draw='batch', max_tries=7)

    class SecondHalf(PlacementCheck):   # accept only candidates with x > offset
        def __call__(self, cands, placed):
            return cands.xy[:, 0] > 1000

    n_req, people = placer.sample(scene_rng(0, 1), [SecondHalf()], {})
    rng = np.random.default_rng([0, 1])
    rng.integers(1, 2)
    rng.choice(len(bank), size=1, replace=True)
    rng.uniform(-180, 180)
    xy = np.stack([rng.uniform(-100, 100, 7), rng.uniform(-50, 50, 7)], -1) + (1000, 2000)
    first = xy[int(np.argmax(xy[:, 0] > 1000))]
    np.testing.assert_array_equal(people.xy[0], first)
    with pytest.raises(ValueError, match="near_prob > 0 needs draw='sequential'"):
        PeoplePlacer(bank, draw='batch', near_prob=0.5)


def test_rejection_counts_and_unplaced_policies():
    bank = _bank()
    # sequential: every position tried counts under its first failing check
    fails = {}
    placer = PeoplePlacer(bank, num_people=(3, 3), max_tries=4, on_unplaced='skip',
                          unplaced_key='left_out')
    _, people = placer.sample(scene_rng(0, 0), [Never()], fails)
    assert len(people) == 0 and fails == dict(never=12, left_out=3)
    # batch: one count per person (the check that rejected the last survivors)
    fails = {}
    placer = PeoplePlacer(bank, num_people=(3, 3), max_tries=4, draw='batch',
                          on_unplaced='skip', unplaced_key='left_out')
    placer.sample(scene_rng(0, 0), [Never()], fails)
    assert fails == dict(never=3, left_out=3)
    # 'stop': the first person gets first_person_poses poses, then UnplaceableError
    placer = PeoplePlacer(bank, num_people=(2, 2), max_tries=3, first_person_poses=4)
    with pytest.raises(UnplaceableError, match=r'4 poses × 3 tries') as e:
        placer.sample(scene_rng(0, 0), [Never()], {})
    assert e.value.fails == dict(never=12)

    # 'stop' after the first person: the frame ends with the people placed so far
    class OnlyOne(PlacementCheck):
        name = 'crowded'

        def __call__(self, cands, placed):
            return np.full(len(cands), len(placed) == 0)

    fails = {}
    placer = PeoplePlacer(bank, num_people=(4, 4), max_tries=2)
    n_req, people = placer.sample(scene_rng(0, 0), [OnlyOne()], fails)
    assert n_req == 4 and len(people) == 1 and fails == dict(crowded=2)


def test_redraw_without_replacement_avoids_the_frame_poses():
    bank = _bank()
    placer = PeoplePlacer(bank, num_people=(2, 2), replace=False)
    for s in range(20):
        assert placer.redraw(np.random.default_rng(s), [0, 1, 2]) in (3, 4, 5)
    with pytest.raises(ValueError, match='up to 7 people per frame without replacement'):
        PeoplePlacer(bank, num_people=(1, 7), replace=False)
    # per-clip weighting: clip 0 holds 4 poses, clips 1 and 2 one each
    placer = PeoplePlacer(bank, weighting='clip')
    np.testing.assert_allclose(placer.weights, [1 / 12] * 4 + [1 / 3] * 2)


# ----------------------------------------------------------------------------- checks
def _cands(xy, pose=None, visible=None):
    xy = np.asarray(xy, dtype=float)
    pose = np.zeros((15, 3)) if pose is None else pose
    poses = np.repeat(pose[None], len(xy), 0)
    poses[:, :, :2] += xy[:, None]
    return Candidates(xy, poses, poses[:, 2], np.ones(15, bool) if visible is None else
                      visible)


def test_checks():
    placed = PlacedPeople()
    wide = np.zeros((15, 3))
    wide[:, 0] = np.linspace(-300, 300, 15)
    wide[:, 1] = np.linspace(-100, 100, 15)
    c = _cands([[0, 0]], wide)
    placed.add(c, 0, pid=0, yaw=0.0, visible=c.visible)
    np.testing.assert_array_equal(placed.footprints[0], [-300, -100, 300, 100])
    # footprints: overlap when close, none when apart; the margin grows both boxes
    c = _cands([[100, 0], [700, 0], [0, 250]], wide)
    np.testing.assert_array_equal(FootprintOverlap(0.01)(c, placed), [False, True, True])
    np.testing.assert_array_equal(FootprintOverlap(0.01, margin=100)(c, placed),
                                  [False, False, False])
    # spacing of the drawn root positions
    np.testing.assert_array_equal(MinSpacing(650)(c, placed), [False, True, False])
    np.testing.assert_array_equal(MinSpacing(650)(c, PlacedPeople()), [True, True, True])
    # inside the space: root only, or every visible joint
    c = _cands([[0, 0], [3800, 0]], wide)
    lo, hi = (-4000, -4000, 0), (4000, 4000, 2000)
    np.testing.assert_array_equal(InsideSpace(lo, hi, 'root')(c, placed), [True, True])
    np.testing.assert_array_equal(InsideSpace(lo, hi, 'joints')(c, placed), [True, False])
    vis = np.ones(15, bool)
    vis[wide[:, 0] > 150] = False                         # the joints sticking out unseen
    c = _cands([[0, 0], [3800, 0]], wide, vis)
    np.testing.assert_array_equal(InsideSpace(lo, hi, 'joints')(c, placed), [True, True])


def test_points_in_view_for_one_camera_and_a_rig(calib):
    ds = VirtualMviewSceneDataset(calibration=calib, num_samples=1, min_views=0, **SHELF)
    rig = ds.rig
    X = np.random.default_rng(0).uniform([-4000, -4000, 0], [4000, 4000, 2000], (50, 3))
    both = points_in_view(rig, X[None], margin=10)                   # (V, 50)
    for v in range(len(rig)):
        np.testing.assert_array_equal(points_in_view(rig[v], X, margin=10), both[v])
    check = RootInView(rig, min_views=3, margin=10)
    np.testing.assert_array_equal(check.views_seeing(X), both.sum(0))
    cands = Candidates(X[:, :2], np.repeat(X[:, None], 15, 1), X, np.ones(15, bool))
    np.testing.assert_array_equal(check(cands, PlacedPeople()), both.sum(0) >= 3)
    # depth: strictly in front by default, or at least min_depth
    cam = Camera.from_center(np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]),
                             [0.0, -5000.0, 1000.0], [300.0, 300.0], [256.0, 128.0],
                             image_size=(512, 256))
    pts = np.array([[0.0, -5000.0 + d, 1000.0] for d in (-10.0, 0.0, 500.0, 3000.0)])
    np.testing.assert_array_equal(points_in_view(cam, pts, in_image=False),
                                  [False, False, True, True])
    np.testing.assert_array_equal(points_in_view(cam, pts, min_depth=1000.0),
                                  [False, False, False, True])


def test_monocular_dataset_takes_the_core_knobs():
    a = VirtualPoseSceneDataset(num_samples=20, seed=5, bank_weighting='clip')
    b = VirtualPoseSceneDataset(num_samples=20, seed=5)
    ids_a = np.concatenate([a.get_data_info(i)['gt_ids'] for i in range(20)])
    ids_b = np.concatenate([b.get_data_info(i)['gt_ids'] for i in range(20)])
    assert not np.array_equal(ids_a, ids_b)
    with pytest.raises(ValueError, match='bank_weighting must be'):
        VirtualPoseSceneDataset(bank_weighting='person')
    with pytest.raises(ValueError, match='yaw_range must be'):
        VirtualMviewSceneDataset(calibration='x.json', yaw_range=(10, -10), lazy_init=True,
                                 **SHELF)


def test_mirrored_people_are_their_bank_pose_reflected_with_left_and_right_exchanged():
    """``mirror_prob``: a mirrored person is its bank pose reflected in a vertical plane
    through its root, the flip pairs swapped, then turned and placed as any person; the
    default draws no number for it (the pinned frames above are drawn without it)."""
    from virtualpose_mm.datasets.joint_sets import get_joint_set
    flip = np.asarray(get_joint_set('virtualpose17').flip_indices())
    ds = VirtualPoseSceneDataset(num_samples=12, seed=3, mirror_prob=0.5)
    plain = VirtualPoseSceneDataset(num_samples=12, seed=3)
    bank = ds.bank
    flags = []
    for i in range(12):
        f = ds.get_data_info(i)
        assert f['mirrored'].shape == f['gt_ids'].shape and f['mirrored'].dtype == bool
        assert not plain.get_data_info(i)['mirrored'].any()
        for n, pid in enumerate(f['gt_ids']):
            src = bank.poses[pid]
            placed = f['gt_keypoints_3d'][n]
            if f['mirrored'][n]:
                src = src[flip].copy()
                src[:, 0] = 2 * src[2, 0] - src[:, 0]
                np.testing.assert_array_equal(f['gt_keypoints_3d_visible'][n],
                                              bank.visible[pid][flip])
            # undo the turn about the root: the pose relative to its root is the source's
            local = (placed[:, :2] - placed[2, :2]) @ yaw_rotation(f['yaw_deg'][n])
            np.testing.assert_allclose(local, src[:, :2] - src[2, :2], atol=1e-6)
            np.testing.assert_allclose(placed[:, 2], src[:, 2], atol=1e-9)
            flags.append(bool(f['mirrored'][n]))
    assert 0.25 < np.mean(flags) < 0.75, flags          # both kinds, about half each
    with pytest.raises(ValueError, match='mirror_prob must be in'):
        VirtualPoseSceneDataset(mirror_prob=1.5)
    with pytest.raises(ValueError, match='mirror_prob must be in'):
        PeoplePlacer(bank, mirror_prob=-0.1)


def test_part_mixed_people_are_one_pose_upper_body_on_another_pose_legs():
    """``part_mix_prob``: a mixed person is the upper body of its pose (``gt_ids``) on the
    legs of another (``lower_body_ids``), the legs turned so that the two hip lines point the
    same way, the upper body moved onto the legs' root; both poses upright."""
    ds = VirtualPoseSceneDataset(num_samples=10, seed=4, part_mix_prob=1.0)
    bank, placer = ds.bank, ds.placer
    legs = placer.leg_joints
    assert legs.tolist() == [2, 6, 7, 8, 12, 13, 14] and placer.hip_pair == (6, 12)
    upper = np.setdiff1d(np.arange(17), legs)
    mixed = 0
    for i in range(10):
        f = ds.get_data_info(i)
        for n, (a, b) in enumerate(zip(f['gt_ids'], f['lower_body_ids'])):
            if b < 0:
                continue
            mixed += 1
            A, B, P = bank.poses[a], bank.poses[b], f['gt_keypoints_3d'][n]
            for src in (A, B):                             # only upright poses are mixed
                assert src[0, 2] - src[2, 2] >= 0.5 * np.linalg.norm(src[0] - src[2])
            L = (P[:, :2] - P[2, :2]) @ yaw_rotation(f['yaw_deg'][n])
            np.testing.assert_allclose(L[upper], A[upper, :2] - A[2, :2], atol=1e-6)
            np.testing.assert_allclose(P[upper, 2] - P[2, 2], A[upper, 2] - A[2, 2],
                                       atol=1e-6)
            np.testing.assert_allclose(P[legs, 2], B[legs, 2], atol=1e-9)
            d = np.linalg.norm(P[legs][:, None] - P[legs][None], axis=-1)
            np.testing.assert_allclose(d, np.linalg.norm(B[legs][:, None] - B[legs][None],
                                                         axis=-1), atol=1e-6)
            hip_p, hip_a = L[12] - L[6], A[12, :2] - A[6, :2]
            cos = hip_p @ hip_a / np.linalg.norm(hip_p) / np.linalg.norm(hip_a)
            assert cos > 1 - 1e-9
            np.testing.assert_array_equal(f['gt_keypoints_3d_visible'][n][legs],
                                          bank.visible[b][legs])
    assert mixed > 10
    plain = VirtualPoseSceneDataset(num_samples=3, seed=4).get_data_info(0)
    assert plain['lower_body_ids'].tolist() == [-1] * len(plain['gt_ids'])
    with pytest.raises(ValueError, match='part_mix_prob must be in'):
        VirtualPoseSceneDataset(part_mix_prob=2)


def test_tilted_people_are_their_bank_pose_turned_about_a_horizontal_axis():
    """``tilt_prob``: a tilted person is its bank pose turned by ``tilt_deg`` about a
    horizontal axis through its root (bone lengths and the root kept, the lowest joint at
    its height), then turned and placed as any person; upside-down bodies occur; the
    default draws no number for it."""
    ds = VirtualPoseSceneDataset(num_samples=16, seed=5, tilt_prob=0.5)
    plain = VirtualPoseSceneDataset(num_samples=16, seed=5)
    bank = ds.bank
    flags, upside_down = [], 0
    for i in range(16):
        f = ds.get_data_info(i)
        assert f['tilt_deg'].shape == f['gt_ids'].shape
        assert not plain.get_data_info(i)['tilt_deg'].any()
        for n, pid in enumerate(f['gt_ids']):
            src, placed, t = bank.poses[pid], f['gt_keypoints_3d'][n], f['tilt_deg'][n]
            assert -180.0 <= t <= 180.0
            # rigid: every pairwise distance of the bank pose is kept
            d_src = np.linalg.norm(src[:, None] - src[None], axis=-1)
            d_out = np.linalg.norm(placed[:, None] - placed[None], axis=-1)
            np.testing.assert_allclose(d_out, d_src, atol=1e-6)
            assert placed[:, 2].min() == pytest.approx(src[:, 2].min(), abs=1e-6)
            # the angle between the bank pose's and the placed pose's root→neck vectors is
            # at most the tilt (a turn about a horizontal axis, then about the vertical)
            v0, v1 = src[0] - src[2], placed[0] - placed[2]
            tilt_up = np.degrees(np.arccos(np.clip(v0[2] / np.linalg.norm(v0), -1, 1)) -
                                 np.arccos(np.clip(v1[2] / np.linalg.norm(v1), -1, 1)))
            assert abs(tilt_up) <= abs(t) + 1e-6
            if t == 0:
                local = (placed[:, :2] - placed[2, :2]) @ yaw_rotation(f['yaw_deg'][n])
                np.testing.assert_allclose(local, src[:, :2] - src[2, :2], atol=1e-6)
                np.testing.assert_allclose(placed[:, 2], src[:, 2], atol=1e-9)
            else:
                upside_down += int(v1[2] < 0 < v0[2])
            flags.append(t != 0)
    assert 0.25 < np.mean(flags) < 0.75, flags
    assert upside_down > 0
    # tilt_pose itself: 90° about the world x axis takes +y to +z (right-hand rule)
    pose = np.array([[0.0, 0.0, 100.0], [0.0, 500.0, 100.0], [0.0, 0.0, 900.0]])
    out = tilt_pose(pose, pose[0], 0.0, 90.0)
    np.testing.assert_allclose(out[1] - out[0], [0.0, 0.0, 500.0], atol=1e-9)
    np.testing.assert_allclose(out[2] - out[0], [0.0, -800.0, 0.0], atol=1e-9)
    assert out[:, 2].min() == pytest.approx(100.0)
    with pytest.raises(ValueError, match='tilt_prob must be in'):
        VirtualPoseSceneDataset(tilt_prob=1.5)
    with pytest.raises(ValueError, match='tilt_prob must be in'):
        PeoplePlacer(bank, tilt_prob=-0.1)
    with pytest.raises(ValueError, match='tilt_range must be'):
        PeoplePlacer(bank, tilt_range=(90, -90))
