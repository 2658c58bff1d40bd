"""Checkpoint fixes for mmengine 0.10.7 on torch >= 2.6.

1. **Loading.** torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine
   0.10.7 calls ``torch.load(filename, map_location=...)`` for its own checkpoints (resume,
   ``load_from``), which then fails: its checkpoints hold a ``MessageHub`` state with
   :class:`~mmengine.logging.HistoryBuffer` objects and numpy arrays and scalars. We keep
   the safe loader on and add exactly those classes to torch's allow-list
   (:func:`torch.serialization.add_safe_globals`); ``HistoryBuffer`` also pickles its
   statistics methods through ``builtins.getattr``, which is mapped to a getattr that
   resolves only ``HistoryBuffer``'s own methods. Nothing else becomes loadable.

2. **Saving.** mmengine writes a checkpoint straight to its final path, so a run killed
   mid-write leaves a truncated file that ``--resume auto`` later picks up. Local
   checkpoints are written to a temporary file in the same folder and renamed into
   place, so a checkpoint exists completely or not at all.
"""
from __future__ import annotations

import io
import pickle

import numpy as np
import torch

from .fileio import atomic_write_bytes

_APPLIED = False


def history_buffer_getattr(obj, name: str):
    """Stands in for ``builtins.getattr`` during safe loading.

    A pickled ``HistoryBuffer`` stores its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. Allow-listing the real ``getattr`` would let a
    malicious file walk from any allowed class to arbitrary code, so only the attributes
    of ``HistoryBuffer`` (and subclasses) are resolved; anything else is refused.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if isinstance(obj, type) and issubclass(obj, HistoryBuffer) and \
            isinstance(name, str) and not name.startswith('_') and callable(
                getattr(obj, name, None)):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) in a weights-only checkpoint load: only the '
        'statistics methods of mmengine HistoryBuffer are allowed')


def mmengine_safe_globals() -> list:
    """The classes an mmengine checkpoint needs beyond tensors and plain containers."""
    from mmengine.logging.history_buffer import HistoryBuffer
    classes = [HistoryBuffer, np.ndarray, np.dtype,
               (history_buffer_getattr, 'builtins.getattr'),
               (history_buffer_getattr, '__builtin__.getattr')]
    # numpy's pickle protocol: array reconstruction and scalar construction
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    classes += [_reconstruct, scalar]
    # numpy >= 1.25 pickles dtypes through their classes (numpy.dtypes.Float64DType, ...)
    try:
        import numpy.dtypes as npd
        classes += [getattr(npd, n) for n in dir(npd) if n.endswith('DType')]
    except ImportError:  # pragma: no cover
        pass
    return classes


def atomic_save_checkpoint(checkpoint: dict, filename: str, file_client_args=None,
                           backend_args=None) -> None:
    """``mmengine.runner.checkpoint.save_checkpoint`` with an atomic local write."""
    local = not (filename.startswith('pavi://') or '://' in filename) and \
        file_client_args is None and backend_args is None
    if not local:
        return _ORIGINAL_SAVE(checkpoint, filename, file_client_args=file_client_args,
                              backend_args=backend_args)
    with io.BytesIO() as buf:
        torch.save(checkpoint, buf)
        atomic_write_bytes(filename, buf.getvalue())


_ORIGINAL_SAVE = None


def apply() -> None:
    """Install both fixes (idempotent). Called by ``import virtualpose_mm``."""
    global _APPLIED, _ORIGINAL_SAVE
    if _APPLIED:
        return
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(mmengine_safe_globals())
    from mmengine.runner import checkpoint as mm_ckpt
    from mmengine.runner import runner as mm_runner
    _ORIGINAL_SAVE = mm_ckpt.save_checkpoint
    mm_ckpt.save_checkpoint = atomic_save_checkpoint
    mm_runner.save_checkpoint = atomic_save_checkpoint
    _APPLIED = True
