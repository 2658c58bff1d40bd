"""Camera maths on real calibrations: round trips, OpenCV agreement, rays, torch/numpy."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from virtualpose_mm.geometry import (Camera, CameraError, load_panoptic_calibration,
                                     load_shelf_campus_calibration, stack_cameras)

DATA = Path(__file__).resolve().parents[1] / 'data'
PANOPTIC_CALIB = DATA / 'panoptic_body3d' / '160906_band1' / 'calibration_160906_band1.json'


@pytest.fixture(scope='module')
def panoptic() -> Camera:
    """The 5 default Panoptic HD cameras (real distortion), stacked: batch (5,)."""
    return stack_cameras(load_panoptic_calibration(PANOPTIC_CALIB))


@pytest.fixture(scope='module')
def shelf() -> Camera:
    return stack_cameras(load_shelf_campus_calibration(DATA / 'shelf' / 'calibration_shelf.json',
                                                       image_size=(1032, 776)))


def _points_in_view(cam: Camera, n: int, seed: int, max_r: float = 0.6) -> np.ndarray:
    """(n, 3) world points in front of a single camera, normalised radius ≤ max_r."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-max_r / np.sqrt(2), max_r / np.sqrt(2), (n, 2))
    z = rng.uniform(1500.0, 6000.0, (n, 1))
    Xc = np.concatenate([xy * z, z], axis=1)
    return cam.camera_to_world(Xc)


def test_world_camera_round_trip_batched(panoptic):
    X = np.random.default_rng(0).uniform(-3000, 3000, (5, 40, 3))
    Xc = panoptic.world_to_camera(X)
    # the camera frame is a rigid motion: distances are kept
    d_w = np.linalg.norm(X[:, 1:] - X[:, :-1], axis=-1)
    d_c = np.linalg.norm(Xc[:, 1:] - Xc[:, :-1], axis=-1)
    np.testing.assert_allclose(d_c, d_w, rtol=1e-9)
    np.testing.assert_allclose(panoptic.camera_to_world(Xc), X, atol=1e-9)
    # the centre maps to the camera origin
    np.testing.assert_allclose(panoptic.world_to_camera(panoptic.center[:, None, :]),
                               np.zeros((5, 1, 3)), atol=1e-8)


def test_world_camera_round_trip_torch_matches_numpy(panoptic):
    X = np.random.default_rng(1).uniform(-3000, 3000, (5, 30, 3))
    cam_t = panoptic.to_tensor(dtype=torch.float64)
    Xt = torch.as_tensor(X)
    np.testing.assert_allclose(cam_t.world_to_camera(Xt).numpy(), panoptic.world_to_camera(X),
                               atol=1e-9)
    np.testing.assert_allclose(cam_t.camera_to_world(cam_t.world_to_camera(Xt)).numpy(), X,
                               atol=1e-8)
    np.testing.assert_allclose(cam_t.project(Xt).numpy(), panoptic.project(X), atol=1e-8)


def test_round_trip_is_exact_for_approximately_orthonormal_R(shelf):
    """Shelf's R is orthonormal only to ~1e-6: camera_to_world must invert world_to_camera
    exactly (with Rᵀ instead of R⁻¹ the error would be ~6e-3 mm here)."""
    assert np.abs(shelf.R @ np.swapaxes(shelf.R, -1, -2) - np.eye(3)).max() > 1e-7
    X = np.random.default_rng(2).uniform(-4000, 4000, (5, 50, 3))
    np.testing.assert_allclose(shelf.camera_to_world(shelf.world_to_camera(X)), X, atol=1e-8)
    # and the ray of a projected point goes through it
    uv = shelf.project(X)
    o, d = shelf.pixel_to_ray(uv)
    s = ((X - o) * d).sum(-1, keepdims=True)
    front = shelf.depth(X) > 100
    np.testing.assert_allclose((o + s * d)[front], X[front], atol=1e-6)


def test_shelf_center_is_the_stored_T(shelf):
    """Shelf ``T`` is the camera centre; R is orthonormal only to ~1e-6, and ``center``
    still returns T exactly (it inverts R)."""
    import json
    calib = json.load(open(DATA / 'shelf' / 'calibration_shelf.json'))
    T = np.stack([np.asarray(calib[str(i)]['T'], float).reshape(3) for i in range(5)])
    np.testing.assert_allclose(shelf.center, T, atol=1e-9)
    np.testing.assert_allclose(shelf.world_to_camera(T[:, None, :]), 0, atol=1e-9)


@pytest.mark.parametrize('view', range(5))
def test_projection_matches_cv2_projectPoints(panoptic, view):
    cam = panoptic[view]
    X = _points_in_view(cam, 200, seed=view, max_r=0.9)
    rvec, _ = cv2.Rodrigues(cam.R)
    K = np.array([[cam.f[0], 0, cam.c[0]], [0, cam.f[1], cam.c[1]], [0, 0, 1]])
    uv_cv, _ = cv2.projectPoints(X.reshape(-1, 1, 3), rvec, cam.t, K, cam.dist)
    assert np.any(cam.dist != 0)  # the real distortion takes part
    np.testing.assert_allclose(cam.project(X), uv_cv.reshape(-1, 2), atol=1e-6)


def test_undistort_inverts_distort(panoptic):
    rng = np.random.default_rng(3)
    xy = rng.uniform(-0.5, 0.5, (5, 100, 2))
    xy_d = panoptic.distort(xy)
    assert np.abs(xy_d - xy).max() > 1e-2  # distortion is not negligible here
    np.testing.assert_allclose(panoptic.undistort(xy_d), xy, atol=1e-9)


@pytest.mark.parametrize('view', [0, 2])
def test_pixel_to_ray_round_trip_with_distortion(panoptic, view):
    cam = panoptic[view]
    X = _points_in_view(cam, 100, seed=10 + view)
    uv = cam.project(X)
    o, d = cam.pixel_to_ray(uv)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(o, np.broadcast_to(cam.center, o.shape), atol=1e-9)
    # the ray from the projected pixel passes through the world point ...
    s = ((X - o) * d).sum(-1, keepdims=True)
    np.testing.assert_allclose(o + s * d, X, atol=1e-5)
    # ... and any point along it projects back onto the same pixel
    for depth in (800.0, 2500.0, 9000.0):
        P = o + depth * d
        np.testing.assert_allclose(cam.project(P), uv, atol=1e-6)


def test_pixel_to_ray_principal_point_is_optical_axis(panoptic):
    cam = panoptic[1]
    _, d = cam.pixel_to_ray(cam.c[None, :])
    np.testing.assert_allclose(d[0], cam.R[2], atol=1e-12)  # camera z axis in world


def test_depth_and_in_image(shelf):
    X = np.array([[0.0, 0.0, 900.0], [1500.0, -700.0, 100.0]])
    depth = shelf.depth(X[None])  # (5, 2)
    # depth = distance from the camera centre along the optical axis (row 2 of R)
    along_axis = ((X[None] - shelf.center[:, None, :]) * shelf.R[:, None, 2, :]).sum(-1)
    np.testing.assert_allclose(depth, along_axis, rtol=1e-5)
    assert np.all(depth > 1000)  # the Shelf cameras look at the middle of the room
    uv = np.array([[[0.0, 0.0], [1031.9, 775.9], [1032.0, 10.0], [-0.1, 10.0]]])
    np.testing.assert_array_equal(shelf[0].in_image(uv[0]), [True, True, False, False])


def test_camera_to_pixel_min_depth_keeps_points_behind_finite(shelf):
    Xc = np.array([[100.0, 50.0, -10.0], [100.0, 50.0, 0.0]])
    uv = shelf[0].camera_to_pixel(Xc, min_depth=1.0)
    assert np.all(np.isfinite(uv))
    assert not shelf[0].in_image(uv).any()


def test_validate_rejects_bad_cameras():
    good = dict(R=np.eye(3), t=np.zeros(3), f=[1000.0, 1000.0], c=[500.0, 400.0])
    Camera(**good, source='ok.json')
    with pytest.raises(CameraError, match=r"bad\.json.*'R'.*not a rotation"):
        Camera(**{**good, 'R': 2 * np.eye(3)}, source='bad.json')
    with pytest.raises(CameraError, match=r"bad\.json.*'R'.*reflection"):
        Camera(**{**good, 'R': np.diag([1.0, -1.0, 1.0])}, source='bad.json')
    with pytest.raises(CameraError, match=r"bad\.json.*'f'.*positive"):
        Camera(**{**good, 'f': [1000.0, -1.0]}, source='bad.json')
    with pytest.raises(CameraError, match=r"bad\.json.*'t'.*shape"):
        Camera(**{**good, 't': np.zeros(2)}, source='bad.json')


def test_key_and_dict_round_trip(panoptic):
    cam = panoptic[3]
    back = Camera.from_dict(cam.to_dict(), source='dict')
    assert back.key() == cam.key()
    assert panoptic[2].key() != cam.key()
    t32 = cam.to_tensor(dtype=torch.float32)
    assert t32.R.dtype == torch.float32 and t32.image_size.tolist() == [1920.0, 1080.0]
