"""tools/analysis/benchmark_winograd.py runs on small volumes and reports every V2V layer
shape with a Winograd output within float32 rounding of oneDNN's."""
import re
import sys

import pytest

from tests.helpers import run_tool
from virtualpose_mm.ops.winograd import _cpu_has_avx2


@pytest.mark.skipif(not _cpu_has_avx2(), reason='the Winograd kernel needs AVX2+FMA')
def test_benchmark_winograd_small():
    proc = run_tool([sys.executable, 'tools/analysis/benchmark_winograd.py', '--small',
                     '--repeats', '1', '--threads', '1'], timeout=300)
    rows = re.findall(r'(\d+) ->\s+(\d+) @ (\d+)\^3: oneDNN\s+([0-9.]+) ms .* speedup '
                      r'([0-9.]+)\s+rel err ([0-9.e+-]+)', proc.stdout)
    assert [(int(c), int(o)) for c, o, *_ in rows] == [
        (16, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128)], proc.stdout
    assert all(float(r[4]) > 0 for r in rows)
    assert all(float(r[5]) < 1e-5 for r in rows), proc.stdout
