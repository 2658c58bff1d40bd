"""Uniform access to data samples given as ``PoseDataSample`` or as plain dicts.

mmengine's ``Evaluator.process`` passes ``data_sample.to_dict()`` (metainfo keys at the top
level next to ``pred_instances`` / ``gt_instances`` dicts), while direct callers pass the
data elements themselves. Both work here.
"""
from __future__ import annotations

from typing import Any, Optional

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
