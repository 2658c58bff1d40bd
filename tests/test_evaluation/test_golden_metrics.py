"""The metric golden files (reference-code outputs) through ``tools/analysis/check_golden.py``."""
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
FILES = ('voxelpose/shelf_pcp.pt', 'voxelpose/campus_pcp.pt', 'voxelpose/panoptic_ap.pt',
         'mupots/mupots_pck.pt')


@pytest.fixture(scope='module')
def golden_run(shared_data):
    """One run of the command-line tool over the four metric files."""
    paths = [str(shared_data / 'golden' / f) for f in FILES]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        pytest.skip(f'golden files missing: {missing}')
    env = dict(os.environ)
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'analysis' / 'check_golden.py'),
                           *paths], cwd=str(REPO), env=env, capture_output=True, text=True,
                          timeout=300)
    return proc


def test_tool_exit_status(golden_run):
    assert golden_run.returncode == 0, golden_run.stdout + golden_run.stderr


@pytest.mark.parametrize('index', range(len(FILES)))
def test_each_file_reproduced(golden_run, index):
    sections = golden_run.stdout.strip().split('\n\n')
    assert len(sections) == len(FILES), golden_run.stdout + golden_run.stderr
    text = sections[index]
    assert Path(FILES[index]).name in text.splitlines()[0]
    m = re.search(r'^max metric error: (\S+)$', text, re.M)
    assert m, text
    assert float(m.group(1)) <= 1e-6, text
    assert ' NO' not in text, text
    if 'mupots' in FILES[index]:  # the real-layout .mat files beside it were used too
        assert '[from .mat files]' in text and 'recomputed 12 of 12' in text, text


# ------------------------------------------------------------------ the checkers catch errors
def _check(data, path):
    from tools.analysis.golden import find_checker
    found = find_checker(data, str(path))
    assert found is not None
    return found[1](data, str(path), 'cpu')


@pytest.mark.parametrize('name', ['shelf_pcp.pt', 'panoptic_ap.pt'])
def test_voxelpose_checkers_detect_a_wrong_reference(shared_data, name):
    path = shared_data / 'golden' / 'voxelpose' / name
    data = torch.load(path)
    assert _check(data, path).ok
    bad = copy.deepcopy(data)
    if 'actor_pcp' in bad:
        bad['bone_pcp']['Head'][1] += 1e-4
    else:
        bad['aps'][2] += 1e-4
    report = _check(bad, path)
    assert not report.ok
    assert report.final_value == pytest.approx(1e-4, rel=1e-3)


def test_mupots_checker_detects_a_wrong_reference(shared_data):
    path = shared_data / 'golden' / 'mupots' / 'mupots_pck.pt'
    data = torch.load(path)
    # keep it quick: one scenario, one mode, no .mat files (path in an empty folder)
    small = dict(data, results={'mixed': {'all_absolute':
                                          data['results']['mixed']['all_absolute']}})
    fake_path = Path('/nonexistent-folder') / 'mupots_pck.pt'
    assert _check(small, fake_path).ok
    bad = copy.deepcopy(small)
    bad['results']['mixed']['all_absolute']['matching'][0][5][1] += 1
    report = _check(bad, fake_path)
    assert not report.ok
    assert any(r.name.startswith('matching') and r.error == 1 for r in report.rows)
