"""Reader for the Shelf / Campus ground truth ``actorsGT.mat``.

The file holds ``actor3D``, a MATLAB cell of size (1, A), one cell per actor. Each actor's
cell is (num_frames, 1); each entry is a 14×3 array of joint positions in **metres** (Shelf
joint order, :data:`virtualpose_mm.datasets.joint_sets.SHELF14`), or an empty (1×0 or
0×0) array in frames where the actor is absent.

The reference code turns this into an array with
``np.array(np.array(data['actor3D'].tolist()).tolist())``, which numpy ≥ 1.24 refuses
(ragged nesting) as soon as one actor is absent in one frame. This reader walks the cells
instead, works on every numpy, and reports malformed entries by file, field and index.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

__all__ = ['ActorsGT', 'load_actors_gt', 'actors_gt_from_cell']


class ActorsGT(NamedTuple):
    """Shelf / Campus ground truth.

    Attributes:
        joints: (A, F, 14, 3) float64, millimetres (metres × 1000.0, the same float
            operation as the reference); NaN where the actor is absent.
        present: (A, F) bool, True where the actor has a pose in that frame.
        source: the file the data came from (for messages).
    """
    joints: np.ndarray
    present: np.ndarray
    source: str

    @property
    def num_actors(self) -> int:
        return self.joints.shape[0]

    @property
    def num_frames(self) -> int:
        return self.joints.shape[1]

    def frame(self, frame_id: int):
        """(poses (n, 14, 3) mm, actor ids (n,)) of the actors present in ``frame_id``."""
        if not 0 <= frame_id < self.num_frames:
            raise IndexError(f'{self.source}: frame {frame_id} is outside the '
                             f'{self.num_frames} frames of actor3D')
        ids = np.flatnonzero(self.present[:, frame_id])
        return self.joints[ids, frame_id], ids


def _cells(x) -> list:
    """The elements of a MATLAB cell loaded by scipy (an object array of any shape)."""
    if isinstance(x, np.ndarray) and x.dtype == object:
        return list(x.reshape(-1, order='F'))
    raise TypeError


def actors_gt_from_cell(actor3d, source: str = '<actor3D>', num_joints: int = 14
                        ) -> ActorsGT:
    """Convert a loaded ``actor3D`` cell (object array) into :class:`ActorsGT`.

    Args:
        actor3d: the ``actor3D`` value from ``scipy.io.loadmat`` (object array (1, A) of
            object arrays (F, 1)); squeezed layouts ((A,), (F,)) are accepted too.
        source: file name used in error messages.
        num_joints: joints per pose (14 for Shelf / Campus).
    """
    field = f'{source}: actor3D'
    if not isinstance(actor3d, np.ndarray) or actor3d.dtype != object:
        raise ValueError(f'{field} must be a MATLAB cell array (one cell per actor), got '
                         f'{type(actor3d).__name__} with dtype '
                         f'{getattr(actor3d, "dtype", None)}')
    if actor3d.ndim == 2 and 1 not in actor3d.shape:
        raise ValueError(f'{field} must be a 1×A cell (one cell per actor), got shape '
                         f'{actor3d.shape}')
    actors = _cells(actor3d)
    if not actors:
        raise ValueError(f'{field} is empty: no actors')
    per_actor = []
    for a, cell in enumerate(actors):
        try:
            frames = _cells(cell)
        except TypeError:
            raise ValueError(f'{field}{{{a + 1}}} must be a cell of per-frame poses, got '
                             f'{type(cell).__name__} with shape '
                             f'{getattr(cell, "shape", None)}') from None
        per_actor.append(frames)
    num_frames = max(len(f) for f in per_actor)
    joints = np.full((len(per_actor), num_frames, num_joints, 3), np.nan, dtype=np.float64)
    present = np.zeros((len(per_actor), num_frames), dtype=bool)
    for a, frames in enumerate(per_actor):
        for f, pose in enumerate(frames):
            where = f'{field}{{{a + 1}}}{{{f + 1}}}'
            pose = np.asarray(pose)
            if pose.size == 0:
                continue
            if pose.dtype == object or not np.issubdtype(pose.dtype, np.number):
                raise ValueError(f'{where} must be a numeric {num_joints}×3 array or empty, '
                                 f'got dtype {pose.dtype}')
            if pose.shape != (num_joints, 3):
                raise ValueError(f'{where} has shape {pose.shape}, expected ({num_joints}, 3) '
                                 '(joints × xyz in metres) or an empty array')
            pose = pose.astype(np.float64)
            if not np.all(np.isfinite(pose)):
                raise ValueError(f'{where} contains NaN or infinite values')
            joints[a, f] = pose * 1000.0
            present[a, f] = True
    return ActorsGT(joints, present, source)


def load_actors_gt(path: str, num_joints: int = 14) -> ActorsGT:
    """Read ``actorsGT.mat`` (Shelf / Campus).

    Args:
        path: the ``.mat`` file.
        num_joints: joints per pose (14).

    Returns:
        :class:`ActorsGT` with ``joints`` (A, F, 14, 3) in mm (NaN where absent) and
        ``present`` (A, F).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a MATLAB v5 file, has no ``actor3D`` or a malformed one.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: Shelf/Campus ground truth (actorsGT.mat) not found')
    import scipy.io
    try:
        data = scipy.io.loadmat(path)
    except NotImplementedError as e:  # MATLAB v7.3 (HDF5)
        raise ValueError(f'{path}: cannot read this MAT file version ({e}); save it as '
                         'MATLAB v7 or older (save -v7)') from None
    except Exception as e:
        raise ValueError(f'{path}: not a readable MAT file ({type(e).__name__}: {e})') from None
    if 'actor3D' not in data:
        keys = sorted(k for k in data if not k.startswith('__'))
        raise ValueError(f'{path}: no variable actor3D (variables: {keys})')
    return actors_gt_from_cell(data['actor3D'], source=path, num_joints=num_joints)
