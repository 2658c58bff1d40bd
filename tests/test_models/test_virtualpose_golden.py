"""The VirtualPose golden files pass through the command-line checker
(``tools/analysis/check_golden.py``): reference weights converted, every intermediate and
output within tolerance, the right closing line and exit status."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(golden: Path):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO_ROOT), env.get('PYTHONPATH', '')]).rstrip(
        os.pathsep)
    env.setdefault('OMP_NUM_THREADS', '2')
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / 'tools' / 'analysis' / 'check_golden.py'),
         str(golden)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    return proc, proc.stdout + proc.stderr


@pytest.mark.parametrize('name, label, limit, must_have', [
    ('stage2_mupots_small.pt', 'max pose error', 0.5,
     ['ren_input_volume', 'eval grid_centers flags (mismatches)', 'PEN first call: input_cube',
      'loss_depth (eval, relative)']),
    ('stage2_loss.pt', 'max pose error', 0.5,
     ['loss_cord (relative)', 'BN num_batches_tracked (mismatches)',
      'grad REN.depth_net.conv1.weight', 'train grid_centers flags (mismatches)']),
    ('agr_render.pt', 'max heatmap/target error', 1e-5,
     ['borders: box_map', 'overlap: heatmaps', 'root target 80x80x24']),
])
def test_check_golden_virtualpose(shared_data, name, label, limit, must_have):
    golden = shared_data / 'golden' / 'virtualpose' / name
    if not golden.is_file():
        pytest.skip(f'{golden} is not available')
    proc, out = _run(golden)
    assert proc.returncode == 0, out
    lines = proc.stdout.strip().splitlines()
    got_label, value = lines[-1].rsplit(':', 1)
    assert got_label == label and got_label.startswith('max '), out
    assert 0 <= float(value.split()[0]) <= limit, out
    assert ' NO' not in proc.stdout, out
    for row in must_have:  # these comparisons are in the table, and they passed
        hits = [line for line in lines if line.startswith(row)]
        assert hits and all(' yes' in line for line in hits), (row, out)


def test_loss_file_without_its_stage2_file_is_a_clear_error(shared_data, tmp_path):
    src = shared_data / 'golden' / 'virtualpose' / 'stage2_loss.pt'
    if not src.is_file():
        pytest.skip(f'{src} is not available')
    dst = tmp_path / 'stage2_loss.pt'
    dst.symlink_to(src)
    proc, out = _run(dst)
    assert proc.returncode != 0
    assert 'stage2_mupots_small.pt' in proc.stderr and 'uses' in proc.stderr, out
