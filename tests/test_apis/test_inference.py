"""virtualpose_mm.apis: init_model (own and converted checkpoints), inference_multiview
(2D detections and images, every camera form), the frame iterator, and their errors."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from tests.helpers import REPO_ROOT
from virtualpose_mm.apis import (InferenceError, inference_multiview, init_model,
                                 iter_multiview_frames, load_config, load_rig)
from virtualpose_mm.geometry.camera_io import load_cameras, stack_cameras

CFG = osp.join(REPO_ROOT, 'configs/voxelpose/voxelpose_demo_shelf_virtual_cpu.py')
SHELF = osp.join(REPO_ROOT, 'data/demo/shelf')
CALIB = osp.join(SHELF, 'calibration_shelf.json')
SIZE = (1032, 776)  # Shelf images; the Shelf calibration file does not store it
DETS = osp.join(SHELF, 'pred_shelf_maskrcnn_hrnet_coco.pkl')


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """A checkpoint of the demo config with seeded random weights (trained-like scales:
    BatchNorm statistics away from their init so a wrong load would show)."""
    torch.manual_seed(0)
    model = init_model(CFG, cfg_options=dict(model=dict(num_views=5)))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = str(tmp_path_factory.mktemp('ckpt') / 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path, model.state_dict()


def _shelf_views(frame=0):
    from virtualpose_mm.datasets.datasets.multiview.shelf_campus import load_detections_2d
    d = load_detections_2d(DETS)
    return [np.stack([e['pred'] for e in d[f'{c}_{frame}']]) for c in range(5)]


def _run(model, views, cameras=CALIB, **kwargs):
    return inference_multiview(model, views, cameras, image_size=SIZE, **kwargs)


def _poses(sample):
    return np.asarray(sample.pred_instances.keypoints)


def test_init_model_loads_own_checkpoint(ckpt):
    path, sd = ckpt
    model = init_model(CFG, path, cfg_options=dict(model=dict(num_views=5)))
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    meta = model.dataset_meta
    assert meta['num_keypoints'] == 17 and len(meta['skeleton_links']) > 10
    assert meta['keypoint_id2name'][0] == 'nose'


def test_init_model_converts_mmpose0x_checkpoint(ckpt, tmp_path, monkeypatch):
    import virtualpose_mm.apis.inference as api
    from tests.fixtures.dataset_files import voxelpose_to_mmpose0x_keys
    path, sd = ckpt
    msgs = []
    monkeypatch.setattr(api, 'print_log', lambda msg, **kw: msgs.append(msg))
    model = init_model(CFG, path)
    assert msgs == []  # our own layout: nothing to say
    ox = str(tmp_path / 'mmpose0x.pth')
    torch.save({'state_dict': voxelpose_to_mmpose0x_keys(sd, model)}, ox)
    conv = init_model(CFG, ox)
    assert len(msgs) == 1 and 'mmpose-0.x checkpoint, converted' in msgs[0]
    for k, v in model.state_dict().items():
        if not k.endswith('_extra_state'):
            assert torch.equal(v, conv.state_dict()[k]), k
    # a 0.x checkpoint of another capture space is refused, naming the field
    bad = voxelpose_to_mmpose0x_keys(sd, model)
    bad['human_detector.center_head.grid_center'] = torch.tensor([0.0, 0.0, 0.0])
    torch.save({'state_dict': bad}, ox)
    with pytest.raises(ValueError, match='space'):
        init_model(CFG, ox)
    views = _shelf_views()
    np.testing.assert_array_equal(_poses(_run(model, views)),
                                  _poses(_run(conv, views)))


def test_load_config_resolves_as_init_model_does(ckpt, tmp_path):
    """load_config: the variables resolved after the overrides, the caller's Config left
    unchanged, and init_model on the loaded Config equal to init_model on the file."""
    from mmengine.config import Config
    path, sd = ckpt
    cfg = load_config(CFG, dict(image_size=(800, 600), model=dict(num_views=5)))
    assert tuple(cfg.image_size) == (800, 600)
    # the parent config's placeholder '${image_size}' now holds the overridden value
    assert tuple(cfg.rig.image_size) == (800, 600)
    raw = Config.fromfile(CFG)
    again = load_config(raw)
    assert raw.rig.image_size == '${image_size}'  # not changed
    assert tuple(again.rig.image_size) == tuple(SIZE)
    model = init_model(cfg, path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    with pytest.raises(FileNotFoundError, match='missing.py'):
        load_config(str(tmp_path / 'missing.py'))
    with pytest.raises(TypeError, match='path or an mmengine Config'):
        load_config(3)


def test_inference_equals_the_dataset_path(ckpt):
    """The API builds exactly the inputs the Shelf dataset + the config's inference
    pipeline build for the same frame and detections."""
    from mmengine.registry import init_default_scope

    from virtualpose_mm.registry import DATASETS
    path, _ = ckpt
    model = init_model(CFG, path)
    init_default_scope('mmpose')
    ds = DATASETS.build(dict(type='Body3DMviewDirectShelfDataset', data_root=SHELF,
                             frame_range=[(0, 2)], pipeline=model.cfg.inference_pipeline,
                             show_progress=False))
    for i, frame in enumerate((0, 1, 2)):
        with torch.no_grad():
            ref = model.test_step(pseudo_collate([ds[i]]))[0]
        got = inference_multiview(model, _shelf_views(frame), CALIB, image_size=SIZE,
                                  frame_id=frame)
        assert len(_poses(got)) > 0
        np.testing.assert_allclose(_poses(got), ref.pred_instances.keypoints.numpy()
                                   if isinstance(ref.pred_instances.keypoints, torch.Tensor)
                                   else ref.pred_instances.keypoints, atol=1e-4)


def test_every_camera_form_gives_the_same_result(ckpt):
    path, _ = ckpt
    model = init_model(CFG, path)
    views = _shelf_views(1)
    cams = load_cameras(CALIB, image_size=(1032, 776))
    ref = _poses(_run(model, views))
    for form in (stack_cameras(cams), list(cams.values()), cams):
        np.testing.assert_array_equal(_poses(inference_multiview(model, views, form)), ref)
    # dicts with scores apart; (n, K, 2) points with unit scores differ from scored ones
    as_dicts = [dict(keypoints=v[..., :2], keypoint_scores=v[..., 2]) for v in views]
    np.testing.assert_array_equal(_poses(_run(model, as_dicts)), ref)
    ones = _poses(_run(model, [v[..., :2] for v in views]))
    assert ones.shape[1:] == (17, 3) and not np.array_equal(ones, ref)
    # the camera order matters: reversed cameras with reversed views give the same poses
    rig, names = load_rig(CALIB, image_size=SIZE, names=['4', '3', '2', '1', '0'])
    assert names == ['4', '3', '2', '1', '0']
    rev = _poses(inference_multiview(model, views[::-1], rig))
    assert rev.shape == ref.shape


def test_inference_errors(ckpt):
    path, _ = ckpt
    model = init_model(CFG, path)
    views = _shelf_views()
    with pytest.raises(InferenceError, match='4 views given for 5 cameras'):
        _run(model, views[:4])
    model5 = init_model(CFG, path, cfg_options=dict(model=dict(num_views=5)))
    cams = load_cameras(CALIB, image_size=(1032, 776))
    four = stack_cameras({k: cams[k] for k in list(cams)[:4]})
    with pytest.raises(InferenceError, match='num_views=5'):
        inference_multiview(model5, views[:4], four)
    img = np.zeros((776, 1032, 3), np.uint8)
    with pytest.raises(InferenceError, match='mix of images and 2D keypoints'):
        _run(model, [img] + views[1:])
    with pytest.raises(InferenceError, match='reads heatmaps rendered from 2D detections'):
        _run(model, [img] * 5)
    bad = list(views)
    bad[2] = views[2][:, :15]
    with pytest.raises(InferenceError, match=r'views\[2\].*\(n, 17, 2\)'):
        _run(model, bad)
    bad[2] = views[2].copy()
    bad[2][0, 0, 0] = np.nan
    with pytest.raises(InferenceError, match=r'views\[2\].*NaN'):
        _run(model, bad)
    with pytest.raises(FileNotFoundError, match='nowhere.json'):
        inference_multiview(model, views, '/nowhere.json')


def test_images_for_an_image_config(tmp_path):
    """The Panoptic image config reads images: paths and arrays give the same poses."""
    cfg = osp.join(REPO_ROOT,
                   'configs/voxelpose/voxelpose_prn64x64x64_cpn80x80x20_panoptic_cam5.py')
    torch.manual_seed(0)
    # small: ResNet-18 trunk, 256x128 input, small grids (the pipeline is the config's)
    small = dict(model=dict(image_size=(256, 128), backbone=dict(depth=18),
                            head_2d=dict(in_channels=512, deconv_out_channels=(32, 32, 32)),
                            root_net=dict(space_shape=(16, 16, 8)),
                            pose_net=dict(cube_shape=(8, 8, 8))),
                 test_pipeline=[dict(type='LoadMultiViewImages', to_rgb=False),
                                dict(type='MultiViewLetterbox', input_size=(256, 128)),
                                dict(type='PackMultiViewPoseInputs', inputs_key='img')])
    model = init_model(cfg, cfg_options=small)
    calib = osp.join(REPO_ROOT, 'tests/data/panoptic_body3d/160906_band1/'
                     'calibration_160906_band1.json')
    if not osp.isfile(calib):
        calib = [osp.join(dp, f) for dp, _, fs in os.walk(osp.join(REPO_ROOT, 'tests/data'))
                 for f in fs if f.startswith('calibration_1') and f.endswith('.json')][0]
    rig, names = load_rig(calib)
    rng = np.random.default_rng(0)
    import cv2
    paths, arrays = [], []
    for v, n in enumerate(names):
        w, h = (int(x) for x in rig.image_size[v])
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        p = str(tmp_path / f'{n}.png')
        cv2.imwrite(p, img)
        paths.append(p)
        arrays.append(img)
    a = inference_multiview(model, paths, rig)
    b = inference_multiview(model, arrays, rig)
    np.testing.assert_array_equal(_poses(a), _poses(b))
    assert _poses(a).shape[1:] == (15, 3)
    with pytest.raises(InferenceError, match='this model reads images'):
        inference_multiview(model, [np.zeros((0, 15, 3))] * len(names), rig)
    wrong = [img[:100] for img in arrays]
    with pytest.raises(InferenceError, match=r'views\[0\]: image of size'):
        inference_multiview(model, wrong, rig)


def test_iter_multiview_frames(tmp_path):
    for view in ('00_03', '00_06'):
        (tmp_path / view).mkdir()
        for f in ('000001.jpg', '000002.jpg', 'notes.txt'):
            (tmp_path / view / f).write_bytes(b'x')
    frames = list(iter_multiview_frames(str(tmp_path)))
    assert [f for f, _ in frames] == ['000001', '000002']
    assert frames[1][1] == [str(tmp_path / '00_03' / '000002.jpg'),
                            str(tmp_path / '00_06' / '000002.jpg')]
    assert [p for _, p in iter_multiview_frames(str(tmp_path), ['00_06'])][0] == \
        [str(tmp_path / '00_06' / '000001.jpg')]
    os.remove(tmp_path / '00_06' / '000002.jpg')
    with pytest.raises(InferenceError, match=r"frame '000002' is missing in view folder"):
        list(iter_multiview_frames(str(tmp_path)))
    with pytest.raises(InferenceError, match='view folder not found'):
        list(iter_multiview_frames(str(tmp_path), ['00_03', '00_09']))
    with pytest.raises(InferenceError, match='image folder not found'):
        list(iter_multiview_frames(str(tmp_path / 'none')))


def test_faster_voxelpose_checkpoint_in_the_authors_layout(tmp_path):
    """init_model converts an AlvinYH/Faster-VoxelPose state dict on the fly; the model
    runs on the real Shelf detections through the same API."""
    from virtualpose_mm.models.utils.faster_voxelpose_converter import \
        to_reference_state_dict
    cfg = osp.join(REPO_ROOT, 'configs/faster_voxelpose/faster-voxelpose_own_rig.py')
    opts = dict(calibration=CALIB, image_size=SIZE, space_center=(450.0, -320.0, 800.0))
    torch.manual_seed(0)
    ours = init_model(cfg, cfg_options=opts)
    ref = str(tmp_path / 'fvp_reference.pth')
    torch.save({'state_dict': to_reference_state_dict(ours.state_dict())}, ref)
    conv = init_model(cfg, ref, cfg_options=opts)
    for k, v in ours.state_dict().items():
        if not k.endswith('_extra_state'):
            assert torch.equal(v, conv.state_dict()[k]), k
    a = _poses(_run(ours, _shelf_views(0)))
    b = _poses(_run(conv, _shelf_views(0)))
    assert a.shape[1:] == (17, 3)
    np.testing.assert_array_equal(a, b)
    sd = to_reference_state_dict(ours.state_dict())
    sd['joint_net.conv_net.bogus.weight'] = torch.zeros(1)
    torch.save({'state_dict': sd}, ref)
    with pytest.raises(ValueError, match='bogus'):
        init_model(cfg, ref, cfg_options=opts)
