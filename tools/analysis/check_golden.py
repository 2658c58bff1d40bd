"""Compare our implementation with a golden file made by the authors' reference code.

    python tools/analysis/check_golden.py FILE [FILE ...] [--device cpu|cuda]

Prints a table of max abs errors per compared quantity and ends with
``max pose error: <x> mm`` (model files) or ``max metric error: <x>`` (metric files).
Exit status 0 iff every comparison of every file is within its tolerance.
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

    from virtualpose_mm.testing.golden import check_golden_file
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
