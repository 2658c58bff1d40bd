"""The core of every virtual scene: people from a pose bank placed on a floor.

Both virtual datasets — :class:`~virtualpose_mm.datasets.datasets.virtual.virtual_scene.
VirtualMviewSceneDataset` (VoxelPose, a fixed calibrated rig) and
:class:`~virtualpose_mm.datasets.datasets.virtual.virtual_agr.VirtualPoseSceneDataset`
(VirtualPose, one sampled camera per frame) — make a frame the same way; they differ only
in where the cameras come from and in what they hand to the pipeline. This module is that
common part:

* :func:`scene_rng`: frame ``index`` draws everything from
  ``numpy.random.default_rng([seed, index])``, so a frame is the same in every worker,
  epoch and run;
* :class:`PeoplePlacer`: how many people, which poses (uniformly per pose or per clip, with
  or without replacement), a yaw about the vertical through each root, and a floor position
  for each root that passes a list of :class:`PlacementCheck` s (footprint overlap, spacing,
  inside the capture space, seen by the cameras, ...);
* the checks themselves and :func:`points_in_view`, the one visibility test of both
  datasets (in front of the camera, inside the image by a margin).

Candidate positions (``draw``) — two RNG call orders, kept exactly so that frames stay
the same numbers:

* ``'sequential'`` (the VoxelPose synthetic scenes): one position per try, tested before
  the next is drawn: uniformly in the area, or — for a person after the first and with
  probability ``near_prob`` — next to an already placed person (offset ``N(near_offset)``
  mm per axis with a random sign, the reference's groups). Draws per try: ``random()``
  (only once someone is placed), then ``uniform(x)``, ``uniform(y)`` or ``integers``,
  ``normal(2)``, ``choice(2)``;
* ``'batch'`` (the VirtualPose scenes): all ``max_tries`` positions of a person drawn at
  once (``uniform(x, T)``, ``uniform(y, T)``), the first that passes every check is taken.

A person no position fits is either the end of the frame (``on_unplaced='stop'``, the
VoxelPose reference; the first person gets ``first_person_poses`` poses before
:class:`UnplaceableError`) or left out (``'skip'``).

Rejections are counted in a ``fails`` dict: each batch of candidates that yields nobody adds
one to the name of the check that rejected its last survivors (with ``'sequential'`` that is
the first failing check of each position tried), and ``unplaced_key`` counts the people
left out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.datasets.joint_sets import get_joint_set, root_of
from virtualpose_mm.datasets.datasets.virtual.posebank import PoseBank

__all__ = ['scene_rng', 'parse_num_people', 'parse_range', 'yaw_rotation', 'tilt_pose',
           'points_in_view',
           'Candidates', 'PlacedPeople', 'PlacementCheck', 'FootprintOverlap',
           'MinSpacing', 'InsideSpace', 'RootInView', 'PeoplePlacer', 'UnplaceableError',
           'VirtualSceneMixin']


class UnplaceableError(RuntimeError):
    """The first person of a frame fits nowhere (``on_unplaced='stop'``); ``fails`` holds
    the rejection counts. The dataset turns it into an error that explains its settings."""

    def __init__(self, fails: Dict[str, int], tries: int):
        super().__init__(f'no position for the first person ({tries}; rejections: {fails})')
        self.fails = fails
        self.tries = tries


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of frame ``index``: ``numpy.random.default_rng([seed, index])``."""
    return np.random.default_rng([int(seed), int(index)])


def parse_num_people(num_people) -> Tuple[int, int]:
    """``(min, max)`` people per frame, both included, ``1 ≤ min ≤ max``."""
    lo, hi = (int(v) for v in num_people)
    if not 1 <= lo <= hi:
        raise ValueError(f'num_people must be (min, max) with 1 ≤ min ≤ max, got '
                         f'{tuple(num_people)}')
    return lo, hi


def parse_range(name: str, value) -> Tuple[float, float]:
    """A ``(min, max)`` pair of floats with ``min ≤ max``."""
    lo, hi = (float(v) for v in value)
    if hi < lo:
        raise ValueError(f'{name} must be (min, max) with min ≤ max, got {tuple(value)}')
    return lo, hi


def yaw_rotation(yaw_deg: float) -> np.ndarray:
    """(2, 2) counter-clockwise rotation of the ground plane by ``yaw_deg`` degrees."""
    th = np.deg2rad(yaw_deg)
    return np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])


def tilt_pose(pose: np.ndarray, root: np.ndarray, axis_heading_deg: float,
              angle_deg: float) -> np.ndarray:
    """``pose`` (K, 3) world mm turned by ``angle_deg`` about the horizontal axis through
    ``root`` (3,) whose direction is ``axis_heading_deg`` from the world x axis (right-hand
    rule), then moved along z so that its lowest joint is as high as before (the
    :class:`PeoplePlacer` ``tilt_prob`` augmentation)."""
    from scipy.spatial.transform import Rotation
    a = np.radians(axis_heading_deg)
    axis = np.array([np.cos(a), np.sin(a), 0.0])
    R = Rotation.from_rotvec(np.radians(angle_deg) * axis).as_matrix()
    out = (pose - root) @ R.T + root
    out[:, 2] += pose[:, 2].min() - out[:, 2].min()
    return out


def points_in_view(camera: Camera, X: np.ndarray, margin: float = 0.0,
                   min_depth: Optional[float] = None, in_image: bool = True) -> np.ndarray:
    """Which points a camera (or each camera of a batch) sees.

    Args:
        camera: a :class:`Camera` with ``image_size`` (one, or a batch broadcasting with
            ``X``).
        X: (..., N, 3) world mm.
        margin: px; inside the image means ``margin ≤ u < w − margin`` (same for v).
        min_depth: the depth along the optical axis must be ``≥ min_depth`` mm (None:
            strictly positive, in front of the camera).
        in_image: test the image bounds too (else only the depth).

    Returns:
        (..., N) bool (the camera's batch shape broadcast with ``X``'s).
    """
    depth = camera.depth(X)
    ok = depth > 0 if min_depth is None else depth >= min_depth
    if in_image:
        uv = camera.project(X, min_depth=1.0)
        wh = np.asarray(camera.image_size)
        if wh.ndim > 1:  # a batch of cameras: (V, 2) → (V, 1, 2) against (V, N, 2)
            wh = wh.reshape(wh.shape[:-1] + (1, ) * (uv.ndim - wh.ndim) + (2, ))
        ok = ok & (uv[..., 0] >= margin) & (uv[..., 1] >= margin) & \
            (uv[..., 0] < wh[..., 0] - margin) & (uv[..., 1] < wh[..., 1] - margin)
    return ok


# ----------------------------------------------------------------------------- people
@dataclass
class Candidates:
    """``m`` candidate placements of one person: the same turned pose at ``m`` positions.

    Attributes:
        xy: (m, 2) drawn floor positions of the root (world mm).
        poses: (m, K, 3) the placed joints.
        roots: (m, 3) their roots
            (:func:`~virtualpose_mm.datasets.datasets.virtual.posebank.root_of`).
        visible: (K,) bool, the pose's joint visibility.
    """
    xy: np.ndarray
    poses: np.ndarray
    roots: np.ndarray
    visible: np.ndarray

    def __len__(self) -> int:
        return len(self.xy)

    def take(self, keep: np.ndarray) -> 'Candidates':
        return Candidates(self.xy[keep], self.poses[keep], self.roots[keep], self.visible)

    def footprints(self) -> np.ndarray:
        """(m, 4) x-y boxes ``(x0, y0, x1, y1)`` of the visible joints (all joints when none
        is visible)."""
        pts = self.poses[:, self.visible] if self.visible.any() else self.poses
        return np.stack([pts[..., 0].min(-1), pts[..., 1].min(-1), pts[..., 0].max(-1),
                         pts[..., 1].max(-1)], -1)


@dataclass
class PlacedPeople:
    """The people of a frame placed so far (parallel lists)."""
    poses: List[np.ndarray] = field(default_factory=list)
    visible: List[np.ndarray] = field(default_factory=list)
    ids: List[int] = field(default_factory=list)
    yaws: List[float] = field(default_factory=list)
    mirrored: List[bool] = field(default_factory=list)
    lower_ids: List[int] = field(default_factory=list)
    tilts: List[float] = field(default_factory=list)
    xy: List[np.ndarray] = field(default_factory=list)
    roots: List[np.ndarray] = field(default_factory=list)
    footprints: List[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.poses)

    def add(self, cands: Candidates, k: int, pid: int, yaw: float,
            visible: np.ndarray, mirrored: bool = False, lower_id: int = -1,
            tilt: float = 0.0) -> None:
        self.poses.append(cands.poses[k])
        self.visible.append(visible.copy())
        self.ids.append(int(pid))
        self.yaws.append(yaw)
        self.mirrored.append(bool(mirrored))
        self.lower_ids.append(int(lower_id))
        self.tilts.append(float(tilt))
        self.xy.append(cands.xy[k])
        self.roots.append(cands.roots[k])
        self.footprints.append(cands.footprints()[k])

    def as_dict(self, num_joints: int) -> dict:
        """The frame keys: ``gt_keypoints_3d`` (N, K, 3), ``gt_keypoints_3d_visible``
        (N, K) bool, ``gt_ids`` (N,) int64 (pose-bank indices), ``yaw_deg`` (N,) and
        ``mirrored`` (N,) bool (the bank pose was mirrored, :class:`PeoplePlacer`'s
        ``mirror_prob``) and ``lower_body_ids`` (N,) int64 (the pose-bank index of the legs
        of a person made of two poses, :class:`PeoplePlacer`'s ``part_mix_prob``; −1 for
        the others) and ``tilt_deg`` (N,) (the angle of :class:`PeoplePlacer`'s
        ``tilt_prob``; 0 for a person not tilted)."""
        K = num_joints
        return dict(
            mirrored=np.asarray(self.mirrored, dtype=bool),
            lower_body_ids=np.asarray(self.lower_ids, dtype=np.int64),
            tilt_deg=np.asarray(self.tilts, dtype=np.float64),
            gt_keypoints_3d=np.stack(self.poses) if self.poses else np.zeros((0, K, 3)),
            gt_keypoints_3d_visible=(np.stack(self.visible) if self.visible else
                                     np.zeros((0, K), bool)),
            gt_ids=np.asarray(self.ids, dtype=np.int64),
            yaw_deg=np.asarray(self.yaws, dtype=np.float64))


# ----------------------------------------------------------------------------- checks
class PlacementCheck:
    """A test every placed person passes. ``name`` is its key in the rejection counts
    (None: not counted). Called with the surviving candidates and the people placed so far;
    returns (m,) bool (True = acceptable)."""
    name: Optional[str] = None

    def __call__(self, cands: Candidates, placed: PlacedPeople) -> np.ndarray:
        raise NotImplementedError


class FootprintOverlap(PlacementCheck):
    """Footprints (x-y boxes of the visible joints, grown by ``margin`` mm) must overlap
    every placed footprint by IoU < ``max_iou``."""

    def __init__(self, max_iou: float, margin: float = 0.0, name: Optional[str] = 'overlap'):
        self.max_iou = float(max_iou)
        self.margin = float(margin)
        self.name = name

    def _grow(self, boxes: np.ndarray) -> np.ndarray:
        return boxes + np.array([-1, -1, 1, 1]) * self.margin

    def __call__(self, cands, placed):
        if not placed.footprints:
            return np.ones(len(cands), bool)
        box = self._grow(cands.footprints())[:, None]            # (m, 1, 4)
        boxes = self._grow(np.asarray(placed.footprints))[None]  # (1, P, 4)
        x0 = np.maximum(box[..., 0], boxes[..., 0])
        y0 = np.maximum(box[..., 1], boxes[..., 1])
        x1 = np.minimum(box[..., 2], boxes[..., 2])
        y1 = np.minimum(box[..., 3], boxes[..., 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])
        areas = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
        iou = inter / np.maximum(area + areas - inter, 1e-9)
        return ~(iou >= self.max_iou).any(-1)


class MinSpacing(PlacementCheck):
    """The drawn root position keeps ``distance`` mm (ground plane) to every placed one."""

    def __init__(self, distance: float, name: Optional[str] = 'spacing'):
        self.distance = float(distance)
        self.name = name

    def __call__(self, cands, placed):
        if not placed.xy:
            return np.ones(len(cands), bool)
        d = np.linalg.norm(cands.xy[:, None] - np.asarray(placed.xy)[None], axis=-1)
        return (d >= self.distance).all(1)


class InsideSpace(PlacementCheck):
    """The root (``mode='root'``) or every visible joint (``'joints'``) lies in the box
    ``[lo, hi]`` (the capture space)."""

    def __init__(self, lo: Sequence[float], hi: Sequence[float], mode: str = 'root',
                 name: Optional[str] = 'outside_space'):
        if mode not in ('root', 'joints'):
            raise ValueError(f"InsideSpace: mode must be 'root' or 'joints', got {mode!r}")
        self.lo = np.asarray(lo, dtype=np.float64)
        self.hi = np.asarray(hi, dtype=np.float64)
        self.mode = mode
        self.name = name

    def __call__(self, cands, placed):
        pts = cands.roots[:, None] if self.mode == 'root' else cands.poses[:, cands.visible]
        return np.all((pts >= self.lo) & (pts <= self.hi), axis=(1, 2))


class RootInView(PlacementCheck):
    """The root is seen (:func:`points_in_view`) by the camera, or by at least
    ``min_views`` cameras of a (V,) rig."""

    def __init__(self, camera: Camera, min_views: int = 1, margin: float = 0.0,
                 min_depth: Optional[float] = None, in_image: bool = True,
                 name: Optional[str] = 'few_views'):
        self.camera = camera
        self.rig = len(camera.batch_shape) > 0
        self.min_views = int(min_views)
        self.margin = float(margin)
        self.min_depth = None if min_depth is None else float(min_depth)
        self.in_image = bool(in_image)
        self.name = name

    def views_seeing(self, X: np.ndarray) -> np.ndarray:
        """(P, 3) world points → (P,) number of views (0/1 for one camera) that see each."""
        if not self.rig:
            return self.seen(X).astype(np.int64)
        return self.seen(np.asarray(X, dtype=np.float64).reshape(1, -1, 3)).sum(0)

    def seen(self, X: np.ndarray) -> np.ndarray:
        return points_in_view(self.camera, X, self.margin, self.min_depth, self.in_image)

    def __call__(self, cands, placed):
        if not self.rig:
            return self.seen(cands.roots)
        return self.views_seeing(cands.roots) >= self.min_views


# ----------------------------------------------------------------------------- placement
class PeoplePlacer:
    """Draws the people of a frame from a pose bank and places them (module docstring).

    Args:
        bank: the :class:`PoseBank`.
        num_people: (min, max) people drawn per frame, both included.
        replace: draw poses with replacement.
        weighting: ``'pose'`` (every pose equally likely) or ``'clip'`` (every clip).
        yaw_range: (min, max) degrees of the turn of each person about the vertical through
            its root.
        area: ((x_min, x_max), (y_min, y_max)) mm where roots are drawn.
        area_offset: (x, y) mm added to every position drawn in ``area`` (a scene centre),
            or None.
        floor_z: world height of the floor (added to the bank's heights), mm.
        draw: ``'sequential'`` or ``'batch'`` candidate positions (module docstring).
        max_tries: positions per person.
        near_prob: ``'sequential'`` only: probability that a person after the first is put
            next to a placed one.
        near_offset: (mean, std) mm of that offset per axis.
        on_unplaced: ``'stop'`` (a person that fits nowhere ends the frame) or ``'skip'``.
        first_person_poses: with ``'stop'``, poses tried for the first person.
        unplaced_key: key of ``fails`` that counts the people left out (or None).
        mirror_prob: probability that a person's bank pose is mirrored (left and right
            exchanged: the pose reflected in a vertical plane through its root, the joints
            of ``bank.joint_set``'s flip pairs swapped, visibility with them) before its
            yaw: a mirror image of a real pose is a real-looking pose of the other
            handedness, which the bank may not hold (an augmentation; default 0: no
            random number is drawn for it, so the frames stay those drawn without it).
        part_mix_prob: probability that a person is made of two bank poses: the upper body
            of its pose and the legs (root, hips, knees, ankles: the root and the flip-pair
            joints outside ``joint_set.upper_body``) of another pose drawn as any, turned
            about the vertical so that the two hip lines point the same way, the upper body
            moved up or down onto the legs' root (an augmentation: new combinations of real
            arm and leg configurations). Only upright poses are combined (both necks above
            their roots by ``upright_min`` of the neck-root distance); otherwise the person
            keeps its own pose. Drawn before ``mirror_prob``'s number; default 0 (nothing
            drawn).
        tilt_prob: probability that a person's pose (after ``part_mix_prob`` and
            ``mirror_prob``) is turned about a horizontal axis through its root — the
            axis's direction uniform, the angle uniform in ``tilt_range`` degrees — and
            moved up or down so that its lowest joint stays at the height it had
            (upside-down and tilted bodies, as in cartwheels, handstands, falls or
            acrobatics, which an upright pose bank rarely holds; an augmentation). Its
            numbers are drawn after ``mirror_prob``'s; default 0 (nothing drawn).
        tilt_range: (min, max) degrees of the tilt angle.
    """

    #: ``part_mix_prob``: a pose is upright when its neck is above its root by at least
    #: this share of the neck-root distance
    upright_min = 0.5

    def __init__(self, bank: PoseBank, num_people: Sequence[int] = (1, 5),
                 replace: bool = True, weighting: str = 'pose',
                 yaw_range: Sequence[float] = (-180.0, 180.0),
                 area: Sequence[Sequence[float]] = ((-3000.0, 3000.0), (-3000.0, 3000.0)),
                 area_offset: Optional[Sequence[float]] = None, floor_z: float = 0.0,
                 draw: str = 'sequential', max_tries: int = 100, near_prob: float = 0.0,
                 near_offset: Sequence[float] = (500.0, 50.0), on_unplaced: str = 'stop',
                 first_person_poses: int = 1, unplaced_key: Optional[str] = None,
                 mirror_prob: float = 0.0, part_mix_prob: float = 0.0,
                 tilt_prob: float = 0.0, tilt_range: Sequence[float] = (-180.0, 180.0)):
        self.bank = bank
        self.num_people = parse_num_people(num_people)
        self.replace = bool(replace)
        if not self.replace and self.num_people[1] > len(bank):
            raise ValueError(f'{bank.source}: up to {self.num_people[1]} people per frame '
                             f'without replacement, but the bank holds {len(bank)} poses')
        self.weights = bank.sampling_weights(weighting)
        self.yaw_range = parse_range('yaw_range', yaw_range)
        self.area = np.asarray(area, dtype=np.float64)
        if self.area.shape != (2, 2):
            raise ValueError(f'area must be ((x_min, x_max), (y_min, y_max)), got '
                             f'{np.asarray(area).tolist()}')
        self.area_offset = None if area_offset is None else \
            np.asarray(area_offset, dtype=np.float64).reshape(2)
        self.floor_z = float(floor_z)
        if draw not in ('sequential', 'batch'):
            raise ValueError(f"draw must be 'sequential' or 'batch', got {draw!r}")
        self.draw = draw
        self.max_tries = int(max_tries)
        if self.max_tries < 1:
            raise ValueError('max_tries must be ≥ 1')
        if not 0.0 <= near_prob <= 1.0:
            raise ValueError(f'near_prob must be in [0, 1], got {near_prob}')
        if near_prob and draw != 'sequential':
            raise ValueError("near_prob > 0 needs draw='sequential'")
        self.near_prob = float(near_prob)
        self.near_offset = tuple(float(v) for v in near_offset)
        if on_unplaced not in ('stop', 'skip'):
            raise ValueError(f"on_unplaced must be 'stop' or 'skip', got {on_unplaced!r}")
        self.on_unplaced = on_unplaced
        self.first_person_poses = max(1, int(first_person_poses))
        self.unplaced_key = unplaced_key
        if not 0.0 <= mirror_prob <= 1.0:
            raise ValueError(f'mirror_prob must be in [0, 1], got {mirror_prob}')
        self.mirror_prob = float(mirror_prob)
        js = get_joint_set(bank.joint_set)
        self.flip_indices = np.asarray(js.flip_indices())
        if not 0.0 <= part_mix_prob <= 1.0:
            raise ValueError(f'part_mix_prob must be in [0, 1], got {part_mix_prob}')
        self.part_mix_prob = float(part_mix_prob)
        if not 0.0 <= tilt_prob <= 1.0:
            raise ValueError(f'tilt_prob must be in [0, 1], got {tilt_prob}')
        self.tilt_prob = float(tilt_prob)
        self.tilt_range = parse_range('tilt_range', tilt_range)
        if self.part_mix_prob:
            legs = sorted({j for pair in js.flip_pairs for j in pair} - set(js.upper_body))
            hips = [(a, b) for a, b in js.flip_pairs if 'hip' in js.joint_names[a].lower()]
            if len(hips) != 1 or 'neck' not in js.joint_names:
                raise ValueError('part_mix_prob > 0 needs a joint set with one pair of hip '
                                 f'joints and a neck; {js.name!r} has not')
            self.leg_joints = np.asarray(([js.root] if js.root >= 0 else []) + legs)
            self.hip_pair = hips[0]
            self.neck = js.index('neck')

    # ------------------------------------------------------------------ draws
    def draw_ids(self, rng: np.random.Generator) -> Tuple[int, np.ndarray]:
        """``(number of people requested, their pose-bank indices)``."""
        n_req = int(rng.integers(self.num_people[0], self.num_people[1] + 1))
        ids = rng.choice(len(self.bank), size=n_req, replace=self.replace, p=self.weights)
        return n_req, ids

    def redraw(self, rng: np.random.Generator, ids) -> int:
        """Another pose for a person that did not fit (without replacement: not one of
        ``ids``, while the bank has one left)."""
        n = len(self.bank)
        if self.replace or len(ids) >= n:
            return int(rng.choice(n, p=self.weights))
        w = np.ones(n) if self.weights is None else self.weights.copy()
        w[np.asarray(ids)] = 0
        return int(rng.choice(n, p=w / w.sum()))

    def _positions(self, rng, placed: PlacedPeople, n: int) -> np.ndarray:
        """(n, 2) candidate root positions (``'batch'``: n = max_tries, ``'sequential'``:
        n = 1)."""
        a = self.area
        if self.draw == 'batch':
            xy = np.stack([rng.uniform(a[0, 0], a[0, 1], n), rng.uniform(a[1, 0], a[1, 1], n)],
                          -1)
        elif not placed.xy or rng.random() >= self.near_prob:
            xy = np.array([[rng.uniform(a[0, 0], a[0, 1]), rng.uniform(a[1, 0], a[1, 1])]])
        else:
            base = placed.xy[int(rng.integers(len(placed.xy)))]
            mean, std = self.near_offset
            return (base + rng.normal(mean, std, 2) * rng.choice([-1.0, 1.0], 2))[None]
        return xy if self.area_offset is None else xy + self.area_offset

    # ------------------------------------------------------------------ placement
    def place_person(self, rng: np.random.Generator, pid: int,
                     checks: Sequence[PlacementCheck], placed: PlacedPeople,
                     fails: Dict[str, int]) -> bool:
        """Mirror pose ``pid`` with probability ``mirror_prob`` (after ``part_mix_prob``),
        tilt it with probability ``tilt_prob``, turn it by a random yaw and try
        ``max_tries`` positions; on success append it to ``placed``. Returns whether it was
        placed."""
        bank = self.bank
        pose = bank.poses[pid]
        vis = bank.visible[pid]
        root = root_of(pose, bank.joint_set)
        yaw = rng.uniform(*self.yaw_range)
        lower_id = -1
        if self.part_mix_prob and rng.random() < self.part_mix_prob:
            other = int(rng.choice(len(bank), p=self.weights))
            mixed = self.mix_parts(pid, other)
            if mixed is not None:
                pose, vis, lower_id = mixed[0], mixed[1], other
                root = root_of(pose, bank.joint_set)
        mirrored = bool(self.mirror_prob) and rng.random() < self.mirror_prob
        if mirrored:   # reflected in the plane x = root x; left and right exchanged
            pose = pose[self.flip_indices].copy()
            pose[:, 0] = 2 * root[0] - pose[:, 0]
            vis = vis[self.flip_indices]
        tilt = 0.0
        if self.tilt_prob and rng.random() < self.tilt_prob:
            heading = rng.uniform(0.0, 360.0)
            tilt = float(rng.uniform(*self.tilt_range))
            pose = tilt_pose(pose, root, heading, tilt)
        local = (pose[:, :2] - root[:2]) @ yaw_rotation(yaw).T
        tries = 0
        while tries < self.max_tries:
            n = self.max_tries if self.draw == 'batch' else 1
            xy = self._positions(rng, placed, n)
            tries += len(xy)
            poses = np.repeat(pose[None], len(xy), 0)
            poses[:, :, :2] = local + xy[:, None]
            poses[:, :, 2] = pose[:, 2] + self.floor_z
            cands = Candidates(xy, poses, root_of(poses, bank.joint_set), vis)
            alive = np.arange(len(cands))
            for check in checks:
                ok = np.asarray(check(cands.take(alive), placed), dtype=bool)
                if not ok.any():
                    if check.name is not None:
                        fails[check.name] = fails.get(check.name, 0) + 1
                    alive = alive[:0]
                    break
                alive = alive[ok]
            if len(alive):
                placed.add(cands, int(alive[0]), pid, yaw, vis, mirrored, lower_id, tilt)
                return True
        return False

    def mix_parts(self, upper: int, lower: int):
        """``(pose (K, 3), visible (K,))``: pose ``upper``'s upper body on pose ``lower``'s
        legs (``part_mix_prob``), or None when either is not upright."""
        bank = self.bank
        up, lo = bank.poses[upper], bank.poses[lower]
        r_up, r_lo = root_of(up, bank.joint_set), root_of(lo, bank.joint_set)
        for p, r in ((up, r_up), (lo, r_lo)):
            d = p[self.neck] - r
            if d[2] < self.upright_min * np.linalg.norm(d):
                return None

        def heading(p):
            v = p[self.hip_pair[1], :2] - p[self.hip_pair[0], :2]
            return np.degrees(np.arctan2(v[1], v[0]))

        legs = (lo[self.leg_joints, :2] - r_lo[:2]) @ \
            yaw_rotation(heading(up) - heading(lo)).T + r_up[:2]
        pose = up.copy()
        pose[:, 2] += r_lo[2] - r_up[2]
        pose[self.leg_joints, :2] = legs
        pose[self.leg_joints, 2] = lo[self.leg_joints, 2]
        vis = bank.visible[upper].copy()
        vis[self.leg_joints] = bank.visible[lower][self.leg_joints]
        return pose, vis

    def place(self, rng: np.random.Generator, ids, checks: Sequence[PlacementCheck],
              fails: Dict[str, int]) -> PlacedPeople:
        """Place the people ``ids`` in turn (see ``on_unplaced``).

        Raises:
            UnplaceableError: ``on_unplaced='stop'`` and the first person (after
                ``first_person_poses`` poses) fits nowhere.
        """
        placed = PlacedPeople()
        for n, pid in enumerate(ids):
            ok = False
            poses = self.first_person_poses if (n == 0 and self.on_unplaced == 'stop') else 1
            for attempt in range(poses):
                if attempt:
                    pid = self.redraw(rng, ids)
                ok = self.place_person(rng, pid, checks, placed, fails)
                if ok:
                    break
            if ok:
                continue
            if self.unplaced_key is not None:
                fails[self.unplaced_key] = fails.get(self.unplaced_key, 0) + 1
            if self.on_unplaced == 'stop':
                if n == 0:
                    raise UnplaceableError(fails, f'{poses} poses × {self.max_tries} tries')
                break  # the reference ends the frame here too
        return placed

    def sample(self, rng: np.random.Generator, checks: Sequence[PlacementCheck],
               fails: Dict[str, int]) -> Tuple[int, PlacedPeople]:
        """:meth:`draw_ids` then :meth:`place`: ``(people requested, placed people)``."""
        n_req, ids = self.draw_ids(rng)
        return n_req, self.place(rng, ids, checks, fails)


# ----------------------------------------------------------------------------- datasets
class VirtualSceneMixin:
    """The dataset side both virtual datasets share: ``num_samples`` frames, frame ``i``
    made on demand from :func:`scene_rng` ``(seed, i)`` by :meth:`sample_scene` and handed
    to the pipeline with :meth:`frame_info` and ``random_seed = (seed, i)`` (which seeds the
    random transforms). Mix in before the mmengine dataset class."""

    num_samples: int
    seed: int

    def _init_scene(self, num_samples: int, seed: int, num_people, replace: bool,
                    yaw_range, bank_weighting: str) -> None:
        self.num_samples = int(num_samples)
        if self.num_samples < 1:
            raise ValueError(f'num_samples must be ≥ 1, got {num_samples}')
        self.seed = int(seed)
        self.num_people = parse_num_people(num_people)
        self.replace = bool(replace)
        self.yaw_range = parse_range('yaw_range', yaw_range)
        if bank_weighting not in ('pose', 'clip'):
            raise ValueError(f"bank_weighting must be 'pose' or 'clip', got {bank_weighting!r}")
        self.bank_weighting = bank_weighting

    def _scene_list(self) -> List[dict]:
        """The data list: one ``scene_index`` per frame (the content is drawn on demand)."""
        return [dict(scene_index=i) for i in range(self.num_samples)]

    def scene_rng(self, index: int) -> np.random.Generator:
        return scene_rng(self.seed, index)

    def sample_scene(self, index: int) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def frame_info(self, index: int) -> dict:  # pragma: no cover - abstract
        """The keys besides the scene the variant hands to the pipeline."""
        raise NotImplementedError

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        index = int(info['scene_index'])
        info.update(self.sample_scene(index))
        info.update(self.frame_info(index))
        info['random_seed'] = (self.seed, index)
        return info
