"""Shelf / Campus PCP (percentage of correct parts) of VoxelPose, per actor and per bone.

The protocol (VoxelPose ``Shelf.evaluate`` / ``Campus.evaluate``):

* Predictions are Shelf-14 poses in mm (COCO-17 predictions are converted with
  :func:`~virtualpose_mm.datasets.joint_sets.coco17_to_shelf14`, whose head heuristic
  differs between Shelf and Campus).
* For every frame and every GT actor present in it, the prediction with the smallest
  14-joint MPJPE is chosen. Predictions may be reused by several actors (no one-to-one
  assignment). The actor counts for recall@500 if that MPJPE is < 500 mm.
* 10 parts are tested on that prediction: the 9 limbs
  :data:`~virtualpose_mm.datasets.joint_sets.SHELF14_PCP_LIMBS` and the torso (mid-hip →
  joint 12). A part is correct when ``(err_a + err_b) / 2 ≤ α · |gt_a − gt_b|`` (α = 0.5),
  ``err`` being the 3D distance of each end.
* ``actor_pcp = correct / (total + 1e-8)`` per actor; the average covers the first three
  actors only (as in the papers); bone groups divide by ``total / 10 · len(group)``.

**Frames without any prediction.** The reference crashes there (``np.stack`` of an empty
list). Here every actor present in such a frame is scored as a miss: its 10 parts count
as wrong and it does not reach recall@500.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import List, Sequence

import numpy as np

from ...datasets.joint_sets import SHELF14_BONE_GROUPS, SHELF14_PCP_LIMBS

__all__ = ['pcp_frame_parts', 'shelf_campus_pcp', 'pcp_table']


def pcp_frame_parts(pred: np.ndarray, gt: np.ndarray, alpha: float = 0.5):
    """Match one actor of one frame and test its 10 parts.

    Args:
        pred: (N, 14, 3) predicted Shelf-14 poses of the frame, mm (N may be 0).
        gt: (14, 3) the actor's GT pose, mm.
        alpha: the PCP factor (0.5).

    Returns:
        (correct (10,) bool, min_mpjpe float mm (``inf`` when N = 0), best index (-1 when
        N = 0)). Parts are the 9 limbs then the torso.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape[0] == 0:
        return np.zeros(len(SHELF14_PCP_LIMBS) + 1, dtype=bool), float('inf'), -1
    mpjpes = np.mean(np.sqrt(np.sum((gt[np.newaxis] - pred)**2, axis=-1)), axis=-1)
    best = int(np.argmin(mpjpes))
    p = pred[best]
    correct = np.zeros(len(SHELF14_PCP_LIMBS) + 1, dtype=bool)
    for j, (a, b) in enumerate(SHELF14_PCP_LIMBS):
        err_s = np.linalg.norm(p[a] - gt[a])
        err_e = np.linalg.norm(p[b] - gt[b])
        length = np.linalg.norm(gt[a] - gt[b])
        correct[j] = (err_s + err_e) / 2.0 <= alpha * length
    pred_hip = (p[2] + p[3]) / 2.0
    gt_hip = (gt[2] + gt[3]) / 2.0
    err_s = np.linalg.norm(pred_hip - gt_hip)
    err_e = np.linalg.norm(p[12] - gt[12])
    length = np.linalg.norm(gt_hip - gt[12])
    correct[-1] = (err_s + err_e) / 2.0 <= alpha * length
    return correct, float(mpjpes[best]), best


def shelf_campus_pcp(preds: Sequence[np.ndarray], gt: np.ndarray, present: np.ndarray,
                     recall_threshold: float = 500.0, alpha: float = 0.5,
                     num_avg_actors: int = 3) -> dict:
    """PCP of a whole Shelf / Campus evaluation.

    Args:
        preds: F arrays (N_f, 14, 3), the valid predictions of each evaluated frame in
            Shelf-14 order, mm.
        gt: (A, F, 14, 3) GT poses of the same frames, mm (values where absent are unused).
        present: (A, F) bool, actor present in the frame.
        recall_threshold: MPJPE (mm) under which an actor counts as found (strict ``<``).
        alpha: the PCP factor.
        num_avg_actors: the average PCP covers the first this many actors.

    Returns:
        dict with ``actor_pcp`` (A,), ``avg_pcp`` (float), ``bone_pcp`` (ordered dict group
        name → (A,)), ``recall`` (float), ``total_gt``, ``matched_gt``, ``correct_parts``
        (A,), ``total_parts`` (A,), ``bone_correct_parts`` (A, 10) and ``empty_frames``
        (number of frames with GT actors but no prediction).
    """
    gt = np.asarray(gt, dtype=np.float64)
    present = np.asarray(present, dtype=bool)
    num_actors, num_frames = present.shape
    if gt.shape[:2] != present.shape or gt.shape[2:] != (14, 3):
        raise ValueError(f'shelf_campus_pcp: GT {gt.shape} must be (A, F, 14, 3) with '
                         f'present {present.shape} = (A, F)')
    if len(preds) != num_frames:
        raise ValueError(f'shelf_campus_pcp: {len(preds)} prediction frames for {num_frames} '
                         'GT frames')
    n_parts = len(SHELF14_PCP_LIMBS) + 1
    correct_parts = np.zeros(num_actors)
    total_parts = np.zeros(num_actors)
    bone_correct = np.zeros((num_actors, n_parts))
    total_gt = 0
    match_gt = 0
    empty_frames = 0
    for f in range(num_frames):
        pred = np.asarray(preds[f], dtype=np.float64)
        if pred.size == 0:
            pred = pred.reshape(0, 14, 3)
        if pred.ndim != 3 or pred.shape[1:] != (14, 3):
            raise ValueError(f'shelf_campus_pcp: frame {f}: predictions must be (N, 14, 3), '
                             f'got {pred.shape}')
        if pred.shape[0] == 0 and present[:, f].any():
            empty_frames += 1
        for a in range(num_actors):
            if not present[a, f]:
                continue
            correct, min_mpjpe, _ = pcp_frame_parts(pred, gt[a, f], alpha)
            if min_mpjpe < recall_threshold:
                match_gt += 1
            total_gt += 1
            total_parts[a] += n_parts
            correct_parts[a] += correct.sum()
            bone_correct[a] += correct
    actor_pcp = correct_parts / (total_parts + 1e-8)
    avg_pcp = float(np.mean(actor_pcp[:num_avg_actors]))
    bone_pcp = OrderedDict()
    for name, idx in SHELF14_BONE_GROUPS:
        bone_pcp[name] = np.sum(bone_correct[:, list(idx)], axis=-1) / \
            (total_parts / 10 * len(idx) + 1e-8)
    return dict(actor_pcp=actor_pcp, avg_pcp=avg_pcp, bone_pcp=bone_pcp,
                recall=match_gt / (total_gt + 1e-8), total_gt=total_gt, matched_gt=match_gt,
                correct_parts=correct_parts, total_parts=total_parts,
                bone_correct_parts=bone_correct, empty_frames=empty_frames)


def pcp_table(result: dict, actor_names: List[str] = None) -> str:
    """A plain-text table of :func:`shelf_campus_pcp` results (percent)."""
    a = len(result['actor_pcp'])
    names = actor_names or [f'Actor {i + 1}' for i in range(a)]
    rows = ['Bone Group'.ljust(12) + ''.join(n.rjust(10) for n in names)]
    for k, v in result['bone_pcp'].items():
        rows.append(k.ljust(12) + ''.join(f'{100 * x:10.2f}' for x in v))
    rows.append('Total'.ljust(12) + ''.join(f'{100 * x:10.2f}' for x in result['actor_pcp']))
    rows.append(f'Average PCP: {100 * result["avg_pcp"]:.2f}  '
                f'Recall@500mm: {100 * result["recall"]:.2f}')
    return '\n'.join(rows)
