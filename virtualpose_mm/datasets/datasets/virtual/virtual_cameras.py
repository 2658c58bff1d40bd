"""Cameras for VirtualPose's virtual training scenes: random virtual cameras or real ones.

VirtualPose (Su et al., ECCV 2022) trains its stage 2 on *virtual* data so that it does not
overfit one camera setup: people from a pose bank are rendered into 2D heatmaps through many
sampled cameras. The released code lacks that sampler (``generate_synthetic_camera`` is
undefined and every config sets ``FIX_CAMERA: True``, so it trains with the real MuCo /
Panoptic cameras only). This module provides both:

* :class:`VirtualCameraSampler` — random cameras from ranges of height, distance to the
  scene centre, azimuth, heading (yaw) offset, pitch, roll, focal length and image size;
* :class:`FixedCameraSampler` — real cameras from a calibration file (any format
  :func:`~virtualpose_mm.geometry.camera_io.load_cameras` reads, e.g. a Panoptic
  ``calibration_<seq>.json`` or ``MuCo-3DHP.json`` with one camera per image) or given
  explicitly, one of them per sample (the released setting).

Both return :class:`~virtualpose_mm.geometry.camera.Camera` objects in the package
convention (world z up, millimetres, ``X_cam = R·X + t``, with ``image_size``), and both
are pure functions of the numpy ``Generator`` they are given, so a dataset that seeds one
generator per sample is deterministic.

:func:`camera_geometry` measures the same quantities on any camera (the inverse of the
sampler), which is how the default ranges were chosen and how the tests check them.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from virtualpose_mm.geometry.camera import Camera, CameraError

__all__ = ['VirtualCameraSampler', 'FixedCameraSampler', 'build_camera_sampler',
           'look_rotation', 'camera_geometry']

_UP = np.array([0.0, 0.0, 1.0])


def _range(name: str, value, allow_equal: bool = True) -> Tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a (min, max) pair of numbers, got {value!r}') \
            from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo or (hi == lo and not allow_equal):
        raise ValueError(f'{name} must be a finite (min, max) pair with min ≤ max, got '
                         f'{value!r}')
    return lo, hi


def look_rotation(heading_deg, pitch_deg, roll_deg) -> np.ndarray:
    """World → camera rotation of a camera looking along ``heading`` (degrees, counter-
    clockwise from world +x in the ground plane), tilted down by ``pitch`` (degrees, > 0
    looks down) and rolled by ``roll`` (degrees, about the optical axis).

    The camera frame is OpenCV's (x right, y down, z forward); world z is up. With zero
    roll the camera x axis is horizontal. Broadcasts over the inputs: returns (..., 3, 3).

    Returns:
        ``R`` with rows = the camera axes (x, y, z) in world coordinates; det R = +1.
    """
    psi, th, phi = (np.deg2rad(np.asarray(v, dtype=np.float64))
                    for v in (heading_deg, pitch_deg, roll_deg))
    psi, th, phi = np.broadcast_arrays(psi, th, phi)
    z = np.stack([np.cos(th) * np.cos(psi), np.cos(th) * np.sin(psi), -np.sin(th)], -1)
    # right = forward × up (normalised; the forward is never vertical for |pitch| < 90°)
    x0 = np.stack([np.sin(psi), -np.cos(psi), np.zeros_like(psi)], -1)
    y0 = np.cross(z, x0)
    c, s = np.cos(phi)[..., None], np.sin(phi)[..., None]
    x = c * x0 - s * y0
    y = s * x0 + c * y0
    return np.stack([x, y, z], -2)


def camera_geometry(camera: Camera, scene_center: Sequence[float] = (0.0, 0.0)) -> Dict:
    """Where a camera stands and looks, relative to a scene centre on the floor.

    The inverse of :class:`VirtualCameraSampler` (exact for its cameras).

    Args:
        camera: a single camera (batch shape ``()``), world z up, mm.
        scene_center: (x, y) mm of the scene centre on the floor.

    Returns:
        dict of floats: ``height`` (camera centre z, mm), ``distance`` (horizontal distance
        from the scene centre, mm), ``distance_3d`` (to the scene centre at z = 0, mm),
        ``azimuth`` (direction scene centre → camera, degrees), ``heading`` (ground
        direction of the optical axis, degrees), ``yaw`` (heading minus the direction
        camera → scene centre, degrees in (−180, 180]), ``pitch`` (degrees, > 0 looks
        down), ``roll`` (degrees about the optical axis), ``fx``, ``fy``, ``cx``, ``cy``,
        ``width``, ``height_px``.
    """
    cam = camera.numpy()
    if cam.batch_shape:
        raise CameraError(f'{cam.source}: camera_geometry needs a single camera, got batch '
                          f'shape {cam.batch_shape}')
    R = cam.R
    C = cam.center
    s = np.asarray(scene_center, dtype=np.float64).reshape(2)
    x, y, z = R[0], R[1], R[2]
    to_center = np.degrees(np.arctan2(s[1] - C[1], s[0] - C[0]))
    heading = np.degrees(np.arctan2(z[1], z[0]))
    yaw = (heading - to_center + 180.0) % 360.0 - 180.0
    size = cam.image_size if cam.image_size is not None else np.full(2, np.nan)
    return dict(height=float(C[2]), distance=float(np.hypot(*(C[:2] - s))),
                distance_3d=float(np.linalg.norm(np.r_[C[:2] - s, C[2]])),
                azimuth=float(np.degrees(np.arctan2(C[1] - s[1], C[0] - s[0]))),
                heading=float(heading), yaw=float(yaw),
                pitch=float(np.degrees(np.arcsin(np.clip(-z[2], -1, 1)))),
                roll=float(np.degrees(np.arctan2(x @ _UP, -(y @ _UP)))),
                fx=float(cam.f[0]), fy=float(cam.f[1]), cx=float(cam.c[0]),
                cy=float(cam.c[1]), width=float(size[0]), height_px=float(size[1]))


class VirtualCameraSampler:
    """Random virtual cameras around a scene centre on the floor.

    One camera: its centre stands at horizontal ``distance`` from the scene centre
    ``(scene_center, floor_z)`` in the direction ``azimuth`` and at ``height`` above the
    floor; it looks towards the scene centre turned by ``yaw`` in the ground plane, tilted
    down by ``pitch`` and rolled by ``roll`` about its optical axis (:func:`look_rotation`).
    Intrinsics: ``fx`` uniform in ``focal_range``, ``fy = fx · a`` with ``a`` uniform in
    ``focal_aspect_range``, principal point = image centre + ``(ox·w, oy·h)`` with ``ox``,
    ``oy`` uniform in ``principal_offset_range``; no distortion; the image size is one of
    ``image_sizes``. Every quantity is uniform in its range (degrees for angles, mm,
    pixels).

    **Default ranges** and why: they span the real monocular rigs VirtualPose is evaluated
    on, measured with :func:`camera_geometry` on the MuPoTS-3D ground-plane extrinsics
    (``cameras.pkl`` of the 20 test sequences, det −1 matrices repaired) and on the CMU
    Panoptic HD cameras (``calibration_160906_band1.json``, 31 HD cameras):

    ==================== ============== ==================================================
    quantity             default        measured
    ==================== ============== ==================================================
    ``height_range``     500–3000 mm    MuPoTS 518–2899 mm (Panoptic HD 739–3397)
    ``distance_range``   2500–6000 mm   MuPoTS horizontal 2707–5815 mm (3D 2756–6498)
    ``pitch_range``      0–35° down     MuPoTS 2.0–31.8° (Panoptic HD −15…53°)
    ``roll_range``       −7…7°          MuPoTS −6.6…4.7° (Panoptic HD −7…5°)
    ``yaw_range``        −30…30°        MuPoTS heading off the scene centre −25.6…22.4°
                                        (Panoptic HD −22…15°)
    ``azimuth_range``    −180…180°      the MuPoTS cameras stand on every side
    ``focal_range``      1200–1800 px   Panoptic HD 1393–1862 px (MuPoTS / MuCo
                                        intrinsics are not among the fixtures; the
                                        MuPoTS-like golden cases use 1400–1500 px)
    ``image_sizes``      2048², 1920×   MuPoTS TS1–5 and MuCo 2048×2048; MuPoTS TS6–20
                         1080           and Panoptic HD 1920×1080
    ==================== ============== ==================================================

    Parameters are independent, so some cameras (e.g. 0.5 m high, pitched 35° down) see
    only the floor near them; the scene dataset rejects cameras that see nobody and draws
    again (:class:`~virtualpose_mm.datasets.datasets.virtual.virtual_agr.VirtualPoseSceneDataset`).

    Args:
        height_range: (min, max) camera centre height above the floor, mm.
        distance_range: (min, max) horizontal distance camera centre → scene centre, mm.
        azimuth_range: (min, max) direction scene centre → camera, degrees from world +x.
        yaw_range: (min, max) heading offset from looking at the scene centre, degrees.
        pitch_range: (min, max) downward tilt of the optical axis, degrees (< 90).
        roll_range: (min, max) rotation about the optical axis, degrees.
        focal_range: (min, max) fx, px.
        focal_aspect_range: (min, max) fy / fx.
        principal_offset_range: (min, max) offset of the principal point from the image
            centre as a fraction of (w, h).
        image_sizes: the (w, h) choices, px.
        image_size_probs: their probabilities (default uniform).
        scene_center: (x, y) mm of the scene centre (the world origin by default).
        floor_z: height of the floor in world mm.
    """

    def __init__(self,
                 height_range: Sequence[float] = (500.0, 3000.0),
                 distance_range: Sequence[float] = (2500.0, 6000.0),
                 azimuth_range: Sequence[float] = (-180.0, 180.0),
                 yaw_range: Sequence[float] = (-30.0, 30.0),
                 pitch_range: Sequence[float] = (0.0, 35.0),
                 roll_range: Sequence[float] = (-7.0, 7.0),
                 focal_range: Sequence[float] = (1200.0, 1800.0),
                 focal_aspect_range: Sequence[float] = (1.0, 1.0),
                 principal_offset_range: Sequence[float] = (-0.02, 0.02),
                 image_sizes: Sequence[Sequence[float]] = ((2048, 2048), (1920, 1080)),
                 image_size_probs: Optional[Sequence[float]] = None,
                 scene_center: Sequence[float] = (0.0, 0.0),
                 floor_z: float = 0.0):
        self.height_range = _range('height_range', height_range)
        self.distance_range = _range('distance_range', distance_range)
        self.azimuth_range = _range('azimuth_range', azimuth_range)
        self.yaw_range = _range('yaw_range', yaw_range)
        self.pitch_range = _range('pitch_range', pitch_range)
        self.roll_range = _range('roll_range', roll_range)
        self.focal_range = _range('focal_range', focal_range)
        self.focal_aspect_range = _range('focal_aspect_range', focal_aspect_range)
        self.principal_offset_range = _range('principal_offset_range', principal_offset_range)
        if self.height_range[0] <= 0 and self.height_range[1] <= 0:
            raise ValueError(f'height_range {height_range} puts every camera at or below '
                             'the floor')
        if self.distance_range[0] < 0:
            raise ValueError(f'distance_range must be ≥ 0, got {distance_range}')
        if max(abs(v) for v in self.pitch_range) >= 90:
            raise ValueError(f'pitch_range must lie inside (−90°, 90°), got {pitch_range}')
        if self.focal_range[0] <= 0 or self.focal_aspect_range[0] <= 0:
            raise ValueError('focal_range and focal_aspect_range must be positive, got '
                             f'{focal_range} and {focal_aspect_range}')
        sizes = np.asarray(image_sizes, dtype=np.float64)
        if sizes.ndim != 2 or sizes.shape[1] != 2 or len(sizes) == 0 or (sizes <= 0).any():
            raise ValueError(f'image_sizes must be a list of (w, h) > 0, got {image_sizes!r}')
        self.image_sizes = sizes
        if image_size_probs is None:
            self.image_size_probs = np.full(len(sizes), 1.0 / len(sizes))
        else:
            p = np.asarray(image_size_probs, dtype=np.float64).reshape(-1)
            if p.shape != (len(sizes), ) or (p < 0).any() or p.sum() <= 0:
                raise ValueError(f'image_size_probs must be {len(sizes)} non-negative '
                                 f'weights, got {image_size_probs!r}')
            self.image_size_probs = p / p.sum()
        self.scene_center = np.asarray(scene_center, dtype=np.float64).reshape(2)
        self.floor_z = float(floor_z)

    def sample(self, rng: np.random.Generator, index: Optional[int] = None
               ) -> Tuple[Camera, Dict]:
        """One camera drawn with ``rng``.

        Returns:
            ``(camera, params)``: a single :class:`Camera` (float64 numpy, with
            ``image_size``) and the drawn values (``height``, ``distance``, ``azimuth``,
            ``yaw``, ``pitch``, ``roll`` (mm / degrees), ``fx``, ``fy``, ``cx``, ``cy``,
            ``width``, ``height_px``).
        """
        u = lambda r: float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])  # noqa
        h, d = u(self.height_range), u(self.distance_range)
        az, yaw = u(self.azimuth_range), u(self.yaw_range)
        pitch, roll = u(self.pitch_range), u(self.roll_range)
        fx = u(self.focal_range)
        fy = fx * u(self.focal_aspect_range)
        k = int(rng.choice(len(self.image_sizes), p=self.image_size_probs))
        w, hp = self.image_sizes[k]
        ox, oy = u(self.principal_offset_range), u(self.principal_offset_range)
        a = np.deg2rad(az)
        C = np.array([self.scene_center[0] + d * np.cos(a), self.scene_center[1] + d * np.sin(a),
                      self.floor_z + h])
        heading = az + 180.0 + yaw   # towards the scene centre, turned by yaw
        R = look_rotation(heading, pitch, roll)
        cx, cy = w / 2 + ox * w, hp / 2 + oy * hp
        cam = Camera(R, -R @ C, [fx, fy], [cx, cy], None, [w, hp],
                     source=f'virtual camera (h={h:.0f} mm, d={d:.0f} mm, pitch={pitch:.1f}°)',
                     validate=False)
        params = dict(height=h, distance=d, azimuth=az, yaw=yaw, pitch=pitch, roll=roll,
                      fx=fx, fy=fy, cx=float(cx), cy=float(cy), width=float(w),
                      height_px=float(hp))
        return cam, params

    def __repr__(self):
        return (f'{self.__class__.__name__}(height={self.height_range}, '
                f'distance={self.distance_range}, pitch={self.pitch_range}, '
                f'yaw={self.yaw_range}, roll={self.roll_range}, focal={self.focal_range}, '
                f'image_sizes={self.image_sizes.tolist()})')


class FixedCameraSampler:
    """Real cameras: one of a fixed set per sample (VirtualPose's released setting).

    Args:
        calibration: a camera file (any format
            :func:`~virtualpose_mm.geometry.camera_io.load_cameras` reads: Panoptic,
            Shelf/Campus, MuPoTS ``cameras.pkl`` (with ``camera_kwargs=dict(intrinsics=
            ...)``), ``MuCo-3DHP.json`` (one camera per image), the MMPose-0.x demo file),
            a :class:`Camera` (single or a (V,) batch), one camera dict in the package
            convention (``R``, ``t``, ``f``, ``c``, optional ``dist``, ``image_size``), a
            list of them or a dict ``name → camera dict``.
        cameras: names of the cameras to use (default all), e.g. ``'00_16'`` or
            ``['00_03', '00_23']`` for a Panoptic file, image ids for MuCo.
        camera_kwargs: extra arguments of the file's loader.
        image_size: (w, h), required when the cameras carry none (Shelf/Campus files,
            MuPoTS ``cameras.pkl``); must agree with them when they do.
        choice: ``'random'`` (a camera drawn uniformly per sample) or ``'cycle'`` (sample
            ``i`` uses camera ``i mod V``).
    """

    def __init__(self, calibration, cameras: Optional[Union[str, Sequence[str]]] = None,
                 camera_kwargs: Optional[dict] = None,
                 image_size: Optional[Sequence[float]] = None, choice: str = 'random'):
        from virtualpose_mm.datasets.datasets.virtual.virtual_scene import load_rig
        if choice not in ('random', 'cycle'):
            raise ValueError(f"choice must be 'random' or 'cycle', got {choice!r}")
        self.choice = choice
        if isinstance(calibration, Camera) and not calibration.batch_shape:
            calibration = Camera.stack([calibration])
        elif isinstance(calibration, dict) and 'R' in calibration:
            calibration = [calibration]
        if isinstance(cameras, str):
            cameras = [cameras]
        self.source = os.fspath(calibration) if isinstance(calibration, (str, os.PathLike)) \
            else '<cameras>'
        self.rig, self.names = load_rig(calibration, camera_kwargs, image_size, cameras)

    def __len__(self) -> int:
        return len(self.names)

    def sample(self, rng: np.random.Generator, index: Optional[int] = None
               ) -> Tuple[Camera, Dict]:
        """One of the cameras: drawn with ``rng`` (``'random'``) or ``index mod V``
        (``'cycle'``). Returns ``(camera, dict(name=..., index=...))``."""
        V = len(self.names)
        if self.choice == 'cycle':
            if index is None:
                raise ValueError("FixedCameraSampler(choice='cycle') needs the sample index")
            v = int(index) % V
        else:
            v = int(rng.integers(V))
        cam = self.rig[v]
        cam.source = f'{self.source}: camera {self.names[v]!r}'
        return cam, dict(name=self.names[v], index=v)

    def __repr__(self):
        return (f'{self.__class__.__name__}({len(self.names)} cameras from {self.source}, '
                f'choice={self.choice!r})')


_SAMPLERS = {'VirtualCameraSampler': VirtualCameraSampler,
             'FixedCameraSampler': FixedCameraSampler}


def build_camera_sampler(cfg) -> Union[VirtualCameraSampler, FixedCameraSampler]:
    """A sampler from a config dict (``type`` = ``'VirtualCameraSampler'`` (default) or
    ``'FixedCameraSampler'``) or an existing sampler (returned as is)."""
    if isinstance(cfg, (VirtualCameraSampler, FixedCameraSampler)):
        return cfg
    if cfg is None:
        return VirtualCameraSampler()
    if not isinstance(cfg, dict):
        raise TypeError(f'cameras must be a sampler config dict, got {type(cfg).__name__}')
    cfg = dict(cfg)
    kind = cfg.pop('type', 'VirtualCameraSampler')
    if kind not in _SAMPLERS:
        raise ValueError(f'unknown camera sampler type {kind!r}; expected one of '
                         f'{sorted(_SAMPLERS)}')
    return _SAMPLERS[kind](**cfg)
