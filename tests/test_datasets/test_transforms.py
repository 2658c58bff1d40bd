"""Multi-view transforms: letterbox, projection, noise knobs, root target, packing and the
data preprocessor."""
import numpy as np
import pytest
import torch

from virtualpose_mm.datasets.transforms import (GenerateMultiViewHeatmaps, GenerateRootTarget3D,
                                                MultiViewLetterbox, PackMultiViewPoseInputs,
                                                ProjectKeypoints3D, SimulateHeatmapNoise,
                                                letterbox_affine)
from virtualpose_mm.geometry import Camera
from virtualpose_mm.models.data_preprocessors import MultiViewDataPreprocessor


def test_letterbox_affine_matches_the_reference_construction():
    import cv2
    # the reference: center (w/2, h/2), scale = padded size / 200, three points → affine
    for (w, h), (iw, ih) in [((1032, 776), (800, 608)), ((360, 288), (800, 640)),
                             ((1920, 1080), (960, 512)), ((640, 1000), (256, 256))]:
        if w / iw < h / ih:
            wp, hp = h / ih * iw, h
        else:
            wp, hp = w, w / iw * ih
        c = np.array([w / 2, h / 2])
        if wp >= hp:
            sd, dd = np.array([0, -wp / 2]), np.array([0, -iw / 2])
        else:
            sd, dd = np.array([-hp / 2, 0]), np.array([-ih / 2, 0])
        src = np.array([c, c + sd, c + sd + [sd[1], -sd[0]]], np.float64)
        dst = np.array([[iw / 2, ih / 2], [iw / 2, ih / 2] + dd,
                        [iw / 2, ih / 2] + dd + [dd[1], -dd[0]]], np.float64)
        ref = cv2.getAffineTransform(src.astype(np.float32), dst.astype(np.float32))
        np.testing.assert_allclose(letterbox_affine((w, h), (iw, ih)), ref, atol=2e-4)


def test_letterbox_warps_images_and_points():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 90:110] = 255
    res = MultiViewLetterbox(input_size=(100, 100))(dict(
        image_sizes=np.array([[200, 100]]), img=[img],
        keypoints_2d=[np.array([[[100.0, 50.0], [199.0, 0.0], [250.0, 50.0]]])],
        keypoints_2d_visible=[np.ones((1, 3), bool)],
        input_keypoints_2d=[np.array([[[250.0, 50.0]]])],
        input_keypoints_2d_visible=[np.ones((1, 1), bool)]))
    np.testing.assert_allclose(res['affines'][0], [[0.5, 0, 0], [0, 0.5, 25]])
    assert res['img'][0].shape == (100, 100, 3)
    assert res['img'][0][50, 50].min() == 255 and res['img'][0][10, 50].max() == 0  # padding
    np.testing.assert_allclose(res['keypoints_2d'][0][0], [[50, 50], [99.5, 25], [125, 50]])
    # 2D targets leaving the input become invisible; detections keep their points
    assert res['keypoints_2d_visible'][0].tolist() == [[True, True, False]]
    assert res['input_keypoints_2d_visible'][0].tolist() == [[True]]
    assert tuple(res['input_size']) == (100, 100)
    with pytest.raises(ValueError, match='view 0 image is 200×100, image_sizes says 100×100'):
        MultiViewLetterbox(input_size=(100, 100))(dict(image_sizes=np.array([[100, 100]]),
                                                       img=[img]))


def _toy_rig():
    """Two cameras 5 m from the origin looking at it (z-up world), 640×480, f = 500."""
    Rs, ts = [], []
    for ang in (0.0, np.pi / 2):
        C = np.array([5000 * np.cos(ang), 5000 * np.sin(ang), 1000.0])
        z = -C / np.linalg.norm(C)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        Rs.append(R)
        ts.append(-R @ C)
    return Camera(np.stack(Rs), np.stack(ts), [[500, 500]] * 2, [[320, 240]] * 2,
                  image_size=[[640, 480]] * 2)


def test_project_keypoints_visibility():
    cams = _toy_rig()
    X = np.array([[[0, 0, 0.0], [0, 0, 1000], [0, 0, 50000.0], [5100, -4000, 1000]]])
    res = ProjectKeypoints3D()(dict(cameras=cams, gt_keypoints_3d=X,
                                    gt_keypoints_3d_visible=np.array([[1, 0, 1, 1]], bool)))
    uv0 = res['input_keypoints_2d'][0][0]
    np.testing.assert_allclose(uv0[0], [320, 240], atol=1e-9)  # the optical centre
    # joint 1 hidden in 3D, joint 2 far above the image, joint 3 behind camera 0
    assert res['input_keypoints_2d_visible'][0].tolist() == [[True, False, False, False]]
    assert res['input_keypoints_2d_visible'][1].tolist() == [[True, False, False, True]]
    np.testing.assert_array_equal(res['input_keypoints_2d_scores'][1], [[1, 0, 0, 1]])


def _frame(n=3, K=17, V=2, seed=0):
    rng = np.random.default_rng(0)
    kp = [rng.uniform(100, 500, (n, K, 2)) for _ in range(V)]
    return dict(input_keypoints_2d=kp, input_keypoints_2d_visible=[np.ones((n, K), bool)] * V,
                input_keypoints_2d_scores=[np.ones((n, K))] * V, random_seed=(seed, 1))


def test_noise_knobs():
    off = dict(person_drop_prob=0.0, peak_jitter_prob=0.0, joint_drops=[], default_drop=None)
    # all off: nothing changes
    r = SimulateHeatmapNoise(**off)(_frame())
    assert all(v.all() for v in r['input_keypoints_2d_visible'])
    assert all((s == 1).all() for s in r['input_keypoints_2d_scores'])
    # person drop 1: every person missed in every view
    r = SimulateHeatmapNoise(**dict(off, person_drop_prob=1.0))(_frame())
    assert not any(v.any() for v in r['input_keypoints_2d_visible'])
    assert all((s == 0).all() for s in r['input_keypoints_2d_scores'])
    # peak jitter always on, std 0: every peak is the mean
    r = SimulateHeatmapNoise(**dict(off, peak_jitter_prob=1.0, peak_jitter_mean=0.7,
                                    peak_jitter_std=0.0))(_frame())
    np.testing.assert_allclose(r['input_keypoints_2d_scores'][0], 0.7)
    # jitter distribution: mean / std of the jittered peaks
    r = SimulateHeatmapNoise(**dict(off, peak_jitter_prob=1.0, peak_jitter_mean=0.9,
                                    peak_jitter_std=0.03))(_frame(n=200))
    s = r['input_keypoints_2d_scores'][0]
    assert abs(s.mean() - 0.9) < 0.003 and abs(s.std() - 0.03) < 0.003
    # joint groups: wrists always ×0.2, everything else always ×0.5 (default group)
    r = SimulateHeatmapNoise(**dict(off, joint_drops=[dict(joints=[9, 10], prob=1.0,
                                                           factor=0.2)],
                                    default_drop=dict(prob=1.0, factor=0.5)))(_frame())
    s = r['input_keypoints_2d_scores'][1]
    np.testing.assert_allclose(s[:, [9, 10]], 0.2)
    np.testing.assert_allclose(np.delete(s, [9, 10], axis=1), 0.5)
    # drop probabilities are honoured in frequency
    r = SimulateHeatmapNoise(**dict(off, person_drop_prob=0.3))(_frame(n=2000))
    assert abs(1 - r['input_keypoints_2d_visible'][0][:, 0].mean() - 0.3) < 0.04
    # position noise moves the points by the requested std
    f = _frame(n=500)
    r = SimulateHeatmapNoise(**dict(off, position_noise_std=2.0))(dict(f))
    d = r['input_keypoints_2d'][0] - f['input_keypoints_2d'][0]
    assert abs(d.std() - 2.0) < 0.05
    # reproducible with the frame seed, different for another seed
    a = SimulateHeatmapNoise()(_frame(n=20))['input_keypoints_2d_scores'][0]
    b = SimulateHeatmapNoise()(_frame(n=20))['input_keypoints_2d_scores'][0]
    c = SimulateHeatmapNoise()(_frame(n=20, seed=1))['input_keypoints_2d_scores'][0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match='joints \\[9\\] are in two groups'):
        SimulateHeatmapNoise(joint_drops=[dict(joints=[9], prob=1, factor=0),
                                          dict(joints=[9, 10], prob=1, factor=0)])


def test_heatmaps_fixed_sigma_amplitudes_and_errors():
    t = GenerateMultiViewHeatmaps(heatmap_size=(50, 40), adaptive_sigma=False, sigma=2.0)
    res = t(dict(input_size=(200, 160), input_keypoints_2d=[np.array([[[80.0, 60.0]]])],
                 input_keypoints_2d_scores=[np.array([[0.6]])]))
    hm = res['input_heatmaps'][0, 0]
    assert hm[15, 20] == pytest.approx(0.6) and hm[15, 22] == pytest.approx(
        0.6 * np.exp(-4 / 8), rel=1e-6)
    np.testing.assert_array_equal(res['input_heatmaps_weights'], [[1.0]])
    with pytest.raises(KeyError, match='no input_size; put MultiViewLetterbox'):
        t(dict(input_keypoints_2d=[np.zeros((1, 1, 2))]))
    with pytest.raises(KeyError, match="no 'input_keypoints_2d'"):
        t(dict(input_size=(200, 160)))


def test_root_target_3d():
    X = np.zeros((2, 17, 3))
    X[0, 11], X[0, 12] = [100, 0, 900], [300, 0, 900]      # root (200, 0, 900)
    X[1, 11], X[1, 12] = [-1000, 500, 1000], [-1000, 700, 1000]
    res = GenerateRootTarget3D(space_size=(4000, 4000, 2000), space_center=(0, 0, 1000),
                               space_shape=(41, 41, 21))(dict(gt_keypoints_3d=X))
    np.testing.assert_allclose(res['gt_roots_3d'], [[200, 0, 900], [-1000, 600, 1000]])
    t = res['root_target_3d']
    assert t.shape == (41, 41, 21) and t.dtype == np.float32
    # voxel pitch 100 mm: (200, 0, 900) is voxel (22, 20, 9)
    assert t[22, 20, 9] == pytest.approx(1.0)
    assert t[24, 20, 9] == pytest.approx(np.exp(-200**2 / (2 * 200**2)), rel=1e-6)
    assert t[10, 26, 10] == pytest.approx(1.0)
    empty = GenerateRootTarget3D((4000, 4000, 2000), (0, 0, 1000), (8, 8, 4))(
        dict(gt_keypoints_3d=np.zeros((0, 17, 3))))
    assert empty['root_target_3d'].max() == 0 and empty['gt_roots_3d'].shape == (0, 3)


def test_pack_and_preprocessor():
    cams = _toy_rig()
    frame = dict(cameras=cams, image_sizes=np.array([[640, 480]] * 2, float),
                 gt_keypoints_3d=np.zeros((2, 17, 3)), gt_ids=np.array([4, 9]),
                 frame_id=3, sample_idx=0,
                 img=[np.full((480, 640, 3), 10, np.uint8), np.full((480, 640, 3), 20, np.uint8)])
    frame = MultiViewLetterbox(input_size=(320, 240))(frame)
    frame = GenerateRootTarget3D((4000, 4000, 2000), (0, 0, 1000), (8, 8, 4))(frame)
    with pytest.raises(KeyError, match='add GenerateMultiViewHeatmaps'):
        PackMultiViewPoseInputs()(dict(frame))
    out = PackMultiViewPoseInputs(inputs_key='img')(frame)
    x, ds = out['inputs'], out['data_samples']
    assert tuple(x.shape) == (2, 3, 240, 320) and x.dtype == torch.uint8
    # the views in the one canonical layout (float64 arrays with a leading view axis)
    meta = ds.metainfo
    for key, shape in (('R', (2, 3, 3)), ('t', (2, 3)), ('f', (2, 2)), ('c', (2, 2)),
                       ('dist', (2, 5)), ('image_size', (2, 2))):
        assert meta['cameras'][key].shape == shape and meta['cameras'][key].dtype == np.float64
    assert 'image_sizes' not in meta and tuple(meta['input_size']) == (320, 240)
    np.testing.assert_allclose(meta['cameras']['t'], cams.t)
    np.testing.assert_allclose(meta['cameras']['image_size'], [[640, 480]] * 2)
    np.testing.assert_allclose(meta['affines'][0], [[0.5, 0, 0], [0, 0.5, 0]])
    # any camera form of the frame (here: per-view dicts) gives the same arrays
    listed = PackMultiViewPoseInputs(inputs_key='img')(
        dict(frame, cameras=[cams[v].to_dict() for v in range(2)]))['data_samples']
    for key, v in meta['cameras'].items():
        np.testing.assert_array_equal(listed.metainfo['cameras'][key], v)
    assert ds.gt_instances.ids.tolist() == [4, 9] and 'actor_ids' not in ds.gt_instances
    assert tuple(ds.gt_instances.roots_3d.shape) == (2, 3)
    assert tuple(ds.gt_fields.root_heatmap_3d.shape) == (8, 8, 4)
    assert ds.gt_instances.lifting_target.dtype == np.float32
    assert ds.gt_instances.lifting_target_visible.dtype == np.float32
    assert ds.gt_instance_labels.keypoint_weights.dtype == torch.float32

    pre = MultiViewDataPreprocessor(mean=[10.0, 10.0, 10.0], std=[2.0, 2.0, 2.0],
                                    bgr_to_rgb=True)
    data = pre(dict(inputs=[x, x], data_samples=[ds, ds]))
    y = data['inputs']
    assert tuple(y.shape) == (2, 2, 3, 240, 320) and y.dtype == torch.float32
    assert float(y[0, 0].mean()) == 0.0 and float(y[1, 1].mean()) == 5.0
    # the views stacked once: one ViewMeta shared by the samples of the batch
    vm = data['data_samples'][0].metainfo['view_meta']
    assert vm is data['data_samples'][1].metainfo['view_meta']
    assert vm.cameras.batch_shape == (2, 2) and vm.cameras.R.dtype == torch.float64
    assert tuple(vm.affines.shape) == (2, 2, 2, 3) and tuple(vm.image_sizes.shape) == (2, 2, 2)
    assert vm.input_size == (320.0, 240.0) and vm.depth_norm_factor is None
    np.testing.assert_array_equal(vm.cameras.t[1].numpy(), cams.t)
    # a static rig: the next batch with the same arrays reuses the stacked tensors
    again = pre(dict(inputs=[x, x], data_samples=[ds, ds]))['data_samples'][0]
    assert again.metainfo['view_meta'] is vm and pre.view_cache.hits == 1
    with pytest.raises(ValueError, match='1 data samples for 2 frames'):
        pre(dict(inputs=[x, x], data_samples=[ds]))
    # per-view mean/std
    pre = MultiViewDataPreprocessor(mean=[[10.0] * 3, [20.0] * 3], std=[[1.0] * 3] * 2)
    assert float(pre(dict(inputs=[x], data_samples=[ds]))['inputs'].abs().max()) == 0.0
    # heatmaps pass through unchanged
    hm = torch.rand(2, 17, 8, 10)
    np.testing.assert_array_equal(pre(dict(inputs=[hm], data_samples=[ds]))['inputs'][0], hm)
    with pytest.raises(ValueError, match='must have the same views and size'):
        pre(dict(inputs=[hm, hm[:1]], data_samples=[ds, ds]))
    with pytest.raises(ValueError, match='do not fit 3 views'):
        pre(dict(inputs=[torch.zeros(3, 3, 4, 4, dtype=torch.uint8)], data_samples=[ds]))
