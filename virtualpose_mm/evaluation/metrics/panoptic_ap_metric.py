"""VoxelPose's CMU Panoptic metric (AP@25..150, recall, MPJPE@500, recall@500)."""
from __future__ import annotations

from typing import Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ...registry import METRICS
from ..functional.panoptic_ap import PANOPTIC_AP_THRESHOLDS, panoptic_ap_metrics
from ._sample import get_field, read_scored_poses


@METRICS.register_module()
class PanopticAPMetric(BaseMetric):
    """Multi-person 3D AP of VoxelPose on CMU Panoptic.

    The protocol is :mod:`virtualpose_mm.evaluation.functional.panoptic_ap` (stable
    score sort, greedy TP at MPJPE < t, VoxelPose's AP integration). Metrics, in mm:
    ``AP@25`` … ``AP@150``, ``mAP`` (their mean), ``Recall@25`` … ``Recall@150``,
    ``Recall@500`` and ``MPJPE@500`` (prefixed ``panoptic/`` by default).

    **Data contract** (one data sample per frame, ``PoseDataSample`` or its ``to_dict()``):

    * ``pred_instances.keypoints``: (N, K, 3) predicted joints, world frame, mm; only
      real detections (N may be 0, no padding rows).
    * ``pred_instances.bbox_scores``: (N,) detection confidence (the AP ranking score).
    * ``gt_instances.lifting_target``: (n, K, 3) GT joints, world frame, mm (same K and
      joint order as the prediction, e.g. Panoptic-15).
    * ``gt_instances.lifting_target_visible`` (optional): (n, K) or (n, K, C) visibility; a
      joint counts in the MPJPE if the value is > 0. All joints count when absent.

    (The fields of :mod:`virtualpose_mm.datasets.transforms.formatting`.)
    * metainfo ``sample_idx`` (optional): frames are put back in this order before the
      evaluation (ties in score are broken by frame order, as in the reference).

    Frames without GT people are skipped (their predictions count nowhere), as in the
    reference. Results are per-frame dicts of numpy arrays, so mmengine can gather them
    from every rank.

    Args:
        thresholds: AP / recall thresholds in mm.
        recall_threshold: threshold (mm) of ``Recall@500`` and ``MPJPE@500``.
        collect_device: ``'cpu'`` or ``'gpu'`` (mmengine).
        prefix: metric name prefix (default ``'panoptic'``).
    """
    default_prefix: Optional[str] = 'panoptic'

    def __init__(self, thresholds: Sequence[float] = PANOPTIC_AP_THRESHOLDS,
                 recall_threshold: float = 500.0, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.recall_threshold = float(recall_threshold)

    def process(self, data_batch, data_samples: Sequence) -> None:
        for i, ds in enumerate(data_samples):
            f = read_scored_poses(ds, i)
            self.results.append(dict(pred=f.pred, scores=f.scores, gt=f.gt,
                                     gt_visible=f.gt_visible,
                                     sample_idx=get_field(ds, 'sample_idx', None)))

    def compute_metrics(self, results: list) -> dict:
        if all(r['sample_idx'] is not None for r in results):
            results = sorted(results, key=lambda r: int(r['sample_idx']))
        res = panoptic_ap_metrics(results, self.thresholds, self.recall_threshold)
        metrics = {}
        for t, ap in zip(self.thresholds, res['aps']):
            metrics[f'AP@{t:g}'] = float(ap)
        metrics['mAP'] = res['mAP']
        for t, rec in zip(self.thresholds, res['recalls']):
            metrics[f'Recall@{t:g}'] = float(rec)
        metrics[f'Recall@{self.recall_threshold:g}'] = res['recall']
        metrics[f'MPJPE@{self.recall_threshold:g}'] = res['mpjpe']
        print_log(f'Panoptic evaluation: {len(results)} frames, {res["total_gt"]} GT people, '
                  f'{len(res["eval_list"]["mpjpe"])} predictions', logger='current')
        return metrics
