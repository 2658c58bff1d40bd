"""RenderAGRFromKeypoints: the AGR of a real image from a 2D model's keypoints, rendered
exactly as GenerateVirtualPoseAGR renders virtual training scenes."""
import numpy as np
import pytest

import virtualpose_mm  # noqa: F401
from virtualpose_mm.datasets.joint_sets import coco17_to_virtualpose17
from virtualpose_mm.datasets.transforms import (GenerateVirtualPoseAGR, RenderAGRFromKeypoints,
                                                letterbox_affine)
from virtualpose_mm.datasets.transforms.agr_from_keypoints import \
    coco17_scores_to_virtualpose17
from virtualpose_mm.datasets.transforms.multiview import apply_affine
from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.structures.heatmaps import adaptive_sigma, person_boxes
from virtualpose_mm.registry import TRANSFORMS

IMG = (1032, 776)
SMALL = dict(input_size=(480, 256), heatmap_size=(120, 64))
# the half-size AGR with the reference's σ relative to the image (the refsigma configs)
SMALL_REFSIGMA = dict(SMALL, base_sigma=1.5, sigma_ref_size=48.0)


def _camera():
    # level camera 1.2 m high at y = -4 m looking along +y (world z up)
    R = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    C = np.array([0.0, -4000.0, 1200.0])
    return Camera(R, -R @ C, (1100.0, 1080.0), (520.0, 380.0),
                  dist=(0.01, -0.02, 0.001, 0.0005, 0.0), image_size=IMG)


def _people(n=3, seed=0):
    """n people (VirtualPose-17, world mm) standing 1-3 m in front of the space centre."""
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 1500], [0, 0, 1750], [0, 0, 950], [-180, 0, 1450],
                     [-250, 0, 1200], [-280, 0, 950], [-100, 0, 950], [-110, 0, 500],
                     [-120, 0, 80], [180, 0, 1450], [250, 0, 1200], [280, 0, 950],
                     [100, 0, 950], [110, 0, 500], [120, 0, 80], [0, 0, 1220],
                     [0, 0, 1620]], dtype=np.float64)
    out = []
    for i in range(n):
        shift = np.array([rng.uniform(-1500, 1500), rng.uniform(-1500, 1500), 0.0])
        out.append(base + shift + rng.normal(0, 30, base.shape))
    return np.stack(out)


@pytest.mark.parametrize('legacy', [False, True])
@pytest.mark.parametrize('size', [dict(), SMALL, SMALL_REFSIGMA])
def test_same_agr_as_generate_virtualpose_agr_for_the_same_points(legacy, size):
    cam = _camera()
    X = _people(4, seed=1)
    gen = GenerateVirtualPoseAGR(legacy_peak_offset=legacy, legacy_box_paint=legacy,
                                 paint_offcanvas_roots=legacy, **size)
    ref = gen(dict(camera=cam, gt_keypoints_3d=X.copy()))
    uv = cam.project(X.reshape(-1, 3), min_depth=gen.min_depth).reshape(4, 17, 2)
    ren = RenderAGRFromKeypoints(input_joint_set='virtualpose17', **gen.render_kwargs())
    out = ren(dict(keypoints=uv, keypoint_scores=np.full((4, 17), 0.7), camera=cam))
    assert out['agr'].shape == ref['agr'].shape
    assert np.array_equal(out['agr'], ref['agr'])          # bit for bit
    assert ref['agr'][:17].max() > 0.9 and np.abs(ref['agr'][17:]).max() > 1.0
    np.testing.assert_array_equal(out['affine'], ref['affine'])
    np.testing.assert_array_equal(out['agr_sigma'], ref['agr_sigma'])
    np.testing.assert_array_equal(out['agr_bboxes_hm'], ref['gt_bboxes_hm'])
    assert out['depth_norm_factor'] == ref['depth_norm_factor']
    np.testing.assert_array_equal(out['image_size'], IMG)
    np.testing.assert_array_equal(out['agr_person_index'], np.arange(4))
    np.testing.assert_allclose(out['agr_keypoints'], uv)


def test_registered_and_coco17_goes_through_the_package_conversion():
    rng = np.random.default_rng(2)
    coco = rng.uniform([200, 150], [800, 650], (2, 17, 2))
    s = rng.uniform(0.3, 1.0, (2, 17))
    t = TRANSFORMS.build(dict(type='RenderAGRFromKeypoints', **SMALL))
    out = t(dict(keypoints=coco, keypoint_scores=s, image_size=IMG))
    vp = coco17_to_virtualpose17(np.concatenate([coco, np.zeros((2, 17, 1))], -1))[..., :2]
    ref = RenderAGRFromKeypoints(input_joint_set='virtualpose17', **SMALL)(
        dict(keypoints=vp, image_size=IMG))
    assert np.array_equal(out['agr'], ref['agr'])
    np.testing.assert_allclose(out['agr_keypoints'], vp)
    # the root (mid-hip) heatmap peaks at the mean of the COCO hips, in heatmap px
    A = letterbox_affine(IMG, SMALL['input_size'])
    hip = apply_affine((coco[:, 11] + coco[:, 12]) / 2, A) / 4.0
    for p in range(2):
        c, r = np.floor(hip[p] + 0.5).astype(int)
        assert out['agr'][2, r, c] > 0.9
    # made joints score as their worst source: neck = min(shoulders), head top = min(0..6)
    sc = out['agr_keypoint_scores']
    np.testing.assert_array_equal(sc[:, 0], np.minimum(s[:, 5], s[:, 6]))
    np.testing.assert_array_equal(sc[:, 1], s[:, :7].min(-1))
    np.testing.assert_array_equal(sc[:, 3], s[:, 5])
    np.testing.assert_array_equal(sc, coco17_scores_to_virtualpose17(s))


def test_low_score_joints_are_not_rendered_nor_counted_for_sigma_and_box():
    rng = np.random.default_rng(3)
    coco = rng.uniform([300, 200], [700, 600], (1, 17, 2))
    coco[0, 9] = (40.0, 30.0)                   # a far-away left wrist...
    s = np.ones((1, 17))
    s[0, 9] = 0.05                              # ...with a low score
    t = RenderAGRFromKeypoints(score_thr=0.2, **SMALL)
    out = t(dict(keypoints=coco, keypoint_scores=s, image_size=IMG))
    vis = out['agr_keypoints_visible'][0]
    assert not vis[5] and vis.sum() == 16       # VirtualPose l-wrist = channel 5
    assert np.isnan(out['agr_keypoints'][0, 5]).all()
    assert out['agr'][5].max() == 0.0           # not rendered
    assert out['agr'][11].max() > 0.9           # the right wrist is
    A = letterbox_affine(IMG, SMALL['input_size'])
    canvas = apply_affine(out['agr_keypoints'][0][vis], A)[None]
    sigma, _ = adaptive_sigma(canvas / 4.0)
    np.testing.assert_allclose(out['agr_sigma'], sigma, rtol=1e-12)
    box = person_boxes(canvas, SMALL['input_size']) / 4.0
    np.testing.assert_allclose(out['agr_bboxes_hm'], box, rtol=1e-6)
    # with the wrist counted (threshold 0) the box reaches it
    out0 = RenderAGRFromKeypoints(**SMALL)(dict(keypoints=coco, keypoint_scores=s,
                                                image_size=IMG))
    assert out0['agr_bboxes_hm'][0, 0] < out['agr_bboxes_hm'][0, 0] - 5
    assert out0['agr'][5].max() > 0.9


def test_person_without_a_valid_root_is_left_out():
    rng = np.random.default_rng(4)
    coco = rng.uniform([300, 200], [700, 600], (2, 17, 2))
    s = np.ones((2, 17))
    s[1, 11] = 0.0                              # person 1: left hip missing → no mid-hip
    out = RenderAGRFromKeypoints(score_thr=0.5, **SMALL)(
        dict(keypoints=coco, keypoint_scores=s, image_size=IMG))
    np.testing.assert_array_equal(out['agr_person_index'], [0])
    only0 = RenderAGRFromKeypoints(score_thr=0.5, **SMALL)(
        dict(keypoints=coco[:1], keypoint_scores=s[:1], image_size=IMG))
    assert np.array_equal(out['agr'], only0['agr'])
    empty = RenderAGRFromKeypoints(**SMALL)(dict(keypoints=np.zeros((0, 17, 2)),
                                                 image_size=IMG))
    assert empty['agr'].shape == (21, 64, 120) and not empty['agr'].any()


def test_scores_as_amplitudes():
    A = letterbox_affine(IMG, SMALL['input_size'])
    # joints on integer heatmap px: the Gaussian peak is exactly the amplitude
    hm = np.stack(np.meshgrid(np.arange(40, 57), [30]), -1).reshape(1, 17, 2).astype(float)
    hm[0, :, 1] += np.arange(17) % 3
    px = ((hm * 4.0) - A[:, 2]) / A[0, 0]
    s = np.linspace(0.3, 0.95, 17)[None]
    out = RenderAGRFromKeypoints(input_joint_set='virtualpose17', score_as_amplitude=True,
                                 **SMALL)(dict(keypoints=px, keypoint_scores=s, image_size=IMG))
    peaks = out['agr'][:17].reshape(17, -1).max(-1)
    np.testing.assert_allclose(peaks, s[0], rtol=1e-6)


def test_given_boxes_fill_the_box_map():
    rng = np.random.default_rng(5)
    coco = rng.uniform([400, 300], [600, 500], (1, 17, 2))
    box = np.array([[350.0, 250.0, 700.0, 620.0]])
    t = RenderAGRFromKeypoints(bbox_source='input', **SMALL)
    out = t(dict(keypoints=coco, bboxes=box, image_size=IMG))
    A = letterbox_affine(IMG, SMALL['input_size'])
    root = apply_affine((coco[0, 11] + coco[0, 12]) / 2, A)
    b = apply_affine(box.reshape(2, 2), A).reshape(4)
    want = np.array([root[0] - b[0], root[1] - b[1], b[2] - root[0], b[3] - root[1]]) / 4
    c, r = np.floor(root / 4 + 0.5).astype(int)
    np.testing.assert_allclose(out['agr'][17:, r, c], want, rtol=1e-5)
    np.testing.assert_allclose(out['agr_bboxes_hm'][0], b / 4, rtol=1e-5)
    with pytest.raises(KeyError, match='bboxes'):
        t(dict(keypoints=coco, image_size=IMG))


def test_bad_inputs_are_named():
    t = RenderAGRFromKeypoints(**SMALL)
    with pytest.raises(ValueError, match=r'\(N, 17, 2\)'):
        t(dict(keypoints=np.zeros((1, 15, 2)), image_size=IMG))
    with pytest.raises(ValueError, match='keypoint_scores'):
        t(dict(keypoints=np.zeros((1, 17, 2)), keypoint_scores=np.ones((1, 16)),
               image_size=IMG))
    with pytest.raises(ValueError, match='image size'):
        t(dict(keypoints=np.zeros((1, 17, 2))))
    with pytest.raises(ValueError, match='input_joint_set'):
        RenderAGRFromKeypoints(input_joint_set='panoptic15')
    # (N, K, 3) arrays carry the scores in their third column
    k = np.concatenate([np.full((1, 17, 2), 500.0) + np.arange(17)[None, :, None] * 7,
                        np.full((1, 17, 1), 0.1)], -1)
    out = RenderAGRFromKeypoints(score_thr=0.5, **SMALL)(dict(keypoints=k, image_size=IMG))
    assert len(out['agr_person_index']) == 0 and not out['agr'].any()
