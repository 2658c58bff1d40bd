"""VirtualPose stage 2: decoding, depth-gated projection, DE flip, converter, GT proposal
filter and a loss/backward smoke test on a small scene."""
import copy
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import virtualpose_mm  # noqa: F401  (registers the models)
from virtualpose_mm.models.layers.projection import voxel_grid
from virtualpose_mm.models.utils.virtualpose_converter import (
    CheckpointError, convert_virtualpose_state_dict, load_virtualpose_checkpoint)
from virtualpose_mm.models.backbones import VirtualPoseDepthNet
from virtualpose_mm.models.layers import decode_root_detections, depth_gated_projection
from virtualpose_mm.registry import MODELS
from tests.fixtures.dataset_files import virtualpose_to_reference_keys

sys.path.insert(0, str(Path(__file__).resolve().parent))
import virtualpose_toy as T  # noqa: E402


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return MODELS.build(T.model_config())


# ----------------------------------------------------------------------------- decoding
def test_decode_order_offset_and_invalid_entries():
    H, W = 16, 20
    heat = torch.zeros(1, H, W)
    heat[0, 3, 4], heat[0, 3, 5] = 0.9, 0.5          # 0.5 is suppressed by the 3×3 NMS
    heat[0, 10, 15], heat[0, 12, 2] = 0.7, 0.05      # 0.05 < score_thr: invalid
    box = torch.zeros(1, 4, H, W)
    box[0, :, 3, 4] = torch.tensor([1.0, 2.0, 3.0, -4.0])       # negative extent clamped
    depth = torch.zeros(1, 1, H, W)
    depth[0, 0, 3, 4], depth[0, 0, 10, 15], depth[0, 0, 12, 2] = 10.0, 20.0, 30.0
    d = decode_root_detections(heat, box, depth, max_people=4)
    assert d['valid'][0].tolist() == [True, True, False, False]
    assert d['inds'][0, :2].tolist() == [3 * W + 4, 10 * W + 15]           # score order
    assert d['xys'][0, 0].tolist() == [4.0, 3.0]
    assert d['bboxes'][0, 0].tolist() == [3.0, 1.0, 7.0, 3.0]
    assert d['depths'][0].tolist()[:2] == [10.0, 20.0] and d['depths'][0, 2:].eq(-1).all()
    assert not d['bboxes'][0, 2:].any()
    ref = decode_root_detections(heat, box, depth, max_people=4, peak_offset=0.5,
                                 sort_by_depth=True)
    assert ref['depths'][0, :2].tolist() == [20.0, 10.0]                    # far → near
    assert ref['xys'][0, 1].tolist() == [4.5, 3.5]
    assert ref['bboxes'][0, 1].tolist() == [3.5, 1.5, 7.5, 3.5]


# ----------------------------------------------------------------------------- projection
def test_depth_gated_projection_gates_by_depth_and_box_and_is_differentiable():
    cam = T.camera()
    people = np.stack([T.person((-600.0, 0.0))])
    agr = T.agr(people)[None]
    root = torch.tensor(people[0, 2])
    depth = float(cam.depth(people[0, 2][None])[0])                        # 5000 mm
    along = torch.tensor(cam.center) + (root - torch.tensor(cam.center)) * 1.2  # same ray
    pts = torch.stack([root, along]).float()
    cams = cam.to_tensor(dtype=torch.float64)[None, None]
    aff = torch.tensor(T.AFFINE)[None, None]
    size = torch.tensor(T.IMAGE_SIZE, dtype=torch.float64)[None, None]
    full_box = torch.tensor([[[0.0, 0.0, 63.0, 31.0]]])
    dep = torch.tensor([[depth]], requires_grad=True)
    vol, w = depth_gated_projection(agr[:, :17], pts, cams, aff, size, full_box, dep,
                                    torch.tensor([[True]]), input_size=T.INPUT_SIZE)
    assert vol.shape == (1, 17, 2)
    vol = vol.detach()
    assert vol[0, 2, 0] > 0.95                              # root channel at the root voxel
    w = w.detach()
    assert float(w[0, 0]) == pytest.approx(1.0, abs=1e-6)
    assert float(w[0, 1]) == pytest.approx(np.exp(-(0.2 * depth)**2 / (2 * 200**2)), rel=1e-3)
    assert float(vol[0, 2, 1]) < 1e-5                       # 1 m further along the ray
    assert float(vol[0, 2, 1]) == pytest.approx(float(w[0, 1]) * float(
        depth_gated_projection(agr[:, :17], pts, cams, aff, size, full_box,
                               torch.tensor([[1.2 * depth]]), torch.tensor([[True]]),
                               input_size=T.INPUT_SIZE)[0][0, 2, 1]), rel=1e-3)
    # the gate's gradient reaches the decoded depth (d vol / d depth ≠ 0 off the peak)
    dep2 = torch.tensor([[depth + 150.0]], requires_grad=True)
    vol2, _ = depth_gated_projection(agr[:, :17], pts, cams, aff, size, full_box, dep2,
                                     torch.tensor([[True]]), input_size=T.INPUT_SIZE)
    vol2[0, 2, 0].backward()
    g = float(dep2.grad)
    s = float(vol[0, 2, 0].detach())
    assert g == pytest.approx(-s * np.exp(-150.0**2 / 80000) * 150.0 / 200**2, rel=2e-3)
    # outside the person's box or for an invalid person: nothing
    small_box = torch.tensor([[[0.0, 0.0, 5.0, 5.0]]])
    vol3, _ = depth_gated_projection(agr[:, :17], pts, cams, aff, size, small_box,
                                     torch.tensor([[depth]]), torch.tensor([[True]]),
                                     input_size=T.INPUT_SIZE)
    vol4, _ = depth_gated_projection(agr[:, :17], pts, cams, aff, size, full_box,
                                     torch.tensor([[depth]]), torch.tensor([[False]]),
                                     input_size=T.INPUT_SIZE)
    assert not vol3.any() and not vol4.any()


# ----------------------------------------------------------------------------- the DE
def test_depth_net_shape_and_flip_with_channel_swap():
    torch.manual_seed(0)
    de = VirtualPoseDepthNet(in_channels=9, flip_train=True).eval()
    x = torch.rand(1, 9, 16, 24)
    assert de(x).shape == (1, 1, 16, 24)
    perm = [0, 1, 2, 6, 7, 8, 3, 4, 5]
    mirrored = torch.flip(x, dims=[-1])[:, perm]         # the mirror image of the input
    with torch.no_grad():
        assert torch.allclose(de.flipped_forward(mirrored),
                              torch.flip(de.forward_once(x), dims=[-1]), atol=1e-5)
        de.flip_swap_channels = False                    # reference: no L/R swap
        assert not torch.allclose(de.flipped_forward(mirrored),
                                  torch.flip(de.forward_once(x), dims=[-1]), atol=1e-3)
    with pytest.raises(ValueError, match=r'expects \(B, 9, H, W\)'):
        de(torch.rand(1, 8, 16, 24))


def test_depth_net_flip_test_is_mirror_equivariant():
    """``flip_test``: in eval the depth map of the input averaged with that of its mirror
    image, mirrored back; so the mirror image of an input gets the mirrored depth map.
    Training and ``flip_test=False`` are unchanged."""
    torch.manual_seed(0)
    de = VirtualPoseDepthNet(in_channels=9, flip_test=True).eval()
    x = torch.rand(2, 9, 16, 24)
    mirrored = torch.flip(x, dims=[-1])[:, [0, 1, 2, 6, 7, 8, 3, 4, 5]]
    with torch.no_grad():
        once, tta = de.forward_once(x), de(x)
        torch.testing.assert_close(tta, 0.5 * (once + de.flipped_forward(x)))
        assert (tta - once).abs().max() > 1e-4           # an untrained net is not symmetric
        torch.testing.assert_close(de(mirrored), torch.flip(tta, dims=[-1]), rtol=1e-5,
                                   atol=1e-5)
        de.flip_test = False
        torch.testing.assert_close(de(x), once)
        de.flip_test = True
        de.train()
        torch.testing.assert_close(de(x), de.forward_once(x))   # training: no averaging


def test_depth_net_base_channels_scale_the_resnet():
    """base_channels=32: every ResNet stage half as wide (a quarter of its weights), the
    deconvolutions read the narrower last stage, same output shape."""
    def resnet_params(de):
        return sum(p.numel() for p in de.backbone.parameters())
    small_head = dict(deconv_channels=(16, ) * 3, deconv_kernels=(4, ) * 3, head_channels=8)
    wide = VirtualPoseDepthNet(in_channels=9, **small_head)
    narrow = VirtualPoseDepthNet(in_channels=9, base_channels=32, **small_head)
    assert narrow.backbone.conv1.out_channels == 32
    assert narrow.backbone.layer4[-1].conv2.out_channels == 256
    assert narrow.deconv_layers[0].in_channels == 256
    assert 0.24 < resnet_params(narrow) / resnet_params(wide) < 0.26
    x = torch.rand(2, 9, 16, 24)
    assert narrow.eval()(x).shape == wide.eval()(x).shape == (2, 1, 16, 24)


# ----------------------------------------------------------------------------- converter
def test_converter_round_trip_and_errors(model):
    ref = virtualpose_to_reference_keys(model.state_dict())
    ref['REN.depth_net.final_layer.weight'] = torch.zeros(17, 256, 1, 1)   # unused head
    target = MODELS.build(T.model_config())
    info = load_virtualpose_checkpoint(target, {'state_dict': ref})
    assert info['dropped'] == ['REN.depth_net.final_layer.weight'] and not info['unknown']
    for k, v in model.state_dict().items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(target.state_dict()[k], v), k

    bad = dict(ref)
    bad['REN.mystery.weight'] = torch.zeros(3)
    del bad['PEN.v2v_net.output_layer.bias']
    bad['REN.v2v_net.front_layers.0.block.0.weight'] = torch.zeros(16, 17, 3, 3, 3)
    with pytest.raises(CheckpointError) as e:
        load_virtualpose_checkpoint(MODELS.build(T.model_config()), bad)
    msg = str(e.value)
    assert 'REN.mystery.weight' in msg                                      # unknown
    assert 'pose_net.v2v_net.output_layer.bias' in msg                      # missing
    assert 'root_net.v2v_net.front_layers.0.block.conv.weight' in msg and \
        '(16, 17, 3, 3, 3)' in msg and '(16, 17, 7, 7, 7)' in msg          # mis-shaped

    with pytest.raises(CheckpointError, match=r"ignore_prefixes=\('backbone\.',\)"):
        load_virtualpose_checkpoint(MODELS.build(T.model_config()),
                                    dict(ref, **{'backbone.conv1.weight': torch.zeros(1)}))
    conv, info = convert_virtualpose_state_dict(
        dict(ref, **{'backbone.conv1.weight': torch.zeros(1)}), ignore_prefixes=('backbone.', ))
    assert 'backbone.conv1.weight' in info['dropped'] and not info['unknown']
    assert 'root_net.v2v_net.encoder_decoder.skip_res1.res_branch.1.bn.running_var' in conv


def test_converter_maps_torchvision_resnet_names_onto_mmpose_resnet():
    """Reference DE keys (torchvision ResNet names) → MMPose ``ResNet`` under ``backbone``;
    the same names for every depth, including the Bottleneck's conv3/bn3 and downsample."""
    from mmpose.models.backbones import ResNet
    from virtualpose_mm.models.utils.virtualpose_converter import depth_net_key
    for k, ours in [('conv1.weight', 'backbone.conv1.weight'),
                    ('bn1.running_mean', 'backbone.bn1.running_mean'),
                    ('layer1.0.conv1.weight', 'backbone.layer1.0.conv1.weight'),
                    ('layer2.0.downsample.1.num_batches_tracked',
                     'backbone.layer2.0.downsample.1.num_batches_tracked'),
                    ('layer4.1.bn2.bias', 'backbone.layer4.1.bn2.bias'),
                    ('deconv_layers.0.weight', 'deconv_layers.0.weight'),
                    ('depth.2.bias', 'depth.2.bias')]:
        assert depth_net_key(k) == 'root_net.depth_net.' + ours
        conv, info = convert_virtualpose_state_dict({'REN.depth_net.' + k: torch.zeros(1)})
        assert list(conv) == ['root_net.depth_net.' + ours] and not info['unknown']
    for depth in (18, 50):
        import torchvision
        tv = getattr(torchvision.models, f'resnet{depth}')(weights=None).state_dict()
        de = VirtualPoseDepthNet(depth=depth, deconv_channels=(8, ), deconv_kernels=(4, ),
                                 head_channels=8)
        assert isinstance(de.backbone, ResNet)
        ours = {k: v.shape for k, v in de.state_dict().items()}
        for k, v in tv.items():
            if k.startswith('fc.') or k.startswith('conv1.'):   # no fc; a 9-channel stem
                continue
            name = depth_net_key(k)[len('root_net.depth_net.'):]
            assert ours[name] == v.shape, k


def _to_old_layout(sd):
    """Our state dict in the DE layout before its ResNet became ``backbone`` (torchvision's
    modules directly on the DE)."""
    return {k.replace('root_net.depth_net.backbone.', 'root_net.depth_net.'): v.clone()
            for k, v in sd.items()}


def test_checkpoints_of_the_old_depth_net_layout_still_load(model, tmp_path):
    from mmengine.runner import load_checkpoint
    old = _to_old_layout(model.state_dict())
    assert 'root_net.depth_net.layer1.0.bn1.running_var' in old
    assert not any('depth_net.backbone' in k for k in old)
    expected = model.state_dict()

    def same(m):
        got = m.state_dict()
        return all(torch.equal(got[k], v) for k, v in expected.items()
                   if isinstance(v, torch.Tensor))

    # plain load_state_dict (strict), the runner's load_checkpoint, and the converter
    m = MODELS.build(T.model_config())
    m.load_state_dict(old, strict=True)
    assert same(m)
    torch.save({'state_dict': old, 'meta': {}}, tmp_path / 'old.pth')
    m = MODELS.build(T.model_config())
    load_checkpoint(m, str(tmp_path / 'old.pth'), map_location='cpu', strict=True)
    assert same(m)
    m = MODELS.build(T.model_config())
    info = load_virtualpose_checkpoint(m, str(tmp_path / 'old.pth'))
    assert same(m) and not info['unknown'] and not info['dropped']
    # the DE alone, old keys at its top level
    de = VirtualPoseDepthNet(in_channels=model.root_net.depth_net.in_channels)
    sub = {k[len('root_net.depth_net.'):]: v for k, v in old.items()
           if k.startswith('root_net.depth_net.')}
    de.load_state_dict(sub, strict=True)
    assert torch.equal(de.backbone.conv1.weight, model.root_net.depth_net.backbone.conv1.weight)
    # both layouts at once is an error, not a silent pick
    both = dict(old, **{'root_net.depth_net.backbone.conv1.weight':
                        old['root_net.depth_net.conv1.weight']})
    with pytest.raises(RuntimeError, match='both in the state dict'):
        MODELS.build(T.model_config()).load_state_dict(both, strict=True)


# ----------------------------------------------------------------------------- proposals
def _force_root_volume(model, peaks, away_from):
    """Make the root net output a volume with the given {voxel index: score} peaks on a
    weak background (< 0.1) rising away from ``away_from`` (so its only other local maxima
    are the far corners of the space); added to 0 × the real volume, so the graph stays
    connected."""
    orig = type(model.root_net).forward
    shape = model.root_net.space_shape
    pts = voxel_grid(model.root_net.space_size, model.root_net.space_center, shape)
    dist = (pts - torch.tensor(away_from).float()).norm(dim=-1)
    background = (0.1 * dist / dist.max()).view(*shape)

    def forward(self, *args, **kwargs):
        out = orig(self, *args, **kwargs)
        vol = background.expand_as(out['root_volume']).clone()
        for idx, score in peaks.items():
            vol[(slice(None), ) + idx] = score
        out['root_volume'] = out['root_volume'] * 0 + vol
        return out

    model.root_net.forward = types.MethodType(forward, model.root_net)


def _nearest_voxel(model, xyz):
    pts = voxel_grid(model.root_net.space_size, model.root_net.space_center,
                     model.root_net.space_shape)
    i = int(((pts - torch.tensor(xyz).float())**2).sum(-1).argmin())
    X, Y, Z = model.root_net.space_shape
    return (i // (Y * Z), (i // Z) % Y, i % Z)


def test_gt_proposal_filter_is_off_by_default(model):
    m = copy.deepcopy(model).eval()
    people = np.stack([T.person((-800.0, 0.0))])
    near = _nearest_voxel(m, people[0, 2])
    far = _nearest_voxel(m, (1500.0, 1500.0, 900.0))        # a false positive, > 2 m away
    _force_root_volume(m, {near: 0.9, far: 0.8}, people[0, 2])
    x, ds = T.batch(m, [people])
    _, ds_no_gt = T.batch(m, [people], with_gt=False)
    with torch.no_grad():
        default = m.predict(x, ds)[0].pred_instances
        m.gt_proposal_filter = True
        filtered = m.predict(x, ds)[0].pred_instances
        without_gt = m.predict(x, ds_no_gt)[0].pred_instances
    assert default.keypoints.shape == (2, 17, 3)
    assert np.allclose(sorted(default.bbox_scores.tolist()), [0.8, 0.9])
    far_xyz = voxel_grid(m.root_net.space_size, m.root_net.space_center,
                         m.root_net.space_shape).view(*m.root_net.space_shape, 3)[far]
    assert any(np.allclose(c, far_xyz.numpy()) for c in default.centers_3d)
    assert filtered.keypoints.shape == (1, 17, 3)          # the false positive is gone
    assert filtered.bbox_scores.tolist() == pytest.approx([0.9])
    assert np.linalg.norm(filtered.centers_3d[0] - people[0, 2]) < 500
    assert without_gt.keypoints.shape == (2, 17, 3)        # no GT: score threshold


def test_test_depth_range_drops_the_people_outside_it(model):
    """``test_depth_range``: at test time a person whose final root lies at a camera depth
    outside (min, max) is dropped; the others are unchanged; not applied with GT-flagged
    proposals; a bad range is an error."""
    m = copy.deepcopy(model).eval()
    people = np.stack([T.person((-800.0, 0.0))])
    near = _nearest_voxel(m, people[0, 2])
    far = _nearest_voxel(m, (1500.0, 1500.0, 900.0))
    _force_root_volume(m, {near: 0.9, far: 0.8}, people[0, 2])
    x, ds = T.batch(m, [people])
    _, ds_no_gt = T.batch(m, [people], with_gt=False)
    with torch.no_grad():
        both = m.predict(x, ds_no_gt)[0].pred_instances
    assert both.keypoints.shape == (2, 17, 3)
    z = T.camera().world_to_camera(both.keypoints[:, 2].astype(np.float64))[:, 2]
    assert abs(z[0] - z[1]) > 100.0                            # two depths to tell apart
    keep, drop = int(np.argmin(z)), int(np.argmax(z))
    m.test_depth_range = (float(z.min()) - 50.0, float(z.mean()))   # the nearer one only
    with torch.no_grad():
        one = m.predict(x, ds_no_gt)[0].pred_instances
        m.gt_proposal_filter = True
        with_gt = m.predict(x, ds)[0].pred_instances               # GT-flagged: kept as is
    assert one.keypoints.shape == (1, 17, 3)
    np.testing.assert_array_equal(one.keypoints[0], both.keypoints[keep])
    assert one.bbox_scores.tolist() == [both.bbox_scores[keep]]
    assert not np.allclose(one.keypoints[0], both.keypoints[drop])
    assert with_gt.keypoints.shape == (1, 17, 3)
    for bad in ((2000.0, 1000.0), (-1.0, 5000.0)):
        with pytest.raises(ValueError, match='test_depth_range must be'):
            MODELS.build(T.model_config(test_depth_range=bad))


def test_completion_adds_the_people_the_root_volume_missed(model):
    """``root_net.completion``: a decoded root peak that no kept person projects near
    becomes a person at the depth estimator's depth on the peak's ray, scored below the
    volume's proposals; off by default."""
    people = np.stack([T.person((-800.0, 0.0)), T.person((900.0, 600.0))])
    m = copy.deepcopy(model).eval()
    _force_root_volume(m, {_nearest_voxel(m, people[0, 2]): 0.9}, people[0, 2])
    forced = m.root_net.forward

    def forward(*args, **kwargs):          # an untrained DE: depths of 4.5-5.5 m instead
        out = forced(*args, **kwargs)
        out['depths_mm'] = 4500.0 + 1000.0 * torch.rand(out['depths_mm'].shape).double()
        return out

    m.root_net.forward = forward
    x, ds = T.batch(m, [people], with_gt=False)
    with torch.no_grad():
        plain = m.predict(x, ds)[0].pred_instances
        m.root_net.completion = dict(radius=5.0, min_score=0.3)
        torch.manual_seed(0)
        res = m.predict_forward(x, ds)
        torch.manual_seed(0)
        done = m.predict(x, ds)[0].pred_instances
    assert plain.keypoints.shape == (1, 17, 3)           # the volume finds one person
    assert done.keypoints.shape == (2, 17, 3)            # the completion the other
    thr = m.root_net.proposal_layer.threshold
    det, cam = res['det'], T.camera()
    hm_px = T.canvas_joints(people)[:, 2] * (T.HEATMAP_SIZE[0] / T.INPUT_SIZE[0])
    peak = int(np.argmin(np.linalg.norm(det['xys'][0].numpy() - hm_px[1], axis=1)))
    assert np.linalg.norm(det['xys'][0, peak].numpy() - hm_px[1]) <= 0.75
    added = res['proposals'][0][res['proposals'][0, :, 4] < thr]
    added = added[added[:, 3] >= 0]
    assert len(added) == 1
    assert float(added[0, 4]) == pytest.approx(thr * float(det['scores'][0, peak]))
    centre = added[0, :3].double().numpy()
    uv = T.canvas_joints(centre[None, None])[0, 0] * (T.HEATMAP_SIZE[0] / T.INPUT_SIZE[0])
    np.testing.assert_allclose(uv, det['xys'][0, peak].numpy(), atol=1e-3)   # on the ray
    assert cam.depth(centre[None])[0] == pytest.approx(
        float(res['depths_mm'][0, peak]), rel=1e-5)                          # DE depth
    assert sorted(done.bbox_scores.tolist()) == pytest.approx(
        sorted([0.9, float(added[0, 4])]), rel=1e-5)
    with torch.no_grad():
        m.root_net.completion = dict(radius=5.0, min_score=1.01)   # peaks too weak
        assert m.predict(x, ds)[0].pred_instances.keypoints.shape == (1, 17, 3)
        m.root_net.completion = dict(radius=200.0, min_score=0.3)  # kept person near
        assert m.predict(x, ds)[0].pred_instances.keypoints.shape == (1, 17, 3)
    with pytest.raises(ValueError, match='unknown completion keys'):
        MODELS.build(T.model_config(root_net=dict(T.model_config()['root_net'],
                                                  completion=dict(radius=1, score=1))))


# ----------------------------------------------------------------------------- training
def test_loss_and_backward_smoke(model):
    m = copy.deepcopy(model).train()
    people = [np.stack([T.person((-800.0, 0.0)), T.person((700.0, 800.0))]),
              np.stack([T.person((0.0, -500.0))])]
    x, ds = T.batch(m, people)
    # a DE that outputs the scene's depth, so the depth gate lets the heatmaps through
    dnf = float(np.sqrt(300.0 * 300.0 * 0.25))
    with torch.no_grad():
        m.root_net.depth_net.depth[2].weight.zero_()
        m.root_net.depth_net.depth[2].bias.fill_(5000.0 / dnf)
    near = _nearest_voxel(m, people[0][0, 2])
    _force_root_volume(m, {near: 0.9}, people[0][0, 2])
    res = m.loss_forward(x, ds)
    assert res['ren_input'].amax() > 0.5                     # people projected into the space
    # GT depth targets of GenerateVirtualPoseAGR
    assert res['gt']['root_mask'][:, :1].eq(1).all()
    assert float(res['gt']['root_depth'][0, 0]) == pytest.approx(5000.0, abs=1e-6)
    assert res['gt']['counts'].tolist() == [2, 1]
    losses = m.loss(x, ds)
    assert set(losses) == {'loss_depth', 'loss_root', 'loss_pose'}
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    # depth loss: |5000 − GT depth| averaged over the 3 roots, × 0.1
    gt_depth = [5000.0, 5800.0, 4500.0]
    want = 0.1 * np.mean([abs(5000.0 - d) for d in gt_depth])
    assert losses['loss_depth'].item() == pytest.approx(want, rel=1e-4)
    assert losses['loss_pose'].item() > 0                      # the forced proposal matched
    m.zero_grad()
    sum(losses.values()).backward()
    grads = {n: p.grad for n, p in m.named_parameters()}
    assert grads['root_net.depth_net.depth.2.bias'].abs() > 0
    assert grads['pose_net.v2v_net.output_layer.weight'].abs().sum() > 0
    assert all(grads[n] is not None for n in grads if n.startswith(('pose_net.', 'root_net.')))
    # predictions of the trained-mode-free path: one person per forced peak, world mm
    m.eval()
    with torch.no_grad():
        out = m.predict(x, ds)
    assert [o.pred_instances.keypoints.shape[0] for o in out] == [1, 1]
    assert np.isfinite(out[0].pred_instances.keypoints).all()


def test_input_checks(model):
    people = np.stack([T.person((0.0, 0.0))])
    x, ds = T.batch(model, [people])
    assert tuple(x.shape) == (1, 1, 21, 32, 64)               # the multi-view layout, V = 1
    with pytest.raises(ValueError, match='expects 21'):
        model.predict(torch.zeros(1, 1, 20, 32, 64), ds)
    with pytest.raises(ValueError, match=r'\(B, 1, K \+ 4, H, W\)'):
        model.predict(x[:, 0], ds)
    # the views come only from the data preprocessor's view_meta
    _, raw = T.frame(people)
    with pytest.raises(ValueError, match='no view_meta.*data_preprocessor'):
        model.predict(x, [raw])
    # the pack transform names what is missing; the preprocessor checks the layout
    from mmpose.structures import PoseDataSample
    from virtualpose_mm.datasets.transforms import PackVirtualPoseInputs
    with pytest.raises(KeyError, match="no 'affine'.*GenerateVirtualPoseAGR"):
        PackVirtualPoseInputs()(dict(agr=T.agr(people).numpy(), camera=T.camera()))
    old = PoseDataSample(metainfo=dict(camera=T.camera().to_dict(), affine=T.AFFINE))
    with pytest.raises(ValueError, match=r"data_samples\[0\]\.metainfo\['cameras'\]"):
        model.data_preprocessor(dict(inputs=[x[0]], data_samples=[old]))
    # training needs the transforms' targets: no second producer in the model
    x, ds = T.batch(model, [people])
    del ds[0].gt_instance_labels.root_depth
    with pytest.raises(ValueError, match=r"missing \['root_depth'\].*GenerateVirtualPoseAGR"):
        model.loss(x, ds)
    x, ds = T.batch(model, [people])
    del ds[0].gt_fields
    with pytest.raises(ValueError, match='root_heatmap_3d: missing.*GenerateRootTarget3D'):
        model.loss(x, ds)


# ----------------------------------------------------------------------------- view cubes
def _turn(angle_deg: float) -> np.ndarray:
    """(3, 3) rotation about the world vertical (z) by ``angle_deg``."""
    a = np.radians(angle_deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0],
                     [0.0, 0.0, 1.0]])


def _turned_camera(angle_deg: float):
    """The toy camera with the whole scene turned about the vertical by ``angle_deg``."""
    cam, Rz = T.camera(), _turn(angle_deg)
    return T.Camera.from_center(cam.R @ Rz.T, Rz @ cam.center, cam.f, cam.c,
                                image_size=T.IMAGE_SIZE)


def _pose_net_on_gt_roots(m, people, cam):
    x, ds = T.batch(m, [people], cam=cam)
    meta = m.parse_meta(ds, 1)
    props = T.gt_root_proposals([people[:, 2]], m.root_net.max_people)
    with torch.no_grad():
        out = m.run_pose_net(x[:, :, :m.num_joints], props, meta, meta.input_size,
                             return_intermediates=True)
    return x, out


def test_view_cubes_face_the_camera():
    torch.manual_seed(0)
    cfg = T.model_config()
    cfg['pose_net'] = dict(cfg['pose_net'], cube_orientation='view')
    m = MODELS.build(cfg).eval()
    net, cam = m.pose_net, T.camera()                 # camera at (0, −5000, 1000) mm
    cams = T.Camera.stack([cam]).to_tensor()
    cams = T.Camera(cams.R[:, None], cams.t[:, None], cams.f[:, None], cams.c[:, None])
    centers = torch.tensor([[0.0, 0.0, 900.0],        # straight ahead: heading +y
                            [5000.0, -5000.0, 900.0],  # to the camera's right: +x
                            [-3000.0, -2000.0, 900.0]])
    grids = net.cube_grids(centers, torch.zeros(3, dtype=torch.long), cams)
    world = voxel_grid(net.cube_size, centers, net.cube_shape)
    assert torch.allclose(grids[0], world[0], atol=1e-3)   # already facing the camera
    fwd = [np.array([0.0, 1.0]), np.array([1.0, 0.0]), np.array([-3000.0, 3000.0]) / 4242.64]
    for p in range(3):
        off = (grids[p] - centers[p]).numpy()
        loc = (world[p] - centers[p]).numpy()               # the cube's own axes
        right = np.array([fwd[p][1], -fwd[p][0]])
        want = loc[:, :1] * right + loc[:, 1:2] * fwd[p]
        assert np.abs(off[:, :2] - want).max() < 1e-2
        assert np.abs(off[:, 2] - loc[:, 2]).max() < 1e-3   # z stays up
    with pytest.raises(ValueError, match="cube_orientation must be 'world' or 'view'"):
        MODELS.build(dict(cfg['pose_net'], cube_orientation='camera'))
    two = T.Camera(cams.R.expand(1, 2, 3, 3), cams.t.expand(1, 2, 3), cams.f.expand(1, 2, 2),
                   cams.c.expand(1, 2, 2))
    with pytest.raises(ValueError, match='one view per sample'):
        net.cube_grids(centers, torch.zeros(3, dtype=torch.long), two)


@pytest.mark.parametrize('orientation', ['world', 'view'])
def test_view_cubes_make_the_pose_net_turn_with_the_scene(orientation):
    """Turning camera and people together about the vertical leaves the image unchanged:
    with 'view' cubes the pose net's inputs are the same and its joints turn with the
    scene; with world cubes the inputs differ."""
    torch.manual_seed(0)
    cfg = T.model_config()
    cfg['pose_net'] = dict(cfg['pose_net'], cube_orientation=orientation)
    m = MODELS.build(cfg).eval()
    people = np.stack([T.person((-800.0, 300.0)), T.person((900.0, 600.0))])
    x0, out0 = _pose_net_on_gt_roots(m, people, T.camera())
    Rz = _turn(70.0)
    x1, out1 = _pose_net_on_gt_roots(m, people @ Rz.T, _turned_camera(70.0))
    assert torch.allclose(x0, x1, atol=1e-5)               # the same image
    diff = (out0['pose_cubes'] - out1['pose_cubes']).abs().max().item()
    turned = out0['pair_poses'].double().numpy() @ Rz.T
    err = np.abs(turned - out1['pair_poses'].double().numpy()).max()
    if orientation == 'view':
        assert diff < 1e-4
        assert err < 0.05                                   # mm
    else:
        assert diff > 0.1
        assert err > 1.0


def test_training_cubes_at_gt_depth(model):
    """A matched proposal 400 mm too far along its ray (and 100 mm off sideways) is moved
    to the GT root's camera depth, keeping its image position; only in training and only
    with the option."""
    from virtualpose_mm.models.pose_estimators.virtualpose import VirtualPose
    cam = T.camera()                                       # at (0, −5000, 1000), looking +y
    root = np.array([-800.0, 300.0, 900.0])
    ray = (root - cam.center) / np.linalg.norm(root - cam.center)
    prop = root + 400.0 * ray + np.array([100.0, 0.0, 0.0])
    props = torch.tensor([[[*prop, 0.0, 0.9], [*prop, -1.0, 0.2]]])
    cams = T.Camera.stack([cam]).to_tensor()
    cams = T.Camera(cams.R[:, None], cams.t[:, None], cams.f[:, None], cams.c[:, None])
    moved = VirtualPose.proposals_at_gt_depth(props, torch.tensor([[root]]), cams)
    new = moved[0, 0, :3].double().numpy()
    assert cam.depth(new[None])[0] == pytest.approx(cam.depth(root[None])[0], abs=1e-2)
    assert np.allclose(cam.project(new[None]), cam.project(prop[None]), atol=1e-3)
    assert torch.equal(moved[0, 1], props[0, 1])           # an unmatched row is untouched
    assert torch.equal(moved[0, 0, 3:], props[0, 0, 3:])

    m = copy.deepcopy(model).train()
    people = [np.stack([T.person(root[:2])])]
    x, ds = T.batch(m, people)
    near = _nearest_voxel(m, prop)
    _force_root_volume(m, {near: 0.9}, prop)
    centre = {}
    for flag in (False, True):
        m.train_cubes_at_gt_depth = flag
        res = m.loss_forward(x, ds)
        assert res['pair_index'].shape[0] == 1
        centre[flag] = res['pose_grids'][0].double().mean(0).numpy()
    voxel = res['proposals'][0, 0, :3].double().numpy()      # the proposal as found
    assert np.abs(centre[False] - voxel).max() < 1e-2
    assert cam.depth(centre[True][None])[0] == pytest.approx(cam.depth(root[None])[0],
                                                             abs=1e-2)
    m.eval()
    with torch.no_grad():
        grid = m.run(x, meta=m.parse_meta(ds, 1))['pose_grids'][0].double().mean(0).numpy()
    assert np.abs(grid - voxel).max() < 1e-2              # inference: at the proposal


@pytest.mark.parametrize('frozen', ['pose_net', 'root_net'])
def test_frozen_network_trains_the_other_alone(model, frozen):
    """``frozen=(name, )``: that network gets no gradients, keeps its weights and BatchNorm
    statistics through optimiser steps and stays in eval mode; its losses are absent (a
    frozen pose net is not even run); the other network trains, every one of its
    parameters getting a gradient (DDP without unused parameters)."""
    torch.manual_seed(0)
    m = MODELS.build(T.model_config(frozen=(frozen, )))
    m.load_state_dict(model.state_dict())
    m.train()
    other = 'root_net' if frozen == 'pose_net' else 'pose_net'
    assert not getattr(m, frozen).training and getattr(m, other).training
    assert not any(p.requires_grad for p in getattr(m, frozen).parameters())
    people = [np.stack([T.person((-800.0, 0.0)), T.person((700.0, 800.0))])]
    x, ds = T.batch(m, people)
    near = _nearest_voxel(m, people[0][0, 2])
    _force_root_volume(m, {near: 0.9}, people[0][0, 2])      # a matched proposal
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    called = []
    hook = m.pose_net.register_forward_hook(lambda *a: called.append(1))
    for _ in range(2):
        losses = m.loss(x, ds)
        want = {'loss_pose'} if frozen == 'root_net' else {'loss_depth', 'loss_root'}
        assert set(losses) == want
        opt.zero_grad()
        sum(losses.values()).backward()
        grads = [p.grad for p in getattr(m, other).parameters()]
        assert all(g is not None for g in grads)
        assert all(p.grad is None for p in getattr(m, frozen).parameters())
        opt.step()
    hook.remove()
    assert bool(called) == (frozen == 'root_net')
    after = m.state_dict()
    for k, v in before.items():
        if k.startswith(frozen + '.'):
            assert torch.equal(after[k], v), k                    # weights and BN statistics
    changed = [k for k, v in before.items() if k.startswith(other + '.')
               and v.is_floating_point() and not torch.equal(after[k], v)]
    assert len(changed) > 10
    # inference still runs both networks
    m.eval()
    with torch.no_grad():
        out = m.run(x, meta=m.parse_meta(ds, 1))
    assert out['poses'].shape == (1, m.root_net.proposal_layer.max_num, 17, 3)
    for bad in (('pose_net', 'root_net'), ('head', )):
        with pytest.raises(ValueError, match='frozen'):
            MODELS.build(T.model_config(frozen=bad))
    # the base-class mechanism behind `frozen` (and the multi-view models' freeze_2d)
    with pytest.raises(ValueError, match="VirtualPose: cannot freeze 'head'"):
        m.freeze('head')
    assert m._frozen_modules == (frozen, )


def test_fast_eval_gives_the_plain_nets_outputs_in_inference_only(model):
    """``fast_eval`` on the root and pose nets (the configs' default): in eval mode without
    gradients both V2V nets run through their BatchNorm-folded copies, with the plain nets'
    root volumes and poses; in training (or with gradients) the plain nets run, so their
    parameters get gradients."""
    torch.manual_seed(1)
    plain = copy.deepcopy(model)
    for mod in plain.modules():  # BatchNorm statistics that folding must carry over
        if isinstance(mod, torch.nn.BatchNorm3d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():  # a DE that outputs the scene's depth: the gate lets people in
        plain.root_net.depth_net.depth[2].weight.zero_()
        plain.root_net.depth_net.depth[2].bias.fill_(5000.0 / float(np.sqrt(300.0 ** 2 / 4)))
    base = T.model_config()
    fast = MODELS.build(T.model_config(
        root_net=dict(base['root_net'], fast_eval=True),
        pose_net=dict(base['pose_net'], fast_eval=True, fft_first_layer=True)))
    fast.load_state_dict(plain.state_dict())
    people = [np.stack([T.person((-800.0, 0.0)), T.person((700.0, 800.0))])]
    x, ds = T.batch(plain, people)
    plain.eval()
    fast.eval()
    with torch.no_grad():
        a = plain.run(x, meta=plain.parse_meta(ds, 1), with_pose=False)
        b = fast.run(x, meta=fast.parse_meta(ds, 1), with_pose=False)
    assert fast.root_net._fast_v2v._net is not None and plain.root_net._fast_v2v._net is None
    assert torch.equal(a['ren_input'], b['ren_input']) and a['ren_input'].amax() > 0
    vol = a['root_volume'].abs().amax()
    assert vol > 0 and (a['root_volume'] - b['root_volume']).abs().amax() <= 1e-4 * vol
    # the pose nets on the same (forced) proposal
    for m in (plain, fast):
        _force_root_volume(m, {_nearest_voxel(m, people[0][0, 2]): 0.9}, people[0][0, 2])
    with torch.no_grad():
        a = plain.run(x, meta=plain.parse_meta(ds, 1))
        b = fast.run(x, meta=fast.parse_meta(ds, 1))
    assert fast.pose_net._fast_v2v._net is not None and plain.pose_net._fast_v2v._net is None
    found = a['proposals'][0, :, 3] >= 0
    assert found.sum() == 1 and torch.equal(a['proposals'], b['proposals'])
    assert (a['poses'][0, found] - b['poses'][0, found]).abs().amax() < 0.05    # mm
    assert (a['poses'][0, found] - a['proposals'][0, found, None, :3]).abs().amax() > 1.0
    # with gradients (training) the plain nets run: their parameters get gradients (the
    # forced root volume is 0 × the net's, so the root V2V's are zeros, but not None)
    fast.train()
    sum(fast.loss(x, ds).values()).backward()
    assert all(p.grad is not None for p in fast.root_net.v2v_net.parameters())
    assert fast.pose_net.v2v_net.output_layer.weight.grad.abs().sum() > 0
