"""demo/body3d_multiview_detect_and_regress_img_demo.py: both input kinds (2D detections in
the pred_*.pkl and JSON layouts, images in MMPose 0.x's folder layout), camera formats, a
0.x-layout checkpoint, the JSON content, the pictures, and clear errors."""
import json
import os
import os.path as osp
import pickle
import shutil

import cv2
import numpy as np
import pytest
import torch

from tests.helpers import REPO_ROOT, load_script

DEMO = osp.join(REPO_ROOT, 'demo', 'body3d_multiview_detect_and_regress_img_demo.py')
CFG = osp.join(REPO_ROOT, 'configs/voxelpose/voxelpose_demo_shelf_virtual_cpu.py')
SHELF = osp.join(REPO_ROOT, 'data/demo/shelf')
CALIB = osp.join(SHELF, 'calibration_shelf.json')
DETS = osp.join(SHELF, 'pred_shelf_maskrcnn_hrnet_coco.pkl')
PANOPTIC_CALIB = osp.join(REPO_ROOT, 'tests/data/panoptic_body3d/160906_band1/'
                          'calibration_160906_band1.json')
# random weights: every proposal counts as a person (threshold below any root value)
FIVE = ['--cfg-options', 'model.num_views=5', 'model.root_net.threshold=-1e9']


def _demo():
    return load_script(DEMO, 'mv_demo')


@pytest.fixture(scope='module')
def demo():
    return _demo()


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    from virtualpose_mm.apis import init_model
    torch.manual_seed(1)
    model = init_model(CFG)
    path = str(tmp_path_factory.mktemp('ckpt') / 'demo.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path, model


def _shelf_args(ckpt_path, out, *extra):
    return [CFG, ckpt_path, '--camera-param-file', CALIB, '--image-size', '1032', '776',
            '--kpt2d-file', DETS, '--out-img-root', str(out)] + list(extra)


def test_shelf_detections_json_and_pictures(demo, ckpt, tmp_path, capsys):
    out = tmp_path / 'out'
    video = tmp_path / 'frames.mp4'
    assert demo.cli(_shelf_args(ckpt[0], out, '--visualize-single-view', '--out-json',
                                str(tmp_path / 'all.json'), '--video', str(video)) +
                    FIVE) == 0
    printed = capsys.readouterr().out
    for f in ('0', '1', '2'):
        assert f'frame {f}: ' in printed and 'median reprojection error' in printed
        rec = json.load(open(out / f'{f}.json'))
        assert rec['frame'] == f and rec['cameras'] == ['0', '1', '2', '3', '4']
        assert rec['num_people'] == len(rec['people']) > 0
        assert len(rec['joint_names']) == 17 and rec['joint_names'][0] == 'nose'
        for p in rec['people']:
            k = np.asarray(p['keypoints_3d'])
            assert k.shape == (17, 3) and np.isfinite(k).all()
            assert np.abs(k).max() < 20000  # world millimetres, inside any room
            assert 0 <= p['score'] <= 1 and len(p['keypoint_scores']) == 17
        # the printed reprojection error is the JSON's
        err = rec['reprojection_error_px']
        assert f'frame {f}: {rec["num_people"]} people, median reprojection error ' \
            f'{err:.1f} px' in printed
        # skeleton pixels where the 3D joints project (blank canvases are black)
        hits = total = 0
        for cam in rec['cameras']:
            img = cv2.imread(str(out / f'{f}_view_{cam}.png'))
            assert img.shape[:2] == (776, 1032)
            for p in rec['people']:
                for uv in p['keypoints_2d'][cam]:
                    if uv is None or not (2 <= uv[0] < 1030 and 2 <= uv[1] < 774):
                        continue
                    u, v = int(round(uv[0])), int(round(uv[1]))
                    total += 1
                    hits += img[v - 1:v + 2, u - 1:u + 2].max() > 0
            assert img[0:2, 0:2].max() == 0 or img.mean() < 128  # mostly background
        assert total > 0 and hits == total
        assert cv2.imread(str(out / f'{f}_3d.png')) is not None
    allj = json.load(open(tmp_path / 'all.json'))
    assert [r['frame'] for r in allj['frames']] == ['0', '1', '2']
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_reprojection_error_against_known_detections(demo):
    """Projected joints 3 px from every detected joint give a median of 3 px; people are
    matched across permuted detection order; low-score joints do not count."""
    from virtualpose_mm.apis import load_rig
    rig, _ = load_rig(CALIB, image_size=(1032, 776))
    rng = np.random.default_rng(0)
    k3d = np.stack([rng.normal([0, 0, 1000], 300, (17, 3)),
                    rng.normal([1500, 500, 1000], 300, (17, 3))])
    uv, front = demo.project_people(rig, k3d)
    dets = []
    for v in range(5):
        d = np.concatenate([uv[v] + [3.0, 0.0], np.ones((2, 17, 1))], -1)[::-1].copy()
        d[0, 0, :2] += 500.0
        d[0, 0, 2] = 0.1  # an outlier joint with a low score: ignored
        dets.append(d)
    assert demo.reprojection_error(uv, front, dets) == pytest.approx(3.0)
    assert np.isnan(demo.reprojection_error(uv, front, [np.zeros((0, 17, 3))] * 5))


def test_json_detections_and_mmpose0x_checkpoint_give_the_same_poses(demo, ckpt, tmp_path):
    from tests.fixtures.dataset_files import voxelpose_to_mmpose0x_keys
    path, model = ckpt
    with open(DETS, 'rb') as f:
        dets = pickle.load(f)
    as_json = {k: [{'pred': np.asarray(e['pred']).tolist()} for e in v]
               for k, v in dets.items()}
    jpath = tmp_path / 'dets.json'
    jpath.write_text(json.dumps(as_json))
    ox = tmp_path / 'mmpose0x.pth'
    torch.save({'state_dict': voxelpose_to_mmpose0x_keys(model.state_dict(), model)}, ox)
    a, b = tmp_path / 'a', tmp_path / 'b'
    assert demo.cli(_shelf_args(path, a, '--frames', '1') + FIVE) == 0
    args = _shelf_args(str(ox), b, '--frames', '1') + FIVE
    args[args.index(DETS)] = str(jpath)
    assert demo.cli(args) == 0
    ra, rb = json.load(open(a / '1.json')), json.load(open(b / '1.json'))
    assert ra['num_people'] > 0
    np.testing.assert_allclose([p['keypoints_3d'] for p in ra['people']],
                               [p['keypoints_3d'] for p in rb['people']], atol=0.011)
    assert sorted(os.listdir(a)) == ['1.json', '1_3d.png']


def test_images_in_the_mmpose0x_folder_layout(demo, tmp_path):
    """0.x's command: IMG_ROOT/camera_parameters.json + one folder per camera, an image
    config (Panoptic, made small), no --camera-param-file."""
    base = osp.join(REPO_ROOT,
                    'configs/voxelpose/voxelpose_prn64x64x64_cpn80x80x20_panoptic_cam5.py')
    cfg = tmp_path / 'small_panoptic.py'
    cfg.write_text(
        f'_base_ = [{base!r}]\n'
        'model = dict(image_size=(256, 128), backbone=dict(depth=18),\n'
        '             head_2d=dict(in_channels=512, deconv_out_channels=(32, 32, 32)),\n'
        '             root_net=dict(space_shape=(16, 16, 8)),\n'
        '             pose_net=dict(cube_shape=(8, 8, 8)))\n'
        "test_pipeline = [dict(type='LoadMultiViewImages', to_rgb=False),\n"
        "                 dict(type='MultiViewLetterbox', input_size=(256, 128)),\n"
        "                 dict(type='PackMultiViewPoseInputs', inputs_key='img')]\n")
    from virtualpose_mm.apis import init_model
    torch.manual_seed(0)
    ck = tmp_path / 'img.pth'
    torch.save({'state_dict': init_model(str(cfg)).state_dict()}, ck)
    root = tmp_path / 'img_root'
    root.mkdir()
    shutil.copy(PANOPTIC_CALIB, root / 'camera_parameters.json')
    rng = np.random.default_rng(0)
    views = ['00_03', '00_06', '00_12', '00_13', '00_23']
    for v in views:
        (root / v).mkdir()
        for frame in ('000000', '000001'):
            cv2.imwrite(str(root / v / f'{frame}.jpg'),
                        rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8))
    out = tmp_path / 'out'
    assert demo.cli([str(cfg), str(ck), '--img-root', str(root), '--out-img-root', str(out),
                     '--frames', '000001']) == 0
    rec = json.load(open(out / '000001.json'))
    assert rec['cameras'] == views
    assert all(np.asarray(p['keypoints_3d']).shape == (15, 3) for p in rec['people'])
    assert rec['reprojection_error_px'] is None  # no 2D detections to compare with
    # a missing image of one view is a clear error
    os.remove(root / '00_12' / '000000.jpg')
    assert demo.cli([str(cfg), str(ck), '--img-root', str(root), '--out-img-root',
                     str(out)]) == 2


@pytest.mark.parametrize('case,message', [
    ('bad_camera_file', 'calib.json'),
    ('missing_view', "frame 1: no detections for camera(s) ['2'] (a missing view)"),
    ('camera_count', "4 cameras ['0', '1', '2', '3'], but the checkpoint's config"),
    ('no_input', 'give --img-root (images) or --kpt2d-file'),
])
def test_bad_inputs_fail_clearly(demo, ckpt, tmp_path, capsys, case, message):
    out = tmp_path / 'out'
    args = _shelf_args(ckpt[0], out, '--frames', '1') + FIVE
    if case == 'bad_camera_file':
        bad = tmp_path / 'calib.json'
        bad.write_text('{"0": {"R": [[1, 0]]}}')
        args[args.index(CALIB)] = str(bad)
    elif case == 'missing_view':
        with open(DETS, 'rb') as f:
            dets = pickle.load(f)
        del dets['2_1']
        p = tmp_path / 'dets.pkl'
        with open(p, 'wb') as f:
            pickle.dump(dict(dets), f)
        args[args.index(DETS)] = str(p)
    elif case == 'camera_count':
        args += ['--cameras', '0', '1', '2', '3']
    elif case == 'no_input':
        i = args.index('--kpt2d-file')
        del args[i:i + 2]
    assert demo.cli(args) == 2
    err = capsys.readouterr().err
    assert 'multi-view demo: error:' in err and message in err
    assert 'Traceback' not in err
    assert not (out / '1.json').exists()


def test_images_through_an_mmpose_2d_model(demo, ckpt, tmp_path, capsys):
    """--pose2d: a heatmap-input config on images, the 2D detections from an MMPose 2D
    model (RTMO-s, one-stage, random weights: the path, not the accuracy)."""
    import mmpose
    rtmo = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint',
                    'rtmo', 'coco', 'rtmo-s_8xb32-600e_coco-640x640.py')
    if not osp.isfile(rtmo):
        pytest.skip(f'{rtmo}: MMPose config folder not installed')
    root = tmp_path / 'img'
    rng = np.random.default_rng(0)
    for v in range(5):
        (root / str(v)).mkdir(parents=True)
        cv2.imwrite(str(root / str(v) / 'frame_000007.jpg'),
                    rng.integers(0, 255, (776, 1032, 3), dtype=np.uint8))
    out = tmp_path / 'out'
    torch.manual_seed(0)  # the 2D model's random weights
    assert demo.cli([CFG, ckpt[0], '--camera-param-file', CALIB, '--image-size', '1032', '776',
                     '--img-root', str(root), '--pose2d', rtmo, '--out-img-root', str(out)] +
                    FIVE) == 0
    rec = json.load(open(out / 'frame_000007.json'))
    assert rec['cameras'] == ['0', '1', '2', '3', '4']
    err = capsys.readouterr().err
    # random RTMO weights give many people with NaN keypoints: counted, left out, said
    if 'NaN/inf keypoints' in err:
        assert 'they are left out' in err
    assert all(np.isfinite(np.asarray(p['keypoints_3d'])).all() for p in rec['people'])
    # without --pose2d the same images cannot feed a heatmap-input model
    assert demo.cli([CFG, ckpt[0], '--camera-param-file', CALIB, '--image-size', '1032', '776',
                     '--img-root', str(root), '--out-img-root', str(out)] + FIVE) == 2


def test_image_size_from_the_config(demo, ckpt, tmp_path, capsys):
    """Without --image-size, a calibration that does not store the image size (Shelf) takes
    the config's image_size (the own-rig configs' variable): the same result as with it; a
    config without one gives the loader's error, a malformed one names the config."""
    out_a, out_b = tmp_path / 'a', tmp_path / 'b'
    with_size = _shelf_args(ckpt[0], out_a, '--frames', '1') + FIVE
    assert demo.cli(with_size) == 0
    args = _shelf_args(ckpt[0], out_b, '--frames', '1', '--visualize-single-view') + FIVE
    i = args.index('--image-size')
    del args[i:i + 3]
    assert demo.cli(args) == 0
    a, b = json.load(open(out_a / '1.json')), json.load(open(out_b / '1.json'))
    assert a['people'] == b['people'] and a['num_people'] > 0
    assert cv2.imread(str(out_b / '1_view_0.png')).shape[:2] == (776, 1032)
    capsys.readouterr()
    assert demo.cli(args + ['image_size=None']) == 2
    assert 'carry no image size' in capsys.readouterr().err
    assert demo.cli(args + ['image_size=(1032,)']) == 2
    err = capsys.readouterr().err
    assert 'voxelpose_demo_shelf_virtual_cpu.py: image_size must be (w, h)' in err
