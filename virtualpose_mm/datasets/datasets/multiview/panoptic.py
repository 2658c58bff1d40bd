"""CMU Panoptic multi-view dataset (VoxelPose protocol).

Folder layout (the CMU Panoptic toolbox download)::

    <data_root>/<seq>/calibration_<seq>.json
    <data_root>/<seq>/hdPose3d_stage1_coco19/body3DScene_<frame>.json
    <data_root>/<seq>/hdImgs/<pp_nn>/<pp_nn>_<frame>.jpg

One sample = one frame with all its views. Ground truth: the first 15 of the 19 ``coco19``
joints (Panoptic-15, :data:`~virtualpose_mm.datasets.joint_sets.PANOPTIC15`, converted by
:func:`~virtualpose_mm.datasets.joint_sets.convert_joints`) of every body,
in world z-up millimetres (the calibration's y-down centimetre world converted once by
:func:`~virtualpose_mm.geometry.camera_io.panoptic_joints_to_world`); a joint is visible
when its confidence is > 0.1.
"""
from __future__ import annotations

import glob
import json
import os.path as osp
import re
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log

from virtualpose_mm.geometry.camera import CameraError
from virtualpose_mm.geometry.camera_io import (PANOPTIC_DEFAULT_CAMERAS, load_panoptic_calibration,
                                               panoptic_joints_to_world, stack_cameras)
from virtualpose_mm.registry import DATASETS
from virtualpose_mm.datasets.joint_sets import PANOPTIC19, convert_joints
from virtualpose_mm.datasets.datasets.base.mview_base import BaseMviewDataset, DatasetError

__all__ = ['Body3DMviewDirectPanopticDataset', 'PANOPTIC_TRAIN_SEQUENCES',
           'PANOPTIC_VAL_SEQUENCES']

#: VoxelPose's training sequences (``lib/dataset/panoptic.py`` ``TRAIN_LIST``).
PANOPTIC_TRAIN_SEQUENCES = (
    '160422_ultimatum1', '160224_haggling1', '160226_haggling1', '161202_haggling1',
    '160906_ian1', '160906_ian2', '160906_ian3', '160906_band1', '160906_band2',
    '160906_band3')
#: VoxelPose's validation sequences (``VAL_LIST``).
PANOPTIC_VAL_SEQUENCES = ('160906_pizza1', '160422_haggling1', '160906_ian5', '160906_band4')
#: VoxelPose's frame intervals: every 3rd annotation for training, every 12th for validation.
_DEFAULT_INTERVAL = {'train': 3, 'validation': 12}

_FRAME_RE = re.compile(r'^body3DScene_(\d+)\.json$')


@DATASETS.register_module()
class Body3DMviewDirectPanopticDataset(BaseMviewDataset):
    """CMU Panoptic, multi-view, multi-person (VoxelPose's train / validation protocol).

    Args:
        data_root: folder holding one folder per sequence.
        sequences: ``'train'`` (VoxelPose's 10 training sequences), ``'validation'`` (its 4
            validation sequences) or a list of sequence names.
        cameras: HD cameras as ``(panel, node)`` pairs or names (``'00_12'``). Default:
            VoxelPose's five, (0, 12), (0, 6), (0, 23), (0, 13), (0, 3).
        view_order: ``'requested'`` (views in the order of ``cameras``) or ``'file'`` (the
            calibration file's order, as the reference does; golden README quirk 5).
        frame_interval: keep every n-th annotation file of a sequence (counted over the
            sorted files, empty frames included, as the reference does). Default: 3 for
            ``'train'``, 12 for ``'validation'``; required for an explicit list.
        min_confidence: a joint is visible when its confidence is > this (0.1).
        root_joint: the Panoptic-15 root (2, mid-hip).
        drop_bodies_without_root: drop bodies whose root joint is not visible (the
            reference does). Counted and logged.
        skip_empty_frames: drop frames without any (kept) body (the reference does).
            Counted and logged.
        require_images: check at index time that every ``hdImgs/<camera>`` folder exists
            (a clear error naming the folder). Set False for pipelines that use no images.
        image_ext: image file extension (``'.jpg'``).
        cache_file: optional path of an index cache (pickle). It is reused only when it
            was made with the same data root, sequences, cameras, interval and options;
            otherwise it is rebuilt (with a warning saying what differs).
        show_progress: show an mmengine ProgressBar while indexing.
        **kwargs: :class:`~virtualpose_mm.datasets.datasets.base.mview_base.BaseMviewDataset` and
            :class:`mmengine.dataset.BaseDataset` arguments (``pipeline``, ``test_mode``,
            ``lazy_init``, ``indices``, ...).

    Each frame dict carries the keys listed in
    :mod:`virtualpose_mm.datasets.datasets.base.mview_base` (``gt_keypoints_3d`` (N, 15, 3)
    mm, ``gt_keypoints_3d_visible`` (N, 15), ``gt_ids`` = the Panoptic body ids,
    ``img_paths``, ``cameras`` (V,) ...) plus ``ann_file``.
    """

    joint_set = 'panoptic15'
    dataset_name = 'panoptic'

    def __init__(self,
                 data_root: str,
                 sequences: Union[str, Sequence[str]] = 'train',
                 cameras: Optional[Sequence] = None,
                 view_order: str = 'requested',
                 frame_interval: Optional[int] = None,
                 min_confidence: float = 0.1,
                 root_joint: int = 2,
                 drop_bodies_without_root: bool = True,
                 skip_empty_frames: bool = True,
                 require_images: bool = True,
                 image_ext: str = '.jpg',
                 cache_file: Optional[str] = None,
                 show_progress: bool = True,
                 **kwargs):
        if isinstance(sequences, str):
            if sequences not in ('train', 'validation'):
                raise ValueError(f"sequences must be 'train', 'validation' or a list of "
                                 f'sequence names, got {sequences!r}')
            if frame_interval is None:
                frame_interval = _DEFAULT_INTERVAL[sequences]
            sequences = PANOPTIC_TRAIN_SEQUENCES if sequences == 'train' else \
                PANOPTIC_VAL_SEQUENCES
        if frame_interval is None:
            raise ValueError('frame_interval is required with an explicit sequence list '
                             '(VoxelPose uses 3 for training and 12 for validation)')
        if int(frame_interval) < 1:
            raise ValueError(f'frame_interval must be ≥ 1, got {frame_interval}')
        if view_order not in ('requested', 'file'):
            raise ValueError(f"view_order must be 'requested' or 'file', got {view_order!r}")
        self.sequences = [str(s) for s in sequences]
        if not self.sequences:
            raise ValueError('sequences is empty')
        self.camera_ids = [tuple(c) if not isinstance(c, str) else c
                           for c in (cameras or PANOPTIC_DEFAULT_CAMERAS)]
        self.view_order = view_order
        self.frame_interval = int(frame_interval)
        self.min_confidence = float(min_confidence)
        self.root_joint = int(root_joint)
        self.drop_bodies_without_root = drop_bodies_without_root
        self.skip_empty_frames = skip_empty_frames
        self.require_images = require_images
        self.image_ext = image_ext
        self.cache_file = cache_file
        self.show_progress = show_progress
        self._seq_cameras: dict = {}
        kwargs.setdefault('data_root', data_root)
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ indexing
    def _config(self) -> dict:
        return dict(data_root=osp.abspath(self.data_root), sequences=self.sequences,
                    cameras=[list(c) if isinstance(c, tuple) else c for c in self.camera_ids],
                    view_order=self.view_order, frame_interval=self.frame_interval,
                    min_confidence=self.min_confidence, root_joint=self.root_joint,
                    drop_bodies_without_root=self.drop_bodies_without_root,
                    skip_empty_frames=self.skip_empty_frames, image_ext=self.image_ext,
                    require_images=self.require_images)

    def load_data_list(self) -> List[dict]:
        if not osp.isdir(self.data_root):
            raise DatasetError(f'{self.data_root}: Panoptic data_root is not a folder')
        # cameras are small and read every time (they also validate the calibration files);
        # the per-frame index is what the cache saves
        for seq in self.sequences:
            self._seq_cameras[seq] = self._load_sequence_cameras(seq)
        cached = self._load_or_build(self.cache_file, self._config(), self._build_index)
        return cached

    def _load_sequence_cameras(self, seq: str) -> dict:
        seq_dir = osp.join(self.data_root, seq)
        if not osp.isdir(seq_dir):
            raise DatasetError(f'{seq_dir}: Panoptic sequence folder not found '
                               f'(sequence {seq!r} of data_root {self.data_root})')
        calib = osp.join(seq_dir, f'calibration_{seq}.json')
        if not osp.isfile(calib):
            raise DatasetError(f'{calib}: Panoptic calibration file not found '
                               f'(sequence {seq!r})')
        cams = load_panoptic_calibration(calib, cameras=self.camera_ids,
                                         order=self.view_order)
        names = list(cams)
        if self.require_images:
            for name in names:
                d = osp.join(seq_dir, 'hdImgs', name)
                if not osp.isdir(d):
                    raise DatasetError(
                        f'{d}: image folder of camera {name} not found (sequence {seq!r}). '
                        'Extract the HD images there (hdImgs/<camera>/<camera>_<frame>'
                        f'{self.image_ext}), or set require_images=False for a pipeline that '
                        'loads no images.')
        stacked = stack_cameras(cams, source=calib)
        return dict(names=names, cameras=stacked,
                    image_sizes=np.asarray(stacked.image_size, dtype=np.float64))

    def _build_index(self) -> List[dict]:
        data_list: List[dict] = []
        stats = dict(frames_seen=0, empty_frames=0, bodies=0, bodies_without_root=0)
        for seq in self.sequences:
            anno_dir = osp.join(self.data_root, seq, 'hdPose3d_stage1_coco19')
            if not osp.isdir(anno_dir):
                raise DatasetError(f'{anno_dir}: Panoptic annotation folder not found '
                                   f'(sequence {seq!r})')
            files = sorted(glob.glob(osp.join(anno_dir, '*.json')))
            if not files:
                raise DatasetError(f'{anno_dir}: no body3DScene_*.json annotation files')
            picked = files[::self.frame_interval]
            bar = self._progress(len(picked), self.show_progress)
            for path in picked:
                bar.update()
                m = _FRAME_RE.match(osp.basename(path))
                if m is None:
                    raise DatasetError(f'{path}: annotation file name does not match '
                                       'body3DScene_<frame>.json')
                stats['frames_seen'] += 1
                info = self._parse_frame(seq, path, m.group(1), stats)
                if info is None:
                    continue
                data_list.append(info)
        print_log(
            f'Panoptic {self.sequences}: {len(data_list)} frames indexed from '
            f'{stats["frames_seen"]} annotation files (interval {self.frame_interval}); '
            f'dropped {stats["empty_frames"]} frames without bodies and '
            f'{stats["bodies_without_root"]} of {stats["bodies"]} bodies whose root joint '
            f'{self.root_joint} has confidence ≤ {self.min_confidence}', logger='current')
        return data_list

    def _parse_frame(self, seq: str, path: str, frame_str: str, stats: dict) -> Optional[dict]:
        try:
            with open(path) as f:
                anno = json.load(f)
        except (OSError, ValueError) as e:
            raise DatasetError(f'{path}: unreadable annotation json ({e})') from None
        if not isinstance(anno, dict) or 'bodies' not in anno:
            raise DatasetError(f"{path}: missing field 'bodies'")
        bodies = anno['bodies']
        if not isinstance(bodies, list):
            raise DatasetError(f"{path}: field 'bodies' must be a list")
        joints, vis, ids = [], [], []
        K = self.num_joints
        for b, body in enumerate(bodies):
            src = f'{path}: bodies[{b}]'
            if not isinstance(body, dict) or 'joints19' not in body:
                raise DatasetError(f"{src}: missing field 'joints19'")
            try:
                j, conf = panoptic_joints_to_world(body['joints19'], source=src)
            except CameraError as e:
                raise DatasetError(str(e)) from None
            if j.shape[0] != PANOPTIC19.num_joints:
                raise DatasetError(f"{src}: field 'joints19' has {j.shape[0]} joints, "
                                   f'expected {PANOPTIC19.num_joints} (CMU Panoptic coco19)')
            stats['bodies'] += 1
            j, v = convert_joints(j, PANOPTIC19, self.joint_set,
                                  visible=conf > self.min_confidence)
            if self.drop_bodies_without_root and not v[self.root_joint]:
                stats['bodies_without_root'] += 1
                continue
            joints.append(j)
            vis.append(v)
            ids.append(int(body.get('id', b)))
        if not joints and self.skip_empty_frames:
            stats['empty_frames'] += 1
            return None
        names = self._seq_cameras[seq]['names']
        img_paths = [osp.join(self.data_root, seq, 'hdImgs', n,
                              f'{n}_{frame_str}{self.image_ext}') for n in names]
        return dict(
            sequence=seq,
            frame_id=int(frame_str),
            ann_file=path,
            img_paths=img_paths,
            gt_keypoints_3d=np.stack(joints) if joints else np.zeros((0, K, 3)),
            gt_keypoints_3d_visible=np.stack(vis) if vis else np.zeros((0, K), bool),
            gt_ids=np.asarray(ids, dtype=np.int64))

    # ------------------------------------------------------------------ samples
    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        seq = self._seq_cameras[info['sequence']]
        info.update(dataset_name=self.dataset_name, num_views=len(seq['names']),
                    view_names=list(seq['names']), cameras=seq['cameras'],
                    image_sizes=seq['image_sizes'].copy())
        return info
