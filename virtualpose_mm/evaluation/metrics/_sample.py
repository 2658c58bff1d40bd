"""Uniform access to data samples given as ``PoseDataSample`` or as plain dicts.

mmengine's ``Evaluator.process`` passes ``data_sample.to_dict()`` (metainfo keys at the top
level next to ``pred_instances`` / ``gt_instances`` dicts), while direct callers pass the
data elements themselves. Both work here.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numpy as np

_MISSING = object()


def get_field(obj: Any, key: str, default: Any = _MISSING):
    """``obj[key]`` for dicts, ``getattr(obj, key)`` for data elements (metainfo included).

    Raises ``KeyError`` when missing and no default is given.
    """
    if obj is None:
        val = _MISSING
    elif isinstance(obj, dict):
        val = obj.get(key, _MISSING)
    else:
        val = getattr(obj, key, _MISSING)
        if val is _MISSING and hasattr(obj, 'metainfo'):
            val = obj.metainfo.get(key, _MISSING)
    if val is _MISSING:
        if default is _MISSING:
            raise KeyError(key)
        return default
    return val


def has_field(obj: Any, key: str) -> bool:
    return get_field(obj, key, None) is not None


def to_numpy(x: Any, dtype=np.float64) -> Optional[np.ndarray]:
    """torch tensor / array / list → numpy array of ``dtype`` (None stays None)."""
    if x is None:
        return None
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def sample_name(sample: Any, index: int) -> str:
    """A short description of a sample for error messages."""
    for key in ('img_path', 'img_id', 'frame_id', 'sample_idx'):
        v = get_field(sample, key, None)
        if v is not None:
            if isinstance(v, (list, tuple)) and v:
                v = v[0]
            return f'data sample {index} ({key}={v})'
    return f'data sample {index}'


def require(sample: Any, path: str, index: int, hint: str = ''):
    """``sample.a.b`` by a dotted path, with an error that says what is missing and where."""
    cur = sample
    for part in path.split('.'):
        cur = get_field(cur, part, None)
        if cur is None:
            raise KeyError(f'{sample_name(sample, index)} has no {path}' +
                           (f' ({hint})' if hint else ''))
    return cur


def joints_array(x: Any, k: Optional[int], c: int, what: str) -> np.ndarray:
    """Check and convert an (N, K, C) joint array; an empty input becomes (0, K, C)."""
    a = to_numpy(x)
    if a.size == 0:
        return np.zeros((0, k or 0, c))
    if a.ndim != 3 or a.shape[-1] < c or (k is not None and a.shape[1] != k):
        want = f'(N, {k if k is not None else "K"}, {c})'
        raise ValueError(f'{what} has shape {a.shape}, expected {want}')
    return a[..., :c]


class ScoredPoses(NamedTuple):
    """What the multi-person 3D metrics read from one data sample
    (:func:`read_scored_poses`)."""
    name: str
    pred: np.ndarray        #: (N, K, 3) predicted joints
    scores: np.ndarray      #: (N,) detection confidence
    gt: np.ndarray          #: (G, K, 3) GT joints
    gt_visible: np.ndarray  #: (G, K) bool


def read_scored_poses(sample: Any, index: int,
                      gt_visible_key: str = 'lifting_target_visible') -> ScoredPoses:
    """Read and check ``pred_instances.keypoints`` / ``bbox_scores`` and
    ``gt_instances.lifting_target`` (+ the visibility ``gt_instances.<gt_visible_key>``:
    a joint counts if > 0, the first channel of (G, K, C); all joints when absent).

    A frame without GT people gets (0, K, 3) / (0, K) GT arrays with the prediction's K.
    Errors name the sample and the field: KeyError for a missing field, ValueError for
    shapes that disagree.
    """
    name = sample_name(sample, index)
    pred = require(sample, 'pred_instances', index)
    gt_inst = require(sample, 'gt_instances', index,
                      'the metric needs gt_instances.lifting_target')
    kp = joints_array(require(pred, 'keypoints', index), None, 3,
                      f'{name}: pred_instances.keypoints')
    scores = get_field(pred, 'bbox_scores', None)
    if scores is None:
        raise KeyError(f'{name}: pred_instances has no bbox_scores (the detection '
                       'confidence that ranks predictions)')
    scores = to_numpy(scores).reshape(-1)
    if scores.shape[0] != kp.shape[0]:
        raise ValueError(f'{name}: {kp.shape[0]} predicted poses but {scores.shape[0]} '
                         'bbox_scores')
    gt = joints_array(require(gt_inst, 'lifting_target', index), None, 3,
                      f'{name}: gt_instances.lifting_target')
    vis = get_field(gt_inst, gt_visible_key, None)
    vis = np.ones(gt.shape[:2]) if vis is None else to_numpy(vis)
    if vis.ndim == 3:
        vis = vis[..., 0]
    if len(gt) == 0:  # no GT person: shape the empty arrays like the prediction
        gt = np.zeros((0, kp.shape[1], 3))
        vis = np.zeros((0, kp.shape[1]))
    if vis.shape != gt.shape[:2]:
        raise ValueError(f'{name}: gt_instances.{gt_visible_key} has shape {vis.shape}, '
                         f'expected {gt.shape[:2]}')
    if len(kp) and len(gt) and kp.shape[1] != gt.shape[1]:
        raise ValueError(f'{name}: predictions have {kp.shape[1]} joints, GT has '
                         f'{gt.shape[1]}')
    return ScoredPoses(name, kp, scores, gt, vis > 0)
