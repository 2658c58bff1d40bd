"""Writing results completely or not at all."""
from __future__ import annotations

import json
import pickle
from typing import Any

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


def write_json_atomic(path: str, obj: Any) -> None:
    """Write ``obj`` (numbers, arrays, tensors, nested containers) as JSON, atomically."""
    atomic_write_bytes(path, json.dumps(_to_builtin(obj), indent=2).encode())


def write_pickle_atomic(path: str, obj: Any) -> None:
    atomic_write_bytes(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


@METRICS.register_module()
class AtomicDumpResults(DumpResults):
    """mmengine's ``DumpResults`` (used by ``tools/test.py --dump``), but the pickle is
    written to a temporary file and renamed, so it is complete or absent."""

    def compute_metrics(self, results: list) -> dict:
        write_pickle_atomic(self.out_file_path, results)
        return {}
