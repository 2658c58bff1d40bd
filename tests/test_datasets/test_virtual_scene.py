"""Virtual scenes for any rig: determinism, placement rules, heatmaps and every knob."""
import json

import numpy as np
import pytest

from virtualpose_mm.datasets import DatasetError, VirtualMviewSceneDataset
from virtualpose_mm.datasets.datasets.virtual.posebank import PoseBank, load_pose_bank, root_of

SPACE = dict(space_size=(8000, 8000, 2000), space_center=(450, -320, 800))
NO_NOISE = dict(type='SimulateHeatmapNoise', person_drop_prob=0.0, peak_jitter_prob=0.0,
                joint_drops=[], default_drop=None)


def pipeline(noise=None, input_size=(800, 608), heatmap_size=(200, 152)):
    return [dict(type='ProjectKeypoints3D'), noise or dict(type='SimulateHeatmapNoise'),
            dict(type='MultiViewLetterbox', input_size=input_size),
            dict(type='GenerateMultiViewHeatmaps', heatmap_size=heatmap_size),
            dict(type='GenerateRootTarget3D', space_shape=(40, 40, 10), **SPACE)]


@pytest.fixture(scope='module')
def calib(test_data):
    return str(test_data / 'shelf' / 'calibration_shelf.json')


def make(calib, **kw):
    args = dict(calibration=calib, image_size=(1032, 776), num_samples=40, **SPACE)
    args.update(kw)
    return VirtualMviewSceneDataset(**args)


def shelf_pixels(calib_path, X):
    """Independent Shelf projection from the json (T = camera centre, no distortion)."""
    cams = json.load(open(calib_path))
    out = []
    for k in sorted(cams, key=int):
        c = cams[k]
        xc = (np.asarray(c['R']) @ (X.reshape(-1, 3).T - np.asarray(c['T']).reshape(3, 1))).T
        uv = xc[:, :2] / xc[:, 2:] * [c['fx'], c['fy']] + [c['cx'], c['cy']]
        out.append((uv.reshape(X.shape[:-1] + (2, )), xc[:, 2].reshape(X.shape[:-1])))
    return out


def test_deterministic_under_seed_and_index(calib):
    a = make(calib, seed=7, pipeline=pipeline())
    b = make(calib, seed=7, pipeline=pipeline())
    c = make(calib, seed=8, pipeline=pipeline())
    r5 = a[5]
    _ = b[3]  # another frame first: frames do not depend on the order they are drawn in
    s5 = b[5]
    np.testing.assert_array_equal(r5['gt_keypoints_3d'], s5['gt_keypoints_3d'])
    np.testing.assert_array_equal(r5['input_heatmaps'], s5['input_heatmaps'])
    np.testing.assert_array_equal(r5['root_target_3d'], s5['root_target_3d'])
    assert r5['random_seed'] == (7, 5)
    assert not np.array_equal(a[6]['gt_keypoints_3d'][:1], r5['gt_keypoints_3d'][:1])
    assert not np.array_equal(c[5]['input_heatmaps'], r5['input_heatmaps'])
    # the noise really is random (some peaks jittered below 1) and still reproducible
    assert r5['input_heatmaps'].max() <= 1.0 and 0.5 < np.median(
        [hm.max() for hm in r5['input_heatmaps'].reshape(-1, 152 * 200) if hm.max() > 0]) < 1.0


def test_people_inside_space_and_count_range(calib):
    ds = make(calib, num_people=(2, 4), inside_space='joints', min_views=0, seed=1)
    lo = np.array(SPACE['space_center']) - np.array(SPACE['space_size']) / 2
    hi = np.array(SPACE['space_center']) + np.array(SPACE['space_size']) / 2
    counts = []
    for i in range(25):
        info = ds.get_data_info(i)
        X, vis = info['gt_keypoints_3d'], info['gt_keypoints_3d_visible']
        assert 2 <= info['num_people_requested'] <= 4
        assert 1 <= len(X) <= info['num_people_requested']
        assert ((X[vis] >= lo) & (X[vis] <= hi)).all()
        counts.append(len(X))
    assert set(counts) >= {2, 3, 4}
    # 'root': only the roots are tested; with a tiny space most joints stick out
    ds = make(calib, space_size=(8000, 8000, 400), space_center=(450, -320, 950),
              inside_space='root', min_views=0, seed=2, num_people=(1, 1))
    for i in range(10):
        X = ds.get_data_info(i)['gt_keypoints_3d']
        r = root_of(X, 'coco17')
        assert (np.abs(r[:, 2] - 950) <= 200).all()
    with pytest.raises(DatasetError, match="rejections: .*'outside_space': 1000"):
        make(calib, space_size=(8000, 8000, 400), space_center=(450, -320, 950),
             inside_space='joints', min_views=0).get_data_info(0)


@pytest.mark.parametrize('min_views', [3, 5])
def test_visible_in_at_least_n_views(calib, min_views):
    ds = make(calib, min_views=min_views, view_margin=10, seed=3)
    for i in range(12):
        X = ds.get_data_info(i)['gt_keypoints_3d']
        roots = root_of(X, 'coco17')
        seen = np.zeros(len(roots), int)
        for uv, z in shelf_pixels(calib, roots):
            seen += (z > 0) & (uv[:, 0] >= 10) & (uv[:, 0] < 1022) & (uv[:, 1] >= 10) & \
                (uv[:, 1] < 766)
        assert (seen >= min_views).all()


def test_min_views_zero_allows_unseen_people(calib):
    ds = make(calib, min_views=0, seed=3, num_people=(1, 1))
    seen = []
    for i in range(30):
        r = root_of(ds.get_data_info(i)['gt_keypoints_3d'], 'coco17')
        seen.append(sum(int(((z > 0) & (uv[:, 0] >= 10) & (uv[:, 0] < 1022) & (uv[:, 1] >= 10)
                             & (uv[:, 1] < 766))[0]) for uv, z in shelf_pixels(calib, r)))
    assert min(seen) < 3


def test_heatmap_peaks_at_projections(calib):
    ds = make(calib, seed=4, pipeline=pipeline(NO_NOISE), num_people=(1, 2))
    r = ds[0]
    X = r['gt_keypoints_3d']
    k = 800 / 1032
    pix = shelf_pixels(calib, X)
    checked = 0
    for v, (uv, z) in enumerate(pix):
        q = (uv * k + [0, (608 - k * 776) / 2]) / 4
        for n in range(len(X)):
            for j in (0, 5, 9, 11, 13, 16):
                if not r['input_keypoints_2d_visible'][v][n, j]:
                    continue
                others = [m for m in range(len(X)) if m != n and
                          np.linalg.norm(q[m, j] - q[n, j]) < 25]
                if others:
                    continue
                cx, cy = np.round(q[n, j]).astype(int)
                win = r['input_heatmaps'][v, j, cy - 2:cy + 3, cx - 2:cx + 3]
                y, x = np.unravel_index(np.argmax(win), win.shape)
                assert abs(cx - 2 + x - q[n, j, 0]) <= 0.5 + 1e-9
                assert abs(cy - 2 + y - q[n, j, 1]) <= 0.5 + 1e-9
                assert 0.94 <= win.max() <= 1.0
                checked += 1
    assert checked >= 10
    # joints outside an image are not drawn: the channel is empty where no one is visible
    for v in range(5):
        for j in range(17):
            if not any(vv[:, j].any() for vv in [r['input_keypoints_2d_visible'][v]]):
                assert r['input_heatmaps'][v, j].max() == 0


def test_sigma_grows_with_person_size():
    from virtualpose_mm.datasets.transforms import GenerateMultiViewHeatmaps
    t = GenerateMultiViewHeatmaps(heatmap_size=(200, 150))
    base = np.array([[0, 0], [0, 1], [0.5, 0.5]], float)
    small = 40 + base * 60 * 4        # extent 60 heatmap px (input px / stride 4)
    large = 100 + base * 120 * 4      # extent 120 heatmap px
    res = t(dict(input_size=(800, 600), input_keypoints_2d=[np.stack([small, large])]))
    sig = res['input_heatmaps_sigmas'][0]
    # σ = 3·√(2·s²)/96 in the linear range s ∈ [48, 192]
    np.testing.assert_allclose(sig, 3 * np.sqrt(2) * np.array([60, 120]) / 96)
    hm = res['input_heatmaps'][0, 2]  # joint 2 (centre) of both people
    for (cx, cy), s in zip([(40 + 120, 40 + 120), (100 + 240, 100 + 240)], sig):
        cx, cy = int(cx / 4), int(cy / 4)
        assert hm[cy, cx] == pytest.approx(1.0)
        d = 5
        assert hm[cy, cx + d] == pytest.approx(np.exp(-d * d / (2 * s * s)), rel=1e-5)
    # the clip: tiny people get the minimum σ 3·√2·48/96 = 2.12 px
    res = t(dict(input_size=(800, 600), input_keypoints_2d=[small[None] * 0.1 + 100]))
    assert res['input_heatmaps_sigmas'][0][0] == pytest.approx(3 * np.sqrt(2) / 2)


def test_placement_knobs(calib):
    bank = load_pose_bank('builtin')
    # yaw, area, floor, near-placement offset, no replacement
    ds = make(calib, seed=5, yaw_range=(30, 30), placement_area=((0, 1000), (-500, 500)),
              floor_z=250.0, near_prob=1.0, near_offset=(1500.0, 0.0), num_people=(2, 2),
              replace=False, min_views=0)
    for i in range(6):
        info = ds.get_data_info(i)
        X, ids = info['gt_keypoints_3d'], info['gt_ids']
        assert len(set(ids.tolist())) == len(ids)
        np.testing.assert_array_equal(info['yaw_deg'], 30.0)
        src = bank.poses[ids]
        np.testing.assert_allclose(X[..., 2], src[..., 2] + 250.0)
        # the pose is turned by +30° about the vertical through its root
        d_src = src[:, 5, :2] - src[:, 6, :2]   # left − right shoulder
        d_new = X[:, 5, :2] - X[:, 6, :2]
        ang = np.degrees(np.arctan2(d_new[:, 1], d_new[:, 0]) -
                         np.arctan2(d_src[:, 1], d_src[:, 0]))
        np.testing.assert_allclose((ang + 180) % 360 - 180, 30.0, atol=1e-6)
        r = root_of(X, 'coco17')
        assert 0 <= r[0, 0] <= 1000 and -500 <= r[0, 1] <= 500
        if len(X) == 2:  # the second person stands 1500 mm from the first on each axis
            np.testing.assert_allclose(np.abs(r[1, :2] - r[0, :2]), 1500.0, atol=1e-6)


def test_footprints_do_not_overlap(calib):
    ds = make(calib, seed=6, num_people=(5, 5), min_views=0, footprint_margin=300.0,
              max_footprint_iou=0.01, placement_area=((-1000, 2000), (-1600, 1600)))
    n_pairs = 0
    for i in range(8):
        info = ds.get_data_info(i)
        X, vis = info['gt_keypoints_3d'], info['gt_keypoints_3d_visible']
        boxes = np.array([[p[v, 0].min() - 300, p[v, 1].min() - 300, p[v, 0].max() + 300,
                           p[v, 1].max() + 300] for p, v in zip(X, vis)])
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                ix = max(0, min(boxes[a, 2], boxes[b, 2]) - max(boxes[a, 0], boxes[b, 0]))
                iy = max(0, min(boxes[a, 3], boxes[b, 3]) - max(boxes[a, 1], boxes[b, 1]))
                area = lambda q: (q[2] - q[0]) * (q[3] - q[1])  # noqa: E731
                inter = ix * iy
                assert inter / (area(boxes[a]) + area(boxes[b]) - inter) < 0.01
                n_pairs += 1
        assert info['placement_failures']['overlap'] >= 0
    assert n_pairs > 10


def test_impossible_placement_and_bad_config_fail_clearly(calib, tmp_path):
    # a corner of the space that at most one Shelf camera sees: refused when the
    # calibration loads, naming the file, the area and the space
    with pytest.raises(DatasetError, match=r"calibration_shelf\.json: at most 1 of the 5 "
                                           r"cameras .* placement area \[\[3200\.0, 3800\.0\], "
                                           r".*capture space .*min_views=2"):
        make(calib, placement_area=((3200, 3800), (-4200, -3500)), min_views=2)
    # without that check, the frame itself still fails clearly
    ds = make(calib, placement_area=((3200, 3800), (-4200, -3500)), min_views=2,
              lazy_init=True)
    ds._check_placement_seen = lambda calib: None
    with pytest.raises(DatasetError, match=r"could not place even one person \(10 poses × "
                                           r"100 tries; .*'few_views': 1000.*min_views=2"):
        ds.get_data_info(0)
    # the same area is fine when no view is demanded
    assert len(make(calib, placement_area=((3200, 3800), (-4200, -3500)),
                    min_views=0).get_data_info(0)['gt_keypoints_3d']) >= 1
    with pytest.raises(ValueError, match='min_views=6 but the rig has only 5 cameras'):
        make(calib, min_views=6)
    with pytest.raises(DatasetError, match='the cameras carry no image size'):
        make(calib, image_size=None)
    with pytest.raises(DatasetError, match='calibration file not found'):
        make(str(tmp_path / 'nope.json'))
    with pytest.raises(ValueError, match='num_people must be'):
        make(calib, num_people=(3, 2))


def test_any_rig_format_and_pkl_bank(test_data):
    # a Panoptic calibration (cameras chosen by (panel, node)) with the VoxelPose pkl bank
    ds = VirtualMviewSceneDataset(
        calibration=str(test_data / 'panoptic_body3d' / '160906_band1' /
                        'calibration_160906_band1.json'),
        camera_kwargs=dict(cameras=[(0, 3), (0, 6), (0, 12)]), space_size=(8000, 8000, 2000),
        space_center=(0, -500, 800), pose_bank=str(test_data / 'mview' /
                                                   'panoptic_training_pose.pkl'),
        joint_set='panoptic15', num_samples=4, min_views=2, pipeline=pipeline(
            # Panoptic-15 joint groups: elbows/knees (4, 10, 7, 13), wrists/ankles
            dict(type='SimulateHeatmapNoise',
                 joint_drops=[dict(joints=[4, 10, 7, 13], prob=0.1, factor=0.5),
                              dict(joints=[5, 11, 8, 14], prob=0.1, factor=0.2)]),
            input_size=(960, 512), heatmap_size=(240, 128))[:-1])
    assert ds.view_names == ['00_03', '00_06', '00_12']
    r = ds[1]
    assert r['input_heatmaps'].shape == (3, 15, 128, 240)
    assert set(r['gt_ids'].tolist()) <= {0, 1, 2}
    assert ds.metainfo['num_keypoints'] == 15
    # inline cameras (Camera.to_dict() layout) work as well
    from virtualpose_mm.datasets import load_rig
    rig, names = load_rig([ds.rig[v].to_dict() for v in range(3)])
    assert names == ['0', '1', '2']
    np.testing.assert_allclose(rig.t, ds.rig.t)


def test_bank_weighting_by_clip_changes_the_draws(calib):
    a = make(calib, seed=9, bank_weighting='pose', min_views=0)
    b = make(calib, seed=9, bank_weighting='clip', min_views=0)
    bank = a.bank
    ids_a = np.concatenate([a.get_data_info(i)['gt_ids'] for i in range(40)])
    ids_b = np.concatenate([b.get_data_info(i)['gt_ids'] for i in range(40)])
    # per-clip weighting favours small clips: the mean clip size of the draws is smaller
    _, inv, counts = np.unique(bank.clip_id, return_inverse=True, return_counts=True)
    size = counts[inv]
    assert size[ids_b].mean() < 0.6 * size[ids_a].mean()
    with pytest.raises(Exception, match="weighting='clip' needs clip ids"):
        PoseBank(bank.poses[:5], joint_set='coco17').sampling_weights('clip')
