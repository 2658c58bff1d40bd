"""VirtualPose stage 1 (the AGR network): shapes, losses against the reference formulas,
flip test, the checkpoint converters, and ``tools/train.py`` on a tiny COCO-format set."""
import copy
import os.path as osp
import re
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

import virtualpose_mm  # noqa: F401  (registers everything)
from mmpose.datasets.transforms import PackPoseInputs
from virtualpose_mm.datasets.transforms import GenerateAGRTargets, LetterboxImage
from virtualpose_mm.models.utils.virtualpose_stage1_converter import (
    CheckpointError, load_simplebaseline_checkpoint, load_virtualpose_stage1_checkpoint)
from virtualpose_mm.registry import MODELS
from tests.fixtures.dataset_files import (coco_people, make_muco, make_panoptic_mono,
                                          write_panoptic_mono_images, write_tiny_coco)
from tests.helpers import REPO_ROOT, run_tool

TINY_CFG = osp.join(REPO_ROOT, 'configs', 'virtualpose', 'virtualpose-stage1_tiny_cpu.py')
FULL_CFG = osp.join(REPO_ROOT, 'configs', 'virtualpose',
                    'virtualpose-stage1_res152_coco-muco_960x512.py')
PANOPTIC_CFG = osp.join(REPO_ROOT, 'configs', 'virtualpose',
                        'virtualpose-stage1_res152_coco-panoptic_960x512.py')
FLIP = [0, 1, 2, 9, 10, 11, 12, 13, 14, 3, 4, 5, 6, 7, 8, 15, 16]


def build_tiny(flip_test=True, flip_train=False, seed=0):
    init_default_scope('mmpose')
    cfg = Config.fromfile(TINY_CFG)
    m = copy.deepcopy(cfg.model)
    m['test_cfg'] = dict(flip_test=flip_test)
    m['train_cfg'] = dict(flip_train=flip_train)
    torch.manual_seed(seed)
    model = MODELS.build(m)
    model.init_weights()
    # SimpleBaseline init makes the head's outputs ~1e-6; use larger weights so that every
    # comparison below is between clearly non-zero, non-symmetric maps
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_(0, 0.1)
    return model


# ----------------------------------------------------------------------------- reference
class RefPoseDetResNet(ResNet):
    """The module layout of the reference ``PoseDetResNet`` (wkom/VirtualPose
    ``models/posedet_resnet.py`` / ``pose_resnet.py``), written here on torchvision's
    ResNet-18: ``conv1``, ``bn1``, ``layer1..4``, ``deconv_layers`` (3 × ConvTranspose 4×4
    s2 no bias, BN, ReLU), ``final_layer`` (1×1), and with ``det`` the heads ``bbox`` and
    ``depth`` (Conv3×3 + bias, ReLU, Conv1×1). ``det=False``: SimpleBaselines' PoseResNet."""

    def __init__(self, K=17, ch=32, det=True):
        super().__init__(BasicBlock, [2, 2, 2, 2])
        del self.fc, self.avgpool
        layers, inp = [], 512
        for _ in range(3):
            layers += [nn.ConvTranspose2d(inp, ch, 4, 2, 1, bias=False), nn.BatchNorm2d(ch),
                       nn.ReLU(inplace=True)]
            inp = ch
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(ch, K, 1)
        self.det = det
        if det:
            self.bbox = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv2d(ch, 4, 1))
            self.depth = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(ch, 1, 1))
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.normal_(0, 0.1, generator=g)
                    m.running_var.uniform_(0.5, 2.0, generator=g)
                    m.weight.uniform_(0.5, 1.5, generator=g)
                    m.bias.normal_(0, 0.1, generator=g)
        self.eval()

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.deconv_layers(x)
        return self.final_layer(x), (self.bbox(x) if self.det else None)


# ----------------------------------------------------------------------------- data
def packed_sample(img_seed=0, people=True):
    rng = np.random.default_rng(img_seed)
    img = rng.integers(0, 255, (128, 256, 3), dtype=np.uint8)
    kp = coco_people() if people else np.zeros((0, 17, 2), np.float32)
    res = dict(img=img, img_shape=(128, 256), ori_shape=(128, 256), keypoints=kp,
               keypoints_visible=np.ones(kp.shape[:2], np.float32),
               bbox=np.array([[40, 10, 100, 125], [150, 14, 210, 127]], np.float32)[:len(kp)],
               img_id=img_seed)
    res = LetterboxImage((128, 64))(res)
    res = GenerateAGRTargets(input_size=(128, 64), heatmap_size=(32, 16),
                             source_joint_set='coco17', bbox_source='annotation')(res)
    return PackPoseInputs(meta_keys=('img_id', 'affine', 'input_size'))(res)


def batch(model, samples):
    data = dict(inputs=[s['inputs'] for s in samples],
                data_samples=[s['data_samples'] for s in samples])
    return model.data_preprocessor(data, training=True)


# ----------------------------------------------------------------------------- forward
def test_shapes_tensor_mode_and_predict():
    model = build_tiny(flip_test=False).eval()
    x = torch.randn(2, 3, 64, 128)
    with torch.no_grad():
        hm, box = model(x, None, mode='tensor')
        hm2, box2 = model.predict_agr(x)
    assert hm.shape == (2, 17, 16, 32) and box.shape == (2, 4, 16, 32)
    assert torch.equal(hm, hm2) and torch.equal(box, box2)
    assert hm.abs().max() > 1e-3 and box.abs().max() > 1e-3
    data = batch(model, [packed_sample(0), packed_sample(1)])
    with torch.no_grad():
        out = model(data['inputs'], data['data_samples'], mode='predict')
    assert out[0].pred_fields.heatmaps.shape == (17, 16, 32)
    assert out[1].pred_fields.box_map.shape == (4, 16, 32)
    with pytest.raises(ValueError, match='multiples of 32'):
        model.predict_agr(torch.randn(1, 3, 60, 128))


def test_flip_back_moves_channels_and_columns():
    model = build_tiny()
    hm = torch.zeros(1, 17, 4, 6)
    hm[0, 3, 1, 0] = 1.0                       # l-shoulder at the left edge
    box = torch.zeros(1, 4, 4, 6)
    box[0, 0, 2, 1] = 5.0                      # l distance at column 1
    box[0, 1, 2, 1] = 7.0                      # t distance
    hf, bf = model.head.flip_back(hm, box)
    assert hf[0, 9, 1, 5] == 1 and hf.sum() == 1     # r-shoulder at the right edge
    assert bf[0, 2, 2, 4] == 5 and bf[0, 1, 2, 4] == 7 and bf.sum() == 12


def test_flip_test_is_exactly_flip_equivariant():
    model = build_tiny(flip_test=True).eval()
    torch.manual_seed(3)
    r = torch.randn(2, 3, 64, 128)
    sym = r + torch.flip(r, dims=[-1])          # a left-right symmetric image
    head = model.head
    with torch.no_grad():
        hm, box = model.predict_agr(sym)
        raw_hm, raw_box = model(sym, None, mode='tensor')
        hm_f, box_f = head.flip_back(hm, box)
        assert torch.equal(hm, hm_f) and torch.equal(box, box_f)
        # the network alone is not symmetric: the equality comes from the flip test
        rh, rb = head.flip_back(raw_hm, raw_box)
        assert (rh - raw_hm).abs().max() > 1e-3 and (rb - raw_box).abs().max() > 1e-3
        # any image: predict(mirror) == flip_back(predict(image))
        a_hm, a_box = model.predict_agr(r)
        b_hm, b_box = model.predict_agr(torch.flip(r, dims=[-1]))
        f_hm, f_box = head.flip_back(a_hm, a_box)
        torch.testing.assert_close(b_hm, f_hm, rtol=0, atol=1e-5)
        torch.testing.assert_close(b_box, f_box, rtol=0, atol=1e-5)
        # the average itself
        m_hm, m_box = head.flip_back(*model(torch.flip(r, dims=[-1]), None, mode='tensor'))
        o_hm, o_box = model(r, None, mode='tensor')
        torch.testing.assert_close(a_hm, (o_hm + m_hm) / 2, rtol=0, atol=1e-6)
        torch.testing.assert_close(a_box, (o_box + m_box) / 2, rtol=0, atol=1e-6)
        # the reference keeps the box map of the unmirrored image
        head.flip_box = False
        _, ref_box = model.predict_agr(r)
        torch.testing.assert_close(ref_box, o_box, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- losses
def test_loss_is_the_reference_formula():
    model = build_tiny(flip_train=False).train()
    data = batch(model, [packed_sample(0), packed_sample(1, people=False)])
    inputs, samples = data['inputs'], data['data_samples']
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_heatmap', 'loss_box'}
    hm, box = model(inputs, None, mode='tensor')       # train-mode BN, same batch → same
    tgt = torch.stack([s.gt_fields.heatmaps for s in samples])
    w = torch.zeros(2, 17)
    w[0] = samples[0].gt_instance_labels.keypoint_weights.amax(0)
    assert w[0, 1] == 0 and w[0, 0] == 1 and w[1].sum() == 0
    want_hm = 10000 * ((hm - tgt) ** 2 * w[:, :, None, None]).mean()
    torch.testing.assert_close(losses['loss_heatmap'], want_hm, rtol=1e-5, atol=1e-6)
    lab = samples[0].gt_instance_labels
    l1, n = 0.0, 0
    for p in range(2):
        ind = int(lab.root_ind[p])
        r, c = divmod(ind, 32)
        l1 = l1 + (box[0, :, r, c] - lab.box_targets[p]).abs().sum() * lab.root_mask[p]
        n += int(lab.root_mask[p])
    assert n == 2
    torch.testing.assert_close(losses['loss_box'], 0.1 * l1 / (4 * n + 1e-4), rtol=1e-5,
                               atol=1e-6)
    (losses['loss_heatmap'] + losses['loss_box']).backward()
    for name in ('head.final_layer.weight', 'head.box_branch.2.weight',
                 'backbone.conv1.weight'):
        assert dict(model.named_parameters())[name].grad.abs().sum() > 0, name


def test_flip_training_mirrors_the_images_and_the_outputs_back(monkeypatch):
    model = build_tiny(flip_train=True).train()
    data = batch(model, [packed_sample(0), packed_sample(2)])
    inputs, samples = data['inputs'], data['data_samples']
    hm, box = model.head.flip_back(*model(torch.flip(inputs, dims=[-1]), None, mode='tensor'))
    want = model.head.loss_from_outputs(hm, box, samples)
    plain = model.head.loss_from_outputs(*model(inputs, None, mode='tensor'), samples)
    monkeypatch.setattr(torch, 'rand', lambda *a, **k: torch.zeros(()))    # "flip"
    got = model(inputs, samples, mode='loss')
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-7)
    assert abs(float(plain['loss_heatmap']) - float(want['loss_heatmap'])) > 1e-6


def test_loss_without_people_and_without_targets():
    model = build_tiny().train()
    data = batch(model, [packed_sample(0, people=False)])
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert float(losses['loss_box']) == 0 and losses['loss_box'].requires_grad
    ds = data['data_samples'][0]
    del ds.gt_instance_labels.box_targets
    with pytest.raises(ValueError, match='GenerateAGRTargets'):
        model(data['inputs'], data['data_samples'], mode='loss')


# ----------------------------------------------------------------------------- converters
def reference_multiperson_state_dict(ref):
    sd = {'backbone.' + k: v for k, v in ref.state_dict().items()}
    sd['REN.v2v_net.front_layers.0.weight'] = torch.zeros(2)   # stage-2 parts of the
    sd['PEN.v2v_net.output_layer.bias'] = torch.zeros(2)       # saved MultiPersonPoseNet
    return sd


def test_official_stage1_checkpoint_loads_and_matches_the_reference():
    ref = RefPoseDetResNet()
    model = build_tiny(flip_test=False, seed=5).eval()
    info = load_virtualpose_stage1_checkpoint(
        model, {'epoch': 3, 'state_dict': reference_multiperson_state_dict(ref)})
    assert info['layout'] == 'MultiPersonPoseNet'
    assert 'backbone.depth.0.weight' in info['dropped']
    assert 'REN.v2v_net.front_layers.0.weight' in info['dropped'] and not info['unknown']
    x = torch.randn(2, 3, 64, 128)
    with torch.no_grad():
        want_hm, want_box = ref(x)
        hm, box = model.predict_agr(x)
    torch.testing.assert_close(hm, want_hm, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(box, want_box, rtol=1e-4, atol=1e-5)
    # the bare PoseDetResNet layout (as saved from DataParallel) gives the same weights
    model2 = build_tiny(flip_test=False, seed=6).eval()
    info2 = load_virtualpose_stage1_checkpoint(
        model2, {'module.' + k: v for k, v in ref.state_dict().items()})
    assert info2['layout'] == 'PoseDetResNet'
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k]), k


def test_wrong_stage1_checkpoint_lists_the_keys():
    sd = reference_multiperson_state_dict(RefPoseDetResNet())
    sd.pop('backbone.layer1.0.conv1.weight')
    sd['backbone.extra_head.weight'] = torch.zeros(3)
    sd['backbone.final_layer.weight'] = torch.zeros(16, 32, 1, 1)
    model = build_tiny()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(CheckpointError) as e:
        load_virtualpose_stage1_checkpoint(model, sd)
    msg = str(e.value)
    for key in ('backbone.extra_head.weight', 'backbone.layer1.0.conv1.weight',
                'head.final_layer.weight'):
        assert key in msg, key
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    mixed = dict(sd, **{'conv1.weight': torch.zeros(64, 3, 7, 7)})
    with pytest.raises(CheckpointError, match='mixes'):
        load_virtualpose_stage1_checkpoint(model, mixed)


def test_simplebaselines_weights_initialise_backbone_and_deconvs():
    ref = RefPoseDetResNet(det=False)
    sd = {'module.' + k: v for k, v in ref.state_dict().items()
          if not k.endswith('num_batches_tracked')}           # a PyTorch 0.4.0 checkpoint
    model = build_tiny(flip_test=False, seed=7).eval()
    box_before = copy.deepcopy(model.head.box_branch.state_dict())
    info = load_simplebaseline_checkpoint(model, sd)
    assert info['final_layer'] and info['filled'] and not info['unknown']
    assert all(k.startswith('head.box_branch.') for k in info['kept_init'])
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        want, _ = ref(x)
        hm, _ = model.predict_agr(x)
    torch.testing.assert_close(hm, want, rtol=1e-4, atol=1e-5)
    for k, v in box_before.items():
        assert torch.equal(v, model.head.box_branch.state_dict()[k])

    # another joint count: the final layer is not loaded, the rest is
    ref16 = RefPoseDetResNet(K=16, det=False)
    model2 = build_tiny(seed=8)
    final_before = model2.head.final_layer.weight.clone()
    info = load_simplebaseline_checkpoint(model2, ref16.state_dict())
    assert not info['final_layer'] and 'final_layer.weight' in info['dropped']
    assert torch.equal(model2.head.final_layer.weight, final_before)
    assert torch.equal(model2.head.deconv_layers[0].weight, ref16.deconv_layers[0].weight)
    with pytest.raises(CheckpointError, match='head.final_layer'):
        load_simplebaseline_checkpoint(model2, ref16.state_dict(), final_layer='load')

    bad = dict(ref.state_dict())
    bad.pop('deconv_layers.3.weight')
    bad['fc.weight'] = torch.zeros(1000, 512)
    with pytest.raises(CheckpointError) as e:
        load_simplebaseline_checkpoint(model2, bad)
    assert 'head.deconv_layers.3.weight' in str(e.value) and 'fc.weight' in str(e.value)


def test_init_weights_loads_the_simplebaselines_file(tmp_path):
    ref = RefPoseDetResNet(det=False)
    path = str(tmp_path / 'pose_resnet.pth.tar')
    torch.save(ref.state_dict(), path)
    init_default_scope('mmpose')
    m = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    m['simplebaseline_checkpoint'] = path
    model = MODELS.build(m)
    model.init_weights()
    assert torch.equal(model.backbone.layer3[1].conv2.weight, ref.layer3[1].conv2.weight)
    assert torch.equal(model.head.deconv_layers[4].running_var, ref.deconv_layers[4].running_var)
    assert torch.equal(model.head.final_layer.bias, ref.final_layer.bias)


# ----------------------------------------------------------------------------- configs
def test_published_config_settings():
    cfg = Config.fromfile(FULL_CFG)
    assert cfg.model.backbone.depth == 152 and cfg.model.head.in_channels == 2048
    assert cfg.model.test_cfg.flip_test and cfg.model.train_cfg.flip_train
    assert tuple(cfg.input_size) == (960, 512) and tuple(cfg.heatmap_size) == (240, 128)
    assert cfg.optim_wrapper.optimizer.type == 'Adam' and cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.train_cfg.max_iters == 40 * 2000


# ----------------------------------------------------------------------------- training
def test_train_tool_runs_two_iterations(tmp_path):
    root = str(tmp_path / 'coco')
    write_tiny_coco(root)
    wd = str(tmp_path / 'work')
    proc = run_tool([sys.executable, 'tools/train.py', TINY_CFG, '--work-dir', wd,
                     '--cfg-options', f'train_dataloader.dataset.data_root={root}/'],
                    env=dict(OMP_NUM_THREADS='1'))
    ckpt = osp.join(wd, 'iter_2.pth')
    assert osp.isfile(ckpt)
    sd = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    assert 'head.box_branch.0.weight' in sd and 'backbone.layer4.1.conv2.weight' in sd
    log = proc.stdout + proc.stderr
    vals = re.findall(r'loss_heatmap: ([0-9.e+-]+)\s+loss_box: ([0-9.e+-]+)', log)
    assert len(vals) == 2, log[-2000:]
    assert all(np.isfinite(float(a)) and float(a) > 0 and np.isfinite(float(b))
               for a, b in vals)


def test_published_config_mixes_coco_and_muco(tmp_path):
    """The 960×512 config's dataset section on tiny COCO and MuCo folders: both pipelines
    give packed samples whose targets peak at the people (MuCo: the projected roots)."""
    from mmpose.registry import DATASETS
    init_default_scope('mmpose')
    coco_root, muco_root = tmp_path / 'coco', tmp_path / 'muco'
    write_tiny_coco(str(coco_root))
    muco_root.mkdir()
    truth = make_muco(muco_root / 'MuCo-3DHP.json', n_images=1)
    (muco_root / 'images' / 'augmented_set').mkdir(parents=True)
    cv2.imwrite(str(muco_root / 'images' / 'augmented_set' / '0_000000.jpg'),
                np.zeros((2048, 2048, 3), np.uint8))
    cfg = Config.fromfile(FULL_CFG).train_dataloader.dataset
    cfg.datasets[0].data_root = str(coco_root) + '/'
    cfg.datasets[1].data_root = str(muco_root) + '/'
    ds = DATASETS.build(cfg)
    assert len(ds) == 3 + 1
    coco, muco = ds[0], ds[3]
    assert coco['inputs'].shape == muco['inputs'].shape == (3, 512, 960)
    assert coco['data_samples'].gt_fields.heatmaps.shape == (17, 128, 240)
    # MuCo: the root (mid-hip) Gaussian of each person at its projection through the
    # camera and the letterbox (2048² → 512², x offset 224)
    cam, X = truth[0]
    uv = cam.project(X[:, 2].reshape(-1, 3)).reshape(-1, 2)
    hm_xy = (uv * 0.25 + [224, 0]) / 4
    lab = muco['data_samples'].gt_instance_labels
    hm = muco['data_samples'].gt_fields.heatmaps[2]
    for p, (x, y) in enumerate(hm_xy):
        col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        assert int(lab.root_ind[p]) == row * 240 + col and lab.root_mask[p] == 1
        assert hm[row, col] > 0.9


def test_published_panoptic_config_settings():
    """The COCO + Panoptic config is the COCO + MuCo one (the reference's two yamls differ
    in NUM_JOINTS and the second dataset only): same network but 15 heatmaps, same
    schedule, Panoptic-15 targets from COCO and from the HMOR training split."""
    muco, pan = Config.fromfile(FULL_CFG), Config.fromfile(PANOPTIC_CFG)
    m_muco, m_pan = muco.model.to_dict(), pan.model.to_dict()
    assert m_pan['head'].pop('out_channels') == 15 and m_muco['head'].pop('out_channels') == 17
    assert m_pan == m_muco
    for key in ('optim_wrapper', 'train_cfg', 'default_hooks', 'auto_scale_lr', 'log_processor'):
        assert pan[key] == muco[key], key
    loader = pan.train_dataloader
    assert loader.batch_size == 12 and loader.dataset.type == 'CombinedDataset'
    coco, panoptic = loader.dataset.datasets
    assert coco.type == 'CocoDataset' and coco.data_mode == 'bottomup'
    assert panoptic.type == 'PanopticMonoDataset' and panoptic.split == 'train'
    assert panoptic.joint_set == 'panoptic15' and panoptic.get('cameras') is None
    t_coco, t_pan = coco.pipeline[-1], panoptic.pipeline[-1]
    assert t_coco.type == t_pan.type == 'GenerateAGRTargets'
    assert t_coco.joint_set == t_pan.joint_set == 'panoptic15'
    assert (t_coco.source_joint_set, t_coco.bbox_source) == ('coco17', 'annotation')
    assert (t_pan.source, t_pan.bbox_source, t_pan.inside_image) == \
        ('keypoints_3d', 'keypoints', True)
    assert t_coco.root_index == t_pan.root_index == 2


def test_published_panoptic_config_mixes_coco_and_panoptic(tmp_path):
    """The COCO + Panoptic config's dataset section on a tiny COCO folder and the
    Panoptic-mono fixture (the real 160906_band1 people and HD cameras, black images), in
    training mode: 15-channel targets; a Panoptic person's root Gaussian sits at its
    projection through the frame's camera (with lens distortion) and the letterbox, and a
    joint is a target exactly when it projects inside the 1920×1080 image."""
    from mmpose.registry import DATASETS
    init_default_scope('mmpose')
    coco_root, pan_root = tmp_path / 'coco', tmp_path / 'panoptic'
    write_tiny_coco(str(coco_root))
    pan_root.mkdir()
    ann = make_panoptic_mono(pan_root)
    cfg = Config.fromfile(PANOPTIC_CFG).train_dataloader.dataset
    write_panoptic_mono_images(ann, pan_root / cfg.datasets[1].img_prefix)
    cfg.datasets[0].data_root = str(coco_root) + '/'
    cfg.datasets[1].data_root = str(pan_root) + '/'
    ds = DATASETS.build(cfg)
    assert len(ds) == 3 + 2                       # 'train': one frame seen by two cameras
    pan_ds = ds.datasets[1]
    assert not pan_ds.test_mode
    coco = ds[0]
    assert coco['inputs'].shape == (3, 512, 960)
    assert coco['data_samples'].gt_fields.heatmaps.shape == (15, 128, 240)
    k = 512 / 1080                                # letterbox 1920×1080 → 960×512
    off = (960 - 1920 * k) / 2
    for i in range(2):
        info = pan_ds.get_data_info(i)
        cam, X = info['camera'], info['gt_keypoints_3d']
        assert cam.dist is not None and np.abs(cam.dist).max() > 0
        sample = ds[3 + i]
        assert sample['inputs'].shape == (3, 512, 960)
        hm = sample['data_samples'].gt_fields.heatmaps
        lab = sample['data_samples'].gt_instance_labels
        assert hm.shape == (15, 128, 240) and lab.keypoint_weights.shape == (len(X), 15)
        uv = cam.project(X.reshape(-1, 3)).reshape(len(X), 15, 2)
        inside = (uv[..., 0] >= 0) & (uv[..., 0] <= 1919) & (uv[..., 1] >= 0) & \
            (uv[..., 1] <= 1079)
        np.testing.assert_array_equal(lab.keypoint_weights.numpy(), inside.astype(np.float32))
        for p in range(len(X)):
            if not inside[p, 2]:
                assert lab.root_mask[p] == 0
                continue
            x, y = (uv[p, 2] * k + [off, 0]) / 4
            col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
            assert int(lab.root_ind[p]) == row * 240 + col and lab.root_mask[p] == 1
            assert hm[2, row, col] > 0.9
