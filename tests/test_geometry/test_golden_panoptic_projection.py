"""The Panoptic projection golden file passes through the command-line checker."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.analysis.golden import check_golden_file

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_check_golden_panoptic_projection(shared_data):
    golden = shared_data / 'golden' / 'voxelpose' / 'panoptic_projection.pt'
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO_ROOT), env.get('PYTHONPATH', '')]).rstrip(
        os.pathsep)
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / 'tools' / 'analysis' / 'check_golden.py'), str(golden)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == 'golden check: panoptic_projection', out
    label, value = lines[-1].rsplit(':', 1)
    assert label == 'max projection error', out
    number, unit = value.split()
    # the float32 pixel rows: 2^6ε × max|pixel| (~1900 px) = 1.4e-2 px (measured 3.6e-3)
    assert unit == 'px' and 0 <= float(number) <= 1.5e-2, out
    # every comparison row passed, including the float64 one at 2^7ε64 × max|pixel| (5e-11 px)
    assert ' NO' not in proc.stdout, out
    assert any(line.startswith('projection fn on model_cams vs pixels_numpy_float64')
               for line in lines), out


def test_missing_calibration_file_is_a_clear_error(shared_data, tmp_path):
    """A golden file moved away from the shared folder names the calibration it lacks."""
    src = shared_data / 'golden' / 'voxelpose' / 'panoptic_projection.pt'
    dst = tmp_path / 'golden' / 'voxelpose' / 'panoptic_projection.pt'
    dst.parent.mkdir(parents=True)
    shutil.copy(src, dst)
    with pytest.raises(FileNotFoundError, match=r'calibration_160906_band1\.json.*not at'):
        check_golden_file(str(dst))
