"""Faster-VoxelPose estimator: modes, losses (also with no matched proposal), the fine-grid
cache, batching, the reference options, checkpoint conversion and the golden file."""
import copy

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import virtualpose_mm  # noqa: F401
from virtualpose_mm.models.data_preprocessors import MultiViewDataPreprocessor
from virtualpose_mm.models.utils.faster_voxelpose_converter import (
    CheckpointError, convert_faster_voxelpose_state_dict, load_faster_voxelpose_checkpoint,
    to_reference_state_dict)
from virtualpose_mm.registry import MODELS
from tools.analysis.voxelpose_synthetic import make_batch

INP, HM = (256, 192), (64, 48)
GOLDEN = ('golden', 'faster_voxelpose', 'shelf_seed0.pt')


def tiny_cfg(**over):
    """Shelf space, 16x16x8 top grid, 16^3 cubes (133 mm voxels), thin nets."""
    cfg = dict(
        type='FasterVoxelPose', num_joints=17, num_views=5, image_size=INP,
        detector=dict(space_size=(8000.0, 8000.0, 2000.0), space_center=(450.0, -320.0, 800.0),
                      space_shape=(16, 16, 8), max_people=4, threshold=0.1,
                      mid_channels=8, head_channels=8),
        joint_net=dict(cube_size=(2000.0, 2000.0, 2000.0), cube_shape=(16, 16, 16),
                       mid_channels=8, weight_feat_channels=8, weight_hidden_channels=8))
    cfg.update(over)
    return cfg


def tiny_model(**over):
    torch.manual_seed(0)
    return MODELS.build(tiny_cfg(**over))


def batch(frames=2, people=(3, 2), seed=0):
    x, ds = make_batch(frames, 5, people, input_size=INP, heatmap_size=HM, seed=seed)
    data = MultiViewDataPreprocessor()(dict(inputs=list(x), data_samples=ds))
    return data['inputs'], data['data_samples']


def _with_people(model, x, ds, k=2):
    """Threshold between the k-th and (k+1)-th score of frame 0 (random weights)."""
    model.eval()
    with torch.no_grad():
        s = model.run(x, ds)['proposals'][0, :, 4].sort(descending=True).values
    model.detector.threshold = float((s[k - 1] + s[k]) / 2)


# ----------------------------------------------------------------------------- modes
def test_predict_and_tensor_modes():
    model = tiny_model()
    x, ds = batch()
    _with_people(model, x, ds)
    with torch.no_grad():
        r = model.run(x, ds)
        out = model.predict(x, ds)
        poses, props, hm = model(x, ds, mode='tensor')
    assert poses.shape == (2, 4, 17, 3) and props.shape == (2, 4, 7) and hm.shape == (2, 16, 16)
    assert len(out[0].pred_instances) == 2
    for b, d in enumerate(out):
        keep = r['proposals'][b, :, 3] >= 0
        n = int(keep.sum())
        p = d.pred_instances
        assert p.keypoints.shape == (n, 17, 3) and p.keypoints.dtype == np.float32
        assert p.keypoint_scores.shape == (n, 17) and p.bbox_scores.shape == (n, )
        assert p.jln_scores.shape == (n, ) and p.bbox_sizes.shape == (n, 2)
        np.testing.assert_allclose(p.keypoints, r['poses'][b][keep])
        # default: the detection score, not the JLN confidence
        np.testing.assert_allclose(p.bbox_scores, r['det']['proposals'][b, keep, 4])
        assert (p.bbox_scores > model.detector.threshold).all()
        # the joints lie in their proposal's (snapped) 2000 mm cube
        assert (np.abs(p.keypoints - p.centers_3d[:, None]) <= 1000 + 32).all()


def test_loss_backward_and_values():
    model = tiny_model()
    model.detector.match_distance = 1e5        # every proposal matches its nearest root
    x, ds = batch()
    model.train()
    gt = model.parse_gt(ds, x.device)
    r = model.run(x, ds, gt=gt)
    losses = model.compute_losses(r, gt)
    assert set(losses) == {'loss_topview', 'loss_height', 'loss_bbox', 'loss_joint'}
    assert all(torch.isfinite(v) for v in losses.values()) and losses['loss_joint'] > 10
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert r['pair_index'].shape[0] == 8      # all slots of both frames
    # the joint loss is Σ planes L1 + 5 · fused L1 (visibility weighted), by hand
    b, m = r['pair_index'].unbind(-1)
    g = r['det']['proposals'][b, m, 3].long()
    w = gt['weights'][b, g][..., None]
    j = gt['joints'][b, g] * w
    pp = r['jln']['plane_poses']
    manual = sum((pp[i] * w - j[..., list(ax)]).abs().mean()
                 for i, ax in enumerate(((0, 1), (0, 2), (1, 2)))) + \
        5 * (r['jln']['poses'] * w - j).abs().mean()
    assert losses['loss_joint'].item() == pytest.approx(manual.item(), rel=1e-6)
    # targets: top-view Gaussians peak at the root cells, one box per GT person
    t = r['targets']
    assert t['topview'].shape == (2, 16, 16) and t['height'].shape == (2, 3, 8)
    assert t['valid'].tolist() == [[True, True, True], [True, True, False]]
    assert float(t['topview'].amax()) > 0.5 and (t['bbox'][t['valid']] > 0.1).all()


def test_two_training_iterations_through_train_step():
    from mmengine.optim import OptimWrapper
    model = tiny_model()
    model.detector.match_distance = 1e5
    x, ds = make_batch(2, 5, (3, 2), input_size=INP, heatmap_size=HM)
    data = dict(inputs=list(x), data_samples=ds)
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    model.train()
    before = model.joint_net.plane_net.output_layer.weight.detach().clone()
    logs = [model.train_step(copy.deepcopy(data), optim) for _ in range(2)]
    for log in logs:
        assert {'loss', 'loss_topview', 'loss_height', 'loss_bbox', 'loss_joint'} <= set(log)
        assert all(torch.isfinite(v) for v in log.values())
    assert not torch.equal(before, model.joint_net.plane_net.output_layer.weight)
    model.eval()
    out = model.val_step(copy.deepcopy(data))
    assert len(out) == 2 and 'pred_instances' in out[0]


@pytest.mark.parametrize('case', ['far', 'empty'])
def test_no_matched_proposal_is_ddp_safe(case):
    """No proposal matches (GT far away, or no GT people): zero joint and height losses,
    and still a gradient (zeros) for EVERY parameter, so DDP does not hang."""
    model = tiny_model()
    x, ds = batch()
    if case == 'far':
        model.detector.match_distance = 1e-3
    else:
        for d in ds:
            d.gt_instances = InstanceData(lifting_target=np.zeros((0, 17, 3), np.float32))
            d.gt_instance_labels = InstanceData(keypoint_weights=torch.zeros(0, 17))
    model.train()
    losses = model.loss(x, ds)
    assert losses['loss_joint'].item() == 0 and losses['loss_height'].item() == 0
    if case == 'empty':
        assert losses['loss_bbox'].item() == 0
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    assert all(float(p.grad.abs().sum()) == 0 for p in model.joint_net.parameters())


# ----------------------------------------------------------------------------- the JLN
def test_cached_and_direct_cube_sampling_agree_and_batching_is_invisible_in_eval():
    model = tiny_model()
    x, ds = batch()
    _with_people(model, x, ds, k=3)
    with torch.no_grad():
        r = model.run(x, ds, return_intermediates=True)
        assert len(model.joint_net.fine_cache) == 1            # one rig
        direct = copy.deepcopy(model)
        direct.joint_net.fine_cache.max_entries = 0
        direct.joint_net.chunk_elements = 17 * 5 * 3000          # several sampling calls
        r2 = direct.run(x, ds, return_intermediates=True)
        per_sample = copy.deepcopy(model)
        per_sample.reference_jln_per_sample = True
        r3 = per_sample.run(x, ds)
    assert r['pair_index'].shape[0] >= 4
    assert torch.equal(r['planes']['planes'], r2['planes']['planes'])
    assert torch.equal(r['poses'], r2['poses'])
    torch.testing.assert_close(r['poses'], r3['poses'], atol=1e-3, rtol=0)
    # a cube is a window of the fine grid: clipped in z by the space, masked by the box
    w = r['planes']
    assert (w['start'] >= 0).all() and (w['end'] <= torch.tensor([241, 241, 16])).all()
    assert w['corner'].shape == (r['pair_index'].shape[0], 3)


def test_fast_eval_matches_and_follows_weight_changes():
    model = tiny_model()
    x, ds = batch()
    _with_people(model, x, ds, k=3)
    for m in model.modules():  # non-trivial BatchNorm statistics to fold
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    fast = copy.deepcopy(model)
    fast.detector.fast_eval = fast.joint_net.fast_eval = True
    with torch.no_grad():
        r, rf = model.run(x, ds), fast.run(x, ds)
        torch.testing.assert_close(rf['det']['center_hm'], r['det']['center_hm'],
                                   atol=1e-5, rtol=1e-4)
        assert torch.equal(rf['pair_index'], r['pair_index'])
        torch.testing.assert_close(rf['poses'], r['poses'], atol=1e-3, rtol=0)
        for net in (model, fast):
            net.joint_net.plane_net.output_layer.bias.add_(0.5)
        torch.testing.assert_close(fast.run(x, ds)['jln'], model.run(x, ds)['jln'],
                                   atol=1e-3, rtol=1e-4)


def test_bad_geometry_and_options_are_reported():
    with pytest.raises(ValueError, match='whole number of cube voxels'):
        MODELS.build(tiny_cfg(detector=dict(tiny_cfg()['detector'],
                                            space_size=(7900.0, 8000.0, 2000.0))))
    with pytest.raises(ValueError, match='set reference_view_average on the model'):
        MODELS.build(tiny_cfg(detector=dict(tiny_cfg()['detector'],
                                            reference_view_average=True)))
    with pytest.raises(ValueError, match='joint_net.space_center'):
        MODELS.build(tiny_cfg(joint_net=dict(tiny_cfg()['joint_net'],
                                             space_center=(0.0, 0.0, 0.0))))


def test_reference_options():
    x, ds = batch()
    ref = tiny_model(reference_jln_score=True, reference_bbox_mask=True,
                     reference_weight_net_init=True, reference_view_average=True,
                     reference_bbox_index=True, reference_soft_argmax=True)
    sound = tiny_model()
    # the weight net: PyTorch's default init vs the intended N(0, 0.001²)
    assert float(ref.joint_net.weight_net.output[0].weight.std()) > 0.05
    assert float(sound.joint_net.weight_net.output[0].weight.std()) < 0.01
    _with_people(ref, x, ds)
    with torch.no_grad():
        r = ref.run(x, ds)
    used = r['proposals'][..., 3] >= 0
    torch.testing.assert_close(r['proposals'][..., 4][used], r['jln_scores'][used])
    # the box loss of the reference includes the first padding slot (cell 0, box 0)
    ref.train()
    gt = ref.parse_gt(ds, x.device)
    rr = ref.run(x, ds, gt=gt)
    t = dict(rr['targets'])
    l_ref = ref.detector.loss(rr['det'], t)['loss_bbox']
    ref.detector.reference_bbox_mask = False
    l_sound = ref.detector.loss(rr['det'], t)['loss_bbox']
    assert l_ref.item() != pytest.approx(l_sound.item())


@pytest.mark.parametrize('name', ['shelf_cam5', 'campus_cam3', 'panoptic_cam5', 'own_rig'])
def test_configs_build(name):
    import os.path as osp
    from mmengine.config import Config
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(repo, 'configs', 'faster_voxelpose',
                                   f'faster-voxelpose_{name}.py'))
    resolve_config_variables(cfg)
    model = MODELS.build(cfg.model)
    assert model.detector.fast_eval and model.joint_net.fast_eval
    assert not any(getattr(model, k) for k in vars(model) if k.startswith('reference_'))
    assert model.joint_net.fine_shape[2] == 64
    assert (model.backbone is not None) == (name == 'panoptic_cam5')
    assert all(s.get('type') != 'GenerateRootTarget3D'
               for s in cfg.train_dataloader.dataset.pipeline)


# ----------------------------------------------------------------------------- checkpoints
def test_converter_round_trip_and_wrong_keys():
    model = tiny_model()
    ours = model.state_dict()
    ref = to_reference_state_dict(ours)
    assert 'pose_net.center_net.front_layers.0.block.0.weight' in ref
    assert 'pose_net.c2c_net.encoder_decoder.mid_res.res_branch.4.running_var' in ref
    assert 'joint_net.conv_net.front_layers.1.skip_con.1.bias' in ref
    assert 'joint_net.weight_net.output.2.weight' in ref
    conv, info = convert_faster_voxelpose_state_dict(ref)
    assert info['layout'] == 'faster-voxelpose' and not info['unknown']
    assert set(conv) == {k for k in ours if not k.endswith('_extra_state')}
    # a DataParallel prefix and a checkpoint wrapper
    fresh = tiny_model(reference_weight_net_init=True)
    wrapped = {'state_dict': {'module.' + k: v for k, v in ref.items()}}
    assert load_faster_voxelpose_checkpoint(fresh, wrapped)['layout'] == 'faster-voxelpose'
    for k, v in fresh.state_dict().items():
        if not k.endswith('_extra_state'):
            assert torch.equal(v, ours[k]), k
    # wrong keys are all named
    bad = dict(ref)
    bad.pop('joint_net.conv_net.output_layer.bias')
    bad['pose_net.center_net.extra_head.weight'] = torch.zeros(1)
    bad['joint_net.weight_net.output.0.weight'] = torch.zeros(3, 3)
    with pytest.raises(CheckpointError) as e:
        load_faster_voxelpose_checkpoint(tiny_model(), bad)
    msg = str(e.value)
    assert 'joint_net.plane_net.output_layer.bias' in msg             # missing
    assert 'detector.center_net.extra_head.weight' in msg             # the model lacks it
    assert 'joint_net.weight_net.output.0.weight' in msg              # shape
    with pytest.raises(CheckpointError, match='other.key'):
        load_faster_voxelpose_checkpoint(tiny_model(), dict(ref, **{'other.key': torch.ones(1)}))


def test_converter_on_the_golden_reference_state_dict(shared_data):
    path = shared_data.joinpath(*GOLDEN)
    if not path.is_file():
        pytest.skip(f'{path} is not available')
    from tools.analysis.golden.faster_voxelpose import model_config_from_reference
    d = torch.load(str(path), weights_only=True)
    model = MODELS.build(model_config_from_reference(d['config']))
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in d['state_dict'].items()}
    load_faster_voxelpose_checkpoint(model, sd)
    back = to_reference_state_dict(model.state_dict())
    assert set(back) == set(sd) and len(sd) == 485
    assert all(torch.equal(back[k], sd[k]) for k in sd)


def test_golden_file(shared_data):
    """The whole golden check (eval and train, every recorded intermediate)."""
    path = shared_data.joinpath(*GOLDEN)
    if not path.is_file():
        pytest.skip(f'{path} is not available')
    from tools.analysis.golden import check_golden_file
    rep = check_golden_file(str(path))
    assert rep.ok, rep.format()
    assert rep.final_value < 0.05


def test_weight_net_chunked_eval_equals_one_call_and_training_uses_the_whole_batch():
    from virtualpose_mm.models.heads.faster_voxelpose_heads import FusionWeightNet
    torch.manual_seed(0)
    net = FusionWeightNet(feat_channels=8, hidden_channels=16, reference_init=True)
    x = torch.rand(3, 5, 16, 16)                        # 15 maps: two chunks of 8
    net.train()
    net(x)                                              # BatchNorm running statistics
    net.eval()
    with torch.no_grad():
        chunked = net(x)
        net.eval_chunk_maps = 1000
        whole = net(x)
    assert chunked.shape == (3, 5, 1)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-7)
    # training: BatchNorm over all 15 maps at once, as the reference (chunks would give
    # other batch statistics)
    net.train()
    net.eval_chunk_maps = 8
    feat = net.heatmap_feature_net[0](x.reshape(15, 1, 16, 16))
    before = net.heatmap_feature_net[1].running_mean.clone()
    net(x)
    m = net.heatmap_feature_net[1].momentum
    torch.testing.assert_close(net.heatmap_feature_net[1].running_mean,
                               (1 - m) * before + m * feat.mean((0, 2, 3)).detach())
    with torch.no_grad():                               # no maps (no proposal)
        assert net.eval()(torch.rand(0, 5, 16, 16)).shape == (0, 5, 1)


def _plain_weight_net(net, x):
    """FusionWeightNet's training forward written with the plain modules (one call)."""
    import torch.nn.functional as F
    N, K = x.shape[:2]
    maps = x.reshape(N * K, 1, *x.shape[2:])
    y = F.adaptive_avg_pool2d(net.heatmap_feature_net(maps), 1).reshape(N * K, -1)
    return net.output(y).reshape(N, K, 1)


@pytest.mark.parametrize('size,chunk', [((16, 16), 4), ((15, 13), 1000)])
def test_weight_net_training_path_equals_the_plain_modules(size, chunk):
    """The training path (BatchNorm statistics from the patch moments, folded conv,
    chunked max-pool recomputed in backward) gives the plain modules' outputs, gradients
    and running statistics, also with tied maxima (flat regions: the first maximum of a
    window gets the gradient, as F.max_pool2d) and odd map sizes (the last row/column is
    not pooled)."""
    from virtualpose_mm.models.heads.faster_voxelpose_heads import FusionWeightNet
    torch.manual_seed(0)
    ref = FusionWeightNet(feat_channels=8, hidden_channels=16, reference_init=True)
    for m in ref.modules():                             # weights of a trained net's scale
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.normal_(m.weight, 0, 0.3)
            torch.nn.init.normal_(m.bias, 0, 0.3)
    torch.nn.init.normal_(ref.heatmap_feature_net[1].weight, 1, 0.3)
    torch.nn.init.normal_(ref.heatmap_feature_net[1].bias, 0, 0.3)
    net = copy.deepcopy(ref)
    net.train_chunk_maps = chunk
    ref.train()
    net.train()
    x = torch.randn(2, 6, *size) * 2 + 0.5
    x[0, :3, : size[0] // 2] = 0.25                     # flat regions: tied window maxima
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.randn(2, 6, 1)
    for _ in range(2):                                  # two steps: running statistics
        ya, yb = _plain_weight_net(ref, x1), net(x2)
        (ya * g).sum().backward()
        (yb * g).sum().backward()
        torch.testing.assert_close(yb, ya, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-4, atol=1e-8)
    for (name, pa), (_, pb) in zip(ref.named_parameters(), net.named_parameters()):
        if name == 'heatmap_feature_net.0.bias':        # BatchNorm cancels it: 0 exactly
            assert pb.grad.abs().max() == 0 and pa.grad.abs().max() < 1e-4
            continue
        scale = pa.grad.abs().max()
        assert (pb.grad - pa.grad).abs().max() <= 1e-3 * scale, name
    for (name, ba), (_, bb) in zip(ref.named_buffers(), net.named_buffers()):
        torch.testing.assert_close(bb, ba, rtol=1e-5, atol=1e-6, msg=name)
    # a model in training mode whose BatchNorm is frozen (eval) uses the running statistics
    net.heatmap_feature_net[1].eval()
    ref.heatmap_feature_net[1].eval()
    torch.testing.assert_close(net(x), _plain_weight_net(ref, x), rtol=1e-5, atol=1e-6)
