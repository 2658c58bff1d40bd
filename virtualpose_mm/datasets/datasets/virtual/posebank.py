"""Pose banks: collections of real 3D body poses used to populate virtual scenes.

A :class:`PoseBank` holds ``poses`` (N, K, 3) float64 in world millimetres, z up, floor at
z = 0, and ``visible`` (N, K) bool, in one joint set (``'coco17'`` or ``'panoptic15'``,
see :mod:`virtualpose_mm.datasets.joint_sets`).

Readable files (:func:`load_pose_bank` sniffs the format):

* ``panoptic_training_pose.pkl`` (VoxelPose): a list of ``{'pose': (17, 3) mm z-up COCO-17,
  'vis': (17, 3) or (17,) bool}``. The whole file is the training bank (``split`` must be
  ``'train'`` or ``'all'``).
* the CMU mocap bank ``cmu_mocap_poses.npz`` (+ ``clips.json``): ``coco17`` (N, 17, 3) and
  ``panoptic15`` (N, 15, 3) mm, ``clip_id`` (N,), ``split`` (N,) 0 = train / 1 = test.
* the compact bank shipped with the package (``'builtin'``, the file
  ``virtualpose_mm/data/cmu_mocap_train_poses.npz``): the same keys with the poses stored as
  int16 millimetres (train split only). See ``virtualpose_mm/data/README.md``.

Every bad input raises an error naming the file and the field.
"""
from __future__ import annotations

import functools
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from virtualpose_mm.engine.safe_pickle import UnsafePickleError, safe_load_pickle
# the joint-set conversions live in joint_sets; imported here for the old import paths
from virtualpose_mm.datasets.joint_sets import (can_convert, coco17_to_panoptic15,  # noqa: F401
                                                convert_joints, get_joint_set, root_of)

__all__ = ['PoseBank', 'load_pose_bank', 'bone_length_range', 'joint_heights', 'BUILTIN_POSE_BANK',
           'BUILTIN_POSE_BANKS', 'coco17_to_panoptic15', 'PoseBankError', 'root_of', 'convert_bank']

#: ``virtualpose_mm/data`` (this file is virtualpose_mm/datasets/datasets/virtual/posebank.py)
PACKAGE_DATA = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), *(['..'] * 3), 'data'))
#: The compact CMU mocap bank shipped with the package (train split, int16 mm).
BUILTIN_POSE_BANK = osp.normpath(osp.join(PACKAGE_DATA, 'cmu_mocap_train_poses.npz'))
#: The compact banks shipped with the package per split (``'builtin'``): the train split and
#: the held-out test split (whole CMU takes no training pose comes from), for validation.
BUILTIN_POSE_BANKS = dict(
    train=BUILTIN_POSE_BANK,
    test=osp.join(osp.dirname(BUILTIN_POSE_BANK), 'cmu_mocap_test_poses.npz'))

_SPLITS = {'train': 0, 'test': 1}


class PoseBankError(ValueError):
    """A pose-bank file is unusable; the message names the file and field."""


class PoseBank:
    """A bank of 3D poses in one joint set.

    Args:
        poses: (N, K, 3) world mm, z up, floor at z = 0.
        visible: (N, K) bool (default: all visible).
        joint_set: name of the joint set of the K joints (``'coco17'``, ``'panoptic15'``).
        clip_id: optional (N,) int, the source clip of each pose (for per-clip weighting).
        source: where the bank came from (used in messages).
        check_units: check that the median person is 0.5–2.5 m tall along z (catches banks
            in metres or in a y-up frame).
    """

    def __init__(self, poses, visible=None, joint_set: str = 'coco17', clip_id=None,
                 source: str = '<pose bank>', check_units: bool = True):
        self.source = source
        self.joint_set = get_joint_set(joint_set).name
        K = get_joint_set(joint_set).num_joints
        poses = np.asarray(poses, dtype=np.float64)
        if poses.ndim != 3 or poses.shape[1:] != (K, 3):
            raise PoseBankError(f'{source}: poses have shape {poses.shape}, expected '
                                f'(N, {K}, 3) for joint set {self.joint_set!r}')
        if len(poses) == 0:
            raise PoseBankError(f'{source}: the pose bank is empty')
        bad = ~np.isfinite(poses).all(axis=(1, 2))
        if bad.any():
            raise PoseBankError(f'{source}: {int(bad.sum())} poses contain NaN or infinite '
                                f'values (first: pose {int(np.flatnonzero(bad)[0])})')
        if visible is None:
            visible = np.ones(poses.shape[:2], dtype=bool)
        visible = np.asarray(visible)
        if visible.shape == poses.shape:  # the reference's (N, K, 3) copies
            visible = visible[..., 0]
        if visible.shape != poses.shape[:2]:
            raise PoseBankError(f'{source}: visibility has shape {visible.shape}, expected '
                                f'{poses.shape[:2]} or {poses.shape}')
        visible = visible.astype(bool)
        if clip_id is not None:
            clip_id = np.asarray(clip_id, dtype=np.int64).reshape(-1)
            if clip_id.shape != (len(poses), ):
                raise PoseBankError(f'{source}: clip_id has {clip_id.size} entries for '
                                    f'{len(poses)} poses')
        self.poses = poses
        self.visible = visible
        self.clip_id = clip_id
        if check_units:
            self._check_units()

    def _check_units(self):
        z = np.where(self.visible, self.poses[..., 2], np.nan)
        ext = np.nanmax(z, axis=1) - np.nanmin(z, axis=1)
        med = float(np.nanmedian(ext)) if np.isfinite(ext).any() else 0.0
        if not 500.0 <= med <= 2500.0:
            xy = np.nanmedian(np.ptp(self.poses[..., 1], axis=1))
            raise PoseBankError(
                f'{self.source}: the median vertical (z) extent of a pose is {med:.4g}, '
                f'expected 500–2500 mm (median y extent {xy:.4g}). Pose banks must be in '
                'millimetres with z pointing up; convert the file or pass check_units=False.')

    def __len__(self) -> int:
        return len(self.poses)

    @property
    def num_joints(self) -> int:
        return self.poses.shape[1]

    def root(self, poses: Optional[np.ndarray] = None) -> np.ndarray:
        """(..., 3) the mid-hip of ``poses`` (default: the whole bank), mm."""
        p = self.poses if poses is None else poses
        return root_of(p, self.joint_set)

    def sampling_weights(self, weighting: str = 'pose') -> Optional[np.ndarray]:
        """Per-pose probabilities: ``'pose'`` (uniform, None) or ``'clip'`` (every clip
        equally likely, then uniform within the clip)."""
        if weighting == 'pose':
            return None
        if weighting != 'clip':
            raise ValueError(f"pose-bank weighting must be 'pose' or 'clip', got {weighting!r}")
        if self.clip_id is None:
            raise PoseBankError(f"{self.source}: weighting='clip' needs clip ids, and this "
                                'bank has none (the VoxelPose .pkl format has no clips)')
        _, inv, counts = np.unique(self.clip_id, return_inverse=True, return_counts=True)
        w = 1.0 / counts[inv]
        return w / w.sum()

    def __repr__(self):
        return (f'PoseBank({len(self)} poses, joint_set={self.joint_set!r}, '
                f'source={self.source!r})')


def _select_joint_set(arr_by_set: dict, vis_by_set: dict, joint_set: str, source: str):
    """The poses (and visibility or None) of ``joint_set``: stored in the file, or converted
    (:func:`~virtualpose_mm.datasets.joint_sets.convert_joints`) from a set it holds."""
    js = get_joint_set(joint_set).name
    if js in arr_by_set:
        return arr_by_set[js], vis_by_set.get(js)
    for have in arr_by_set:
        if can_convert(have, js):
            vis = vis_by_set.get(have)
            if vis is None:
                return convert_joints(arr_by_set[have], have, js), None
            return convert_joints(arr_by_set[have], have, js, visible=vis)
    raise PoseBankError(f'{source}: the bank holds {sorted(arr_by_set)} poses and cannot '
                        f'provide joint set {js!r}')


def convert_bank(bank: 'PoseBank', joint_set: str) -> 'PoseBank':
    """``bank`` in another joint set (itself when it already is in it)."""
    js = get_joint_set(joint_set).name
    if bank.joint_set == js:
        return bank
    if not can_convert(bank.joint_set, js):
        raise PoseBankError(f'{bank.source}: pose bank joint set {bank.joint_set!r} cannot be '
                            f'converted to {js!r}')
    poses, vis = convert_joints(bank.poses, bank.joint_set, js, visible=bank.visible)
    name = {'coco17': 'COCO-17', 'panoptic15': 'Panoptic-15', 'virtualpose17':
            'VirtualPose-17'}
    return PoseBank(poses, vis, js, clip_id=bank.clip_id,
                    source=f'{bank.source} ({name.get(bank.joint_set, bank.joint_set)} → '
                           f'{name.get(js, js)})', check_units=False)


def _load_pkl(path: str, joint_set: str, split: str, check_units: bool) -> PoseBank:
    if split not in ('train', 'all'):
        raise PoseBankError(f"{path}: a VoxelPose .pkl pose bank is a training bank; split "
                            f"must be 'train' or 'all', got {split!r}")
    try:  # restricted unpickler: containers and numpy arrays only, nothing is run
        data = safe_load_pickle(path, what='pose bank')
    except UnsafePickleError as e:
        raise PoseBankError(str(e)) from e
    except Exception as e:
        raise PoseBankError(f'{path}: not a readable pickle ({type(e).__name__}: {e})') from None
    if not isinstance(data, (list, tuple)) or not data:
        raise PoseBankError(f'{path}: expected a non-empty list of '
                            "{'pose': (K, 3), 'vis': (K, 3)} dicts, got "
                            f'{type(data).__name__}')
    poses, vis = [], []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or 'pose' not in item:
            raise PoseBankError(f"{path}: entry [{i}] has no field 'pose' "
                                f'(got {type(item).__name__})')
        p = np.asarray(item['pose'], dtype=np.float64)
        if p.ndim != 2 or p.shape[1] < 3:
            raise PoseBankError(f"{path}: entry [{i}] field 'pose' has shape {p.shape}, "
                                'expected (K, 3)')
        v = np.asarray(item['vis']) if 'vis' in item else np.ones(p.shape[0], bool)
        if v.ndim == 2:
            v = v[:, 0]
        if v.shape != (p.shape[0], ):
            raise PoseBankError(f"{path}: entry [{i}] field 'vis' has shape "
                                f"{np.shape(item['vis'])} for {p.shape[0]} joints")
        if poses and p.shape[0] != poses[0].shape[0]:
            raise PoseBankError(f"{path}: entry [{i}] field 'pose' has {p.shape[0]} joints, "
                                f'entry [0] has {poses[0].shape[0]}')
        poses.append(p[:, :3])
        vis.append(v.astype(bool))
    poses, vis = np.stack(poses), np.stack(vis)
    native = {17: 'coco17', 15: 'panoptic15'}.get(poses.shape[1])
    if native is None:
        raise PoseBankError(f"{path}: poses have {poses.shape[1]} joints; a .pkl bank must "
                            'hold COCO-17 (17) or Panoptic-15 (15) joints')
    p, v = _select_joint_set({native: poses}, {native: vis}, joint_set, path)
    return PoseBank(p, v, joint_set, source=path, check_units=check_units)


def _load_npz(path: str, joint_set: str, split: str, check_units: bool) -> PoseBank:
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise PoseBankError(f'{path}: not a readable .npz ({type(e).__name__}: {e})') from None
    with data:
        arrays = {k: data[k] for k in ('coco17', 'panoptic15') if k in data.files}
        if not arrays:
            raise PoseBankError(f"{path}: no pose array; expected 'coco17' and/or "
                                f"'panoptic15' (fields: {data.files})")
        n = len(next(iter(arrays.values())))
        for k, a in arrays.items():
            K = get_joint_set(k).num_joints
            if a.ndim != 3 or a.shape[1:] != (K, 3) or len(a) != n:
                raise PoseBankError(f'{path}: field {k!r} has shape {a.shape}, expected '
                                    f'({n}, {K}, 3)')
        sp = data['split'] if 'split' in data.files else None
        clip = data['clip_id'] if 'clip_id' in data.files else None
        vis = {k: data[k + '_visible'].astype(bool) for k in arrays
               if k + '_visible' in data.files}
    if split == 'all':
        keep = np.ones(n, bool)
    elif split in _SPLITS:
        if sp is None:
            raise PoseBankError(f"{path}: split={split!r} requested but the file has no "
                                "field 'split'")
        if sp.shape != (n, ):
            raise PoseBankError(f"{path}: field 'split' has shape {sp.shape}, expected ({n},)")
        keep = sp == _SPLITS[split]
        if not keep.any():
            raise PoseBankError(f"{path}: no pose has split {split!r} (field 'split' values: "
                                f'{sorted(set(sp.tolist()))}; 0 = train, 1 = test)')
    else:
        raise ValueError(f"pose-bank split must be 'train', 'test' or 'all', got {split!r}")
    arrays = {k: a[keep].astype(np.float64) for k, a in arrays.items()}
    vis = {k: v[keep] for k, v in vis.items()}
    p, v = _select_joint_set(arrays, vis, joint_set, path)
    if clip is not None:
        if clip.shape != (n, ):
            raise PoseBankError(f"{path}: field 'clip_id' has shape {clip.shape}, expected "
                                f'({n},)')
        clip = clip[keep]
    return PoseBank(p, v, joint_set, clip_id=clip, source=path, check_units=check_units)


def load_pose_bank(path: str = 'builtin', joint_set: str = 'coco17', split: str = 'train',
                   check_units: bool = True) -> PoseBank:
    """Read a pose bank (format sniffed from the file).

    Args:
        path: a ``.pkl`` (VoxelPose ``panoptic_training_pose.pkl``), a ``.npz`` (the CMU mocap
            bank or the compact shipped one) or ``'builtin'`` (the compact banks shipped
            with the package, :data:`BUILTIN_POSE_BANKS`: the CMU train split, 14,183
            poses, and the held-out test split, 2,675 poses of other takes).
        joint_set: ``'coco17'`` or ``'panoptic15'`` (Panoptic-15 is derived from COCO-17 when
            a file holds only COCO-17: neck = mid-shoulder, mid-hip = mean of the hips).
        split: ``'train'``, ``'test'`` or ``'all'`` (for ``.npz`` banks with a ``split``
            field).
        check_units: see :class:`PoseBank`.

    Returns:
        :class:`PoseBank`.
    """
    if path == 'builtin':
        if split == 'all':
            return concat_banks([load_pose_bank('builtin', joint_set, s, check_units)
                                 for s in ('train', 'test')])
        if split not in BUILTIN_POSE_BANKS:
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        path = BUILTIN_POSE_BANKS[split]
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: pose bank not found')
    with open(path, 'rb') as f:
        head = f.read(4)
    if head[:2] == b'PK':  # zip: .npz
        return _load_npz(path, joint_set, split, check_units)
    if head[:1] == b'\x80' or path.endswith('.pkl'):
        return _load_pkl(path, joint_set, split, check_units)
    raise PoseBankError(f'{path}: unknown pose-bank format (expected a .pkl list of '
                        "{'pose', 'vis'} dicts or an .npz with 'coco17'/'panoptic15')")


def concat_banks(banks: Sequence[PoseBank]) -> PoseBank:
    """One bank made of several banks of the same joint set."""
    sets = {b.joint_set for b in banks}
    if len(sets) != 1:
        raise ValueError(f'cannot concatenate pose banks of joint sets {sorted(sets)}')
    clip = None
    if all(b.clip_id is not None for b in banks):
        offs, clips = 0, []
        for b in banks:
            clips.append(b.clip_id + offs)
            offs += int(b.clip_id.max()) + 1
        clip = np.concatenate(clips)
    return PoseBank(np.concatenate([b.poses for b in banks]),
                    np.concatenate([b.visible for b in banks]), banks[0].joint_set,
                    clip_id=clip, source=' + '.join(b.source for b in banks),
                    check_units=False)


def _builtin_train_poses(joint_set: str):
    """(joint set, (N, K, 3) float64 mm poses) of the builtin CMU bank's train split."""
    js = get_joint_set(joint_set)
    return js, np.asarray(load_pose_bank('builtin', js.name, 'train').poses, np.float64)


@functools.lru_cache(maxsize=None)
def joint_heights(joint_set: str = 'coco17', root_joints: tuple = (11, 12)) -> tuple:
    """The median height (world z, mm) of every joint above the root (the mean of
    ``root_joints``) over the builtin CMU bank's train split (computed once per process).

    Args:
        joint_set: a joint set the builtin bank gives (``'coco17'`` or ``'panoptic15'``).
        root_joints: the joints whose mean is the root.

    Returns:
        tuple of K floats, mm (e.g. COCO-17: the nose about 0.6 m above the mid-hip, the
        ankles about 0.8 m below it).
    """
    z = _builtin_train_poses(joint_set)[1][..., 2]
    return tuple(float(h) for h in
                 np.median(z - z[:, list(root_joints)].mean(1, keepdims=True), axis=0))


@functools.lru_cache(maxsize=None)
def bone_length_range(joint_set: str = 'coco17') -> dict:
    """The length of every limb of a joint set's skeleton over the builtin CMU bank's train
    split (14,183 poses of mocap subjects; computed once per process).

    Args:
        joint_set: a joint set the builtin bank gives (``'coco17'`` or ``'panoptic15'``).

    Returns:
        dict ``{(a, b): (min, median, max)}`` in mm for every skeleton pair ``(a, b)``.
    """
    js, poses = _builtin_train_poses(joint_set)
    out = {}
    for a, b in js.skeleton:
        length = np.linalg.norm(poses[:, a] - poses[:, b], axis=-1)
        out[(int(a), int(b))] = (float(length.min()), float(np.median(length)),
                                 float(length.max()))
    return out
