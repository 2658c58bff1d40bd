"""Convert VirtualPose stage-1 and SimpleBaselines checkpoints into :class:`VirtualPoseAGRNet`
state dicts.

Our keys: ``backbone.*`` (MMPose's ``ResNet``, whose parameter names are torchvision's:
``conv1``, ``bn1``, ``layerN.M.{conv1, bn1, ...}``, ``layerN.0.downsample.{0, 1}``),
``head.deconv_layers.*``, ``head.final_layer.*``, ``head.box_branch.*``.

**VirtualPose stage 1** (wkom/VirtualPose, ``PoseDetResNet``). Two layouts are read:

* the saved ``MultiPersonPoseNet`` (``model_last.pth.tar`` / ``checkpoint.pth.tar``'s
  ``state_dict``): ``backbone.{conv1, bn1, layer1..4}.*`` → ``backbone.*`` (same names),
  ``backbone.deconv_layers.*`` → ``head.deconv_layers.*``, ``backbone.final_layer.*`` →
  ``head.final_layer.*``, ``backbone.bbox.*`` → ``head.box_branch.*``;
  ``backbone.depth.*`` (a depth head the stage-1 configs train with weight 0) and
  ``REN.*`` / ``PEN.*`` (the stage-2 networks, untrained in a stage-1 run; convert a
  stage-2 checkpoint with :mod:`.virtualpose_converter`) are dropped on purpose and listed
  in ``info['dropped']``;
* the bare ``PoseDetResNet`` state dict (the same keys without ``backbone.``).

Keys of both layouts in one state dict are an error (they would overwrite each other).

**SimpleBaselines** (microsoft/human-pose-estimation.pytorch ``PoseResNet``, e.g.
``pose_resnet_152_384x288.pth.tar``, the reference's ``PRETRAINED_BACKBONE``):
``conv1``/``bn1``/``layer*`` → ``backbone.*``, ``deconv_layers.*`` →
``head.deconv_layers.*``, ``final_layer.*`` → ``head.final_layer.*`` only when its joint
count is the model's (``final_layer='auto'``; the reference loads it whenever the shapes
match, so COCO's 17 channels initialise VirtualPose-17's 17 channels as they are), else
dropped. The box branch (and a dropped final layer) keep the model's initialisation: the
checkpoint is a partial one by nature; they are listed in ``info['kept_init']``. MMPose
checkpoints of the same network (``backbone.*`` with ``keypoint_head.*`` (0.x) or
``head.*`` (1.x) deconvolutions) are read too.

Old checkpoints (PyTorch < 0.4.1) have no BN ``num_batches_tracked``; those are taken
from the model (listed in ``info['filled']``). Anything else — unknown keys, missing keys,
shape mismatches — is collected into ONE :class:`CheckpointError` listing every key.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Sequence, Tuple

import torch

from virtualpose_mm.models.utils.state_dict_mapping import (CheckpointError, fit_state_dict,
                                                            read_weights_only,
                                                            rename_state_dict,
                                                            unwrap_checkpoint)

__all__ = ['CheckpointError', 'convert_virtualpose_stage1_state_dict',
           'load_virtualpose_stage1_checkpoint', 'convert_simplebaseline_state_dict',
           'load_simplebaseline_checkpoint', 'fill_untracked_keys']

_RESNET = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.', 'layer4.')
#: reference stage-1 parts that are not part of the AGR network
STAGE1_DROPPED = ('depth.', )
STAGE2_PREFIXES = ('REN.', 'PEN.')


def _rename_keep(state_dict, prefix: str, rules):
    """rename_state_dict with the ResNet keys under ``prefix`` mapped to ``backbone.*``."""
    resnet = {k: v for k, v in state_dict.items()
              if k.startswith(tuple(prefix + p for p in _RESNET))}
    rest = OrderedDict((k, v) for k, v in state_dict.items() if k not in resnet)
    out, info = rename_state_dict(rest, rules)
    for k, v in resnet.items():
        out['backbone.' + k[len(prefix):]] = v
    return out, info


def fill_untracked_keys(model, converted: Dict[str, torch.Tensor], info: dict,
                        keep_init: Sequence[str] = ()) -> Dict[str, torch.Tensor]:
    """Take BN ``num_batches_tracked`` the checkpoint lacks (old PyTorch) and the model
    keys under ``keep_init`` prefixes from the model; record them in ``info``."""
    target = model.state_dict()
    converted = OrderedDict(converted)
    info.setdefault('filled', [])
    info.setdefault('kept_init', [])
    for k, v in target.items():
        if k in converted:
            continue
        if k.endswith('num_batches_tracked') and k.rsplit('.', 1)[0] + '.running_mean' in \
                converted:
            converted[k] = v
            info['filled'].append(k)
        elif keep_init and k.startswith(tuple(keep_init)):
            converted[k] = v
            info['kept_init'].append(k)
    return converted


def convert_virtualpose_stage1_state_dict(state_dict, ignore_prefixes: Sequence[str] = ()
                                          ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Rename a reference stage-1 state dict (either layout, module docstring) into ours.

    Args:
        state_dict: the state dict or a checkpoint holding one (``state_dict`` / ``model``
            entry; a ``module.`` prefix is stripped).
        ignore_prefixes: further source prefixes to drop on purpose.

    Returns:
        ``(converted, info)``; info: ``layout`` (``'MultiPersonPoseNet'`` or
        ``'PoseDetResNet'``), ``dropped``, ``unknown`` (source keys no rule placed).

    Raises:
        CheckpointError: keys of both layouts in one state dict.
    """
    sd = unwrap_checkpoint(state_dict)
    full = [k for k in sd if k.startswith('backbone.')]
    bare = [k for k in sd if k.startswith(_RESNET + ('deconv_layers.', 'final_layer.', 'bbox.',
                                                     'depth.'))]
    if full and bare:
        raise CheckpointError('the state dict mixes the MultiPersonPoseNet layout '
                              f'(backbone.*: {full[:3]}) and the bare PoseDetResNet layout '
                              f'({bare[:3]}); keys would overwrite each other')
    prefix = 'backbone.' if full else ''
    rules = [(tuple(ignore_prefixes), None)] if ignore_prefixes else []
    rules += [(STAGE2_PREFIXES, None), (tuple(prefix + p for p in STAGE1_DROPPED), None),
              (prefix + 'deconv_layers.', 'head.deconv_layers.'),
              (prefix + 'final_layer.', 'head.final_layer.'),
              (prefix + 'bbox.', 'head.box_branch.')]
    if not full:
        rules.append(('head.', 'head.'))  # our own head keys, if mixed with bare ResNet keys
    out, info = _rename_keep(sd, prefix, rules)
    info['layout'] = 'MultiPersonPoseNet' if full else 'PoseDetResNet'
    return out, info


def load_virtualpose_stage1_checkpoint(model, checkpoint, ignore_prefixes: Sequence[str] = (),
                                       map_location='cpu') -> dict:
    """Load a reference stage-1 checkpoint into a :class:`VirtualPoseAGRNet`, strictly.

    Args:
        model: the model.
        checkpoint: a path (``torch.load(weights_only=True)``) or a loaded dict.
        ignore_prefixes: see :func:`convert_virtualpose_stage1_state_dict`.

    Returns:
        the info dict (``layout``, ``dropped``, ``unknown``, ``filled``).

    Raises:
        CheckpointError: unknown, missing or mis-shaped keys (all listed in one message).
    """
    checkpoint, source = read_weights_only(checkpoint, map_location)
    converted, info = convert_virtualpose_stage1_state_dict(checkpoint, ignore_prefixes)
    converted = fill_untracked_keys(model, converted, info)
    model.load_state_dict(fit_state_dict(model, converted, source, info['unknown']),
                          strict=True)
    return info


def convert_simplebaseline_state_dict(state_dict, num_joints: int, final_layer: str = 'auto'
                                      ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Rename a SimpleBaselines ``PoseResNet`` state dict (or an MMPose checkpoint of it)
    into ours.

    Args:
        state_dict: the state dict or a checkpoint holding one.
        num_joints: the model's K.
        final_layer: ``'auto'`` (kept when its output channels are ``num_joints``, else
            dropped), ``'load'`` (kept; a mismatch is then reported as a shape problem) or
            ``'drop'``.

    Returns:
        ``(converted, info)``; info: ``dropped``, ``unknown``, ``final_layer`` (bool:
        whether the final layer was kept).
    """
    if final_layer not in ('auto', 'load', 'drop'):
        raise ValueError(f"final_layer must be 'auto', 'load' or 'drop', got {final_layer!r}")
    sd = unwrap_checkpoint(state_dict)
    mmpose = any(k.startswith('backbone.') for k in sd)
    prefix = 'backbone.' if mmpose else ''
    heads = ('keypoint_head.', 'head.') if mmpose else ('', )
    fl = [v for k, v in sd.items() if k.endswith('final_layer.weight') and
          k[:-len('final_layer.weight')] in heads]
    keep_final = final_layer == 'load' or (
        final_layer == 'auto' and bool(fl) and fl[0].shape[0] == num_joints)
    rules = []
    for h in heads:
        rules += [(h + 'deconv_layers.', 'head.deconv_layers.'),
                  (h + 'final_layer.', 'head.final_layer.' if keep_final else None)]
    out, info = _rename_keep(sd, prefix, rules)
    info['final_layer'] = keep_final
    return out, info


def load_simplebaseline_checkpoint(model, checkpoint, final_layer: str = 'auto',
                                   map_location='cpu') -> dict:
    """Initialise a :class:`VirtualPoseAGRNet` from SimpleBaselines weights (backbone +
    deconvolutions, the final layer per ``final_layer``); the box branch (and a dropped
    final layer) keep the model's weights.

    Returns:
        the info dict (``dropped``, ``unknown``, ``final_layer``, ``filled``,
        ``kept_init``).

    Raises:
        CheckpointError: unknown keys, backbone / deconvolution keys the checkpoint lacks,
            shape mismatches (e.g. a ResNet of another depth), all listed in one message.
    """
    checkpoint, source = read_weights_only(checkpoint, map_location)
    K = int(model.head.out_channels)
    converted, info = convert_simplebaseline_state_dict(checkpoint, K, final_layer)
    keep = ['head.box_branch.'] + ([] if info['final_layer'] else ['head.final_layer.'])
    converted = fill_untracked_keys(model, converted, info, keep_init=keep)
    model.load_state_dict(fit_state_dict(model, converted, source, info['unknown']),
                          strict=True)
    return info
