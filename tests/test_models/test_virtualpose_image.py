"""The assembled VirtualPose (image → stage 1 → stage 2, ``VirtualPoseImageEstimator``): the
same result as chaining the two stages by hand, its construction checks, loading official
full / separate / our own checkpoints, ``init_model``, ``inference_monocular``, the demo,
``PackVirtualPoseInputs(inputs_key='img')`` and the shipped configs' agreement with the
stage configs they assemble."""
import copy
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.structures import PoseDataSample

import virtualpose_mm  # noqa: F401  (registers everything)
from virtualpose_mm.apis import InferenceError, inference_monocular, init_model
from virtualpose_mm.apis.inference_monocular import monocular_camera
from virtualpose_mm.datasets.transforms import PackVirtualPoseInputs
from virtualpose_mm.models.pose_estimators import VirtualPoseImageEstimator
from virtualpose_mm.models.utils.virtualpose_image_converter import (
    FULL_LAYOUT, OURS_IMAGE, CheckpointError, convert_virtualpose_image_state_dict,
    load_virtualpose_image_checkpoint)
from virtualpose_mm.registry import MODELS
from tests.fixtures.dataset_files import virtualpose_to_reference_keys
from tests.helpers import REPO_ROOT, load_script

CFG = osp.join(REPO_ROOT, 'configs/virtualpose/virtualpose_image_tiny_cpu.py')
CFG_RELEASED = osp.join(REPO_ROOT, 'configs/virtualpose/virtualpose_image_res152_muco-mupots.py')
CFG_PANOPTIC = osp.join(REPO_ROOT, 'configs/virtualpose/virtualpose_image_res152_panoptic.py')
MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


def _detecting(model):
    """Random weights made to detect people (positive depths, root volume above the
    threshold), as the monocular demo test does for stage 2."""
    with torch.no_grad():
        model.stage2.root_net.depth_net.depth[2].bias.fill_(8.0)
        model.stage2.root_net.v2v_net.output_layer.bias.add_(1.0)
    return model


def build(seed=0):
    torch.manual_seed(seed)
    init_default_scope('mmpose')
    return _detecting(MODELS.build(Config.fromfile(CFG).model)).eval()


@pytest.fixture(scope='module')
def model():
    return build(0)


@pytest.fixture(scope='module')
def image_file(tmp_path_factory):
    """A 320×240 image: grey background with bright blobs (BGR)."""
    rng = np.random.default_rng(0)
    img = np.full((240, 320, 3), 90, np.uint8)
    img[60:200, 100:140] = rng.integers(120, 255, (140, 40, 3), dtype=np.uint8)
    img[80:220, 200:230] = rng.integers(0, 255, (140, 30, 3), dtype=np.uint8)
    path = str(tmp_path_factory.mktemp('img') / 'photo.png')
    cv2.imwrite(path, img)
    return path


def packed(model, image_file):
    """One frame through the config's test pipeline (LoadImage → LetterboxImage →
    PackVirtualPoseInputs(inputs_key='img')), with the assumed level camera."""
    cfg = Config.fromfile(CFG)
    rn = model.stage2.root_net
    cam, _ = monocular_camera(900.0, (320, 240), space_size=rn.space_size,
                              space_center=rn.space_center)
    return Compose(cfg.test_pipeline)(dict(img_path=image_file, camera=cam.to_dict(),
                                           sample_idx=0))


def preprocess(model, items):
    return model.data_preprocessor(pseudo_collate(copy.deepcopy(items)), False)


def official_full_state_dict(model):
    """The assembled model's weights under wkom/VirtualPose's ``MultiPersonPoseNet`` key
    names: ``backbone.*`` (PoseDetResNet: torchvision ResNet + deconv_layers / final_layer
    / bbox) + ``REN.*`` + ``PEN.*``, with the reference's parts the converters drop."""
    sd = {}
    for k, v in model.agr_net.state_dict().items():
        for ours, ref in (('head.deconv_layers.', 'deconv_layers.'),
                          ('head.final_layer.', 'final_layer.'), ('head.box_branch.', 'bbox.'),
                          ('backbone.', '')):
            if k.startswith(ours):
                sd['backbone.' + ref + k[len(ours):]] = v.clone()
                break
        else:
            raise AssertionError(k)
    sd.update(virtualpose_to_reference_keys(model.stage2.state_dict()))
    sd['backbone.depth.0.weight'] = torch.zeros(3)              # untrained depth head
    sd['REN.depth_net.final_layer.weight'] = torch.zeros(17, 16, 1, 1)  # unused head
    return sd


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k, v in sa.items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(v, sb[k]), k


def predict(model, items):
    with torch.no_grad():
        return model(**preprocess(model, items), mode='predict')


# ----------------------------------------------------------------------------- (a) forward
def test_predict_equals_the_two_stages_by_hand(model, image_file):
    item = packed(model, image_file)
    assert item['inputs'].shape == (1, 3, 256, 480) and item['inputs'].dtype == torch.uint8
    data = preprocess(model, [item, item])
    images = data['inputs']
    # the data preprocessor: BGR → RGB, ImageNet mean / std
    canvas = item['inputs'][0].numpy().astype(np.float64)           # (3, H, W) BGR
    want = (canvas[::-1] - MEAN[:, None, None]) / STD[:, None, None]
    np.testing.assert_allclose(images[0, 0].numpy(), want, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        out = model(**preprocess(model, [item, item]), mode='predict')
        hm, box = model.agr_net.predict_agr(images[:, 0])
        agr = torch.cat([hm, box], 1)[:, None]
        assert agr.shape == (2, 1, 17 + 4, 64, 120)
        res = model.stage2.predict_forward(agr, data['data_samples'])
        by_hand = model.stage2.add_pred_to_datasample(res, data['data_samples'])
        tensors = model(**preprocess(model, [item, item]), mode='tensor')
    for got, exp in zip(out, by_hand):
        g, e = got.pred_instances, exp.pred_instances
        assert set(g.keys()) == set(e.keys()) == {'keypoints', 'keypoint_scores',
                                                  'bbox_scores', 'centers_3d'}
        assert len(g.keypoints) > 0 and g.keypoints.shape[1:] == (17, 3)
        for k in e.keys():
            np.testing.assert_allclose(g[k], e[k], rtol=1e-5, atol=1e-3)
    # mode='tensor': the AGR, then stage 2's (poses, proposals, root_volume)
    assert len(tensors) == 4
    torch.testing.assert_close(tensors[0], agr)
    torch.testing.assert_close(tensors[1], res['poses'], rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(tensors[2], res['proposals'], rtol=1e-5, atol=1e-4)


def test_canvas_mismatches_are_clear_errors(model, image_file):
    item = packed(model, image_file)
    data = preprocess(model, [item])
    small = torch.nn.functional.interpolate(data['inputs'][:, 0], size=(128, 256))[:, None]
    with pytest.raises(ValueError, match=r"input_size \(480.0, 256.0\) is not the images' "
                                         r'size \(256.0, 128.0\)'):
        model(small, data['data_samples'], mode='predict')
    # without input_size in the metainfo: the AGR size is checked against stage 2's canvas
    results = Compose(Config.fromfile(CFG).test_pipeline[:2])(dict(img_path=image_file))
    results.pop('input_size')
    results['camera'] = item['data_samples'].metainfo['cameras']
    results['camera'] = dict(R=results['camera']['R'][0], t=results['camera']['t'][0],
                             f=results['camera']['f'][0], c=results['camera']['c'][0],
                             image_size=results['camera']['image_size'][0])
    results['img'] = cv2.resize(results['img'], (256, 128))
    data = preprocess(model, [PackVirtualPoseInputs(inputs_key='img')(results)])
    with pytest.raises(ValueError, match=r'64×32 AGR .* stage 2 reads 120×64'):
        model(**data, mode='predict')
    with pytest.raises(ValueError, match=r'\(B, 1, 3, H, W\)'):
        model(torch.zeros(1, 3, 256, 480), None, mode='predict')


# ----------------------------------------------------------------------------- (b), (c)
def test_construction_checks_normalisation_and_joint_counts():
    cfg = Config.fromfile(CFG).model
    bad = copy.deepcopy(cfg)
    bad.data_preprocessor = dict(type='MultiViewDataPreprocessor', mean=[0.0, 0.0, 0.0],
                                 std=[1.0, 1.0, 1.0], bgr_to_rgb=True)
    with pytest.raises(ValueError, match=r'agr_net.data_preprocessor.*mean: agr_net '
                                         r'\[123.675.*std'):
        MODELS.build(bad)
    bad.data_preprocessor = dict(type='MultiViewDataPreprocessor', mean=list(MEAN),
                                 std=list(STD), bgr_to_rgb=False)
    with pytest.raises(ValueError, match=r'bgr_to_rgb: agr_net True vs model False'):
        MODELS.build(bad)
    # the default data preprocessor is stage 1's normalisation
    ok = copy.deepcopy(cfg)
    del ok['data_preprocessor']
    m = MODELS.build(ok)
    assert m.data_preprocessor.bgr_to_rgb and torch.allclose(
        m.data_preprocessor.mean, torch.tensor(MEAN, dtype=torch.float32))
    bad = copy.deepcopy(cfg)
    bad.agr_net.head.out_channels = 15
    with pytest.raises(ValueError, match=r'out_channels=15 .* stage2.num_joints=17'):
        MODELS.build(bad)


def test_loss_mode_says_the_stages_train_separately(model, image_file):
    data = preprocess(model, [packed(model, image_file)])
    with pytest.raises(RuntimeError, match='trained separately') as e:
        model(**data, mode='loss')
    msg = str(e.value)
    assert 'VirtualPoseAGRNet' in msg and 'VirtualPose config' in msg
    assert 'virtualpose-stage1_res152_coco-muco_960x512.py' in msg
    assert 'virtualpose_virtualcam_muco-mupots.py' in msg


# ----------------------------------------------------------------------------- (d) official
def test_official_full_checkpoint_converts_and_gives_the_same_outputs(model, image_file):
    ref = official_full_state_dict(model)
    conv, info = convert_virtualpose_image_state_dict({'state_dict': ref})
    assert info['layout'] == FULL_LAYOUT and not info['unknown']
    assert set(info['dropped']) == {'backbone.depth.0.weight',
                                    'REN.depth_net.final_layer.weight'}
    assert all(k.startswith(('agr_net.', 'stage2.')) for k in conv)
    target = build(7)
    with pytest.raises(AssertionError):
        assert_same_weights(model, target)
    info = load_virtualpose_image_checkpoint(target, {'state_dict': ref})
    assert_same_weights(model, target)
    item = packed(model, image_file)
    for a, b in zip(predict(model, [item]), predict(target, [item])):
        np.testing.assert_array_equal(a.pred_instances.keypoints, b.pred_instances.keypoints)
        assert len(a.pred_instances.keypoints)


def test_wrong_full_checkpoint_lists_every_key():
    model = build(1)
    bad = official_full_state_dict(model)
    bad['mystery.weight'] = torch.zeros(3)                                   # unknown
    bad['backbone.mystery.weight'] = torch.zeros(3)                          # unknown (st. 1)
    bad['REN.mystery.weight'] = torch.zeros(3)                               # unknown (st. 2)
    del bad['backbone.final_layer.bias']                                     # missing
    del bad['PEN.v2v_net.output_layer.bias']                                 # missing
    bad['backbone.conv1.weight'] = torch.zeros(64, 3, 3, 3)                  # mis-shaped
    with pytest.raises(CheckpointError) as e:
        load_virtualpose_image_checkpoint(build(2), bad)
    msg = str(e.value)
    for key in ('mystery.weight', 'backbone.mystery.weight', 'REN.mystery.weight',
                'agr_net.head.final_layer.bias', 'stage2.pose_net.v2v_net.output_layer.bias',
                'agr_net.backbone.conv1.weight: checkpoint (64, 3, 3, 3) vs model '
                '(64, 3, 7, 7)'):
        assert key in msg, key
    assert '3 unrecognised keys' in msg and '2 model keys missing' in msg


# ----------------------------------------------------------------------------- (e) separate
def test_separate_stage_checkpoints_and_our_own_load(model, tmp_path):
    full = official_full_state_dict(model)
    stage1 = {k: v for k, v in full.items() if k.startswith('backbone.')}
    stage1['REN.v2v_net.front_layers.0.weight'] = torch.zeros(2)  # a stage-1 run's REN
    stage2 = {k: v for k, v in full.items() if k.startswith(('REN.', 'PEN.'))}
    torch.save({'state_dict': stage1}, tmp_path / 's1.pth')
    torch.save({'state_dict': stage2}, tmp_path / 's2.pth')
    target = build(3)
    info = load_virtualpose_image_checkpoint(target, stage1=str(tmp_path / 's1.pth'),
                                             stage2=str(tmp_path / 's2.pth'))
    assert info['layout'] == 'stage1: MultiPersonPoseNet, stage2: VirtualPose REN/PEN'
    assert_same_weights(model, target)
    # our own stage checkpoints (a VirtualPoseAGRNet's and a VirtualPose's keys)
    target = build(4)
    info = load_virtualpose_image_checkpoint(
        target, stage1={'state_dict': model.agr_net.state_dict()},
        stage2={'state_dict': model.stage2.state_dict()})
    assert info['layout'].startswith('stage1: virtualpose_mm')
    assert_same_weights(model, target)
    # our own assembled checkpoint, as it is
    target = build(5)
    info = load_virtualpose_image_checkpoint(target, {'state_dict': model.state_dict()})
    assert info['layout'] == OURS_IMAGE and not info['unknown']
    assert_same_weights(model, target)
    # problems of both files in one error, with the parts' prefixes
    s1 = dict(model.agr_net.state_dict())
    del s1['head.box_branch.2.bias']
    s2 = dict(stage2, **{'REN.mystery': torch.zeros(1)})
    with pytest.raises(CheckpointError) as e:
        load_virtualpose_image_checkpoint(build(6), stage1=s1, stage2=s2)
    assert 'agr_net.head.box_branch.2.bias' in str(e.value)
    assert 'stage2.REN.mystery' in str(e.value)
    with pytest.raises(ValueError, match='both stage1 and stage2'):
        load_virtualpose_image_checkpoint(build(6), stage1=s1)
    with pytest.raises(ValueError, match='either checkpoint'):
        load_virtualpose_image_checkpoint(build(6), {'state_dict': full}, stage1=s1,
                                          stage2=s2)


# ----------------------------------------------------------------------------- (f) init_model
def test_init_model_converts_an_official_full_checkpoint(model, tmp_path):
    path = str(tmp_path / 'virtualpose_full.pth.tar')
    torch.save({'epoch': 1, 'state_dict': official_full_state_dict(model)}, path)
    loaded = init_model(CFG, path)
    assert isinstance(loaded, VirtualPoseImageEstimator) and not loaded.training
    assert_same_weights(model, loaded)
    assert loaded.num_joints == 17 and loaded.dataset_meta['num_keypoints'] == 17
    ours = str(tmp_path / 'ours.pth')
    torch.save({'state_dict': model.state_dict()}, ours)
    assert_same_weights(model, init_model(CFG, ours))


# ----------------------------------------------------------------------------- (g) API, demo
def test_inference_monocular_with_the_assembled_model(model, image_file):
    m = copy.deepcopy(model)
    m.cfg = Config.fromfile(CFG)
    sample = inference_monocular(m, image_file, camera=900.0)
    assert isinstance(sample, PoseDataSample)
    kp = sample.pred_instances.keypoints
    assert kp.ndim == 3 and kp.shape[1:] == (17, 3) and len(kp) > 0
    assert np.isfinite(kp).all() and sample.keypoints_frame == 'camera'
    # the same people as the model's own predict on the config's pipeline
    want = predict(model, [packed(model, image_file)])[0].pred_instances
    np.testing.assert_allclose(sample.pred_instances.keypoints_world, want.keypoints,
                               rtol=1e-5, atol=1e-2)
    # path A (2D keypoints) runs the assembled model's stage 2
    k = np.tile(np.array([[160.0, 120.0]]), (17, 1))[None] + np.arange(17)[None, :, None]
    a = inference_monocular(m, (320, 240), camera=900.0, keypoints_2d=k)
    assert a.pred_instances.keypoints.shape[1:] == (17, 3)
    with pytest.raises(InferenceError, match='own agr_net'):
        inference_monocular(m, image_file, camera=900.0, agr_model=m.agr_net)


def test_monocular_demo_runs_the_assembled_config_on_images(model, image_file, tmp_path):
    import json
    demo = load_script(osp.join(REPO_ROOT, 'demo', 'body3d_monocular_img_demo.py'), 'mono_demo')
    ckpt = str(tmp_path / 'vp_image_tiny.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = tmp_path / 'out'
    assert demo.cli([CFG, ckpt, '--img', image_file, '--focal', '900',
                     '--out-dir', str(out)]) == 0
    rec = json.loads((out / 'photo.json').read_text())
    assert rec['num_people'] == len(rec['people']) > 0
    assert all(np.isfinite(np.asarray(p['keypoints_3d_camera'])).all() for p in rec['people'])
    assert (out / 'photo_2d.png').is_file() and (out / 'photo_3d.png').is_file()


# ----------------------------------------------------------------------------- (h) packing
def test_pack_virtualpose_inputs_img():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)
    results = dict(img=img, camera=dict(R=np.eye(3), t=np.zeros(3), f=[100.0, 100.0],
                                        c=[64.0, 32.0], image_size=[128, 64]),
                   affine=np.array([[1.0, 0, 0], [0, 1.0, 0]]), input_size=np.array([128, 64]))
    out = PackVirtualPoseInputs(inputs_key='img')(dict(results))
    x = out['inputs']
    assert x.shape == (1, 3, 64, 128) and x.dtype == torch.uint8
    assert torch.equal(x[0], torch.from_numpy(img).permute(2, 0, 1))
    assert out['data_samples'].metainfo['affines'].shape == (1, 2, 3)
    with pytest.raises(ValueError, match=r'one \(H, W, 3\) uint8 image'):
        PackVirtualPoseInputs(inputs_key='img')(dict(results, img=img.astype(np.float32)))
    with pytest.raises(KeyError, match='LoadImage and LetterboxImage'):
        PackVirtualPoseInputs(inputs_key='img')({k: v for k, v in results.items()
                                                 if k != 'img'})
    # the default packs the AGR, unchanged
    agr = rng.random((21, 16, 32)).astype(np.float32)
    out = PackVirtualPoseInputs()(dict(results, agr=agr))
    assert out['inputs'].shape == (1, 21, 16, 32) and out['inputs'].dtype == torch.float32
    with pytest.raises(ValueError, match='inputs_key'):
        PackVirtualPoseInputs(inputs_key='input_heatmaps')


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize('assembled,stage1,stage2', [
    (CFG, 'virtualpose-stage1_tiny_cpu.py', 'virtualpose_tiny_cpu.py'),
    (CFG_RELEASED, 'virtualpose-stage1_res152_coco-muco_960x512.py',
     'virtualpose_virtualcam_muco-mupots.py'),
    (CFG_PANOPTIC, 'virtualpose-stage1_res152_coco-panoptic_960x512.py',
     'virtualpose_virtualcam_panoptic.py')])
def test_configs_assemble_the_stage_configs(assembled, stage1, stage2):
    """The assembled configs hold the stage configs' models (a copy of stage 1's, which
    must not drift) on one canvas: LetterboxImage = stage 2's input_size, AGR ÷ 4; stage
    1's heatmaps are stage 2's joints, and the assembled config trains and evaluates
    nothing."""
    cfg = Config.fromfile(assembled)
    folder = osp.join(REPO_ROOT, 'configs', 'virtualpose')
    s1 = Config.fromfile(osp.join(folder, stage1)).model.to_dict()
    s2 = Config.fromfile(osp.join(folder, stage2)).model.to_dict()
    agr = cfg.model.agr_net.to_dict()
    s1.pop('simplebaseline_checkpoint', None)
    assert agr.pop('simplebaseline_checkpoint', None) is None
    assert agr == s1
    assert cfg.model.stage2.to_dict() == s2
    letterbox = [t for t in cfg.test_pipeline if t['type'] == 'LetterboxImage'][0]
    assert tuple(letterbox['input_size']) == tuple(cfg.model.stage2.input_size) == \
        tuple(cfg.input_size)
    assert tuple(cfg.heatmap_size) == tuple(v // 4 for v in cfg.input_size)
    assert cfg.test_pipeline[-1] == dict(type='PackVirtualPoseInputs', inputs_key='img')
    norm = cfg.model.data_preprocessor
    assert [norm[k] for k in ('mean', 'std', 'bgr_to_rgb')] == \
        [s1['data_preprocessor'][k] for k in ('mean', 'std', 'bgr_to_rgb')]
    assert agr['head']['out_channels'] == s2['num_joints']
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
                'optim_wrapper', 'val_evaluator', 'test_evaluator'):
        assert cfg.get(key) is None, key
