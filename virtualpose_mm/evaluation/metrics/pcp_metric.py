"""VoxelPose's Shelf / Campus PCP metric."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ...datasets.io.actors_gt import load_actors_gt
from ...datasets.joint_sets import coco17_to_shelf14
from ...registry import METRICS
from ..functional.pcp import pcp_table, shelf_campus_pcp
from ._sample import get_field, joints_array, require, sample_name, to_numpy


@METRICS.register_module()
class ShelfCampusPCPMetric(BaseMetric):
    """PCP per actor and per bone group, average PCP and recall@500 on Shelf or Campus.

    The protocol is :mod:`virtualpose_mm.evaluation.functional.pcp` (nearest-MPJPE
    prediction per GT actor, reusable; 9 limbs + torso; α = 0.5). A frame with GT actors
    and no prediction scores those actors as misses (the reference crashes there).

    **Data contract** (one data sample per frame, ``PoseDataSample`` or its ``to_dict()``):

    * ``pred_instances.keypoints``: (N, K, 3) world mm, only real detections (N may be
      0). K = 17 is COCO-17 (converted to Shelf-14 with the ``dataset``'s head heuristic);
      K = 14 is taken as Shelf-14 already.
    * Ground truth, one of:

      - ``actors_gt_file`` given (the dataset's ``actorsGT.mat``): the metric reads it and
        takes the frame from metainfo ``frame_id`` (int, the image number, i.e. the index
        into each actor's cell). This reproduces the reference exactly, absent actors
        included.
      - otherwise from the sample: ``gt_instances.lifting_target`` (n, 14, 3) Shelf-14 world
        mm of the actors present in the frame and ``gt_instances.actor_ids`` (n,) int,
        0-based actor index (the column of ``actor3D``). ``num_actors`` (or the largest id
        + 1) sets the number of actors reported. (The fields of
        :mod:`virtualpose_mm.datasets.transforms.formatting`.)

    Metrics (prefixed ``shelf/`` or ``campus/``): ``PCP_actor1`` … ``PCP_actorA``,
    ``PCP_avg`` (mean over the first ``num_avg_actors`` actors), ``PCP_<group>`` for the
    bone groups (Head, Torso, Upper_arms, Lower_arms, Upper_legs, Lower_legs; mean over
    the first ``num_avg_actors`` actors) and ``Recall@500``. All are fractions in [0, 1].

    Args:
        dataset: ``'shelf'`` or ``'campus'`` (selects the COCO→Shelf head heuristic).
        actors_gt_file: path of ``actorsGT.mat`` or None (GT from the samples).
        num_actors: actors to report when the GT comes from the samples.
        num_avg_actors: actors in the average (3 in the papers).
        recall_threshold: MPJPE (mm) of recall@500.
        alpha: PCP factor.
    """
    default_prefix: Optional[str] = None

    def __init__(self, dataset: str = 'shelf', actors_gt_file: Optional[str] = None,
                 num_actors: Optional[int] = None, num_avg_actors: int = 3,
                 recall_threshold: float = 500.0, alpha: float = 0.5,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        if dataset not in ('shelf', 'campus'):
            raise ValueError(f"ShelfCampusPCPMetric: dataset must be 'shelf' or 'campus', "
                             f'got {dataset!r}')
        super().__init__(collect_device=collect_device, prefix=prefix or dataset)
        self.dataset = dataset
        self.actors_gt_file = actors_gt_file
        self.num_actors = num_actors
        self.num_avg_actors = int(num_avg_actors)
        self.recall_threshold = float(recall_threshold)
        self.alpha = float(alpha)
        self._actors_gt = None

    @property
    def actors_gt(self):
        if self._actors_gt is None:
            self._actors_gt = load_actors_gt(self.actors_gt_file)
        return self._actors_gt

    def process(self, data_batch, data_samples: Sequence) -> None:
        for i, ds in enumerate(data_samples):
            name = sample_name(ds, i)
            pred = require(ds, 'pred_instances', i)
            kpts = joints_array(require(pred, 'keypoints', i), None, 3,
                                f'{name}: pred_instances.keypoints')
            if kpts.shape[0] == 0:
                kpts = np.zeros((0, 14, 3))
            elif kpts.shape[1] == 17:
                kpts = coco17_to_shelf14(kpts, head=self.dataset)
            elif kpts.shape[1] != 14:
                raise ValueError(f'{name}: pred_instances.keypoints has {kpts.shape[1]} '
                                 'joints; expected 17 (COCO) or 14 (Shelf order)')
            frame_id = get_field(ds, 'frame_id', None)
            res = dict(pred=kpts, frame_id=None if frame_id is None else int(frame_id))
            if self.actors_gt_file is not None:
                if frame_id is None:
                    raise KeyError(f'{name}: metainfo has no frame_id, which the metric needs '
                                   f'to find the frame in {self.actors_gt_file}')
            else:
                gt_inst = require(ds, 'gt_instances', i,
                                  'give actors_gt_file or gt_instances with lifting_target '
                                  'and actor_ids')
                gt = joints_array(require(gt_inst, 'lifting_target', i), 14, 3,
                                  f'{name}: gt_instances.lifting_target (Shelf-14 order)')
                ids = to_numpy(require(gt_inst, 'actor_ids', i,
                                       '0-based actor index of each GT pose'),
                               np.int64).reshape(-1)
                if ids.shape[0] != gt.shape[0] or (ids < 0).any():
                    raise ValueError(f'{name}: gt_instances.actor_ids {ids.tolist()} must be '
                                     f'{gt.shape[0]} non-negative actor indices')
                if len(set(ids.tolist())) != len(ids):
                    raise ValueError(f'{name}: gt_instances.actor_ids {ids.tolist()} repeat '
                                     'an actor')
                res.update(gt=gt, actor_ids=ids)
            self.results.append(res)

    def _gt_arrays(self, results: list):
        """(gt (A, F, 14, 3), present (A, F)) in the order of ``results``."""
        if self.actors_gt_file is not None:
            agt = self.actors_gt
            frames = np.asarray([r['frame_id'] for r in results], dtype=np.int64)
            bad = frames[(frames < 0) | (frames >= agt.num_frames)]
            if bad.size:
                raise ValueError(f'{agt.source}: frame_id {int(bad[0])} is outside the '
                                 f'{agt.num_frames} frames of actor3D')
            return agt.joints[:, frames], agt.present[:, frames]
        max_id = max((int(r['actor_ids'].max()) for r in results if len(r['actor_ids'])),
                     default=-1)
        num_actors = self.num_actors if self.num_actors is not None else max_id + 1
        if max_id >= num_actors:
            raise ValueError(f'actor id {max_id} found, but num_actors={num_actors}')
        gt = np.full((num_actors, len(results), 14, 3), np.nan)
        present = np.zeros((num_actors, len(results)), dtype=bool)
        for f, r in enumerate(results):
            gt[r['actor_ids'], f] = r['gt']
            present[r['actor_ids'], f] = True
        return gt, present

    def compute_metrics(self, results: list) -> dict:
        if all(r['frame_id'] is not None for r in results):
            results = sorted(results, key=lambda r: r['frame_id'])
            ids = [r['frame_id'] for r in results]
            if len(set(ids)) != len(ids):
                raise ValueError(f'{self.dataset} PCP: frame_id values repeat; each frame must '
                                 'be evaluated once')
        gt, present = self._gt_arrays(results)
        res = shelf_campus_pcp([r['pred'] for r in results], gt, present,
                               recall_threshold=self.recall_threshold, alpha=self.alpha,
                               num_avg_actors=self.num_avg_actors)
        metrics = {f'PCP_actor{a + 1}': float(v) for a, v in enumerate(res['actor_pcp'])}
        metrics['PCP_avg'] = res['avg_pcp']
        for group, v in res['bone_pcp'].items():
            metrics['PCP_' + group.replace(' ', '_')] = float(np.mean(v[:self.num_avg_actors]))
        metrics[f'Recall@{self.recall_threshold:g}'] = float(res['recall'])
        msg = f'{self.dataset} PCP ({len(results)} frames)\n' + pcp_table(res)
        if res['empty_frames']:
            msg += (f'\n{res["empty_frames"]} frame(s) had GT actors but no prediction; '
                    'those actors were scored as misses')
        print_log(msg, logger='current')
        return metrics
