"""Per-layer speed of the Winograd 3×3×3 kernel against oneDNN, on V2V's layer shapes.

    python tools/analysis/benchmark_winograd.py [--threads T] [--repeats N] [--small]

For each (in → out channels @ volume) of the V2V nets (VoxelPose's 64³ pose cube: its
levels 64³, 32³, 16³) a random Conv3d runs as :class:`~virtualpose_mm.ops.WinogradConv3d`
and as the oneDNN path the fast-eval copy uses otherwise (``MkldnnConv3d``), on the same
channels-last input; printed: best-of-N times, oneDNN's GMAC/s, the ratio, and the
Winograd output's max error relative to the output scale. ``--small`` uses 8³–16³
volumes (a quick check that the tool runs).
"""
import argparse
import sys
import time

import torch
import torch.nn as nn

LAYERS = [(16, 32, 64), (32, 32, 64), (32, 64, 32), (64, 64, 32), (64, 128, 16),
          (128, 128, 16)]


def _best(f, x, repeats):
    f(x)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(x)
        ts.append(time.perf_counter() - t0)
    return min(ts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--small', action='store_true', help='8^3-16^3 volumes (quick)')
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from virtualpose_mm.models.heads.voxel_center_net import MkldnnConv3d
    from virtualpose_mm.ops import (WinogradConv3d, winograd_available,
                                    winograd_unavailable_reason)
    if not winograd_available():
        print(f'Winograd kernel unavailable: {winograd_unavailable_reason()}')
        return 1
    print(f'Winograd F(2^3,3^3) vs oneDNN, {args.threads} threads, best of {args.repeats}, '
          f'ATen CPU capability {torch.backends.cpu.get_cpu_capability()}')
    torch.manual_seed(0)
    for c, o, s in LAYERS:
        s = max(8, s // 4) if args.small else s
        conv = nn.Conv3d(c, o, 3, padding=1)
        x = torch.randn(1, c, s, s, s).contiguous(memory_format=torch.channels_last_3d)
        mk, wg = MkldnnConv3d(conv), WinogradConv3d(conv)
        with torch.no_grad():
            a, b = mk(x), wg(x)
            err = ((a - b).abs().max() / a.abs().max()).item()
            tm, tw = _best(mk, x, args.repeats), _best(wg, x, args.repeats)
        gmac = c * o * 27 * s ** 3 / 1e9
        print(f'{c:4d} -> {o:4d} @ {s}^3: oneDNN {tm * 1e3:8.1f} ms ({gmac / tm:5.1f} GMAC/s)  '
              f'winograd {tw * 1e3:8.1f} ms  speedup {tm / tw:.2f}  rel err {err:.1e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
