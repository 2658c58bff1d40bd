"""VoxelSpace: voxel centres on linspace(center ± size/2, shape), x slowest / z fastest."""
import numpy as np
import pytest
import torch

from virtualpose_mm.geometry import VoxelSpace

# the Shelf root-net space of the reference config (golden README)
SHELF = dict(size=[8000.0, 8000.0, 2000.0], center=[450.0, -320.0, 800.0], shape=[40, 40, 12])


def test_grid_is_linspace_with_both_ends():
    space = VoxelSpace(**SHELF)
    grid = space.grid()
    assert grid.shape == (40, 40, 12, 3) and grid.dtype == np.float64
    # the reference's order of operations: linspace(-size/2, size/2, n) + center ...
    np.testing.assert_array_equal(grid[:, 0, 0, 0], np.linspace(-4000.0, 4000.0, 40) + 450)
    np.testing.assert_array_equal(grid[0, :, 0, 1], np.linspace(-4000.0, 4000.0, 40) - 320)
    np.testing.assert_array_equal(grid[0, 0, :, 2], np.linspace(-1000.0, 1000.0, 12) + 800)
    # ... which is linspace(center - size/2, center + size/2, n) up to rounding
    np.testing.assert_allclose(grid[:, 0, 0, 0], np.linspace(-3550.0, 4450.0, 40), atol=1e-9)
    np.testing.assert_allclose(grid[0, 0, :, 2], np.linspace(-200.0, 1800.0, 12), atol=1e-9)
    np.testing.assert_array_equal(space.first, [-3550.0, -4320.0, -200.0])
    np.testing.assert_array_equal(space.last, [4450.0, 3680.0, 1800.0])
    np.testing.assert_allclose(space.spacing, [8000 / 39, 8000 / 39, 2000 / 11])
    assert space.num_voxels == 19200


def test_points_order_x_slowest_z_fastest():
    space = VoxelSpace([300.0, 200.0, 100.0], [0.0, 0.0, 0.0], [4, 3, 2])
    pts = space.points()
    assert pts.shape == (24, 3)
    np.testing.assert_array_equal(pts[1] - pts[0], [0.0, 0.0, 100.0])     # z fastest
    np.testing.assert_array_equal(pts[2] - pts[0], [0.0, 100.0, 0.0])     # then y
    np.testing.assert_array_equal(pts[6] - pts[0], [100.0, 0.0, 0.0])     # x slowest
    # a (X, Y, Z) volume flattened in C order lines up with points()
    vol = np.arange(24).reshape(4, 3, 2)
    i, j, k = 2, 1, 1
    np.testing.assert_array_equal(pts[vol[i, j, k]], space.grid()[i, j, k])
    np.testing.assert_array_equal(space.flat_index_to_world(np.array([vol[i, j, k]])),
                                  pts[[vol[i, j, k]]])
    flat_t = torch.tensor([0, 7, 23])
    np.testing.assert_allclose(space.flat_index_to_world(flat_t).numpy(), pts[[0, 7, 23]])


def test_index_world_round_trip_and_reference_formula():
    space = VoxelSpace(**SHELF)
    idx = np.array([[0, 0, 0], [39, 39, 11], [12, 30, 5]], dtype=np.float64)
    world = space.index_to_world(idx)
    np.testing.assert_allclose(world, space.grid()[tuple(idx.astype(int).T)], atol=1e-9)
    # the reference proposal layer: loc = idx / (n − 1) · size + center − size/2
    n, size, center = (np.array(SHELF[k], dtype=np.float64) for k in ('shape', 'size', 'center'))
    np.testing.assert_allclose(world, idx / (n - 1) * size + center - size / 2, atol=1e-9)
    rng = np.random.default_rng(0)
    P = rng.uniform(-5000, 5000, (100, 3))
    np.testing.assert_allclose(space.index_to_world(space.world_to_index(P)), P, atol=1e-9)
    c = space.world_to_index(np.array(SHELF['center']))
    np.testing.assert_allclose(c, (np.array(SHELF['shape']) - 1) / 2)


def test_torch_in_torch_out():
    space = VoxelSpace(**SHELF)
    P = torch.tensor([[450.0, -320.0, 800.0], [-3550.0, -4320.0, -200.0]], dtype=torch.float32)
    idx = space.world_to_index(P)
    assert isinstance(idx, torch.Tensor) and idx.dtype == torch.float32
    np.testing.assert_allclose(idx.numpy(), [[19.5, 19.5, 5.5], [0.0, 0.0, 0.0]], atol=1e-5)
    back = space.index_to_world(idx)
    assert back.dtype == torch.float32
    np.testing.assert_allclose(back.numpy(), P.numpy(), atol=1e-3)
    assert space.contains(P).tolist() == [True, True]
    pts = space.as_tensor(dtype=torch.float64)
    assert pts.shape == (19200, 3) and pts.dtype == torch.float64
    np.testing.assert_array_equal(pts.numpy(), space.points())
    assert space.as_tensor().dtype == torch.float32


def test_contains_closed_box():
    space = VoxelSpace([1000.0, 1000.0, 1000.0], [0.0, 0.0, 500.0], [5, 5, 5])
    P = np.array([[500.0, -500.0, 0.0],       # corner: inside (closed box)
                  [500.1, 0.0, 500.0],        # just outside in x
                  [0.0, 0.0, 1000.0],         # top face
                  [0.0, 0.0, -0.5]])          # below the floor
    np.testing.assert_array_equal(space.contains(P), [True, False, True, False])
    np.testing.assert_array_equal(space.contains(P, atol=1.0), [True, True, True, True])
    np.testing.assert_array_equal(space.contains(torch.as_tensor(P)).numpy(),
                                  [True, False, True, False])


def test_points_at_moving_cubes():
    cube = VoxelSpace([2000.0, 2000.0, 2000.0], [0.0, 0.0, 0.0], [4, 4, 4])
    centers = np.array([[[1000.0, 0.0, 900.0], [-500.0, 200.0, 800.0]]])  # (1, 2, 3)
    pts = cube.points_at(centers)
    assert pts.shape == (1, 2, 64, 3)
    moved = VoxelSpace(cube.size, centers[0, 1], cube.shape).points()
    np.testing.assert_allclose(pts[0, 1], moved, atol=1e-9)
    pts_t = cube.points_at(torch.as_tensor(centers, dtype=torch.float32))
    assert pts_t.dtype == torch.float32
    np.testing.assert_allclose(pts_t.numpy(), pts, atol=1e-3)


def test_equality_key_hash_and_dict():
    a = VoxelSpace(**SHELF)
    b = VoxelSpace(np.array(SHELF['size']), tuple(SHELF['center']), torch.tensor([40, 40, 12]))
    assert a == b and hash(a) == hash(b) and a.key() == b.key()
    assert a != VoxelSpace(SHELF['size'], SHELF['center'], [40, 40, 13])
    assert a != VoxelSpace(SHELF['size'], [450.0, -320.0, 801.0], SHELF['shape'])
    assert VoxelSpace.from_dict(a.to_dict()) == a
    assert {a: 1}[b] == 1
    assert 'shape=[40, 40, 12]' in repr(a)


@pytest.mark.parametrize('kwargs,pattern', [
    (dict(size=[8000, 0, 2000], center=[0, 0, 0], shape=[4, 4, 4]), 'size must be positive'),
    (dict(size=[8000, 8000, 2000], center=[0, 0, 0], shape=[4, 1, 4]), 'at least 2'),
    (dict(size=[8000, 8000], center=[0, 0, 0], shape=[4, 4, 4]), r'size must be 3 numbers'),
    (dict(size=[8000, 8000, 2000], center=[0, 0, np.nan], shape=[4, 4, 4]), 'finite'),
    (dict(size=[8000, 8000, 2000], center=[0, 0, 0], shape=[4, 4.5, 4]), 'whole numbers'),
    (dict(size=[8000, 8000, 2000], center='middle', shape=[4, 4, 4]), 'center must be'),
])
def test_validation_errors(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        VoxelSpace(**kwargs)


def test_from_dict_missing_field():
    with pytest.raises(ValueError, match=r"missing field\(s\) \['center', 'shape'\]"):
        VoxelSpace.from_dict({'size': [1, 1, 1]})


def test_matches_reference_grids(shared_data):
    """The reference grids recorded in the Shelf golden file (root net and one pose cube)."""
    gold = torch.load(shared_data / 'golden' / 'voxelpose' / 'shelf_cpn40_prn32.pt',
                      map_location='cpu', weights_only=True)
    mp = gold['config']['MULTI_PERSON']
    root = VoxelSpace(mp['SPACE_SIZE'], mp['SPACE_CENTER'], mp['INITIAL_CUBE_SIZE'])
    ev = gold['eval']
    np.testing.assert_allclose(np.stack([root.first, root.last]),
                               ev['cpn_grid_first_last'].double().numpy(), atol=1e-3)
    assert root.num_voxels == int(ev['cpn_grid_num_points'])
    ex = ev['prn']['example']
    cube = VoxelSpace([2000.0] * 3, ex['grid_center'][:3].double().numpy(),
                      gold['config']['PICT_STRUCT']['CUBE_SIZE'])
    np.testing.assert_allclose(np.stack([cube.first, cube.last]),
                               ex['grid_first_last'].double().numpy(), atol=1e-3)
