"""MuPoTS-3D 3DPCK / AUC metric (the official MATLAB evaluation, in Python)."""
from __future__ import annotations

import os
import re
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from virtualpose_mm.datasets.joint_sets import virtualpose17_to_mupots17
from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.registry import METRICS
from virtualpose_mm.evaluation.functional.mupots_io import load_mupots_sequence
from virtualpose_mm.evaluation.functional.mupots_pck import (MUPOTS_MODES, evaluate_mupots,
                                                             mupots_pred_key, parse_mode)
from virtualpose_mm.evaluation.mupots_export import save_mupots_predictions
from virtualpose_mm.evaluation.metrics._sample import (get_field, joints_array, require,
                                                       sample_name, to_numpy)

_IMG_RE = re.compile(r'(TS\d+)[\\/]+img_(\d+)\.\w+$')


def _seq_sort_key(name: str):
    m = re.fullmatch(r'TS(\d+)', name)
    return (0, int(m.group(1)), '') if m else (1, 0, name)


@METRICS.register_module()
class MuPoTSPCKMetric(BaseMetric):
    """MuPoTS-3D multi-person 3DPCK@150 mm and AUC, as the official evaluation.

    The protocol is :mod:`virtualpose_mm.evaluation.functional.mupots_pck` (greedy 2D
    matching on 13 joints within 40 px, ``univ_annot3`` GT, GT bone lengths imposed on the
    prediction, unmatched GT = all joints wrong in the "all" modes). Results per mode
    (``all_relative``, ``matched_relative``, ``all_absolute``, ``matched_absolute``):
    ``<mode>/PCK`` and ``<mode>/AUC`` (mean over sequences of the per-sequence totals, as
    papers report), ``<mode>/PCK_pooled`` and ``<mode>/AUC_pooled`` (all rows of all
    sequences together), and with ``per_sequence=True`` ``<mode>/PCK_TS<k>`` /
    ``<mode>/AUC_TS<k>``. Percent. Prefix ``mupots/`` by default.

    Only the frames that were processed are evaluated (a full run processes every frame;
    frames without a valid GT person may be left out, the official code skips them).

    **Data contract** (one data sample per image, ``PoseDataSample`` or its ``to_dict()``):

    * ``pred_instances.keypoints``: (N, 17, 3) mm, only real detections (N may be 0);
      joint order ``pred_joint_set`` (``'virtualpose17'``, the model's own order, or
      ``'mupots17'``, the official order); frame ``pred_frame``: ``'world'`` (the package
      convention; turned into the camera frame with metainfo ``camera``) or ``'camera'``.
    * ``pred_instances.keypoints_2d`` (optional): (N, 17, 2) predicted pixels in the same
      joint order, used for the identity matching. When absent, the camera-frame 3D
      prediction is projected with metainfo ``camera``. (The other fields: the table of
      :mod:`virtualpose_mm.datasets.transforms.formatting`.)
    * metainfo ``camera``: a dict in the package convention (``R``, ``t`` with
      ``X_cam = R·X_world + t`` in mm, ``f``, ``c``, optional ``dist``; see
      :class:`~virtualpose_mm.geometry.Camera`) or a ``Camera``; needed unless
      ``pred_frame='camera'`` and ``keypoints_2d`` are given.
    * metainfo ``seq_name`` (``'TS1'`` … ``'TS20'``; an int k means ``'TS<k>'``) and
      ``frame_id`` (0-based image number); when missing, both are parsed from
      ``img_path`` (``.../TS<k>/img_<frame>.jpg``).
    * Ground truth, one of:

      - ``ann_root`` given (the ``MultiPersonTestSet`` folder): read from the official
        ``TS<k>/annot.mat`` / ``occlusion.mat``, exactly what the MATLAB code reads;
      - otherwise from the sample, official joint order, valid people only, in person
        order: ``gt_instances.mupots_annot2`` (n, 17, 2) pixels,
        ``gt_instances.mupots_univ_annot3`` (n, 17, 3) camera-frame mm and optionally
        ``gt_instances.mupots_occlusion`` (n, 17) (1 = occluded; only for the
        visible/occluded tables).

    Args:
        modes: the evaluation modes to report.
        ann_root: ``MultiPersonTestSet`` folder, or None (GT from the samples).
        pred_joint_set: ``'virtualpose17'`` or ``'mupots17'``.
        pred_frame: ``'world'`` or ``'camera'``.
        per_sequence: also report per-sequence totals.
        outfile_prefix: if set, a folder where ``preds_2d_kpt_mupots.mat`` and
            ``preds_3d_kpt_mupots.mat`` are written for the official MATLAB evaluation.
    """
    default_prefix: Optional[str] = 'mupots'

    def __init__(self, modes: Sequence[str] = MUPOTS_MODES, ann_root: Optional[str] = None,
                 pred_joint_set: str = 'virtualpose17', pred_frame: str = 'world',
                 per_sequence: bool = False, outfile_prefix: Optional[str] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        for m in modes:
            parse_mode(m)
        if pred_joint_set not in ('virtualpose17', 'mupots17'):
            raise ValueError(f"MuPoTSPCKMetric: pred_joint_set must be 'virtualpose17' or "
                             f"'mupots17', got {pred_joint_set!r}")
        if pred_frame not in ('world', 'camera'):
            raise ValueError(f"MuPoTSPCKMetric: pred_frame must be 'world' or 'camera', got "
                             f'{pred_frame!r}')
        if ann_root is not None and not os.path.isdir(ann_root):
            raise FileNotFoundError(f'MuPoTSPCKMetric: ann_root {ann_root} is not a folder '
                                    '(expected MultiPersonTestSet with TS<k>/annot.mat)')
        self.modes = tuple(modes)
        self.ann_root = ann_root
        self.pred_joint_set = pred_joint_set
        self.pred_frame = pred_frame
        self.per_sequence = per_sequence
        self.outfile_prefix = outfile_prefix
        self._seq_cache = {}

    # ------------------------------------------------------------------ process
    @staticmethod
    def _seq_frame(ds, name: str):
        seq = get_field(ds, 'seq_name', None)
        frame = get_field(ds, 'frame_id', None)
        if seq is None or frame is None:
            path = get_field(ds, 'img_path', None)
            if isinstance(path, (list, tuple)):
                path = path[0] if path else None
            m = _IMG_RE.search(str(path)) if path is not None else None
            if m:
                seq = m.group(1) if seq is None else seq
                frame = int(m.group(2)) if frame is None else frame
        if seq is None or frame is None:
            raise KeyError(f'{name}: needs metainfo seq_name and frame_id (or an img_path '
                           'like .../TS<k>/img_<frame>.jpg) to place it in MuPoTS')
        if isinstance(seq, (int, np.integer)):
            seq = f'TS{int(seq)}'
        return str(seq), int(frame)

    @staticmethod
    def _camera(ds, name: str) -> Optional[Camera]:
        cam = get_field(ds, 'camera', None)
        if cam is None:
            return None
        if isinstance(cam, (list, tuple)):
            if len(cam) != 1:
                raise ValueError(f'{name}: metainfo camera holds {len(cam)} cameras; MuPoTS '
                                 'is monocular')
            cam = cam[0]
        if isinstance(cam, Camera):
            return cam.numpy()
        cam = {k: to_numpy(v) for k, v in dict(cam).items()
               if k in ('R', 't', 'f', 'c', 'dist', 'image_size')}
        return Camera.from_dict(cam, source=f'{name}: metainfo camera')

    def process(self, data_batch, data_samples: Sequence) -> None:
        for i, ds in enumerate(data_samples):
            name = sample_name(ds, i)
            seq, frame = self._seq_frame(ds, name)
            pred = require(ds, 'pred_instances', i)
            kp3 = joints_array(require(pred, 'keypoints', i), 17, 3,
                               f'{name}: pred_instances.keypoints')
            kp2 = get_field(pred, 'keypoints_2d', None)
            kp2 = None if kp2 is None else joints_array(kp2, 17, 2,
                                                        f'{name}: pred_instances.keypoints_2d')
            cam = self._camera(ds, name)
            if self.pred_frame == 'world':
                if cam is None:
                    raise KeyError(f'{name}: metainfo has no camera, needed to bring the '
                                   'world-frame prediction into the camera frame')
                kp3 = cam.world_to_camera(kp3) if len(kp3) else kp3
            if kp2 is None:
                if cam is None:
                    raise KeyError(f'{name}: pred_instances has no keypoints_2d and metainfo '
                                   'has no camera to project the 3D prediction')
                kp2 = cam.camera_to_pixel(kp3) if len(kp3) else np.zeros((0, 17, 2))
            if kp2.shape[0] != kp3.shape[0]:
                raise ValueError(f'{name}: {kp2.shape[0]} 2D but {kp3.shape[0]} 3D predictions')
            if self.pred_joint_set == 'virtualpose17':
                kp3, kp2 = virtualpose17_to_mupots17(kp3), virtualpose17_to_mupots17(kp2)
            res = dict(seq=seq, frame=frame, pred_2d=np.ascontiguousarray(kp2),
                       pred_3d=np.ascontiguousarray(kp3))
            if self.ann_root is None:
                gt_inst = require(ds, 'gt_instances', i,
                                  'give ann_root or gt_instances.mupots_annot2 / '
                                  'mupots_univ_annot3')
                g2 = joints_array(require(gt_inst, 'mupots_annot2', i), 17, 2,
                                  f'{name}: gt_instances.mupots_annot2')
                g3 = joints_array(require(gt_inst, 'mupots_univ_annot3', i), 17, 3,
                                  f'{name}: gt_instances.mupots_univ_annot3')
                occ = get_field(gt_inst, 'mupots_occlusion', None)
                occ = np.zeros(g3.shape[:2]) if occ is None else to_numpy(occ).reshape(
                    g3.shape[0], 17)
                if g2.shape[0] != g3.shape[0]:
                    raise ValueError(f'{name}: {g2.shape[0]} GT 2D poses but {g3.shape[0]} '
                                     'GT 3D poses')
                res.update(gt_2d=g2, gt_3d=g3, occlusion=occ)
            self.results.append(res)

    # ------------------------------------------------------------------ evaluation
    def _sequence(self, seq: str) -> dict:
        if seq not in self._seq_cache:
            self._seq_cache[seq] = load_mupots_sequence(os.path.join(self.ann_root, seq), seq)
        return self._seq_cache[seq]

    def compute_metrics(self, results: list) -> dict:
        by_seq = {}
        for r in results:
            by_seq.setdefault(r['seq'], {}).setdefault(r['frame'], r)
        names = sorted(by_seq, key=_seq_sort_key)
        sequences = []
        for seq in names:
            frames = []
            gt = self._sequence(seq) if self.ann_root is not None else None
            for f in sorted(by_seq[seq]):
                r = by_seq[seq][f]
                fr = dict(key=mupots_pred_key(seq, f), pred_2d=r['pred_2d'],
                          pred_3d=r['pred_3d'])
                if gt is None:
                    fr.update(gt_2d=r['gt_2d'], gt_3d=r['gt_3d'], occlusion=r['occlusion'])
                else:
                    if not 0 <= f < gt['is_valid'].shape[0]:
                        raise ValueError(f'{seq} frame {f}: outside the '
                                         f'{gt["is_valid"].shape[0]} frames of '
                                         f'{os.path.join(self.ann_root, seq, "annot.mat")}')
                    idx = np.flatnonzero(gt['is_valid'][f])
                    fr.update(gt_2d=gt['annot2'][f, idx], gt_3d=gt['univ_annot3'][f, idx],
                              occlusion=None if gt['occlusion'] is None else
                              gt['occlusion'][f, idx])
                frames.append(fr)
            sequences.append(frames)
        if self.outfile_prefix:
            paths = save_mupots_predictions(
                self.outfile_prefix,
                {fr['key']: (fr['pred_2d'], fr['pred_3d']) for frames in sequences
                 for fr in frames})
            print_log(f'MuPoTS predictions for the official evaluation: {paths["2d"]}, '
                      f'{paths["3d"]}', logger='current')
        if not sequences:
            print_log('MuPoTS evaluation: no frames were processed', logger='current',
                      level=30)
        out = evaluate_mupots(sequences, modes=self.modes)
        metrics = {}
        lines = ['MuPoTS-3D 3DPCK@150mm per sequence (' + ', '.join(names) + ')']
        for mode in self.modes:
            r = out[mode]
            metrics[f'{mode}/PCK'] = r['pck_total_seq_mean']
            metrics[f'{mode}/AUC'] = r['auc_total_seq_mean']
            metrics[f'{mode}/PCK_pooled'] = float(r['pooled_pck'][-1])
            metrics[f'{mode}/AUC_pooled'] = float(r['pooled_auc'][-1])
            if self.per_sequence:
                for s, seq in enumerate(names):
                    metrics[f'{mode}/PCK_{seq}'] = float(r['pck'][s, -1])
                    metrics[f'{mode}/AUC_{seq}'] = float(r['auc'][s, -1])
            lines.append(f'{mode:17s} PCK ' + ' '.join(f'{v:6.2f}' for v in r['pck'][:, -1]) +
                         f' | mean {r["pck_total_seq_mean"]:6.2f}; undetected '
                         f'{int(r["undetected_people"].sum())}/'
                         f'{int(r["annotated_people"].sum())}')
        print_log('\n'.join(lines), logger='current')
        return metrics
