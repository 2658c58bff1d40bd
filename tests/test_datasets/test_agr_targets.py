"""VirtualPose stage-1 targets: LetterboxImage + GenerateAGRTargets (+ MMPose's
PackPoseInputs), on images with known people."""
import numpy as np
import pytest
import torch

import virtualpose_mm  # noqa: F401  (registers the transforms)
from mmpose.datasets.transforms import PackPoseInputs
from virtualpose_mm.datasets.joint_sets import (coco17_to_panoptic15_2d,
                                                coco17_to_virtualpose17_2d)
from virtualpose_mm.datasets.transforms import GenerateAGRTargets, LetterboxImage
from virtualpose_mm.geometry.camera import Camera

INPUT = (128, 64)      # canvas (w, h)
HM = (32, 16)          # stride 4
IMG_W, IMG_H = 256, 192
K_LB = 1.0 / 3.0       # letterbox scale min(128/256, 64/192)
OFF_X = (128 - K_LB * IMG_W) / 2   # 21.333 px, image centred horizontally


def to_hm(xy):
    """original px → heatmap px, written out independently of the code under test."""
    xy = np.asarray(xy, np.float64)
    return np.stack([(K_LB * xy[..., 0] + OFF_X) / 4, K_LB * xy[..., 1] / 4], -1)


def from_hm(col, row):
    """heatmap px → original px (inverse of to_hm)."""
    return ((4 * col - OFF_X) / K_LB, 4 * row / K_LB)


def coco_person(cx_col, top_row, scale=1.0):
    """A COCO-17 person whose joints land on integer heatmap pixels; (17, 2) original px."""
    # (col, row) offsets in heatmap px of the 17 COCO joints
    offs = {0: (0, 0), 1: (-1, -1), 2: (1, -1), 3: (-2, 0), 4: (2, 0),
            5: (-2, 2), 6: (2, 2), 7: (-3, 4), 8: (3, 4), 9: (-4, 6), 10: (4, 6),
            11: (-1, 6), 12: (1, 6), 13: (-1, 9), 14: (1, 9), 15: (-1, 12), 16: (1, 12)}
    out = np.zeros((17, 2))
    for j, (dc, dr) in offs.items():
        out[j] = from_hm(cx_col + dc * scale, top_row + dr * scale)
    return out


def coco_sample(with_image=True):
    a = coco_person(9, 1)
    b = coco_person(22, 2)
    vis = np.ones((2, 17), np.float32)
    vis[1, 15] = 0            # person b: left ankle not annotated
    vis[:, 3] = 0             # nobody's left ear (not used by VirtualPose-17 anyway)
    res = dict(keypoints=np.stack([a, b]).astype(np.float32), keypoints_visible=vis,
               bbox=np.array([[40, 10, 120, 180], [150, 20, 240, 185]], np.float32),
               bbox_score=np.ones(2, np.float32), img_id=1, img_path='x.jpg')
    if with_image:
        res['img'] = np.zeros((IMG_H, IMG_W, 3), np.uint8)
        res['img_shape'] = res['ori_shape'] = (IMG_H, IMG_W)
    return res


def make_targets(res, **kw):
    res = LetterboxImage(INPUT)(res)
    cfg = dict(input_size=INPUT, heatmap_size=HM, source_joint_set='coco17')
    cfg.update(kw)
    return GenerateAGRTargets(**cfg)(res)


def test_letterbox_image_and_affine():
    img = np.zeros((IMG_H, IMG_W, 3), np.uint8)
    img[90:102, 120:132] = 255                       # a bright square around (126, 96)
    res = LetterboxImage(INPUT)(dict(img=img))
    np.testing.assert_allclose(res['affine'], [[K_LB, 0, OFF_X], [0, K_LB, 0]], atol=1e-12)
    out = res['img']
    assert out.shape == (64, 128, 3) and res['img_shape'] == (64, 128)
    ys, xs = np.nonzero(out[..., 0] > 128)
    assert abs(xs.mean() - (K_LB * 125.5 + OFF_X)) < 0.7
    assert abs(ys.mean() - K_LB * 95.5) < 0.7
    assert out[:, :21].max() == 0 and out[:, 107:].max() == 0   # letterbox padding
    np.testing.assert_array_equal(res['image_size'], [IMG_W, IMG_H])


def test_coco_heatmaps_peak_at_the_joints_and_weights():
    res = make_targets(coco_sample())
    hm, kw = res['heatmaps'], res['keypoint_weights']
    assert hm.shape == (17, 16, 32) and kw.shape == (2, 17)
    # VirtualPose-17: 0 neck, 1 headtop, 2 mid-hip, 3 l-sho ... 8 l-ank, 9 r-sho ... 15 spine
    expect = {5: (9 - 4, 1 + 6), 11: (9 + 4, 1 + 6), 0: (9, 1 + 2), 2: (9, 1 + 6)}
    for ch, (col, row) in expect.items():         # person a, exact integer pixels
        assert hm[ch, row, col] == pytest.approx(1.0, abs=1e-6), ch
    for ch, (col, row) in {5: (22 - 4, 2 + 6), 0: (22, 2 + 2)}.items():   # person b
        assert hm[ch, row, col] == pytest.approx(1.0, abs=1e-6), ch
    # l-ankle (8): visible for a only → one peak, weight 1 for a, 0 for b
    assert hm[8, 1 + 12, 9 - 1] == pytest.approx(1.0, abs=1e-6)
    assert hm[8, 2 + 12, 22 - 1] < 0.5
    assert kw[0, 8] == 1 and kw[1, 8] == 0
    # COCO has no head top / spine / head: empty channels, weight 0
    for ch in (1, 15, 16):
        assert hm[ch].max() == 0 and kw[:, ch].max() == 0
    # σ from the person's extent over its visible joints: a spans 8 cols × 12 rows → s = 12
    # → clipped to 48: σ = 3·sqrt(2·48²)/96
    np.testing.assert_allclose(res['agr_sigma'], [3 * np.sqrt(2) * 48 / 96] * 2)
    # every joint in canvas px
    np.testing.assert_allclose(res['transformed_keypoints'][0, 0], [4 * 9, 4 * 3], atol=1e-4)


def test_sigma_follows_the_visible_extent_of_each_person():
    # a 1024×768 image into a 512×384 canvas (scale 0.5, no padding) → 128×96 maps: heatmap
    # px = original px / 8, large enough for σ to leave its clip range
    rows = np.linspace(0, 80, 17)                 # person a: 80 heatmap px tall
    a = np.stack([np.full(17, 40.0), rows], -1) * 8
    b = a.copy()
    b[:, 0] += 400                                 # person b: same pose, 50 px to the right
    vis = np.ones((2, 17), np.float32)
    vis[1, 11:] = 0                                # b: hips and legs unannotated → 50 px
    res = dict(img=np.zeros((768, 1024, 3), np.uint8), keypoints=np.stack([a, b]),
               keypoints_visible=vis)
    res = LetterboxImage((512, 384))(res)
    res = GenerateAGRTargets(input_size=(512, 384), heatmap_size=(128, 96),
                             source_joint_set='coco17')(res)
    # COCO rows: shoulders 25 (row 5·5), ankles 80; VirtualPose keeps joints 5..16 → a's
    # visible extent is rows 25..80 = 55 px; b's is shoulders..wrists 25..50 = 25 → clip 48
    np.testing.assert_allclose(res['agr_sigma'], [3 * np.sqrt(2) * 55 / 96,
                                                  3 * np.sqrt(2) * 48 / 96])
    # the Gaussian of a's neck (row 27.5, col 40) has that σ
    s = res['agr_sigma'][0]
    hm = res['heatmaps'][0]
    assert hm[27, 40] == pytest.approx(np.exp(-0.25 / (2 * s * s)), rel=1e-5)
    assert hm[27, 43] == pytest.approx(np.exp(-(0.25 + 9) / (2 * s * s)), rel=1e-5)


def test_box_targets_from_annotated_boxes_at_the_root_pixel():
    res = make_targets(coco_sample(), bbox_source='annotation', bbox_padding=1.25)
    # person a's annotated box (x1, y1, x2, y2) = (40, 10, 120, 180): centre, padded half size
    cx, cy, hw, hh = 80, 95, 40 * 1.25, 85 * 1.25
    box = np.concatenate([to_hm([cx - hw, cy - hh]), to_hm([cx + hw, cy + hh])])
    box = np.clip(box, 0, [32, 16, 32, 16])        # clipped to the canvas
    root = np.array([9.0, 7.0])                   # person a's mid-hip, heatmap px
    np.testing.assert_allclose(res['box_targets'][0],
                               [root[0] - box[0], root[1] - box[1], box[2] - root[0],
                                box[3] - root[1]], atol=1e-4)
    assert res['root_ind'][0] == 7 * 32 + 9 and res['root_mask'][0] == 1
    assert res['root_ind'][1] == 8 * 32 + 22


def test_box_targets_from_keypoints_and_invisible_root():
    sample = coco_sample()
    sample['keypoints_visible'][1, 11] = 0        # person b: left hip unannotated → no root
    res = make_targets(sample, bbox_source='keypoints', bbox_extension=(0.25, 0.12))
    # person a: visible VirtualPose joints (neck/shoulders row 3 .. ankles row 13, wrists
    # cols 5..13; no head joints from COCO) in canvas px (×4), grown 25 % / 12 %
    mn, mx = np.array([5.0, 3.0]) * 4, np.array([13.0, 13.0]) * 4
    e = (mx - mn) * [0.25, 0.12]
    b = np.concatenate([np.clip(mn - e, 0, INPUT), np.clip(mx + e, 0, INPUT)]) / 4
    np.testing.assert_allclose(res['box_targets'][0], [9 - b[0], 7 - b[1], b[2] - 9, b[3] - 7],
                               atol=1e-4)
    assert res['root_mask'][1] == 0 and res['root_ind'][1] == 0
    np.testing.assert_array_equal(res['box_targets'][1], 0)
    assert res['heatmaps'][2, 8, 22] < 0.5        # no mid-hip Gaussian for person b


def test_off_canvas_joints_are_invisible():
    sample = coco_sample()
    # x = -80 px maps to canvas x = -80/3 + 21.3 < 0 (x = -30 would still fall on the
    # letterbox padding, inside the canvas, and stay visible as in the reference)
    sample['keypoints'][0, 9] = [-80, 50]
    res = make_targets(sample)
    assert res['keypoint_weights'][0, 5] == 0     # VP l-wrist ← COCO 9
    assert res['keypoint_weights'][1, 5] == 1


def test_keypoints_3d_source_projects_through_the_camera():
    K = 17
    # camera at the origin looking along +y (world z up): x_cam = x, y_cam = -z, z_cam = y
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    cam = Camera(R, np.zeros(3), f=(500.0, 500.0), c=(128.0, 96.0), image_size=(IMG_W, IMG_H))
    rng = np.random.default_rng(0)
    X = np.stack([np.array([x, 4000.0, 0.0]) + rng.normal(0, 150, (K, 3))
                  for x in (-600.0, 700.0)])
    res = dict(camera=cam.to_dict(), gt_keypoints_3d=X, img=np.zeros((IMG_H, IMG_W, 3),
                                                                     np.uint8))
    res = LetterboxImage(INPUT)(res)
    res = GenerateAGRTargets(input_size=INPUT, heatmap_size=HM, source='keypoints_3d')(res)
    uv = np.stack([500 * X[..., 0] / X[..., 1] + 128, 500 * -X[..., 2] / X[..., 1] + 96], -1)
    np.testing.assert_allclose(res['keypoints'], uv, rtol=1e-5)
    hm = to_hm(uv)
    for p in range(2):
        col, row = np.floor(hm[p, 2] + 0.5).astype(int)
        assert res['root_ind'][p] == row * 32 + col
        # the mid-hip channel peaks next to the projected root
        local = res['heatmaps'][2, max(row - 2, 0):row + 3, max(col - 2, 0):col + 3]
        assert local.max() > 0.8


def test_pack_pose_inputs_carries_the_targets():
    res = make_targets(coco_sample(), bbox_source='annotation')
    packed = PackPoseInputs(pack_transformed=True,
                            meta_keys=('img_id', 'affine', 'input_size'))(res)
    ds = packed['data_samples']
    assert packed['inputs'].shape == (3, 64, 128)
    assert ds.gt_fields.heatmaps.shape == (17, 16, 32)
    lab = ds.gt_instance_labels
    assert lab.box_targets.shape == (2, 4) and lab.root_ind.dtype == torch.int64
    torch.testing.assert_close(lab.root_ind, torch.tensor([7 * 32 + 9, 8 * 32 + 22]))
    assert ds.gt_instances.transformed_keypoints.shape == (2, 17, 2)
    np.testing.assert_allclose(ds.metainfo['affine'], res['affine'])


def test_coco_to_virtualpose_2d_conversion():
    coco = np.arange(17 * 2, dtype=float).reshape(17, 2)
    vis = np.ones(17)
    vis[12] = 0
    out, v = coco17_to_virtualpose17_2d(coco, vis)
    np.testing.assert_allclose(out[0], (coco[5] + coco[6]) / 2)
    np.testing.assert_allclose(out[2], (coco[11] + coco[12]) / 2)
    np.testing.assert_allclose(out[3], coco[5])
    np.testing.assert_allclose(out[14], coco[16])
    assert not v[2] and v[0] and not v[12] and v[6]     # hips: l visible, r not
    assert not v[[1, 15, 16]].any()


def test_coco_to_panoptic15_2d_conversion():
    """COCO-17 → Panoptic-15 on a hand-computed example: COCO joint k at (2k, 2k + 1)."""
    coco = np.arange(17 * 2, dtype=float).reshape(17, 2)
    vis = np.full(17, 2)          # COCO's "labelled and visible"
    vis[12] = 0                   # right hip not annotated
    vis[7] = 1                    # left elbow "labelled, occluded": still a target
    vis[1:5] = 0                  # eyes and ears: not in Panoptic-15
    out, v = coco17_to_panoptic15_2d(coco, vis)
    # Panoptic-15: neck, nose, mid-hip, l-sho, l-elb, l-wri, l-hip, l-kne, l-ank,
    # r-sho, r-elb, r-wri, r-hip, r-kne, r-ank
    expect = np.array([[11, 12],            # neck = ((10, 11) + (12, 13)) / 2
                       [0, 1],              # nose = COCO 0
                       [23, 24],            # mid-hip = ((22, 23) + (24, 25)) / 2
                       [10, 11], [14, 15], [18, 19], [22, 23], [26, 27], [30, 31],
                       [12, 13], [16, 17], [20, 21], [24, 25], [28, 29], [32, 33]], float)
    np.testing.assert_array_equal(out, expect)
    assert out.dtype == np.float64 and v.dtype == bool
    np.testing.assert_array_equal(v, [1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1])
    # leading axes, and the shape checks name the function
    out2, v2 = coco17_to_panoptic15_2d(np.stack([coco, coco]), np.stack([vis, vis]))
    assert out2.shape == (2, 15, 2) and v2.shape == (2, 15)
    with pytest.raises(ValueError, match='coco17_to_panoptic15_2d'):
        coco17_to_panoptic15_2d(coco[:15], vis[:15])
    with pytest.raises(ValueError, match='visibility shape'):
        coco17_to_panoptic15_2d(coco, vis[:16])


def test_coco_targets_in_panoptic15():
    """GenerateAGRTargets(source_joint_set='coco17', joint_set='panoptic15'): 15 channels,
    the neck and mid-hip made from the shoulders and hips, the nose taken as it is."""
    res = make_targets(coco_sample(), joint_set='panoptic15', bbox_source='annotation')
    hm, kw = res['heatmaps'], res['keypoint_weights']
    assert hm.shape == (15, 16, 32) and kw.shape == (2, 15)
    a = {0: (9, 1 + 2), 1: (9, 1), 2: (9, 1 + 6), 3: (9 - 2, 1 + 2), 9: (9 + 2, 1 + 2),
         5: (9 - 4, 1 + 6), 14: (9 + 1, 1 + 12)}   # person a, (col, row), exact pixels
    for ch, (col, row) in a.items():
        assert hm[ch, row, col] == pytest.approx(1.0, abs=1e-6), ch
    # person b: left ankle (Panoptic 8) not annotated, the rest are; root pixel = mid-hip
    assert kw[0].all() and kw[1, 8] == 0 and kw[1, [0, 1, 2, 14]].all()
    np.testing.assert_array_equal(res['root_ind'], [7 * 32 + 9, 8 * 32 + 22])
    np.testing.assert_array_equal(res['root_mask'], [1, 1])


def test_inside_image_drops_joints_beside_the_image():
    """A joint projected just left of a 256×192 image lands on the letterbox padding
    (canvas x ≥ 0): a target by default, not one with inside_image (the reference's
    Panoptic test)."""
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])   # looking along +y, z up
    cam = Camera(R, np.zeros(3), f=(500.0, 500.0), c=(128.0, 96.0), image_size=(IMG_W, IMG_H))
    rng = np.random.default_rng(1)
    X = np.array([0.0, 4000.0, 0.0]) + rng.normal(0, 150, (1, 15, 3))
    X[0, 5] = [-1200.0, 4000.0, 0.0]              # l-wrist → u = 500·(−0.3) + 128 = −22 px
    base = dict(camera=cam, gt_keypoints_3d=X, img=np.zeros((IMG_H, IMG_W, 3), np.uint8))
    out = {}
    for flag in (False, True):
        res = LetterboxImage(INPUT)(dict(base))
        out[flag] = GenerateAGRTargets(input_size=INPUT, heatmap_size=HM, joint_set='panoptic15',
                                       source='keypoints_3d', inside_image=flag)(res)
    assert out[False]['keypoints'][0, 5, 0] == pytest.approx(-22.0, abs=1e-3)
    assert 0 < out[False]['transformed_keypoints'][0, 5, 0] < OFF_X     # on the padding
    assert out[False]['keypoint_weights'][0, 5] == 1 and out[True]['keypoint_weights'][0, 5] == 0
    np.testing.assert_array_equal(np.delete(out[True]['keypoint_weights'][0], 5),
                                  np.delete(out[False]['keypoint_weights'][0], 5))
    with pytest.raises(KeyError, match='image_size'):
        res = LetterboxImage(INPUT)(dict(base))
        res.pop('image_size')
        GenerateAGRTargets(input_size=INPUT, heatmap_size=HM, joint_set='panoptic15',
                           source='keypoints_3d', inside_image=True)(res)


def test_bad_inputs_are_named():
    with pytest.raises(KeyError, match='LetterboxImage'):
        GenerateAGRTargets(input_size=INPUT, heatmap_size=HM)(coco_sample(False))
    with pytest.raises(ValueError, match='one stride'):
        GenerateAGRTargets(input_size=INPUT, heatmap_size=(32, 20))
    res = LetterboxImage(INPUT)(coco_sample())
    res['keypoints'] = res['keypoints'][:, :15]
    with pytest.raises(ValueError, match='coco17'):
        GenerateAGRTargets(input_size=INPUT, heatmap_size=HM, source_joint_set='coco17')(res)
