"""Monocular multi-person absolute 3D metric (the CMU Panoptic HMOR protocol of VirtualPose).

Protocol (VirtualPose ``dataset/panoptic.py`` ``evaluate`` / ``_eval_list_to_mpjpe``, with
AP and recall added so that missed people count):

1. Each prediction of a frame is compared with every GT person of that frame by MPJPE over
   the GT's visible joints and keeps the closest GT
   (:func:`~virtualpose_mm.evaluation.functional.panoptic_ap.panoptic_frame_eval`). For
   that pair it also gets the root-aligned MPJPE (both poses minus their root joint, over
   the same joints) and the root error in the camera frame (predicted − GT root, mm).
2. All predictions of a group (everything, and each activity) are sorted by score,
   descending (stable: ties keep the frame order); a prediction is a match when its MPJPE
   is < ``match_threshold`` (500 mm) and its GT was not taken by a higher-scored one.
3. Over the matches: **MPJPE** (absolute, mm), **MPJPE_aligned** (root-relative, mm),
   **MRPE** (mean root position error, Euclidean, mm) and ``MRPE_x/y/z`` (mean absolute
   error per camera axis). These are the reference's numbers; they ignore missed people.
4. So that missed people count: **Recall@500** = matches / GT people (one-to-one), and
   **AP@t** / **Recall@t** for each of ``ap_thresholds`` (the VoxelPose AP rule,
   :func:`~virtualpose_mm.evaluation.functional.panoptic_ap.eval_list_to_ap`).

Unlike VoxelPose's Panoptic AP, a prediction in a frame without GT people is a false
positive (``count_empty_frames=True``); ``False`` skips such frames as that code does.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from virtualpose_mm.datasets.datasets.monocular.panoptic_mono import panoptic_activity
from ...geometry.camera import Camera
from ...registry import METRICS
from ..functional.panoptic_ap import (eval_list_to_aps, greedy_matches,  # noqa: F401
                                      merge_frame_evals, panoptic_frame_eval)
from ._sample import get_field, read_scored_poses, to_numpy

__all__ = ['PanopticMonoMetric', 'greedy_matches']


@METRICS.register_module()
class PanopticMonoMetric(BaseMetric):
    """MPJPE (absolute and root-aligned), MRPE, recall and AP of monocular multi-person
    absolute 3D pose (module docstring), overall and per activity.

    Metrics (prefix ``panoptic_mono/`` by default; a group's metrics are prefixed with its
    name, e.g. ``haggling/MPJPE``): ``MPJPE``, ``MPJPE_aligned``, ``MRPE``, ``MRPE_x``,
    ``MRPE_y``, ``MRPE_z`` (mm; ``inf`` without matches), ``Recall@<match>``,
    ``AP@<t>``, ``Recall@<t>``, ``mAP``, and overall ``num_gt`` / ``num_matched``.

    **Data contract** (one data sample per frame, ``PoseDataSample`` or its ``to_dict()``):

    * ``pred_instances.keypoints`` (N, K, 3) world mm (N may be 0) and
      ``pred_instances.bbox_scores`` (N,);
    * ``gt_instances.lifting_target`` (G, K, 3) world mm; the visibility from
      ``gt_instances.<gt_visible_key>`` (default ``lifting_target_visible``, the 3D
      annotation visibility), else all joints (the fields of
      :mod:`virtualpose_mm.datasets.transforms.formatting`);
    * metainfo ``camera`` (package convention, ``Camera.to_dict()`` or a ``Camera``): the
      frame in which the MRPE axes are measured;
    * metainfo ``seq_name`` (the group comes from it) and ``sample_idx`` (results are put
      back in dataset order, so ties and GT ids do not depend on the number of workers).

    Args:
        match_threshold: MPJPE (mm) below which a prediction can match a GT (500).
        ap_thresholds: MPJPE thresholds (mm) of AP / recall.
        root_index: root joint (2 for Panoptic-15 and VirtualPose-17).
        group_by: ``'activity'`` (sequence name without date and take number:
            ``'160422_haggling1'`` → ``'haggling'``), ``'sequence'`` or None (overall only).
        gt_visible_key: see the data contract.
        count_empty_frames: predictions in frames without GT are false positives.
        collect_device, prefix: mmengine.
    """
    default_prefix: Optional[str] = 'panoptic_mono'

    def __init__(self, match_threshold: float = 500.0,
                 ap_thresholds: Sequence[float] = (50, 100, 150, 200, 250, 300),
                 root_index: int = 2, group_by: Optional[str] = 'activity',
                 gt_visible_key: str = 'lifting_target_visible',
                 count_empty_frames: bool = True, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if group_by not in ('activity', 'sequence', None):
            raise ValueError(f"group_by must be 'activity', 'sequence' or None, got "
                             f'{group_by!r}')
        self.match_threshold = float(match_threshold)
        self.ap_thresholds = tuple(float(t) for t in ap_thresholds)
        self.root_index = int(root_index)
        self.group_by = group_by
        self.gt_visible_key = gt_visible_key
        self.count_empty_frames = bool(count_empty_frames)

    # ------------------------------------------------------------------ process
    @staticmethod
    def _camera(ds, name: str) -> Camera:
        cam = get_field(ds, 'camera', None)
        if cam is None:
            raise KeyError(f'{name}: metainfo has no camera (needed for the MRPE axes)')
        if isinstance(cam, Camera):
            return cam.numpy()
        cam = {k: to_numpy(v) for k, v in dict(cam).items()
               if k in ('R', 't', 'f', 'c', 'dist', 'image_size')}
        return Camera.from_dict(cam, source=f'{name}: metainfo camera', validate=False)

    def process(self, data_batch, data_samples: Sequence) -> None:
        r = self.root_index
        for i, ds in enumerate(data_samples):
            name, kp, scores, gt, vis = read_scored_poses(ds, i, self.gt_visible_key)
            K = gt.shape[1] if len(gt) else (kp.shape[1] if len(kp) else 0)
            if len(gt) or len(kp):
                if not 0 <= r < K:
                    raise ValueError(f'{name}: root_index {r} is outside the {K} joints')
            cam = self._camera(ds, name)
            res = panoptic_frame_eval(kp, scores, gt, vis)
            n = len(kp)
            aligned = np.full(n, np.inf)
            root_err = np.full((n, 3), np.inf)
            for p in range(n):
                g = int(res['gt_index'][p])
                if g < 0 or not np.isfinite(res['mpjpe'][p]):
                    continue
                d = (kp[p] - kp[p, r]) - (gt[g] - gt[g, r])
                aligned[p] = float(np.linalg.norm(d[vis[g]], axis=-1).mean())
                pc, gc = cam.world_to_camera(np.stack([kp[p, r], gt[g, r]]))
                root_err[p] = pc - gc
            seq = get_field(ds, 'seq_name', None)
            self.results.append(dict(
                sample_idx=get_field(ds, 'sample_idx', None), seq=str(seq or ''),
                num_gt=int(len(gt)), mpjpe=res['mpjpe'], gt_index=res['gt_index'],
                score=res['score'], mpjpe_aligned=aligned, root_err=root_err))

    # ------------------------------------------------------------------ evaluation
    def _group(self, seq: str) -> Optional[str]:
        if self.group_by == 'activity':
            return panoptic_activity(seq)
        if self.group_by == 'sequence':
            return seq
        return None

    def _evaluate(self, frames: list) -> dict:
        ev = merge_frame_evals([fr for fr in frames
                                if fr['num_gt'] or self.count_empty_frames],
                               extra={'mpjpe_aligned': (), 'root_err': (3, )})
        mpjpe, score, gt_id, total = ev['mpjpe'], ev['score'], ev['gt_id'], ev['total_gt']
        aligned, root_err = ev['mpjpe_aligned'], ev['root_err']
        tp = greedy_matches(mpjpe, score, gt_id, self.match_threshold)
        out = OrderedDict()
        mean = lambda x: float(np.mean(x)) if len(x) else float('inf')  # noqa: E731
        out['MPJPE'] = mean(mpjpe[tp])
        out['MPJPE_aligned'] = mean(aligned[tp])
        out['MRPE'] = mean(np.linalg.norm(root_err[tp], axis=-1))
        for a, axis in enumerate('xyz'):
            out[f'MRPE_{axis}'] = mean(np.abs(root_err[tp, a]))
        out[f'Recall@{self.match_threshold:g}'] = float(tp.sum() / total) if total else 0.0
        # predictions without a GT (id −1) have MPJPE inf
        aps, recs = eval_list_to_aps(mpjpe, score, gt_id, total, self.ap_thresholds)
        for t, ap, rec in zip(self.ap_thresholds, aps, recs):
            out[f'AP@{t:g}'] = float(ap)
            out[f'Recall@{t:g}'] = float(rec)
        out['mAP'] = float(np.mean(aps)) if len(aps) else float('nan')
        out['num_gt'] = float(total)
        out['num_matched'] = float(tp.sum())
        return out

    def compute_metrics(self, results: list) -> dict:
        if all(r['sample_idx'] is not None for r in results):
            results = sorted(results, key=lambda r: int(r['sample_idx']))
        metrics = OrderedDict(self._evaluate(results))
        groups = OrderedDict()
        if self.group_by is not None:
            for r in results:
                groups.setdefault(self._group(r['seq']), []).append(r)
        lines = [f'{"group":>12s} {"GT":>6s} {"MPJPE":>8s} {"aligned":>8s} {"MRPE":>8s} '
                 f'{"Recall":>7s}',
                 f'{"all":>12s} {int(metrics["num_gt"]):6d} {metrics["MPJPE"]:8.1f} '
                 f'{metrics["MPJPE_aligned"]:8.1f} {metrics["MRPE"]:8.1f} '
                 f'{metrics[f"Recall@{self.match_threshold:g}"]:7.3f}']
        for g, frames in sorted(groups.items(), key=lambda kv: str(kv[0])):
            res = self._evaluate(frames)
            for k, v in res.items():
                if k not in ('num_matched', ):
                    metrics[f'{g}/{k}'] = v
            lines.append(f'{str(g):>12s} {int(res["num_gt"]):6d} {res["MPJPE"]:8.1f} '
                         f'{res["MPJPE_aligned"]:8.1f} {res["MRPE"]:8.1f} '
                         f'{res[f"Recall@{self.match_threshold:g}"]:7.3f}')
        print_log('Monocular 3D evaluation (mm):\n' + '\n'.join(lines), logger='current')
        return dict(metrics)
