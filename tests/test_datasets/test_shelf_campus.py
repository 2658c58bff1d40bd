"""Shelf / Campus test sets: frames, GT, detections and the heatmaps rendered from them."""
import pickle
import shutil

import numpy as np
import pytest
import scipy.io

from virtualpose_mm.datasets import (Body3DMviewDirectCampusDataset,
                                     Body3DMviewDirectShelfDataset, DatasetError)
from virtualpose_mm.geometry.camera_io import load_shelf_campus_calibration, stack_cameras

PIPE = [dict(type='MultiViewLetterbox', input_size=(800, 608)),
        dict(type='GenerateMultiViewHeatmaps', heatmap_size=(200, 152)),
        dict(type='PackMultiViewPoseInputs')]


def _local_peak(hm, q, radius=2):
    """(value, (x, y)) of the maximum of ``hm`` in the window of ``radius`` around ``q``."""
    cx, cy = int(round(q[0])), int(round(q[1]))
    x0, y0 = max(cx - radius, 0), max(cy - radius, 0)
    win = hm[y0:cy + radius + 1, x0:cx + radius + 1]
    j = np.unravel_index(np.argmax(win), win.shape)
    return win[j], (x0 + j[1], y0 + j[0])


def test_shelf_frames_gt_and_detections(shelf_root):
    ds = Body3DMviewDirectShelfDataset(data_root=str(shelf_root), frame_range=[(0, 2)])
    assert len(ds) == 3
    assert ds.metainfo['num_keypoints'] == 17 and ds.metainfo['gt_joint_set'] == 'shelf14'
    info = ds.get_data_info(1)
    assert info['frame_id'] == 1 and info['view_names'] == ['0', '1', '2', '3', '4']
    assert info['img_paths'][3].endswith('Camera3/img_000001.png')
    np.testing.assert_array_equal(info['image_sizes'], [[1032, 776]] * 5)
    # GT: the actors present in frame 1 of actorsGT.mat (actors 1 and 3), metres → mm
    cell = scipy.io.loadmat(str(shelf_root / 'actorsGT.mat'))['actor3D']
    assert info['gt_ids'].tolist() == [0, 2]
    for n, a in enumerate([0, 2]):
        np.testing.assert_allclose(info['gt_keypoints_3d'][n], cell[0, a][1, 0] * 1000.0)
    assert info['num_actors'] == 4
    # detections of camera k, frame 1 = entries of key "k_1", peaks = scores for Shelf
    dets = pickle.load(open(shelf_root / 'pred_shelf_maskrcnn_hrnet_coco.pkl', 'rb'))
    for v in range(5):
        want = np.stack([np.asarray(p['pred']) for p in dets[f'{v}_1']])
        np.testing.assert_allclose(info['input_keypoints_2d'][v], want[..., :2])
        np.testing.assert_allclose(info['input_keypoints_2d_scores'][v], want[..., 2])
        assert info['input_keypoints_2d_visible'][v].all()


@pytest.mark.parametrize('legacy', [False, True])
def test_shelf_heatmap_peaks_sit_at_the_detections(shelf_root, legacy):
    pipe = [PIPE[0], dict(PIPE[1], legacy_peak_offset=legacy)]
    ds = Body3DMviewDirectShelfDataset(data_root=str(shelf_root), frame_range=[(0, 2)],
                                       pipeline=pipe)
    res = ds[2]
    hms = res['input_heatmaps']
    assert hms.shape == (5, 17, 152, 200) and hms.dtype == np.float32
    # the letterbox: 1032×776 → 800×608 scales by 800/1032 and pads 3.2 px top and bottom
    k = 800 / 1032
    np.testing.assert_allclose(res['affines'][0], [[k, 0, 0], [0, k, (608 - k * 776) / 2]])
    raw = ds.get_data_info(2)['input_keypoints_2d']
    checked, off_x = 0, []
    for v in range(5):
        for n, (pts, sc) in enumerate(zip(raw[v], res['input_keypoints_2d_scores'][v])):
            q = (pts * k + [0, (608 - k * 776) / 2]) / 4.0   # heatmap px
            np.testing.assert_allclose(res['input_keypoints_2d'][v][n] / 4.0, q)
            sig = res['input_heatmaps_sigmas'][v]
            for j in range(17):
                # skip joints where another detection's Gaussian of the same joint adds
                # more than 1 % of this peak (it may pull the discrete maximum aside)
                hm_all = res['input_keypoints_2d'][v][:, j] / 4.0
                d2 = np.sum((hm_all - q[j])**2, axis=1)
                other = np.delete(res['input_keypoints_2d_scores'][v][:, j] *
                                  np.exp(-d2 / (2 * sig**2)), n)
                if len(other) and other.max() > 0.01 * sc[j]:
                    continue
                val, (x, y) = _local_peak(hms[v, j], q[j])
                if legacy:
                    # the reference's window: peak at int(q) or one pixel before it (one
                    # pixel after it where the window starts left of / above the map, as
                    # int() truncates toward zero)
                    assert int(q[j][0]) - 1 <= x <= int(q[j][0]) + 1
                    assert int(q[j][1]) - 1 <= y <= int(q[j][1]) + 1
                    off_x.append(x - int(q[j][0]))
                    assert val == pytest.approx(sc[j], rel=0.2)
                else:
                    assert abs(x - q[j][0]) <= 0.5 + 1e-9 and abs(y - q[j][1]) <= 0.5 + 1e-9
                    # the nearest pixel is ≤ 0.71 px away: ≥ exp(−0.5/(2·2.12²)) = 0.946 peak
                    assert sc[j] * 0.94 <= val <= sc[j] + 1e-6
                checked += 1
    assert checked > 100
    if legacy:  # most peaks are early by one pixel (frac(3σ) < 0.5 about half the time)
        assert np.mean(np.asarray(off_x) == -1) > 0.25


def test_shelf_pack_contract_and_pcp_metric(shelf_root):
    ds = Body3DMviewDirectShelfDataset(data_root=str(shelf_root), frame_range=[(0, 2)],
                                       pipeline=PIPE)
    out = ds[0]
    x, s = out['inputs'], out['data_samples']
    assert tuple(x.shape) == (5, 17, 152, 200) and str(x.dtype) == 'torch.float32'
    m = s.metainfo
    assert m['cameras']['R'].shape == (5, 3, 3) and m['cameras']['t'].shape == (5, 3)
    assert m['affines'].shape == (5, 2, 3) and m['cameras']['image_size'].shape == (5, 2)
    assert 'image_sizes' not in m  # one layout: the image sizes are the cameras'
    assert tuple(m['input_size']) == (800, 608) and tuple(m['heatmap_size']) == (200, 152)
    assert m['frame_id'] == 0 and m['dataset_name'] == 'shelf'
    # the cameras of the metainfo are the calibration's (t = −R·T for Shelf)
    ref = stack_cameras(load_shelf_campus_calibration(str(shelf_root / 'calibration_shelf.json'),
                                                      (1032, 776)))
    np.testing.assert_allclose(m['cameras']['t'], ref.t)
    gt = s.gt_instances
    assert tuple(gt.lifting_target.shape) == (2, 14, 3) and gt.actor_ids.tolist() == [0, 2]

    from virtualpose_mm.evaluation.metrics.pcp_metric import ShelfCampusPCPMetric
    metric = ShelfCampusPCPMetric(dataset='shelf', num_actors=4)
    metric.dataset_meta = ds.metainfo
    from mmengine.structures import InstanceData
    samples = []
    for i in range(3):
        d = ds[i]['data_samples']
        d.pred_instances = InstanceData(keypoints=d.gt_instances.lifting_target.copy(),
                                        bbox_scores=np.ones(len(d.gt_instances)))
        samples.append(d.to_dict())
    metric.process({}, samples)
    res = metric.evaluate(3)
    assert res['shelf/PCP_actor1'] == pytest.approx(1.0)
    assert res['shelf/Recall@500'] == pytest.approx(1.0)


def test_campus_peaks_are_one_and_scores_optional(tmp_path, test_data):
    root = tmp_path / 'campus'
    root.mkdir()
    for f in ('calibration_campus.json', 'actorsGT.mat'):
        shutil.copy(test_data / 'campus' / f, root / f)
    cams = stack_cameras(load_shelf_campus_calibration(str(root / 'calibration_campus.json'),
                                                       (360, 288)))
    cell = scipy.io.loadmat(str(root / 'actorsGT.mat'))['actor3D']
    # constructed detections: actor 1 projected into every camera, score 0.3, COCO order
    # taken from its 14 Shelf joints (the 12 body joints) plus the head for the face
    body = cell[0, 0][0, 0] * 1000.0
    coco = np.zeros((17, 3))
    coco[[16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9]] = body[:12]
    coco[:5] = body[13]
    dets = {}
    for v in range(3):
        uv = cams[v].project(coco[None])[0]
        dets[f'{v}_0'] = [{'pred': np.concatenate([uv, np.full((17, 1), 0.3)], 1)}]
    with open(root / 'pred_campus_maskrcnn_hrnet_coco.pkl', 'wb') as f:
        pickle.dump(dets, f)
    pipe = [dict(type='MultiViewLetterbox', input_size=(800, 640)),
            dict(type='GenerateMultiViewHeatmaps', heatmap_size=(200, 160))]
    ds = Body3DMviewDirectCampusDataset(data_root=str(root), frame_range=[0], pipeline=pipe)
    res = ds[0]
    assert res['img_paths'][1].endswith('Camera1/campus4-c1-00000.png')
    k = min(800 / 360, 640 / 288)
    for v in range(3):
        uv = dets[f'{v}_0'][0]['pred'][:, :2]
        q = (uv * k + [(800 - k * 360) / 2, (640 - k * 288) / 2]) / 4
        inside = (q >= 0).all(1) & (q[:, 0] < 199) & (q[:, 1] < 159)
        tested = [j for j in (0, 5, 9, 11, 15) if inside[j]]
        assert len(tested) >= 2
        for j in tested:
            val, (x, y) = _local_peak(res['input_heatmaps'][v, j], q[j])
            assert abs(x - q[j][0]) <= 0.5 + 1e-9 and abs(y - q[j][1]) <= 0.5 + 1e-9
            assert 0.94 <= val <= 1.0  # Campus: peak 1 whatever the score
    ds = Body3DMviewDirectCampusDataset(data_root=str(root), frame_range=[0], pipeline=pipe,
                                        use_detection_scores=True)
    hm = ds[0]['input_heatmaps']
    assert 0.3 * 0.94 <= hm.max() <= 0.3 + 1e-7  # peaks = the detection scores
    assert ds.get_data_info(0)['gt_ids'].tolist() == [0]


def test_bad_files_fail_clearly(shelf_root):
    path = shelf_root / 'pred_shelf_maskrcnn_hrnet_coco.pkl'
    dets = pickle.load(open(path, 'rb'))
    del dets['3_1']
    pickle.dump(dict(dets), open(path, 'wb'))
    with pytest.raises(DatasetError, match=r"pred_shelf_maskrcnn_hrnet_coco\.pkl: no key "
                                           r"'3_1' \(camera_frame\)"):
        Body3DMviewDirectShelfDataset(data_root=str(shelf_root), frame_range=[(0, 2)])
    dets['3_1'] = [{'pred': np.zeros((14, 3))}]
    pickle.dump(dict(dets), open(path, 'wb'))
    with pytest.raises(DatasetError, match=r"\['3_1'\]\[0\]\['pred'\] has shape \(14, 3\), "
                                           r'expected \(17, 3\)'):
        Body3DMviewDirectShelfDataset(data_root=str(shelf_root), frame_range=[(0, 2)])
    with pytest.raises(DatasetError, match=r'actorsGT\.mat: frame 300 of frame_range is '
                                           'outside the 3 frames'):
        Body3DMviewDirectShelfDataset(data_root=str(shelf_root))  # default 300..600
    (shelf_root / 'calibration_shelf.json').unlink()
    with pytest.raises(DatasetError, match=r'calibration_shelf\.json: shelf calibration file '
                                           'not found'):
        Body3DMviewDirectShelfDataset(data_root=str(shelf_root), frame_range=[0])


def test_published_frame_ranges():
    shelf = Body3DMviewDirectShelfDataset(data_root='/x', lazy_init=True)
    assert shelf.frames[0] == 300 and shelf.frames[-1] == 600 and len(shelf.frames) == 301
    campus = Body3DMviewDirectCampusDataset(data_root='/x', lazy_init=True)
    assert campus.frames == list(range(350, 471)) + list(range(650, 751))
    with pytest.raises(ValueError, match='frames listed twice'):
        Body3DMviewDirectCampusDataset(data_root='/x', frame_range=[(1, 5), 3], lazy_init=True)
