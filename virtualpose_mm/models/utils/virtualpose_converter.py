"""Convert wkom/VirtualPose stage-2 checkpoints into :class:`VirtualPose` state dicts.

Reference layout (``MultiPersonPoseNet``) → ours:

* ``REN.depth_net.{conv1, bn1, layer1..4}.*`` (torchvision's ResNet names) →
  ``root_net.depth_net.backbone.{conv1, bn1, layer1..4}.*``: the DE's ResNet is MMPose's
  registered ``ResNet``, whose parameter names are torchvision's (``conv1``, ``bn1``,
  ``layerN.M.{conv1, bn1, conv2, bn2, conv3, bn3}``, ``layerN.0.downsample.{0, 1}``), one
  level down (:func:`~virtualpose_mm.models.backbones.virtualpose_depth_net.legacy_depth_net_key`);
* ``REN.depth_net.{deconv_layers, depth}.*`` → ``root_net.depth_net.*`` (same names);
* ``REN.depth_net.{final_layer, bbox}.*`` — heads the reference computes but never uses —
  are dropped (reported in ``info['dropped']``);
* ``REN.v2v_net.*`` → ``root_net.v2v_net.*`` and ``PEN.v2v_net.*`` → ``pose_net.v2v_net.*``,
  with the ``nn.Sequential`` → ``ConvModule`` renaming of MMPose's ``V2VNet``
  (:func:`~virtualpose_mm.models.utils.voxelpose_converter.reference_v2v_key`);
* ``backbone.*`` (the stage-1 network of full checkpoints) is not part of the stage-2
  model: pass ``ignore_prefixes=('backbone.',)`` to drop it deliberately;
* keys already in our layout (``root_net.*``, ``pose_net.*``: our own checkpoints) are
  kept, and those of our earlier DE layout (``root_net.depth_net.{conv1, bn1, layer1..4}``,
  before the DE's ResNet became ``backbone``) are renamed the same way. (``model.
  load_state_dict`` and mmengine's checkpoint loading rename them too, in
  ``VirtualPoseDepthNet._load_from_state_dict``.)

Anything else — unknown keys, model keys the checkpoint lacks, shape mismatches — is
collected into ONE :class:`CheckpointError` that lists every problem.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import torch

from virtualpose_mm.models.backbones.virtualpose_depth_net import legacy_depth_net_key
from virtualpose_mm.models.utils.state_dict_mapping import (CheckpointError, fit_state_dict,
                                                            prefix_hint, read_weights_only,
                                                            rename_state_dict, unwrap_checkpoint)
from virtualpose_mm.models.utils.voxelpose_converter import reference_v2v_key

__all__ = ['CheckpointError', 'convert_virtualpose_state_dict', 'load_virtualpose_checkpoint',
           'depth_net_key']

UNUSED_REFERENCE_HEADS = ('REN.depth_net.final_layer.', 'REN.depth_net.bbox.')
_OUR_DE = 'root_net.depth_net.'


def depth_net_key(name: str) -> str:
    """A DE key after ``REN.depth_net.`` (reference) or ``root_net.depth_net.`` (ours, any
    layout) → our key: ``conv1.weight`` → ``root_net.depth_net.backbone.conv1.weight``,
    ``layer1.0.bn1.bias`` → ``root_net.depth_net.backbone.layer1.0.bn1.bias``,
    ``depth.2.weight`` → ``root_net.depth_net.depth.2.weight``."""
    return _OUR_DE + legacy_depth_net_key(name)


def convert_virtualpose_state_dict(state_dict, ignore_prefixes: Sequence[str] = ()
                                   ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Rename a reference VirtualPose state dict into our key layout.

    Args:
        state_dict: the reference state dict, or a checkpoint dict holding one
            (``state_dict`` / ``model`` entry; a ``module.`` prefix is stripped).
        ignore_prefixes: source key prefixes to drop on purpose (e.g. ``'backbone.'``).

    Returns:
        ``(converted, info)``; info has ``dropped`` (source keys dropped on purpose) and
        ``unknown`` (source keys that could not be placed).
    """
    rules = [(UNUSED_REFERENCE_HEADS, None), (tuple(ignore_prefixes), None),
             ('REN.depth_net.', depth_net_key), (_OUR_DE, depth_net_key),
             ('root_net.', 'root_net.'), ('pose_net.', 'pose_net.'),  # ours: kept
             ('REN.v2v_net.', lambda rest: 'root_net.v2v_net.' + reference_v2v_key(rest)),
             ('PEN.v2v_net.', lambda rest: 'pose_net.v2v_net.' + reference_v2v_key(rest))]
    return rename_state_dict(unwrap_checkpoint(state_dict), rules)


def load_virtualpose_checkpoint(model, checkpoint, ignore_prefixes: Sequence[str] = (),
                                map_location='cpu') -> dict:
    """Load a reference VirtualPose checkpoint into a :class:`VirtualPose` model.

    Args:
        model: the model.
        checkpoint: a path (``torch.load(weights_only=True)``) or a loaded dict.
        ignore_prefixes: see :func:`convert_virtualpose_state_dict`.

    Returns:
        the info dict of :func:`convert_virtualpose_state_dict`.

    Raises:
        CheckpointError: unknown, missing or mis-shaped keys (all listed in one message).
    """
    checkpoint, source = read_weights_only(checkpoint, map_location)
    converted, info = convert_virtualpose_state_dict(checkpoint, ignore_prefixes)
    hint = prefix_hint('unknown', 'backbone.', '(backbone.* is the stage-1 network, which '
                       'the stage-2 model does not contain: pass '
                       "ignore_prefixes=('backbone.',) to drop it)")
    model.load_state_dict(fit_state_dict(model, converted, source, info['unknown'], hint),
                          strict=True)
    return info
