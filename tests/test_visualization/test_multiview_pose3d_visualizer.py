"""MultiviewPose3dVisualizer (VISUALIZERS) and MultiviewVisualizationHook (HOOKS,
``tools/test.py --show-dir``): real Shelf cameras, pixels checked where the camera puts the
joints."""
import itertools
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.structures import PoseDataSample

from tests.helpers import REPO_ROOT, run_tool
from virtualpose_mm.datasets.joint_sets import to_mmpose_metainfo
from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.geometry.camera_io import SHELF_IMAGE_SIZE, load_cameras
from virtualpose_mm.registry import VISUALIZERS
from virtualpose_mm.visualization import PERSON_PALETTE, MultiviewPose3dVisualizer

CALIB = osp.join(REPO_ROOT, 'demo', 'data', 'calibration_shelf.json')
DEMO_CFG = osp.join(REPO_ROOT, 'configs', 'voxelpose', 'voxelpose_demo_shelf_virtual_cpu.py')
SPACE = dict(space_size=(8000.0, 8000.0, 2000.0), space_center=(450.0, -320.0, 800.0))

#: A standing COCO-17 person (x to the right, z up, mm), feet on the floor at the origin.
STANDING = np.array([
    [0, 0, 1700], [-30, 0, 1730], [30, 0, 1730], [-80, 0, 1710], [80, 0, 1710],
    [-180, 0, 1480], [180, 0, 1480], [-220, 0, 1200], [220, 0, 1200], [-240, 0, 950],
    [240, 0, 950], [-100, 0, 950], [100, 0, 950], [-100, 0, 500], [100, 0, 500],
    [-100, 0, 80], [100, 0, 80]], np.float64)
#: COCO-17 limbs with the left knee → left ankle (13, 15) used below
L_KNEE, L_ANKLE = 13, 15

_names = itertools.count()


def _vis(**kw) -> MultiviewPose3dVisualizer:
    """A fresh instance (mmengine keeps one instance per name)."""
    return VISUALIZERS.build(dict(type='MultiviewPose3dVisualizer',
                                  name=f'mv_test_{next(_names)}', **kw))


@pytest.fixture(scope='module')
def cameras():
    """The real Shelf rig: name → single Camera (numpy), image size 1032 × 776."""
    return load_cameras(CALIB, image_size=SHELF_IMAGE_SIZE)


def _sample(preds, gts=(), metainfo=None, torch_inputs=False):
    ds = PoseDataSample(metainfo=dict(metainfo or {}))
    P = np.asarray(preds, np.float32).reshape(len(preds), -1, 3)
    K = P.shape[1]
    inst = InstanceData()
    inst.keypoints = torch.from_numpy(P) if torch_inputs else P
    inst.keypoint_scores = np.full((len(P), K), 0.9, np.float32)
    inst.bbox_scores = np.full((len(P), ), 0.9, np.float32)
    ds.pred_instances = inst
    if len(gts):
        G = np.asarray(gts, np.float32).reshape(len(gts), -1, 3)
        ds.gt_instances = InstanceData(lifting_target=G,
                                       lifting_target_visible=np.ones(G.shape[:2], np.float32))
    return ds


def _exact(img, color) -> np.ndarray:
    return (img[..., :3] == np.asarray(color, np.uint8)).all(-1)


def _pixel(img, uv):
    u, v = (int(round(float(c))) for c in uv)
    return tuple(int(c) for c in img[v, u])


def _in_view(cam, X, margin=30):
    uv = cam.project(X)
    w, h = cam.image_size
    return uv, bool(((uv >= margin) & (uv < np.array([w, h]) - margin)).all()
                    and (cam.depth(X) > 0).all())


# ----------------------------------------------------------------------------- world + views
def test_registry_builds_a_frame_with_two_people_gt_and_three_cameras(cameras):
    vis = _vis()
    assert type(vis) is MultiviewPose3dVisualizer
    p1, p2 = STANDING + [0, -500, 0], STANDING + [900, 300, 0]
    ds = _sample([p1, p2], gts=[p1 + [60, 40, 0]], metainfo=SPACE)
    cams = [cameras[k] for k in ('0', '1', '2')]
    out = vis.add_datasample('frame', ds, cameras=cams, visualize_single_view=True,
                             return_views=True)
    world, views, fig = out['world'], out['views'], out['figure']
    assert world.shape == (640, 640, 3) and world.dtype == np.uint8
    assert len(views) == 3 and all(v.shape == (776, 1032, 3) for v in views)
    # the figure: the world panel, then the 2 x 2 grid of views (cells of 320 px height)
    assert fig.shape[0] == 640 and fig.shape[1] > 640 and fig.dtype == np.uint8
    np.testing.assert_array_equal(fig[:, :640], world)
    # both people in the world panel, each in its own colour; an unused colour is absent
    c0, c1, unused = PERSON_PALETTE[0], PERSON_PALETTE[1], PERSON_PALETTE[2]
    assert _exact(world, c0).sum() > 50 and _exact(world, c1).sum() > 50
    assert _exact(world, unused).sum() == 0
    # the same person keeps its colour in every panel where the camera sees it
    checked = set()
    for cam, view in zip(cams, views):
        for i, (X, col) in enumerate(((p1, c0), (p2, c1))):
            uv, seen = _in_view(cam, X)
            if seen:
                assert _pixel(view, uv[L_KNEE]) == col
                checked.add(i)
    assert checked == {0, 1}
    # the views without single-view panels: the figure is the world panel alone
    only = vis.add_datasample('frame', ds, cameras=cams)
    assert only.shape == (640, 640, 3)


def test_inputs_as_torch_and_as_load_cameras_dict_draw_the_same(cameras):
    vis = _vis()
    X = [STANDING + [0, -500, 0]]
    cam_batch = Camera.stack([cameras[k] for k in cameras])
    a = vis.add_datasample('a', _sample(X, metainfo=SPACE), cameras=cam_batch,
                           visualize_single_view=True)
    b = vis.add_datasample('b', _sample(X, metainfo=SPACE, torch_inputs=True),
                           cameras=cameras, visualize_single_view=True,
                           camera_names=[str(i) for i in range(5)])
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- one view
def test_single_view_pixels_are_where_the_camera_projects_the_joints(cameras):
    cam = cameras['0']
    X = STANDING + [500, 0, 0]
    uv, seen = _in_view(cam, X)
    assert seen, 'test set-up: the person must be inside view 0'
    vis = _vis()
    views = vis.add_datasample('one', _sample([X]), cameras=[cam], return_views=True)['views']
    img = views[0]
    assert img.shape == (776, 1032, 3)
    col = PERSON_PALETTE[0]
    for k in range(17):
        assert _pixel(img, uv[k]) == col, k
    mid = (uv[L_KNEE] + uv[L_ANKLE]) / 2
    assert _pixel(img, mid) == col
    # background far from the person (and nothing but background and the person colour
    # mixed by anti-aliasing: no other palette colour)
    far = np.array([5, 5]) if uv[:, 0].min() > 200 else np.array([1020, 770])
    assert np.linalg.norm(uv - far, axis=1).min() > 100
    assert _pixel(img, far) == (0, 0, 0)
    assert _exact(img, PERSON_PALETTE[1]).sum() == 0
    # same result through draw_views
    np.testing.assert_array_equal(vis.draw_views(_sample([X]), [cam])[0], img)


def _segment_distance(p, a, b):
    ab = b - a
    t = np.clip(np.dot(p - a, ab) / np.dot(ab, ab), 0, 1)
    return float(np.linalg.norm(p - (a + t * ab)))


def test_joints_behind_the_camera_or_not_finite_are_not_drawn(cameras):
    cam = cameras['0']
    X = STANDING + [500, 0, 0]
    uv, seen = _in_view(cam, X)
    assert seen
    vis = _vis()
    # mirrored through the camera centre: every joint behind the camera, and each would
    # project (x/z, y/z unchanged) exactly where the visible person is drawn
    Xc = cam.world_to_camera(X)
    behind = cam.camera_to_world(-Xc)
    assert (cam.depth(behind) < 0).all()
    np.testing.assert_allclose(cam.project(behind), uv, atol=1e-6)
    img = vis.draw_views(_sample([behind]), [cam])[0]
    assert not img.any(), 'a joint behind the camera was drawn'

    # a non-finite ankle: its limb disappears, the rest of the person stays, and nothing
    # is drawn that the whole person does not cover
    bad = X.copy()
    bad[L_ANKLE] = np.nan
    img = vis.draw_views(_sample([bad]), [cam])[0]
    full = vis.draw_views(_sample([X]), [cam])[0]
    assert not (img.any(-1) & ~full.any(-1)).any()
    col = PERSON_PALETTE[0]
    mid = (uv[L_KNEE] + uv[L_ANKLE]) / 2
    from virtualpose_mm.visualization import COCO17_SKELETON
    others = [(a, b) for a, b in COCO17_SKELETON if L_ANKLE not in (a, b)]
    assert min(_segment_distance(mid, uv[a], uv[b]) for a, b in others) > 8
    assert _pixel(img, mid) == (0, 0, 0)
    assert _pixel(img, uv[L_ANKLE]) == (0, 0, 0)
    assert _pixel(img, uv[L_KNEE]) == col
    # infinite coordinates do not raise either
    inf = X.copy()
    inf[0] = np.inf
    vis.draw_views(_sample([inf]), [cam])


def test_2d_detections_are_drawn_white_and_low_scores_skipped(cameras):
    cam = cameras['0']
    X = STANDING + [500, 0, 0]
    uv, _ = _in_view(cam, X)
    det = np.concatenate([uv + [40.0, 0.0], np.ones((17, 1))], 1)  # 40 px to the right
    det[L_ANKLE, 2] = 0.0  # no confidence: not drawn
    vis = _vis()
    img = vis.draw_views(_sample([X]), [cam], keypoints_2d=[det[None]])[0]
    white = (255, 255, 255)
    assert _pixel(img, det[L_KNEE, :2]) == white  # the centre of its cross
    assert _pixel(img, det[L_ANKLE, :2]) != white
    assert _pixel(img, uv[L_KNEE]) == PERSON_PALETTE[0]  # the 3D prediction, unchanged


# ----------------------------------------------------------------------------- file, meta
def test_out_file_is_the_returned_figure(tmp_path, cameras):
    out = tmp_path / 'new' / 'dir' / 'frame.png'
    vis = _vis()
    fig = vis.add_datasample('f', _sample([STANDING], metainfo=SPACE),
                             cameras=[cameras['0'], cameras['1']], visualize_single_view=True,
                             out_file=str(out))
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back is not None and back.shape == fig.shape
    np.testing.assert_array_equal(back[..., ::-1], fig)  # PNG: lossless, RGB → BGR on disk
    assert os.listdir(out.parent) == ['frame.png']  # no temporary file left behind


def test_skeleton_from_dataset_meta_and_clear_errors_for_a_wrong_k():
    coco = parse_pose_metainfo(to_mmpose_metainfo('coco17'))
    pan = parse_pose_metainfo(to_mmpose_metainfo('panoptic15'))
    X15 = np.random.default_rng(0).normal(0, 300, (1, 15, 3)) + [0, 0, 1000]
    vis = _vis()
    vis.set_dataset_meta(coco)
    with pytest.raises(ValueError, match=r'K = 15 joints.*coco17.*17 joints'):
        vis.add_datasample('f', _sample(X15))
    # no meta at all: COCO-17 is the fallback for K = 17 only
    vis.set_dataset_meta(None)
    vis.add_datasample('f', _sample([STANDING]))
    with pytest.raises(ValueError, match='K = 15 joints and no skeleton'):
        vis.add_datasample('f', _sample(X15))
    # mmengine's loops assign the attribute: it sets the skeleton as set_dataset_meta does
    vis.dataset_meta = pan
    img = vis.add_datasample('f', _sample(X15))
    assert _exact(img, PERSON_PALETTE[0]).sum() > 20
    with pytest.raises(ValueError, match='K = 17'):
        vis.add_datasample('f', _sample([STANDING]))
    # Shelf/Campus: predictions COCO-17, GT in the 14-joint set named by gt_joint_set
    shelf = dict(coco, gt_joint_set='shelf14')
    vis.set_dataset_meta(shelf)
    gt14 = np.random.default_rng(1).normal(0, 300, (1, 14, 3)) + [0, 0, 1000]
    vis.add_datasample('f', _sample([STANDING], gts=gt14))
    vis.set_dataset_meta(coco)
    with pytest.raises(ValueError, match='gt_instances.lifting_target has K = 14'):
        vis.add_datasample('f', _sample([STANDING], gts=gt14))
    vis.add_datasample('f', _sample([STANDING], gts=gt14), draw_gt=False)
    # a skeleton that does not fit its own joint count is refused at once
    with pytest.raises(ValueError, match='joint 16'):
        vis.set_dataset_meta(dict(num_keypoints=15, skeleton_links=[(0, 16)]))


def test_mmpose_pose3d_visualizer_is_untouched():
    from mmpose.visualization import Pose3dLocalVisualizer
    from mmpose.visualization.local_visualizer_3d import Pose3dLocalVisualizer as Orig
    assert VISUALIZERS.get('Pose3dLocalVisualizer') is Pose3dLocalVisualizer is Orig
    assert not issubclass(MultiviewPose3dVisualizer, Pose3dLocalVisualizer)
    assert Pose3dLocalVisualizer.add_datasample.__module__ == \
        'mmpose.visualization.local_visualizer_3d'


# ----------------------------------------------------------------------------- the hook
class _RootNet(torch.nn.Module):
    space_size = SPACE['space_size']
    space_center = SPACE['space_center']


def _box_pixels(img) -> int:
    """Pixels of the capture-space box colour (0.55, 0.55, 0.85) in the world panel."""
    return int((np.abs(img[:, :640].astype(int) - [140, 140, 217]).max(-1) <= 2).sum())


def test_hook_draws_every_interval_th_sample_of_a_batch_by_sample_idx(tmp_path, cameras):
    from types import SimpleNamespace

    from virtualpose_mm.registry import HOOKS
    out = tmp_path / 'show'
    hook = HOOKS.build(dict(type='MultiviewVisualizationHook', enable=True, interval=2,
                            out_dir=str(out)))
    model = torch.nn.Sequential(_RootNet())  # the capture space comes from the root net
    meta = parse_pose_metainfo(to_mmpose_metainfo('coco17'))
    runner = SimpleNamespace(visualizer=None, model=model,
                             test_evaluator=SimpleNamespace(dataset_meta=meta))
    rig = Camera.stack([cameras[k] for k in ('0', '1', '2')]).to_dict()
    outputs = [_sample([STANDING + [500, 0, 0]], metainfo=dict(
        sample_idx=10 + i, cameras=rig, img_paths=[str(tmp_path / 'missing.jpg')] * 3))
        for i in range(3)]
    hook.before_test(runner)
    with pytest.warns(UserWarning, match='missing.jpg'):
        hook.after_test_iter(runner, 0, None, outputs)
    assert sorted(os.listdir(out)) == ['10.png', '12.png']  # samples 0 and 2 of 3
    img = cv2.imread(str(out / '10.png'))[..., ::-1]
    assert img.shape[0] == 640 and img.shape[1] > 640  # world + 3 views
    assert _exact(img[:, :640], PERSON_PALETTE[0]).sum() > 20
    assert _box_pixels(img) > 50
    # without a capture space anywhere: no box
    hook2 = HOOKS.build(dict(type='MultiviewVisualizationHook', enable=True,
                             out_dir=str(tmp_path / 'nobox'), load_images=False))
    runner.model = torch.nn.Linear(1, 1)
    hook2.before_test(runner)
    hook2.after_test_iter(runner, 0, None, outputs[:1])
    assert _box_pixels(cv2.imread(str(tmp_path / 'nobox' / '10.png'))[..., ::-1]) == 0


# ----------------------------------------------------------------------------- --show-dir
def test_test_tool_show_dir_writes_one_png_per_sample(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from virtualpose_mm.engine.config_checks import resolve_config_variables
    from virtualpose_mm.registry import MODELS
    init_default_scope('mmpose')
    cfg = Config.fromfile(DEMO_CFG)
    resolve_config_variables(cfg)
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'random.pth')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict(), 'meta': {}}, ckpt)
    show = tmp_path / 'show'
    run_tool([sys.executable, 'tools/test.py', DEMO_CFG, ckpt, '--work-dir',
              str(tmp_path / 'work'), '--show-dir', str(show), '--cfg-options',
              'test_dataloader.dataset.num_samples=2', 'test_dataloader.num_workers=0',
              'test_dataloader.persistent_workers=False', 'test_dataloader.batch_size=1'],
             timeout=300)
    assert sorted(os.listdir(show)) == ['0.png', '1.png']
    for name in ('0.png', '1.png'):
        img = cv2.imread(str(show / name))
        # world panel (640 x 640) + the grid of the 5 Shelf views (blank canvases)
        assert img is not None and img.shape[0] == 640 and img.shape[1] > 640 + 200
        # the GT people of the virtual frame, projected (grey, shrunk with the panel) into
        # the view panels: grey pixels (R = G = B, neither the black canvas nor the white
        # padding; the people's colours and the view labels are not grey)
        views = img[:, 640:].astype(int)
        grey = (views[..., 0] == views[..., 1]) & (views[..., 1] == views[..., 2]) & \
            (views[..., 0] > 40) & (views[..., 0] < 200)
        assert grey.sum() > 50
