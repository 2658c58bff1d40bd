"""tools/analysis/virtualpose_miss_report.py: the per-person geometry of a miss (depth along
the ray, distance across it, joints in the image, the nearest other root in heatmap px),
the categories and their order, and the tool end to end on the embedded checkpoint."""
import json
import os.path as osp

import numpy as np
import pytest

from tests.helpers import REPO_ROOT, load_script
from virtualpose_mm.geometry.camera import Camera

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis', 'virtualpose_miss_report.py')


@pytest.fixture(scope='module')
def tool():
    return load_script(TOOL, 'miss_report')


def _camera():
    """At the origin looking along +z (x right, y down), f = 1000 px, 1000 × 1000 px."""
    return Camera(np.eye(3), np.zeros(3), (1000.0, 1000.0), (500.0, 500.0),
                  image_size=(1000, 1000))


def _person(root, spread=300.0):
    """(3, 3) joints: the root, one above it, one to its right (world = camera frame)."""
    root = np.asarray(root, np.float64)
    return np.stack([root, root + (0, -spread, 0), root + (spread, 0, 0)])


def test_person_rows_geometry(tool):
    cam = _camera()
    a = _person((0.0, 0.0, 5000.0))
    b = _person((16.0, 0.0, 8000.0))          # its root 2 image px right of a's
    c = _person((2600.0, 0.0, 5000.0))        # all of its joints outside the image
    gts = np.stack([a, b, c])
    to_hm = np.array([[0.25, 0.0, 0.0], [0.0, 0.25, 0.0]])   # image px -> heatmap px
    # predictions: a slid along its ray to 1.2× its depth; c moved 100 mm across its ray
    pred_a = a * 1.2
    pred_c = c + (0.0, 100.0, 0.0)
    rows = tool.person_rows(np.stack([pred_a, pred_c]), gts, cam, (1000, 1000), to_hm, 0)
    assert len(rows) == 3
    ra, rb, rc = rows
    # a: depth +20 %, on its ray, root-relative error = its joints' offsets scaled by 1.2
    assert ra['depth_rel'] == pytest.approx(0.2, abs=1e-12)
    assert ra['lateral_mm'] == pytest.approx(0.0, abs=1e-9)
    assert ra['rel_mm'] == pytest.approx((0 + 60 + 60) / 3, abs=1e-9)
    assert ra['abs_mm'] == pytest.approx(np.linalg.norm(pred_a - a, axis=-1).mean())
    assert ra['root_mm'] == pytest.approx(1000.0)           # 0.2 × its 5000 mm depth
    assert ra['depth_mm'] == 5000.0 and ra['in_image'] == 1.0
    # a and b: roots 2 image px = 0.5 heatmap px apart
    assert ra['near_px'] == pytest.approx(0.5) and rb['near_px'] == pytest.approx(0.5)
    # c: 100 mm across the ray at the same depth; joints at u = 1020, 1020, 1080 (all out)
    assert rc['depth_rel'] == pytest.approx(0.0, abs=1e-12)
    assert rc['lateral_mm'] == pytest.approx(100.0) and rc['root_mm'] == pytest.approx(100.0)
    assert rc['in_image'] == pytest.approx(0.0)
    c_in = _person((2200.0, 0.0, 5000.0))     # u = 940, 940, 1000 (the last one out)
    # the root-relative error split by where the GT joints project: c_in's third joint
    # (outside) predicted 50 mm off, its second (inside) 30 mm off, the root exact
    pred = c_in + np.array([[0.0, 0.0, 0.0], [30.0, 0.0, 0.0], [0.0, 0.0, 50.0]])
    r = tool.person_rows(pred[None], c_in[None], cam, (1000, 1000), to_hm, 0)[0]
    assert (r['joints'], r['joints_out']) == (3, 1)
    assert r['rel_out_mm'] == pytest.approx(50.0) and r['rel_in_mm'] == pytest.approx(30.0)
    assert r['rel_mm'] == pytest.approx(80.0 / 3)
    assert ra['joints_out'] == 0 and ra['rel_out_mm'] == 0.0
    assert ra['rel_in_mm'] == pytest.approx(3 * ra['rel_mm'])
    assert rc['joints_out'] == 3 and rc['rel_in_mm'] == 0.0
    rows = tool.person_rows(np.zeros((0, 3, 3)), np.stack([c_in]), cam, (1000, 1000), to_hm, 0)
    assert rows[0]['in_image'] == pytest.approx(2 / 3)
    assert (rows[0]['joints'], rows[0]['joints_out']) == (3, 1)
    assert np.isnan(rows[0]['rel_out_mm']) and np.isnan(rows[0]['rel_in_mm'])
    assert rows[0]['near_px'] == float('inf') and rows[0]['abs_mm'] == float('inf')
    assert rows[0]['root_mm'] == float('inf')
    assert not rows[0]['has_prediction']


def test_categories_and_their_order(tool):
    base = dict(has_prediction=True, near_px=10.0, in_image=1.0, depth_rel=0.05,
                lateral_mm=50.0, joints=3, joints_out=0, rel_out_mm=0.0, rel_in_mm=90.0)
    assert tool.classify(base) == 'other'
    assert tool.classify({**base, 'depth_rel': -0.15}) == 'depth'
    assert tool.classify({**base, 'depth_rel': 0.15, 'lateral_mm': 400.0}) == 'other'
    assert tool.classify({**base, 'in_image': 0.5, 'depth_rel': 0.3}) == 'truncated'
    assert tool.classify({**base, 'near_px': 2.0, 'in_image': 0.5}) == 'coincident'
    assert tool.classify({**base, 'has_prediction': False, 'near_px': 1.0}) == 'no prediction'
    # the thresholds are the arguments
    assert tool.classify({**base, 'depth_rel': 0.15}, depth_rel=0.2) == 'other'
    assert tool.classify({**base, 'near_px': 4.0}, near_px=5.0) == 'coincident'
    rows = [dict(base, abs_mm=100.0), dict(base, abs_mm=600.0, depth_rel=0.3),
            dict(base, abs_mm=900.0, near_px=1.0), dict(base, abs_mm=200.0, near_px=1.0),
            dict(base, abs_mm=float('inf'), has_prediction=False)]
    s = tool.summarize(rows)
    assert (s['people'], s['found'], s['missed']) == (5, 2, 3)
    assert s['categories'] == {'no prediction': 1, 'coincident': 1, 'truncated': 0,
                               'depth': 1, 'other': 0}
    assert s['found_coincident'] == 1 and s['found_truncated'] == 0
    assert s['found_joints_out'] == 0 and s['rel_share_joints_out'] == 0.0
    assert np.isnan(s['rel_mm_out']) and s['rel_mm_in'] == pytest.approx(30.0)
    # two found people, one with a joint outside the image: 120 mm of its summed error on
    # that joint and 60 on its two others; the other 90 mm on its three
    rows = [dict(base, abs_mm=100.0),
            dict(base, abs_mm=200.0, in_image=2 / 3, joints_out=1, rel_out_mm=120.0,
                 rel_in_mm=60.0),
            dict(base, abs_mm=700.0, joints_out=3, rel_out_mm=900.0, rel_in_mm=0.0)]
    s = tool.summarize(rows)
    assert s['found'] == 2 and s['found_joints_out'] == 1
    assert s['rel_share_joints_out'] == pytest.approx(180.0 / 270.0)
    assert s['rel_mm_out'] == pytest.approx(120.0)
    assert s['rel_mm_in'] == pytest.approx(150.0 / 5)


@pytest.mark.timeout(600)
def test_the_tool_on_the_embedded_checkpoint(tool, tmp_path, capsys):
    cfg = osp.join(REPO_ROOT, 'configs', 'virtualpose',
                   'virtualpose_virtualcam-viewcube-lift-peaks_cpu.py')
    ckpt = osp.join(REPO_ROOT, 'checkpoints', 'virtualpose_virtualcam-viewcube-lift-peaks_cpu.pth')
    out = tmp_path / 'misses.json'
    summary = tool.main([cfg, ckpt, '--frames', '6', '--out', str(out)])
    data = json.loads(out.read_text())
    rows = data['rows']
    # the 6 tuning frames hold 22 people (tests/test_models/test_virtualpose_checkpoints.py)
    assert summary['people'] == len(rows) == 22
    found = [r for r in rows if r['abs_mm'] is not None and r['abs_mm'] < 500]
    assert summary['found'] == len(found) and summary['found'] + summary['missed'] == 22
    assert sum(summary['categories'].values()) == summary['missed']
    assert sorted({r['frame'] for r in rows}) == list(range(6))
    # people the checkpoint finds are mostly on their ray at about their depth
    assert np.median([abs(r['depth_rel']) for r in found]) < 0.1
    assert np.median([r['lateral_mm'] for r in found]) < 150
    printed = capsys.readouterr().out
    assert f"people 22, found {summary['found']}" in printed
    # the error split adds up to the found people's root-relative errors
    n_out = sum(r['joints_out'] for r in found)
    total = sum(r['rel_mm'] * r['joints'] for r in found)
    assert summary['rel_mm_out'] * n_out + summary['rel_mm_in'] * (
        sum(r['joints'] for r in found) - n_out) == pytest.approx(total)
    assert 0.0 <= summary['rel_share_joints_out'] <= 1.0
    assert f"joint outside the image: {summary['found_joints_out']} of" in printed
    # another model type is refused by name
    image_cfg = osp.join(REPO_ROOT, 'configs', 'virtualpose', 'virtualpose_image_tiny_cpu.py')
    with pytest.raises(ValueError, match='VirtualPoseImageEstimator; this tool runs'):
        tool.main([image_cfg, ckpt, '--frames', '1'])
    tiny_cfg = osp.join(REPO_ROOT, 'configs', 'virtualpose', 'virtualpose_tiny_cpu.py')
    with pytest.raises(ValueError, match='virtualpose_tiny_cpu.py: the config has no '
                       'test_dataloader'):
        tool.main([tiny_cfg, ckpt, '--frames', '1'])
