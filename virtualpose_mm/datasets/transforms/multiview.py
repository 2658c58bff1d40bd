"""Geometric transforms of multi-view frames: projection of 3D people into every view and
the letterbox of every view to the network input size."""
from __future__ import annotations

import hashlib
from typing import Sequence, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from ...engine.config_checks import reject_unresolved
from ...registry import TRANSFORMS

__all__ = ['letterbox_affine', 'apply_affine', 'frame_rng', 'MultiViewLetterbox',
           'ProjectKeypoints3D', 'KEYPOINT_KEYS']

#: The per-view 2D point sets a frame may carry; each has ``<key>_visible`` and
#: ``<key>_scores`` companions (lists of V arrays).
KEYPOINT_KEYS = ('keypoints_2d', 'input_keypoints_2d')


def letterbox_affine(image_size: Sequence[float], input_size: Sequence[float]) -> np.ndarray:
    """The 2×3 affine (original px → input px) that fits an image into the input keeping
    its aspect ratio, centred, without rotation (the reference's ``get_affine_transform``
    with ``center = (w/2, h/2)``, ``scale = get_scale((w, h), input_size)``, ``rot = 0``).

    ``k = min(iw / w, ih / h)``, ``x' = k·x + (iw − k·w)/2`` and
    ``y' = k·y + (ih − k·h)/2``.

    Args:
        image_size: original (w, h) px.
        input_size: network input (iw, ih) px.

    Returns:
        (2, 3) float64.
    """
    w, h = (float(v) for v in image_size)
    iw, ih = (float(v) for v in input_size)
    if min(w, h, iw, ih) <= 0:
        raise ValueError(f'letterbox_affine: sizes must be positive, got image {image_size} '
                         f'and input {input_size}')
    k = min(iw / w, ih / h)
    return np.array([[k, 0.0, (iw - k * w) / 2], [0.0, k, (ih - k * h) / 2]])


def apply_affine(points: np.ndarray, A: np.ndarray) -> np.ndarray:
    """(..., 2) points through a (2, 3) affine."""
    p = np.asarray(points, dtype=np.float64)
    return p @ A[:, :2].T + A[:, 2]


def frame_rng(results: dict, salt: str) -> np.random.Generator:
    """A generator for one random transform of one frame.

    When the frame carries ``random_seed`` (virtual scenes: ``(seed, index)``), the stream
    is a pure function of it and of ``salt`` (the transform's name), so every worker, epoch
    and run sees the same frame. Otherwise it is drawn from numpy's global state (which
    mmengine seeds per worker).
    """
    seed = results.get('random_seed')
    tag = int.from_bytes(hashlib.sha1(salt.encode()).digest()[:4], 'little')
    if seed is None:
        return np.random.default_rng([int(np.random.randint(0, 2**31 - 1)), tag])
    seed = [int(s) for s in (seed if isinstance(seed, (list, tuple, np.ndarray)) else [seed])]
    return np.random.default_rng(seed + [tag])


@TRANSFORMS.register_module()
class ProjectKeypoints3D(BaseTransform):
    """Project the 3D people into every view.

    A joint is visible in a view when it is visible in 3D, in front of the camera
    (depth > ``min_depth`` mm) and inside ``[0, w − 1] × [0, h − 1]`` of the original image
    (the reference's test).

    Required Keys:

    - cameras (:class:`Camera`, batch (V,), with image sizes or ``image_sizes``)
    - gt_keypoints_3d (N, K, 3) world mm
    - gt_keypoints_3d_visible (N, K) (optional, default all visible)

    Added Keys:

    - ``<out_key>`` (list of V (N, K, 2) float64 original px)
    - ``<out_key>_visible`` (list of V (N, K) bool)
    - ``<out_key>_scores`` (list of V (N, K) float64, 1 where visible): Gaussian peaks

    Args:
        out_key: ``'input_keypoints_2d'`` (to render input heatmaps, virtual scenes) or
            ``'keypoints_2d'`` (2D targets of a 2D network).
        min_depth: mm.
    """

    def __init__(self, out_key: str = 'input_keypoints_2d', min_depth: float = 1.0):
        if out_key not in KEYPOINT_KEYS:
            raise ValueError(f'out_key must be one of {KEYPOINT_KEYS}, got {out_key!r}')
        self.out_key = out_key
        self.min_depth = float(min_depth)

    def transform(self, results: dict) -> dict:
        cams = results['cameras']
        X = np.asarray(results['gt_keypoints_3d'], dtype=np.float64)
        N, K = X.shape[:2]
        vis3d = results.get('gt_keypoints_3d_visible')
        vis3d = np.ones((N, K), bool) if vis3d is None else np.asarray(vis3d).astype(bool)
        if vis3d.ndim == 3:
            vis3d = vis3d[..., 0]
        sizes = results.get('image_sizes')
        sizes = np.asarray(cams.image_size if sizes is None else sizes, dtype=np.float64)
        V = sizes.shape[0]
        pts = X.reshape(1, N * K, 3)
        depth = cams.depth(pts).reshape(V, N, K)
        uv = cams.project(pts, min_depth=self.min_depth).reshape(V, N, K, 2)
        kp, vis, sc = [], [], []
        for v in range(V):
            w, h = sizes[v]
            inside = (uv[v, ..., 0] >= 0) & (uv[v, ..., 0] <= w - 1) & \
                (uv[v, ..., 1] >= 0) & (uv[v, ..., 1] <= h - 1)
            ok = vis3d & inside & (depth[v] > self.min_depth)
            kp.append(uv[v].copy())
            vis.append(ok)
            sc.append(ok.astype(np.float64))
        results[self.out_key] = kp
        results[self.out_key + '_visible'] = vis
        results[self.out_key + '_scores'] = sc
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(out_key={self.out_key!r}, min_depth={self.min_depth})'


@TRANSFORMS.register_module()
class MultiViewLetterbox(BaseTransform):
    """Letterbox every view to the network input size and record the per-view affine.

    Each view gets ``A_v`` = :func:`letterbox_affine` (original px → input px, uniform scale,
    centred, no rotation). Images (if loaded) are warped with it (bilinear, zero padding);
    every 2D point set of :data:`KEYPOINT_KEYS` present is mapped with it.

    Required Keys:

    - image_sizes (V, 2) original (w, h)
    - img (optional, list of V images)
    - keypoints_2d / input_keypoints_2d (optional, lists of V (n_v, K, 2)) and their
      ``_visible`` companions

    Modified Keys:

    - img (list of V (ih, iw, 3))
    - keypoints_2d, input_keypoints_2d (now in input px)
    - ``<key>_visible`` of the keys in ``drop_outside`` (False where the point leaves the
      input)

    Added Keys:

    - affines (V, 2, 3) float64
    - input_size (2,) int (iw, ih)

    Args:
        input_size: (iw, ih) network input size.
        drop_outside: keys whose points become invisible when they fall outside
            ``[0, iw) × [0, ih)``. Default ``('keypoints_2d',)``: 2D targets. Detections
            (``input_keypoints_2d``) keep their points, as the reference does: a Gaussian
            whose centre is just outside still paints the border.
    """

    def __init__(self, input_size: Sequence[int],
                 drop_outside: Union[bool, Sequence[str]] = ('keypoints_2d', )):
        reject_unresolved(type(self).__name__, locals())
        if len(input_size) != 2 or min(input_size) <= 0:
            raise ValueError(f'input_size must be (w, h) > 0, got {input_size}')
        self.input_size = (int(input_size[0]), int(input_size[1]))
        if drop_outside is True:
            drop_outside = KEYPOINT_KEYS
        elif drop_outside is False:
            drop_outside = ()
        self.drop_outside = tuple(drop_outside)

    def transform(self, results: dict) -> dict:
        sizes = np.asarray(results['image_sizes'], dtype=np.float64)
        V = sizes.shape[0]
        iw, ih = self.input_size
        A = np.stack([letterbox_affine(sizes[v], self.input_size) for v in range(V)])
        if 'img' in results:
            imgs = results['img']
            if len(imgs) != V:
                raise ValueError(f'MultiViewLetterbox: {len(imgs)} images for {V} views')
            out = []
            for v, img in enumerate(imgs):
                h, w = img.shape[:2]
                if (w, h) != tuple(sizes[v]):
                    raise ValueError(f'MultiViewLetterbox: view {v} image is {w}×{h}, '
                                     f'image_sizes says {int(sizes[v][0])}×{int(sizes[v][1])}')
                out.append(cv2.warpAffine(img, A[v], (iw, ih), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=0))
            results['img'] = out
        for key in KEYPOINT_KEYS:
            if key not in results:
                continue
            kps = results[key]
            if len(kps) != V:
                raise ValueError(f'MultiViewLetterbox: {key} has {len(kps)} views, the frame '
                                 f'has {V}')
            new = [apply_affine(k, A[v]) for v, k in enumerate(kps)]
            results[key] = new
            if key in self.drop_outside and key + '_visible' in results:
                vis = []
                for v, (k, vv) in enumerate(zip(new, results[key + '_visible'])):
                    inside = (k[..., 0] >= 0) & (k[..., 1] >= 0) & (k[..., 0] < iw) & \
                        (k[..., 1] < ih)
                    vis.append(np.asarray(vv, bool) & inside)
                results[key + '_visible'] = vis
        results['affines'] = A
        results['input_size'] = np.array(self.input_size, dtype=np.int64)
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'drop_outside={self.drop_outside})')
