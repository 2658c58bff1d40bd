"""The mmengine metrics driven through ``process`` / ``compute_metrics``."""
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from virtualpose_mm.datasets.io import load_actors_gt
from virtualpose_mm.datasets.joint_sets import mupots17_to_virtualpose17
from virtualpose_mm.evaluation import (MuPoTSPCKMetric, PanopticAPMetric,
                                       ShelfCampusPCPMetric)
from virtualpose_mm.evaluation.functional import load_mupots_predictions
from virtualpose_mm.registry import METRICS

DATA = Path(__file__).resolve().parents[2] / 'data'


def _sample(metainfo, pred=None, gt=None, as_dict=False):
    ds = PoseDataSample(metainfo=metainfo)
    ds.pred_instances = InstanceData(**pred)
    if gt is not None:
        ds.gt_instances = InstanceData(**gt)
    return ds.to_dict() if as_dict else ds


def test_registered():
    for name in ('PanopticAPMetric', 'ShelfCampusPCPMetric', 'MuPoTSPCKMetric'):
        assert METRICS.get(name) is not None
    m = METRICS.build(dict(type='ShelfCampusPCPMetric', dataset='campus'))
    assert m.prefix == 'campus'


# ----------------------------------------------------------------------------- Panoptic
def _panoptic_samples(perfect=True):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(4):
        gt = rng.uniform(-300, 300, (2, 15, 3)) + np.array([[[0, 0, 900]], [[2000, 0, 900]]])
        pred = gt[::-1].copy() if perfect else gt[:1] + 80.0
        samples.append(_sample(
            dict(sample_idx=i),
            pred=dict(keypoints=torch.from_numpy(pred), bbox_scores=torch.rand(len(pred)),
                      keypoint_scores=torch.ones(len(pred), 15)),
            gt=dict(lifting_target=torch.from_numpy(gt),
                    lifting_target_visible=np.ones((2, 15))),
            as_dict=bool(i % 2)))  # both PoseDataSample and to_dict() forms
    return samples


def test_panoptic_metric_perfect_and_degraded():
    m = PanopticAPMetric()
    m.process({}, _panoptic_samples())
    out = m.evaluate(4)
    assert set(out) >= {'panoptic/AP@25', 'panoptic/mAP', 'panoptic/Recall@500',
                        'panoptic/MPJPE@500'}
    assert out['panoptic/mAP'] == pytest.approx(1.0, abs=1e-5)
    assert out['panoptic/MPJPE@500'] == pytest.approx(0.0, abs=1e-9)
    m = PanopticAPMetric()
    m.process({}, _panoptic_samples(perfect=False))
    out = m.evaluate(4)
    # every joint off by 80 mm in x, y, z: MPJPE = 80·√3 = 138.6 mm, half the people found
    assert out['panoptic/MPJPE@500'] == pytest.approx(80 * np.sqrt(3))
    assert out['panoptic/Recall@500'] == pytest.approx(0.5)
    assert out['panoptic/AP@125'] == 0.0
    assert out['panoptic/AP@150'] == pytest.approx(0.5, abs=1e-4)


def test_panoptic_metric_needs_bbox_scores():
    s = _panoptic_samples()[0]
    del s.pred_instances.bbox_scores
    with pytest.raises(KeyError, match='bbox_scores'):
        PanopticAPMetric().process({}, [s])


# ----------------------------------------------------------------------------- Shelf / Campus
def _coco_from_shelf14(s14):
    """A COCO-17 pose whose Campus conversion gives back ``s14`` (head from ears)."""
    coco = np.zeros((17, 3))
    coco[[16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9]] = s14[:12]
    mid_sho = (s14[8] + s14[9]) / 2
    # campus: s12 = (mid_sho + ear) / 2, s13 = 2 * ear - s12  ->  ear = (s12 + s13) / 2
    ear = (s14[12] + s14[13]) / 2
    coco[3] = coco[4] = ear
    assert np.allclose((mid_sho + ear) / 2, s14[12])  # holds for poses built below
    return coco


def _campus_pose(x):
    base = np.array([
        [-100, 0, 80], [-100, 0, 500], [-100, 0, 900], [100, 0, 900], [100, 0, 500],
        [100, 0, 80], [-250, 0, 900], [-230, 0, 1150], [-200, 0, 1400], [200, 0, 1400],
        [230, 0, 1150], [250, 0, 900], [0, 0, 1500], [0, 0, 1700]], dtype=np.float64)
    base[12] = [0, 0, 1500]  # = (mid-shoulder 1400 + ear 1600) / 2
    base[13] = [0, 0, 1700]
    return base + [x, 0, 0]


def test_pcp_metric_gt_from_samples_with_empty_frame():
    poses = [_campus_pose(0), _campus_pose(1500)]
    samples = []
    for f in range(3):
        preds = np.stack([_coco_from_shelf14(p) for p in poses]) if f < 2 else \
            np.zeros((0, 17, 3))  # frame 2: nothing detected (the reference crashes)
        samples.append(_sample(
            dict(frame_id=f), pred=dict(keypoints=preds, bbox_scores=np.ones(len(preds))),
            gt=dict(lifting_target=np.stack(poses), actor_ids=np.array([0, 2])),
            as_dict=f == 1))
    m = ShelfCampusPCPMetric(dataset='campus', num_actors=3)
    m.process({}, samples)
    out = m.evaluate(3)
    assert out['campus/PCP_actor1'] == pytest.approx(2 / 3)
    assert out['campus/PCP_actor2'] == 0.0  # never present
    assert out['campus/PCP_actor3'] == pytest.approx(2 / 3)
    assert out['campus/PCP_avg'] == pytest.approx(4 / 9)
    assert out['campus/Recall@500'] == pytest.approx(2 / 3)
    assert out['campus/PCP_Torso'] == pytest.approx(4 / 9)


def test_pcp_metric_reads_actors_gt_file():
    path = str(DATA / 'shelf' / 'actorsGT.mat')
    gt = load_actors_gt(path)
    samples = []
    for f in range(gt.num_frames):
        poses, _ = gt.frame(f)
        samples.append(_sample(dict(frame_id=f),
                               pred=dict(keypoints=poses, bbox_scores=np.ones(len(poses)))))
    m = ShelfCampusPCPMetric(dataset='shelf', actors_gt_file=path)
    m.process({}, samples[::-1])  # any order: frames are sorted by frame_id
    out = m.evaluate(len(samples))
    present = gt.present.any(1)
    for a in range(gt.num_actors):
        want = 1.0 if present[a] else 0.0
        assert out[f'shelf/PCP_actor{a + 1}'] == pytest.approx(want, abs=1e-7)
    assert out['shelf/Recall@500'] == pytest.approx(1.0, abs=1e-7)
    with pytest.raises(KeyError, match='frame_id'):
        m.process({}, [_sample({}, pred=dict(keypoints=np.zeros((0, 14, 3))))])


# ----------------------------------------------------------------------------- MuPoTS
def _camera():
    ang = np.deg2rad(20.0)
    R = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1.0]])
    # world z up -> camera y down: rotate the axes too
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]) @ R
    return dict(R=R, t=np.array([100.0, 1200.0, 4000.0]), f=np.array([1500.0, 1500.0]),
                c=np.array([1024.0, 1024.0]))


def _to_world(cam, x_cam):
    return (x_cam - cam['t']) @ cam['R']


def test_mupots_metric_world_predictions(mupots_person, mupots_project):
    cam = _camera()
    samples = []
    for f in range(3):
        gts = np.stack([mupots_person([-700, 0, 4000], f), mupots_person([700, 0, 4300], f + 7)])
        preds_cam = gts.copy()
        preds_cam[1] += [0, 0, 200.0]  # person 1: right relative, wrong absolute
        if f == 2:
            preds_cam = preds_cam[:1]  # person 1 missed in frame 2
        # the model's own order and the world frame, as VirtualPose outputs it
        pred_world = mupots17_to_virtualpose17(_to_world(cam, preds_cam))
        samples.append(_sample(
            dict(img_path=f'/data/MultiPersonTestSet/TS2/img_{f:06d}.jpg', camera=cam),
            pred=dict(keypoints=torch.from_numpy(pred_world),
                      bbox_scores=torch.ones(len(pred_world))),
            gt=dict(mupots_annot2=mupots_project(gts), mupots_univ_annot3=gts),
            as_dict=f == 1))
    m = MuPoTSPCKMetric(per_sequence=True)
    m.process({}, samples)
    # results are plain picklable per-frame dicts (mmengine gathers them across ranks);
    # their order must not matter
    m.results = pickle.loads(pickle.dumps(m.results))[::-1]
    out = m.evaluate(3)
    assert out['mupots/all_relative/PCK'] == pytest.approx(100 * 5 / 6)
    assert out['mupots/matched_relative/PCK'] == pytest.approx(100.0)
    assert out['mupots/all_absolute/PCK'] == pytest.approx(100 * 3 / 6)
    assert out['mupots/matched_absolute/PCK'] == pytest.approx(100 * 3 / 5)
    assert out['mupots/all_relative/PCK_TS2'] == out['mupots/all_relative/PCK']
    assert out['mupots/matched_relative/AUC'] == pytest.approx(100 * 30 / 31)


def test_mupots_metric_needs_camera_for_world_frame(mupots_person):
    s = _sample(dict(seq_name='TS1', frame_id=0),
                pred=dict(keypoints=np.zeros((1, 17, 3)), bbox_scores=np.ones(1)))
    with pytest.raises(KeyError, match='camera'):
        MuPoTSPCKMetric().process({}, [s])


def test_mupots_metric_on_official_files_matches_golden(shared_data, tmp_path):
    """Golden scenario through the metric: GT from the real-layout annot.mat files,
    predictions fed as camera-frame samples, and the .mat export read back."""
    root = shared_data / 'golden' / 'mupots'
    golden = torch.load(root / 'mupots_pck.pt')
    scenario = 'missing_person'
    preds = load_mupots_predictions(str(root / 'predictions' / scenario))
    samples = []
    for k, (p2, p3) in preds.items():
        seq, frame = k.split('_img_')
        samples.append(_sample(
            dict(seq_name=seq, frame_id=int(frame)),
            pred=dict(keypoints=mupots17_to_virtualpose17(p3),
                      keypoints_2d=mupots17_to_virtualpose17(p2),
                      bbox_scores=np.ones(len(p3)))))
    m = MuPoTSPCKMetric(ann_root=str(root / 'MultiPersonTestSet'), pred_frame='camera',
                        outfile_prefix=str(tmp_path), per_sequence=True)
    m.process({}, samples)
    out = m.evaluate(len(samples))
    for mode, ref in golden['results'][scenario].items():
        assert out[f'mupots/{mode}/PCK'] == pytest.approx(ref['pck_total_seq_mean'], abs=1e-9)
        assert out[f'mupots/{mode}/AUC'] == pytest.approx(ref['auc_total_seq_mean'], abs=1e-9)
        assert out[f'mupots/{mode}/PCK_pooled'] == pytest.approx(float(ref['pooled_pck'][-1]),
                                                                 abs=1e-9)
        for s, seq in enumerate(('TS1', 'TS2', 'TS3')):
            assert out[f'mupots/{mode}/PCK_{seq}'] == pytest.approx(float(ref['pck'][s, -1]),
                                                                    abs=1e-9)
    back = load_mupots_predictions(str(tmp_path))
    assert sorted(back) == sorted(preds)
    for k in preds:
        np.testing.assert_array_equal(back[k][0], preds[k][0])
        np.testing.assert_array_equal(back[k][1], preds[k][1])
    assert os.path.getsize(tmp_path / 'preds_3d_kpt_mupots.mat') > 0
