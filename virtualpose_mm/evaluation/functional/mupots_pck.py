"""MuPoTS-3D multi-person 3DPCK, exactly as the official MATLAB evaluation computes it.

Official code: ``mpii_mupots_multiperson_eval.m`` (3DMPPE PoseNet release) with the
MPI-INF-3DHP ``util`` helpers. All joint indices here are 0-based in the official MuPoTS
order (:data:`~virtualpose_mm.datasets.joint_sets.MUPOTS17`); the official arrays are the
transposes (2×17, 3×17) of ours ((17, 2), (17, 3)).

Per sequence and per frame:

1. Only GT people with ``isValidFrame`` count (``annotated``); a frame without any is
   skipped and its predictions are never read.
2. **Matching** (greedy, 2D, in every mode): GT people in increasing index each take the
   not-yet-used prediction with the most of the 13 matching joints (Thorax … L_Ankle)
   inside a strict 40 px box (``|dx| < 40`` and ``|dy| < 40``), counting only joints the
   prediction has (a predicted 2D joint at exactly (0, 0) is invisible). Ties go to the
   lowest prediction index; a score of 0 leaves the GT unmatched (``undetected``).
3. The GT 3D is ``univ_annot3`` (minus its Pelvis when relative); the prediction minus
   its own Pelvis when relative.
4. A matched prediction is rebuilt with the GT bone lengths along the official traversal
   order (:func:`map_to_gt_bone_lengths`); an unmatched GT gets a prediction of 100000 in
   every coordinate (kept in ``eval_mode`` "all", dropped in "matched").
5. Per-joint Euclidean errors (17 joints) form the rows of the sequence.

PCK (strict ``< 150`` mm) and AUC (mean PCK over 0, 5, …, 150 mm: 31 thresholds including
0) are computed per sequence over 14 joints in 8 groups (:func:`compute_3d_pck`). The code
gives no cross-sequence number; papers report the mean of the per-sequence totals
(``*_seq_mean`` here). ``pooled_*`` applies the same PCK to all rows of all sequences.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ...datasets.joint_sets import (MUPOTS17_MATCHING_JOINTS, MUPOTS17_PARENTS,
                                    MUPOTS17_PCK_GROUPS, MUPOTS17_TRAVERSAL)

__all__ = [
    'MUPOTS_MODES', 'MUPOTS_AUC_THRESHOLDS', 'MUPOTS_UNMATCHED_VALUE', 'MUPOTS_ROOT',
    'parse_mode', 'mupots_identity_matching', 'map_to_gt_bone_lengths', 'mupots_frame_errors',
    'mupots_sequence_errors', 'compute_3d_pck', 'mpjpe_table', 'masked_error_table',
    'evaluate_mupots', 'mupots_frames_from_arrays', 'mupots_pred_key',
]

MUPOTS_MODES = ('all_relative', 'matched_relative', 'all_absolute', 'matched_absolute')
MUPOTS_AUC_THRESHOLDS = tuple(range(0, 151, 5))
MUPOTS_UNMATCHED_VALUE = 100000.0
MUPOTS_ROOT = 14


def parse_mode(mode: str) -> Tuple[bool, bool]:
    """``'all_relative'`` → (matched_only=False, is_relative=True), etc."""
    try:
        people, frame = mode.split('_')
        if people not in ('all', 'matched') or frame not in ('relative', 'absolute'):
            raise ValueError
    except ValueError:
        raise ValueError(f'unknown MuPoTS mode {mode!r}; modes: {list(MUPOTS_MODES)}') from None
    return people == 'matched', frame == 'relative'


def mupots_pred_key(seq_name: str, frame: int) -> str:
    """Official prediction variable name, e.g. ``TS1_img_000000`` (0-based frame)."""
    return f'{seq_name}_img_{int(frame):06d}'


def mupots_identity_matching(gt_2d: np.ndarray, pred_2d: np.ndarray,
                             threshold: float = 40.0,
                             matching_joints: Sequence[int] = MUPOTS17_MATCHING_JOINTS
                             ) -> np.ndarray:
    """Greedy 2D identity matching (``mpii_multiperson_get_identity_matching``).

    Args:
        gt_2d: (G, 17, 2) GT 2D joints (pixels) of the valid GT people, in person order.
        pred_2d: (P, 17, 2) predicted 2D joints (pixels); (0, 0) marks an invisible joint.
        threshold: box half-size in pixels (strict ``<`` on both axes).
        matching_joints: joints used for matching.

    Returns:
        (G,) int64: index of the matched prediction, -1 if unmatched.
    """
    mj = list(matching_joints)
    g2 = np.asarray(gt_2d, dtype=np.float64)[:, mj]
    p2 = np.asarray(pred_2d, dtype=np.float64).reshape(-1, *np.shape(gt_2d)[1:])[:, mj]
    n_gt, n_pred = g2.shape[0], p2.shape[0]
    matching = np.full(n_gt, -1, dtype=np.int64)
    if n_pred == 0:
        return matching
    pred_vis = ~((p2[..., 0] == 0) & (p2[..., 1] == 0))  # (P, J)
    diff = np.abs(g2[:, None] - p2[None])  # (G, P, J, 2)
    inside = (diff[..., 0] < threshold) & (diff[..., 1] < threshold) & pred_vis[None]
    scores = inside.sum(-1)  # (G, P)
    used = np.zeros(n_pred, dtype=bool)
    for i in range(n_gt):
        s = np.where(used, 0, scores[i])
        j = int(np.argmax(s))  # first index on ties, like MATLAB max
        if s[j] > 0:
            matching[i] = j
            used[j] = True
    return matching


def map_to_gt_bone_lengths(pred: np.ndarray, gt: np.ndarray,
                           parents: Sequence[int] = MUPOTS17_PARENTS,
                           traversal: Sequence[int] = MUPOTS17_TRAVERSAL) -> np.ndarray:
    """Give ``pred`` the bone lengths of ``gt`` (``mpii_map_to_gt_bone_lengths``).

    ``new[j] = new[parent(j)] + d · |gt[j] − gt[parent(j)]| / |d|`` with
    ``d = pred[j] − pred[parent(j)]`` from the *original* prediction, joints processed in
    ``traversal`` order; joints not in ``traversal`` (the root) keep their position.

    Args:
        pred, gt: (17, 3) poses (mm).

    Returns:
        (17, 3) float64.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    out = pred.copy()
    for j in traversal:
        p = parents[j]
        length = np.linalg.norm(gt[j] - gt[p])
        d = pred[j] - pred[p]
        out[j] = out[p] + d * length / np.linalg.norm(d)
    return out


def mupots_frame_errors(gt_2d, gt_3d, pred_2d, pred_3d, is_relative: bool,
                        match_threshold: float = 40.0,
                        matching_joints: Sequence[int] = MUPOTS17_MATCHING_JOINTS,
                        parents: Sequence[int] = MUPOTS17_PARENTS,
                        traversal: Sequence[int] = MUPOTS17_TRAVERSAL,
                        root: int = MUPOTS_ROOT,
                        unmatched_value: float = MUPOTS_UNMATCHED_VALUE):
    """Matching and per-joint errors of one frame.

    Args:
        gt_2d: (G, 17, 2) ``annot2`` of the valid GT people (pixels).
        gt_3d: (G, 17, 3) ``univ_annot3`` of the valid GT people (camera frame, mm).
        pred_2d: (P, 17, 2) predicted 2D (pixels).
        pred_3d: (P, 17, 3) predicted 3D (camera frame, mm).
        is_relative: subtract each pose's own root (Pelvis) first.

    Returns:
        (matching (G,) int64 with -1 for unmatched, errors (G, 17) float64 mm; rows of
        unmatched GT are the errors of a prediction at ``unmatched_value`` everywhere).
    """
    gt_2d = np.asarray(gt_2d, dtype=np.float64)
    gt_3d = np.asarray(gt_3d, dtype=np.float64)
    n_j = gt_3d.shape[1]
    pred_2d = np.asarray(pred_2d, dtype=np.float64).reshape(-1, n_j, 2)
    pred_3d = np.asarray(pred_3d, dtype=np.float64).reshape(-1, n_j, 3)
    if pred_2d.shape[0] != pred_3d.shape[0]:
        raise ValueError(f'{pred_2d.shape[0]} 2D predictions but {pred_3d.shape[0]} 3D '
                         'predictions')
    matching = mupots_identity_matching(gt_2d, pred_2d, match_threshold, matching_joints)
    if is_relative:
        pred_3d = pred_3d - pred_3d[:, root:root + 1]
        gt_3d = gt_3d - gt_3d[:, root:root + 1]
    errors = np.empty(gt_3d.shape[:2])
    for k in range(gt_3d.shape[0]):
        P = gt_3d[k]
        if matching[k] >= 0:
            pred_p = map_to_gt_bone_lengths(pred_3d[matching[k]], P, parents, traversal)
        else:
            pred_p = np.full_like(P, unmatched_value)
        errors[k] = np.sqrt(np.sum((pred_p - P)**2, axis=-1))
    return matching, errors


def mupots_sequence_errors(frames: Iterable[dict], is_relative: bool, matched_only: bool,
                           **kwargs) -> dict:
    """Evaluate the frames of one sequence.

    Args:
        frames: in frame order, dicts with ``gt_2d`` (G, 17, 2), ``gt_3d`` (G, 17, 3)
            (valid GT people only, in person order), optional ``occlusion`` (G, 17)
            (1 = occluded), ``pred_2d`` (P, 17, 2) and ``pred_3d`` (P, 17, 3). A frame
            with G = 0 is skipped (its predictions may be absent: ``None``).
        is_relative: root-relative evaluation.
        matched_only: ``eval_mode`` 1 (drop unmatched GT rows).
        **kwargs: forwarded to :func:`mupots_frame_errors`.

    Returns:
        dict with ``per_joint_error`` (N, 17), ``visibility_mask`` / ``occlusion_mask``
        (N, 17) (NaN-free; zeros where no occlusion labels were given), ``undetected`` and
        ``annotated`` (ints), ``matching`` (per frame: (G,) int64 with -1 for unmatched, or
        None for a skipped frame).
    """
    rows, vis_rows, occ_rows, matchings = [], [], [], []
    undetected = annotated = 0
    for fr in frames:
        gt_3d = np.asarray(fr['gt_3d'], dtype=np.float64)
        n_gt = gt_3d.shape[0] if gt_3d.ndim == 3 else 0
        annotated += n_gt
        if n_gt == 0:
            matchings.append(None)
            continue
        if fr.get('pred_2d') is None or fr.get('pred_3d') is None:
            raise ValueError(f'frame {fr.get("key", "?")}: has {n_gt} valid GT people but no '
                             'predictions (give empty (0, 17, 2) / (0, 17, 3) arrays for '
                             'a frame without detections)')
        matching, err = mupots_frame_errors(fr['gt_2d'], gt_3d, fr['pred_2d'], fr['pred_3d'],
                                            is_relative, **kwargs)
        occ = fr.get('occlusion')
        occ = np.zeros(gt_3d.shape[:2]) if occ is None else \
            np.asarray(occ, dtype=np.float64).reshape(gt_3d.shape[:2])
        undetected += int(np.sum(matching < 0))
        matchings.append(matching)
        keep = matching >= 0 if matched_only else np.ones(n_gt, dtype=bool)
        rows.append(err[keep])
        occ_rows.append(occ[keep])
        vis_rows.append(1 - occ[keep])
    n_j = 17
    cat = (lambda xs: np.concatenate(xs, axis=0) if xs else np.zeros((0, n_j)))
    return dict(per_joint_error=cat(rows), visibility_mask=cat(vis_rows),
                occlusion_mask=cat(occ_rows), undetected=undetected, annotated=annotated,
                matching=matchings)


def compute_3d_pck(errors: np.ndarray,
                   groups: Sequence[Tuple[str, Sequence[int]]] = MUPOTS17_PCK_GROUPS,
                   pck_threshold: float = 150.0,
                   auc_thresholds: Sequence[float] = MUPOTS_AUC_THRESHOLDS):
    """PCK and AUC per joint group and in total (``mpii_compute_3d_pck``), in percent.

    Args:
        errors: (N, J) per-joint errors (mm), one row per evaluated person.
        groups: (name, joint indices) pairs; the total is the joint-count-weighted mean.
        pck_threshold: PCK threshold (mm), strict ``<``.
        auc_thresholds: thresholds (mm) of the PCK curve whose mean is the AUC.

    Returns:
        (pck (G+1,), auc (G+1,)), the last entry the total. NaN when N = 0.
    """
    e = np.asarray(errors, dtype=np.float64)
    nf = e.shape[0]
    th = np.asarray(auc_thresholds, dtype=np.float64)
    ng = len(groups)
    pck = np.zeros(ng + 1)
    auc = np.zeros(ng + 1)
    curve_total = np.zeros(len(th))
    pck_total = 0.0
    joint_count = 0
    with np.errstate(invalid='ignore', divide='ignore'):
        for j, (_, idx) in enumerate(groups):
            idx = list(idx)
            sub = e[:, idx]  # (N, g)
            denom = len(idx) * nf
            counts = np.array([np.sum(sub < t) for t in th], dtype=np.float64)
            curve = counts / np.float64(denom)
            joint_count += len(idx)
            curve_total = curve_total + curve * len(idx)
            auc[j] = 100 * np.sum(curve) / len(th)
            pck[j] = 100 * np.float64(np.sum(sub < pck_threshold)) / np.float64(denom)
            pck_total = pck_total + pck[j] * len(idx)
        pck[ng] = pck_total / joint_count
        curve_total = curve_total / joint_count
        auc[ng] = 100 * np.sum(curve_total) / len(th)
    return pck, auc


def mpjpe_table(errors: np.ndarray):
    """Per-joint mean error (J,) and its mean (the "Average" column), mm (NaN for N = 0)."""
    e = np.asarray(errors, dtype=np.float64)
    with np.errstate(invalid='ignore'):
        if e.shape[0] == 0:
            per_joint = np.full(e.shape[1], np.nan)
        else:
            per_joint = np.mean(e, axis=0)
        return per_joint, float(np.mean(per_joint))


def masked_error_table(errors: np.ndarray, mask: np.ndarray, joints: Sequence[int] = range(14),
                       pck_threshold: float = 150.0) -> dict:
    """Visible / occluded joint table (``mpii_evaluate_multiperson_errors_visibility_mask``).

    NaN errors count as 160 mm; ``mask`` selects the entries. A joint is correct when its
    error is ≤ 150 mm here (the table counts ``> 150`` as wrong).

    Args:
        errors: (N, 17) per-joint errors (mm).
        mask: (N, 17) 1 where the entry counts (visible, or occluded), else 0.
        joints: the joints of the table (the 14 scored joints).

    Returns:
        dict with ``mpjpe`` (J,), ``mpjpe_total``, ``pck_fraction`` (J,),
        ``pck_fraction_total`` (fractions, not percent) and ``joint_count``.
    """
    joints = list(joints)
    e = np.asarray(errors, dtype=np.float64)[:, joints].copy()
    jm = np.asarray(mask, dtype=np.float64)[:, joints]
    e[np.isnan(e)] = 160.0
    masked = e * jm
    count = np.sum(jm, axis=0)
    wrong = np.sum(masked > pck_threshold, axis=0).astype(np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        out = dict(
            mpjpe=np.sum(masked, axis=0) / (count + 1e-28),
            mpjpe_total=np.float64(np.sum(masked)) / np.float64(np.sum(jm)),
            pck_fraction=1 - wrong / (count + 1e-25),
            pck_fraction_total=1 - np.float64(np.sum(wrong)) / np.float64(np.sum(jm)),
            joint_count=float(np.sum(jm)))
    return out


def evaluate_mupots(sequences: Sequence[Sequence[dict]],
                    modes: Sequence[str] = MUPOTS_MODES,
                    groups: Sequence[Tuple[str, Sequence[int]]] = MUPOTS17_PCK_GROUPS,
                    pck_threshold: float = 150.0,
                    auc_thresholds: Sequence[float] = MUPOTS_AUC_THRESHOLDS,
                    table_joints: Sequence[int] = range(14),
                    **kwargs) -> Dict[str, dict]:
    """The full official evaluation, in every requested mode.

    Args:
        sequences: one list of frames per sequence (see :func:`mupots_sequence_errors`).
        modes: any of :data:`MUPOTS_MODES`.
        groups, pck_threshold, auc_thresholds: see :func:`compute_3d_pck`.
        table_joints: joints of the visible/occluded tables.
        **kwargs: forwarded to :func:`mupots_frame_errors` (threshold, joints, tree, …).

    Returns:
        ``{mode: result}``; each result has, per sequence S: ``pck``, ``auc`` (S, G+1)
        percent; ``mpjpe`` (S, 17), ``mpjpe_average`` (S,); ``visible_joints`` and
        ``occluded_joints`` (dicts of (S, ...) arrays, see :func:`masked_error_table`);
        ``per_joint_error``, ``visibility_mask``, ``occlusion_mask`` (lists of (N_s, 17));
        ``undetected_people``, ``annotated_people`` (S,); ``matching`` (per sequence, per
        frame); and the derived ``pck_total_seq_mean``, ``auc_total_seq_mean`` (mean of
        the per-sequence totals), ``pooled_pck``, ``pooled_auc`` (G+1,).
    """
    sequences = [list(s) for s in sequences]
    out = {}
    for mode in modes:
        matched_only, is_relative = parse_mode(mode)
        per_seq = [mupots_sequence_errors(frames, is_relative, matched_only, **kwargs)
                   for frames in sequences]
        res = dict(pck=[], auc=[], mpjpe=[], mpjpe_average=[], per_joint_error=[],
                   visibility_mask=[], occlusion_mask=[], undetected_people=[],
                   annotated_people=[], matching=[])
        tables = {'visible_joints': [], 'occluded_joints': []}
        for s in per_seq:
            e = s['per_joint_error']
            pck, auc = compute_3d_pck(e, groups, pck_threshold, auc_thresholds)
            mp, mp_avg = mpjpe_table(e)
            res['pck'].append(pck)
            res['auc'].append(auc)
            res['mpjpe'].append(mp)
            res['mpjpe_average'].append(mp_avg)
            res['per_joint_error'].append(e)
            res['visibility_mask'].append(s['visibility_mask'])
            res['occlusion_mask'].append(s['occlusion_mask'])
            res['undetected_people'].append(s['undetected'])
            res['annotated_people'].append(s['annotated'])
            res['matching'].append(s['matching'])
            tables['visible_joints'].append(
                masked_error_table(e, s['visibility_mask'], table_joints, pck_threshold))
            tables['occluded_joints'].append(
                masked_error_table(e, s['occlusion_mask'], table_joints, pck_threshold))
        n_tab = len(list(table_joints))
        widths = dict(pck=len(groups) + 1, auc=len(groups) + 1, mpjpe=17)
        for k in ('pck', 'auc', 'mpjpe', 'mpjpe_average', 'undetected_people',
                  'annotated_people'):
            res[k] = np.asarray(res[k], dtype=np.float64)
            if not per_seq and k in widths:
                res[k] = res[k].reshape(0, widths[k])
        for name, tabs in tables.items():
            res[name] = {k: np.asarray([t[k] for t in tabs], dtype=np.float64)
                         for k in ('mpjpe', 'mpjpe_total', 'pck_fraction',
                                   'pck_fraction_total', 'joint_count')}
            if not per_seq:
                for k in ('mpjpe', 'pck_fraction'):
                    res[name][k] = res[name][k].reshape(0, n_tab)
        pooled = np.concatenate(res['per_joint_error'], axis=0) if per_seq else \
            np.zeros((0, 17))
        res['pooled_pck'], res['pooled_auc'] = compute_3d_pck(pooled, groups, pck_threshold,
                                                              auc_thresholds)
        with np.errstate(invalid='ignore'):
            res['pck_total_seq_mean'] = float(np.mean(res['pck'][:, -1])) if per_seq \
                else float('nan')
            res['auc_total_seq_mean'] = float(np.mean(res['auc'][:, -1])) if per_seq \
                else float('nan')
        res['group_names'] = [g[0] for g in groups] + ['Total']
        out[mode] = res
    return out


def mupots_frames_from_arrays(annot2: np.ndarray, univ_annot3: np.ndarray,
                              is_valid: np.ndarray, occlusion: Optional[np.ndarray],
                              predictions: Mapping[int, Tuple[np.ndarray, np.ndarray]],
                              seq_name: str = '') -> List[dict]:
    """Frames of one sequence from GT arrays in the ``annot.mat`` layout.

    Args:
        annot2: (F, P, 17, 2) pixels. univ_annot3: (F, P, 17, 3) mm.
        is_valid: (F, P) bool. occlusion: (F, P, 17) or None.
        predictions: frame index (0-based) → (pred_2d (N, 17, 2), pred_3d (N, 17, 3)).
            Frames without valid GT need no entry; a frame with valid GT and no entry is an
            error (the official code fails there too).
        seq_name: used in messages and frame keys.

    Returns:
        frames for :func:`mupots_sequence_errors`.
    """
    annot2 = np.asarray(annot2, dtype=np.float64)
    univ = np.asarray(univ_annot3, dtype=np.float64)
    valid = np.asarray(is_valid, dtype=bool)
    frames = []
    for f in range(valid.shape[0]):
        idx = np.flatnonzero(valid[f])
        key = mupots_pred_key(seq_name, f) if seq_name else str(f)
        fr = dict(key=key, gt_2d=annot2[f, idx], gt_3d=univ[f, idx],
                  occlusion=None if occlusion is None else np.asarray(occlusion)[f, idx])
        if len(idx):
            if f not in predictions:
                where = seq_name or 'the sequence'
                raise KeyError(f'no predictions for {key} (frame {f} of {where}), which has '
                               f'{len(idx)} valid GT people')
            fr['pred_2d'], fr['pred_3d'] = predictions[f]
        frames.append(fr)
    return frames
