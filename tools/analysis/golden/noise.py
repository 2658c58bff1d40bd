"""Measure the float32 rounding noise of every golden comparison (the ``NOISE`` tables).

    python -m tools.analysis.golden.noise FILE [FILE ...] [--configs NAME ...]

(from the repository root; the workers are started the same way, with the repository root
on ``PYTHONPATH``).

Runs every golden check in a fresh process per *configuration* (thread count × CPU kernel
vector width, set through the environment before torch starts) and prints, for each
rounding-noise row, its error in units of ``ε · scale`` per configuration, the worst over
all of them, and the bound the rule of :func:`.core.f32_ulps` derives from that worst
value; then the discrete and absolute rows (which must not move). The ``NOISE`` tables of
the checker modules hold the worst values printed here.

The configurations change the accumulation order the way another machine would:

* ``t1`` / ``t2``: ``OMP_NUM_THREADS`` and ``torch.set_num_threads`` 1 or 2 (oneDNN and
  ATen split reductions by thread);
* ``native`` / ``avx2`` / ``sse41``: the widest vector ISA the CPU kernels may use
  (``ATEN_CPU_CAPABILITY`` for ATen's vectorised kernels, ``ONEDNN_MAX_CPU_ISA`` for the
  oneDNN convolutions, ``MKL_ENABLE_INSTRUCTIONS`` for MKL); ``native`` is whatever the
  CPU has (AVX-512 on a Zen 4 / Ice Lake and later, AVX2 on a Zen 3).

Each row's worst value also includes the difference between the reference machine (which
made the files, 2 threads, its own ISA) and this one, since every run compares with the
stored reference tensors.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from typing import Dict, List

ISA_ENV = {
    'native': {},
    'avx2': dict(ATEN_CPU_CAPABILITY='avx2', ONEDNN_MAX_CPU_ISA='AVX2',
                 MKL_ENABLE_INSTRUCTIONS='AVX2'),
    'sse41': dict(ATEN_CPU_CAPABILITY='default', ONEDNN_MAX_CPU_ISA='SSE41',
                  MKL_ENABLE_INSTRUCTIONS='SSE4_2'),
}
DEFAULT_CONFIGS = [f'{isa}-t{n}' for isa in ISA_ENV for n in (1, 2)]
# tools/analysis/golden/noise.py -> the repository root (the workers import this package)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def _config_env(name: str) -> Dict[str, str]:
    isa, _, t = name.partition('-t')
    if isa not in ISA_ENV or not t.isdigit():
        raise ValueError(f'configuration {name!r}: expected <{"|".join(ISA_ENV)}>-t<threads>')
    env = dict(os.environ)
    for k in ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA', 'MKL_ENABLE_INSTRUCTIONS'):
        env.pop(k, None)
    env.update(ISA_ENV[isa])
    env.update(OMP_NUM_THREADS=t, MKL_NUM_THREADS=t, GOLDEN_NOISE_THREADS=t)
    return env


def _worker(files: List[str], out: str) -> None:
    """Run the checks in this process; write every row as JSON."""
    import torch
    torch.set_num_threads(int(os.environ.get('GOLDEN_NOISE_THREADS', '1')))
    from . import check_golden_file
    from .core import F64_EPS
    rows = []
    for f in files:
        rep = check_golden_file(f)
        for r in rep.rows:
            eps64 = 'ε64' in r.rule
            rows.append(dict(file=os.path.basename(f), name=r.name, error=r.error, tol=r.tol,
                             scale=r.scale, eps=F64_EPS if eps64 else None, rule=r.rule))
        rows.append(dict(file=os.path.basename(f), name=rep.final_label, error=rep.final_value,
                         tol=None, scale=None, eps=None, rule='closing line'))
    meta = dict(capability=torch.backends.cpu.get_cpu_capability(),
                threads=torch.get_num_threads())
    with open(out, 'w') as fh:
        json.dump(dict(meta=meta, rows=rows), fh)


def measure(files: List[str], configs: List[str]) -> Dict[str, dict]:
    """{config: {'meta': ..., 'rows': [...]}} from one subprocess per configuration."""
    from .core import F32_EPS
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for c in configs:
            out = os.path.join(tmp, f'{c}.json')
            cmd = [sys.executable, '-m', __spec__.name, '--worker', '--json', out,
                   *(os.path.abspath(f) for f in files)]
            env = _config_env(c)
            env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
            proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True,
                                  text=True)
            if proc.returncode != 0:
                raise RuntimeError(f'{c}: {proc.stderr[-2000:]}')
            with open(out) as fh:
                results[c] = json.load(fh)
            print(f'# {c}: ATen capability {results[c]["meta"]["capability"]}, '
                  f'{results[c]["meta"]["threads"]} threads', flush=True)
    for res in results.values():
        for r in res['rows']:
            if r['scale'] is not None:
                eps = r['eps'] or F32_EPS
                r['ulps'] = (0.0 if r['error'] == 0 else
                             r['error'] / (r['scale'] * eps) if r['scale'] > 0 else math.inf)
    return results


def report(results: Dict[str, dict]) -> str:
    from .core import f32_ulps
    configs = list(results)
    keys = []
    for res in results.values():
        for r in res['rows']:
            k = (r['file'], r['name'])
            if k not in keys:
                keys.append(k)
    by = {c: {(r['file'], r['name']): r for r in res['rows']} for c, res in results.items()}
    w = max(len(f'{f}: {n}') for f, n in keys)
    lines = ['rounding-noise rows: error / (ε·scale) per configuration',
             f'{"row".ljust(w)}  ' + '  '.join(f'{c:>10}' for c in configs) +
             f'  {"worst":>8}  {"bound":>6}']
    other = ['', 'absolute / discrete rows: error per configuration (bound)',
             f'{"row".ljust(w)}  ' + '  '.join(f'{c:>10}' for c in configs) + '  bound']
    for f, n in keys:
        rs = [by[c].get((f, n)) for c in configs]
        if any(r is not None and r['scale'] is not None for r in rs):
            vals = [r['ulps'] if r else math.nan for r in rs]
            worst = max(v for v in vals if not math.isnan(v))
            lines.append(f'{f}: {n}'.ljust(w) + '  ' + '  '.join(f'{v:10.3g}' for v in vals) +
                         f'  {worst:8.3g}  2^{int(math.log2(f32_ulps(worst)))}')
        else:
            vals = [r['error'] if r else math.nan for r in rs]
            tol = next((r['tol'] for r in rs if r), None)
            other.append(f'{f}: {n}'.ljust(w) + '  ' + '  '.join(f'{v:10.3g}' for v in vals) +
                         f'  {tol if tol is not None else "-"}')
    return '\n'.join(lines + other)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('files', nargs='+')
    p.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS,
                   help=f'default: {" ".join(DEFAULT_CONFIGS)}')
    p.add_argument('--json', help='also write the raw rows here (worker: the output)')
    p.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        _worker(a.files, a.json)
        return 0
    results = measure(a.files, a.configs)
    if a.json:
        with open(a.json, 'w') as fh:
            json.dump(results, fh)
    print(report(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
