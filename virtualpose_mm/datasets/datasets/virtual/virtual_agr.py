"""Virtual training scenes for VirtualPose stage 2 (people from a pose bank, seen by a
virtual or real camera).

VirtualPose trains its root and pose nets only on virtual data: 3D people are drawn from a
pose bank, put on the floor in front of a camera, projected, and rendered into the
abstract geometry representation (AGR: joint heatmaps + box map) by
:class:`~virtualpose_mm.datasets.transforms.GenerateVirtualPoseAGR`. This module makes the
3D scene (camera + people); the transforms render and pack it. A frame of
:class:`VirtualPoseSceneDataset` has the keys of every monocular VirtualPose dataset
(:mod:`virtualpose_mm.datasets.datasets.base.mono_base`), so the same pipeline serves real frames.

One frame (every number is an argument, every draw comes from
``numpy.random.default_rng([seed, index])``):

1. the number of people, uniform in ``num_people`` (both ends included), and their poses
   from the bank (with replacement unless ``replace=False``);
2. a camera from ``cameras`` (:class:`~virtualpose_mm.datasets.datasets.virtual.virtual_cameras.
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

Drawing the people, turning and placing them, and the per-frame generator are
:mod:`~virtualpose_mm.datasets.datasets.virtual.virtual_core` (shared with the multi-view
:class:`~virtualpose_mm.datasets.datasets.virtual.virtual_scene.VirtualMviewSceneDataset`), with its
``'batch'`` candidate positions, people that fit nowhere left out, and the checks
``RootInView`` (depth, image) then ``MinSpacing``; this class adds the camera of each frame.

Pose sources (``pose_bank``): ``'builtin'`` (the CMU mocap bank shipped with the package,
COCO-17, converted by :func:`~virtualpose_mm.datasets.joint_sets.coco17_to_virtualpose17`
for ``joint_set='virtualpose17'`` or to Panoptic-15), a pose-bank file (``.pkl`` /
``.npz``, see :func:`~virtualpose_mm.datasets.datasets.virtual.posebank.load_pose_bank`),
a ``MuCo-3DHP.json`` (the 17-joint MuCo poses,
:func:`~virtualpose_mm.datasets.datasets.monocular.muco.load_muco_pose_bank`) or a
:class:`~virtualpose_mm.datasets.datasets.virtual.posebank.PoseBank`.
"""
from __future__ import annotations

import os
from typing import List, Optional, Sequence, Union

import numpy as np

from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.registry import DATASETS
# the joint-set conversion lives in joint_sets; imported here for the old import path
from virtualpose_mm.datasets.joint_sets import (HEADTOP_EXTENSION,  # noqa: F401
                                                coco17_to_virtualpose17, get_joint_set)
from virtualpose_mm.datasets.datasets.base.mono_base import BaseMonoDataset, DatasetError
from virtualpose_mm.datasets.datasets.virtual.posebank import (PoseBank, convert_bank,
                                                               load_pose_bank)
from virtualpose_mm.datasets.datasets.virtual.virtual_cameras import build_camera_sampler
from virtualpose_mm.datasets.datasets.virtual.virtual_core import (MinSpacing, PeoplePlacer,
                                                                   PlacementCheck, RootInView,
                                                                   VirtualSceneMixin,
                                                                   parse_range,
                                                                   points_in_view)

__all__ = ['VirtualPoseSceneDataset', 'coco17_to_virtualpose17', 'load_virtualpose_pose_bank',
           'HEADTOP_EXTENSION']


def load_virtualpose_pose_bank(source: Union[str, PoseBank] = 'builtin',
                               joint_set: str = 'virtualpose17', split: str = 'train',
                               muco_floor: str = 'ankle') -> PoseBank:
    """A pose bank in a VirtualPose joint set (see the module docstring for ``source``).

    Args:
        source: ``'builtin'``, a ``.pkl`` / ``.npz`` pose-bank file, a ``MuCo-3DHP.json``
            or a :class:`PoseBank`.
        joint_set: ``'virtualpose17'`` or ``'panoptic15'``.
        split: pose-bank split (``.npz`` banks).
        muco_floor: ``floor`` of
            :func:`~virtualpose_mm.datasets.datasets.monocular.muco.load_muco_pose_bank`.
    """
    js = get_joint_set(joint_set).name
    if js not in ('virtualpose17', 'panoptic15'):
        raise ValueError(f"joint_set must be 'virtualpose17' or 'panoptic15', got {js!r}")
    if isinstance(source, PoseBank):
        return convert_bank(source, js)
    if isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith('.json'):
        from virtualpose_mm.datasets.datasets.monocular.muco import load_muco_pose_bank
        return load_muco_pose_bank(os.fspath(source), joint_set=js, floor=muco_floor)
    # a COCO-17 bank (the builtin one) is converted (joint_sets.convert_joints)
    return load_pose_bank(source, joint_set=js, split=split)


@DATASETS.register_module()
class VirtualPoseSceneDataset(VirtualSceneMixin, BaseMonoDataset):
    """Virtual frames for VirtualPose stage 2 (module docstring).

    Args:
        pose_bank: ``'builtin'``, a pose-bank file, a ``MuCo-3DHP.json`` or a
            :class:`PoseBank`.
        joint_set: ``'virtualpose17'`` (MuCo / MuPoTS models) or ``'panoptic15'``.
        bank_split: pose-bank split.
        muco_floor: how MuCo poses are put on the floor (``'ankle'`` or ``'world'``, see
            :func:`~virtualpose_mm.datasets.datasets.monocular.muco.load_muco_pose_bank`).
        cameras: camera sampler config: ``dict(type='VirtualCameraSampler', ...)``
            (default, virtual cameras) or ``dict(type='FixedCameraSampler',
            calibration=..., cameras=...)`` (real cameras, the released setting), or a
            sampler object.
        num_samples: frames per epoch (the dataset length).
        seed: frame ``i`` is a pure function of ``(seed, i)``.
        num_people: (min, max) people drawn per frame, both included.
        replace: draw poses with replacement.
        bank_weighting: ``'pose'`` (every pose equally likely) or ``'clip'`` (every clip of
            a bank with clip ids equally likely).
        yaw_range: (min, max) degrees of the random turn of each person.
        mirror_prob: probability that a person's bank pose is mirrored (left and right
            exchanged) before its turn: :class:`~virtualpose_mm.datasets.datasets.virtual.
            virtual_core.PeoplePlacer`'s augmentation (default 0: the frames are those
            drawn without it, number for number).
        part_mix_prob: probability that a person is made of the upper body of its pose and
            the legs of another (:class:`~virtualpose_mm.datasets.datasets.virtual.
            virtual_core.PeoplePlacer`'s augmentation; default 0: nothing drawn).
        tilt_prob: probability that a person is turned about a horizontal axis through its
            root by an angle drawn in ``tilt_range`` degrees, its lowest joint kept at its
            height (upside-down and tilted bodies; :class:`~virtualpose_mm.datasets.
            datasets.virtual.virtual_core.PeoplePlacer`'s augmentation; default 0: nothing
            drawn).
        tilt_range: (min, max) degrees of that angle.
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
                 bank_weighting: str = 'pose',
                 yaw_range: Sequence[float] = (-180.0, 180.0),
                 mirror_prob: float = 0.0,
                 part_mix_prob: float = 0.0,
                 tilt_prob: float = 0.0,
                 tilt_range: Sequence[float] = (-180.0, 180.0),
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
        self._init_scene(num_samples, seed, num_people, replace, yaw_range, bank_weighting)
        if not 0.0 <= mirror_prob <= 1.0:
            raise ValueError(f'{type(self).__name__}: mirror_prob must be in [0, 1], got '
                             f'{mirror_prob}')
        self.mirror_prob = float(mirror_prob)
        if not 0.0 <= part_mix_prob <= 1.0:
            raise ValueError(f'{type(self).__name__}: part_mix_prob must be in [0, 1], got '
                             f'{part_mix_prob}')
        self.part_mix_prob = float(part_mix_prob)
        if not 0.0 <= tilt_prob <= 1.0:
            raise ValueError(f'{type(self).__name__}: tilt_prob must be in [0, 1], got '
                             f'{tilt_prob}')
        self.tilt_prob = float(tilt_prob)
        self.tilt_range = parse_range('tilt_range', tilt_range)
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
        self.placer: Optional[PeoplePlacer] = None
        super().__init__(joint_set=joint_set, **kwargs)

    # ------------------------------------------------------------------ setup
    def load_data_list(self) -> List[dict]:
        self.bank = load_virtualpose_pose_bank(self.pose_bank_cfg, self.joint_set,
                                               self.bank_split, self.muco_floor)
        self.placer = PeoplePlacer(
            self.bank, self.num_people, self.replace, self.bank_weighting, self.yaw_range,
            area=self.placement_area, area_offset=self.scene_center, floor_z=self.floor_z,
            draw='batch', max_tries=self.max_person_tries, on_unplaced='skip',
            unplaced_key='no_position', mirror_prob=self.mirror_prob,
            part_mix_prob=self.part_mix_prob, tilt_prob=self.tilt_prob,
            tilt_range=self.tilt_range)
        return self._scene_list()  # the frames are drawn on demand in get_data_info

    # ------------------------------------------------------------------ sampling
    def _checks(self, cam: Camera) -> List[PlacementCheck]:
        """A root in front of ``cam`` (and in its image with ``person_in_view``), then the
        spacing to the people already placed."""
        return [RootInView(cam, margin=self.view_margin, min_depth=self.min_root_depth,
                           in_image=self.person_in_view, name=None),
                MinSpacing(self.min_spacing)]

    def sample_scene(self, index: int) -> dict:
        """The camera and people of frame ``index`` (deterministic in ``(seed, index)``).

        Returns:
            dict with ``camera`` (:class:`Camera`), ``camera_params`` (what the sampler
            drew), ``image_size`` (2,), ``gt_keypoints_3d`` (N, K, 3) world mm,
            ``gt_keypoints_3d_visible`` (N, K) bool, ``gt_ids`` (N,) pose-bank indices,
            ``yaw_deg`` (N,), ``mirrored`` (N,), ``lower_body_ids`` (N,), ``tilt_deg`` (N,),
            ``num_people_requested``, ``camera_tries`` and
            ``placement_failures``.
        """
        if self.bank is None:
            self.full_init()
        rng = self.scene_rng(index)
        n_req, ids = self.placer.draw_ids(rng)
        fails = dict(spacing=0, no_position=0, cameras_rejected=0)
        for attempt in range(self.max_camera_tries):
            cam, params = self.camera_sampler.sample(rng, index)
            if cam.image_size is None:
                raise DatasetError(f'{cam.source}: the camera has no image size')
            people = self.placer.place(rng, ids, self._checks(cam), fails)
            if len(people) and points_in_view(cam, np.stack(people.roots), self.view_margin,
                                              self.min_root_depth).any():
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
        return dict(
            camera=cam, camera_params=params,
            image_size=np.asarray(cam.image_size, dtype=np.float64).copy(),
            **people.as_dict(self.bank.num_joints),
            num_people_requested=n_req, camera_tries=attempt + 1, placement_failures=fails)

    def frame_info(self, index: int) -> dict:
        return dict(seq_name='virtual', frame_id=index, dataset_name=self.dataset_name)
