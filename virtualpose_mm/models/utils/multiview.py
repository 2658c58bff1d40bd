"""The views of a batch: one canonical per-sample layout, stacked once per batch.

**Per-sample metainfo** (written by the pack transforms,
:class:`~virtualpose_mm.datasets.transforms.PackMultiViewPoseInputs` and its monocular
subclass :class:`~virtualpose_mm.datasets.transforms.PackVirtualPoseInputs`; V views, V = 1
for a monocular frame; world z-up mm, ``DESIGN.md`` §2):

==========================  ===========  ==================================================
``cameras``                 dict         float64 numpy arrays with a leading view axis:
                                         ``R`` (V, 3, 3) world → camera, ``t`` (V, 3) mm,
                                         ``f`` (V, 2) px, ``c`` (V, 2) px, ``dist`` (V, 5)
                                         (k1 k2 p1 p2 k3), ``image_size`` (V, 2) original
                                         (w, h) px — the ``Camera.to_dict()`` layout
``affines``                 (V, 2, 3)    float64 original image px → network input px
``input_size``              (2,)         (w, h) of the network input (optional)
``depth_norm_factor``       float        mm, monocular depth normalisation (optional;
                                         VirtualPose)
==========================  ===========  ==================================================

Every source format (camera files, voxelpose-pytorch dicts, ``Camera`` objects, per-view
lists) is converted into this layout once, where it enters: the pack transform calls
:func:`cameras_from_meta`. Models never see another format.

**Per batch**: :class:`~virtualpose_mm.models.data_preprocessors.MultiViewDataPreprocessor`
checks the layout (:func:`parse_view_meta`; errors name the sample and the field), stacks
it into a :class:`ViewMeta` of (B, V, ...) tensors on the model's device, and sets that
one object as metainfo ``view_meta`` of every data sample of the batch. The estimators
read it through ``VolumetricPoseEstimator.parse_meta(data_samples)``.
"""
from __future__ import annotations

from typing import Hashable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from virtualpose_mm.geometry.camera import Camera, CameraError
from virtualpose_mm.geometry.camera_io import camera_from_reference_dict

__all__ = ['ViewMeta', 'CAMERA_FIELDS', 'cameras_from_meta', 'parse_view_meta']

#: The camera arrays of the canonical layout and their per-view shapes.
CAMERA_FIELDS = {'R': (3, 3), 't': (3, ), 'f': (2, ), 'c': (2, ), 'dist': (5, ),
                 'image_size': (2, )}


class ViewMeta(NamedTuple):
    """The views of a batch, stacked once by the data preprocessor.

    Attributes:
        cameras: torch :class:`Camera`, batch shape (B, V), float64 (``image_size`` set).
        affines: (B, V, 2, 3) float64, original px → input px.
        image_sizes: (B, V, 2) float64, original (w, h) (= ``cameras.image_size``).
        input_size: (w, h) of the network input, or None when no sample gives one.
        keys: one hashable rig key per sample (exact bytes of its camera arrays and
            affines; the projectors' sampling-grid cache is keyed by it).
        depth_norm_factor: (B,) float64 mm when every sample gives ``depth_norm_factor``
            (monocular frames), else None.
    """
    cameras: Camera
    affines: torch.Tensor
    image_sizes: torch.Tensor
    input_size: Optional[Tuple[float, float]]
    keys: List[Hashable]
    depth_norm_factor: Optional[torch.Tensor] = None

    @property
    def batch_size(self) -> int:
        return int(self.affines.shape[0])

    @property
    def num_views(self) -> int:
        return int(self.affines.shape[1])

    def __repr__(self) -> str:  # short: the keys are kilobytes of raw bytes
        dnf = None if self.depth_norm_factor is None else \
            [round(float(v), 3) for v in self.depth_norm_factor]
        return (f'ViewMeta(B={self.batch_size}, V={self.num_views}, input_size='
                f'{self.input_size}, depth_norm_factor={dnf}, '
                f'device={self.affines.device})')


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def cameras_from_meta(value, source: str) -> Camera:
    """Any in-memory description of a frame's V cameras → numpy :class:`Camera` (V,).

    The one converter of camera *objects* where they enter (the pack transform, at load
    time; the visualizer's ``cameras`` argument): a :class:`Camera` of batch shape (V,),
    a dict of (V, ...) arrays (``Camera.to_dict()``), or a list of V per-view cameras
    (``Camera`` objects, ``Camera.to_dict()`` dicts, or voxelpose-pytorch dicts ``R``,
    ``T`` = centre, ``fx fy cx cy``, ``k``, ``p``, recognised by their ``fx`` key).
    Camera *files* are read by :mod:`virtualpose_mm.geometry.camera_io`.
    """
    if isinstance(value, Camera):
        cam = value.numpy()
        if len(cam.batch_shape) != 1:
            raise CameraError(f'{source}: expected cameras of batch shape (V,), got '
                              f'{cam.batch_shape}')
        return cam
    if isinstance(value, Mapping):
        cam = Camera.from_dict({k: _np(v) for k, v in value.items()}, source=source)
        if len(cam.batch_shape) != 1:
            raise CameraError(f'{source}: expected arrays with a leading view axis, '
                              f'R has shape {tuple(cam.R.shape)}')
        return cam
    if isinstance(value, (list, tuple)):
        if not value:
            raise CameraError(f'{source}: empty camera list')
        cams = []
        for v, c in enumerate(value):
            src = f'{source}[{v}]'
            if isinstance(c, Camera):
                cams.append(c.numpy())
            elif isinstance(c, Mapping) and 'fx' in c:
                cams.append(camera_from_reference_dict(c, source=src))
            elif isinstance(c, Mapping):
                cams.append(Camera.from_dict({k: _np(x) for k, x in c.items()}, source=src))
            else:
                raise CameraError(f'{src}: expected a camera dict or Camera, got '
                                  f'{type(c).__name__}')
            if cams[-1].batch_shape != ():
                raise CameraError(f'{src}: expected one camera, got batch shape '
                                  f'{cams[-1].batch_shape}')
        return Camera.stack(cams, source=source)
    raise CameraError(f'{source}: expected a Camera, a dict of arrays or a list of '
                      f'per-view cameras, got {type(value).__name__}')


def _sample_arrays(meta: Mapping, num_views: Optional[int], src: str, note: str = ''):
    """One sample's canonical arrays (checked) → (dict of float64 arrays, V)."""
    cams = meta.get('cameras')
    if not isinstance(cams, Mapping):
        got = 'nothing' if cams is None else type(cams).__name__
        raise ValueError(f"{src}['cameras']: expected the pack transform's dict of camera "
                         f"arrays (R (V, 3, 3), t, f, c, dist, image_size), got {got}")
    if num_views is None:  # from the rotations, checked with the rest below
        R = cams.get('R')
        num_views = int(np.shape(R)[0]) if R is not None and np.ndim(R) == 3 else -1
    out = {}
    for name, shape in CAMERA_FIELDS.items():
        if name not in cams or cams[name] is None:
            raise ValueError(f"{src}['cameras']: missing {name!r} (V, "
                             f"{', '.join(map(str, shape))}); pack the frame with "
                             'PackMultiViewPoseInputs / PackVirtualPoseInputs')
        a = _np(cams[name])
        if a.shape != (num_views, ) + shape:
            raise ValueError(f"{src}['cameras'][{name!r}]: shape {a.shape}, expected "
                             f"({'V' if num_views < 0 else num_views}, "
                             f"{', '.join(map(str, shape))}){note}")
        out[name] = a
    if meta.get('affines') is None:
        raise ValueError(f'{src}: missing key \'affines\' ((V, 2, 3) original pixels → '
                         'network input pixels)')
    A = _np(meta['affines'])
    if A.shape != (num_views, 2, 3):
        raise ValueError(f"{src}['affines']: shape {A.shape}, expected ({num_views}, 2, 3)"
                         f'{note}')
    out['affines'] = A
    for name, a in out.items():
        if not np.isfinite(a).all():
            where = f"['cameras'][{name!r}]" if name in CAMERA_FIELDS else f'[{name!r}]'
            raise ValueError(f'{src}{where}: NaN or Inf values')
    if (out['image_size'] <= 0).any():
        raise ValueError(f"{src}['cameras']['image_size']: sizes must be positive, got "
                         f"{out['image_size'].tolist()}")
    return out, num_views


def _scalar_pair(value, src: str, key: str) -> Tuple[float, float]:
    s = _np(value).reshape(-1)
    if s.shape != (2, ) or not np.isfinite(s).all() or (s <= 0).any():
        raise ValueError(f"{src}[{key!r}]: expected (w, h) > 0, got {s.tolist()}")
    return float(s[0]), float(s[1])


def parse_view_meta(metainfos: Sequence[Mapping], num_views: Optional[int] = None,
                    device=None, what: str = 'data_samples', cache=None) -> ViewMeta:
    """Check the canonical view metainfo of a batch and stack it into a :class:`ViewMeta`.

    Args:
        metainfos: one metainfo dict per sample (the layout of this module).
        num_views: V, the number of views of the inputs (default: the first sample's).
        device: device of the returned tensors.
        what: name used in error messages.
        cache: optional dict-like ``get`` / ``put`` store (the preprocessor's) of batches
            already stacked, keyed by the exact bytes of the arrays (a static rig is
            stacked and copied to the device once).

    Raises:
        ValueError: a key is missing or a count / shape / value is wrong, naming the
            sample and field.
    """
    if not len(metainfos):
        raise ValueError(f'{what}: empty batch')
    arrays, keys = [], []
    input_size, dnf = None, []
    note = '' if num_views is None else f' (the inputs have {num_views} views)'
    for b, meta in enumerate(metainfos):
        src = f'{what}[{b}].metainfo'
        a, V = _sample_arrays(meta, num_views, src, note)
        if num_views is None:
            num_views = V
        arrays.append(a)
        keys.append(tuple(a[n].tobytes() for n in (*CAMERA_FIELDS, 'affines')))
        if meta.get('input_size') is not None:
            s = _scalar_pair(meta['input_size'], src, 'input_size')
            if input_size is not None and s != input_size:
                raise ValueError(f"{src}['input_size']: {s} differs from another sample's "
                                 f'{input_size} in the same batch')
            input_size = s
        f = meta.get('depth_norm_factor')
        if f is not None:
            v = _np(f).reshape(-1)
            if v.shape != (1, ) or not np.isfinite(v[0]) or v[0] <= 0:
                raise ValueError(f"{src}['depth_norm_factor']: expected a positive number "
                                 f'(mm), got {v.tolist()}')
            f = float(v[0])
        dnf.append(f)
    have_dnf = all(f is not None for f in dnf)
    cache_key = (str(device), num_views, input_size,
                 tuple(dnf) if have_dnf else None, tuple(keys))
    if cache is not None:
        hit = cache.get(cache_key)
        if hit is not None:
            return hit
    fields = {n: torch.as_tensor(np.stack([a[n] for a in arrays]), device=device)
              for n in CAMERA_FIELDS}
    cameras = Camera(**fields, source=what, validate=False)
    affines = torch.as_tensor(np.stack([a['affines'] for a in arrays]), device=device)
    out = ViewMeta(cameras, affines, fields['image_size'], input_size, keys,
                   torch.tensor(dnf, dtype=torch.float64, device=device) if have_dnf
                   else None)
    if cache is not None:
        cache.put(cache_key, out)
    return out
