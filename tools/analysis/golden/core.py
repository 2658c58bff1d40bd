"""Report structure, dispatch, and the one bounding rule of the golden-file checks.

Every golden row is one of:

* discrete (indices, flags, voxel positions, call orders, counts): exact, bound 0;
* a predicted pose (mm): 0.05 mm; a metric: 1e-6 (both absolute, :meth:`GoldenReport.add`);
* anything else, float arithmetic: ``max |ours − ref| ≤ 2^k · ε · scale`` by the rule of
  :func:`f32_ulps` (:meth:`GoldenReport.compare_fp` / :meth:`GoldenReport.add_fp`), with
  ``2^k`` derived from the noise measured for that quantity (``NOISE`` tables beside each
  checker, re-measured by :mod:`.noise`).

Measured (AMD EPYC Zen 4, kernels limited to AVX-512 / AVX2 / SSE4.1 widths, 1 and 2
threads): every stage run on the reference's own stored input differs from a float64 run by
4-17ε·scale (DE, V2V nets); chained, the noise grows to ≤ 160ε·scale (the REN input volume,
where the depth gate amplifies the DE's noise), and to 8.3e4ε for the one long weight-
gradient reduction (the DE stem, 61,440 terms per weight). A real bug is far above: a 1e-3
relative change of ONE weight of 23 M moves the VirtualPose root volume by 2.5e-4·scale
(≈ 2100ε, 4× its 2^9ε bound) while the poses move by < 1e-4 mm
(tests/test_models/test_virtualpose_golden.py, test_voxelpose.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import torch

_CHECKERS: List[Tuple[str, Callable, Callable]] = []


#: float32 machine epsilon, 2^-23 = 1.19e-7: the spacing of float32 numbers at 1.
F32_EPS = float(torch.finfo(torch.float32).eps)
#: float64 machine epsilon, 2^-52 = 2.2e-16, for quantities the reference computes in float64.
F64_EPS = float(torch.finfo(torch.float64).eps)
#: A bound is at least this many times the worst float32 noise measured for its quantity.
NOISE_MARGIN = 4
#: The smallest multiple of ε a bound may have (2^6 ε = 7.6e-6 relative), for quantities
#: measured (near) bit-identical across thread counts and instruction sets: a few float32
#: roundings done with or without fused multiply-add, or a SIMD libm (exp) of another vector
#: width (e.g. aarch64 NEON), differ by a few ulp on a machine we could not measure.
NOISE_FLOOR_ULPS = 2 ** 6


def f32_ulps(measured_ulps: float) -> int:
    """THE RULE for a float32 quantity: its bound, in units of ``F32_EPS · scale``.

    A float32 value produced by a chain of reductions (convolutions, BatchNorm, grid
    sampling, sums) differs from the same value computed in another accumulation order
    (other CPU vector width, thread count, BLAS / oneDNN kernel) by rounding noise that
    scales with the magnitude of the terms summed, i.e. with the tensor's scale
    ``max |ref|``, not with each entry (an entry near zero after cancellation carries noise
    of the scale's order). So every bound is ``ulps · F32_EPS · scale`` with ``ulps`` the
    smallest power of two ≥ ``NOISE_MARGIN`` × the worst noise measured for that quantity
    (in units of ``F32_EPS · scale``), and at least ``NOISE_FLOOR_ULPS``. The measured
    values live beside each checker (``NOISE`` tables) and are re-measured with
    ``python -m tools.analysis.golden.noise FILE ...`` (see that module).
    """
    need = max(NOISE_MARGIN * float(measured_ulps), NOISE_FLOOR_ULPS)
    return 2 ** math.ceil(math.log2(need))


def tensor_scale(ref) -> float:
    """The scale of a reference tensor: ``max |ref|`` over its finite entries (float64).

    The max, not the RMS: most golden volumes are > 90 % zeros (heatmaps, projection
    cubes), so their RMS measures sparsity rather than the size of the numbers whose
    rounding produces the noise."""
    t = torch.as_tensor(ref).detach().double().cpu()
    t = t[torch.isfinite(t)]
    return float(t.abs().max()) if t.numel() else 0.0


@dataclass
class GoldenRow:
    name: str
    error: float          # max abs error (or a count of mismatches for discrete items)
    tol: float            # the bound on ``error`` (same units)
    note: str = ''
    scale: Optional[float] = None   # float32-noise rows: error and bound are × this
    rule: str = ''                  # how the bound was derived

    @property
    def ok(self) -> bool:
        return (not math.isnan(self.error)) and self.error <= self.tol

    def describe(self) -> Tuple[str, str]:
        """(error column, derivation column) of the printed table."""
        rel = self.scale is not None and self.scale > 0
        if rel:
            err = f'rel {self.error / self.scale:.2g} {"≤" if self.ok else ">"} ' \
                  f'{self.tol / self.scale:.2g}'
            how = f'scale {self.scale:.2g}; {self.rule}'
        else:
            err = f'abs {self.error:.4g} {"≤" if self.ok else ">"} {self.tol:.3g}'
            how = self.rule
        if self.note:
            how = f'{how}; {self.note}' if how else self.note
        return err, how


def _max_abs_diff(ours, ref):
    """(max |ours − ref| in float64, or inf on a shape mismatch / nan on a NaN mismatch,
    a note)."""
    a = torch.as_tensor(ours).detach().double().cpu()
    b = torch.as_tensor(ref).detach().double().cpu()
    if a.shape != b.shape:
        return float('inf'), f'shape {tuple(a.shape)} != reference {tuple(b.shape)}'
    err = (a - b).abs().max().item() if a.numel() else 0.0
    if torch.isnan(a).ne(torch.isnan(b)).any():
        err = float('nan')
    return err, ''


@dataclass
class GoldenReport:
    """What one checker found: a table of comparisons and a closing line."""
    kind: str
    rows: List[GoldenRow] = field(default_factory=list)
    final_label: str = 'max pose error'   # e.g. 'max pose error' or 'max metric error'
    final_value: float = float('nan')
    final_unit: str = 'mm'
    notes: List[str] = field(default_factory=list)

    def add(self, name: str, error, tol: float, note: str = '') -> GoldenRow:
        """A row with an absolute bound: discrete counts (bound 0), poses (mm), metrics."""
        error = float(error.item() if isinstance(error, torch.Tensor) else error)
        row = GoldenRow(name, error, float(tol), note)
        self.rows.append(row)
        return row

    def compare(self, name: str, ours, ref, tol: float, note: str = '') -> GoldenRow:
        """Add a row with ``max |ours − ref|`` (float64) and an absolute bound; shape
        mismatch is an error."""
        err, why = _max_abs_diff(ours, ref)
        return self.add(name, err, tol, why or note)

    def add_fp(self, name: str, error, scale: float, measured_ulps: float, note: str = '',
               eps: float = F32_EPS) -> GoldenRow:
        """A rounding-noise row: ``error ≤ f32_ulps(measured_ulps) · eps · scale``
        (:func:`f32_ulps`, the one rule). ``error`` and ``scale`` in the same units;
        ``eps`` is ``F64_EPS`` for the few quantities both sides compute in float64."""
        error = float(error.item() if isinstance(error, torch.Tensor) else error)
        scale = float(scale)
        ulps = f32_ulps(measured_ulps)
        k = int(round(math.log2(ulps)))
        e = 'ε' if eps == F32_EPS else 'ε64'
        rule = f'2^{k}{e} ≥ {NOISE_MARGIN}× measured {measured_ulps:.3g}{e}'
        row = GoldenRow(name, error, ulps * eps * scale, note, scale=scale, rule=rule)
        self.rows.append(row)
        return row

    def compare_fp(self, name: str, ours, ref, measured_ulps: float, note: str = '',
                   scale: Optional[float] = None, eps: float = F32_EPS) -> GoldenRow:
        """``max |ours − ref|`` against the rounding-noise bound of :func:`f32_ulps`, with
        ``scale`` = :func:`tensor_scale` of ``ref`` unless given."""
        err, why = _max_abs_diff(ours, ref)
        return self.add_fp(name, err, tensor_scale(ref) if scale is None else scale,
                           measured_ulps, why or note, eps)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows) and \
            not math.isnan(self.final_value)

    def format(self) -> str:
        cells = [(r.name, *r.describe(), 'yes' if r.ok else 'NO') for r in self.rows]
        w = max([len(c[0]) for c in cells] + [10])
        we = max([len(c[1]) for c in cells] + [12])
        lines = [f'golden check: {self.kind}',
                 f'{"comparison".ljust(w)}  {"error ≤ bound".ljust(we)}  ok   '
                 'bound from (rel = abs error / scale, ε = float32 eps 1.19e-7)']
        for name, err, how, ok in cells:
            lines.append(f'{name.ljust(w)}  {err.ljust(we)}  {ok.ljust(3)}' +
                         (f'  {how}' if how else ''))
        lines += self.notes
        unit = f' {self.final_unit}' if self.final_unit else ''
        lines.append(f'{self.final_label}: {self.final_value:.6g}{unit}')
        return '\n'.join(lines)


def register_checker(name: str, match: Callable[[dict, str], bool]):
    """Decorator: ``check(data, path, device) -> GoldenReport`` for files ``match`` accepts."""

    def deco(fn):
        _CHECKERS.append((name, match, fn))
        return fn

    return deco


def find_checker(data: dict, path: str) -> Optional[Tuple[str, Callable]]:
    for name, match, fn in _CHECKERS:
        try:
            if match(data, path):
                return name, fn
        except Exception:  # a matcher that cannot read this layout does not match
            continue
    return None


def load_golden(path: str) -> dict:
    """Golden files hold only tensors and plain containers: load them safely."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f'{path}: not a readable golden file ({e})') from None


def check_golden_file(path: str, device: str = 'cpu') -> GoldenReport:
    data = load_golden(path)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a dict at the top level, got {type(data).__name__}')
    found = find_checker(data, path)
    if found is None:
        raise ValueError(f'{path}: no checker recognises this file (top-level keys: '
                         f'{sorted(map(str, data))[:20]})')
    _, fn = found
    return fn(data, path, device)
