"""Writing results completely or not at all."""
from __future__ import annotations

import json
import math
import pickle
from typing import Any, Dict, Optional

import numpy as np
from mmengine.evaluator import DumpResults

from ..registry import METRICS
from .fileio import atomic_write_bytes


def _to_builtin(x: Any):
    if isinstance(x, dict):
        return {str(k): _to_builtin(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_builtin(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if hasattr(x, 'tolist'):  # torch tensors
        return x.tolist()
    return x


# Why a metric can be undefined, by the end of its name (metrics return inf / nan there:
# mmengine's logger needs numbers). Written to JSON as null plus this reason.
NONFINITE_REASONS = {
    'MPJPE': 'no prediction was matched to a ground-truth person',
    'MRPE': 'no prediction was matched to a ground-truth person',
    'mAP': 'no AP threshold could be evaluated (no ground-truth person)',
    'AP': 'no ground-truth person to compute AP against',
    'PCK': 'no ground-truth person to score',
    'AUC': 'no ground-truth person to score',
    'PCP': 'no ground-truth person to score',
}


def _reason(key: str, value: float) -> str:
    name = key.rsplit('/', 1)[-1]
    for suffix, why in NONFINITE_REASONS.items():
        if name.startswith(suffix) or name.endswith(suffix) or suffix in name:
            return f'{value}: {why}'
    return f'{value}: undefined for this data'


def to_json_safe(obj: Any, notes: Optional[Dict[str, str]] = None, key: str = '') -> Any:
    """Numbers, arrays, tensors, nested containers → JSON-ready builtins.

    Non-finite floats (``inf``, ``nan``: e.g. MPJPE when nothing was matched) become
    ``None`` (JSON ``null``); when ``notes`` is given, ``notes[key]`` records why.
    """
    obj = _to_builtin(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        if notes is not None:
            notes[key] = _reason(key, obj)
        return None
    if isinstance(obj, dict):
        return {k: to_json_safe(v, notes, f'{key}.{k}' if key else k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_json_safe(v, notes, f'{key}[{i}]') for i, v in enumerate(obj)]
    return obj


def write_json_atomic(path: str, obj: Any) -> None:
    """Write ``obj`` as strict JSON (RFC 8259: no ``NaN``/``Infinity``), atomically.

    A dict whose values include non-finite numbers gets them as ``null`` and an extra
    ``"null_reasons"`` entry ``{key: "inf: <why>"}``.
    """
    notes: Dict[str, str] = {}
    data = to_json_safe(obj, notes)
    if notes and isinstance(data, dict):
        data['null_reasons'] = notes
    atomic_write_bytes(path, json.dumps(data, indent=2, allow_nan=False).encode())


def write_pickle_atomic(path: str, obj: Any) -> None:
    atomic_write_bytes(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


@METRICS.register_module()
class AtomicDumpResults(DumpResults):
    """mmengine's ``DumpResults`` (used by ``tools/test.py --dump``), but the pickle is
    written to a temporary file and renamed, so it is complete or absent."""

    def compute_metrics(self, results: list) -> dict:
        write_pickle_atomic(self.out_file_path, results)
        return {}
