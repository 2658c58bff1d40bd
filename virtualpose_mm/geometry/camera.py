"""One camera convention for the whole package (``DESIGN.md`` §2).

* world frame: z up, millimetres, right-handed;
* ``R`` (3, 3) world → camera rotation and ``t`` (3,) with ``X_cam = R · X_world + t``;
* ``f`` = (fx, fy) and ``c`` = (cx, cy) in pixels;
* ``dist`` = (k1, k2, p1, p2, k3), OpenCV order, all five honoured;
* ``image_size`` = (w, h) in pixels.

:class:`Camera` holds a *batch* of such cameras: every field may carry any number of
leading batch dimensions (``R`` (..., 3, 3), ``t`` (..., 3), ``f`` / ``c`` / ``image_size``
(..., 2), ``dist`` (..., 5)). The same code runs on numpy arrays and torch tensors (all
fields of one camera are of one kind), so datasets work in numpy and models in torch.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

try:  # torch is a hard dependency of the package, but keep the module importable alone
    import torch
except ImportError:  # pragma: no cover
    torch = None

Array = Any  # np.ndarray or torch.Tensor

FIELDS = ('R', 't', 'f', 'c', 'dist', 'image_size')
_LAST_SHAPES = {'R': (3, 3), 't': (3, ), 'f': (2, ), 'c': (2, ), 'dist': (5, ),
                'image_size': (2, )}


class CameraError(ValueError):
    """A camera description is unusable; the message names the file and field."""


def _is_torch(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _xp(x):
    return torch if _is_torch(x) else np


def _stack(xs, axis=-1):
    return torch.stack(xs, dim=axis) if _is_torch(xs[0]) else np.stack(xs, axis=axis)


def _mT(x):
    return x.transpose(-1, -2) if _is_torch(x) else np.swapaxes(x, -1, -2)


class Camera:
    """A batch of calibrated cameras in the package's convention.

    Args:
        R: (..., 3, 3) world → camera rotation.
        t: (..., 3) translation, ``X_cam = R X + t`` (mm).
        f: (..., 2) focal lengths (fx, fy) in pixels.
        c: (..., 2) principal point (cx, cy) in pixels.
        dist: (..., 5) OpenCV distortion (k1, k2, p1, p2, k3). Zeros if omitted.
        image_size: (..., 2) image (w, h) in pixels, or None if unknown.
        source: where the camera came from (``'file.json: cameras[3]'``); used in errors.
        validate: check shapes, finiteness, and that ``R`` is a proper rotation.
    """

    def __init__(self, R: Array, t: Array, f: Array, c: Array, dist: Optional[Array] = None,
                 image_size: Optional[Array] = None, source: str = '<camera>',
                 validate: bool = True):
        self.source = source
        like_torch = _is_torch(R)

        def conv(name, v):
            if v is None:
                return None
            if like_torch:
                return v if _is_torch(v) else torch.as_tensor(np.asarray(v), dtype=R.dtype,
                                                              device=R.device)
            try:
                return np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise CameraError(f'{source}: field {name!r} is not numeric: {e}') from None

        R = conv('R', R)
        self.R = R
        self.t = conv('t', t)
        self.f = conv('f', f)
        self.c = conv('c', c)
        if dist is None:
            dist = (torch.zeros(R.shape[:-2] + (5, ), dtype=R.dtype, device=R.device)
                    if like_torch else np.zeros(R.shape[:-2] + (5, )))
        self.dist = conv('dist', dist)
        self.image_size = conv('image_size', image_size)
        if validate:
            self.validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_center(cls, R, center, f, c, dist=None, image_size=None, **kwargs) -> 'Camera':
        """Build from the camera centre in world mm (Shelf/Campus ``T``): ``t = −R·centre``."""
        R_ = np.asarray(R, dtype=np.float64) if not _is_torch(R) else R
        C = np.asarray(center, dtype=np.float64).reshape(R_.shape[:-2] + (3, )) \
            if not _is_torch(center) else center.reshape(R_.shape[:-2] + (3, ))
        t = -(R_ @ C[..., None])[..., 0]
        return cls(R_, t, f, c, dist, image_size, **kwargs)

    @classmethod
    def stack(cls, cameras: Sequence['Camera'], source: Optional[str] = None) -> 'Camera':
        """Stack cameras of equal batch shape along a new leading dimension."""
        if not cameras:
            raise CameraError(f'{source or "<cameras>"}: cannot stack an empty list of cameras')
        fields = {}
        for name in FIELDS:
            vals = [getattr(cam, name) for cam in cameras]
            if any(v is None for v in vals):
                fields[name] = None
                continue
            fields[name] = _stack(vals, axis=0)
        return cls(**fields, source=source or cameras[0].source, validate=False)

    def __getitem__(self, idx) -> 'Camera':
        fields = {n: (None if getattr(self, n) is None else getattr(self, n)[idx])
                  for n in FIELDS}
        return Camera(**fields, source=self.source, validate=False)

    @property
    def batch_shape(self) -> tuple:
        return tuple(self.R.shape[:-2])

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError('a single camera has no len()')
        return self.batch_shape[0]

    def to_tensor(self, device=None, dtype=None) -> 'Camera':
        """A torch copy (default dtype float32)."""
        dtype = dtype or torch.float32
        fields = {}
        for n in FIELDS:
            v = getattr(self, n)
            fields[n] = None if v is None else torch.as_tensor(
                v if _is_torch(v) else np.asarray(v), device=device).to(dtype)
        return Camera(**fields, source=self.source, validate=False)

    def numpy(self) -> 'Camera':
        """A float64 numpy copy."""
        fields = {n: (None if getattr(self, n) is None else
                      (getattr(self, n).detach().cpu().double().numpy()
                       if _is_torch(getattr(self, n)) else np.asarray(getattr(self, n))))
                  for n in FIELDS}
        return Camera(**fields, source=self.source, validate=False)

    def to_dict(self) -> dict:
        """Plain dict of numpy arrays (for metainfo, JSON, pickles)."""
        cam = self.numpy()
        return {n: getattr(cam, n) for n in FIELDS if getattr(cam, n) is not None}

    @classmethod
    def from_dict(cls, d: dict, source: str = '<camera dict>', validate: bool = True):
        missing = [k for k in ('R', 't', 'f', 'c') if k not in d]
        if missing:
            raise CameraError(f'{source}: missing field(s) {missing}')
        return cls(d['R'], d['t'], d['f'], d['c'], d.get('dist'), d.get('image_size'),
                   source=source, validate=validate)

    def key(self) -> tuple:
        """A hashable key of the exact parameter values (for caches keyed by the rig)."""
        cam = self.numpy()
        parts = []
        for n in FIELDS:
            v = getattr(cam, n)
            parts.append(None if v is None else (v.shape, np.ascontiguousarray(v).tobytes()))
        return tuple(parts)

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        src = self.source
        batch = None
        for name in FIELDS:
            v = getattr(self, name)
            if v is None:
                continue
            want = _LAST_SHAPES[name]
            shape = tuple(v.shape)
            if shape[len(shape) - len(want):] != want or len(shape) < len(want):
                raise CameraError(f'{src}: field {name!r} has shape {shape}, '
                                  f'expected (..., {", ".join(map(str, want))})')
            b = shape[:len(shape) - len(want)]
            if batch is None:
                batch = b
            elif b != batch:
                raise CameraError(f'{src}: field {name!r} has batch shape {b}, but R has {batch}')
            vv = v.detach().cpu().numpy() if _is_torch(v) else v
            if not np.all(np.isfinite(vv)):
                raise CameraError(f'{src}: field {name!r} contains NaN or infinite values')
        R = self.R.detach().cpu().double().numpy() if _is_torch(self.R) else self.R
        err = np.abs(R @ np.swapaxes(R, -1, -2) - np.eye(3)).max() if R.size else 0.0
        if err > 1e-3:
            raise CameraError(f'{src}: field \'R\' is not a rotation matrix '
                              f'(max |R·Rᵀ − I| = {err:.3g})')
        det = np.linalg.det(R) if R.size else np.ones(1)
        if np.any(det < 0):
            raise CameraError(f'{src}: field \'R\' has determinant {np.min(det):.3f} '
                              '(a reflection, not a rotation)')
        f = self.f.detach().cpu().numpy() if _is_torch(self.f) else self.f
        if np.any(f <= 0):
            raise CameraError(f'{src}: field \'f\' must be positive, got {f.tolist()}')
        if self.image_size is not None:
            s = (self.image_size.detach().cpu().numpy() if _is_torch(self.image_size)
                 else self.image_size)
            if np.any(s <= 0):
                raise CameraError(f'{src}: field \'image_size\' must be positive, '
                                  f'got {s.tolist()}')

    # ------------------------------------------------------------------ geometry
    @property
    def center(self) -> Array:
        """(..., 3) camera centre in world mm: ``−R⁻¹ t`` (= ``−Rᵀ t`` for an exact rotation;
        calibrations such as Shelf's are orthonormal only to ~1e-3, and the inverse keeps
        their stored centre exact)."""
        if _is_torch(self.R):
            return -torch.linalg.solve(self.R, self.t[..., None])[..., 0]
        return -np.linalg.solve(self.R, self.t[..., None])[..., 0]

    def _b(self, x, extra_dims: int):
        """Insert ``extra_dims`` point dimensions after the batch dimensions of ``x``."""
        for _ in range(extra_dims):
            x = x[..., None, :] if x.ndim >= 1 else x
        return x

    def world_to_camera(self, X: Array) -> Array:
        """(..., N, 3) world mm → (..., N, 3) camera mm.

        The batch dimensions of ``X`` before the point axis must broadcast against the
        camera batch shape.
        """
        return X @ _mT(self.R) + self.t[..., None, :]

    def _R_inv_T(self) -> Array:
        """(..., 3, 3) ``(R⁻¹)ᵀ``: equals ``R`` for an exact rotation; for calibrations that
        are orthonormal only approximately it keeps :meth:`camera_to_world` the exact inverse
        of :meth:`world_to_camera` and consistent with :attr:`center`."""
        if _is_torch(self.R):
            return torch.linalg.inv(self.R).transpose(-1, -2)
        return np.swapaxes(np.linalg.inv(self.R), -1, -2)

    def camera_to_world(self, Xc: Array) -> Array:
        """(..., N, 3) camera mm → (..., N, 3) world mm (exact inverse of
        :meth:`world_to_camera`)."""
        return (Xc - self.t[..., None, :]) @ self._R_inv_T()

    def distort(self, xy: Array) -> Array:
        """Apply the OpenCV distortion to normalised coordinates (..., N, 2)."""
        d = self.dist[..., None, :]
        k1, k2, p1, p2, k3 = (d[..., i] for i in range(5))
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return _stack([xd, yd], axis=-1)

    def undistort(self, xy_d: Array, iters: int = 20) -> Array:
        """Invert :meth:`distort` by fixed-point iteration (as ``cv2.undistortPoints``)."""
        d = self.dist[..., None, :]
        k1, k2, p1, p2, k3 = (d[..., i] for i in range(5))
        x0, y0 = xy_d[..., 0], xy_d[..., 1]
        x, y = x0, y0
        for _ in range(iters):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            x = (x0 - dx) / radial
            y = (y0 - dy) / radial
        return _stack([x, y], axis=-1)

    def camera_to_pixel(self, Xc: Array, min_depth: Optional[float] = None) -> Array:
        """(..., N, 3) camera mm → (..., N, 2) pixels, distortion included.

        ``min_depth`` (mm): depths below it are clamped to it before the division (keeps
        points behind the camera finite; they still land far outside the image).
        """
        z = Xc[..., 2:3]
        if min_depth is not None:
            z = z.clamp(min=min_depth) if _is_torch(z) else np.maximum(z, min_depth)
        xy = self.distort(Xc[..., :2] / z)
        return xy * self.f[..., None, :] + self.c[..., None, :]

    def project(self, X: Array, min_depth: Optional[float] = None) -> Array:
        """(..., N, 3) world mm → (..., N, 2) pixels, distortion included."""
        return self.camera_to_pixel(self.world_to_camera(X), min_depth=min_depth)

    def depth(self, X: Array) -> Array:
        """(..., N, 3) world mm → (..., N) depth along the optical axis in mm."""
        return self.world_to_camera(X)[..., 2]

    def in_image(self, uv: Array) -> Array:
        """(..., N, 2) pixels → (..., N) bool, inside ``[0, w) × [0, h)``."""
        if self.image_size is None:
            raise CameraError(f'{self.source}: image_size is unknown, cannot test visibility')
        wh = self.image_size[..., None, :]
        return (uv[..., 0] >= 0) & (uv[..., 1] >= 0) & (uv[..., 0] < wh[..., 0]) & \
            (uv[..., 1] < wh[..., 1])

    def pixel_to_ray(self, uv: Array) -> tuple:
        """(..., N, 2) pixels → (origins (..., N, 3), unit directions (..., N, 3)) in world."""
        xy_d = (uv - self.c[..., None, :]) / self.f[..., None, :]
        xy = self.undistort(xy_d)
        ones = xy[..., :1] * 0 + 1
        d_cam = (torch.cat([xy, ones], -1) if _is_torch(xy) else np.concatenate([xy, ones], -1))
        d = d_cam @ self._R_inv_T()  # R⁻¹ d for row vectors (= Rᵀ d for a rotation)
        norm = (d * d).sum(-1, keepdims=True) ** 0.5 if not _is_torch(d) else \
            d.norm(dim=-1, keepdim=True)
        o = self.center[..., None, :] + d * 0
        return o, d / norm

    def __repr__(self) -> str:
        kind = 'torch' if _is_torch(self.R) else 'numpy'
        return f'Camera(batch_shape={self.batch_shape}, {kind}, source={self.source!r})'
