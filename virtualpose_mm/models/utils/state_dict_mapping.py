"""What every checkpoint converter and the runner's checkpoint check share.

A converter (``voxelpose_converter.py``, ``virtualpose_converter.py``, and any new one,
e.g. for Faster VoxelPose) does three steps, and only the first is its own:

1. **rename** the foreign keys into our layout: a list of prefix rules for
   :func:`rename_state_dict` (what no rule places is reported, not dropped silently);
2. **fit** the renamed state dict to the model: :func:`fit_state_dict` compares it key by
   key (:func:`diff_state_dict`) and raises ONE :class:`CheckpointError` that lists every
   problem (keys the source could not place, keys the model lacks, missing keys, shape
   mismatches), or returns the state dict to load;
3. **load** it: ``model.load_state_dict(sd, strict=True)``.

A new converter in a few lines::

    from .state_dict_mapping import (fit_state_dict, optional_2d_net, read_weights_only,
                                     rename_state_dict, unwrap_checkpoint)

    RULES = [('REN.v2v_net.', 'root_net.v2v_net.'),           # prefix → prefix
             ('PEN.v2v_net.', lambda rest: 'pose_net.v2v_net.' + reference_v2v_key(rest)),
             ('unused_head.', None)]                          # dropped on purpose

    def load_my_checkpoint(model, checkpoint, drop_2d=False):
        checkpoint, source = read_weights_only(checkpoint)      # a path or a loaded dict
        converted, info = rename_state_dict(unwrap_checkpoint(checkpoint), RULES)
        # a model whose 2D network is optional (heatmap input): drop_2d and its hint
        converted, hint = optional_2d_net(model, converted, drop_2d)
        model.load_state_dict(fit_state_dict(model, converted, source, info['unknown'],
                                             hint), strict=True)
        return info

A hint is any ``StateDictDiff → str``; :func:`prefix_hint` makes the usual one ("when a
key of this kind starts with this prefix, say how to fix it").

The runner (:class:`~virtualpose_mm.engine.runner.CheckedRunner`) checks our own
checkpoints with the same :func:`diff_state_dict`, so "does this state dict fit" has one
definition: a key the model lacks, a model key the state dict lacks, or a tensor whose
shape differs (``*_extra_state`` entries excepted: the geometry they record is checked by
the modules when loading, :mod:`~virtualpose_mm.models.utils.geometry_state`).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

__all__ = ['CheckpointError', 'unwrap_checkpoint', 'read_weights_only', 'KeyRule',
           'rename_state_dict', 'StateDictDiff', 'diff_state_dict', 'fit_state_dict',
           'prefix_hint', 'NET_2D_PREFIXES', 'optional_2d_net']

#: ``(source prefix(es), target)``; target: a prefix that replaces the source prefix, a
#: function ``rest → new key`` (``rest`` = the key after the prefix), or None (drop the
#: key on purpose; listed in ``info['dropped']``).
KeyRule = Tuple[Union[str, Tuple[str, ...]], Union[str, Callable[[str], str], None]]


class CheckpointError(ValueError):
    """A checkpoint does not fit the model; the message lists what is wrong."""


def unwrap_checkpoint(obj) -> Dict[str, torch.Tensor]:
    """A loaded checkpoint → its state dict (``state_dict`` / ``model`` entry, without a
    ``module.`` prefix)."""
    if isinstance(obj, dict) and 'state_dict' in obj and isinstance(obj['state_dict'], dict):
        obj = obj['state_dict']
    elif isinstance(obj, dict) and 'model' in obj and isinstance(obj['model'], dict):
        obj = obj['model']
    if not isinstance(obj, dict):
        raise CheckpointError(f'expected a state dict, got {type(obj).__name__}')
    if obj and all(k.startswith('module.') for k in obj):
        obj = {k[len('module.'):]: v for k, v in obj.items()}
    return obj


def read_weights_only(checkpoint, map_location='cpu') -> Tuple[object, str]:
    """``(loaded checkpoint, source name for messages)``: a path is read with
    ``torch.load(weights_only=True)`` (:class:`CheckpointError` naming the file if that
    fails; ``FileNotFoundError`` as is); anything else is returned as it is, named
    ``'checkpoint'``."""
    if not isinstance(checkpoint, str):
        return checkpoint, 'checkpoint'
    try:
        loaded = torch.load(checkpoint, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise CheckpointError(f'{checkpoint}: cannot be read as a weights-only checkpoint '
                              f'({e})') from None
    from .int8_weights import dequantize_checkpoint      # int8-stored weights as float32
    return dequantize_checkpoint(loaded, checkpoint), checkpoint


def rename_state_dict(state_dict: Mapping[str, torch.Tensor], rules: Sequence[KeyRule]
                      ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Rename every key by the first rule whose prefix it starts with.

    Returns:
        ``(renamed, info)``: info has ``dropped`` (keys a rule with target None dropped)
        and ``unknown`` (keys no rule matched; :func:`fit_state_dict` reports them).
    """
    out: Dict[str, torch.Tensor] = OrderedDict()
    dropped, unknown = [], []
    for k, v in state_dict.items():
        for prefix, target in rules:
            prefixes = (prefix, ) if isinstance(prefix, str) else tuple(prefix)
            hit = next((p for p in prefixes if k.startswith(p)), None)
            if hit is None:
                continue
            if target is None:
                dropped.append(k)
            elif callable(target):
                out[target(k[len(hit):])] = v
            else:
                out[target + k[len(hit):]] = v
            break
        else:
            unknown.append(k)
    return out, dict(dropped=dropped, unknown=unknown)


class StateDictDiff:
    """How a state dict differs from a model's (:func:`diff_state_dict`).

    Attributes:
        unknown: source keys the converter could not place (given by the caller).
        unexpected: keys the model does not have.
        missing: model keys the state dict lacks.
        shapes: ``(key, state dict shape, model shape)`` of tensors whose shapes differ
            (a non-tensor where the model has a tensor counts, with shape ``()``).
    """

    def __init__(self, unknown: Sequence[str], unexpected: List[str], missing: List[str],
                 shapes: List[Tuple[str, tuple, tuple]]):
        self.unknown = sorted(unknown)
        self.unexpected = unexpected
        self.missing = missing
        self.shapes = shapes

    def __bool__(self) -> bool:
        return bool(self.unknown or self.unexpected or self.missing or self.shapes)

    def problems(self, limit: Optional[int] = None) -> List[str]:
        """One line per kind of problem, each naming its keys (the first ``limit`` of
        them and how many more, or all)."""
        def keys(items: List[str]) -> str:
            if limit is None or len(items) <= limit:
                return ', '.join(items)
            return ', '.join(items[:limit]) + f' ... and {len(items) - limit} more'

        out = []
        if self.unknown:
            out.append(f'{len(self.unknown)} unrecognised keys in the source: '
                       f'{keys(self.unknown)}')
        if self.unexpected:
            out.append(f'{len(self.unexpected)} checkpoint keys the model does not have: '
                       f'{keys(self.unexpected)}')
        if self.missing:
            out.append(f'{len(self.missing)} model keys missing from the checkpoint: '
                       f'{keys(self.missing)}')
        if self.shapes:
            out.append(f'{len(self.shapes)} shape mismatches: ' + keys(
                [f'{k}: checkpoint {a} vs model {b}' for k, a, b in self.shapes]))
        return out


def diff_state_dict(target: Mapping[str, object], state_dict: Mapping[str, object],
                    unknown: Sequence[str] = ()) -> StateDictDiff:
    """Compare ``state_dict`` with ``target`` (a model's ``state_dict()``), key by key."""
    unexpected = sorted(k for k in state_dict if k not in target)
    missing = sorted(k for k in target if k not in state_dict)
    shapes = []
    for k, v in state_dict.items():
        t = target.get(k)
        if not isinstance(t, torch.Tensor) or k.endswith('_extra_state'):
            continue
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(t.shape):
            shapes.append((k, tuple(getattr(v, 'shape', ())), tuple(t.shape)))
    return StateDictDiff(unknown, unexpected, missing, shapes)


def fit_state_dict(model: torch.nn.Module, converted: Mapping[str, torch.Tensor],
                   source: str = 'checkpoint', unknown: Sequence[str] = (),
                   hint: Optional[Callable[[StateDictDiff], str]] = None
                   ) -> Dict[str, torch.Tensor]:
    """Check a converted state dict against ``model``; the state dict to load.

    The model's ``_extra_state`` entries (capture space, cube) are taken from the model
    when the state dict has none; float tensors are cast to the model's dtypes.

    Args:
        model: the model to load into.
        converted: the renamed state dict.
        source: the checkpoint's name for the message.
        unknown: source keys the converter could not place (reported as problems).
        hint: ``diff → text`` appended to the message (e.g. which option drops what).

    Raises:
        CheckpointError: ``'<source> does not fit the model:'`` followed by every problem
            of :meth:`StateDictDiff.problems`, all keys listed.
    """
    target = model.state_dict()
    converted = OrderedDict(converted)
    for k, v in target.items():
        if k.endswith('_extra_state') and k not in converted:
            converted[k] = v
    diff = diff_state_dict(target, converted, unknown)
    if diff:
        msg = f'{source} does not fit the model:\n  - ' + '\n  - '.join(diff.problems())
        extra = hint(diff) if hint is not None else ''
        raise CheckpointError(msg + (f'\n  {extra}' if extra else ''))
    out = OrderedDict()
    for k, v in converted.items():
        t = target[k]
        if isinstance(t, torch.Tensor) and isinstance(v, torch.Tensor) and \
                v.is_floating_point():
            v = v.to(t.dtype)
        out[k] = v
    return out


def prefix_hint(field: str, prefixes: Union[str, Tuple[str, ...]], text: str
                ) -> Callable[[StateDictDiff], str]:
    """A ``hint`` for :func:`fit_state_dict`: ``text`` when a key of the diff's ``field``
    (``'unknown'``, ``'unexpected'`` or ``'missing'``) starts with ``prefixes``."""
    def hint(diff: StateDictDiff) -> str:
        return text if any(k.startswith(prefixes) for k in getattr(diff, field)) else ''
    return hint


#: Our key prefixes of the optional 2D network of VoxelPose-like models (``backbone.*``:
#: the image backbone, ``head_2d.*``: its heatmap head).
NET_2D_PREFIXES = ('backbone.', 'head_2d.')


def optional_2d_net(model: torch.nn.Module, converted: Mapping[str, torch.Tensor],
                    drop_2d: bool, option: str = 'drop_2d=True'):
    """For a model whose 2D network is optional (heatmap input without one).

    Returns:
        ``(converted, hint)``: ``converted`` without its 2D-network weights when ``drop_2d``
        and the model has no ``backbone``; the :func:`fit_state_dict` hint that names
        ``option`` when such weights are left over (None for a model with a 2D network).
    """
    if getattr(model, 'backbone', None) is not None:
        return converted, None
    if drop_2d:
        converted = OrderedDict((k, v) for k, v in converted.items()
                                if not k.startswith(NET_2D_PREFIXES))
    return converted, prefix_hint('unexpected', NET_2D_PREFIXES,
                                  '(the checkpoint holds a 2D network but the model takes '
                                  f'heatmaps; pass {option} to ignore it)')
