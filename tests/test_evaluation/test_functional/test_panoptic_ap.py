"""VoxelPose Panoptic AP / recall / MPJPE on hand-checked constructed cases."""
import numpy as np
import pytest

from virtualpose_mm.evaluation.functional import (eval_list_to_ap, panoptic_ap_metrics,
                                                  panoptic_frame_eval)


def _pose(x, seed):
    return np.random.default_rng(seed).uniform(-300, 300, (15, 3)) + [x, 0, 1000]


def _frames(n_frames=3, people=2):
    frames = []
    for f in range(n_frames):
        gt = np.stack([_pose(2000 * p, 10 * f + p) for p in range(people)])
        frames.append(dict(gt=gt, gt_visible=np.ones(gt.shape[:2]), pred=gt[::-1].copy(),
                           scores=np.linspace(0.9, 0.5, people)))
    return frames


def test_perfect_predictions():
    res = panoptic_ap_metrics(_frames())
    # VoxelPose's 1e-5 terms keep AP and recall a hair below 1
    np.testing.assert_allclose(res['aps'], 1.0, atol=1e-5)
    np.testing.assert_allclose(res['recalls'], 1.0, atol=1e-5)
    assert res['mAP'] == pytest.approx(1.0, abs=1e-5)
    assert res['recall'] == 1.0
    assert res['mpjpe'] == pytest.approx(0.0, abs=1e-9)
    assert res['total_gt'] == 6


def test_ap_by_hand():
    # 2 GT; ranked: TP, FP, TP -> recall .5 .5 1, precision 1 .5 .667 -> monotone 1 .667 .667
    ap, rec = eval_list_to_ap(mpjpe=[10.0, 200.0, 20.0], score=[0.9, 0.8, 0.7], gt_id=[0, 1, 1],
                              total_gt=2, threshold=25)
    assert ap == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3, abs=1e-4)
    assert rec == pytest.approx(1.0, abs=1e-4)
    # a second prediction of an already taken GT is a false positive
    ap2, rec2 = eval_list_to_ap([10.0, 5.0], [0.9, 0.8], [0, 0], 2, 25)
    assert rec2 == pytest.approx(0.5, abs=1e-4)
    assert ap2 == pytest.approx(0.5, abs=1e-4)


def test_score_ties_keep_list_order():
    # equal scores: the first listed (bad) duplicate is ranked first and becomes the FP
    ap_bad_first, _ = eval_list_to_ap([100.0, 10.0], [0.5, 0.5], [0, 0], 1, 25)
    ap_good_first, _ = eval_list_to_ap([10.0, 100.0], [0.5, 0.5], [0, 0], 1, 25)
    assert ap_good_first == pytest.approx(1.0, abs=1e-4)
    assert ap_bad_first == pytest.approx(0.5, abs=1e-4)


def test_mpjpe_uses_visible_joints_only():
    gt = _pose(0, 1)[None]
    vis = np.ones((1, 15))
    vis[0, 4] = 0
    pred = gt.copy()
    pred[0, 4] += 5000.0  # wrong only where the GT joint is invisible
    pred[0, 0, 0] += 30.0
    r = panoptic_frame_eval(pred, [0.9], gt, vis)
    assert r['mpjpe'][0] == pytest.approx(30.0 / 14)
    # (n, K, 3) visibility (the reference layout) works the same
    r3 = panoptic_frame_eval(pred, [0.9], gt, np.repeat(vis[..., None], 3, -1))
    assert r3['mpjpe'][0] == r['mpjpe'][0]


def test_recall500_not_one_to_one_and_mpjpe_one_to_one():
    frames = _frames(n_frames=1, people=2)
    gt = frames[0]['gt']
    frames[0]['pred'] = np.stack([gt[0] + 10.0, gt[0] + 40.0])  # both near GT 0
    frames[0]['scores'] = np.array([0.5, 0.9])
    res = panoptic_ap_metrics(frames)
    assert res['recall'] == pytest.approx(0.5)
    # one-to-one: the higher-scored (+40 mm) takes GT 0, the other is not counted
    assert res['mpjpe'] == pytest.approx(40.0 * np.sqrt(3))
    np.testing.assert_array_equal(res['eval_list']['gt_id'], [0, 0])


def test_frames_without_gt_are_skipped_and_gt_ids_are_global():
    frames = _frames(n_frames=2, people=2)
    frames.insert(1, dict(gt=np.zeros((0, 15, 3)), gt_visible=np.zeros((0, 15)),
                          pred=_frames(1, 1)[0]['pred'], scores=np.array([0.99])))
    res = panoptic_ap_metrics(frames)
    assert res['total_gt'] == 4
    assert len(res['eval_list']['mpjpe']) == 4  # the skipped frame's prediction is ignored
    np.testing.assert_array_equal(res['eval_list']['gt_id'], [1, 0, 3, 2])


def test_no_predictions():
    frames = _frames(n_frames=1)
    frames[0]['pred'] = np.zeros((0, 15, 3))
    frames[0]['scores'] = np.zeros(0)
    res = panoptic_ap_metrics(frames)
    np.testing.assert_array_equal(res['aps'], 0.0)
    assert res['recall'] == 0.0 and res['mpjpe'] == float('inf')


def test_merge_frame_evals_gives_global_gt_ids_and_keeps_extra_columns():
    from virtualpose_mm.evaluation.functional import greedy_matches, merge_frame_evals
    frames = [dict(mpjpe=[10.0, 20.0], score=[0.9, 0.8], gt_index=[1, -1], num_gt=2,
                   err=[[1, 2, 3], [4, 5, 6]]),
              dict(mpjpe=[], score=[], gt_index=[], num_gt=1, err=np.zeros((0, 3))),
              dict(mpjpe=[30.0], score=[0.7], gt_index=[0], num_gt=1, err=[[7, 8, 9]])]
    ev = merge_frame_evals(frames, extra={'err': (3, )})
    np.testing.assert_array_equal(ev['gt_id'], [1, -1, 3])  # 2 + 1 GT people before frame 3
    assert ev['total_gt'] == 4 and ev['err'].shape == (3, 3) and ev['gt_id'].dtype == np.int64
    empty = merge_frame_evals([], extra={'err': (3, )})
    assert empty['err'].shape == (0, 3) and empty['total_gt'] == 0
    # id −1 (no GT) never matches; one GT is matched once, by the higher score
    np.testing.assert_array_equal(
        greedy_matches([10.0, 5.0, 1.0, 2.0], [0.5, 0.9, 0.7, 0.1], [0, 0, -1, 1], 500.0),
        [False, True, False, True])
