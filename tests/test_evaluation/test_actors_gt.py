"""Shelf/Campus ``actorsGT.mat`` reader (``virtualpose_mm.datasets.io.actors_gt``)."""
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from virtualpose_mm.datasets.io import load_actors_gt

DATA = Path(__file__).resolve().parents[1] / 'data'


def _cell(per_actor):
    """A MATLAB-like (1, A) cell of (F, 1) cells."""
    outer = np.empty((1, len(per_actor)), dtype=object)
    for a, frames in enumerate(per_actor):
        inner = np.empty((len(frames), 1), dtype=object)
        for f, pose in enumerate(frames):
            inner[f, 0] = pose
        outer[0, a] = inner
    return outer


def test_ragged_file_with_absent_actors(tmp_path):
    """The layout the reference cannot read on numpy >= 1.24 (absent = 1×0 array)."""
    p = np.arange(42, dtype=float).reshape(14, 3) / 100
    empty = np.zeros((1, 0))
    path = tmp_path / 'actorsGT.mat'
    scipy.io.savemat(path, {'actor3D': _cell([[p, empty, p + 1], [empty, empty, p]])})
    gt = load_actors_gt(str(path))
    assert gt.joints.shape == (2, 3, 14, 3)
    np.testing.assert_array_equal(gt.present, [[True, False, True], [False, False, True]])
    np.testing.assert_array_equal(gt.joints[0, 0], p * 1000.0)
    np.testing.assert_array_equal(gt.joints[0, 2], (p + 1) * 1000.0)
    assert np.isnan(gt.joints[0, 1]).all() and np.isnan(gt.joints[1, :2]).all()
    poses, ids = gt.frame(2)
    assert poses.shape == (2, 14, 3) and list(ids) == [0, 1]
    with pytest.raises(IndexError, match='outside the 3 frames'):
        gt.frame(3)


@pytest.mark.parametrize('name,num_actors', [('shelf', 4), ('campus', 3)])
def test_real_fixture_files(name, num_actors):
    gt = load_actors_gt(str(DATA / name / 'actorsGT.mat'))
    assert gt.num_actors == num_actors
    assert gt.present.any()
    pose = gt.joints[gt.present][0]
    assert np.isfinite(pose).all()
    # metres → mm: people are 1–2.5 m tall
    height = pose[:, 2].max() - pose[:, 2].min()
    assert 1000 < height < 2500


def test_errors_name_file_and_field(tmp_path):
    path = tmp_path / 'bad.mat'
    scipy.io.savemat(path, {'actor2D': np.zeros(3)})
    with pytest.raises(ValueError, match=r'bad\.mat: no variable actor3D'):
        load_actors_gt(str(path))
    scipy.io.savemat(path, {'actor3D': _cell([[np.zeros((3, 14))]])})
    with pytest.raises(ValueError, match=r'actor3D\{1\}\{1\} has shape \(3, 14\)'):
        load_actors_gt(str(path))
    with pytest.raises(FileNotFoundError, match='actorsGT.mat'):
        load_actors_gt(str(tmp_path / 'missing.mat'))
    path.write_bytes(b'not a mat file at all')
    with pytest.raises(ValueError, match='not a readable MAT file'):
        load_actors_gt(str(path))
