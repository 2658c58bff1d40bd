"""Convert Faster-VoxelPose checkpoints (AlvinYH/Faster-VoxelPose) into
:class:`~virtualpose_mm.models.pose_estimators.FasterVoxelPose` state dicts, and back.

Reference layout (``FasterVoxelPoseNet``) → ours:

=====================================  ==========================================
``pose_net.center_net.*`` (CenterNet)   ``detector.center_net.*``
``pose_net.c2c_net.*`` (C2CNet)         ``detector.height_net.*``
``joint_net.conv_net.*`` (P2PNet)       ``joint_net.plane_net.*``
``joint_net.weight_net.*``              ``joint_net.weight_net.*``
``backbone.*`` (PoseResNet, Panoptic)   ``backbone.*`` (``conv1 bn1 layer1-4``) and
                                        ``head_2d.*`` (``deconv_layers final_layer``)
=====================================  ==========================================

Inside the three CNNs the reference blocks are plain ``nn.Sequential``; ours use MMCV
``ConvModule`` (the layout of MMPose's ``V2VNet``): ``front_layers.0.block.0/.1`` →
``block.conv/.bn``, ``res_branch.0, .1, .3, .4`` → ``res_branch.0.conv, .0.bn, .1.conv,
.1.bn``, ``skip_con.0/.1`` → ``skip_con.conv/.bn``; upsampling blocks, heads
(``output_hm``, ``output_size``, ``output_layer``) and the weight net keep their names.

Every source key must be placed and every model key filled: unknown, missing and
mis-shaped keys are all listed in ONE :class:`CheckpointError`. A ``state_dict`` / ``model``
wrapper and a ``module.`` prefix (DataParallel) are accepted.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from .state_dict_mapping import (CheckpointError, fit_state_dict, read_weights_only,
                                 rename_state_dict, unwrap_checkpoint)
from .voxelpose_converter import reference_v2v_key

REFERENCE = 'faster-voxelpose'
OURS = 'virtualpose_mm'

#: (reference prefix, our prefix) of the sub-networks
PREFIXES = (('pose_net.center_net.', 'detector.center_net.'),
            ('pose_net.c2c_net.', 'detector.height_net.'),
            ('joint_net.conv_net.', 'joint_net.plane_net.'),
            ('joint_net.weight_net.', 'joint_net.weight_net.'))
_CNNS = ('pose_net.center_net.', 'pose_net.c2c_net.', 'joint_net.conv_net.')
_BACKBONE_2D = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.', 'layer4.')
_HEAD_2D = ('deconv_layers.', 'final_layer.')
_INV_RES = {'0.conv': '0', '0.bn': '1', '1.conv': '3', '1.bn': '4'}


def _cnn(prefix: str):
    return lambda rest: prefix + reference_v2v_key(rest)


#: Key rules reference → ours (:func:`~.state_dict_mapping.rename_state_dict`).
RULES = [(ref, _cnn(ours) if ref in _CNNS else ours) for ref, ours in PREFIXES] + \
    [(f'backbone.{p}', f'backbone.{p}') for p in _BACKBONE_2D] + \
    [(f'backbone.{p}', f'head_2d.{p}') for p in _HEAD_2D]


def our_to_reference_cnn_key(key: str) -> str:
    """Inverse of :func:`reference_v2v_key` (``ConvModule`` → ``nn.Sequential``)."""
    m = re.fullmatch(r'front_layers\.0\.block\.(conv|bn)\.(.+)', key)
    if m:
        return f'front_layers.0.block.{"0" if m.group(1) == "conv" else "1"}.{m.group(2)}'
    m = re.fullmatch(r'(.+)\.res_branch\.([01]\.(?:conv|bn))\.(.+)', key)
    if m:
        return f'{m.group(1)}.res_branch.{_INV_RES[m.group(2)]}.{m.group(3)}'
    m = re.fullmatch(r'(.+)\.skip_con\.(conv|bn)\.(.+)', key)
    if m:
        return f'{m.group(1)}.skip_con.{"0" if m.group(2) == "conv" else "1"}.{m.group(3)}'
    return key


def detect_layout(sd: Dict[str, torch.Tensor]) -> str:
    keys = list(sd)
    if any(k.startswith(('detector.', 'joint_net.plane_net.')) for k in keys):
        return OURS
    if any(k.startswith(('pose_net.center_net.', 'joint_net.conv_net.')) for k in keys):
        return REFERENCE
    raise CheckpointError('not a Faster-VoxelPose checkpoint: no pose_net.center_net.* / '
                          'joint_net.conv_net.* (AlvinYH/Faster-VoxelPose) or detector.* '
                          f'(virtualpose_mm) keys; first keys: {keys[:5]}')


def convert_faster_voxelpose_state_dict(state_dict, layout: Optional[str] = None
                                        ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Rename a reference Faster-VoxelPose state dict into our key layout.

    Args:
        state_dict: the source state dict or a checkpoint dict holding one.
        layout: ``'faster-voxelpose'``, ``'virtualpose_mm'`` or None to detect.

    Returns:
        (converted state dict, info) with info ``layout`` and ``unknown`` (source keys
        that could not be placed).
    """
    sd = unwrap_checkpoint(state_dict)
    layout = layout or detect_layout(sd)
    if layout == OURS:
        return OrderedDict(sd), dict(layout=layout, unknown=[])
    if layout != REFERENCE:
        raise CheckpointError(f'unknown checkpoint layout {layout!r}')
    out, info = rename_state_dict(sd, RULES)
    return out, dict(layout=layout, unknown=info['unknown'])


def to_reference_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Our state dict → the reference's key layout (``_extra_state`` entries dropped).

    Raises:
        CheckpointError: a key that has no reference counterpart (listed).
    """
    out: Dict[str, torch.Tensor] = OrderedDict()
    unknown = []
    for k, v in unwrap_checkpoint(state_dict).items():
        if k.endswith('_extra_state'):
            continue
        for ref, ours in PREFIXES:
            if k.startswith(ours):
                rest = k[len(ours):]
                out[ref + (our_to_reference_cnn_key(rest) if ref in _CNNS else rest)] = v
                break
        else:
            if k.startswith('backbone.'):
                out[k] = v
            elif k.startswith('head_2d.'):
                out['backbone.' + k[len('head_2d.'):]] = v
            else:
                unknown.append(k)
    if unknown:
        raise CheckpointError(f'keys without a Faster-VoxelPose counterpart: {sorted(unknown)}')
    return out


def load_faster_voxelpose_checkpoint(model, checkpoint, drop_2d: bool = False,
                                     map_location='cpu') -> dict:
    """Load a reference or own Faster-VoxelPose checkpoint into ``model``.

    Args:
        model: a :class:`~virtualpose_mm.models.pose_estimators.FasterVoxelPose`.
        checkpoint: a path (read with ``torch.load(weights_only=True)``) or a loaded dict.
        drop_2d: ignore 2D-network weights when the model takes heatmaps.

    Returns:
        info dict (``layout``).

    Raises:
        CheckpointError: unknown, missing or mis-shaped keys (all listed).
    """
    checkpoint, source = read_weights_only(checkpoint, map_location)
    converted, info = convert_faster_voxelpose_state_dict(checkpoint)
    no_2d = getattr(model, 'backbone', None) is None
    if drop_2d and no_2d:
        converted = OrderedDict((k, v) for k, v in converted.items()
                                if not k.startswith(('backbone.', 'head_2d.')))

    def hint(diff) -> str:
        if no_2d and any(k.startswith(('backbone.', 'head_2d.')) for k in diff.unexpected):
            return ('(the checkpoint holds a 2D network but the model takes heatmaps; pass '
                    'drop_2d=True to ignore it)')
        return ''

    sd = fit_state_dict(model, converted, source, info['unknown'], hint)
    model.load_state_dict(sd, strict=True)
    return info
