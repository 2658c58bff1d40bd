"""Virtual and fixed cameras of VirtualPose's virtual training scenes."""
import json
import shutil

import numpy as np
import pytest

from virtualpose_mm.datasets.datasets.virtual.virtual_cameras import (FixedCameraSampler,
                                                                      VirtualCameraSampler,
                                                                      build_camera_sampler,
                                                                      camera_geometry,
                                                                      look_rotation)
from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.geometry.camera_io import load_mupots_extrinsics

RANGES = dict(height_range=(800.0, 2500.0), distance_range=(3000.0, 5000.0),
              azimuth_range=(-90.0, 45.0), yaw_range=(-10.0, 20.0), pitch_range=(5.0, 25.0),
              roll_range=(-4.0, 3.0), focal_range=(1000.0, 1600.0),
              focal_aspect_range=(0.98, 1.02), principal_offset_range=(-0.05, 0.05),
              image_sizes=((2048, 2048), (1920, 1080)), scene_center=(300.0, -200.0))


def test_look_rotation_is_a_proper_rotation_with_the_opencv_axes():
    R = look_rotation(90.0, 0.0, 0.0)       # looking along world +y, level
    np.testing.assert_allclose(R, [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)
    R = look_rotation([10.0, -170.0], [30.0, 60.0], [5.0, -7.0])
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2),
                               np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    # pitched 30° down: the optical axis points down by 30°
    assert R[0, 2, 2] == pytest.approx(-np.sin(np.deg2rad(30)))


def test_sampled_cameras_lie_in_the_configured_ranges():
    sampler = VirtualCameraSampler(**RANGES)
    rng = np.random.default_rng(0)
    seen_sizes = set()
    for _ in range(200):
        cam, p = sampler.sample(rng)
        g = camera_geometry(cam, scene_center=RANGES['scene_center'])
        # the measured geometry is what the sampler says it drew ...
        for k in ('height', 'distance', 'azimuth', 'yaw', 'pitch', 'roll', 'fx', 'fy'):
            assert g[k] == pytest.approx(p[k], abs=1e-6), k
        # ... and lies in the configured ranges
        for k in ('height', 'distance', 'azimuth', 'yaw', 'pitch', 'roll'):
            lo, hi = RANGES[f'{k}_range']
            assert lo - 1e-9 <= g[k] <= hi + 1e-9, (k, g[k])
        assert 1000 <= g['fx'] <= 1600 and 0.98 <= g['fy'] / g['fx'] <= 1.02
        w, h = cam.image_size
        seen_sizes.add((w, h))
        assert abs(cam.c[0] - w / 2) <= 0.05 * w + 1e-9
        assert abs(cam.c[1] - h / 2) <= 0.05 * h + 1e-9
        cam.validate()   # a proper rotation, positive focal lengths
    assert seen_sizes == {(2048.0, 2048.0), (1920.0, 1080.0)}


def test_camera_looks_at_the_scene_centre_with_zero_yaw_and_pitch():
    sampler = VirtualCameraSampler(height_range=(1500, 1500), pitch_range=(0, 0),
                                   yaw_range=(0, 0), roll_range=(0, 0),
                                   principal_offset_range=(0, 0), scene_center=(300, -200))
    cam, _ = sampler.sample(np.random.default_rng(3))
    target = np.array([[300.0, -200.0, 1500.0]])    # the scene centre at the camera height
    uv = cam.project(target)[0]
    np.testing.assert_allclose(uv, cam.c, atol=1e-6)


def test_sampler_is_deterministic_under_a_seed():
    s = VirtualCameraSampler()
    a = [s.sample(np.random.default_rng([5, i]))[0] for i in range(3)]
    b = [s.sample(np.random.default_rng([5, i]))[0] for i in range(3)]
    c = s.sample(np.random.default_rng([6, 0]))[0]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.R, y.R)
        np.testing.assert_array_equal(x.t, y.t)
        np.testing.assert_array_equal(x.f, y.f)
    assert not np.allclose(a[0].t, c.t)


def test_default_ranges_cover_the_mupots_rigs(test_data):
    """The documented justification: every MuPoTS camera lies inside the default ranges."""
    s = VirtualCameraSampler()
    for name, e in load_mupots_extrinsics(test_data / 'mupots' / 'cameras.pkl').items():
        g = camera_geometry(Camera(e['R'], e['t'].reshape(3), [1500, 1500], [1024, 1024]))
        assert s.height_range[0] <= g['height'] <= s.height_range[1], name
        assert s.distance_range[0] <= g['distance'] <= s.distance_range[1], name
        assert s.pitch_range[0] <= g['pitch'] <= s.pitch_range[1], name
        assert s.roll_range[0] <= g['roll'] <= s.roll_range[1], name
        assert s.yaw_range[0] <= g['yaw'] <= s.yaw_range[1], name


def test_bad_ranges_are_refused():
    with pytest.raises(ValueError, match='pitch_range'):
        VirtualCameraSampler(pitch_range=(10, 95))
    with pytest.raises(ValueError, match='height_range'):
        VirtualCameraSampler(height_range=(2000, 1000))
    with pytest.raises(ValueError, match='image_sizes'):
        VirtualCameraSampler(image_sizes=((1920, ), ))
    with pytest.raises(ValueError, match='unknown camera sampler'):
        build_camera_sampler(dict(type='Nope'))


def test_fixed_camera_from_explicit_params():
    cam = dict(R=look_rotation(0, 10, 0), t=[0, 0, 4000], f=[1400, 1400], c=[960, 540],
               image_size=[1920, 1080])
    s = build_camera_sampler(dict(type='FixedCameraSampler', calibration=cam))
    got, params = s.sample(np.random.default_rng(0))
    np.testing.assert_allclose(got.R, cam['R'])
    np.testing.assert_allclose(got.t, cam['t'])
    assert params == dict(name='0', index=0)


def test_fixed_camera_from_a_panoptic_calibration_by_name(test_data, tmp_path):
    src = test_data / 'panoptic_body3d' / '160906_band1' / 'calibration_160906_band1.json'
    calib = tmp_path / 'calib.json'
    shutil.copy(src, calib)
    s = FixedCameraSampler(str(calib), cameras=['00_03', '00_23'], choice='cycle')
    names = [s.sample(np.random.default_rng(0), index=i)[1]['name'] for i in range(4)]
    assert names == ['00_03', '00_23', '00_03', '00_23']
    cam = s.sample(None, index=1)[0]
    raw = next(c for c in json.load(open(src))['cameras'] if c['name'] == '00_23')
    np.testing.assert_allclose(cam.f, [raw['K'][0][0], raw['K'][1][1]])
    np.testing.assert_allclose(cam.image_size, raw['resolution'])
    s = FixedCameraSampler(str(calib), cameras=['00_03', '00_23'], choice='random')
    rnd = {s.sample(np.random.default_rng([1, i]))[1]['name'] for i in range(20)}
    assert rnd == {'00_03', '00_23'}
    with pytest.raises(Exception, match='99_99'):
        FixedCameraSampler(str(calib), cameras='99_99')
