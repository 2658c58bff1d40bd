"""Dataset camera loaders on the real fixture files, and their error messages."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from scipy.spatial.transform import Rotation

from virtualpose_mm.geometry import (CAMPUS_IMAGE_SIZE, MUCO_AXIS_SWAP, PANOPTIC_AXIS_SWAP,
                                     SHELF_IMAGE_SIZE, Camera, CameraError, camera_from_muco,
                                     camera_from_simple_camera_param, load_cameras,
                                     load_mmpose_demo_cameras, load_mupots_cameras,
                                     load_mupots_extrinsics, load_panoptic_calibration,
                                     load_shelf_campus_calibration, panoptic_joints_to_world,
                                     sniff_camera_format, stack_cameras)

DATA = Path(__file__).resolve().parents[1] / 'data'
PANOPTIC_SEQ = DATA / 'panoptic_body3d' / '160906_band1'
PANOPTIC_CALIB = PANOPTIC_SEQ / 'calibration_160906_band1.json'
SHELF_CALIB = DATA / 'shelf' / 'calibration_shelf.json'
CAMPUS_CALIB = DATA / 'campus' / 'calibration_campus.json'
MUPOTS = DATA / 'mupots' / 'cameras.pkl'


def _bodies(frame: int) -> list:
    path = PANOPTIC_SEQ / 'hdPose3d_stage1_coco19' / f'body3DScene_{frame:08d}.json'
    return json.loads(path.read_text())['bodies']


def _raw_panoptic_camera(name: str) -> dict:
    cams = json.loads(PANOPTIC_CALIB.read_text())['cameras']
    return next(c for c in cams if c['name'] == name)


# ----------------------------------------------------------------------------- Panoptic
def test_panoptic_default_cameras_and_orders():
    cams = load_panoptic_calibration(PANOPTIC_CALIB)
    assert list(cams) == ['00_12', '00_06', '00_23', '00_13', '00_03']
    # the reference walks the calibration file (golden README quirk 5)
    assert list(load_panoptic_calibration(PANOPTIC_CALIB, order='file')) == \
        ['00_03', '00_06', '00_12', '00_13', '00_23']
    by_name = load_panoptic_calibration(PANOPTIC_CALIB, ['00_13', '00_03'])
    assert list(by_name) == ['00_13', '00_03']
    assert by_name['00_13'].key() == cams['00_13'].key()
    with pytest.raises(ValueError, match='order'):
        load_panoptic_calibration(PANOPTIC_CALIB, order='sorted')


def test_panoptic_conversion_values():
    cam = load_panoptic_calibration(PANOPTIC_CALIB, [(0, 6)])['00_06']
    raw = _raw_panoptic_camera('00_06')
    np.testing.assert_array_equal(cam.R, np.asarray(raw['R']) @ PANOPTIC_AXIS_SWAP)
    np.testing.assert_allclose(cam.t, np.asarray(raw['t']).reshape(3) * 10.0)  # cm → mm
    np.testing.assert_array_equal(cam.f, [raw['K'][0][0], raw['K'][1][1]])
    np.testing.assert_array_equal(cam.c, [raw['K'][0][2], raw['K'][1][2]])
    np.testing.assert_array_equal(cam.dist, raw['distCoef'])
    np.testing.assert_array_equal(cam.image_size, [1920, 1080])
    assert np.linalg.det(cam.R) == pytest.approx(1.0, abs=1e-9)
    # z-up world: the HD cameras of the dome hang above the floor the people stand on
    centres = stack_cameras(load_panoptic_calibration(PANOPTIC_CALIB)).center
    assert np.all(centres[:, 2] > 1000) and np.all(centres[:, 2] < 4000)


def test_panoptic_joints_to_world():
    body = _bodies(168)[0]
    joints, conf = panoptic_joints_to_world(body['joints19'])
    raw = np.asarray(body['joints19']).reshape(19, 4)
    assert joints.shape == (19, 3) and conf.shape == (19, )
    # (x, y, z)_new = (x, z, −y)_old · 10
    np.testing.assert_allclose(joints, np.stack([raw[:, 0], raw[:, 2], -raw[:, 1]], 1) * 10)
    np.testing.assert_array_equal(conf, raw[:, 3])
    # z-up: the neck (joint 0) is above the ankles (14 left, 8 right when detected)
    seen = conf > 0.1
    assert joints[0, 2] > joints[seen & (np.arange(19) >= 6)][:, 2].min() + 300
    with pytest.raises(CameraError, match=r"frame\.json.*'joints19'"):
        panoptic_joints_to_world([1.0, 2.0, 3.0], source='frame.json')


def test_panoptic_projection_by_hand():
    """Camera 00_12, body 0 neck of frame 168, projected in Panoptic's native frame (y-down,
    cm) with the pinhole + OpenCV distortion written out; our loader's z-up mm camera and
    z-up mm joint must give the same pixel."""
    raw = _raw_panoptic_camera('00_12')
    X = _bodies(168)[0]['joints19'][0:3]  # x, y, z cm of joint 0
    R, t = raw['R'], [v[0] for v in raw['t']]
    xc = [sum(R[i][j] * X[j] for j in range(3)) + t[i] for i in range(3)]
    x, y = xc[0] / xc[2], xc[1] / xc[2]
    k1, k2, p1, p2, k3 = raw['distCoef']
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    u = raw['K'][0][0] * xd + raw['K'][0][2]
    v = raw['K'][1][1] * yd + raw['K'][1][2]
    assert (u, v) == pytest.approx((544.9089063, 519.4280509), abs=1e-6)

    cam = load_panoptic_calibration(PANOPTIC_CALIB, ['00_12'])['00_12']
    joints, _ = panoptic_joints_to_world(_bodies(168)[0]['joints19'])
    np.testing.assert_allclose(cam.project(joints[:1]), [[u, v]], atol=1e-9)
    assert cam.depth(joints[:1])[0] == pytest.approx(xc[2] * 10, rel=1e-12)


def test_panoptic_joints_project_inside_hd_images():
    cam = stack_cameras(load_panoptic_calibration(PANOPTIC_CALIB))
    joints = []
    for frame in (168, 169):
        for body in _bodies(frame):
            j, conf = panoptic_joints_to_world(body['joints19'])
            joints.append(j[conf > 0.1])
    J = np.concatenate(joints)[None]  # (1, 106, 3)
    assert J.shape[1] > 100
    assert np.all(cam.depth(J) > 1000)  # 1.5–4 m in front of every camera
    uv = cam.project(J)
    inside = cam.in_image(uv)  # (5, N) in 1920 × 1080
    assert np.all(inside.mean(1) > 0.85)  # legs of seated people leave some frames
    assert inside.sum(0).min() >= 3  # every joint is seen by at least 3 of the 5 cameras
    # the few joints outside are just below the frame, not thrown far away
    assert np.all((uv[~inside] > [-50, -50]) & (uv[~inside] < [1970, 1250]))


# ----------------------------------------------------------------------------- Shelf / Campus
def _actor_frames(mat_path: Path):
    """Yield (actor, frame, joints3d (14, 3) m, per-camera joints2d list) from the ragged
    ``actor3D`` / ``actor2D`` cell arrays (empty 1×0 cells for absent actors)."""
    mat = sio.loadmat(str(mat_path))
    a3, a2 = mat['actor3D'].ravel(), mat['actor2D'].ravel()
    for a, (cell3, cell2) in enumerate(zip(a3, a2)):
        for f in range(cell3.shape[0]):
            g3 = np.asarray(cell3[f, 0], dtype=np.float64)
            if g3.size == 0:
                continue
            views = [np.asarray(v, dtype=np.float64) for v in np.asarray(cell2[f, 0]).ravel()]
            yield a, f, g3, views


def test_shelf_loader_values():
    cams = load_shelf_campus_calibration(SHELF_CALIB, image_size=SHELF_IMAGE_SIZE)
    assert list(cams) == ['0', '1', '2', '3', '4']
    raw = json.loads(SHELF_CALIB.read_text())['2']
    cam = cams['2']
    np.testing.assert_array_equal(cam.R, raw['R'])
    np.testing.assert_allclose(cam.center, np.asarray(raw['T']).reshape(3), atol=1e-9)
    np.testing.assert_allclose(cam.t, -np.asarray(raw['R']) @ np.asarray(raw['T']).reshape(3))
    np.testing.assert_array_equal(cam.f, [raw['fx'], raw['fy']])
    np.testing.assert_array_equal(cam.c, [raw['cx'], raw['cy']])
    np.testing.assert_array_equal(cam.image_size, [1032, 776])
    assert load_shelf_campus_calibration(SHELF_CALIB)['0'].image_size is None


def test_shelf_campus_dist_order(tmp_path):
    """k = (k1, k2, k3), p = (p1, p2) → dist (k1, k2, p1, p2, k3)."""
    calib = json.loads(SHELF_CALIB.read_text())
    calib['0']['k'] = [[0.1], [0.2], [0.3]]
    calib['0']['p'] = [[0.01], [0.02]]
    tmp = tmp_path / 'calibration_shelf.json'
    tmp.write_text(json.dumps(calib))
    np.testing.assert_array_equal(load_shelf_campus_calibration(tmp)['0'].dist,
                                  [0.1, 0.2, 0.01, 0.02, 0.3])


@pytest.mark.parametrize('name,calib,size,median_px,max_px', [
    # actor2D was made by projecting actor3D with the Shelf calibration; the json keeps it to
    # 6 decimals (R orthonormal to 1e-6): observed ≤ 0.04 px, a unit/axis/centre mistake
    # moves pixels by ≫ 1 px.
    ('shelf', SHELF_CALIB, SHELF_IMAGE_SIZE, 0.1, 0.1),
    # the voxelpose Campus calibration was re-estimated (fx = 437.9852173913044) and not the
    # one actor2D was drawn with: observed median ≤ 1.1 px, max ≤ 2.7 px on 360 × 288 images.
    ('campus', CAMPUS_CALIB, CAMPUS_IMAGE_SIZE, 1.5, 3.0),
])
def test_actors_gt_projects_onto_actor2d(name, calib, size, median_px, max_px):
    cams = load_shelf_campus_calibration(calib, image_size=size)
    n = 0
    for a, f, g3, views in _actor_frames(DATA / name / 'actorsGT.mat'):
        assert g3.shape == (14, 3) and len(views) == len(cams)
        for cam, g2 in zip(cams.values(), views):
            uv = cam.project(g3 * 1000.0)  # metres → mm
            err = np.linalg.norm(uv - g2, axis=-1)
            assert np.median(err) < median_px, (a, f, err)
            assert err.max() < max_px, (a, f, err)
            n += 1
    assert n == {'shelf': 30, 'campus': 9}[name]  # (actor, frame, camera) triples present


# ----------------------------------------------------------------------------- MuPoTS
def test_mupots_repairs_reflections_and_heights():
    raw = pickle.load(open(MUPOTS, 'rb'))
    extr = load_mupots_extrinsics(MUPOTS)
    assert list(extr) == [f'TS{i}' for i in range(1, 21)]
    dets = np.array([np.linalg.det(np.asarray(r['R'])) for r in raw])
    assert (dets < 0).sum() == 10
    S = np.diag([1.0, -1.0, 1.0])
    for (name, e), r, det in zip(extr.items(), raw, dets):
        R_raw, t = np.asarray(r['R'], float), np.asarray(r['t'], float).reshape(3)
        assert e['repaired'] == (det < 0), name
        assert np.linalg.det(e['R']) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_array_equal(e['t'], t)
        np.testing.assert_array_equal(e['R'], R_raw @ S if det < 0 else R_raw)
        # the repaired camera sees X where the stored one saw X with world y mirrored
        X = np.array([[300.0, -1200.0, 900.0]])
        np.testing.assert_allclose(X @ e['R'].T, (X @ S if det < 0 else X) @ R_raw.T,
                                   atol=1e-9)
    cams = load_mupots_cameras(MUPOTS, intrinsics=(1500.0, 1500.0, 960.0, 540.0),
                               image_size=(1920, 1080))
    heights = np.array([c.center[2] for c in cams.values()])  # mm
    assert heights.min() > 500 and heights.max() < 2900  # 0.5–2.9 m: t is in mm
    assert all(c.image_size.tolist() == [1920, 1080] for c in cams.values())


def test_mupots_per_sequence_intrinsics():
    intr = {f'TS{i}': (1000.0 + i, 1001.0 + i, 900.0, 500.0) for i in range(1, 21)}
    cams = load_mupots_cameras(MUPOTS, intrinsics=intr)
    assert cams['TS7'].f.tolist() == [1007.0, 1008.0]
    del intr['TS20']
    with pytest.raises(CameraError, match=r"cameras\.pkl.*intrinsics.*TS20"):
        load_mupots_cameras(MUPOTS, intrinsics=intr)
    with pytest.raises(CameraError, match='intrinsics'):
        load_cameras(MUPOTS)


# ----------------------------------------------------------------------------- MuCo
def test_camera_from_muco_translation_and_axis_swap():
    R_json = Rotation.from_euler('xyz', [10, -35, 5], degrees=True).as_matrix()
    entry = {'id': 7, 'f': [1500.0, 1490.0], 'c': [1020.0, 1030.0], 'R': R_json.tolist(),
             'T': [120.0, -900.0, 3500.0], 'width': 2048, 'height': 2048}
    cam = camera_from_muco(entry, 'MuCo-3DHP.json: images[0]')
    np.testing.assert_array_equal(cam.image_size, [2048, 2048])
    # T is a translation: X_cam = R·X_old + T for X_old in the y-up MPI-INF-3DHP world,
    # and X_new (z-up) = X_old·M, so the up direction (y_old) becomes z_new.
    X_old = np.array([[250.0, 1700.0, -400.0]])
    X_new = X_old @ MUCO_AXIS_SWAP
    np.testing.assert_allclose(X_new, [[250.0, 400.0, 1700.0]])
    np.testing.assert_allclose(cam.world_to_camera(X_new), X_old @ R_json.T + entry['T'],
                               atol=1e-9)
    # the camera centre is −Rᵀ·T (in the new frame), not T
    np.testing.assert_allclose(cam.center, (-R_json.T @ entry['T']) @ MUCO_AXIS_SWAP,
                               atol=1e-9)
    plain = camera_from_muco(entry, 'x', axis_swap=False)
    np.testing.assert_array_equal(plain.R, R_json)
    with pytest.raises(CameraError, match=r"images\[3\].*'T'.*shape"):
        camera_from_muco({**entry, 'T': [1.0, 2.0]}, 'MuCo-3DHP.json: images[3]')


def test_load_cameras_muco_json(tmp_path):
    R = Rotation.from_euler('y', 30, degrees=True).as_matrix().tolist()
    images = [{'id': i, 'file_name': f'{i}.jpg', 'width': 2048, 'height': 2048,
               'f': [1500.0, 1500.0], 'c': [1024.0, 1024.0], 'R': R, 'T': [0.0, 0.0, i * 100.0]}
              for i in (3, 5)]
    path = tmp_path / 'MuCo-3DHP.json'
    path.write_text(json.dumps({'images': images, 'annotations': []}))
    assert sniff_camera_format(path) == 'muco'
    cams = load_cameras(path)
    assert list(cams) == ['3', '5'] and cams['5'].t.tolist() == [0.0, 0.0, 500.0]


# ----------------------------------------------------------------------------- MMPose 0.x demo
def test_mmpose_demo_panoptic_layout(tmp_path):
    """The 0.x demo's camera_parameters.json is a Panoptic calibration picked by name."""
    calib = json.loads(PANOPTIC_CALIB.read_text())
    calib['cameras'] = [c for c in calib['cameras'] if c['name'] in ('00_06', '00_03', '00_16')]
    path = tmp_path / 'camera_parameters.json'
    path.write_text(json.dumps(calib))
    cams = load_mmpose_demo_cameras(path)
    assert list(cams) == ['00_03', '00_06', '00_16']  # file order
    ref = load_panoptic_calibration(PANOPTIC_CALIB, ['00_16'])['00_16']
    assert cams['00_16'].key() == ref.key()
    assert list(load_cameras(path, names=['00_16', '00_03'])) == ['00_16', '00_03']
    with pytest.raises(CameraError, match=r"camera_parameters\.json.*'cameras'.*00_99"):
        load_mmpose_demo_cameras(path, names=['00_99'])


def test_mmpose_demo_simple_camera_layout(tmp_path):
    """The 0.x ``SimpleCamera`` parameters (R camera→world, T centre, K (2, 3)), built the way
    0.x ``get_panoptic_camera_parameters`` builds them, load back to the same cameras."""
    ours = load_panoptic_calibration(PANOPTIC_CALIB, ['00_12', '00_23'])
    params = {}
    for name, c in ours.items():
        params[name] = {'R': c.R.T.tolist(), 'T': c.center.reshape(3, 1).tolist(),
                        'K': [[c.f[0], 0.0, c.c[0]], [0.0, c.f[1], c.c[1]]],
                        'k': [c.dist[0], c.dist[1], c.dist[4]], 'p': [c.dist[2], c.dist[3]]}
    path = tmp_path / 'camera_parameters.json'
    path.write_text(json.dumps(params))
    assert sniff_camera_format(path) == 'mmpose_simple_camera'
    back = load_cameras(path)
    for name, c in ours.items():
        np.testing.assert_allclose(back[name].R, c.R, atol=1e-12)
        np.testing.assert_allclose(back[name].t, c.t, atol=1e-7)
        np.testing.assert_array_equal(back[name].dist, c.dist)
    # the list layout with f, c, w, h
    lst = {'cameras': [{'name': 'cam0', 'R': np.eye(3).tolist(), 'T': [[0.0], [0.0], [-3000.0]],
                        'f': [[1000.0], [1000.0]], 'c': [[500.0], [400.0]], 'w': 1000, 'h': 800}]}
    path2 = tmp_path / 'cams_list.json'
    path2.write_text(json.dumps(lst))
    cam = load_mmpose_demo_cameras(path2)['cam0']
    np.testing.assert_allclose(cam.t, [0.0, 0.0, 3000.0])
    np.testing.assert_array_equal(cam.image_size, [1000, 800])
    with pytest.raises(CameraError, match=r"demo.*'k'.*rational"):
        camera_from_simple_camera_param({**params['00_12'], 'k': [0.1, 0, 0, 0.2, 0, 0]}, 'demo')


# ----------------------------------------------------------------------------- dispatch
def test_load_cameras_sniffs_each_format():
    assert sniff_camera_format(PANOPTIC_CALIB) == 'panoptic'
    assert sniff_camera_format(SHELF_CALIB) == 'shelf_campus'
    assert sniff_camera_format(CAMPUS_CALIB) == 'shelf_campus'
    assert sniff_camera_format(MUPOTS) == 'mupots'
    assert list(load_cameras(PANOPTIC_CALIB, order='file'))[0] == '00_03'
    assert list(load_cameras(CAMPUS_CALIB, image_size=CAMPUS_IMAGE_SIZE)) == ['0', '1', '2']
    assert len(load_cameras(MUPOTS, intrinsics=(1.0e3, 1.0e3, 5.0e2, 5.0e2))) == 20


# ----------------------------------------------------------------------------- bad files
def _write(tmp_path, name, obj) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def _shelf(**changes) -> dict:
    calib = json.loads(SHELF_CALIB.read_text())
    for key, value in changes.items():
        if value is None:
            del calib['1'][key]
        else:
            calib['1'][key] = value
    return calib


@pytest.mark.parametrize('change,pattern', [
    ({'fx': None}, r"missing field 'fx'"),
    ({'R': [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]}, r"'R' has shape \(2, 3\)"),
    ({'fy': 'abc'}, r"'fy' is not numeric"),
    ({'R': (2 * np.eye(3)).tolist()}, r"'R' is not a rotation"),
    ({'T': [[1.0], [2.0], [float('nan')]]}, r"'T' contains NaN"),
    ({'k': [[0.0], [0.0]]}, r"'k' has shape \(2, 1\)"),
])
def test_shelf_bad_fields(tmp_path, change, pattern):
    path = _write(tmp_path, 'calibration_bad.json', _shelf(**change))
    with pytest.raises(CameraError, match=r"calibration_bad\.json: camera '1'.*" + pattern):
        load_shelf_campus_calibration(path)


def test_shelf_bad_camera_id(tmp_path):
    calib = _shelf()
    calib['left'] = calib.pop('1')
    with pytest.raises(CameraError, match=r"calibration_bad\.json.*'left'.*camera id"):
        load_shelf_campus_calibration(_write(tmp_path, 'calibration_bad.json', calib))


def _panoptic(tmp_path, name='00_12', **changes) -> Path:
    calib = json.loads(PANOPTIC_CALIB.read_text())
    entry = next(c for c in calib['cameras'] if c['name'] == name)
    for key, value in changes.items():
        if value is None:
            del entry[key]
        else:
            entry[key] = value
    return _write(tmp_path, 'calibration_bad.json', calib)


@pytest.mark.parametrize('change,pattern', [
    ({'K': None}, r"missing field 'K'"),
    ({'distCoef': [0.1, 0.2]}, r"'distCoef' has shape \(2,\)"),
    ({'t': [['a'], ['b'], ['c']]}, r"'t' is not numeric"),
    ({'R': np.diag([1.0, -1.0, 1.0]).tolist()}, r"'R' has determinant"),
    ({'K': [[1400.0, 3.0, 960.0], [0.0, 1400.0, 540.0], [0.0, 0.0, 1.0]]}, r"'K' has a skew"),
    ({'resolution': None}, r"missing field 'resolution'"),
])
def test_panoptic_bad_fields(tmp_path, change, pattern):
    path = _panoptic(tmp_path, **change)
    with pytest.raises(CameraError,
                       match=r"calibration_bad\.json: cameras\[\d+\] \(00_12\).*" + pattern):
        load_panoptic_calibration(path)
    # a camera that was not asked for is not read
    load_panoptic_calibration(path, [(0, 3)])


def test_panoptic_unknown_or_missing_cameras(tmp_path):
    with pytest.raises(CameraError, match=r"calibration_160906_band1\.json.*'cameras'.*0, 99"):
        load_panoptic_calibration(PANOPTIC_CALIB, [(0, 12), (0, 99)])
    with pytest.raises(CameraError, match=r'requested twice'):
        load_panoptic_calibration(PANOPTIC_CALIB, [(0, 12), (0, 12)])
    with pytest.raises(CameraError, match=r'name one camera twice'):
        load_panoptic_calibration(PANOPTIC_CALIB, [(0, 12), '00_12'])
    with pytest.raises(CameraError, match=r"nocams\.json.*missing field 'cameras'"):
        load_panoptic_calibration(_write(tmp_path, 'nocams.json', {'calibDataSource': 'x'}))


def test_mupots_bad_files(tmp_path):
    raw = pickle.load(open(MUPOTS, 'rb'))
    bad = [dict(r) for r in raw]
    bad[4] = {'R': np.asarray(raw[4]['R']) * 3.0, 't': raw[4]['t']}
    path = tmp_path / 'cameras.pkl'
    path.write_bytes(pickle.dumps(bad))
    with pytest.raises(CameraError, match=r"cameras\.pkl: camera \[4\] \(TS5\).*'R'.*rotation"):
        load_mupots_extrinsics(path)
    bad[4] = {'R': raw[4]['R']}
    path.write_bytes(pickle.dumps(bad))
    with pytest.raises(CameraError, match=r"cameras\.pkl: camera \[4\] \(TS5\).*missing field 't'"):
        load_mupots_extrinsics(path)


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(CameraError, match=r'nothere\.json: camera file not found'):
        load_cameras(tmp_path / 'nothere.json')
    garbage = tmp_path / 'garbage.json'
    garbage.write_text('{"cameras": [')
    with pytest.raises(CameraError, match=r'garbage\.json: not a valid JSON'):
        load_cameras(garbage)
    with pytest.raises(CameraError, match=r"other\.json: unrecognised camera file format.*'foo'"):
        load_cameras(_write(tmp_path, 'other.json', {'foo': 1}))


def test_loaded_cameras_are_valid_package_cameras():
    for cams in (load_panoptic_calibration(PANOPTIC_CALIB),
                 load_shelf_campus_calibration(SHELF_CALIB, image_size=SHELF_IMAGE_SIZE),
                 load_mupots_cameras(MUPOTS, intrinsics=(1e3, 1e3, 960.0, 540.0))):
        for name, cam in cams.items():
            assert isinstance(cam, Camera) and cam.batch_shape == ()
            assert name in cam.source
            cam.validate()
