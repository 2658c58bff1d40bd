"""Virtual multi-person scenes seen by any calibrated camera rig.

VoxelPose trains its 3D networks without images: people from a pose bank are placed in the
capture space, projected with the rig's cameras and rendered into Gaussian heatmaps that
imitate a 2D detector (``ShelfSynthetic`` / ``CampusSynthetic`` of the reference). This
dataset does the 3D part for *any* rig (a calibration file in any format
:func:`~virtualpose_mm.geometry.camera_io.load_cameras` reads, or cameras given inline) and
hands the same frame dict as the real datasets to the same transforms
(``ProjectKeypoints3D`` → ``SimulateHeatmapNoise`` → ``MultiViewLetterbox`` →
``GenerateMultiViewHeatmaps`` → ``GenerateRootTarget3D`` → ``PackMultiViewPoseInputs``).

Placement of one frame (every number is an argument):

1. draw the number of people uniformly in ``num_people = (min, max)`` (both included) and
   that many poses from the bank (with replacement unless ``replace=False``; uniformly per
   pose or per clip, ``bank_weighting``);
2. for each person in turn: turn the pose about the vertical axis through its root by a yaw
   drawn in ``yaw_range`` (degrees), then draw a floor position for its root: uniformly in
   ``placement_area`` for the first person and with probability ``1 − near_prob`` for the
   others, otherwise next to an already placed person (offset ``N(near_offset)`` mm per
   axis with a random sign, the reference's groups). Heights come from the bank (floor at
   z = 0) plus ``floor_z``;
3. accept the position when the person's footprint (x-y box of its visible joints, grown by
   ``footprint_margin`` mm) overlaps no placed footprint by IoU ≥ ``max_footprint_iou``,
   the person is inside the capture space (``inside_space``: its root, all its visible
   joints, or no test), and its root projects in front of and inside (``view_margin`` px)
   at least ``min_views`` cameras; otherwise draw another position, up to ``max_tries``;
4. a person that cannot be placed ends the frame with the people placed so far (as the
   reference); ``num_people_requested`` records how many were drawn. The first person of a
   frame gets up to :data:`FIRST_PERSON_POSES` poses (a pose may not fit at all); when none
   fits, an error explains which test failed (a configuration error: a placement area not
   seen by the cameras, or outside the space).

Determinism: frame ``i`` uses ``numpy.random.default_rng([seed, i])`` and hands
``random_seed = (seed, i)`` to the random transforms, so a frame is the same in every
worker, epoch and run.

Steps 1–4 are :mod:`~virtualpose_mm.datasets.datasets.virtual.virtual_core` (shared with the
VirtualPose
:class:`~virtualpose_mm.datasets.datasets.virtual.virtual_agr.VirtualPoseSceneDataset`): its
:class:`~virtualpose_mm.datasets.datasets.virtual.virtual_core.PeoplePlacer` with
``'sequential'`` candidate positions and the checks ``FootprintOverlap`` → ``InsideSpace`` →
``RootInView``; this class adds the fixed rig and the capture space.
"""
from __future__ import annotations

import os
import os.path as osp
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from virtualpose_mm.engine.config_checks import reject_unresolved
from virtualpose_mm.geometry.camera import Camera, CameraError
from virtualpose_mm.geometry.camera_io import load_cameras, stack_cameras
from virtualpose_mm.registry import DATASETS
from virtualpose_mm.datasets.datasets.base.mview_base import BaseMviewDataset, DatasetError
from virtualpose_mm.datasets.datasets.virtual.posebank import PoseBank, load_pose_bank
from virtualpose_mm.datasets.datasets.virtual.virtual_core import (FootprintOverlap, InsideSpace,
                                                                   PeoplePlacer, PlacementCheck,
                                                                   RootInView, UnplaceableError,
                                                                   VirtualSceneMixin)

__all__ = ['VirtualMviewSceneDataset', 'load_rig']

#: Poses tried for the first person of a frame before the frame is declared impossible.
FIRST_PERSON_POSES = 10
#: Heights above the floor (mm) where the load-time check looks for a visible root.
STANDING_HEIGHT = 1800.0


def load_rig(calibration, camera_kwargs: Optional[dict] = None,
             image_size: Optional[Sequence[float]] = None,
             cameras: Optional[Sequence[str]] = None) -> Tuple[Camera, List[str]]:
    """A camera rig as a (V,) :class:`Camera` with image sizes, and the view names.

    Args:
        calibration: a camera file (any format ``load_cameras`` reads), a
            :class:`Camera` of batch (V,), a dict ``name → Camera or camera dict``, or a list
            of camera dicts (``Camera.to_dict()`` layout: ``R``, ``t``, ``f``, ``c``,
            optional ``dist``, ``image_size``).
        camera_kwargs: extra arguments of the file's loader (e.g. ``cameras=[(0, 3), ...]``
            for a Panoptic calibration).
        image_size: (w, h) of every view; required when the cameras carry none (Shelf /
            Campus calibration files); must agree with them when they do.
        cameras: names of the views to keep, in this order (default: all).
    """
    source = '<cameras>'
    kw = dict(camera_kwargs or {})
    if isinstance(calibration, (str, os.PathLike)):
        source = os.fspath(calibration)
        if not osp.isfile(source):
            raise DatasetError(f'{source}: calibration file not found')
        if image_size is not None and 'image_size' not in kw:
            from virtualpose_mm.geometry.camera_io import sniff_camera_format
            if sniff_camera_format(source) == 'shelf_campus':
                kw['image_size'] = tuple(image_size)
        table = load_cameras(source, **kw)
    elif isinstance(calibration, Camera):
        if len(calibration.batch_shape) != 1:
            raise CameraError(f'{calibration.source}: expected a (V,) batch of cameras')
        table = OrderedDict((str(v), calibration[v]) for v in range(len(calibration)))
    elif isinstance(calibration, dict):
        table = OrderedDict((str(k), v if isinstance(v, Camera) else
                             Camera.from_dict(v, source=f'<cameras>[{k!r}]'))
                            for k, v in calibration.items())
    elif isinstance(calibration, (list, tuple)):
        table = OrderedDict((str(i), c if isinstance(c, Camera) else
                             Camera.from_dict(c, source=f'<cameras>[{i}]'))
                            for i, c in enumerate(calibration))
    else:
        raise TypeError('calibration must be a file path, a Camera, a dict or a list of '
                        f'camera dicts, got {type(calibration).__name__}')
    if not table:
        raise DatasetError(f'{source}: no cameras')
    if cameras is not None:
        missing = [c for c in cameras if str(c) not in table]
        if missing:
            raise DatasetError(f'{source}: no camera {missing} (cameras: {list(table)})')
        table = OrderedDict((str(c), table[str(c)]) for c in cameras)
    names = list(table)
    rig = stack_cameras(table, source=source).numpy()
    if image_size is not None:
        size = np.broadcast_to(np.asarray(image_size, dtype=np.float64), (len(names), 2))
        if rig.image_size is not None and not np.allclose(rig.image_size, size):
            raise DatasetError(f'{source}: image_size {tuple(image_size)} differs from the '
                               f'calibration\'s image sizes {rig.image_size.tolist()}')
        rig = Camera(rig.R, rig.t, rig.f, rig.c, rig.dist, size.copy(), source=source,
                     validate=False)
    if rig.image_size is None:
        raise DatasetError(f'{source}: the cameras carry no image size; pass image_size=(w, h)')
    return rig, names


@DATASETS.register_module()
class VirtualMviewSceneDataset(VirtualSceneMixin, BaseMviewDataset):
    """Virtual multi-person frames for a calibrated rig (see the module docstring).

    Args:
        calibration: the rig (see :func:`load_rig`); a relative path is taken relative to
            ``data_root`` when one is given.
        space_size: (3,) capture-space edge lengths, mm.
        space_center: (3,) capture-space centre, world mm.
        pose_bank: a pose-bank file (see :func:`~virtualpose_mm.datasets.datasets.virtual.posebank.
            load_pose_bank`), ``'builtin'`` (the CMU mocap train poses shipped with the
            package) or a :class:`PoseBank`.
        bank_split: ``'train'``, ``'test'`` or ``'all'``.
        bank_weighting: ``'pose'`` (every pose equally likely) or ``'clip'`` (every mocap
            clip equally likely).
        joint_set: ``'coco17'`` (VoxelPose Shelf/Campus) or ``'panoptic15'``.
        num_samples: frames per epoch (the dataset length).
        seed: base seed; frame ``i`` is fully determined by ``(seed, i)``.
        num_people: (min, max) people per frame, both included.
        replace: draw poses with replacement (the reference does).
        camera_kwargs, image_size, cameras: see :func:`load_rig`.
        floor_z: height of the floor in world mm (added to the bank's heights).
        yaw_range: (min, max) yaw about the vertical, degrees.
        placement_area: ((x_min, x_max), (y_min, y_max)) mm where roots are drawn; default
            the capture space's floor shrunk by ``area_margin`` on every side.
        area_margin: mm, see ``placement_area``.
        near_prob: probability that a person after the first is placed next to a placed
            person (reference 0.3).
        near_offset: (mean, std) mm of that offset per axis (reference (500, 50)).
        max_footprint_iou: footprints must overlap less than this IoU (reference 0.01).
        footprint_margin: mm added around each footprint before the IoU test.
        inside_space: ``'root'`` (the root must be inside the space), ``'joints'`` (every
            visible joint) or None (no test, as the reference).
        min_views: the root must project inside at least this many views (0: no test;
            reference Shelf 0, Campus 2).
        view_margin: px; "inside" a view means ``margin ≤ u < w − margin`` (same for v) and
            in front of the camera.
        max_tries: positions tried per person (reference 100).
        **kwargs: :class:`BaseMviewDataset` / :class:`mmengine.dataset.BaseDataset`
            arguments (``pipeline``, ``data_root``, ``lazy_init``, ...).
    """

    dataset_name = 'virtual_scene'

    def __init__(self,
                 calibration,
                 space_size: Sequence[float],
                 space_center: Sequence[float],
                 pose_bank: Union[str, PoseBank] = 'builtin',
                 bank_split: str = 'train',
                 bank_weighting: str = 'pose',
                 joint_set: str = 'coco17',
                 num_samples: int = 3000,
                 seed: int = 0,
                 num_people: Sequence[int] = (1, 5),
                 replace: bool = True,
                 camera_kwargs: Optional[dict] = None,
                 image_size: Optional[Sequence[float]] = None,
                 cameras: Optional[Sequence[str]] = None,
                 floor_z: float = 0.0,
                 yaw_range: Sequence[float] = (-180.0, 180.0),
                 placement_area: Optional[Sequence[Sequence[float]]] = None,
                 area_margin: float = 500.0,
                 near_prob: float = 0.3,
                 near_offset: Sequence[float] = (500.0, 50.0),
                 max_footprint_iou: float = 0.01,
                 footprint_margin: float = 0.0,
                 inside_space: Optional[str] = 'root',
                 min_views: int = 2,
                 view_margin: float = 10.0,
                 max_tries: int = 100,
                 dataset_name: Optional[str] = None,
                 **kwargs):
        reject_unresolved(type(self).__name__, locals())
        self.calibration = calibration
        self.space_size = np.asarray(space_size, dtype=np.float64).reshape(3)
        self.space_center = np.asarray(space_center, dtype=np.float64).reshape(3)
        if (self.space_size <= 0).any():
            raise ValueError(f'space_size must be positive, got {self.space_size.tolist()}')
        self.pose_bank_cfg = pose_bank
        self.bank_split = bank_split
        self._init_scene(num_samples, seed, num_people, replace, yaw_range, bank_weighting)
        self.camera_kwargs = camera_kwargs
        self.image_size_cfg = image_size
        self.camera_names_cfg = cameras
        self.floor_z = float(floor_z)
        half = self.space_size / 2
        if placement_area is None:
            placement_area = ((self.space_center[0] - half[0] + area_margin,
                               self.space_center[0] + half[0] - area_margin),
                              (self.space_center[1] - half[1] + area_margin,
                               self.space_center[1] + half[1] - area_margin))
        area = np.asarray(placement_area, dtype=np.float64)
        if area.shape != (2, 2) or (area[:, 1] <= area[:, 0]).any():
            raise ValueError('placement_area must be ((x_min, x_max), (y_min, y_max)) with '
                             f'min < max, got {np.asarray(placement_area).tolist()}')
        self.placement_area = area
        if not 0.0 <= near_prob <= 1.0:
            raise ValueError(f'near_prob must be in [0, 1], got {near_prob}')
        self.near_prob = float(near_prob)
        self.near_offset = tuple(float(v) for v in near_offset)
        self.max_footprint_iou = float(max_footprint_iou)
        self.footprint_margin = float(footprint_margin)
        if inside_space not in ('root', 'joints', None):
            raise ValueError(f"inside_space must be 'root', 'joints' or None, got "
                             f'{inside_space!r}')
        self.inside_space = inside_space
        self.min_views = int(min_views)
        self.view_margin = float(view_margin)
        self.max_tries = int(max_tries)
        if self.max_tries < 1:
            raise ValueError('max_tries must be ≥ 1')
        self.bank: Optional[PoseBank] = None
        self.placer: Optional[PeoplePlacer] = None
        self.rig: Optional[Camera] = None
        self.view_names: List[str] = []
        super().__init__(joint_set=joint_set, dataset_name=dataset_name, **kwargs)

    # ------------------------------------------------------------------ setup
    def load_data_list(self) -> List[dict]:
        calib = self.calibration
        if isinstance(calib, (str, os.PathLike)) and self.data_root and \
                not osp.isabs(os.fspath(calib)):
            calib = osp.join(self.data_root, os.fspath(calib))
        self.rig, self.view_names = load_rig(calib, self.camera_kwargs, self.image_size_cfg,
                                             self.camera_names_cfg)
        if self.min_views > len(self.view_names):
            raise ValueError(f'min_views={self.min_views} but the rig has only '
                             f'{len(self.view_names)} cameras')
        self._views_check = RootInView(self.rig, self.min_views, self.view_margin)
        self._check_placement_seen(calib)
        bank = self.pose_bank_cfg
        if not isinstance(bank, PoseBank):
            bank = load_pose_bank(bank, joint_set=self.joint_set, split=self.bank_split)
        elif bank.joint_set != self.joint_set:
            raise ValueError(f'{bank.source}: pose bank joint set {bank.joint_set!r} differs '
                             f'from the dataset joint_set {self.joint_set!r}')
        self.bank = bank
        self.placer = PeoplePlacer(
            bank, self.num_people, self.replace, self.bank_weighting, self.yaw_range,
            area=self.placement_area, floor_z=self.floor_z, draw='sequential',
            max_tries=self.max_tries, near_prob=self.near_prob, near_offset=self.near_offset,
            on_unplaced='stop', first_person_poses=FIRST_PERSON_POSES)
        lo = self.space_center - self.space_size / 2
        hi = self.space_center + self.space_size / 2
        checks: List[PlacementCheck] = [FootprintOverlap(self.max_footprint_iou,
                                                         self.footprint_margin)]
        if self.inside_space is not None:
            checks.append(InsideSpace(lo, hi, self.inside_space))
        if self.min_views:
            checks.append(self._views_check)
        self.checks = checks
        return self._scene_list()  # the frames are drawn on demand in get_data_info

    def _check_placement_seen(self, calib) -> None:
        """Fail fast when no root position can pass the placement tests: the placement
        area (inside the space, with ``inside_space``) at standing heights (floor + 0 … 1.8
        m) must lie inside at least ``min_views`` views somewhere (a 21 × 21 grid over the
        area × 7 heights)."""
        source = os.fspath(calib) if isinstance(calib, (str, os.PathLike)) else '<cameras>'
        a = self.placement_area
        lo = self.space_center - self.space_size / 2
        hi = self.space_center + self.space_size / 2
        x0, x1, y0, y1 = a[0, 0], a[0, 1], a[1, 0], a[1, 1]
        z0, z1 = self.floor_z, self.floor_z + STANDING_HEIGHT
        where = (f'the placement area {a.tolist()} (x, y mm) at standing heights '
                 f'{z0:g}..{z1:g} mm')
        space = (f'the capture space (centre {self.space_center.tolist()}, size '
                 f'{self.space_size.tolist()})')
        if self.inside_space is not None:
            x0, x1 = max(x0, lo[0]), min(x1, hi[0])
            y0, y1 = max(y0, lo[1]), min(y1, hi[1])
            z0, z1 = max(z0, lo[2]), min(z1, hi[2])
            if x0 > x1 or y0 > y1 or z0 > z1:
                raise DatasetError(
                    f'{self.dataset_name}: {where} does not overlap {space}, and people '
                    f'must be inside it (inside_space={self.inside_space!r}): set '
                    'placement_area, space_center or space_size so that they overlap.')
        if self.min_views < 1:
            return
        g = np.stack(np.meshgrid(np.linspace(x0, x1, 21), np.linspace(y0, y1, 21),
                                 np.linspace(z0, z1, 7), indexing='ij'), -1).reshape(-1, 3)
        best = int(self._views_seeing(g).max())
        if best < self.min_views:
            cams = f'{len(self.view_names)} cameras {self.view_names}'
            seen = (f'none of the {cams} sees any point of' if best == 0 else
                    f'at most {best} of the {cams} see any one point of')
            raise DatasetError(
                f'{source}: {seen} {where}'
                f'{" inside " if self.inside_space is not None else ", "}{space}, but every '
                f'person must be seen by min_views={self.min_views} cameras. '
                'Move space_center / placement_area to where the cameras look, or check '
                'the calibration.')

    # ------------------------------------------------------------------ sampling
    def _views_seeing(self, X: np.ndarray) -> np.ndarray:
        """(P, 3) world points → (P,) number of views that see each (in front, inside
        the image by ``view_margin`` px)."""
        return self._views_check.views_seeing(X)

    def sample_scene(self, index: int) -> dict:
        """The people of frame ``index`` (deterministic in ``(seed, index)``).

        Returns:
            dict with ``gt_keypoints_3d`` (N, K, 3) world mm, ``gt_keypoints_3d_visible``
            (N, K) bool, ``gt_ids`` (N,) pose-bank indices, ``yaw_deg`` (N,),
            ``num_people_requested`` and ``placement_failures`` (positions rejected, per
            test: ``overlap``, ``outside_space``, ``few_views``).
        """
        if self.bank is None:
            self.full_init()
        fails = dict(overlap=0, outside_space=0, few_views=0)
        try:
            n_req, people = self.placer.sample(self.scene_rng(index), self.checks, fails)
        except UnplaceableError as e:
            raise DatasetError(
                f'{self.dataset_name}: frame {index}: could not place even one person '
                f'({e.tries}; rejections: {e.fails}). Check that placement_area '
                f'{self.placement_area.tolist()} lies inside the capture space (centre '
                f'{self.space_center.tolist()}, size {self.space_size.tolist()}, '
                f'inside_space={self.inside_space!r}) and is seen by at least '
                f'min_views={self.min_views} of the cameras {self.view_names}.') from None
        return dict(people.as_dict(self.bank.num_joints), num_people_requested=n_req,
                    placement_failures=fails)

    def frame_info(self, index: int) -> dict:
        """The rig and the capture space: the same for every frame."""
        return dict(sequence='', frame_id=index, dataset_name=self.dataset_name,
                    num_views=len(self.view_names), view_names=list(self.view_names),
                    cameras=self.rig, image_sizes=np.asarray(self.rig.image_size).copy(),
                    space_size=self.space_size.copy(), space_center=self.space_center.copy())
