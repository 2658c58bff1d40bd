"""VoxelPose estimator: modes, training losses, bad inputs, checkpoint conversion, golden
files and the benchmark tool."""
import copy
import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import BaseDataElement, InstanceData

import virtualpose_mm  # noqa: F401
from virtualpose_mm.models.data_preprocessors import MultiViewDataPreprocessor
from virtualpose_mm.models.utils.voxelpose_converter import (CheckpointError,
                                                             convert_voxelpose_state_dict,
                                                             load_voxelpose_checkpoint,
                                                             reference_v2v_key)
from virtualpose_mm.registry import MODELS
from tests.fixtures.dataset_files import voxelpose_to_mmpose0x_keys
from tools.analysis.voxelpose_synthetic import make_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO, 'configs', 'voxelpose', 'voxelpose_tiny_heatmap_cpu.py')
INP, HM = (256, 192), (64, 48)


def _run(cmd, timeout=600):
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def tiny_model(**over):
    cfg = Config.fromfile(TINY).model
    cfg.update(over)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _root_target():
    """GenerateRootTarget3D arguments for the tiny model's capture space."""
    rn = Config.fromfile(TINY).model.root_net
    return dict(space_size=rn.space_size, space_center=rn.space_center,
                space_shape=rn.space_shape, root_joints=(11, 12), sigma=rn.target_sigma)


def prep(x, ds):
    """The packed batch through the data preprocessor (views stacked: ``view_meta``)."""
    data = MultiViewDataPreprocessor()(dict(inputs=list(x), data_samples=ds))
    return data['inputs'], data['data_samples']


def batch(frames=2, people=(3, 2), **kw):
    """A synthetic batch (with root targets), packed and preprocessed."""
    kw.setdefault('root_target', _root_target())
    return prep(*make_batch(frames, 5, people, input_size=INP, heatmap_size=HM, **kw))


def _with_people(model, inputs, samples, k=2):
    """Set the threshold so that the k best proposals of the first frame are people."""
    model.eval()
    with torch.no_grad():
        s = model.run(inputs, samples)['proposals'][0, :, 4]
    model.root_net.proposal_layer.threshold = float((s[k - 1] + s[k]) / 2)


# ----------------------------------------------------------------------------- modes
@pytest.mark.parametrize('camera_format', ['dict', 'camera', 'list'])
def test_predict_outputs(camera_format):
    model = tiny_model()
    x, ds = batch(camera_format=camera_format)
    _with_people(model, x, ds, k=2)
    with torch.no_grad():
        r = model.run(x, ds)
        out = model.predict(x, ds)
    for b, d in enumerate(out):
        n = int((r['proposals'][b, :, 3] >= 0).sum())
        p = d.pred_instances
        assert p.keypoints.shape == (n, 17, 3) and p.keypoint_scores.shape == (n, 17)
        assert p.keypoints.dtype == np.float32 and 'keypoints_3d' not in p
        assert p.bbox_scores.shape == (n, ) and p.centers_3d.shape == (n, 3)
        assert 'scores' not in p
        assert (p.bbox_scores > model.root_net.proposal_layer.threshold).all()
        np.testing.assert_allclose(p.keypoints, r['poses'][b][r['proposals'][b, :, 3] >= 0])
        # the joints lie in their proposal's 2000 mm cube
        assert (np.abs(p.keypoints - p.centers_3d[:, None]) <= 1000 + 1e-3).all()
    assert len(out[0].pred_instances) == 2
    poses, props, root = model(x, ds, mode='tensor')
    assert poses.shape == (2, 10, 17, 3) and props.shape == (2, 10, 5)
    assert root.shape == (2, 16, 16, 8)


def test_loss_backward_and_values():
    model = tiny_model()
    # match every proposal to its nearest GT root (random weights do not find people)
    model.root_net.proposal_layer.match_distance = 1e5
    x, ds = batch()
    model.train()
    losses = model.loss(x, ds)
    assert set(losses) == {'loss_center', 'loss_pose'}
    assert losses['loss_pose'] > 100 and torch.isfinite(losses['loss_center'])
    (losses['loss_center'] + losses['loss_pose']).backward()
    for name in ('root_net', 'pose_net'):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0, name
    # loss_pose is the visibility-weighted L1 of the matched GT, recomputed by hand
    gt = model.parse_gt(ds, x.device)
    model.zero_grad()
    r = model.run(x, ds, gt=gt)
    b, m = r['pair_index'].unbind(-1)
    g = r['proposals'][b, m, 3].long()
    w = gt['weights'][b, g][..., None]
    manual = ((r['pair_poses'] * w - gt['joints'][b, g] * w).abs()).mean()
    assert model.compute_losses(r, ds, gt)['loss_pose'].item() == pytest.approx(
        manual.item(), rel=1e-6)
    assert len(b) == 20  # every slot of both frames matched
    # the root target is the one GenerateRootTarget3D packed ...
    t = model.root_targets(ds, x.device)
    assert t.shape == (2, 16, 16, 8) and t.max() > 0.5
    ds[0].gt_fields = BaseDataElement(root_heatmap_3d=torch.zeros(16, 16, 8))
    assert model.root_targets(ds, x.device)[0].abs().sum() == 0
    ds[0].gt_fields.root_heatmap_3d = torch.zeros(8, 8, 8)
    with pytest.raises(ValueError, match=r'gt_fields\.root_heatmap_3d'):
        model.root_targets(ds, x.device)
    # ... and there is no second producer: without it, training says which transform
    del ds[0].gt_fields
    with pytest.raises(ValueError, match='root_heatmap_3d: missing.*GenerateRootTarget3D'):
        model.loss(x, ds)
    # a field under its pre-MMPose-convention name is an error, not silently ignored
    ds[0].gt_root_heatmap_3d = torch.zeros(16, 16, 8)
    with pytest.raises(ValueError, match='gt_fields.root_heatmap_3d'):
        model.parse_gt(ds, x.device)
    del ds[0].gt_root_heatmap_3d


def test_two_training_iterations_through_train_step():
    """What the runner does: data dict → data preprocessor → forward(mode='loss') →
    backward → optimizer step, twice."""
    from mmengine.optim import OptimWrapper
    model = tiny_model()
    model.root_net.proposal_layer.match_distance = 1e5
    x, ds = make_batch(2, 5, (3, 2), input_size=INP, heatmap_size=HM,
                       root_target=_root_target())
    data = dict(inputs=[x[0], x[1]], data_samples=ds)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
    model.train()
    before = model.pose_net.v2v_net.output_layer.weight.detach().clone()
    logs = [model.train_step(data, optim) for _ in range(2)]
    for log in logs:
        assert {'loss', 'loss_center', 'loss_pose'} <= set(log)
        assert all(torch.isfinite(v) for v in log.values())
    assert not torch.equal(before, model.pose_net.v2v_net.output_layer.weight)
    model.eval()
    out = model.val_step(dict(inputs=[x[0], x[1]], data_samples=ds))
    assert len(out) == 2 and 'pred_instances' in out[0]


def test_no_valid_proposal_is_ddp_safe():
    """Zero people: loss_pose is 0 but reaches every pose-net parameter."""
    model = tiny_model()
    x, ds = batch()
    for d in ds:
        d.gt_instances = InstanceData(lifting_target=np.zeros((0, 17, 3), np.float32))
        d.gt_instance_labels = InstanceData(keypoint_weights=torch.zeros(0, 17))
    model.train()
    losses = model.loss(x, ds)
    assert losses['loss_pose'].item() == 0.0 and losses['loss_pose'].requires_grad
    sum(losses.values()).backward()
    for p in model.pose_net.parameters():
        assert p.grad is not None and p.grad.abs().sum() == 0


def test_slot_by_slot_training_option():
    x, ds = batch()
    a = tiny_model(prn_train_per_slot=True)
    a.root_net.proposal_layer.match_distance = 1e5
    b = copy.deepcopy(a)
    b.prn_train_per_slot = False
    bn = 'pose_net.v2v_net.front_layers.0.block.bn.num_batches_tracked'
    # eval mode: identical results whatever the option
    a.eval(), b.eval()
    with torch.no_grad():
        ra = a.run(x, ds, per_slot=True)
        rb = b.run(x, ds, per_slot=False)
    # (other V2V batch compositions: float32 rounding of joints of thousands of mm)
    assert torch.allclose(ra['poses'], rb['poses'], atol=1e-2)
    # train mode: one pose-net BatchNorm update per slot vs one per batch
    a.train(), b.train()
    la, lb = a.loss(x, ds), b.loss(x, ds)
    assert int(a.state_dict()[bn]) == 10 and int(b.state_dict()[bn]) == 1
    assert torch.isfinite(la['loss_pose']) and torch.isfinite(lb['loss_pose'])
    assert la['loss_center'].item() == pytest.approx(lb['loss_center'].item(), rel=1e-6)
    assert la['loss_pose'].item() != lb['loss_pose'].item()  # other BN statistics


def test_fast_eval_matches_and_follows_weight_changes():
    model = tiny_model()
    x, ds = batch(1, (3, ))
    _with_people(model, x, ds, k=3)
    model.eval()
    with torch.no_grad():
        fast = model.run(x, ds, return_intermediates=True)
        model.root_net.fast_eval = model.pose_net.fast_eval = False
        plain = model.run(x, ds, return_intermediates=True)
    assert model.root_net._fast_v2v._net is not None  # the fast copy was used
    assert torch.allclose(fast['root_volume'], plain['root_volume'], atol=1e-5)
    assert torch.allclose(fast['pose_volumes'], plain['pose_volumes'], atol=1e-5)
    # change a weight: the fast copy is rebuilt
    model.root_net.fast_eval = True
    with torch.no_grad():
        model.root_net.v2v_net.output_layer.bias.add_(1.0)
        again = model.run(x, ds)
    assert torch.allclose(again['root_volume'], plain['root_volume'] + 1.0, atol=1e-5)


def test_image_input_with_2d_network():
    cfg = Config.fromfile(TINY).model
    cfg.update(image_size=(64, 64),
               backbone=dict(type='ResNet', depth=18),
               head_2d=dict(type='HeatmapHead', in_channels=512, out_channels=17,
                            deconv_out_channels=(16, 16, 16), deconv_kernel_sizes=(4, 4, 4),
                            loss=dict(type='KeypointMSELoss', use_target_weight=True)))
    model = MODELS.build(cfg)
    _, ds = make_batch(1, 5, (2, ), input_size=(64, 64), heatmap_size=(16, 16),
                       root_target=_root_target())
    img, ds = prep(torch.randn(1, 5, 3, 64, 64), ds)
    model.train()
    assert not model.backbone.training and not model.head_2d.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    losses = model.loss(img, ds)
    assert 'loss_2d' not in losses
    model.eval()
    with torch.no_grad():
        assert model.run(img, ds)['heatmaps'].shape == (1, 5, 17, 16, 16)
    # unfrozen 2D net with 2D targets: a 2D loss and gradients into the backbone
    cfg.update(freeze_2d=False)
    model = MODELS.build(cfg)
    ds[0].gt_fields.heatmaps = torch.rand(5, 17, 16, 16)
    model.train()
    assert model.backbone.training and model.head_2d.training
    assert all(p.requires_grad for p in model.backbone.parameters())
    losses = model.loss(img, ds)
    assert 'loss_2d' in losses
    sum(losses.values()).backward()
    assert model.backbone.conv1.weight.grad is not None
    with pytest.raises(ValueError, match='3 channels'):
        model.loss(torch.randn(1, 5, 17, 64, 64), ds)


# ----------------------------------------------------------------------------- bad inputs
def test_bad_inputs_are_reported():
    model = tiny_model()
    model.eval()
    x, ds = batch()
    with torch.no_grad():
        with pytest.raises(ValueError, match=r'4 views.*num_views=5'):
            model.run(x[:, :4], ds)
        with pytest.raises(ValueError, match=r"4 views, the cameras of the batch.*5"):
            tiny_model(num_views=None).run(x[:, :4], ds)
        with pytest.raises(ValueError, match=r"data_samples\[0\]\.metainfo\['cameras'\]"
                                             r"\['R'\]: shape \(5, 3, 3\), expected \(4, 3, 3\)"):
            prep(x[:, :4], ds)                     # the preprocessor checks the layout
        bad = x.clone()
        bad[1, 3, 0, 0, 0] = float('nan')
        with pytest.raises(ValueError, match=r'NaN or Inf.*\(1, 3\)'):
            model.run(bad, ds)
        with pytest.raises(ValueError, match='17 joint channels'):
            model.run(x[:, :, :5], ds)
        ds2 = copy.deepcopy(ds)
        ds2[1].set_metainfo(dict(affines=None))
        with pytest.raises(ValueError, match=r"data_samples\[1\]\.metainfo: missing key "
                                             "'affines'"):
            prep(x, ds2)
        ds2 = copy.deepcopy(ds)
        ds2[0].cameras['dist'] = np.zeros((5, 4))
        with pytest.raises(ValueError, match=r"\['cameras'\]\['dist'\]: shape \(5, 4\)"):
            prep(x, ds2)
        with pytest.raises(ValueError, match='data_samples'):
            model.run(x, None)
        # samples that did not go through the data preprocessor
        _, raw = make_batch(2, 5, (3, 2), input_size=INP, heatmap_size=HM)
        with pytest.raises(ValueError, match='no view_meta.*data_preprocessor'):
            model.run(x, raw)
        with pytest.raises(ValueError, match='stacked for a batch of 2'):
            model.run(x[:1], ds[:1])
        m5 = tiny_model(num_views=3)
        with pytest.raises(ValueError, match='num_views=3'):
            m5.run(x, ds)
        with pytest.raises(ValueError, match='same views and size'):
            prep([x[0], x[1, :4]], ds)
        with pytest.raises(ValueError, match=r'\(B, V, C, H, W\) tensor'):
            model.run([x[0], x[1]], ds)
    ds3 = copy.deepcopy(ds)
    ds3[0].gt_instances = InstanceData(lifting_target=np.zeros((2, 15, 3), np.float32))
    with pytest.raises(ValueError, match=r'lifting_target: shape \(2, 15, 3\)'):
        model.loss(x, ds3)


def test_negative_heatmaps_are_clamped():
    """Negative heatmap values (raw network outputs) are allowed: the projected volume is
    clamped to [0, 1] like the reference, so an all-negative input gives an empty volume."""
    model = tiny_model()
    model.eval()
    x, ds = batch()
    with torch.no_grad():
        r = model.run(x - 0.5, ds, return_intermediates=True)
        neg = model.run(-x, ds, return_intermediates=True)
    assert r['root_cubes'].min() >= 0 and r['root_cubes'].max() <= 1
    assert neg['root_cubes'].abs().sum() == 0


def test_empty_frame_gives_no_people():
    """A frame with nobody (all-zero heatmaps, no GT) runs without error in every mode and
    gives zero people (no padding rows) when nothing passes the threshold."""
    model = tiny_model()
    x, ds = batch(2, (0, 2))
    assert x[0].abs().sum() == 0 and len(ds[0].gt_instances) == 0
    model.eval()
    with torch.no_grad():
        r = model.run(x, ds)
    # a threshold between the empty frame's best score and the other frame's best
    s0, s1 = float(r['proposals'][0, 0, 4]), float(r['proposals'][1, 0, 4])
    if s1 <= s0:  # random weights: make frame 1 respond more than the empty frame
        with torch.no_grad():
            model.root_net.v2v_net.output_layer.bias.zero_()
            r = model.run(x, ds)
        s0, s1 = float(r['proposals'][0, 0, 4]), float(r['proposals'][1, 0, 4])
    model.root_net.proposal_layer.threshold = (s0 + s1) / 2 if s1 > s0 else s0 + 1e-3
    with torch.no_grad():
        out = model.predict(x, ds)
    p = out[0].pred_instances
    assert p.keypoints.shape == (0, 17, 3) and p.bbox_scores.shape == (0, )
    assert p.keypoint_scores.shape == (0, 17)
    # training on it: no GT person, no match, a zero (but connected) pose loss
    model.train()
    losses = model.loss(*prep(x[:1], ds[:1]))
    assert losses['loss_pose'].item() == 0 and torch.isfinite(losses['loss_center'])


def test_cube_partly_outside_the_space():
    """A proposal at the corner of the capture space: its cube extends beyond the space;
    the part outside the images gets zeros, the joints stay inside the cube."""
    model = tiny_model()
    model.eval()
    x, ds = batch(1, (2, ))
    meta = model.parse_meta(ds, 5)
    rn = model.root_net
    corner = torch.tensor([[rn.space_center[i] + rn.space_size[i] / 2 for i in range(3)]])
    with torch.no_grad():
        cubes, grids = model.pose_net.project(x, corner, torch.tensor([0]), meta.cameras,
                                              meta.affines, meta.image_sizes, input_size=INP)
        poses = model.pose_net(cubes, grids)
    assert torch.isfinite(cubes).all() and (cubes >= 0).all() and (cubes <= 1).all()
    assert (grids[0].max(0).values > torch.tensor(corner[0])).all()  # beyond the space
    assert torch.isfinite(poses).all()
    assert ((poses[0] - corner).abs() <= 1000 + 1e-3).all()


# ----------------------------------------------------------------------------- checkpoints
def _to_reference_layout(sd):
    """Our state dict → voxelpose-pytorch key names (inverse of the converter)."""
    inv_res = {'0.conv': '0', '0.bn': '1', '1.conv': '3', '1.bn': '4'}
    out = {}
    for k, v in sd.items():
        if k.endswith('_extra_state'):
            continue
        if '.v2v_net.' in k:
            head, rest = k.split('.v2v_net.', 1)
            rest = rest.replace('front_layers.0.block.conv.', 'front_layers.0.block.0.')
            rest = rest.replace('front_layers.0.block.bn.', 'front_layers.0.block.1.')
            for a, b in inv_res.items():
                rest = rest.replace(f'res_branch.{a}.', f'res_branch.{b}.')
            rest = rest.replace('skip_con.conv.', 'skip_con.0.').replace('skip_con.bn.',
                                                                         'skip_con.1.')
            assert reference_v2v_key(rest) == k.split('.v2v_net.', 1)[1]
            out[f'{head}.v2v_net.{rest}'] = v
        elif k.startswith('head_2d.'):
            out['backbone.' + k[len('head_2d.'):]] = v
        else:
            out[k] = v
    return out


def test_convert_reference_and_mmpose0x_checkpoints(tmp_path):
    src = tiny_model()
    x, ds = batch(1, (3, ))
    _with_people(src, x, ds, k=2)
    with torch.no_grad():
        for p in src.parameters():  # random non-trivial weights
            p.add_(torch.randn_like(p) * 0.01)
        expect = src.run(x, ds)['poses']
    sd = src.state_dict()
    for layout, ckpt in (('voxelpose-pytorch', {'state_dict': _to_reference_layout(sd)}),
                         ('mmpose-0.x', {'state_dict': voxelpose_to_mmpose0x_keys(sd, src)})):
        dst = tiny_model()
        dst.root_net.proposal_layer.threshold = src.root_net.proposal_layer.threshold
        path = str(tmp_path / f'{layout}.pth')
        torch.save(ckpt, path)
        info = load_voxelpose_checkpoint(dst, path)
        assert info['layout'] == layout
        dst.eval()
        with torch.no_grad():
            assert torch.equal(dst.run(x, ds)['poses'], expect), layout
    # the command-line tool, checked against the config
    ref_path = str(tmp_path / 'voxelpose-pytorch.pth')
    out_path = str(tmp_path / 'converted.pth')
    p = _run([sys.executable, 'tools/convert_voxelpose_checkpoint.py', ref_path, out_path,
              '--config', TINY])
    assert p.returncode == 0, p.stderr
    dst = tiny_model()
    assert load_voxelpose_checkpoint(dst, out_path)['layout'] == 'virtualpose_mm'


def test_wrong_checkpoints_fail_clearly(tmp_path):
    model = tiny_model()
    sd = _to_reference_layout(model.state_dict())
    # capture space differs (MMPose 0.x stores it)
    ox = voxelpose_to_mmpose0x_keys(model.state_dict(), model)
    ox['human_detector.center_head.grid_center'] = torch.tensor([0.0, 0.0, 0.0])
    with pytest.raises(CheckpointError, match=r'capture space.*space_center'):
        load_voxelpose_checkpoint(tiny_model(), ox)
    # our own checkpoint with another space: refused on load as well
    other = tiny_model(root_net=dict(space_center=(0.0, 0.0, 1000.0)))
    with pytest.raises((CheckpointError, ValueError), match='capture space'):
        load_voxelpose_checkpoint(tiny_model(), other.state_dict())
    # a missing key, an unknown key and a wrong shape: all listed in one error
    bad = dict(sd)
    bad.pop('pose_net.v2v_net.output_layer.bias')
    bad['root_net.v2v_net.extra_layer.weight'] = torch.zeros(3)
    bad['root_net.v2v_net.output_layer.weight'] = torch.zeros(2, 8, 1, 1, 1)
    with pytest.raises(CheckpointError) as e:
        load_voxelpose_checkpoint(tiny_model(), {'state_dict': bad})
    msg = str(e.value)
    assert 'pose_net.v2v_net.output_layer.bias' in msg and 'extra_layer' in msg
    assert 'root_net.v2v_net.output_layer.weight: checkpoint (2, 8, 1, 1, 1)' in msg
    # a 2D network in the checkpoint of a heatmap-input model
    with2d = dict(sd)
    with2d['backbone.conv1.weight'] = torch.zeros(64, 3, 7, 7)
    with pytest.raises(CheckpointError, match='drop_2d'):
        load_voxelpose_checkpoint(tiny_model(), with2d)
    load_voxelpose_checkpoint(tiny_model(), with2d, drop_2d=True)
    with pytest.raises(CheckpointError, match='not a VoxelPose checkpoint'):
        convert_voxelpose_state_dict({'foo.weight': torch.zeros(1)})
    # the tool: exit status 1 and the message on stderr
    path = str(tmp_path / 'bad.pth')
    torch.save({'state_dict': bad}, path)
    p = _run([sys.executable, 'tools/convert_voxelpose_checkpoint.py', path,
              str(tmp_path / 'o.pth'), '--config', TINY])
    assert p.returncode == 1 and 'extra_layer' in p.stderr


def test_convert_golden_reference_state_dict(shared_data):
    files = sorted(glob.glob(str(shared_data / 'golden' / 'voxelpose' / '*_cpn*_prn*.pt')))
    if not files:
        pytest.skip('no VoxelPose model golden files')
    from tools.analysis.golden.voxelpose_model import model_config_from_reference
    d = torch.load(files[0], weights_only=True)
    model = MODELS.build(model_config_from_reference(d['config']))
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in d['state_dict'].items()}
    info = load_voxelpose_checkpoint(model, sd)
    assert info['layout'] == 'voxelpose-pytorch'
    conv, _ = convert_voxelpose_state_dict(sd)
    assert len(conv) == len(sd) == 312
    assert torch.equal(model.state_dict()['root_net.v2v_net.front_layers.1.res_branch.1.bn.'
                                          'running_var'],
                       sd['root_net.v2v_net.front_layers.1.res_branch.4.running_var'])


# ----------------------------------------------------------------------------- tools
def _golden_model_files():
    folder = osp.join(osp.dirname(REPO), 'shared', 'data', 'golden', 'voxelpose')
    out = []
    for f in sorted(glob.glob(osp.join(folder, '*.pt'))):
        if osp.getsize(f) < 4e6:  # the metric / projection files are small; skip loading
            continue
        d = torch.load(f, map_location='cpu', weights_only=True)
        if 'state_dict' in d and any(k.startswith('root_net.v2v_net.') for k in d['state_dict']):
            out.append(f)
    return out


@pytest.mark.parametrize('name', ['shelf_cpn40_prn32.pt', 'campus_cpn40_prn32.pt', 'others'])
def test_golden_voxelpose_model_files(shared_data, name):
    files = _golden_model_files()
    if name == 'others':
        files = [f for f in files if osp.basename(f) not in (
            'shelf_cpn40_prn32.pt', 'campus_cpn40_prn32.pt')]
        if not files:
            pytest.skip('no further VoxelPose model golden files')
    else:
        files = [f for f in files if osp.basename(f) == name]
        if not files:
            pytest.skip(f'{name} not available')
    for f in files:
        p = _run([sys.executable, 'tools/analysis/check_golden.py', f])
        assert p.returncode == 0, p.stdout + p.stderr
        last = p.stdout.strip().splitlines()[-1]
        assert last.startswith('max pose error:') and float(last.split()[3]) < 0.05


@pytest.mark.parametrize('name', ['shelf_cpn40_prn32.pt', 'campus_cpn40_prn32.pt'])
def test_golden_poses_with_the_shipped_fast_inference(shared_data, name):
    """The shipped configs' inference settings (float32 projection, the fast-eval V2V copy
    with the FFT first layer and Winograd 3x3x3 convolutions, cubes per call by device)
    keep the golden eval poses within 0.05 mm of the reference and every proposal flag
    equal; the golden checker itself forces the reference-exact settings."""
    path = shared_data / 'golden' / 'voxelpose' / name
    if not path.exists():
        pytest.skip(f'{name} not available')
    from tools.analysis.golden.voxelpose_model import (_dense, build_data_samples,
                                                       model_config_from_reference, prepare)
    from virtualpose_mm.models.utils.voxelpose_converter import match_state_dict
    from virtualpose_mm.ops import WinogradRes3DBlock, winograd_available
    d = torch.load(path, map_location='cpu', weights_only=True)
    cfg = model_config_from_reference(d['config'])
    for net in ('root_net', 'pose_net'):
        cfg[net].update(fast_eval=True, fft_first_layer=True, winograd=True)
        cfg[net]['projector'] = dict(cfg[net]['projector'], precision='float32')
    cfg['pose_net']['max_cubes_per_call'] = None
    model = MODELS.build(cfg)
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in d['state_dict'].items()}
    conv, info = convert_voxelpose_state_dict(sd, layout='voxelpose-pytorch')
    model.load_state_dict(match_state_dict(model, conv, str(path), info), strict=True)
    hm = _dense(d['input_heatmaps_sparse']).transpose(0, 1).contiguous().float()
    hm, samples = prepare(model, hm, build_data_samples(d))
    model.eval()
    with torch.no_grad():
        r = model.run(hm, samples, return_intermediates=True)
    ref = d['eval']
    assert torch.equal(r['proposals'][..., 3], ref['grid_centers'][..., 3])
    err = (r['poses'] - ref['pred'][..., :3]).abs().max().item()
    assert err < 0.05, f'{name}: shipped inference settings move the poses by {err} mm'
    if winograd_available():
        assert any(isinstance(m, WinogradRes3DBlock)
                   for m in model.pose_net._fast_v2v._net.modules())


def test_golden_checker_catches_a_small_weight_change(shared_data):
    """A 1e-3 relative change of ONE root-net weight fails the float32-noise bounds of the
    root volume (relative to its scale), while no discrete output changes."""
    from tools.analysis.golden import find_checker
    from tools.analysis.golden.core import load_golden
    path = shared_data / 'golden' / 'voxelpose' / 'shelf_cpn40_prn32.pt'
    if not path.is_file():
        pytest.skip(f'{path} is not available')
    d = load_golden(str(path))
    key = 'root_net.v2v_net.output_layer.weight'
    w = d['state_dict'][key].float()
    i = int(w.abs().argmax())
    w.view(-1)[i] *= 1 + 1e-3
    d['state_dict'][key] = w
    rep = find_checker(d, str(path))[1](d, str(path), 'cpu')
    rows = {r.name: r for r in rep.rows}
    assert not rep.ok
    assert not rows['eval root volume'].ok and not rows['train root volume'].ok, rep.format()
    assert rows['eval proposal flags (mismatches)'].ok, rep.format()


def test_benchmark_compare_loop_smoke():
    p = _run([sys.executable, 'tools/analysis/benchmark_voxelpose.py', TINY, '--compare-loop',
              '--iters', '1', '--threads', '1'])
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.strip().splitlines()
    assert any(line.startswith('poses identical: yes') for line in lines)
    assert lines[-1].startswith('speedup:') and float(lines[-1].split()[1]) > 0
    assert any('root projection' in line for line in lines)


def test_cubes_per_call_auto_by_device_and_same_poses():
    model = tiny_model()
    pn = model.pose_net
    assert pn.max_cubes_per_call is None
    # auto: on the CPU in inference as many cubes as hold 32³ voxels (tiny: 16³ cubes, 8
    # per call; VoxelPose's 64³: 1; the CPU VirtualPose configs' 20³: 4), all on a GPU
    # and in training
    pn.eval()
    assert pn.cube_shape == (16, 16, 16)
    assert pn.cubes_per_call('cpu', 20) == 8 and pn.cubes_per_call('cpu', 7) == 7
    assert pn.cubes_per_call('cuda', 20) == 20
    for shape, n in (((64, 64, 64), 1), ((20, 20, 20), 4), ((40, 40, 40), 1)):
        pn.cube_shape = shape
        assert pn.cubes_per_call('cpu', 20) == n, shape
    pn.train()
    assert pn.cubes_per_call('cpu', 7, for_v2v=True) == 7
    assert pn.cubes_per_call('cpu', 7) == 1  # the projection may still be split
    pn.cube_shape = (16, 16, 16)
    pn.max_cubes_per_call = 0  # explicit: all
    assert pn.cubes_per_call('cpu', 7, for_v2v=True) == 7 and pn.cubes_per_call('cpu', 7) == 7
    pn.max_cubes_per_call = 3
    assert pn.cubes_per_call('cpu', 7) == 3 and pn.cubes_per_call('cuda', 7) == 3
    # eval results do not depend on it
    x, ds = batch(1, (3, ))
    _with_people(model, x, ds, k=3)
    model.eval()
    out = {}
    with torch.no_grad():
        for n in (None, 0, 2):
            pn.max_cubes_per_call = n
            out[n] = model.run(x, ds)['poses']
    # (float32 rounding of joints of thousands of mm: a few 1e-4 mm)
    assert torch.allclose(out[None], out[0], atol=1e-2)
    assert torch.allclose(out[2], out[0], atol=1e-2)


def test_fft_first_layer_matches_direct_convolution():
    import torch.nn as nn
    from virtualpose_mm.models.heads.voxel_center_net import FastEvalV2V, FFTConv3d
    torch.manual_seed(0)
    conv = nn.Conv3d(5, 4, 7, padding=3)
    x = torch.rand(2, 5, 9, 8, 6)
    with torch.no_grad():
        assert torch.allclose(FFTConv3d(conv)(x), conv(x), atol=1e-5)
    with pytest.raises(ValueError):
        FFTConv3d(nn.Conv3d(5, 4, 3, padding=0))
    net = MODELS.build(dict(type='V2VNet', input_channels=17, output_channels=17,
                            mid_channels=8))
    net.eval()
    x = torch.rand(1, 17, 8, 8, 8)
    with torch.no_grad():
        a = FastEvalV2V()(net, x)
        b = FastEvalV2V(fft_first_layer=True)(net, x)
        # the CPU kernels (oneDNN called directly, 1x1x1 convolutions as matmuls) vs
        # PyTorch's own choice, and vs the plain net
        c = FastEvalV2V(pointwise_matmul=False, cpu_kernels=False)(net, x)
        d = net(x)
        d = d[0] if isinstance(d, (tuple, list)) else d
    assert a.is_contiguous()
    assert torch.allclose(a, b, atol=1e-4)
    assert torch.allclose(a, c, atol=1e-4) and torch.allclose(a, d, atol=1e-4)
