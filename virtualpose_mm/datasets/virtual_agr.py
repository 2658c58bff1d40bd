"""Virtual training scenes for VirtualPose stage 2 (people from a pose bank, seen by a
virtual or real camera).

VirtualPose trains its root and pose nets only on virtual data: 3D people are drawn from a
pose bank, put on the floor in front of a camera, projected, and rendered into the
abstract geometry representation (AGR: joint heatmaps + box map) by
:class:`~virtualpose_mm.datasets.transforms.GenerateVirtualPoseAGR`. This module makes the
3D scene (camera + people); the transforms render and pack it. A frame of
:class:`VirtualPoseSceneDataset` has the keys of every monocular VirtualPose dataset
(:mod:`virtualpose_mm.datasets.mono_base`), so the same pipeline serves real frames.

One frame (every number is an argument, every draw comes from
``numpy.random.default_rng([seed, index])``):

1. the number of people, uniform in ``num_people`` (both ends included), and their poses
   from the bank (with replacement unless ``replace=False``);
2. a camera from ``cameras`` (:class:`~virtualpose_mm.datasets.virtual_cameras.
   VirtualCameraSampler` by default, or a :class:`~virtualpose_mm.datasets.
   virtual_cameras.FixedCameraSampler` of real cameras);
3. each person in turn: turned about the vertical through its root by a yaw uniform in
   ``yaw_range``, then ``max_person_tries`` floor positions of its root drawn uniformly in
   ``placement_area`` (around ``scene_center``); the first that keeps ``min_spacing`` mm
   (root to root, in the ground plane) to the people already placed, has the root at least
   ``min_root_depth`` mm in front of the camera and, with ``person_in_view`` (default), the
   root inside the image (``view_margin`` px from its border) is taken. A person with no
   such position is left out (counted in ``placement_failures``);
4. if nobody's root is in view, the camera is rejected and steps 2–3 are repeated, up to
   ``max_camera_tries`` cameras; then a :class:`DatasetError` says what failed.

Heights come from the bank (its floor is z = 0) plus ``floor_z``.

Pose sources (``pose_bank``): ``'builtin'`` (the CMU mocap bank shipped with the package,
COCO-17, converted by :func:`coco17_to_virtualpose17` for ``joint_set='virtualpose17'``
or to Panoptic-15), a pose-bank file (``.pkl`` / ``.npz``, see
:func:`~virtualpose_mm.datasets.posebank.load_pose_bank`), a ``MuCo-3DHP.json`` (the
17-joint MuCo poses, :func:`~virtualpose_mm.datasets.muco.load_muco_pose_bank`) or a
:class:`~virtualpose_mm.datasets.posebank.PoseBank`.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..geometry.camera import Camera
from ..registry import DATASETS
from .joint_sets import get_joint_set
from .mono_base import BaseMonoDataset, DatasetError
from .posebank import PoseBank, load_pose_bank
from .virtual_cameras import build_camera_sampler

__all__ = ['VirtualPoseSceneDataset', 'coco17_to_virtualpose17', 'load_virtualpose_pose_bank',
           'HEADTOP_EXTENSION']

#: Head top = head centre + this × (head centre − neck) (:func:`coco17_to_virtualpose17`).
HEADTOP_EXTENSION = 0.5


def coco17_to_virtualpose17(coco: np.ndarray, visible: Optional[np.ndarray] = None,
                            headtop_extension: float = HEADTOP_EXTENSION):
    """(..., 17, 3) COCO-17 → (..., 17, 3) VirtualPose-17 (internal MuCo order).

    COCO has no neck, pelvis, spine, head centre or head top; they are made from its joints
    (the rule the golden VirtualPose test vectors were built with; the reference's own
    ``coco.py`` leaves spine / head / head top undefined):

    * neck = mean of the shoulders; mid-hip (root) = mean of the hips;
    * spine = mean of neck and mid-hip;
    * head = mean of nose, eyes and ears;
    * head top = head + ``headtop_extension`` · (head − neck);
    * shoulders, elbows, wrists, hips, knees and ankles are taken as they are.

    Args:
        coco: (..., 17, 3) COCO-17 joints.
        visible: optional (..., 17) bool; a made joint is visible when all its sources are.

    Returns:
        the (..., 17, 3) joints, and the (..., 17) visibility when ``visible`` is given.
    """
    c = np.asarray(coco, dtype=np.float64)
    if c.shape[-2:] != (17, 3):
        raise ValueError(f'coco17_to_virtualpose17: expected (..., 17, 3), got {c.shape}')
    neck = (c[..., 5, :] + c[..., 6, :]) / 2
    hip = (c[..., 11, :] + c[..., 12, :]) / 2
    head = c[..., 0:5, :].mean(-2)
    top = head + headtop_extension * (head - neck)
    spine = (neck + hip) / 2
    # VirtualPose-17: neck, headtop, mid-hip, l-sho, l-elb, l-wri, l-hip, l-knee, l-ank,
    # r-sho, r-elb, r-wri, r-hip, r-knee, r-ank, spine, head
    order = [neck, top, hip] + [c[..., k, :] for k in (5, 7, 9, 11, 13, 15, 6, 8, 10, 12,
                                                       14, 16)] + [spine, head]
    out = np.stack(order, axis=-2)
    if visible is None:
        return out
    v = np.asarray(visible, dtype=bool)
    vneck = v[..., 5] & v[..., 6]
    vhip = v[..., 11] & v[..., 12]
    vhead = v[..., 0:5].all(-1)
    vis = [vneck, vhead & vneck, vhip] + [v[..., k] for k in (5, 7, 9, 11, 13, 15, 6, 8,
                                                              10, 12, 14, 16)] + \
        [vneck & vhip, vhead]
    return out, np.stack(vis, axis=-1)


def load_virtualpose_pose_bank(source: Union[str, PoseBank] = 'builtin',
                               joint_set: str = 'virtualpose17', split: str = 'train',
                               muco_floor: str = 'ankle') -> PoseBank:
    """A pose bank in a VirtualPose joint set (see the module docstring for ``source``).

    Args:
        source: ``'builtin'``, a ``.pkl`` / ``.npz`` pose-bank file, a ``MuCo-3DHP.json``
            or a :class:`PoseBank`.
        joint_set: ``'virtualpose17'`` or ``'panoptic15'``.
        split: pose-bank split (``.npz`` banks).
        muco_floor: ``floor`` of :func:`~virtualpose_mm.datasets.muco.load_muco_pose_bank`.
    """
    js = get_joint_set(joint_set).name
    if js not in ('virtualpose17', 'panoptic15'):
        raise ValueError(f"joint_set must be 'virtualpose17' or 'panoptic15', got {js!r}")
    if isinstance(source, PoseBank):
        bank = source
    elif isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith('.json'):
        from .muco import load_muco_pose_bank
        return load_muco_pose_bank(os.fspath(source), joint_set=js, floor=muco_floor)
    else:
        bank = load_pose_bank(source, joint_set='coco17' if js == 'virtualpose17' else js,
                              split=split)
    if bank.joint_set == js:
        return bank
    if bank.joint_set == 'coco17' and js == 'virtualpose17':
        poses, vis = coco17_to_virtualpose17(bank.poses, bank.visible)
        return PoseBank(poses, vis, js, clip_id=bank.clip_id,
                        source=f'{bank.source} (COCO-17 → VirtualPose-17)', check_units=False)
    raise ValueError(f'{bank.source}: pose bank joint set {bank.joint_set!r} cannot be '
                     f'converted to {js!r}')


def _pair(name, v) -> Tuple[float, float]:
    lo, hi = (float(x) for x in v)
    if hi < lo:
        raise ValueError(f'{name} must be (min, max) with min ≤ max, got {tuple(v)}')
    return lo, hi


@DATASETS.register_module()
class VirtualPoseSceneDataset(BaseMonoDataset):
    """Virtual frames for VirtualPose stage 2 (module docstring).

    Args:
        pose_bank: ``'builtin'``, a pose-bank file, a ``MuCo-3DHP.json`` or a
            :class:`PoseBank`.
        joint_set: ``'virtualpose17'`` (MuCo / MuPoTS models) or ``'panoptic15'``.
        bank_split: pose-bank split.
        muco_floor: how MuCo poses are put on the floor (``'ankle'`` or ``'world'``, see
            :func:`~virtualpose_mm.datasets.muco.load_muco_pose_bank`).
        cameras: camera sampler config: ``dict(type='VirtualCameraSampler', ...)``
            (default, virtual cameras) or ``dict(type='FixedCameraSampler',
            calibration=..., cameras=...)`` (real cameras, the released setting), or a
            sampler object.
        num_samples: frames per epoch (the dataset length).
        seed: frame ``i`` is a pure function of ``(seed, i)``.
        num_people: (min, max) people drawn per frame, both included.
        replace: draw poses with replacement.
        yaw_range: (min, max) degrees of the random turn of each person.
        placement_area: ((x_min, x_max), (y_min, y_max)) mm, relative to ``scene_center``,
            where roots are placed. Keep it (plus a body) inside the root net's capture
            space.
        scene_center: (x, y) world mm of the scene centre.
        floor_z: world height of the floor, mm.
        min_spacing: minimum ground distance between two roots, mm.
        min_root_depth: minimum camera depth of a root, mm.
        person_in_view: a person's root must project inside the image (``view_margin`` px
            from the border). ``False`` places people anywhere in the area in front of the
            camera (the reference's random placement), but a frame still needs one person
            in view.
        view_margin: px.
        max_person_tries: positions tried per person.
        max_camera_tries: cameras tried per frame before giving up with an error.
        **kwargs: :class:`BaseMonoDataset` / :class:`mmengine.dataset.BaseDataset`
            arguments (``pipeline``, ``test_mode``, ``lazy_init``, ...).
    """

    dataset_name = 'virtualpose_scene'

    def __init__(self,
                 pose_bank: Union[str, PoseBank] = 'builtin',
                 joint_set: str = 'virtualpose17',
                 bank_split: str = 'train',
                 muco_floor: str = 'ankle',
                 cameras: Optional[dict] = None,
                 num_samples: int = 10000,
                 seed: int = 0,
                 num_people: Sequence[int] = (1, 5),
                 replace: bool = True,
                 yaw_range: Sequence[float] = (-180.0, 180.0),
                 placement_area: Sequence[Sequence[float]] = ((-3000.0, 3000.0),
                                                              (-3000.0, 3000.0)),
                 scene_center: Sequence[float] = (0.0, 0.0),
                 floor_z: float = 0.0,
                 min_spacing: float = 600.0,
                 min_root_depth: float = 1000.0,
                 person_in_view: bool = True,
                 view_margin: float = 0.0,
                 max_person_tries: int = 100,
                 max_camera_tries: int = 30,
                 **kwargs):
        self.pose_bank_cfg = pose_bank
        self.bank_split = bank_split
        self.muco_floor = muco_floor
        self.camera_sampler = build_camera_sampler(cameras)
        self.num_samples = int(num_samples)
        if self.num_samples < 1:
            raise ValueError(f'num_samples must be ≥ 1, got {num_samples}')
        self.seed = int(seed)
        lo, hi = (int(v) for v in num_people)
        if not 1 <= lo <= hi:
            raise ValueError(f'num_people must be (min, max) with 1 ≤ min ≤ max, got '
                             f'{tuple(num_people)}')
        self.num_people = (lo, hi)
        self.replace = bool(replace)
        self.yaw_range = _pair('yaw_range', yaw_range)
        area = np.asarray(placement_area, dtype=np.float64)
        if area.shape != (2, 2) or (area[:, 1] < area[:, 0]).any():
            raise ValueError('placement_area must be ((x_min, x_max), (y_min, y_max)) with '
                             f'min ≤ max, got {np.asarray(placement_area).tolist()}')
        self.placement_area = area
        self.scene_center = np.asarray(scene_center, dtype=np.float64).reshape(2)
        self.floor_z = float(floor_z)
        self.min_spacing = float(min_spacing)
        self.min_root_depth = float(min_root_depth)
        self.person_in_view = bool(person_in_view)
        self.view_margin = float(view_margin)
        self.max_person_tries = int(max_person_tries)
        self.max_camera_tries = int(max_camera_tries)
        if self.max_person_tries < 1 or self.max_camera_tries < 1:
            raise ValueError('max_person_tries and max_camera_tries must be ≥ 1')
        self.bank: Optional[PoseBank] = None
        super().__init__(joint_set=joint_set, **kwargs)

    # ------------------------------------------------------------------ setup
    def load_data_list(self) -> List[dict]:
        self.bank = load_virtualpose_pose_bank(self.pose_bank_cfg, self.joint_set,
                                               self.bank_split, self.muco_floor)
        if not self.replace and self.num_people[1] > len(self.bank):
            raise ValueError(f'{self.bank.source}: up to {self.num_people[1]} people per frame '
                             f'without replacement, but the bank holds {len(self.bank)} poses')
        self._root = get_joint_set(self.joint_set).root
        return [dict(scene_index=i) for i in range(self.num_samples)]

    # ------------------------------------------------------------------ sampling
    def _in_view(self, cam: Camera, roots: np.ndarray, in_image: bool) -> np.ndarray:
        """(T, 3) roots → (T,) bool: in front (≥ min_root_depth) and, if ``in_image``,
        inside the image by ``view_margin`` px."""
        depth = cam.depth(roots)
        ok = depth >= self.min_root_depth
        if in_image:
            uv = cam.project(roots, min_depth=1.0)
            w, h = cam.image_size
            m = self.view_margin
            ok &= (uv[:, 0] >= m) & (uv[:, 1] >= m) & (uv[:, 0] < w - m) & (uv[:, 1] < h - m)
        return ok

    def _place_people(self, rng: np.random.Generator, cam: Camera, ids, fails: Dict):
        bank, r = self.bank, self._root
        a = self.placement_area
        T = self.max_person_tries
        poses, yaws, kept, roots_xy = [], [], [], []
        for pid in ids:
            pose = bank.poses[pid]
            root = pose[r]
            yaw = float(rng.uniform(*self.yaw_range))
            th = np.deg2rad(yaw)
            rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
            local = (pose[:, :2] - root[:2]) @ rot.T
            xy = np.stack([rng.uniform(a[0, 0], a[0, 1], T), rng.uniform(a[1, 0], a[1, 1], T)],
                          -1) + self.scene_center
            cand = np.concatenate([xy, np.full((T, 1), root[2] + self.floor_z)], -1)
            ok = self._in_view(cam, cand, self.person_in_view)
            if roots_xy:
                d = np.linalg.norm(xy[:, None] - np.asarray(roots_xy)[None], axis=-1)
                spaced = (d >= self.min_spacing).all(1)
                fails['spacing'] += int((ok & ~spaced).any() and not (ok & spaced).any())
                ok &= spaced
            if not ok.any():
                fails['no_position'] += 1
                continue
            k = int(np.argmax(ok))
            p = pose.copy()
            p[:, :2] = local + xy[k]
            p[:, 2] = pose[:, 2] + self.floor_z
            poses.append(p)
            yaws.append(yaw)
            kept.append(int(pid))
            roots_xy.append(xy[k])
        return poses, yaws, kept

    def sample_scene(self, index: int) -> dict:
        """The camera and people of frame ``index`` (deterministic in ``(seed, index)``).

        Returns:
            dict with ``camera`` (:class:`Camera`), ``camera_params`` (what the sampler
            drew), ``image_size`` (2,), ``gt_keypoints_3d`` (N, K, 3) world mm,
            ``gt_keypoints_3d_visible`` (N, K) bool, ``gt_ids`` (N,) pose-bank indices,
            ``yaw_deg`` (N,), ``num_people_requested``, ``camera_tries`` and
            ``placement_failures``.
        """
        if self.bank is None:
            self.full_init()
        rng = np.random.default_rng([self.seed, int(index)])
        bank = self.bank
        n_req = int(rng.integers(self.num_people[0], self.num_people[1] + 1))
        ids = rng.choice(len(bank), size=n_req, replace=self.replace)
        fails = dict(spacing=0, no_position=0, cameras_rejected=0)
        for attempt in range(self.max_camera_tries):
            cam, params = self.camera_sampler.sample(rng, index)
            if cam.image_size is None:
                raise DatasetError(f'{cam.source}: the camera has no image size')
            poses, yaws, kept = self._place_people(rng, cam, ids, fails)
            if poses:
                roots = np.stack([p[self._root] for p in poses])
                if self._in_view(cam, roots, True).any():
                    break
            fails['cameras_rejected'] += 1
        else:
            raise DatasetError(
                f'{self.dataset_name}: frame {index}: none of {self.max_camera_tries} cameras '
                f'of {self.camera_sampler!r} sees a person placed in placement_area '
                f'{self.placement_area.tolist()} around scene_center '
                f'{self.scene_center.tolist()} (min_root_depth={self.min_root_depth} mm, '
                f'view_margin={self.view_margin} px; failures: {fails}). Check that the '
                'cameras look at the placement area.')
        K = bank.num_joints
        return dict(
            camera=cam, camera_params=params,
            image_size=np.asarray(cam.image_size, dtype=np.float64).copy(),
            gt_keypoints_3d=np.stack(poses) if poses else np.zeros((0, K, 3)),
            gt_keypoints_3d_visible=np.stack([bank.visible[i] for i in kept]),
            gt_ids=np.asarray(kept, dtype=np.int64), yaw_deg=np.asarray(yaws),
            num_people_requested=n_req, camera_tries=attempt + 1, placement_failures=fails)

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        index = int(info['scene_index'])
        info.update(self.sample_scene(index))
        info.update(seq_name='virtual', frame_id=index, dataset_name=self.dataset_name,
                    random_seed=(self.seed, index))
        return info
