"""8-bit storage of weight tensors in checkpoint files, read back as float on load.

A checkpoint embedded in the repository is kept under 15 MB. Float16 storage halves float32;
for the networks whose weights tolerate it, int8 storage halves float16 again. A weight
``w`` of shape (C_out, ...) (a convolution's or a linear layer's; at least 2-D) is stored
as

* ``key``: int8 ``q = round(w / s)``, clamped to [-127, 127], and
* ``key + ':int8_scale'``: float16 ``s`` of shape (C_out, 1, ..., 1) = ``max |w[c]| / 127``
  per output channel (symmetric per-channel quantisation; a channel of zeros has s = 1),

so ``q · s`` is within ``s / 2`` of ``w`` (0.4 % of the channel's largest weight). The ``:``
cannot occur in a module's state-dict key, so the scale entries never collide with
weights. :func:`dequantize_state_dict` turns such pairs back into float32 tensors. The
estimators of this package (:class:`~virtualpose_mm.models.pose_estimators.base.
VolumetricPoseEstimator`) register it as a state-dict load pre-hook, so mmengine's
``load_checkpoint`` (``load_from``, ``tools/test.py``, the demos) reads such a file as any
other. Biases, norm parameters, buffers and 1-D tensors stay as they are.

``tools/misc/publish_model.py --int8 PREFIX`` writes such files.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch
from torch import Tensor

SCALE_SUFFIX = ':int8_scale'


def quantize_int8(weight: Tensor):
    """(C_out, ...) float → (int8 of the same shape, float16 scale (C_out, 1, ..., 1))."""
    if not weight.is_floating_point() or weight.dim() < 2:
        raise ValueError(f'quantize_int8: expected a float tensor of ≥ 2 dims, got '
                         f'{weight.dtype} {tuple(weight.shape)}')
    w = weight.detach().float()
    peak = w.abs().flatten(1).amax(1).reshape((-1, ) + (1, ) * (w.dim() - 1))
    scale = torch.where(peak > 0, peak / 127.0, torch.ones_like(peak)).half()
    q = torch.round(w / scale.float()).clamp_(-127, 127).to(torch.int8)
    return q, scale


def quantize_state_dict(state: Dict[str, Tensor], prefixes: Sequence[str],
                        source: str = 'state dict') -> Dict[str, Tensor]:
    """A new state dict with the float tensors of ≥ 2 dims under ``prefixes`` stored as
    int8 and their scales (module docstring). Each prefix must hold at least one."""
    out = dict(state)
    for prefix in prefixes:
        done = [k for k in state if k.startswith(prefix) and k.endswith(SCALE_SUFFIX)]
        if done:
            raise ValueError(f'{source}: the weights under {prefix!r} are already stored '
                             f'as int8 ({done[0]}, ...)')
        keys = [k for k, v in state.items() if k.startswith(prefix) and
                isinstance(v, Tensor) and v.is_floating_point() and v.dim() >= 2]
        if not keys:
            raise ValueError(f'{source}: no weight tensors (float, ≥ 2-D) under {prefix!r} '
                             'to store as int8')
        for k in keys:
            out[k], out[k + SCALE_SUFFIX] = quantize_int8(state[k])
    return out


def dequantize_state_dict(state: Dict[str, Tensor], prefix: str = '',
                          source: str = 'state dict') -> Dict[str, Tensor]:
    """Replace, in place, every int8 tensor under ``prefix`` that has a scale entry by the
    float32 tensor ``q · s``, removing the scale entry; returns ``state``. A scale without
    its int8 tensor, or not of shape (C_out, 1, ..., 1) for it, is a
    :class:`~virtualpose_mm.models.utils.state_dict_mapping.CheckpointError` (a
    ``ValueError``) naming ``source`` and the key."""
    from .state_dict_mapping import CheckpointError
    for key in [k for k in state if k.startswith(prefix) and k.endswith(SCALE_SUFFIX)]:
        base = key[:-len(SCALE_SUFFIX)]
        q, scale = state.get(base), state[key]
        if not isinstance(q, Tensor) or q.dtype != torch.int8:
            raise CheckpointError(f'{source}: {key} has no int8 tensor {base} to scale '
                                  f'(found {None if q is None else q.dtype})')
        if scale.dim() != q.dim() or scale.shape[0] != q.shape[0] or \
                any(n != 1 for n in scale.shape[1:]):
            raise CheckpointError(f'{source}: {key} has shape {tuple(scale.shape)}, '
                                  f'expected ({q.shape[0]}{", 1" * (q.dim() - 1)}) for {base}')
        state[base] = q.float() * scale.float()
        del state[key]
    return state


def dequantize_load_hook(module, state_dict, prefix, *args) -> None:
    """``nn.Module.register_load_state_dict_pre_hook`` hook: :func:`dequantize_state_dict`
    on the entries being loaded into ``module``."""
    dequantize_state_dict(state_dict, prefix, f'{type(module).__name__} checkpoint')


def dequantize_checkpoint(checkpoint, source: str = 'checkpoint'):
    """:func:`dequantize_state_dict` on a loaded checkpoint (a dict with a ``state_dict``,
    or a state dict); anything else is returned as it is. The package's checkpoint
    readers call it, so the key checks before loading see the float weights."""
    if isinstance(checkpoint, dict):
        sd = checkpoint.get('state_dict', checkpoint)
        if isinstance(sd, dict) and any(isinstance(k, str) and k.endswith(SCALE_SUFFIX)
                                        for k in sd):
            dequantize_state_dict(sd, '', source)
    return checkpoint
