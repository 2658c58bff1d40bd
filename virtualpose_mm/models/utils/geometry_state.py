"""The geometry a module's checkpoint must carry (capture space, cube), written once.

A VoxelPose/VirtualPose root net is only meaningful for the capture space it was trained
on, and a pose net for its cube. That geometry travels with the checkpoint as the module's
``_extra_state`` entry so that loading weights into a model configured for another space
fails with a clear message instead of producing poses in the wrong place.

**Why a tensor.** The extra state is a single 1-D ``float64`` tensor (the fields' values
concatenated in a fixed order), not a dict of floats: everything that walks a state dict
expects tensors there. mmengine's runner broadcasts every ``state_dict()`` entry from rank
0 at start-up (``Runner._init_model_weights``), ``weights_to_cpu`` moves them, and
``torch.load(weights_only=True)`` reads them. A dict of Python floats made
``tools/dist_train.sh`` crash for every model (``TypeError: data should be a Tensor ...,
but got 8000.0``). The tensor is rebuilt from the config on every ``state_dict()`` call, so
broadcasting it is harmless (every rank builds the same model from the same config).

Checkpoints written before this change stored a dict; :func:`decode_geometry_state` still
reads them.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

import torch

_VALUES_PER_FIELD = 3


def encode_geometry_state(values: Mapping[str, Sequence[float]],
                          fields: Sequence[str]) -> torch.Tensor:
    """``{field: (3 values)}`` → (3·F,) float64 tensor in ``fields`` order."""
    flat: List[float] = []
    for f in fields:
        v = [float(x) for x in values[f]]
        if len(v) != _VALUES_PER_FIELD:
            raise ValueError(f'{f}: expected {_VALUES_PER_FIELD} values, got {v}')
        flat.extend(v)
    return torch.tensor(flat, dtype=torch.float64)


def decode_geometry_state(state: Any, fields: Sequence[str]) -> Dict[str, List[float]]:
    """Inverse of :func:`encode_geometry_state`; also reads the legacy dict layout.

    Raises:
        ValueError: the stored state has another size or type (names the fields).
    """
    if isinstance(state, Mapping):  # checkpoints written before the tensor layout
        missing = [f for f in fields if f not in state]
        if missing:
            raise ValueError(f'stored geometry lacks {missing} (has {sorted(state)})')
        return {f: [float(x) for x in state[f]] for f in fields}
    if isinstance(state, torch.Tensor):
        flat = state.detach().reshape(-1).to('cpu', torch.float64).tolist()
        if len(flat) != _VALUES_PER_FIELD * len(fields):
            raise ValueError(f'stored geometry has {len(flat)} values, expected '
                             f'{_VALUES_PER_FIELD * len(fields)} ({", ".join(fields)})')
        return {f: flat[i * _VALUES_PER_FIELD:(i + 1) * _VALUES_PER_FIELD]
                for i, f in enumerate(fields)}
    raise ValueError(f'stored geometry must be a tensor (or a dict in old checkpoints), '
                     f'got {type(state).__name__}')


class GeometryStateMixin:
    """Adds checked geometry extra state to an ``nn.Module``.

    Subclasses set ``geometry_fields`` (attribute names, each holding 3 numbers) and
    ``geometry_what`` (words for messages, e.g. ``'capture space'``).
    ``load_state_dict`` then raises a ``ValueError`` naming every field whose stored value
    differs from the module's configuration.
    """

    geometry_fields: Sequence[str] = ()
    geometry_what: str = 'geometry'

    def geometry_dict(self) -> Dict[str, List[float]]:
        """``{field: [3 floats]}`` of this module's configuration."""
        return {f: [float(x) for x in getattr(self, f)] for f in self.geometry_fields}

    def get_extra_state(self) -> torch.Tensor:
        return encode_geometry_state(self.geometry_dict(), self.geometry_fields)

    def set_extra_state(self, state: Any) -> None:
        name = type(self).__name__
        try:
            stored = decode_geometry_state(state, self.geometry_fields)
        except ValueError as e:
            raise ValueError(f'{name}: cannot read the {self.geometry_what} stored in the '
                             f'checkpoint: {e}') from None
        mine = self.geometry_dict()
        diffs = [f'{f}: checkpoint {stored[f]} vs config {mine[f]}'
                 for f in self.geometry_fields if stored[f] != mine[f]]
        if diffs:
            raise ValueError(f'{name}: the checkpoint\'s {self.geometry_what} differs from the '
                             'config: ' + '; '.join(diffs) + '. Use a config with the '
                             'checkpoint\'s values (or retrain).')
