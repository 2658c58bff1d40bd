"""The benchmark against the authors' code (``--reference-root``) on a tiny grid, so that
its reference path keeps working: same weights and inputs, poses agree, the speedup line
is printed. Skips when the reference checkout (``../shared/reference/voxelpose-pytorch``)
or its ``easydict`` dependency is absent."""
import importlib.util
import os.path as osp
import re
import sys

import pytest

from tests.helpers import REPO_ROOT, run_tool

REF_ROOT = osp.join(osp.dirname(REPO_ROOT), 'shared', 'reference', 'voxelpose-pytorch')
CONFIG = osp.join(REPO_ROOT, 'configs', 'voxelpose',
                  'voxelpose_prn64x64x64_cpn80x80x20_shelf_cam5.py')


def _have_easydict() -> bool:
    return importlib.util.find_spec('easydict') is not None or \
        osp.isdir('/tmp/refdeps/easydict')


@pytest.mark.skipif(not osp.isdir(osp.join(REF_ROOT, 'lib')),
                    reason='voxelpose-pytorch reference checkout absent')
@pytest.mark.skipif(not _have_easydict(), reason='the reference needs easydict '
                    '(pip install --target /tmp/refdeps easydict)')
@pytest.mark.timeout(120)
def test_benchmark_against_reference_tiny_grid():
    # a separate process: the reference's top-level packages (models, core, utils) must
    # not leak into this test session
    proc = run_tool([sys.executable, osp.join('tools', 'analysis', 'benchmark_voxelpose.py'),
                     CONFIG, '--reference-root', REF_ROOT, '--threads', '1',
                     '--space-shape', '16', '16', '8', '--cube-shape', '16', '16', '16',
                     '--repeats', '1', '--plain-repeats', '0'], timeout=110)
    out = proc.stdout
    speedups = re.findall(r'speedup vs reference: ([0-9.]+) \((\d+) proposals\)', out)
    assert [n for _, n in speedups] == ['4', '10'], out
    assert all(float(x) > 0 for x, _ in speedups)
    agreement = [float(x) for x in re.findall(r'pose agreement: max ([0-9.e+-]+) mm', out)]
    assert len(agreement) == 2 and max(agreement) <= 0.05, out
    assert out.count('unmatched 0') == 2 and 'FAILED' not in out, out
