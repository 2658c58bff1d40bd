"""demo/body3d_monocular_img_demo.py end to end: one real Shelf camera at a time from the
published 2D detections, the tiny VirtualPose config with a saved checkpoint; JSON content,
pictures, cameras with and without extrinsics, clear errors."""
import json
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
import torch

from tests.helpers import REPO_ROOT, load_script

DEMO = osp.join(REPO_ROOT, 'demo', 'body3d_monocular_img_demo.py')
CFG = osp.join(REPO_ROOT, 'configs/virtualpose/virtualpose_tiny_cpu.py')
SHELF = osp.join(REPO_ROOT, 'data/demo/shelf')
CALIB = osp.join(SHELF, 'calibration_shelf.json')
DETS = osp.join(SHELF, 'pred_shelf_maskrcnn_hrnet_coco.pkl')


@pytest.fixture(scope='module')
def demo():
    return load_script(DEMO, 'mono_demo')


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """The tiny config, random weights made to detect (positive depths, root volume above
    the threshold), saved as a checkpoint."""
    from virtualpose_mm.apis import init_model
    torch.manual_seed(0)
    model = init_model(CFG)
    with torch.no_grad():
        model.root_net.depth_net.depth[2].bias.fill_(8.0)
        model.root_net.v2v_net.output_layer.bias.add_(1.0)
    path = str(tmp_path_factory.mktemp('ckpt') / 'vp_tiny.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def _args(ckpt, out, *extra):
    return [CFG, ckpt, '--kpt2d-file', DETS, '--out-dir', str(out)] + list(extra)


def _skeleton_pixels_ok(png, people, palette):
    """Fraction of the projected joints inside the image whose 5×5 neighbourhood holds
    their person's colour."""
    img = cv2.imread(png)[..., ::-1]                        # RGB
    h, w = img.shape[:2]
    hits = total = 0
    for i, p in enumerate(people):
        col = np.array(palette[i % len(palette)])
        for uv in p['keypoints_2d']:
            if uv is None:
                continue
            x, y = int(round(uv[0])), int(round(uv[1]))
            if not (3 <= x < w - 3 and 3 <= y < h - 3):
                continue
            total += 1
            patch = img[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3)
            hits += bool((np.abs(patch.astype(int) - col).max(-1) <= 8).any())
    return hits, total


def test_shelf_camera_from_detections(demo, ckpt, tmp_path, capsys):
    from virtualpose_mm.geometry.camera_io import load_cameras
    from virtualpose_mm.visualization.multiview_pose3d_visualizer import PERSON_PALETTE
    out = tmp_path / 'out'
    rc = demo.cli(_args(ckpt, out, '--camera-param-file', CALIB, '--camera-index', '2',
                        '--image-size', '1032', '776'))
    assert rc == 0
    printed = capsys.readouterr().out
    assert 'cam2_0:' in printed and 'cam2_2:' in printed
    cam = load_cameras(CALIB, image_size=(1032, 776))['2']
    with open(DETS, 'rb') as f:
        raw = pickle.load(f)
    for frame in ('0', '1', '2'):
        rec = json.loads((out / f'cam2_{frame}.json').read_text())
        assert rec['camera']['name'] == '2' and rec['camera']['extrinsics_given']
        np.testing.assert_allclose(rec['camera']['R'], cam.R, atol=1e-8)
        np.testing.assert_allclose(rec['camera']['f'], cam.f, atol=1e-4)
        assert len(rec['joint_names']) == 17 and rec['joint_names'][2] == 'mid-hip'
        assert rec['num_people'] == len(rec['people']) > 0
        # one root detection per person in the 2D file, on their mid-hip
        dets = np.array([d['pred'] for d in raw[f'2_{frame}']])
        assert len(rec['root_detections']) == len(dets)
        hips = (dets[:, 11, :2] + dets[:, 12, :2]) / 2
        xy = np.array([d['xy'] for d in rec['root_detections']])
        half_px = 0.5 * np.sqrt(2) * 4 * 776 / 256          # half an AGR pixel, image px
        assert (np.linalg.norm(xy[:, None] - hips[None], axis=-1).min(1) < half_px).all()
        assert all(d['depth_mm'] > 100 for d in rec['root_detections'])
        for p in rec['people']:
            Xc = np.array(p['keypoints_3d_camera'])
            Xw = np.array(p['keypoints_3d_world'])
            assert Xc.shape == Xw.shape == (17, 3)
            assert np.isfinite(Xc).all() and np.isfinite(Xw).all()
            assert np.abs(Xw).max() < 1e5                    # mm, inside a room
            np.testing.assert_allclose(Xc, cam.world_to_camera(Xw), atol=0.02)
            assert p['root_depth_mm'] == pytest.approx(Xc[2, 2], abs=0.01)
            for j, uv in enumerate(p['keypoints_2d']):
                if uv is not None:
                    np.testing.assert_allclose(uv, cam.project(Xw[j:j + 1])[0], atol=0.02)
                else:
                    assert Xc[j, 2] <= 1.0
        view = str(out / f'cam2_{frame}_2d.png')
        world = cv2.imread(str(out / f'cam2_{frame}_3d.png'))
        assert cv2.imread(view).shape == (776, 1032, 3) and world.shape[2] == 3
        hits, total = _skeleton_pixels_ok(view, rec['people'], PERSON_PALETTE)
        assert total >= 5 and hits >= 0.8 * total, (hits, total)
        assert world.std() > 5                               # a drawn figure, not blank


def test_focal_only_with_images_gives_camera_frame_and_assumed_world(demo, ckpt, tmp_path):
    imgs = tmp_path / 'imgs'
    imgs.mkdir()
    for i in (0, 1):
        cv2.imwrite(str(imgs / f'img_{i:06d}.png'), np.full((776, 1032, 3), 90, np.uint8))
    out = tmp_path / 'out'
    assert demo.cli(_args(ckpt, out, '--camera-index', '0', '--focal', '1500', '--img',
                          str(imgs), '--frames', '0', '1')) == 0
    assert not (out / 'cam0_2.json').exists()               # --frames picks 0 and 1
    rec = json.loads((out / 'cam0_1.json').read_text())
    assert rec['image'].endswith('img_000001.png')
    c = rec['camera']
    assert c['intrinsics'] == 'focal' and not c['extrinsics_given']
    assert c['f'] == [1500.0, 1500.0] and c['c'] == [516.0, 388.0]
    R, t = np.array(c['R']), np.array(c['t'])
    np.testing.assert_allclose(-R.T @ t, [0, -4000, 1100], atol=1e-6)   # assumed placement
    assert 'assumed' in rec['frames']['world']
    for p in rec['people']:
        Xc, Xw = np.array(p['keypoints_3d_camera']), np.array(p['keypoints_3d_world'])
        np.testing.assert_allclose(Xc, Xw @ R.T + t, atol=0.02)
    img = cv2.imread(str(out / 'cam0_1_2d.png'))
    assert img.shape == (776, 1032, 3)
    assert (img == 90).all(-1).mean() > 0.5                 # drawn on the image


def test_errors_are_one_line(demo, ckpt, tmp_path, capsys):
    bad = tmp_path / 'bad_calib.json'
    bad.write_text('{"nothing": 1}')
    assert demo.cli(_args(ckpt, tmp_path / 'o1', '--camera-param-file', str(bad),
                          '--camera-index', '0', '--image-size', '1032', '776')) == 2
    assert 'bad_calib.json' in capsys.readouterr().err
    assert demo.cli([CFG, ckpt, '--img', str(tmp_path / 'missing.jpg'), '--pose2d', 'x',
                     '--out-dir', str(tmp_path / 'o2')]) == 2
    assert 'missing.jpg' in capsys.readouterr().err
    # 15 joints per person where the model's 2D input is COCO-17
    k15 = tmp_path / 'k15.json'
    k15.write_text(json.dumps({'0_0': [{'pred': [[500.0, 300.0 + j, 0.9]
                                                 for j in range(15)]}]}))
    assert demo.cli([CFG, ckpt, '--kpt2d-file', str(k15), '--image-size', '1032', '776',
                     '--out-dir', str(tmp_path / 'o3')]) == 2
    err = capsys.readouterr().err
    assert '(N, 17, 2)' in err and 'cam0_0' in err
    # several cameras in the detections and none picked
    assert demo.cli(_args(ckpt, tmp_path / 'o4', '--image-size', '1032', '776')) == 2
    assert '--camera-index' in capsys.readouterr().err


def test_images_through_an_mmpose_2d_model(demo, ckpt, tmp_path, capsys):
    """--pose2d (path C): the 2D keypoints of an image from an MMPose 2D model (RTMO-s,
    one-stage, random weights: the path, not the accuracy), default intrinsics."""
    import mmpose
    rtmo = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint',
                    'rtmo', 'coco', 'rtmo-s_8xb32-600e_coco-640x640.py')
    if not osp.isfile(rtmo):
        pytest.skip(f'{rtmo}: MMPose config folder not installed')
    img = tmp_path / 'photo.jpg'
    rng = np.random.default_rng(0)
    cv2.imwrite(str(img), rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    out = tmp_path / 'out'
    torch.manual_seed(0)  # the 2D model's random weights
    assert demo.cli([CFG, ckpt, '--img', str(img), '--pose2d', rtmo, '--out-dir',
                     str(out)]) == 0
    rec = json.loads((out / 'photo.json').read_text())
    assert rec['image'] == str(img)
    c = rec['camera']
    assert c['intrinsics'] == 'default' and not c['extrinsics_given']
    assert c['f'] == [640.0, 640.0] and c['c'] == [320.0, 240.0]     # f = max(w, h)
    assert rec['num_people'] == len(rec['people'])
    assert all(np.isfinite(np.asarray(p['keypoints_3d_camera'])).all() for p in rec['people'])
    assert cv2.imread(str(out / 'photo_2d.png')).shape == (480, 640, 3)
    err = capsys.readouterr().err
    if 'NaN/inf keypoints' in err:
        assert 'they are left out' in err


def test_reference_json_root_distances(demo, ckpt, tmp_path, capsys):
    """--reference-json: every person's distance to the nearest multi-view root of the same
    frame, computed from the written world joints (mid-hip of a COCO-17 reference)."""
    from virtualpose_mm.datasets.joint_sets import COCO17
    rng = np.random.default_rng(0)
    ref_people = {f: rng.uniform(-2000, 2000, (n, 17, 3))
                  for f, n in (('0', 3), ('1', 1), ('2', 0))}
    ref = dict(frames=[dict(frame=f, joint_names=list(COCO17.joint_names),
                            people=[dict(keypoints_3d=p.tolist()) for p in kp])
                       for f, kp in ref_people.items()])
    ref_file = tmp_path / 'mv.json'
    ref_file.write_text(json.dumps(ref))
    out = tmp_path / 'out'
    rc = demo.cli(_args(ckpt, out, '--camera-param-file', CALIB, '--camera-index', '1', '3',
                        '--image-size', '1032', '776', '--reference-json', str(ref_file)))
    assert rc == 0                                       # two cameras, each on its own
    printed = capsys.readouterr().out
    assert 'root distance to the nearest one (m)' in printed
    for cam, (f, kp) in [(c, item) for c in ('1', '3') for item in ref_people.items()]:
        rec = json.loads((out / f'cam{cam}_{f}.json').read_text())
        assert rec['camera']['name'] == cam
        assert rec['reference']['frame'] == f and rec['reference']['num_people'] == len(kp)
        roots = (kp[:, 11] + kp[:, 12]) / 2
        for p in rec['people']:
            mine = np.array(p['keypoints_3d_world'])[2]          # VirtualPose-17 mid-hip
            if len(kp):
                want = np.linalg.norm(roots - mine, axis=-1).min()
                assert p['root_distance_to_reference_mm'] == pytest.approx(want, abs=0.05)
            else:
                assert p['root_distance_to_reference_mm'] is None
    # errors: a frame the reference lacks, a camera without extrinsics
    ref['frames'] = ref['frames'][:1]
    ref_file.write_text(json.dumps(ref))
    assert demo.cli(_args(ckpt, tmp_path / 'o2', '--camera-param-file', CALIB,
                          '--camera-index', '1', '--image-size', '1032', '776',
                          '--reference-json', str(ref_file))) == 2
    assert "no frame '1'" in capsys.readouterr().err
    assert demo.cli(_args(ckpt, tmp_path / 'o3', '--camera-index', '1', '--focal', '1000',
                          '--image-size', '1032', '776', '--reference-json',
                          str(ref_file))) == 2
    assert 'extrinsics' in capsys.readouterr().err


def test_bbox_thr_leaves_out_the_people_below_it_and_counts_them(demo, ckpt, tmp_path, capsys):
    """--bbox-thr: the people kept are exactly those of the unfiltered run scoring at least
    the threshold (same joints, same order); the others are counted in the JSON and the
    printed line, and left out of the picture; a negative threshold is a one-line error."""
    common = ('--camera-param-file', CALIB, '--camera-index', '4', '--frames', '0',
              '--image-size', '1032', '776')
    all_out = tmp_path / 'all'
    assert demo.cli(_args(ckpt, all_out, *common, '--bbox-thr', '0')) == 0
    full = json.loads((all_out / 'cam4_0.json').read_text())
    scores = np.array([p['score'] for p in full['people']])
    assert full['num_below_bbox_thr'] == 0 and full['bbox_thr'] == 0
    assert len(scores) >= 2 and scores.max() > scores.min(), scores
    srt = np.sort(scores)
    gap = int(np.argmax(np.diff(srt)))              # the widest gap between two scores
    assert srt[gap + 1] - srt[gap] > 1e-3           # (rounding of the JSON's 4 decimals)
    thr = float(srt[gap] + srt[gap + 1]) / 2
    want = [p for p in full['people'] if p['score'] >= thr]
    assert 0 < len(want) < len(scores)
    capsys.readouterr()
    cut_out = tmp_path / 'cut'
    assert demo.cli(_args(ckpt, cut_out, *common, '--bbox-thr', str(thr))) == 0
    printed = capsys.readouterr().out
    cut = json.loads((cut_out / 'cam4_0.json').read_text())
    left = len(scores) - len(want)
    assert cut['num_people'] == len(want) and cut['num_below_bbox_thr'] == left
    assert cut['bbox_thr'] == pytest.approx(thr)
    assert [p['keypoints_3d_world'] for p in cut['people']] == \
        [p['keypoints_3d_world'] for p in want]
    assert f'cam4_0: {len(want)} people ({left} below --bbox-thr left out)' in printed
    assert cut['root_detections'] == full['root_detections']       # diagnostics kept
    # fewer skeletons drawn: the picture differs from the unfiltered one
    a = cv2.imread(str(all_out / 'cam4_0_2d.png'))
    b = cv2.imread(str(cut_out / 'cam4_0_2d.png'))
    assert a.shape == b.shape and (a != b).any()
    assert demo.cli(_args(ckpt, tmp_path / 'bad', *common, '--bbox-thr', '-1')) == 2
    assert '--bbox-thr must be a number ≥ 0, got -1.0' in capsys.readouterr().err
