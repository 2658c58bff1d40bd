"""Report structure and dispatch for golden-file checks."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import torch

_CHECKERS: List[Tuple[str, Callable, Callable]] = []


@dataclass
class GoldenRow:
    name: str
    error: float          # max abs error (or a count of mismatches for discrete items)
    tol: float
    note: str = ''

    @property
    def ok(self) -> bool:
        return (not math.isnan(self.error)) and self.error <= self.tol


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
        error = float(error.item() if isinstance(error, torch.Tensor) else error)
        row = GoldenRow(name, error, float(tol), note)
        self.rows.append(row)
        return row

    def compare(self, name: str, ours, ref, tol: float, note: str = '') -> GoldenRow:
        """Add a row with ``max |ours − ref|`` (float64); shape mismatch is an error."""
        a = torch.as_tensor(ours).detach().double().cpu()
        b = torch.as_tensor(ref).detach().double().cpu()
        if a.shape != b.shape:
            return self.add(name, float('inf'), tol,
                            f'shape {tuple(a.shape)} != reference {tuple(b.shape)}')
        err = (a - b).abs().max().item() if a.numel() else 0.0
        if torch.isnan(a).ne(torch.isnan(b)).any():
            err = float('nan')
        return self.add(name, err, tol, note)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows) and \
            not math.isnan(self.final_value)

    def format(self) -> str:
        w = max([len(r.name) for r in self.rows] + [10])
        lines = [f'golden check: {self.kind}',
                 f'{"comparison".ljust(w)}  {"max abs err":>12}  {"tolerance":>10}  ok']
        for r in self.rows:
            lines.append(f'{r.name.ljust(w)}  {r.error:12.4g}  {r.tol:10.3g}  '
                         f'{"yes" if r.ok else "NO"}' + (f'  ({r.note})' if r.note else ''))
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
