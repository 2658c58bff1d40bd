"""The Faster-VoxelPose benchmark against the authors' code (``--reference-root``) on the
golden frames, so that its reference path keeps working: the same weights give the same
poses, the proposal counts are the reference's (3 and 8), and the speedup lines are
printed. Skips when the reference checkout (``FVP_REFERENCE_ROOT``, default
``/tmp/fvp_ref``; see the tool's docstring for making one from the ``fetch`` snapshot) or
the golden file is absent."""
import os
import os.path as osp
import re
import sys

import pytest

from tests.helpers import REPO_ROOT, run_tool

REF_ROOT = os.environ.get('FVP_REFERENCE_ROOT', '/tmp/fvp_ref')
GOLDEN = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data', 'golden', 'faster_voxelpose',
                  'shelf_seed0.pt')


@pytest.mark.skipif(not osp.isfile(osp.join(REF_ROOT, 'lib', 'models',
                                            'faster_voxelpose.py')),
                    reason='AlvinYH/Faster-VoxelPose checkout absent')
@pytest.mark.skipif(not osp.isfile(GOLDEN), reason='golden file absent')
@pytest.mark.timeout(300)
def test_benchmark_against_reference_on_the_golden_frames():
    proc = run_tool([sys.executable, osp.join('tools', 'analysis',
                                              'benchmark_faster_voxelpose.py'),
                     '--reference-root', REF_ROOT, '--golden', GOLDEN, '--threads', '1',
                     '--repeats', '1', '--iters', '1', '--no-voxelpose', '--no-train'],
                    timeout=280)
    out = proc.stdout
    runs = re.findall(r'run 1, (\d+) proposals: .*speedup vs reference: ([0-9.]+)', out)
    assert [n for n, _ in runs] == ['3', '8'], out
    assert all(float(s) > 0 for _, s in runs)
    agree = [float(x) for x in re.findall(r'pose agreement \(reference options\) '
                                          r'([0-9.]+) mm', out)]
    assert len(agree) == 2 and max(agree) <= 0.05, out
    assert 'note:' not in out, out          # ours sent as many proposals as the reference
