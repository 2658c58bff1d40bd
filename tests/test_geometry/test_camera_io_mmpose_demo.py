"""The MMPose-0.x multi-view demo ``camera_parameters.json`` through ``load_cameras``.

Provenance of the layout: open-mmlab/mmpose 0.x ``tests/data/panoptic_body3d/demo/
camera_parameters.json`` (the file of ``demo/body3d_multiview_detect_and_regress_img_demo.py``
and ``demo/docs/3d_multiview_human_pose_demo.md``, "we only support CMU Panoptic data
format") is a CMU Panoptic calibration: ``{"calibDataSource": "160422_calib_tent13_norm",
"cameras": [...]}`` holding the 31 HD cameras 00_00..00_30, each entry with the keys in the
order ``name, type, resolution, K, distCoef, R, t, panel, node`` (``json.dump(indent=1)``).
Its demo images are the folders 00_03, 00_06, 00_12, 00_13 and 00_23. The same docs tell
users to write their own file as ``{"cameras": [{"name": <image folder>, ...}]}``; the 0.x
code (``get_panoptic_camera_parameters``) reads only ``name``, ``K``, ``distCoef``, ``R`` and
``t`` of an entry.

The files here are built from the real Panoptic calibration of the test data (the 31 HD
entries of ``calibration_160906_band1.json``, values unchanged) laid out like that file.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from virtualpose_mm.geometry import (CameraError, load_cameras, load_mmpose_demo_cameras,
                                     load_panoptic_calibration, sniff_camera_format)
from virtualpose_mm.geometry.camera_io import (PANOPTIC_DEFAULT_CAMERAS,
                                               camera_from_simple_camera_param,
                                               panoptic_joints_to_world)

DATA = Path(__file__).resolve().parents[1] / 'data' / 'panoptic_body3d' / '160906_band1'
CALIB = DATA / 'calibration_160906_band1.json'
SCENE = DATA / 'hdPose3d_stage1_coco19' / 'body3DScene_00000168.json'
DEMO_FOLDERS = ['00_03', '00_06', '00_12', '00_13', '00_23']  # the 0.x demo image folders
KEY_ORDER = ('name', 'type', 'resolution', 'K', 'distCoef', 'R', 't', 'panel', 'node')


def _hd_entries():
    calib = json.loads(CALIB.read_text())
    return calib['calibDataSource'], [c for c in calib['cameras'] if c['type'] == 'hd']


def _write_0x_demo_file(path: Path) -> Path:
    source, hd = _hd_entries()
    assert [c['name'] for c in hd] == [f'00_{i:02d}' for i in range(31)]
    out = {'calibDataSource': source,
           'cameras': [{k: c[k] for k in KEY_ORDER} for c in hd]}
    path.write_text(json.dumps(out, indent=1))
    return path


def _world_points():
    """Real Panoptic body joints (cm, y down) → world mm z-up, plus the raw cm points."""
    bodies = json.loads(SCENE.read_text())['bodies']
    raw = np.concatenate([np.asarray(b['joints19'], float).reshape(-1, 4)[:, :3]
                          for b in bodies])
    world = np.concatenate([panoptic_joints_to_world(b['joints19'])[0] for b in bodies])
    return world, raw


def _panoptic_toolbox_project(entry, X_cm):
    """The CMU Panoptic toolbox projection on the native calibration (y down, cm)."""
    R, t = np.asarray(entry['R'], float), np.asarray(entry['t'], float).reshape(3, 1)
    K, d = np.asarray(entry['K'], float), np.asarray(entry['distCoef'], float)
    x = R @ X_cm.T + t
    x = x[:2] / x[2]
    r = (x ** 2).sum(0)
    radial = 1 + d[0] * r + d[1] * r ** 2 + d[4] * r ** 3
    xd = x[0] * radial + 2 * d[2] * x[0] * x[1] + d[3] * (r + 2 * x[0] ** 2)
    yd = x[1] * radial + d[2] * (r + 2 * x[1] ** 2) + 2 * d[3] * x[0] * x[1]
    return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], -1)


def _mmpose0x_simple_camera(entry):
    """What 0.x ``get_panoptic_camera_parameters`` makes of one entry (then fed to its
    ``SimpleCamera``): R camera→world, T the centre in mm, K (2, 3), k, p."""
    M = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    R_w2c = np.array(entry['R']).dot(M)
    T_w2c = np.array(entry['t']).reshape((3, 1)) * 10.0
    d = entry['distCoef']
    return {'R': R_w2c.T, 'T': -R_w2c.T @ T_w2c, 'K': entry['K'][:2],
            'k': [d[0], d[1], d[4]], 'p': [d[2], d[3]]}


def test_real_layout_0x_demo_file_loads_its_demo_cameras(tmp_path):
    path = _write_0x_demo_file(tmp_path / 'camera_parameters.json')
    # a Panoptic calibration: no content tells it from a dataset calibration, none needs to
    assert sniff_camera_format(path) == 'panoptic'
    cams = load_cameras(path)  # no kwargs
    assert sorted(cams) == DEMO_FOLDERS
    assert list(cams) == [f'{p:02d}_{n:02d}' for p, n in PANOPTIC_DEFAULT_CAMERAS]
    # by name, as the demo picks its folders (sorted), and every camera in file order
    assert list(load_cameras(path, names=DEMO_FOLDERS)) == DEMO_FOLDERS
    assert list(load_mmpose_demo_cameras(path)) == [f'00_{i:02d}' for i in range(31)]

    world, raw_cm = _world_points()
    entries = {c['name']: c for c in _hd_entries()[1]}
    demo = load_mmpose_demo_cameras(path, names=DEMO_FOLDERS)
    dataset = load_panoptic_calibration(CALIB, cameras=DEMO_FOLDERS)
    for name in DEMO_FOLDERS:
        toolbox = _panoptic_toolbox_project(entries[name], raw_cm)
        simple = camera_from_simple_camera_param(_mmpose0x_simple_camera(entries[name]), name)
        for cam in (cams[name], demo[name], dataset[name], simple):
            uv = np.asarray(cam.project(world))
            np.testing.assert_allclose(uv, toolbox, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(cams[name].image_size, [1920, 1080])


def test_0x_demo_file_named_after_image_folders(tmp_path):
    """The layout the 0.x docs ask users for: cameras named after their image folders and
    only the fields 0.x reads. Sniffed as ``'mmpose_demo'``: every camera, file order."""
    _, hd = _hd_entries()
    entries = {c['name']: c for c in hd}
    picked = {'camera0': '00_23', 'camera1': '00_03', 'camera2': '00_12'}
    doc = {'cameras': [dict(name=new, **{k: entries[old][k] for k in ('K', 'distCoef', 'R', 't')})
                       for new, old in picked.items()]}
    path = tmp_path / 'camera_parameters.json'
    path.write_text(json.dumps(doc, indent=1))
    assert sniff_camera_format(path) == 'mmpose_demo'
    cams = load_cameras(path)
    assert list(cams) == ['camera0', 'camera1', 'camera2']
    world, raw_cm = _world_points()
    for new, old in picked.items():
        np.testing.assert_allclose(np.asarray(cams[new].project(world)),
                                   _panoptic_toolbox_project(entries[old], raw_cm), atol=1e-6)
        assert cams[new].image_size is None  # no 'resolution' in this layout
    assert list(load_cameras(path, names=['camera2', 'camera0'])) == ['camera2', 'camera0']
    assert list(load_cameras(path, cameras=['camera1'])) == ['camera1']
    with pytest.raises(CameraError, match=r"camera_parameters\.json.*camera9"):
        load_cameras(path, names=['camera9'])
    # panel/node present but the name is a folder name, not Panoptic's: still the demo layout
    doc['cameras'][0].update(panel=0, node=23)
    path.write_text(json.dumps(doc))
    assert sniff_camera_format(path) == 'mmpose_demo'


def test_panoptic_file_without_the_default_cameras_says_how_to_pick(tmp_path):
    _, hd = _hd_entries()
    path = tmp_path / 'camera_parameters.json'
    path.write_text(json.dumps({'cameras': [c for c in hd if c['name'] in ('00_01', '00_02')]}))
    assert sniff_camera_format(path) == 'panoptic'
    with pytest.raises(CameraError, match=r"camera_parameters\.json: field 'cameras' has no "
                                          r"camera .*00_01.*pass cameras=\[\.\.\.\]"):
        load_cameras(path)
    assert list(load_cameras(path, cameras=['00_02'])) == ['00_02']
