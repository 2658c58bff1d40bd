"""Reader of the COCO-style RootNet / PoseNet annotation json (MuCo-3DHP and MuPoTS-3D).

Both ``MuCo-3DHP.json`` and ``MuPoTS-3D.json`` (mks0601/3DMPPE_ROOTNET_RELEASE, also used by
wkom/VirtualPose) hold

* ``images[]``: one entry per image, with ``id``, ``file_name`` and the image's camera (in
  a dataset-specific form);
* ``annotations[]``: one entry per person, with ``image_id``, ``keypoints_cam`` (J, 3)
  camera-frame mm, ``keypoints_img`` (J, 2) or (J, 3) px and optionally ``keypoints_vis``
  (J,); J = 17 (the MuPoTS-17 order) or 21 (MuCo-21: MuPoTS-17 + hands + toes).

The two datasets differ only in how an image entry gives its camera and in which
annotations are ground truth. :func:`read_rootnet_annotations` takes those two rules as
functions and does the rest once: every check (each message names the file, the entry and
the field), the joint-set conversion to VirtualPose-17
(:func:`~virtualpose_mm.datasets.joint_sets.convert_joints`) and camera → world with the
image's camera.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional

import numpy as np

from virtualpose_mm.datasets.joint_sets import MUCO21, MUPOTS17, convert_joints
from virtualpose_mm.datasets.datasets.base.mview_base import DatasetError

__all__ = ['read_json_object', 'json_array', 'read_rootnet_annotations',
           'rootnet_to_virtualpose17']


def read_json_object(path: str, list_fields=('images', 'annotations')) -> dict:
    """Load a json object whose ``list_fields`` must be lists (DatasetError naming the
    file and the field otherwise)."""
    if not osp.isfile(path):
        raise DatasetError(f'{path}: annotation file not found')
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise DatasetError(f'{path}: not a readable json file ({type(e).__name__}: {e})') \
            from None
    if not isinstance(data, dict):
        raise DatasetError(f'{path}: expected a json object with '
                           f'{" and ".join(list_fields)}, got {type(data).__name__}')
    for key in list_fields:
        if not isinstance(data.get(key), list):
            raise DatasetError(f'{path}: field {key!r} is missing or not a list '
                               f'(fields: {sorted(data)[:10]})')
    return data


def json_array(entry: dict, key: str, shapes, src: str, dtype=np.float64) -> np.ndarray:
    """``entry[key]`` as a numeric array of one of ``shapes`` (finite for floats)."""
    if not isinstance(entry, dict):
        raise DatasetError(f'{src}: expected an object, got {type(entry).__name__}')
    if key not in entry:
        raise DatasetError(f'{src}: missing field {key!r} (fields: {sorted(entry)[:12]})')
    try:
        a = np.asarray(entry[key], dtype=dtype)
    except (TypeError, ValueError):
        raise DatasetError(f'{src}: field {key!r} is not numeric') from None
    if a.shape not in shapes:
        raise DatasetError(f'{src}: field {key!r} has shape {a.shape}, expected one of '
                           f'{sorted(shapes)}')
    if dtype is np.float64 and not np.isfinite(a).all():
        raise DatasetError(f'{src}: field {key!r} contains NaN or infinite values')
    return a


def rootnet_to_virtualpose17(joints: np.ndarray, visible: Optional[np.ndarray] = None):
    """(J, C) MuCo-21 (J = 21) or MuPoTS-17 (J = 17) joints → (17, C) VirtualPose-17 (and
    the (17,) visibility when ``visible`` (J,) is given)."""
    src = MUCO21 if joints.shape[-2] == MUCO21.num_joints else MUPOTS17
    return convert_joints(joints, src, 'virtualpose17', visible=visible)


def read_rootnet_annotations(path: str, image_fields: Callable[[dict, str], dict],
                             is_gt: Optional[Callable[[dict, dict, str], bool]] = None,
                             read_visibility: bool = True,
                             data: Optional[dict] = None) -> List[Dict]:
    """Read and check a RootNet annotation json; one entry per image, in file order.

    Args:
        path: the json file.
        image_fields: ``(images[i], source) → dict`` of the image's own fields; it must
            hold ``camera`` (a :class:`~virtualpose_mm.geometry.Camera` whose frame
            ``keypoints_cam`` is in) and may hold anything else, which is copied into the
            image's entry. ``image_id`` and ``file_name`` are checked and added here.
        is_gt: ``(annotations[i], the image's entry, source) → bool``: whether the person
            is ground truth (default: every one). It may count the others in the entry.
        read_visibility: read the optional ``keypoints_vis`` (into
            ``keypoints_2d_visible``; all True where absent).
        data: the file's content when the caller has read it already
            (:func:`read_json_object`).

    Returns:
        list of dicts: the fields of ``image_fields`` plus ``image_id``, ``file_name``,
        ``keypoints_3d`` (N, 17, 3) world mm and ``keypoints_cam`` (N, 17, 3) camera mm
        (VirtualPose-17 order), ``keypoints_2d`` (N, 17, 2) px, ``keypoints_2d_visible``
        (N, 17) bool (with ``read_visibility``) and ``ann_ids`` (N,).

    Raises:
        DatasetError naming the file, the entry and the field of anything malformed
        (missing field, wrong shape, non-numeric, joints at depth ≤ 0, an ``image_id`` with
        no image, an image id listed twice).
    """
    path = os.fspath(path)
    data = read_json_object(path) if data is None else data
    images: Dict[int, Dict] = {}
    people: Dict[int, Dict[str, list]] = {}
    for i, img in enumerate(data['images']):
        src = f'{path}: images[{i}]'
        for key in ('id', 'file_name'):
            if not isinstance(img, dict) or key not in img:
                raise DatasetError(f'{src}: missing field {key!r}')
        iid = int(img['id'])
        if iid in images:
            raise DatasetError(f'{src}: image id {iid} is listed twice')
        images[iid] = dict(image_fields(img, src), image_id=iid,
                           file_name=str(img['file_name']))
        people[iid] = dict(cam=[], img=[], vis=[], ids=[])
    for i, ann in enumerate(data['annotations']):
        src = f'{path}: annotations[{i}]'
        if not isinstance(ann, dict) or 'image_id' not in ann:
            raise DatasetError(f"{src}: missing field 'image_id'")
        iid = int(ann['image_id'])
        if iid not in images:
            raise DatasetError(f"{src}: field 'image_id' = {iid} names no image of "
                               "'images'")
        if is_gt is not None and not is_gt(ann, images[iid], src):
            continue
        kc = json_array(ann, 'keypoints_cam', {(21, 3), (17, 3)}, src)
        J = kc.shape[0]
        ki = json_array(ann, 'keypoints_img', {(J, 2), (J, 3)}, src)[:, :2]
        kv = np.ones(J, bool)
        if read_visibility and 'keypoints_vis' in ann:
            kv = json_array(ann, 'keypoints_vis', {(J, ), (J, 1)}, src).reshape(-1) > 0
        if (kc[:, 2] <= 0).any():
            raise DatasetError(f"{src}: field 'keypoints_cam' has joints at depth ≤ 0 "
                               f'({kc[:, 2].min():.1f} mm): camera-frame coordinates '
                               'are expected in mm')
        rec = people[iid]
        cam17, vis17 = rootnet_to_virtualpose17(kc, kv)
        rec['cam'].append(cam17)
        rec['img'].append(rootnet_to_virtualpose17(ki))
        rec['vis'].append(vis17)
        rec['ids'].append(int(ann.get('id', i)))
    out = []
    for iid, entry in images.items():
        rec = people[iid]
        n = len(rec['cam'])
        kc = np.stack(rec['cam']) if n else np.zeros((0, 17, 3))
        entry.update(keypoints_3d=entry['camera'].camera_to_world(kc) if n else kc.copy(),
                     keypoints_cam=kc,
                     keypoints_2d=np.stack(rec['img']) if n else np.zeros((0, 17, 2)),
                     ann_ids=np.asarray(rec['ids'], dtype=np.int64))
        if read_visibility:
            entry['keypoints_2d_visible'] = np.stack(rec['vis']) if n else \
                np.zeros((0, 17), bool)
        out.append(entry)
    return out
