"""MuPoTS-3D (RootNet / VirtualPose annotation json + ``cameras.pkl``) for VirtualPose.

Files:

* ``MuPoTS-3D.json`` (mks0601/3DMPPE_ROOTNET_RELEASE, also used by wkom/VirtualPose):
  ``images[]`` with ``id``, ``file_name`` (``'TS<k>/img_<frame>.jpg'``, 0-based frames),
  ``width``, ``height`` and ``intrinsic`` (fx, fy, cx, cy); ``annotations[]`` with
  ``image_id``, ``keypoints_img`` (17, 2) px, ``keypoints_cam`` (17, 3) camera mm (the
  official MuPoTS-17 order; MuCo-21 arrays are cut to their first 17), ``is_valid``
  (0/1; only valid people are evaluated by the official protocol) and optionally
  ``keypoints_vis``, ``bbox``;
* ``cameras.pkl`` (VirtualPose): the extrinsics of a z-up ground frame per test sequence,
  read by :func:`~virtualpose_mm.geometry.camera_io.load_mupots_extrinsics` (ten
  det −1 matrices repaired; heights come out 0.5–2.9 m).

**World frame.** By default the world is the sequence's ground frame of ``cameras.pkl``
(z up, floor z ≈ 0, mm): ``X_world`` from ``keypoints_cam`` with the repaired camera.
The reference additionally moves the origin of every *frame* to the mean of its GT roots
(x, y) and shifts z by +50 mm (``GROUND_CENTER``, ``mupots.py:158-162``). That uses the
ground truth of the test frame to place the world — and the capture space of the root
net around the people — so it leaks GT into the prediction; it is available only behind
``ground_center_on_gt=True``, for reproducing the released numbers.

Ground truth per frame: the valid people (``is_valid`` = 1) in VirtualPose-17 order, all
joints annotated (``gt_keypoints_3d_visible`` True, as the reference). Invalid people are
not GT (the official evaluation ignores them); their count is kept in
``num_invalid_people``. Evaluate with
:class:`~virtualpose_mm.evaluation.metrics.MuPoTSPCKMetric` (``ann_root`` = the
``MultiPersonTestSet`` folder with the official ``annot.mat``), which reads ``seq_name``,
``frame_id`` and ``camera`` from the samples.
"""
from __future__ import annotations

import os
import os.path as osp
import re
from typing import Dict, List, Optional

import numpy as np
from mmengine.logging import print_log

from virtualpose_mm.geometry.camera import Camera, CameraError
from virtualpose_mm.geometry.camera_io import load_mupots_extrinsics
from virtualpose_mm.registry import DATASETS
from virtualpose_mm.datasets.io.rootnet_json import (json_array, read_json_object,
                                                     read_rootnet_annotations)
from virtualpose_mm.datasets.datasets.base.mono_base import BaseMonoDataset, DatasetError

__all__ = ['MuPoTS3DDataset', 'read_mupots_annotations', 'MUPOTS_GROUND_CENTER_Z']

#: The reference's ground-centring height: ``new_center[2] = −50`` (world z += 50 mm).
MUPOTS_GROUND_CENTER_Z = -50.0
_FILE_RE = re.compile(r'(TS\d+)[\\/]+img_(\d+)\.\w+$')


def read_mupots_annotations(ann_file: str, camera_file: str) -> List[Dict]:
    """Read and check the MuPoTS-3D json and ``cameras.pkl``; one entry per image.

    Returns:
        list (json image order) of dicts: ``image_id``, ``file_name``, ``seq_name``
        (``'TS<k>'``), ``frame_id`` (0-based), ``camera`` (:class:`Camera`, the
        sequence's ground-frame extrinsics + the image's intrinsics, with ``image_size``),
        ``keypoints_3d`` (N, 17, 3) world mm and ``keypoints_cam`` (N, 17, 3) camera mm
        (VirtualPose-17, valid people only), ``keypoints_2d`` (N, 17, 2) px,
        ``ann_ids`` (N,), ``num_invalid_people``.

    Raises:
        DatasetError naming the file, the entry and the field of anything malformed,
        including a sequence that ``cameras.pkl`` does not hold.
    """
    ann_file, camera_file = os.fspath(ann_file), os.fspath(camera_file)
    data = read_json_object(ann_file)
    if not osp.isfile(camera_file):
        raise DatasetError(f'{camera_file}: camera file not found (MuPoTS cameras.pkl)')
    try:
        extr = load_mupots_extrinsics(camera_file)
    except CameraError as e:
        raise DatasetError(str(e)) from None

    def image_fields(img: dict, src: str) -> dict:
        m = _FILE_RE.search(str(img['file_name']))
        if not m:
            raise DatasetError(f"{src}: field 'file_name' = {img['file_name']!r} is not "
                               "'TS<k>/img_<frame>.jpg'")
        seq, frame = m.group(1), int(m.group(2))
        if seq not in extr:
            raise DatasetError(f"{src}: sequence {seq} (field 'file_name') has no camera in "
                               f'{camera_file} (it holds {list(extr)[:3]}…{list(extr)[-1:]})')
        intr = json_array(img, 'intrinsic', {(4, )}, src)
        size = np.array([float(json_array(img, 'width', {()}, src)),
                         float(json_array(img, 'height', {()}, src))])
        e = extr[seq]
        try:
            cam = Camera(e['R'], e['t'].reshape(3), intr[:2], intr[2:], None, size,
                         source=f'{camera_file} [{seq}] + {src}')
        except CameraError as err:
            raise DatasetError(str(err)) from None
        return dict(seq_name=seq, frame_id=frame, camera=cam, num_invalid_people=0)

    def is_gt(ann: dict, image: dict, src: str) -> bool:
        if 'is_valid' not in ann:
            raise DatasetError(f"{src}: missing field 'is_valid' (MuPoTS marks the people "
                               'that are evaluated)')
        if not bool(ann['is_valid']):
            image['num_invalid_people'] += 1
        return bool(ann['is_valid'])

    return read_rootnet_annotations(ann_file, image_fields, is_gt, read_visibility=False,
                                    data=data)


def ground_center_on_gt(camera: Camera, joints_3d: np.ndarray, root_index: int = 2,
                        z: float = MUPOTS_GROUND_CENTER_Z):
    """The reference's ``GROUND_CENTER`` step (a GT leak, see the module docstring).

    The world origin moves to ``c = (mean GT root x, mean GT root y, z)``: joints become
    ``X − c`` and the camera ``t' = t + R·c`` (the same pixels).

    Returns:
        (camera', joints', c (3,)).
    """
    c = joints_3d[:, root_index].mean(0)
    c[2] = z
    cam = camera.numpy()
    new = Camera(cam.R, cam.t + cam.R @ c, cam.f, cam.c, cam.dist, cam.image_size,
                 source=cam.source + ' (ground-centred on the GT roots)', validate=False)
    return new, joints_3d - c, c


@DATASETS.register_module()
class MuPoTS3DDataset(BaseMonoDataset):
    """MuPoTS-3D test frames with the sequence's ground-frame camera (module docstring).

    Args:
        ann_file: ``MuPoTS-3D.json`` (relative to ``data_root`` if given).
        camera_file: ``cameras.pkl`` (relative to ``data_root`` if given).
        img_prefix: image folder relative to ``data_root``: ``'images'`` (VirtualPose's
            layout ``MuPoTS-3D/images/TS1/img_000000.jpg``) or ``'MultiPersonTestSet'``
            (the official download).
        ground_center_on_gt: reproduce the reference's per-frame centring of the world on
            the mean GT root (**uses the test GT**; default False). Frames without a valid
            person are then left in the ground frame.
        filter_empty: drop images without a valid person (default False: every test image
            is kept; the official evaluation skips them itself).
        sequences: optional list of sequences to keep (``['TS1', 'TS2']``).
        cache_file: optional index cache.
        **kwargs: :class:`BaseMonoDataset` / :class:`mmengine.dataset.BaseDataset`
            arguments.
    """

    dataset_name = 'mupots3d'
    only_joint_set = ('virtualpose17', 'MuPoTS-3D has no nose joint')

    def __init__(self, ann_file: str = 'MuPoTS-3D.json', camera_file: str = 'cameras.pkl',
                 img_prefix: str = 'images', ground_center_on_gt: bool = False,
                 filter_empty: bool = False, sequences: Optional[List[str]] = None,
                 cache_file: Optional[str] = None, joint_set: str = 'virtualpose17',
                 **kwargs):
        self.camera_file = camera_file
        self.img_prefix = img_prefix
        self.ground_center_on_gt = bool(ground_center_on_gt)
        self.filter_empty = bool(filter_empty)
        self.sequences = None if sequences is None else [str(s) for s in sequences]
        self.cache_file = cache_file
        super().__init__(ann_file=ann_file, joint_set=joint_set, **kwargs)

    def _camera_path(self) -> str:
        p = os.fspath(self.camera_file)
        return osp.join(self.data_root, p) if self.data_root and not osp.isabs(p) else p

    def load_data_list(self) -> List[dict]:
        mt = lambda p: osp.getmtime(p) if osp.isfile(p) else None  # noqa: E731
        config = dict(ann_file=self.ann_file, camera_file=self._camera_path(),
                      ground_center_on_gt=self.ground_center_on_gt,
                      filter_empty=self.filter_empty, sequences=self.sequences,
                      mtimes=(mt(self.ann_file), mt(self._camera_path())))
        return self._load_or_build(self.cache_file, config, self._build)

    def _build(self) -> List[dict]:
        frames = read_mupots_annotations(self.ann_file, self._camera_path())
        root = osp.join(self.data_root, self.img_prefix) if self.data_root else self.img_prefix
        if self.sequences is not None:
            have = {f['seq_name'] for f in frames}
            missing = [s for s in self.sequences if s not in have]
            if missing:
                raise DatasetError(f'{self.ann_file}: no image of sequence(s) {missing}')
        out, empty = [], 0
        for fr in frames:
            if self.sequences is not None and fr['seq_name'] not in self.sequences:
                continue
            n = len(fr['keypoints_3d'])
            if n == 0 and self.filter_empty:
                empty += 1
                continue
            cam, X, shift = fr['camera'], fr['keypoints_3d'], None
            if self.ground_center_on_gt and n:
                cam, X, shift = ground_center_on_gt(cam, X)
            out.append(dict(
                img_path=osp.join(root, fr['file_name']), img_id=fr['image_id'],
                seq_name=fr['seq_name'], frame_id=fr['frame_id'], camera=cam.to_dict(),
                image_size=np.asarray(cam.image_size, np.float64), gt_keypoints_3d=X,
                gt_keypoints_3d_visible=np.ones(X.shape[:2], bool), gt_ids=fr['ann_ids'],
                gt_keypoints_2d=fr['keypoints_2d'],
                num_invalid_people=fr['num_invalid_people'], ground_center_shift=shift))
        if empty:
            print_log(f'{self.ann_file}: {empty} images without a valid person were left out '
                      '(filter_empty=True)', logger='current')
        if self.ground_center_on_gt:
            print_log('MuPoTS3DDataset: ground_center_on_gt=True centres every frame\'s world '
                      'on its mean GT root (the reference protocol; it uses test GT)',
                      logger='current', level=30)
        return out

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['camera'] = Camera.from_dict(info['camera'], source=f'{self.ann_file}: image '
                                          f'{info["img_id"]} ({info["seq_name"]})',
                                          validate=False)
        info['dataset_name'] = self.dataset_name
        return info
