"""Reading the multi-view metainfo of data samples (cameras, affines, image sizes).

The contract (one data sample = one frame seen by V views):

* ``cameras``: the V cameras in the package convention (``DESIGN.md`` §2), as any of
  - a :class:`~virtualpose_mm.geometry.Camera` of batch shape (V,);
  - a dict of arrays ``R`` (V, 3, 3), ``t`` (V, 3), ``f`` (V, 2), ``c`` (V, 2),
    optional ``dist`` (V, 5) and ``image_size`` (V, 2) (``Camera.to_dict()``);
  - a list of V such per-view dicts or Camera objects; a per-view dict in the
    voxelpose-pytorch layout (``R``, ``T`` = centre, ``fx fy cx cy``, ``k``, ``p``) is
    recognised by its ``fx`` key and converted.
* ``affines``: (V, 2, 3) original image pixels → network input pixels.
* ``image_sizes``: (V, 2) original image (w, h) in pixels; if absent, the cameras'
  ``image_size``.
* ``input_size`` (optional): (w, h) of the network input the affines map to.
"""
from __future__ import annotations

from typing import Hashable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from virtualpose_mm.geometry.camera import Camera, CameraError
from virtualpose_mm.geometry.camera_io import camera_from_reference_dict
from ..layers.projection import sample_key


class ViewMeta(NamedTuple):
    """Parsed views of a batch.

    Attributes:
        cameras: torch :class:`Camera`, batch shape (B, V), float64.
        affines: (B, V, 2, 3) float64, original px → input px.
        image_sizes: (B, V, 2) float64, original (w, h).
        input_size: (w, h) or None.
        keys: one hashable rig key per sample (for the sampling-grid cache).
    """
    cameras: Camera
    affines: torch.Tensor
    image_sizes: torch.Tensor
    input_size: Optional[Tuple[float, float]]
    keys: List[Hashable]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def cameras_from_meta(value, source: str) -> Camera:
    """One sample's ``cameras`` metainfo → numpy :class:`Camera` of batch shape (V,)."""
    if isinstance(value, Camera):
        cam = value.numpy()
        if len(cam.batch_shape) != 1:
            raise CameraError(f'{source}: expected cameras of batch shape (V,), got '
                              f'{cam.batch_shape}')
        return cam
    if isinstance(value, dict):
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
            elif isinstance(c, dict) and 'fx' in c:
                cams.append(camera_from_reference_dict(c, source=src))
            elif isinstance(c, dict):
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


def parse_view_meta(metainfos: Sequence[dict], num_views: int, device=None,
                    what: str = 'data_samples') -> ViewMeta:
    """Read and check the view metainfo of a batch.

    Args:
        metainfos: one metainfo dict per sample.
        num_views: V, the number of views of the inputs.
        device: device of the returned tensors.
        what: name used in error messages.

    Raises:
        ValueError: a key is missing or a count / shape does not match, naming the sample
            and field.
    """
    cams, affs, sizes, keys = [], [], [], []
    input_size = None
    for b, meta in enumerate(metainfos):
        src = f'{what}[{b}].metainfo'
        if 'cameras' not in meta:
            raise ValueError(f'{src}: missing key \'cameras\' (the V cameras of the frame)')
        cam = cameras_from_meta(meta['cameras'], f'{src}[\'cameras\']')
        if cam.batch_shape[0] != num_views:
            raise ValueError(f'{src}[\'cameras\']: {cam.batch_shape[0]} cameras, but the '
                             f'inputs have {num_views} views')
        if 'affines' not in meta:
            raise ValueError(f'{src}: missing key \'affines\' ((V, 2, 3) original pixels → '
                             'network input pixels)')
        A = _np(meta['affines'])
        if A.shape != (num_views, 2, 3):
            raise ValueError(f'{src}[\'affines\']: shape {A.shape}, expected '
                             f'({num_views}, 2, 3)')
        if meta.get('image_sizes') is not None:
            S = _np(meta['image_sizes'])
        elif cam.image_size is not None:
            S = np.asarray(cam.image_size, dtype=np.float64)
        else:
            raise ValueError(f'{src}: missing key \'image_sizes\' ((V, 2) original image '
                             '(w, h)) and the cameras carry no image_size')
        if S.shape != (num_views, 2):
            raise ValueError(f'{src}[\'image_sizes\']: shape {S.shape}, expected '
                             f'({num_views}, 2)')
        if not (np.isfinite(A).all() and np.isfinite(S).all()) or (S <= 0).any():
            raise ValueError(f'{src}: affines / image_sizes must be finite and sizes '
                             'positive')
        if meta.get('input_size') is not None:
            s = tuple(float(v) for v in _np(meta['input_size']).reshape(-1))
            if input_size is not None and s != input_size:
                raise ValueError(f'{src}[\'input_size\']: {s} differs from another sample\'s '
                                 f'{input_size} in the same batch')
            input_size = s
        keys.append(sample_key(cam.key(), A, S))
        cams.append(cam)
        affs.append(A)
        sizes.append(S)
    cameras = Camera.stack(cams, source=what).to_tensor(device=device, dtype=torch.float64)
    return ViewMeta(cameras, torch.as_tensor(np.stack(affs), device=device),
                    torch.as_tensor(np.stack(sizes), device=device), input_size, keys)
