"""Write MuPoTS-3D predictions for the official MATLAB evaluation.

``mpii_mupots_multiperson_eval.m`` (3DMPPE PoseNet release) loads
``preds_2d_kpt_mupots.mat`` and ``preds_3d_kpt_mupots.mat`` from its working folder and
reads, for every frame that has a valid GT person, the variable ``TS<k>_img_<frame:06d>``
(0-based frame): N×17×2 pixels and N×17×3 mm in the camera frame, official MuPoTS joint
order (:data:`~virtualpose_mm.datasets.joint_sets.MUPOTS17`), float64. A frame without
predictions must still have its variables, as empty 0×17×2 / 0×17×3 arrays.

Files are written atomically: to a temporary file in the target folder, then renamed, so an
interrupted run never leaves a truncated ``.mat`` behind.
"""
from __future__ import annotations

import os
import tempfile
from typing import Dict, Mapping, Tuple

import numpy as np

from .functional.mupots_io import (MUPOTS_KEY_PATTERN, MUPOTS_PRED_2D_FILE,
                                   MUPOTS_PRED_3D_FILE, load_mupots_predictions)

__all__ = ['save_mupots_predictions', 'load_mupots_predictions', 'atomic_savemat']


def atomic_savemat(path: str, variables: Mapping[str, np.ndarray]) -> None:
    """``scipy.io.savemat(path, variables)`` through a temporary file and a rename."""
    import scipy.io
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp',
                               dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            scipy.io.savemat(f, dict(variables), do_compression=False, oned_as='row')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _check(key: str, arr, dim: int) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float64)
    if a.size == 0:
        return np.zeros((0, 17, dim))
    if a.ndim != 3 or a.shape[1:] != (17, dim):
        raise ValueError(f'{key}: {dim}D predictions must be (N, 17, {dim}) in the MuPoTS '
                         f'joint order, got shape {a.shape}')
    if not np.all(np.isfinite(a)):
        raise ValueError(f'{key}: {dim}D predictions contain NaN or infinite values')
    return np.ascontiguousarray(a)


def save_mupots_predictions(out_dir: str,
                            predictions: Mapping[str, Tuple[np.ndarray, np.ndarray]]
                            ) -> Dict[str, str]:
    """Write ``preds_2d_kpt_mupots.mat`` and ``preds_3d_kpt_mupots.mat`` into ``out_dir``.

    Args:
        out_dir: target folder (created if needed).
        predictions: ``{'TS1_img_000000': (pred_2d (N, 17, 2) px, pred_3d (N, 17, 3) mm
            camera frame), ...}`` in the official joint order; N may be 0. Give every frame
            of the evaluated sequences that has a valid GT person.

    Returns:
        ``{'2d': path, '3d': path}``.
    """
    v2, v3 = {}, {}
    for key, (p2, p3) in sorted(predictions.items()):
        if not MUPOTS_KEY_PATTERN.match(key):
            raise ValueError(f'{key!r} is not an official MuPoTS image key '
                             '(TS<k>_img_<6-digit 0-based frame>)')
        a2, a3 = _check(key, p2, 2), _check(key, p3, 3)
        if a2.shape[0] != a3.shape[0]:
            raise ValueError(f'{key}: {a2.shape[0]} people in 2D but {a3.shape[0]} in 3D')
        v2[key], v3[key] = a2, a3
    paths = {'2d': os.path.join(out_dir, MUPOTS_PRED_2D_FILE),
             '3d': os.path.join(out_dir, MUPOTS_PRED_3D_FILE)}
    atomic_savemat(paths['2d'], v2)
    atomic_savemat(paths['3d'], v3)
    return paths
