"""inference_monocular: VirtualPose from one image (2D keypoints → AGR → stage 2; a stage-1
network's AGR), cameras with and without extrinsics, depth ∝ focal length, clear errors."""
import importlib
import os.path as osp

import numpy as np
import pytest
import torch

from tests.helpers import REPO_ROOT
from virtualpose_mm.apis import InferenceError, inference_monocular, init_model
from virtualpose_mm.apis.inference_monocular import (agr_render_settings, default_intrinsics,
                                                     level_camera_extrinsics,
                                                     monocular_camera)
from virtualpose_mm.geometry.camera import Camera, CameraError

CFG = osp.join(REPO_ROOT, 'configs/virtualpose/virtualpose_tiny_cpu.py')
SHELF = osp.join(REPO_ROOT, 'data/demo/shelf')
CALIB = osp.join(SHELF, 'calibration_shelf.json')
DETS = osp.join(SHELF, 'pred_shelf_maskrcnn_hrnet_coco.pkl')
SIZE = (1032, 776)


def tiny_model():
    """The tiny config with random weights, made to detect: the depth head's bias gives a
    positive normalised depth (8) and the root volume is lifted above the threshold."""
    torch.manual_seed(0)
    model = init_model(CFG)
    with torch.no_grad():
        model.root_net.depth_net.depth[2].bias.fill_(8.0)
        model.root_net.v2v_net.output_layer.bias.add_(1.0)
    return model


@pytest.fixture(scope='module')
def model():
    return tiny_model()


@pytest.fixture(scope='module')
def shelf_dets():
    from virtualpose_mm.datasets.datasets.multiview.shelf_campus import (_detections_of,
                                                                         load_detections_2d)
    raw = load_detections_2d(DETS)
    return {k: _detections_of(raw, k, DETS, 17) for k in ('0_0', '1_0')}


def test_doubling_the_focal_length_doubles_the_root_depths(model, shelf_dets):
    k = shelf_dets['0_0']
    a = inference_monocular(model, SIZE, camera=1000.0, keypoints_2d=k)
    b = inference_monocular(model, SIZE, camera=dict(f=(2000.0, 2000.0)), keypoints_2d=k)
    da, db = a.metainfo['root_detections'], b.metainfo['root_detections']
    assert len(da['depth_mm']) == len(k) == 3          # one root peak per detected person
    assert (da['depth_mm'] > 100).all()
    np.testing.assert_allclose(db['depth_mm'], 2 * da['depth_mm'], rtol=1e-9)
    np.testing.assert_array_equal(da['xy'], db['xy'])
    # the detections sit on the people's mid-hips (image px)
    hips = (k[:, 11, :2] + k[:, 12, :2]) / 2
    d = np.linalg.norm(da['xy'][:, None] - hips[None], axis=-1).min(1)
    assert (d < 0.5 * np.sqrt(2) * 4 * 776 / 256).all()    # within half an AGR pixel
    assert a.metainfo['camera_info']['intrinsics'] == 'focal'
    assert b.metainfo['camera_info']['intrinsics'] == 'camera'
    np.testing.assert_array_equal(a.metainfo['camera']['f'], [1000.0, 1000.0])
    np.testing.assert_array_equal(a.metainfo['camera']['c'], [516.0, 388.0])


def test_camera_file_gives_world_coordinates(model, shelf_dets):
    k = shelf_dets['1_0']
    s = inference_monocular(model, SIZE, camera=CALIB, camera_index=1, keypoints_2d=k)
    p = s.pred_instances
    assert s.metainfo['keypoints_frame'] == 'world'
    assert s.metainfo['camera_info']['extrinsics_given']
    from virtualpose_mm.geometry.camera_io import load_cameras
    cam = load_cameras(CALIB, image_size=SIZE)['1']
    N = len(p.keypoints)
    assert N > 0 and p.keypoints.shape == (N, 17, 3) and np.isfinite(p.keypoints).all()
    np.testing.assert_array_equal(p.keypoints, p.keypoints_world)
    Xw = p.keypoints_world.astype(np.float64).reshape(-1, 3)
    np.testing.assert_allclose(p.keypoints_cam.reshape(-1, 3), cam.world_to_camera(Xw),
                               atol=0.01)
    np.testing.assert_allclose(p.root_depths, p.keypoints_cam[:, 2, 2])
    front = p.keypoints_cam[..., 2] > 100
    np.testing.assert_allclose(p.keypoints_2d[front], cam.project(Xw).reshape(N, 17, 2)[front],
                               rtol=1e-4, atol=0.05)
    np.testing.assert_array_equal(s.metainfo['camera']['R'], cam.R)
    assert p.keypoint_scores.shape == (N, 17) and p.bbox_scores.shape == (N, )
    # camera by name and by position are the same camera
    s2 = inference_monocular(model, SIZE, camera=CALIB, camera_index='1', keypoints_2d=k)
    np.testing.assert_array_equal(s2.pred_instances.keypoints, p.keypoints)


def test_without_extrinsics_results_are_in_the_camera_frame(model, shelf_dets):
    k = shelf_dets['0_0']
    s = inference_monocular(model, SIZE, camera=None, keypoints_2d=k)
    p = s.pred_instances
    info = s.metainfo['camera_info']
    assert info == dict(intrinsics='default', extrinsics_given=False, source=info['source'])
    assert s.metainfo['keypoints_frame'] == 'camera'
    # the default rule: f = max(w, h), principal point at the centre
    np.testing.assert_array_equal(s.metainfo['camera']['f'], [1032.0, 1032.0])
    np.testing.assert_array_equal(s.metainfo['camera']['c'], [516.0, 388.0])
    np.testing.assert_array_equal(p.keypoints, p.keypoints_cam)
    # the assumed world: level camera at (0, -4000, 1100) (the tiny config's space)
    R, t = level_camera_extrinsics((8000, 8000, 2400), (0, 0, 1100))
    np.testing.assert_allclose(-R.T @ t, [0, -4000, 1100], atol=1e-9)
    np.testing.assert_allclose(R, [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)
    Xw = p.keypoints_world.astype(np.float64)
    np.testing.assert_allclose(p.keypoints_cam, Xw @ R.T + t, atol=0.01)
    # camera x = world x, camera depth = world y + 4000, camera y (down) = 1100 - world z
    np.testing.assert_allclose(p.keypoints_cam[..., 2], Xw[..., 1] + 4000, atol=0.01)
    np.testing.assert_allclose(p.keypoints_cam[..., 1], 1100 - Xw[..., 2], atol=0.01)


def test_monocular_camera_forms_and_errors():
    f, c = default_intrinsics((640, 480))
    np.testing.assert_array_equal(f, [640, 640])
    np.testing.assert_array_equal(c, [320, 240])
    cam, info = monocular_camera(None, (640, 480), focal=800)
    assert info['intrinsics'] == 'focal' and not info['extrinsics_given']
    np.testing.assert_array_equal(cam.f, [800, 800])
    shelf = Camera.from_dict(dict(R=np.eye(3), t=np.zeros(3), f=(900, 900), c=(320, 240),
                                  image_size=(640, 480)))
    cam, info = monocular_camera(shelf, (640, 480))
    assert info['extrinsics_given'] and info['intrinsics'] == 'camera'
    with pytest.raises(InferenceError, match='calibrated for 640x480'):
        monocular_camera(shelf, (1280, 720))
    with pytest.raises(InferenceError, match='camera_index'):
        monocular_camera(CALIB, SIZE)                  # five cameras, none picked
    with pytest.raises(InferenceError, match='no camera'):
        monocular_camera(CALIB, SIZE, camera_index=7)
    with pytest.raises(FileNotFoundError, match='camera file not found'):
        monocular_camera('/nonexistent/calib.json', SIZE)
    with pytest.raises(InferenceError, match='positive'):
        monocular_camera(-5.0, SIZE)


def test_bad_inputs(model, shelf_dets, tmp_path):
    k = shelf_dets['0_0']
    with pytest.raises(InferenceError, match=r'\(N, 17, 2\)'):
        inference_monocular(model, SIZE, keypoints_2d=k[:, :15])
    with pytest.raises(InferenceError, match='either keypoints_2d'):
        inference_monocular(model, SIZE)
    with pytest.raises(FileNotFoundError, match='image not found'):
        inference_monocular(model, str(tmp_path / 'missing.jpg'), keypoints_2d=k)
    bad = tmp_path / 'bad.json'
    bad.write_text('{"cameras": 3}')
    with pytest.raises(CameraError, match='bad.json'):
        inference_monocular(model, SIZE, camera=str(bad), keypoints_2d=k)
    # nobody: an empty result, not an error
    s = inference_monocular(model, SIZE, keypoints_2d=np.zeros((0, 17, 3)))
    assert len(s.metainfo['root_detections']['depth_mm']) == 0


class _FakeAGRNet(torch.nn.Module):
    """A stage-1 stand-in with VirtualPoseAGRNet's interface: returns a given AGR and
    records the images it was given."""

    def __init__(self, agr):
        super().__init__()
        self.agr = torch.as_tensor(agr)[None]
        self.seen = None
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def predict_agr(self, images):
        self.seen = images
        return self.agr[:, :-4], self.agr[:, -4:]


def test_agr_model_path_runs_stage_2_on_the_network_agr(model, shelf_dets):
    from virtualpose_mm.datasets.transforms import RenderAGRFromKeypoints
    k = shelf_dets['0_0']
    img = np.full((776, 1032, 3), 200, np.uint8)
    img[:, :, 0] = 10                                   # BGR: blue channel 10
    settings = agr_render_settings(model)
    assert settings['input_size'] == (480, 256) and settings['heatmap_size'] == (120, 64)
    agr = RenderAGRFromKeypoints(**settings)(dict(keypoints=k[..., :2],
                                                  keypoint_scores=k[..., 2],
                                                  image_size=SIZE))['agr']
    net = _FakeAGRNet(agr)
    b = inference_monocular(model, img, camera=1200.0, agr_model=net)
    a = inference_monocular(model, SIZE, camera=1200.0, keypoints_2d=k)
    np.testing.assert_array_equal(b.pred_instances.keypoints, a.pred_instances.keypoints)
    np.testing.assert_array_equal(b.metainfo['root_detections']['depth_mm'],
                                  a.metainfo['root_detections']['depth_mm'])
    # the network saw the letterboxed RGB image on the 480×256 canvas: 1032×776 scales by
    # 256/776 to 340 px wide, centred (black bars left and right)
    seen = net.seen[0].numpy()
    assert seen.shape == (3, 256, 480)
    assert seen[:, 128, 240].tolist() == [200.0, 200.0, 10.0]     # RGB order
    assert seen[:, 128, 30].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(InferenceError, match='needs the image'):
        inference_monocular(model, SIZE, agr_model=net)
    with pytest.raises(InferenceError, match='predict_agr'):
        inference_monocular(model, img, agr_model=object())


def test_with_the_stage1_network(model):
    """Path B with the real stage-1 class (tiny random config): it gets the letterboxed
    image normalised as in its training (BGR → RGB, ImageNet mean / std) and stage 2 runs
    on its AGR."""
    path = osp.join(REPO_ROOT, 'virtualpose_mm/models/pose_estimators/virtualpose_agr_net.py')
    stage1_cfg = osp.join(REPO_ROOT, 'configs/virtualpose/virtualpose-stage1_tiny_cpu.py')
    if not (osp.isfile(path) and osp.isfile(stage1_cfg)):
        pytest.skip('VirtualPoseAGRNet (virtualpose_agr_net.py) or its tiny config is not in '
                    'this checkout')
    mod = importlib.import_module('virtualpose_mm.models.pose_estimators.virtualpose_agr_net')
    if not hasattr(mod, 'VirtualPoseAGRNet'):
        pytest.skip('no VirtualPoseAGRNet class')
    torch.manual_seed(0)
    net = init_model(stage1_cfg)
    assert isinstance(net, mod.VirtualPoseAGRNet)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (388, 516, 3), dtype=np.uint8)        # BGR
    seen = {}
    orig = net.predict_agr

    def recording(images):
        seen['images'] = images
        seen['agr'] = orig(images)
        return seen['agr']

    net.predict_agr = recording
    s = inference_monocular(model, img, camera=600.0, agr_model=net)
    # what the network saw: the 516×388 image scaled by 256/388 into the 480×256 canvas
    import cv2
    from virtualpose_mm.datasets.transforms import letterbox_affine
    A = letterbox_affine((516, 388), (480, 256))
    canvas = cv2.warpAffine(img, A, (480, 256), flags=cv2.INTER_LINEAR, borderValue=0)
    mean = np.array([123.675, 116.28, 103.53])[:, None, None]
    std = np.array([58.395, 57.12, 57.375])[:, None, None]
    want = (canvas[..., ::-1].transpose(2, 0, 1) - mean) / std
    np.testing.assert_allclose(seen['images'][0].numpy(), want, atol=1e-4)
    hm, box = seen['agr']
    assert hm.shape == (1, 17, 64, 120) and box.shape == (1, 4, 64, 120)
    p = s.pred_instances
    assert np.isfinite(p.keypoints).all() and p.keypoints.shape[1:] == (17, 3)
    assert s.metainfo['keypoints_frame'] == 'camera'


def test_render_settings_follow_the_config(model):
    """A RenderAGRFromKeypoints in the config's inference_pipeline sets the rendering:
    with score_thr 0.8 the Shelf person whose hips score below it is not rendered."""
    import copy
    from virtualpose_mm.datasets.datasets.multiview.shelf_campus import (_detections_of,
                                                                         load_detections_2d)
    k = _detections_of(load_detections_2d(DETS), '0_0', DETS, 17)
    hip_scores = np.minimum(k[:, 11, 2], k[:, 12, 2])
    assert 0 < (hip_scores >= 0.8).sum() < len(k)                  # someone is left out
    m = copy.copy(model)
    m.cfg = copy.deepcopy(model.cfg)
    m.cfg.inference_pipeline = [dict(type='RenderAGRFromKeypoints', input_size=(480, 256),
                                     heatmap_size=(120, 64), score_thr=0.8),
                                dict(type='PackVirtualPoseInputs')]
    assert agr_render_settings(m)['score_thr'] == 0.8
    s = inference_monocular(m, SIZE, camera=1000.0, keypoints_2d=k)
    np.testing.assert_array_equal(s.metainfo['input_keypoints_2d'].shape[0],
                                  (hip_scores >= 0.8).sum())
    assert len(s.metainfo['root_detections']['depth_mm']) == (hip_scores >= 0.8).sum()
    # the σ rule of the training AGR (the refsigma configs) reaches the real-data rendering
    m.cfg.inference_pipeline = [dict(type='GenerateVirtualPoseAGR', input_size=(480, 256),
                                     heatmap_size=(120, 64), base_sigma=1.5,
                                     sigma_ref_size=48.0),
                                dict(type='PackVirtualPoseInputs')]
    st = agr_render_settings(m)
    assert (st['base_sigma'], st['sigma_ref_size']) == (1.5, 48.0)
