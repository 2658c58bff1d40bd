"""CMU Panoptic multi-person 3D metrics of VoxelPose: AP@t, recall@t, MPJPE, recall@500.

The protocol (VoxelPose ``Panoptic.evaluate``):

1. Every valid prediction of a frame is compared with every GT person of that frame by
   MPJPE over the GT's *visible* joints; it keeps the closest GT (its ``gt_id``, unique
   over the whole evaluation), that MPJPE and its detection score. Frames without GT
   people are skipped (their predictions count nowhere).
2. **AP@t**: the list is sorted by score, descending, with a stable sort. A prediction is
   a true positive if its MPJPE < t and its GT was not taken by a higher-scored prediction.
   ``recall = tp / (total_gt + 1e-5)``, ``precision = tp / (tp + fp + 1e-5)``; precision
   is made monotone from the right, padded with (recall 0, precision 0) and (recall 1,
   precision 0), and AP = Σ Δrecall · precision over the points where recall changes.
   **recall@t** is the last recall before the padding.
3. **MPJPE@500**: mean MPJPE of the one-to-one matches (same greedy rule, t = 500 mm).
4. **recall@500**: number of distinct ``gt_id`` that any prediction reaches with
   MPJPE < 500, over ``total_gt`` (not one-to-one).

All distances are in millimetres.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

__all__ = ['panoptic_frame_eval', 'merge_frame_evals', 'greedy_matches', 'eval_list_to_ap',
           'eval_list_to_aps', 'eval_list_to_mpjpe', 'eval_list_to_recall',
           'panoptic_ap_metrics', 'PANOPTIC_AP_THRESHOLDS']

PANOPTIC_AP_THRESHOLDS = (25, 50, 75, 100, 125, 150)


def panoptic_frame_eval(pred: np.ndarray, scores: np.ndarray, gt: np.ndarray,
                        gt_visible: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-prediction closest GT of one frame.

    Args:
        pred: (N, K, 3) predicted joints, mm (only valid predictions; N may be 0).
        scores: (N,) detection scores.
        gt: (n, K, 3) GT joints, mm.
        gt_visible: (n, K) (or (n, K, C), the first channel is used) joint visibility;
            a joint counts if its value is > 0.

    Returns:
        dict with ``mpjpe`` (N,) float64 (MPJPE to the closest GT over that GT's visible
        joints; ``inf`` when no GT has a visible joint), ``gt_index`` (N,) int64 (index of
        that GT in this frame, -1 without GT) and ``score`` (N,) float64.
    """
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if pred.size == 0:
        pred = pred.reshape((0, ) + tuple(gt.shape[1:]))
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    vis = np.asarray(gt_visible)
    if vis.ndim == 3:
        vis = vis[..., 0]
    vis = vis > 0
    n_pred = pred.shape[0]
    if scores.shape[0] != n_pred:
        raise ValueError(f'panoptic_frame_eval: {n_pred} predictions but {scores.shape[0]} '
                         'scores')
    if gt.ndim != 3 or gt.shape[-1] < 3 or vis.shape != gt.shape[:2]:
        raise ValueError(f'panoptic_frame_eval: GT joints {gt.shape} and visibility '
                         f'{vis.shape} must be (n, K, 3) and (n, K)')
    if pred.ndim != 3 or (n_pred and pred.shape[1] != gt.shape[1]):
        raise ValueError(f'panoptic_frame_eval: predictions of shape {pred.shape} do not '
                         f'match GT joints of shape {gt.shape} (expected (N, K, 3) and '
                         '(n, K, 3))')
    if n_pred == 0 or gt.shape[0] == 0:
        return dict(mpjpe=np.full(n_pred, np.inf), gt_index=np.full(n_pred, -1, np.int64),
                    score=scores)
    # (N, n, K) distances; mean over each GT's visible joints
    dist = np.sqrt(np.sum((pred[:, None, :, :3] - gt[None, :, :, :3])**2, axis=-1))
    mpjpe = np.full((n_pred, gt.shape[0]), np.inf)
    for g in range(gt.shape[0]):
        if vis[g].any():
            mpjpe[:, g] = np.mean(dist[:, g, vis[g]], axis=-1)
    best = np.argmin(mpjpe, axis=1)
    return dict(mpjpe=mpjpe[np.arange(n_pred), best], gt_index=best.astype(np.int64),
                score=scores)


def merge_frame_evals(frames: Sequence[Mapping],
                      extra: Optional[Mapping[str, tuple]] = None) -> Dict[str, np.ndarray]:
    """Concatenate per-frame results of :func:`panoptic_frame_eval` into one evaluation list.

    Args:
        frames: one dict per frame, in dataset order, with ``mpjpe``, ``score``,
            ``gt_index`` (N,) (as :func:`panoptic_frame_eval` returns them) and ``num_gt``
            (the frame's number of GT people).
        extra: further per-prediction keys of the frames to concatenate, each with the
            shape of one entry (``{'root_err': (3, )}``).

    Returns:
        dict with ``mpjpe`` and ``score`` (M,) float64, ``gt_id`` (M,) int64 (the frame's GT
        index plus the GT people of the frames before it: unique over the evaluation; −1
        stays −1), ``total_gt`` (int) and the ``extra`` keys.
    """
    extra = dict(extra or {})
    parts: Dict[str, list] = {k: [] for k in ('mpjpe', 'score', 'gt_id', *extra)}
    total = 0
    for fr in frames:
        gi = np.asarray(fr['gt_index'], np.int64)
        parts['gt_id'].append(np.where(gi >= 0, gi + total, -1))
        for k in ('mpjpe', 'score', *extra):
            parts[k].append(np.asarray(fr[k], np.float64).reshape((len(gi), ) +
                                                                  tuple(extra.get(k, ()))))
        total += int(fr['num_gt'])
    out = {k: np.concatenate(v) if v else np.zeros((0, ) + tuple(extra.get(k, ())))
           for k, v in parts.items()}
    out['gt_id'] = out['gt_id'].astype(np.int64)
    out['total_gt'] = total
    return out


def _sorted(mpjpe, score, gt_id):
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind='stable')
    return np.asarray(mpjpe, np.float64)[order], np.asarray(gt_id)[order], order


def _greedy_tp(mpjpe: np.ndarray, gt_id: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy TP flags in the given order: MPJPE < threshold, a GT (id ≥ 0), not yet
    taken."""
    taken = set()
    tp = np.zeros(len(mpjpe), dtype=bool)
    for i, (m, g) in enumerate(zip(mpjpe, gt_id)):
        g = int(g)
        if g >= 0 and m < threshold and g not in taken:
            tp[i] = True
            taken.add(g)
    return tp


def greedy_matches(mpjpe, score, gt_id, threshold: float) -> np.ndarray:
    """(M,) bool in the input order: which predictions are matched (score-descending
    stable order, MPJPE < ``threshold``, each GT id at most once; id −1 = no GT). The rule
    of the AP, the MPJPE@500 and the monocular metric."""
    m, g, order = _sorted(mpjpe, score, gt_id)
    tp = np.zeros(len(m), dtype=bool)
    tp[order] = _greedy_tp(m, g, threshold)
    return tp


def eval_list_to_ap(mpjpe: Sequence[float], score: Sequence[float], gt_id: Sequence[int],
                    total_gt: int, threshold: float):
    """AP and recall at one MPJPE threshold (mm).

    Args:
        mpjpe, score, gt_id: (M,) per-prediction closest-GT MPJPE, score and global GT id,
            in construction order (ties in score keep this order).
        total_gt: number of GT people.
        threshold: MPJPE threshold in mm (strict ``<``).

    Returns:
        (ap, recall) as floats.
    """
    m, g, _ = _sorted(mpjpe, score, gt_id)
    tp_flags = _greedy_tp(m, g, threshold)
    tp = np.cumsum(tp_flags.astype(np.float64))
    fp = np.cumsum((~tp_flags).astype(np.float64))
    recall = tp / (total_gt + 1e-5)
    precision = tp / (tp + fp + 1e-5)
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    precision = np.concatenate(([0.0], precision, [0.0]))
    recall = np.concatenate(([0.0], recall, [1.0]))
    index = np.where(recall[1:] != recall[:-1])[0]
    ap = np.sum((recall[index + 1] - recall[index]) * precision[index + 1])
    return float(ap), float(recall[-2])


def eval_list_to_mpjpe(mpjpe, score, gt_id, threshold: float = 500.0) -> float:
    """Mean MPJPE (mm) of the greedy one-to-one matches under ``threshold`` (``inf`` if
    there are none)."""
    m, g, _ = _sorted(mpjpe, score, gt_id)
    tp = _greedy_tp(m, g, threshold)
    return float(np.mean(m[tp])) if tp.any() else float('inf')


def eval_list_to_aps(mpjpe, score, gt_id, total_gt: int, thresholds: Sequence[float]):
    """:func:`eval_list_to_ap` at each threshold: ``(aps (T,), recalls (T,))`` arrays."""
    res = [eval_list_to_ap(mpjpe, score, gt_id, total_gt, t) for t in thresholds]
    return (np.asarray([r[0] for r in res], np.float64),
            np.asarray([r[1] for r in res], np.float64))


def eval_list_to_recall(mpjpe, gt_id, total_gt: int, threshold: float = 500.0) -> float:
    """Distinct GT ids reached by any prediction with MPJPE < ``threshold``, over
    ``total_gt`` (0 when there is no GT)."""
    m = np.asarray(mpjpe, np.float64)
    ids = np.unique(np.asarray(gt_id)[m < threshold])
    return float(len(ids) / total_gt) if total_gt else 0.0


def panoptic_ap_metrics(frames: List[dict], thresholds: Sequence[float] = PANOPTIC_AP_THRESHOLDS,
                        recall_threshold: float = 500.0) -> dict:
    """The whole VoxelPose Panoptic evaluation.

    Args:
        frames: one dict per frame, in dataset order, with ``pred`` (N, K, 3) mm (valid
            predictions only), ``scores`` (N,), ``gt`` (n, K, 3) mm and ``gt_visible``
            (n, K) (or (n, K, C)).
        thresholds: AP / recall thresholds in mm.
        recall_threshold: threshold (mm) of recall@500 and MPJPE@500.

    Returns:
        dict with ``aps`` (T,), ``recalls`` (T,), ``mAP`` (mean AP), ``mpjpe`` (MPJPE@500,
        mm), ``recall`` (recall@500), ``total_gt`` and the per-prediction list
        ``eval_list`` (dict of arrays ``mpjpe``, ``score``, ``gt_id`` in construction order).
    """
    evals = []
    for i, fr in enumerate(frames):
        gt = np.asarray(fr['gt'])
        n_gt = gt.shape[0] if gt.ndim == 3 else 0
        if n_gt == 0:
            continue
        try:
            res = panoptic_frame_eval(fr['pred'], fr['scores'], gt, fr['gt_visible'])
        except ValueError as e:
            raise ValueError(f'frame {i}: {e}') from None
        evals.append(dict(res, num_gt=n_gt))
    ev = merge_frame_evals(evals)
    mpjpe, score, gt_id, total_gt = ev['mpjpe'], ev['score'], ev['gt_id'], ev['total_gt']
    aps, recs = eval_list_to_aps(mpjpe, score, gt_id, total_gt, thresholds)
    return dict(aps=aps, recalls=recs, mAP=float(np.mean(aps)) if len(aps) else float('nan'),
                mpjpe=eval_list_to_mpjpe(mpjpe, score, gt_id, recall_threshold),
                recall=eval_list_to_recall(mpjpe, gt_id, total_gt, recall_threshold),
                total_gt=total_gt,
                eval_list=dict(mpjpe=mpjpe, score=score, gt_id=gt_id))
