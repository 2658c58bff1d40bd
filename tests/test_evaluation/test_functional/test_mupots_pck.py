"""MuPoTS-3D 3DPCK (official evaluation) on hand-checked constructed cases."""
import numpy as np
import pytest

from virtualpose_mm.evaluation.functional import (compute_3d_pck, evaluate_mupots,
                                                  map_to_gt_bone_lengths, masked_error_table,
                                                  mupots_frame_errors, mupots_identity_matching,
                                                  parse_mode)

PERFECT_AUC = 100 * 30 / 31  # t = 0 never counts: 30 of the 31 thresholds pass


def _frame(gts, preds, project):
    gts = np.stack(gts)
    preds = np.stack(preds) if preds else np.zeros((0, 17, 3))
    return dict(gt_2d=project(gts), gt_3d=gts, pred_2d=project(preds) if len(preds) else
                np.zeros((0, 17, 2)), pred_3d=preds)


def test_parse_mode():
    assert parse_mode('all_relative') == (False, True)
    assert parse_mode('matched_absolute') == (True, False)
    with pytest.raises(ValueError, match='unknown MuPoTS mode'):
        parse_mode('all_rel')


def test_perfect_prediction(mupots_person, mupots_project):
    a, b = mupots_person([-700, 0, 4000], 1), mupots_person([700, 0, 4500], 2)
    frames = [_frame([a, b], [b, a], mupots_project)]  # order shuffled: matching must fix it
    out = evaluate_mupots([frames])
    for mode, r in out.items():
        assert r['pck'][0] == pytest.approx(np.full(9, 100.0)), mode
        assert r['auc'][0] == pytest.approx(np.full(9, PERFECT_AUC)), mode
        assert r['undetected_people'][0] == 0
        assert r['pck_total_seq_mean'] == pytest.approx(100.0)
        assert list(r['matching'][0][0]) == [1, 0]
        np.testing.assert_allclose(r['per_joint_error'][0], 0, atol=1e-9)


def test_shift_200mm_relative_right_absolute_wrong(mupots_person, mupots_project):
    gt = mupots_person([0, 0, 4000], 3)
    pred = gt + np.array([0.0, 0.0, 200.0])  # deeper: 2D moves a few px only
    out = evaluate_mupots([[_frame([gt], [pred], mupots_project)]])
    for people in ('all', 'matched'):
        rel, ab = out[f'{people}_relative'], out[f'{people}_absolute']
        assert rel['pck'][0, -1] == pytest.approx(100.0)
        assert ab['pck'][0, -1] == 0.0
        # every absolute error is exactly the 200 mm offset (root kept, bones restored)
        np.testing.assert_allclose(ab['per_joint_error'][0], 200.0, rtol=1e-12)
        # 200 mm is above every AUC threshold (0..150)
        assert ab['auc'][0, -1] == 0.0


def test_missed_person_lowers_all_not_matched(mupots_person, mupots_project):
    a, b = mupots_person([-700, 0, 4000], 4), mupots_person([700, 0, 4000], 5)
    out = evaluate_mupots([[_frame([a, b], [a], mupots_project)]])
    assert out['all_relative']['pck'][0, -1] == pytest.approx(50.0)
    assert out['matched_relative']['pck'][0, -1] == pytest.approx(100.0)
    assert out['all_absolute']['undetected_people'][0] == 1
    assert out['all_relative']['per_joint_error'][0].shape == (2, 17)
    assert out['matched_relative']['per_joint_error'][0].shape == (1, 17)
    # the unmatched row is the error of a prediction at 100000 in every coordinate
    row = out['all_absolute']['per_joint_error'][0][1]
    np.testing.assert_allclose(row, np.linalg.norm(1e5 - b, axis=-1))


def test_frame_without_valid_gt_is_skipped(mupots_person, mupots_project):
    a = mupots_person([0, 0, 4000])
    frames = [dict(gt_2d=np.zeros((0, 17, 2)), gt_3d=np.zeros((0, 17, 3)), pred_2d=None,
                   pred_3d=None),
              _frame([a], [a], mupots_project)]
    r = evaluate_mupots([frames], modes=['all_relative'])['all_relative']
    assert r['matching'][0][0] is None
    assert r['annotated_people'][0] == 1
    # a frame with GT but no prediction arrays at all is an error, not a silent skip
    frames[0] = dict(_frame([a], [], mupots_project), pred_2d=None)
    with pytest.raises(ValueError, match='no predictions'):
        evaluate_mupots([frames], modes=['all_relative'])


def test_matching_rules(mupots_person, mupots_project):
    gt = mupots_person([0, 0, 4000])
    g2 = np.round(mupots_project(gt))[None]  # integer pixels: exact differences below
    # strict 40 px box: a prediction 40 px away on every joint does not match, 39.9 does
    assert mupots_identity_matching(g2, g2 + [40.0, 0.0])[0] == -1
    assert mupots_identity_matching(g2, g2 + [39.9, 0.0])[0] == 0
    # (0, 0) joints are invisible: only one matching joint left still matches
    p = np.zeros_like(g2)
    p[0, 9] = g2[0, 9]
    assert mupots_identity_matching(g2, p)[0] == 0
    # ... and an invisible (0, 0) prediction joint never matches, even a GT joint near (0, 0)
    g_corner = g2.copy()
    g_corner[0, 3] = [10.0, 10.0]
    p = g2 + 100.0
    p[0, 3] = [0.0, 0.0]
    assert mupots_identity_matching(g_corner, p)[0] == -1
    p[0, 3] = [0.5, 0.0]  # visible now, and inside the box
    assert mupots_identity_matching(g_corner, p)[0] == 0
    # the non-matching joints (Head_top, Pelvis, Spine, Head) never count
    p = g2 + 100.0
    p[0, [0, 14, 15, 16]] = g2[0, [0, 14, 15, 16]]
    assert mupots_identity_matching(g2, p)[0] == -1
    # equal scores: the lowest prediction index wins
    assert mupots_identity_matching(g2, np.concatenate([g2 + 3.0, g2]))[0] == 0
    # higher score wins over order
    worse = g2.copy()
    worse[0, 1:7] += 100.0
    assert mupots_identity_matching(g2, np.concatenate([worse, g2]))[0] == 1
    # greedy: the first GT takes a shared prediction, the second is left unmatched
    two = np.concatenate([g2, g2 + 5.0])
    assert list(mupots_identity_matching(two, g2 + 5.0)) == [0, -1]


def test_bone_length_transfer(mupots_person):
    gt = mupots_person([0, 0, 0], 6)
    # a scaled prediction (about its root) keeps its directions: the transfer undoes it
    pred = gt[14] + 1.3 * (gt - gt[14])
    np.testing.assert_allclose(map_to_gt_bone_lengths(pred, gt), gt, atol=1e-9)
    # the root never moves, and the anchor is the *new* parent: shifting only the
    # predicted Thorax changes Spine→Thorax and every child direction of the Thorax
    pred = gt.copy()
    pred[1] += [0.0, 0.0, 100.0]
    out = map_to_gt_bone_lengths(pred, gt)
    np.testing.assert_array_equal(out[14], gt[14])
    bone = out[1] - out[15]
    assert np.linalg.norm(bone) == pytest.approx(np.linalg.norm(gt[1] - gt[15]))
    d = pred[1] - pred[15]
    np.testing.assert_allclose(bone / np.linalg.norm(bone), d / np.linalg.norm(d))
    # Head_top hangs off the Thorax (not off Head)
    np.testing.assert_allclose(np.linalg.norm(out[0] - out[1]), np.linalg.norm(gt[0] - gt[1]))


def test_relative_mode_subtracts_each_root(mupots_person, mupots_project):
    gt = mupots_person([0, 0, 4000], 7)
    pred = gt + [30.0, 0.0, 0.0]
    g2 = mupots_project(gt)[None]
    _, e_rel = mupots_frame_errors(g2, gt[None], g2, pred[None], is_relative=True)
    _, e_abs = mupots_frame_errors(g2, gt[None], g2, pred[None], is_relative=False)
    np.testing.assert_allclose(e_rel, 0, atol=1e-9)
    np.testing.assert_allclose(e_abs, 30.0)


def test_compute_3d_pck_by_hand():
    # 2 rows; head errors 10 and 160, every other joint 149.9 (passes 150, strict <)
    e = np.full((2, 17), 149.9)
    e[:, 0] = [10.0, 160.0]
    pck, auc = compute_3d_pck(e)
    assert pck[0] == pytest.approx(50.0)  # Head
    assert pck[1:8] == pytest.approx(np.full(7, 100.0))
    assert pck[8] == pytest.approx(100 * 27 / 28)  # Total over 14 joints x 2 rows
    # AUC of the Head group: row 0 passes thresholds 15..150 (28 of 31), row 1 none
    assert auc[0] == pytest.approx(100 * 28 / 62)
    # other groups pass only at t = 150 (1 of 31)
    assert auc[1] == pytest.approx(100 / 31)
    # Pelvis, Spine, Head centre are never scored
    e2 = e.copy()
    e2[:, 14:] = 1e6
    np.testing.assert_array_equal(compute_3d_pck(e2)[0], pck)
    # no rows: NaN, not an exception
    assert np.isnan(compute_3d_pck(np.zeros((0, 17)))[0]).all()


def test_masked_error_table():
    e = np.array([[100.0] * 17, [200.0] * 17])
    e[0, 3] = np.nan  # counts as 160 mm
    mask = np.ones((2, 17))
    mask[1, :] = 0
    t = masked_error_table(e, mask)
    assert t['joint_count'] == 14
    assert t['mpjpe'][0] == pytest.approx(100.0)
    assert t['mpjpe'][3] == pytest.approx(160.0)
    assert t['pck_fraction'][3] == 0.0  # 160 > 150
    assert t['pck_fraction_total'] == pytest.approx(13 / 14)
