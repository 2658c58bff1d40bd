"""Compare our implementation with a golden file made by the authors' reference code.

    python tools/analysis/check_golden.py FILE [FILE ...] [--device cpu|cuda]

Prints one row per compared quantity: its error, its bound, ``yes``/``NO`` and how the
bound was derived, and ends with ``max pose error: <x> mm`` (model files) or
``max metric error: <x>`` (metric files). Exit status 0 iff every comparison of every file
is within its bound.

Bounds: discrete outputs (indices, flags, voxel positions, call orders) exactly; predicted
joints 0.05 mm; metrics 1e-6. Every other floating-point quantity is bounded by rounding
noise, by one rule (``tools/analysis/golden/core.py``, ``f32_ulps``)::

    rel = max |ours − ref| / scale  ≤  2^k · ε        (row: ``rel 3.1e-07 ≤ 7.6e-06``)

with ``scale = max |ref|`` (or the layer's gradient norm, the activations' std, … as the row
says), ε the float32 epsilon 1.19e-7 (ε64 = 2.2e-16 for float64 quantities), and 2^k the
smallest power of two ≥ 4 × the worst value measured for that quantity over 1 and 2 threads
and AVX-512 / AVX2 / SSE4.1 CPU kernels, at least 2^6. Re-measure with
``python -m tools.analysis.golden.noise FILE ...`` (from the repository root).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('files', nargs='+', help='golden .pt file(s)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    args = parser.parse_args(argv)

    from tools.analysis.golden import check_golden_file
    ok = True
    for i, path in enumerate(args.files):
        if i:
            print()
        try:
            report = check_golden_file(path, device=args.device)
        except (ValueError, FileNotFoundError) as e:
            print(f'error: {e}', file=sys.stderr)
            ok = False
            continue
        print(report.format(), flush=True)
        ok = ok and report.ok
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
