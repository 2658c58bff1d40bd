"""Shelf / Campus PCP on hand-checked constructed cases."""
import numpy as np
import pytest

from virtualpose_mm.datasets.joint_sets import SHELF14_PCP_LIMBS
from virtualpose_mm.evaluation.functional import pcp_frame_parts, shelf_campus_pcp

# a Shelf-14 pose (mm, z up): r-ankle, r-knee, r-hip, l-hip, l-knee, l-ankle, r-wrist,
# r-elbow, r-shoulder, l-shoulder, l-elbow, l-wrist, bottom head, top head
SHELF_POSE = np.array([
    [-100, 0, 80], [-100, 0, 500], [-100, 0, 900], [100, 0, 900], [100, 0, 500],
    [100, 0, 80], [-250, 0, 900], [-230, 0, 1150], [-200, 0, 1400], [200, 0, 1400],
    [230, 0, 1150], [250, 0, 900], [0, 0, 1500], [0, 0, 1750]], dtype=np.float64)


def _scene(num_actors=3, num_frames=4):
    gt = np.stack([np.stack([SHELF_POSE + [1000.0 * a, 50.0 * f, 0] for f in range(num_frames)])
                   for a in range(num_actors)])
    return gt, np.ones((num_actors, num_frames), dtype=bool)


def test_perfect_predictions_score_one():
    gt, present = _scene()
    preds = [gt[::-1, f] for f in range(gt.shape[1])]  # any order
    res = shelf_campus_pcp(preds, gt, present)
    np.testing.assert_allclose(res['actor_pcp'], 1.0, atol=1e-8)
    assert res['avg_pcp'] == pytest.approx(1.0, abs=1e-8)
    assert res['recall'] == pytest.approx(1.0, abs=1e-8)
    for v in res['bone_pcp'].values():
        np.testing.assert_allclose(v, 1.0, atol=1e-8)
    assert res['empty_frames'] == 0


def test_frame_without_predictions_scores_misses():
    """The reference crashes on such a frame; here its actors count as misses."""
    gt, present = _scene(num_actors=2, num_frames=2)
    present[1, 1] = False
    preds = [gt[:, 0], np.zeros((0, 14, 3))]
    res = shelf_campus_pcp(preds, gt, present)
    # actor 0: perfect in frame 0, missed in frame 1; actor 1 only present in frame 0
    np.testing.assert_allclose(res['actor_pcp'], [0.5, 1.0], atol=1e-8)
    np.testing.assert_array_equal(res['total_parts'], [20, 10])
    assert res['total_gt'] == 3 and res['matched_gt'] == 2
    assert res['empty_frames'] == 1
    assert res['recall'] == pytest.approx(2 / 3)


def test_limb_rule_alpha_half():
    gt = SHELF_POSE
    length = np.linalg.norm(gt[0] - gt[1])  # r-lower-leg, 420 mm
    for shift, ok in ((0.999 * length, True), (1.001 * length, False)):
        pred = gt.copy()
        pred[0] += [shift, 0, 0]  # mean end error = shift / 2, limit 0.5 * length
        correct, _, _ = pcp_frame_parts(pred[None], gt)
        assert correct[0] == ok
        assert correct[1:].all()  # no other part uses joint 0


def test_torso_part_uses_mid_hip_and_bottom_head():
    gt = SHELF_POSE
    pred = gt.copy()
    pred[12] += [0, 0, 2000]  # bottom head far off: head limb and torso fail
    correct, _, _ = pcp_frame_parts(pred[None], gt)
    head = [j for j, (a, b) in enumerate(SHELF14_PCP_LIMBS) if 12 in (a, b)]
    assert head == [8]
    assert not correct[8] and not correct[9]
    assert correct[:8].all()


def test_nearest_prediction_may_be_reused():
    gt, present = _scene(num_actors=2, num_frames=1)
    preds = [gt[:1, 0]]  # only actor 0's pose: actor 1 matches it too (1 m away)
    res = shelf_campus_pcp(preds, gt, present)
    assert res['actor_pcp'][0] == pytest.approx(1.0, abs=1e-8)
    assert res['actor_pcp'][1] == 0.0
    assert res['matched_gt'] == 1  # 1000 mm > 500 mm


def test_average_covers_first_three_actors_and_bone_denominators():
    gt, present = _scene(num_actors=4, num_frames=2)
    preds = [gt[:3, f] for f in range(2)]  # actor 4 never predicted near
    res = shelf_campus_pcp(preds, gt, present)
    assert res['avg_pcp'] == pytest.approx(1.0, abs=1e-8)
    assert res['actor_pcp'][3] < 1.0
    # each bone group divides by total_parts / 10 * len(group): 2 frames x len(group)
    bc = res['bone_correct_parts']
    assert res['bone_pcp']['Upper arms'][0] == pytest.approx(bc[0, [5, 6]].sum() / 4)


def test_input_checks():
    gt, present = _scene(num_actors=1, num_frames=2)
    with pytest.raises(ValueError, match='prediction frames'):
        shelf_campus_pcp([gt[:, 0]], gt, present)
    with pytest.raises(ValueError, match=r'\(N, 14, 3\)'):
        shelf_campus_pcp([gt[:, 0], np.zeros((1, 17, 3))], gt, present)
