"""MuCo-3DHP (the RootNet / PoseNet release) for VirtualPose: real frames and a pose source.

File: ``MuCo-3DHP.json`` (COCO-style, from mks0601/3DMPPE_ROOTNET_RELEASE, also used by
wkom/VirtualPose):

* ``images[]``: ``id``, ``file_name`` (relative to the image folder, e.g.
  ``'augmented_set/1_000001.jpg'``), ``width``, ``height``, ``f`` (fx, fy) and ``c``
  (cx, cy) in px, ``R`` (3×3 or 9 values) and ``T`` (3,): world → camera,
  ``X_cam = R·X + T`` in mm, in MPI-INF-3DHP's y-up world;
* ``annotations[]``: ``id``, ``image_id``, ``keypoints_img`` (J, 2) px, ``keypoints_cam``
  (J, 3) camera mm, ``keypoints_vis`` (J,), ``bbox`` (x, y, w, h); J = 21 (MuCo-21:
  MuPoTS-17 + hands + toes) or 17.

Conversions, done here once: the camera with
:func:`~virtualpose_mm.geometry.camera_io.camera_from_muco` (axis swap to z-up; the camera
frame and pixels are unchanged), the joints MuCo-21 → VirtualPose-17
(:func:`~virtualpose_mm.datasets.joint_sets.muco21_to_virtualpose17`), camera → world with
that camera.

3D visibility: MuCo's 3D annotation is complete (motion capture), so every joint is
annotated in 3D (``gt_keypoints_3d_visible`` all True, as the reference sets it);
``keypoints_vis`` is kept as ``gt_keypoints_2d_visible``.
"""
from __future__ import annotations

import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from virtualpose_mm.geometry.camera import Camera, CameraError
from virtualpose_mm.geometry.camera_io import camera_from_muco
from virtualpose_mm.registry import DATASETS
from virtualpose_mm.datasets.io.rootnet_json import read_rootnet_annotations
from virtualpose_mm.datasets.joint_sets import get_joint_set
from virtualpose_mm.datasets.datasets.base.mono_base import BaseMonoDataset, DatasetError
from virtualpose_mm.datasets.datasets.virtual.posebank import PoseBank

__all__ = ['MuCo3DHPDataset', 'read_muco_annotations', 'load_muco_pose_bank',
           'MUCO_ANKLE_HEIGHT']

#: Height (mm) of the lowest ankle above the floor used to put MuCo poses on the floor
#: (``floor='ankle'``): the median lowest-ankle height of the CMU mocap pose bank shipped
#: with the package (82 mm; the bank's floor is z = 0).
MUCO_ANKLE_HEIGHT = 80.0
#: VirtualPose-17 ankles.
_VP17_ANKLES = (8, 14)


def read_muco_annotations(path: str, image_size: Optional[Sequence[float]] = None,
                          axis_swap: bool = True) -> List[Dict]:
    """Read and check ``MuCo-3DHP.json``; one entry per image, in file order.

    Args:
        path: the json file.
        image_size: (w, h) used when an image entry has no ``width``/``height``.
        axis_swap: turn the y-up MPI-INF-3DHP world into the package's z-up one (camera
            frame and pixels unchanged).

    Returns:
        list of dicts: ``image_id``, ``file_name``, ``camera`` (:class:`Camera` with
        ``image_size``), ``keypoints_3d`` (N, 17, 3) world mm and ``keypoints_cam``
        (N, 17, 3) camera mm (VirtualPose-17 order), ``keypoints_2d`` (N, 17, 2) px,
        ``keypoints_2d_visible`` (N, 17) bool, ``ann_ids`` (N,).

    Raises:
        DatasetError naming the file, the entry and the field of anything malformed
        (missing field, wrong shape, non-numeric, an ``image_id`` with no image, an image
        id listed twice); the reading is :mod:`virtualpose_mm.datasets.io.rootnet_json`.
    """
    def image_fields(img: dict, src: str) -> dict:
        try:
            cam = camera_from_muco(img, src, axis_swap=axis_swap)
        except CameraError as e:
            raise DatasetError(str(e)) from None
        if cam.image_size is None:
            if image_size is None:
                raise DatasetError(f"{src}: missing fields 'width'/'height' (or pass "
                                   'image_size=(w, h))')
            cam = Camera(cam.R, cam.t, cam.f, cam.c, cam.dist, image_size, source=src)
        return dict(camera=cam)

    return read_rootnet_annotations(path, image_fields)


def _joint_set_from_vp17(poses: np.ndarray, joint_set: str, source: str) -> np.ndarray:
    js = get_joint_set(joint_set).name
    if js == 'virtualpose17':
        return poses
    raise DatasetError(f'{source}: MuCo-3DHP has no nose joint, so it cannot provide '
                       f"joint set {js!r} (use joint_set='virtualpose17', or the builtin "
                       'CMU bank for Panoptic-15)')


def load_muco_pose_bank(path: str, joint_set: str = 'virtualpose17', floor: str = 'ankle',
                        ankle_height: float = MUCO_ANKLE_HEIGHT,
                        axis_swap: bool = True) -> PoseBank:
    """Every person of ``MuCo-3DHP.json`` as a pose bank (VirtualPose-17, world z-up mm).

    Args:
        path: ``MuCo-3DHP.json``.
        joint_set: ``'virtualpose17'`` (MuCo has no nose, so no Panoptic-15).
        floor: how each pose is put on the floor (z = 0): ``'ankle'`` shifts it vertically
            so its lower ankle is at ``ankle_height`` (MuCo's composited images mix
            people of different MPI-INF-3DHP recordings, whose world heights are not
            checked here); ``'world'`` keeps the heights of the MuCo world (what the
            reference's ``random_place_people`` does).
        ankle_height: mm, see ``floor``.
        axis_swap: see :func:`read_muco_annotations`.

    Returns:
        :class:`PoseBank` of joint set ``'virtualpose17'``, all joints visible, ``clip_id``
        = the image index of each pose.
    """
    if floor not in ('ankle', 'world'):
        raise ValueError(f"floor must be 'ankle' or 'world', got {floor!r}")
    frames = read_muco_annotations(path, image_size=(1, 1), axis_swap=axis_swap)
    poses = [f['keypoints_3d'] for f in frames if len(f['keypoints_3d'])]
    clip = [np.full(len(f['keypoints_3d']), i) for i, f in enumerate(frames)
            if len(f['keypoints_3d'])]
    if not poses:
        raise DatasetError(f'{path}: holds no annotated person, so it cannot serve as a pose '
                           'bank')
    poses = np.concatenate(poses)
    if floor == 'ankle':
        low = poses[:, list(_VP17_ANKLES), 2].min(1)
        poses = poses.copy()
        poses[..., 2] += (ankle_height - low)[:, None]
    poses = _joint_set_from_vp17(poses, joint_set, path)
    return PoseBank(poses, None, 'virtualpose17', clip_id=np.concatenate(clip),
                    source=f'{path} (MuCo-3DHP, floor={floor!r})')


@DATASETS.register_module()
class MuCo3DHPDataset(BaseMonoDataset):
    """MuCo-3DHP frames (RootNet json) with their real camera, VirtualPose-17 GT.

    Use it as real data (AGR rendered from the GT through the image's camera, the released
    VirtualPose setting for stage 2, or images for a 2D network), or give its json to
    :class:`~virtualpose_mm.datasets.datasets.virtual.virtual_agr.VirtualPoseSceneDataset` as a
    pose source (``pose_bank='.../MuCo-3DHP.json'``) and camera source.

    Args:
        ann_file: ``MuCo-3DHP.json`` (relative to ``data_root`` if given).
        img_prefix: folder of the images, relative to ``data_root`` (default
            ``'images'``, the VirtualPose layout ``MuCo-3DHP/images/...``).
        image_size: (w, h) for image entries without ``width``/``height``.
        axis_swap: see :func:`read_muco_annotations`.
        filter_empty: drop images without any annotated person (logged with the count).
        cache_file: optional index cache (rebuilt when the options differ).
        **kwargs: :class:`BaseMonoDataset` / :class:`mmengine.dataset.BaseDataset`
            arguments.
    """

    dataset_name = 'muco3dhp'
    only_joint_set = ('virtualpose17', 'MuCo-3DHP has no nose joint')

    def __init__(self, ann_file: str = 'MuCo-3DHP.json', img_prefix: str = 'images',
                 image_size: Optional[Sequence[float]] = None, axis_swap: bool = True,
                 filter_empty: bool = True, cache_file: Optional[str] = None,
                 joint_set: str = 'virtualpose17', **kwargs):
        self.img_prefix = img_prefix
        self.image_size_cfg = image_size
        self.axis_swap = bool(axis_swap)
        self.filter_empty = bool(filter_empty)
        self.cache_file = cache_file
        super().__init__(ann_file=ann_file, joint_set=joint_set, **kwargs)

    def load_data_list(self) -> List[dict]:
        config = dict(ann_file=self.ann_file, image_size=self.image_size_cfg,
                      axis_swap=self.axis_swap, filter_empty=self.filter_empty,
                      mtime=osp.getmtime(self.ann_file) if osp.isfile(self.ann_file) else None)
        return self._load_or_build(self.cache_file, config, self._build)

    def _build(self) -> List[dict]:
        frames = read_muco_annotations(self.ann_file, self.image_size_cfg, self.axis_swap)
        root = osp.join(self.data_root, self.img_prefix) if self.data_root else self.img_prefix
        out, empty = [], 0
        for fr in frames:
            n = len(fr['keypoints_3d'])
            if n == 0 and self.filter_empty:
                empty += 1
                continue
            cam = fr['camera']
            folder = fr['file_name'].split('/')[0] if '/' in fr['file_name'] else ''
            out.append(dict(
                img_path=osp.join(root, fr['file_name']), img_id=fr['image_id'],
                frame_id=fr['image_id'], seq_name=folder,
                camera=cam.to_dict(), image_size=np.asarray(cam.image_size, np.float64),
                gt_keypoints_3d=fr['keypoints_3d'],
                gt_keypoints_3d_visible=np.ones(fr['keypoints_3d'].shape[:2], bool),
                gt_keypoints_2d_visible=fr['keypoints_2d_visible'],
                gt_ids=fr['ann_ids']))
        if empty:
            print_log(f'{self.ann_file}: {empty} images without annotated people were left '
                      'out (filter_empty=True)', logger='current')
        if not out:
            raise DatasetError(f'{self.ann_file}: no image with an annotated person')
        return out

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['camera'] = Camera.from_dict(info['camera'], source=f'{self.ann_file}: image '
                                          f'{info["img_id"]}', validate=False)
        info['dataset_name'] = self.dataset_name
        return info
