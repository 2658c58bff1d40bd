"""Readers for the files of the official MuPoTS-3D evaluation.

* ``MultiPersonTestSet/TS<k>/annot.mat``: ``annotations``, a cell (frames × persons) of
  structs with ``annot2`` (2×17 pixels), ``annot3`` (3×17 mm, camera frame),
  ``univ_annot3`` (3×17 mm) and ``isValidFrame`` (scalar).
* ``MultiPersonTestSet/TS<k>/occlusion.mat``: ``occlusion_labels``, a cell (frames ×
  persons) of 1×17 (1 = occluded).
* ``preds_2d_kpt_mupots.mat`` / ``preds_3d_kpt_mupots.mat``: one variable per image,
  ``TS<k>_img_<frame:06d>`` (0-based frame), N×17×2 pixels / N×17×3 mm camera frame,
  MuPoTS joint order (:data:`~virtualpose_mm.datasets.joint_sets.MUPOTS17`).

Arrays come back in our layout: joints second to last ((…, 17, 2), (…, 17, 3)).
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

__all__ = ['load_mupots_sequence', 'load_mupots_test_set', 'load_mupots_predictions',
           'MUPOTS_PRED_2D_FILE', 'MUPOTS_PRED_3D_FILE', 'MUPOTS_KEY_PATTERN']

MUPOTS_PRED_2D_FILE = 'preds_2d_kpt_mupots.mat'
MUPOTS_PRED_3D_FILE = 'preds_3d_kpt_mupots.mat'
MUPOTS_KEY_PATTERN = re.compile(r'^(TS\d+)_img_(\d{6})$')


def _loadmat(path: str, what: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: {what} not found')
    import scipy.io
    try:
        return scipy.io.loadmat(path)
    except NotImplementedError as e:  # v7.3 / HDF5
        raise ValueError(f'{path}: cannot read this MAT file version ({e}); save it as '
                         'MATLAB v7 or older (save -v7)') from None
    except Exception as e:
        raise ValueError(f'{path}: not a readable MAT file ({type(e).__name__}: {e})') from None


def _field(entry, name: str, where: str):
    """A field of a MATLAB struct loaded by scipy (record array or mat_struct)."""
    try:
        if isinstance(entry, np.ndarray) and entry.dtype.names is not None:
            if name not in entry.dtype.names:
                raise KeyError
            v = entry[name]
            while isinstance(v, np.ndarray) and v.dtype == object and v.size == 1:
                v = v.reshape(-1)[0]
            return np.asarray(v)
        return np.asarray(getattr(entry, name))
    except (KeyError, AttributeError):
        fields = getattr(getattr(entry, 'dtype', None), 'names', None) or \
            getattr(entry, '_fieldnames', None)
        raise ValueError(f'{where} has no field {name!r} (fields: {fields})') from None


def _joints(v: np.ndarray, dim: int, where: str, num_joints: int = 17) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if v.shape != (dim, num_joints):
        raise ValueError(f'{where} has shape {v.shape}, expected ({dim}, {num_joints})')
    return v.T


def load_mupots_sequence(seq_dir: str, name: Optional[str] = None,
                         require_occlusion: bool = False) -> dict:
    """Read one ``TS<k>`` folder.

    Args:
        seq_dir: the folder holding ``annot.mat`` (and ``occlusion.mat``).
        name: sequence name (default: the folder name, e.g. ``'TS1'``).
        require_occlusion: raise if ``occlusion.mat`` is missing (otherwise ``occlusion``
            is None; it only feeds the visible/occluded tables).

    Returns:
        dict with ``name``, ``annot2`` (F, P, 17, 2), ``annot3`` and ``univ_annot3``
        (F, P, 17, 3) float64, ``is_valid`` (F, P) bool and ``occlusion`` (F, P, 17) or None.
    """
    name = name or os.path.basename(os.path.normpath(seq_dir))
    path = os.path.join(seq_dir, 'annot.mat')
    data = _loadmat(path, f'MuPoTS annotations of {name}')
    if 'annotations' not in data:
        keys = sorted(k for k in data if not k.startswith('__'))
        raise ValueError(f'{path}: no variable annotations (variables: {keys})')
    ann = data['annotations']
    if not (isinstance(ann, np.ndarray) and ann.dtype == object and ann.ndim == 2):
        raise ValueError(f'{path}: annotations must be a frames × persons cell, got '
                         f'{type(ann).__name__} {getattr(ann, "shape", "")}')
    n_f, n_p = ann.shape
    annot2 = np.zeros((n_f, n_p, 17, 2))
    annot3 = np.zeros((n_f, n_p, 17, 3))
    univ = np.zeros((n_f, n_p, 17, 3))
    valid = np.zeros((n_f, n_p), dtype=bool)
    for f in range(n_f):
        for p in range(n_p):
            e = ann[f, p]
            where = f'{path}: annotations{{{f + 1},{p + 1}}}'
            annot2[f, p] = _joints(_field(e, 'annot2', where), 2, where + '.annot2')
            annot3[f, p] = _joints(_field(e, 'annot3', where), 3, where + '.annot3')
            univ[f, p] = _joints(_field(e, 'univ_annot3', where), 3, where + '.univ_annot3')
            v = np.asarray(_field(e, 'isValidFrame', where), dtype=np.float64).reshape(-1)
            if v.size != 1:
                raise ValueError(f'{where}.isValidFrame must be a scalar, got shape {v.shape}')
            valid[f, p] = v[0] != 0
    occlusion = None
    occ_path = os.path.join(seq_dir, 'occlusion.mat')
    if os.path.isfile(occ_path) or require_occlusion:
        od = _loadmat(occ_path, f'MuPoTS occlusion labels of {name}')
        if 'occlusion_labels' not in od:
            keys = sorted(k for k in od if not k.startswith('__'))
            raise ValueError(f'{occ_path}: no variable occlusion_labels (variables: {keys})')
        ol = od['occlusion_labels']
        if not (isinstance(ol, np.ndarray) and ol.dtype == object and ol.shape == (n_f, n_p)):
            raise ValueError(f'{occ_path}: occlusion_labels must be a {n_f}×{n_p} cell like '
                             f'annot.mat, got {getattr(ol, "dtype", None)} '
                             f'{getattr(ol, "shape", None)}')
        occlusion = np.zeros((n_f, n_p, 17))
        for f in range(n_f):
            for p in range(n_p):
                v = np.asarray(ol[f, p], dtype=np.float64)
                if v.size != 17:
                    raise ValueError(f'{occ_path}: occlusion_labels{{{f + 1},{p + 1}}} has '
                                     f'shape {v.shape}, expected (1, 17)')
                occlusion[f, p] = v.reshape(-1)
    return dict(name=name, annot2=annot2, annot3=annot3, univ_annot3=univ, is_valid=valid,
                occlusion=occlusion)


def load_mupots_test_set(root: str, names: Optional[List[str]] = None) -> List[dict]:
    """Read the sequences of ``MultiPersonTestSet`` (default: every ``TS<k>`` folder, in
    increasing k)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f'{root}: MuPoTS MultiPersonTestSet folder not found')
    if names is None:
        names = sorted((d for d in os.listdir(root)
                        if re.fullmatch(r'TS\d+', d) and os.path.isdir(os.path.join(root, d))),
                       key=lambda d: int(d[2:]))
        if not names:
            raise ValueError(f'{root}: no TS<k> sequence folders')
    return [load_mupots_sequence(os.path.join(root, n), n) for n in names]


def _pred_array(v, dim: int, where: str) -> np.ndarray:
    v = np.asarray(v)
    if v.dtype == object or not np.issubdtype(v.dtype, np.number):
        raise ValueError(f'{where} must be a numeric N×17×{dim} array, got dtype {v.dtype}')
    v = v.astype(np.float64)
    if v.size == 0:
        return np.zeros((0, 17, dim))
    if v.shape == (17, dim):  # one person saved without its leading axis
        v = v[None]
    if v.ndim != 3 or v.shape[1:] != (17, dim):
        raise ValueError(f'{where} has shape {v.shape}, expected (N, 17, {dim})')
    return v


def load_mupots_predictions(pred_dir: str = None, file_2d: str = None, file_3d: str = None
                            ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Read ``preds_2d_kpt_mupots.mat`` and ``preds_3d_kpt_mupots.mat``.

    Args:
        pred_dir: folder holding both files (or give ``file_2d`` and ``file_3d``).

    Returns:
        ``{'TS1_img_000000': (pred_2d (N, 17, 2), pred_3d (N, 17, 3)), ...}`` float64.
        Variables not named ``TS<k>_img_<6 digits>`` are ignored.
    """
    file_2d = file_2d or os.path.join(pred_dir, MUPOTS_PRED_2D_FILE)
    file_3d = file_3d or os.path.join(pred_dir, MUPOTS_PRED_3D_FILE)
    d2 = _loadmat(file_2d, 'MuPoTS 2D predictions')
    d3 = _loadmat(file_3d, 'MuPoTS 3D predictions')
    k2 = {k for k in d2 if MUPOTS_KEY_PATTERN.match(k)}
    k3 = {k for k in d3 if MUPOTS_KEY_PATTERN.match(k)}
    if k2 != k3:
        only2 = sorted(k2 - k3)[:5]
        only3 = sorted(k3 - k2)[:5]
        raise ValueError(f'{file_2d} and {file_3d} hold different images (only in 2D: '
                         f'{only2}, only in 3D: {only3})')
    out = {}
    for k in sorted(k2):
        p2 = _pred_array(d2[k], 2, f'{file_2d}: {k}')
        p3 = _pred_array(d3[k], 3, f'{file_3d}: {k}')
        if p2.shape[0] != p3.shape[0]:
            raise ValueError(f'{k}: {p2.shape[0]} people in {file_2d} but {p3.shape[0]} in '
                             f'{file_3d}')
        out[k] = (p2, p3)
    return out
