"""VoxelRootCodec: the one producer of root targets and decoder of voxel peaks."""
import numpy as np
import torch
from mmengine.registry import init_default_scope

from virtualpose_mm.codecs import VoxelRootCodec
from virtualpose_mm.registry import KEYPOINT_CODECS, TRANSFORMS

SPACE = dict(space_size=(8000.0, 8000.0, 2000.0), space_center=(450.0, -320.0, 800.0),
             space_shape=(80, 80, 20))


def _joints(roots):
    """COCO-17 people whose hips (11, 12) average to ``roots``."""
    rng = np.random.default_rng(0)
    X = rng.normal(0, 300, (len(roots), 17, 3)) + np.asarray(roots)[:, None]
    X[:, 12] = 2 * np.asarray(roots) - X[:, 11]
    return X


def test_registered_and_encode_peaks_at_each_root():
    init_default_scope('mmpose')
    codec = KEYPOINT_CODECS.build(dict(type='VoxelRootCodec', **SPACE))
    assert isinstance(codec, VoxelRootCodec)
    roots = np.array([[1234.0, -987.0, 900.0], [-2000.0, 1500.0, 1100.0]])
    enc = codec.encode(_joints(roots))
    np.testing.assert_allclose(enc['roots_3d'], roots, atol=1e-9)
    hm = enc['root_heatmap_3d']
    assert hm.shape == (80, 80, 20) and hm.dtype == np.float32 and hm.max() <= 1.0
    grid = codec.space.grid()
    for r in roots:  # the voxel nearest each root carries that person's maximum
        near = np.unravel_index(np.argmin(((grid - r) ** 2).sum(-1)), hm.shape)
        d2 = ((grid[near] - r) ** 2).sum()
        assert hm[near] == np.float32(np.exp(-d2 / (2 * 200.0 ** 2)))
    far = codec.world_to_index(np.array([3500.0, 3000.0, 200.0])).round().astype(int)
    assert hm[tuple(far)] == 0.0  # beyond 3 sigma of both roots (box window)


def test_decode_inverts_world_to_index_and_matches_the_reference_formula():
    codec = VoxelRootCodec(**SPACE)
    idx = torch.tensor([[0, 0, 0], [79, 79, 19], [40, 12, 7]])
    got = codec.decode(idx)
    s, c, n = (torch.tensor(v, dtype=torch.float32) for v in SPACE.values())
    want = idx.float() / (n - 1) * s + c - s / 2.0     # voxelpose-pytorch's formula
    assert got.dtype == torch.float32 and torch.equal(got, want)
    pts = np.array([[0.0, 0.0, 0.0], [3000.0, -4000.0, 1750.5]])
    np.testing.assert_allclose(codec.decode(codec.world_to_index(pts)), pts, atol=1e-9)


def test_transform_and_root_nets_use_the_codec():
    """GenerateRootTarget3D (data, the one producer of root targets) and the root net
    (decoding) hold the same codec: the same target from the same roots."""
    init_default_scope('mmpose')
    t = TRANSFORMS.build(dict(type='GenerateRootTarget3D', **SPACE, root_joints=(11, 12)))
    roots = np.array([[100.0, 200.0, 950.0]])
    X = _joints(roots)
    out = t.transform(dict(gt_keypoints_3d=X))
    codec = VoxelRootCodec(**SPACE)
    np.testing.assert_array_equal(out['root_target_3d'], codec.encode(X)['root_heatmap_3d'])
    from virtualpose_mm.models.heads import VoxelCenterNet
    net = VoxelCenterNet(**SPACE, v2v_net=dict(type='V2VNet', input_channels=17,
                                               output_channels=1, mid_channels=4))
    assert net.proposal_layer.codec is net.codec
    assert not hasattr(net, 'make_targets')  # no second producer in the model
    same = net.codec.encode_roots(torch.as_tensor(out['gt_roots_3d']))
    np.testing.assert_array_equal(same.numpy(), out['root_target_3d'])
