"""PanopticMonoMetric on hand-built cases whose answers are known exactly."""
import numpy as np
import pytest
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

import virtualpose_mm  # noqa: F401
from virtualpose_mm.datasets.datasets.virtual.virtual_cameras import look_rotation
from virtualpose_mm.evaluation.functional.panoptic_ap import eval_list_to_mpjpe
from virtualpose_mm.evaluation.metrics import PanopticMonoMetric
from virtualpose_mm.evaluation.metrics.panoptic_mono_metric import greedy_matches
from virtualpose_mm.geometry.camera import Camera

R = look_rotation(90.0, 10.0, 0.0)          # looking along world +y
CAM = Camera(R, -R @ np.array([0.0, -4000.0, 1500.0]), [1400, 1400], [960, 540], None,
             [1920, 1080])


def _pose(rng, x, y):
    p = rng.normal(size=(15, 3)) * 150
    p[:, 2] += 1000
    p[2] = [0, 0, 900]
    p[:, 0] += x
    p[:, 1] += y
    return p


def _sample(idx, seq, gt, pred, scores, vis=None):
    ds = PoseDataSample(metainfo=dict(sample_idx=idx, seq_name=seq, camera=CAM.to_dict()))
    g = InstanceData()
    g.lifting_target = np.asarray(gt, np.float64).reshape(-1, 15, 3)
    g.lifting_target_visible = np.ones(g.lifting_target.shape[:2]) if vis is None else vis
    ds.gt_instances = g
    p = InstanceData()
    p.keypoints = np.asarray(pred, np.float64).reshape(-1, 15, 3)
    p.bbox_scores = np.asarray(scores, np.float64).reshape(-1)
    ds.pred_instances = p
    return ds.to_dict()


def _frames(seed=0):
    rng = np.random.default_rng(seed)
    return [(f'16042{i}_haggling1' if i < 2 else '160906_pizza1',
             np.stack([_pose(rng, -800, 1000 * i), _pose(rng, 800, 500)])) for i in range(4)]


def _run(metric, samples):
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_perfect_predictions():
    samples = [_sample(i, s, g, g, [0.9, 0.8]) for i, (s, g) in enumerate(_frames())]
    m = _run(PanopticMonoMetric(), samples)
    for k in ('MPJPE', 'MPJPE_aligned', 'MRPE', 'MRPE_x', 'MRPE_y', 'MRPE_z'):
        assert m[k] == pytest.approx(0.0, abs=1e-9), k
    assert m['Recall@500'] == pytest.approx(1.0)
    for t in (50, 100, 150, 200, 250, 300):
        assert m[f'AP@{t}'] == pytest.approx(1.0, abs=1e-4)
    assert m['num_gt'] == 8 and m['num_matched'] == 8
    assert m['haggling/num_gt'] == 4 and m['pizza/num_gt'] == 4
    assert m['pizza/MPJPE'] == pytest.approx(0.0, abs=1e-9)


def test_a_100mm_root_shift_is_all_mrpe():
    shift = 100.0 * CAM.R[2]                  # 100 mm along the optical axis (depth)
    samples = [_sample(i, s, g, g + shift, [0.9, 0.8]) for i, (s, g) in enumerate(_frames())]
    m = _run(PanopticMonoMetric(), samples)
    assert m['MRPE'] == pytest.approx(100.0)
    assert m['MRPE_z'] == pytest.approx(100.0)
    assert m['MRPE_x'] == pytest.approx(0.0, abs=1e-9)
    assert m['MRPE_y'] == pytest.approx(0.0, abs=1e-9)
    assert m['MPJPE'] == pytest.approx(100.0)
    assert m['MPJPE_aligned'] == pytest.approx(0.0, abs=1e-9)
    assert m['AP@50'] == 0.0 and m['AP@150'] == pytest.approx(1.0, abs=1e-4)
    # a shift along world x is camera x (the camera looks along world +y)
    samples = [_sample(i, s, g, g + [100.0, 0, 0], [0.9, 0.8])
               for i, (s, g) in enumerate(_frames())]
    m = _run(PanopticMonoMetric(), samples)
    assert m['MRPE_x'] == pytest.approx(100.0) and m['MRPE_z'] == pytest.approx(0, abs=1e-9)


def test_a_missed_person_lowers_recall_but_not_the_errors():
    frames = _frames()
    samples = [_sample(i, s, g, g[:1] if i == 0 else g, [0.9] if i == 0 else [0.9, 0.8])
               for i, (s, g) in enumerate(frames)]
    m = _run(PanopticMonoMetric(), samples)
    assert m['Recall@500'] == pytest.approx(7 / 8)
    assert m['MPJPE'] == pytest.approx(0.0, abs=1e-9)
    assert m['AP@100'] == pytest.approx(7 / 8, abs=1e-4)
    assert m['haggling/Recall@500'] == pytest.approx(3 / 4)
    assert m['pizza/Recall@500'] == pytest.approx(1.0)


def test_greedy_matching_by_score_and_false_positives():
    frames = _frames()
    s, g = frames[0]
    # a duplicate of person 0, 300 mm off and ranked first, takes person 0; the exact one
    # comes second and is a false positive; person 1 is found.
    pred = np.stack([g[0] + [300.0, 0, 0], g[0], g[1]])
    m = _run(PanopticMonoMetric(group_by=None, ap_thresholds=(200, 400)),
             [_sample(0, s, g, pred, [0.95, 0.9, 0.5])])
    assert m['MPJPE'] == pytest.approx(150.0)        # (300 + 0) / 2
    assert m['Recall@500'] == pytest.approx(1.0)
    assert m['num_matched'] == 2
    # t = 400: tp, fp, tp → precision 1, 1/2, 2/3 → AP = 1/2·1 + 1/2·2/3
    assert m['AP@400'] == pytest.approx(5 / 6, abs=1e-4)
    # t = 200: the duplicate is no match, so fp, tp, tp → AP = 2/3
    assert m['AP@200'] == pytest.approx(2 / 3, abs=1e-4)
    # beyond 500 mm nothing matches
    far = _run(PanopticMonoMetric(), [_sample(0, s, g, g + [600.0, 0, 0], [0.9, 0.8])])
    assert far['Recall@500'] == 0 and far['MPJPE'] == float('inf')
    # a prediction in a frame without GT is a false positive (count_empty_frames)
    empty = _sample(1, 'x', np.zeros((0, 15, 3)), g[:1], [0.99])
    m1 = _run(PanopticMonoMetric(), [_sample(0, s, g, g, [0.9, 0.8]), empty])
    m2 = _run(PanopticMonoMetric(count_empty_frames=False),
              [_sample(0, s, g, g, [0.9, 0.8]), empty])
    assert m1['AP@100'] < 0.9 and m2['AP@100'] == pytest.approx(1.0, abs=1e-4)


def test_greedy_matches_agree_with_the_panoptic_ap_rule():
    rng = np.random.default_rng(1)
    mpjpe = rng.uniform(0, 800, 50)
    score = rng.choice([0.1, 0.5, 0.9], 50)
    gid = rng.integers(0, 20, 50)
    tp = greedy_matches(mpjpe, score, gid, 500.0)
    assert np.mean(mpjpe[tp]) == pytest.approx(eval_list_to_mpjpe(mpjpe, score, gid, 500.0))
    assert len(set(gid[tp])) == tp.sum()


def test_visibility_and_results_are_order_independent():
    frames = _frames()
    s, g = frames[0]
    vis = np.ones((2, 15))
    vis[0, 5] = 0
    pred = g.copy()
    pred[0, 5] += 1000.0                    # an invisible joint: does not count
    m = _run(PanopticMonoMetric(), [_sample(0, s, g, pred, [0.9, 0.8], vis)])
    assert m['MPJPE'] == pytest.approx(0.0, abs=1e-9)
    samples = [_sample(i, s_, g_, g_ + i * 10.0, [0.9, 0.8]) for i, (s_, g_) in
               enumerate(frames)]
    a = _run(PanopticMonoMetric(), samples)
    b = _run(PanopticMonoMetric(), samples[::-1])   # e.g. gathered from two ranks
    assert a == b


def test_missing_inputs_are_named():
    s, g = _frames()[0]
    d = _sample(0, s, g, g, [0.9, 0.8])
    del d['pred_instances']['bbox_scores']
    with pytest.raises(KeyError, match='bbox_scores'):
        PanopticMonoMetric().process({}, [d])
    d = _sample(0, s, g, g, [0.9, 0.8])
    del d['camera']
    with pytest.raises(KeyError, match='camera'):
        PanopticMonoMetric().process({}, [d])
