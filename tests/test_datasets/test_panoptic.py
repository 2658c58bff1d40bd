"""CMU Panoptic multi-view dataset on the real fixture tree (tiny images made in tmp_path)."""
import json
import shutil

import cv2
import numpy as np
import pytest

from virtualpose_mm.datasets import Body3DMviewDirectPanopticDataset, DatasetError
from virtualpose_mm.datasets.transforms import LoadMultiViewImages

CAMS = [(0, 12), (0, 6), (0, 23), (0, 13), (0, 3)]


@pytest.fixture
def panoptic_root(tmp_path, test_data, make_panoptic_tree):
    root = tmp_path / 'panoptic'
    make_panoptic_tree(root, test_data / 'panoptic_body3d' / '160906_band1', '160906_band1',
                       CAMS)
    return root


def _expected_bodies(path):
    """Independent conversion of one body3DScene file: (x, y, z) cm y-down → (x, z, −y)·10."""
    bodies = json.loads(open(path).read())['bodies']
    out = []
    for b in bodies:
        a = np.asarray(b['joints19'], float).reshape(-1, 4)[:15]
        out.append((b['id'], np.stack([a[:, 0], a[:, 2], -a[:, 1]], -1) * 10, a[:, 3] > 0.1))
    return out


def test_frames_joints_and_cameras(panoptic_root, test_data):
    ds = Body3DMviewDirectPanopticDataset(
        data_root=str(panoptic_root), sequences=['160906_band1'], frame_interval=1,
        cameras=CAMS, show_progress=False)
    assert len(ds) == 2
    assert ds.metainfo['num_keypoints'] == 15 and ds.metainfo['joint_set'] == 'panoptic15'
    info = ds.get_data_info(1)
    assert info['frame_id'] == 169 and info['sequence'] == '160906_band1'
    assert info['view_names'] == ['00_12', '00_06', '00_23', '00_13', '00_03']
    assert info['img_paths'][2].endswith('160906_band1/hdImgs/00_23/00_23_00000169.jpg')
    np.testing.assert_array_equal(info['image_sizes'], [[1920, 1080]] * 5)

    exp = _expected_bodies(test_data / 'panoptic_body3d' / '160906_band1' /
                           'hdPose3d_stage1_coco19' / 'body3DScene_00000169.json')
    assert info['gt_keypoints_3d'].shape == (3, 15, 3)
    for n, (bid, joints, vis) in enumerate(exp):
        assert info['gt_ids'][n] == bid
        np.testing.assert_allclose(info['gt_keypoints_3d'][n], joints, atol=1e-9)
        np.testing.assert_array_equal(info['gt_keypoints_3d_visible'][n], vis)
    # body 2's right leg has confidence −1: invisible; body 0's left ankle too
    assert not info['gt_keypoints_3d_visible'][2, 12:].any()
    assert not info['gt_keypoints_3d_visible'][0, 8]
    # z is up: the (seated) musician's nose is 0.8 m above the ankle, which is near the floor
    assert info['gt_keypoints_3d'][1, 1, 2] - info['gt_keypoints_3d'][1, 14, 2] > 700
    assert abs(info['gt_keypoints_3d'][1, 14, 2]) < 150

    # the cameras reproduce the native calibration (cm, y-down world) pixel for pixel
    calib = json.loads((panoptic_root / '160906_band1' /
                        'calibration_160906_band1.json').read_text())
    by_name = {c['name']: c for c in calib['cameras']}
    a = np.asarray(json.loads(open(test_data / 'panoptic_body3d' / '160906_band1' /
                                   'hdPose3d_stage1_coco19' / 'body3DScene_00000169.json')
                              .read())['bodies'][1]['joints19'], float).reshape(-1, 4)[:15, :3]
    for v, name in enumerate(info['view_names']):
        c = by_name[name]
        ref, _ = cv2.projectPoints(np.ascontiguousarray(a).reshape(-1, 1, 3),
                                   cv2.Rodrigues(np.asarray(c['R'], float))[0],
                                   np.asarray(c['t'], float), np.asarray(c['K'], float),
                                   np.asarray(c['distCoef'], float))
        ours = info['cameras'][v].project(info['gt_keypoints_3d'][1][None])[0]
        np.testing.assert_allclose(ours, ref[:, 0], atol=1e-6)


def test_interval_view_order_and_two_sequences(tmp_path, test_data, make_panoptic_tree):
    root = tmp_path / 'p'
    src = test_data / 'panoptic_body3d' / '160906_band1'
    make_panoptic_tree(root, src, 'seqA', CAMS, images=False)
    make_panoptic_tree(root, src, 'seqB', CAMS, images=False)
    ds = Body3DMviewDirectPanopticDataset(
        data_root=str(root), sequences=['seqA', 'seqB'], frame_interval=2,
        view_order='file', require_images=False, show_progress=False)
    assert len(ds) == 2  # frame 168 of each sequence
    assert [ds.get_data_info(i)['sequence'] for i in range(2)] == ['seqA', 'seqB']
    assert {ds.get_data_info(i)['frame_id'] for i in range(2)} == {168}
    # the reference's order: as the cameras appear in the calibration file
    assert ds.get_data_info(0)['view_names'] == ['00_03', '00_06', '00_12', '00_13', '00_23']


def test_default_protocols(tmp_path):
    with pytest.raises(DatasetError, match='/nonexistent: Panoptic data_root is not a folder'):
        Body3DMviewDirectPanopticDataset(data_root='/nonexistent', lazy_init=True).full_init()
    with pytest.raises(DatasetError, match='160422_ultimatum1: Panoptic sequence folder not '
                                           'found'):
        Body3DMviewDirectPanopticDataset(data_root=str(tmp_path))
    ds = Body3DMviewDirectPanopticDataset(data_root='/x', sequences='validation', lazy_init=True)
    assert ds.sequences == ['160906_pizza1', '160422_haggling1', '160906_ian5',
                            '160906_band4']
    assert ds.frame_interval == 12
    assert Body3DMviewDirectPanopticDataset(data_root='/x', lazy_init=True).frame_interval == 3
    with pytest.raises(ValueError, match='frame_interval is required'):
        Body3DMviewDirectPanopticDataset(data_root='/x', sequences=['a'], lazy_init=True)


def test_missing_calibration_and_images_fail_clearly(panoptic_root):
    seq = panoptic_root / '160906_band1'
    shutil.rmtree(seq / 'hdImgs' / '00_23')
    with pytest.raises(DatasetError, match=r'hdImgs/00_23: image folder of camera 00_23'):
        Body3DMviewDirectPanopticDataset(data_root=str(panoptic_root),
                                         sequences=['160906_band1'], frame_interval=1)
    (seq / 'calibration_160906_band1.json').unlink()
    with pytest.raises(DatasetError, match=r'calibration_160906_band1\.json: Panoptic '
                                           r'calibration file not found'):
        Body3DMviewDirectPanopticDataset(data_root=str(panoptic_root),
                                         sequences=['160906_band1'], frame_interval=1)


def test_missing_or_wrong_image_fails_when_loading(panoptic_root):
    ds = Body3DMviewDirectPanopticDataset(data_root=str(panoptic_root),
                                          sequences=['160906_band1'], frame_interval=1,
                                          show_progress=False)
    info = ds.get_data_info(0)
    out = LoadMultiViewImages()(dict(info))
    assert len(out['img']) == 5 and out['img'][0].shape == (1080, 1920, 3)
    np.testing.assert_array_equal(out['ori_shapes'], [[1080, 1920]] * 5)
    missing = panoptic_root / '160906_band1' / 'hdImgs' / '00_06' / '00_06_00000168.jpg'
    missing.unlink()
    with pytest.raises(FileNotFoundError, match='00_06_00000168.jpg: image not found'):
        LoadMultiViewImages()(dict(info))
    cv2.imwrite(str(missing), np.zeros((36, 64, 3), np.uint8))
    with pytest.raises(ValueError, match='image is 64×36 but the calibration of view 1 is '
                                         'for 1920×1080'):
        LoadMultiViewImages()(dict(info))


def test_bad_annotations_and_dropped_bodies(panoptic_root):
    anno = panoptic_root / '160906_band1' / 'hdPose3d_stage1_coco19'
    f = anno / 'body3DScene_00000169.json'
    d = json.loads(f.read_text())
    d['bodies'][0]['joints19'][2 * 4 + 3] = 0.05  # root (mid-hip) confidence below 0.1
    f.write_text(json.dumps(d))
    kw = dict(data_root=str(panoptic_root), sequences=['160906_band1'], frame_interval=1,
              require_images=False, show_progress=False)
    ds = Body3DMviewDirectPanopticDataset(**kw)
    assert ds.get_data_info(1)['gt_ids'].tolist() == [1, 2]
    ds = Body3DMviewDirectPanopticDataset(drop_bodies_without_root=False, **kw)
    assert ds.get_data_info(1)['gt_ids'].tolist() == [0, 1, 2]

    d['bodies'] = []
    f.write_text(json.dumps(d))
    assert len(Body3DMviewDirectPanopticDataset(**kw)) == 1
    assert len(Body3DMviewDirectPanopticDataset(skip_empty_frames=False, **kw)) == 2

    d['bodies'] = [{'id': 0, 'joints19': [1.0] * 10}]
    f.write_text(json.dumps(d))
    with pytest.raises(DatasetError, match=r"body3DScene_00000169\.json: bodies\[0\]: field "
                                           r"'joints19' has shape"):
        Body3DMviewDirectPanopticDataset(**kw)
    f.write_text('{"bodies": [')
    with pytest.raises(DatasetError, match=r'body3DScene_00000169\.json: unreadable'):
        Body3DMviewDirectPanopticDataset(**kw)


def test_index_cache_is_validated_against_the_config(panoptic_root, tmp_path, monkeypatch):
    cache = tmp_path / 'cache' / 'panoptic_index.pkl'
    kw = dict(data_root=str(panoptic_root), sequences=['160906_band1'], require_images=False,
              show_progress=False, cache_file=str(cache))
    ds1 = Body3DMviewDirectPanopticDataset(frame_interval=1, **kw)
    assert cache.is_file() and len(ds1) == 2

    def boom(self):
        raise AssertionError('index rebuilt although the cache matches')

    monkeypatch.setattr(Body3DMviewDirectPanopticDataset, '_build_index', boom)
    ds2 = Body3DMviewDirectPanopticDataset(frame_interval=1, **kw)
    np.testing.assert_array_equal(ds2.get_data_info(1)['gt_keypoints_3d'],
                                  ds1.get_data_info(1)['gt_keypoints_3d'])
    monkeypatch.undo()
    # another interval: the cache no longer fits and is rebuilt (1 frame, not 2)
    ds3 = Body3DMviewDirectPanopticDataset(frame_interval=2, **kw)
    assert len(ds3) == 1
