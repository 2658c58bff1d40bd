"""Shelf and Campus multi-view test sets (VoxelPose protocol).

Folder layout (the voxelpose-pytorch release)::

    <data_root>/calibration_shelf.json            (calibration_campus.json)
    <data_root>/actorsGT.mat
    <data_root>/pred_shelf_maskrcnn_hrnet_coco.pkl (pred_campus_maskrcnn_hrnet_coco.pkl)
    <data_root>/Camera<k>/img_<frame:06d>.png      (Campus: campus4-c<k>-<frame:05d>.png)

The 3D model sees no image: its inputs are Gaussian heatmaps rendered from the 2D
detections of the pickle (keys ``"{camera}_{frame}"``, lists of ``{'pred': (17, 3)
x, y, score}`` in original pixels, COCO-17) by the pipeline's heatmap transform. The peak of
each Gaussian is the detection's joint score for Shelf and 1 for Campus, as the reference
does (``use_detection_scores``).
"""
from __future__ import annotations

import os.path as osp
from typing import List, Optional, Sequence

import numpy as np

from virtualpose_mm.engine.safe_pickle import UnsafePickleError, safe_load_pickle
from virtualpose_mm.geometry.camera_io import (CAMPUS_IMAGE_SIZE, SHELF_IMAGE_SIZE,
                                               load_shelf_campus_calibration, stack_cameras)
from virtualpose_mm.registry import DATASETS
from virtualpose_mm.datasets.io.actors_gt import load_actors_gt
from virtualpose_mm.datasets.datasets.base.mview_base import (BaseMviewDataset, DatasetError,
                                                              parse_frame_ranges)

__all__ = ['Body3DMviewDirectShelfDataset', 'Body3DMviewDirectCampusDataset',
           'load_detections_2d']


def load_detections_2d(path: str) -> dict:
    """Read a ``pred_*_maskrcnn_hrnet_coco.pkl`` detection pickle (a dict, possibly a
    ``defaultdict``, keyed ``"{camera}_{frame}"``), with the restricted unpickler:
    containers and numpy arrays only; a pickle naming any other global is refused and
    runs nothing."""
    if not osp.isfile(path):
        raise DatasetError(f'{path}: 2D detection pickle not found')
    try:
        data = safe_load_pickle(path, what='2D detection file')
    except UnsafePickleError as e:
        raise DatasetError(str(e)) from e
    except Exception as e:
        raise DatasetError(f'{path}: not a readable pickle ({type(e).__name__}: {e})') from None
    if not isinstance(data, dict):
        raise DatasetError(f'{path}: expected a dict keyed "{{camera}}_{{frame}}", got '
                           f'{type(data).__name__}')
    return data


def _detections_of(dets: dict, key: str, path: str, num_joints: int):
    """(n, K, 3) detections (x, y, score) of one camera and frame."""
    if key not in dets:  # `in` does not create entries of a defaultdict
        cams = sorted({str(k).split('_')[0] for k in dets})
        raise DatasetError(f'{path}: no key {key!r} (camera_frame); the file has cameras '
                           f'{cams} and {len(dets)} keys')
    entries = dets[key]
    if not isinstance(entries, (list, tuple)):
        raise DatasetError(f'{path}: [{key!r}] must be a list of {{\'pred\': (K, 3)}}, got '
                           f'{type(entries).__name__}')
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or 'pred' not in e:
            raise DatasetError(f"{path}: [{key!r}][{i}] has no field 'pred'")
        p = np.asarray(e['pred'], dtype=np.float64)
        if p.shape != (num_joints, 3):
            raise DatasetError(f"{path}: [{key!r}][{i}]['pred'] has shape {p.shape}, "
                               f'expected ({num_joints}, 3) (x, y, score per COCO joint)')
        if not np.isfinite(p).all():
            raise DatasetError(f"{path}: [{key!r}][{i}]['pred'] has NaN or infinite values")
        out.append(p)
    return np.stack(out) if out else np.zeros((0, num_joints, 3))


class _ShelfCampusDataset(BaseMviewDataset):
    """Shared implementation of the Shelf and Campus test sets.

    Args:
        data_root: the dataset folder.
        calibration_file: camera file (relative to ``data_root`` unless absolute).
        gt_file: ``actorsGT.mat``.
        pred_2d_file: the 2D detection pickle.
        frame_range: frames to use: ``(start, end)`` pairs with both ends included, ranges
            or ints. Default: the published test frames.
        cameras: camera ids to use (``['0', '1', ...]``), default all, in id order.
        image_size: original image (w, h); the calibration file does not store it.
        use_detection_scores: Gaussian peaks = detection joint scores (Shelf) or 1
            (Campus), stored as ``input_keypoints_2d_scores``.
        image_template: image path relative to ``data_root``, formatted with ``camera`` and
            ``frame``.
        require_images: check at index time that every image exists (off by default: the
            VoxelPose protocol uses no images).
        show_progress: show an mmengine ProgressBar while indexing.
        **kwargs: :class:`BaseMviewDataset` / :class:`mmengine.dataset.BaseDataset`
            arguments.

    Frame dicts (keys of :mod:`virtualpose_mm.datasets.datasets.base.mview_base`):
    ``gt_keypoints_3d`` (n, 14, 3) Shelf-14 world mm of the actors present,
    ``gt_keypoints_3d_visible`` (n, 14) all True, ``gt_ids`` (n,) 0-based actor index (the
    column of ``actor3D``), ``input_keypoints_2d`` V × (n_v, 17, 2) detections in original
    px, ``input_keypoints_2d_visible`` all True, ``input_keypoints_2d_scores`` V ×
    (n_v, 17), ``detection_scores`` V × (n_v, 17) the raw scores, ``num_actors``.

    The dataset metainfo describes COCO-17 (the joint set of the detections, the input
    heatmaps and the predictions); ``metainfo['gt_joint_set']`` is ``'shelf14'``.
    """

    joint_set = 'coco17'
    dataset_name = ''
    default_files: dict = {}
    default_frames: Sequence = ()
    default_image_size = (0, 0)
    default_image_template = ''
    default_use_scores = True

    def __init__(self,
                 data_root: str,
                 calibration_file: Optional[str] = None,
                 gt_file: str = 'actorsGT.mat',
                 pred_2d_file: Optional[str] = None,
                 frame_range: Optional[Sequence] = None,
                 cameras: Optional[Sequence[str]] = None,
                 image_size: Optional[Sequence[int]] = None,
                 use_detection_scores: Optional[bool] = None,
                 image_template: Optional[str] = None,
                 require_images: bool = False,
                 show_progress: bool = True,
                 **kwargs):
        self.calibration_file = calibration_file or self.default_files['calibration']
        self.gt_file = gt_file
        self.pred_2d_file = pred_2d_file or self.default_files['pred_2d']
        self.frames = parse_frame_ranges(
            self.default_frames if frame_range is None else frame_range, 'frame_range')
        if not self.frames:
            raise ValueError('frame_range selects no frame')
        self.camera_ids = None if cameras is None else [str(c) for c in cameras]
        self.image_size = tuple(image_size or self.default_image_size)
        self.use_detection_scores = self.default_use_scores if use_detection_scores is None \
            else bool(use_detection_scores)
        self.image_template = image_template or self.default_image_template
        self.require_images = require_images
        self.show_progress = show_progress
        kwargs.setdefault('data_root', data_root)
        super().__init__(**kwargs)
        self._metainfo['gt_joint_set'] = 'shelf14'

    def _path(self, p: str) -> str:
        return p if osp.isabs(p) else osp.join(self.data_root, p)

    def load_data_list(self) -> List[dict]:
        if not osp.isdir(self.data_root):
            raise DatasetError(f'{self.data_root}: {self.dataset_name} data_root is not a '
                               'folder')
        calib = self._path(self.calibration_file)
        if not osp.isfile(calib):
            raise DatasetError(f'{calib}: {self.dataset_name} calibration file not found')
        cams = load_shelf_campus_calibration(calib, image_size=self.image_size)
        if self.camera_ids is not None:
            missing = [c for c in self.camera_ids if c not in cams]
            if missing:
                raise DatasetError(f'{calib}: no camera {missing} (cameras: {list(cams)})')
            cams = type(cams)((c, cams[c]) for c in self.camera_ids)
        names = list(cams)
        cameras = stack_cameras(cams, source=calib)
        gt_path = self._path(self.gt_file)
        gt = load_actors_gt(gt_path)
        pred_path = self._path(self.pred_2d_file)
        dets = load_detections_2d(pred_path)
        self._cameras = cameras
        self._names = names
        self._num_actors = gt.num_actors

        data_list = []
        bar = self._progress(len(self.frames), self.show_progress)
        for fid in self.frames:
            bar.update()
            if not 0 <= fid < gt.num_frames:
                raise DatasetError(f'{gt_path}: frame {fid} of frame_range is outside the '
                                   f'{gt.num_frames} frames of actor3D')
            poses, ids = gt.frame(fid)
            kpts, scores, raw = [], [], []
            for name in names:
                d = _detections_of(dets, f'{name}_{fid}', pred_path, self.num_joints)
                kpts.append(d[..., :2].copy())
                raw.append(d[..., 2].copy())
                scores.append(d[..., 2].copy() if self.use_detection_scores else
                              np.ones(d.shape[:2]))
            img_paths = [self._path(self.image_template.format(camera=n, frame=fid))
                         for n in names]
            if self.require_images:
                for p in img_paths:
                    if not osp.isfile(p):
                        raise DatasetError(f'{p}: image not found (frame {fid})')
            data_list.append(dict(
                sequence='',
                frame_id=int(fid),
                img_paths=img_paths,
                gt_keypoints_3d=poses.astype(np.float64),
                gt_keypoints_3d_visible=np.ones(poses.shape[:2], dtype=bool),
                gt_ids=ids.astype(np.int64),
                input_keypoints_2d=kpts,
                input_keypoints_2d_visible=[np.ones(k.shape[:2], bool) for k in kpts],
                input_keypoints_2d_scores=scores,
                detection_scores=raw))
        return data_list

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info.update(dataset_name=self.dataset_name, num_views=len(self._names),
                    view_names=list(self._names), cameras=self._cameras,
                    image_sizes=np.asarray(self._cameras.image_size, dtype=np.float64),
                    num_actors=self._num_actors)
        return info


@DATASETS.register_module()
class Body3DMviewDirectShelfDataset(_ShelfCampusDataset):
    """Shelf test set (5 cameras, 1032×776; test frames 300–600; Gaussian peaks = detection
    scores). See :class:`_ShelfCampusDataset` for the arguments."""
    dataset_name = 'shelf'
    default_files = dict(calibration='calibration_shelf.json',
                         pred_2d='pred_shelf_maskrcnn_hrnet_coco.pkl')
    default_frames = [(300, 600)]
    default_image_size = SHELF_IMAGE_SIZE
    default_image_template = 'Camera{camera}/img_{frame:06d}.png'
    default_use_scores = True


@DATASETS.register_module()
class Body3DMviewDirectCampusDataset(_ShelfCampusDataset):
    """Campus test set (3 cameras, 360×288; test frames 350–470 and 650–750; Gaussian
    peaks = 1). See :class:`_ShelfCampusDataset` for the arguments."""
    dataset_name = 'campus'
    default_files = dict(calibration='calibration_campus.json',
                         pred_2d='pred_campus_maskrcnn_hrnet_coco.pkl')
    default_frames = [(350, 470), (650, 750)]
    default_image_size = CAMPUS_IMAGE_SIZE
    default_image_template = 'Camera{camera}/campus4-c{camera}-{frame:05d}.png'
    default_use_scores = False
