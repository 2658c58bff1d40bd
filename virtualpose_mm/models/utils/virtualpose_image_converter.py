"""Load VirtualPose checkpoints into the assembled
:class:`~virtualpose_mm.models.pose_estimators.VirtualPoseImageEstimator`.

Our keys: ``agr_net.*`` (a ``VirtualPoseAGRNet``) and ``stage2.*`` (a ``VirtualPose``).
Three sources are read, each renamed by the converters of the two stages (no rule of its
own here):

* an official FULL checkpoint (wkom/VirtualPose ``MultiPersonPoseNet``: ``backbone.*``
  stage 1 + ``REN.*`` + ``PEN.*``): ``backbone.*`` through
  :func:`~.virtualpose_stage1_converter.convert_virtualpose_stage1_state_dict` (which
  drops ``REN.`` / ``PEN.``) → ``agr_net.*``, ``REN.*`` / ``PEN.*`` through
  :func:`~.virtualpose_converter.convert_virtualpose_state_dict` with
  ``ignore_prefixes=('backbone.',)`` → ``stage2.*``; a key is unknown when neither
  converter places it (and the one that drops it leaves it to the other);
* our own assembled checkpoints (keys ``agr_net.*`` / ``stage2.*``): kept as they are
  (``stage2.*`` through the stage-2 converter, which keeps our keys and renames the
  earlier DE layout); any other key is unknown;
* two separate checkpoints: a stage-1 one in any layout the stage-1 converter reads (the
  full ``MultiPersonPoseNet`` or the bare ``PoseDetResNet``), or our own
  ``VirtualPoseAGRNet`` keys (``backbone.*`` + ``head.*``); and a stage-2 one in any
  layout the stage-2 converter reads (reference ``REN.*`` / ``PEN.*``, a full checkpoint
  whose ``backbone.*`` is then ignored, or our own ``root_net.*`` / ``pose_net.*``).

Loading is strict: unknown source keys, model keys the checkpoint lacks and shape
mismatches are all listed, with their ``agr_net.`` / ``stage2.`` prefixes, in ONE
:class:`CheckpointError`. BN ``num_batches_tracked`` missing from old stage-1 checkpoints
are taken from the model (as the stage-1 converter does).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Tuple

import torch

from virtualpose_mm.models.utils.state_dict_mapping import (CheckpointError, fit_state_dict,
                                                            read_weights_only,
                                                            unwrap_checkpoint)
from virtualpose_mm.models.utils.virtualpose_converter import convert_virtualpose_state_dict
from virtualpose_mm.models.utils.virtualpose_stage1_converter import (
    fill_untracked_keys, convert_virtualpose_stage1_state_dict)

__all__ = ['CheckpointError', 'convert_virtualpose_image_state_dict',
           'load_virtualpose_image_checkpoint', 'AGR_PREFIX', 'STAGE2_PREFIX', 'OURS_IMAGE',
           'FULL_LAYOUT']

AGR_PREFIX = 'agr_net.'
STAGE2_PREFIX = 'stage2.'
#: layout names (``info['layout']``)
OURS_IMAGE = 'virtualpose_mm'
FULL_LAYOUT = 'VirtualPose MultiPersonPoseNet (full)'
_OUR_STAGE1 = 'virtualpose_mm VirtualPoseAGRNet'


def _prefixed(sd: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    return OrderedDict((prefix + k, v) for k, v in sd.items())


def _stage1(sd: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], dict]:
    """A stage-1 state dict → ``VirtualPoseAGRNet`` keys (our own kept as they are)."""
    ours = any(k.startswith('head.') for k in sd) and \
        any(k.startswith('backbone.') for k in sd) and not any(
        k.startswith(('backbone.deconv_layers.', 'backbone.final_layer.', 'backbone.bbox.'))
        for k in sd)
    if ours:
        out = OrderedDict((k, v) for k, v in sd.items() if k.startswith(('backbone.', 'head.')))
        return out, dict(layout=_OUR_STAGE1, dropped=[],
                         unknown=[k for k in sd if k not in out])
    return convert_virtualpose_stage1_state_dict(sd)


def _stage2(sd: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], dict]:
    """A stage-2 state dict (reference, full or ours) → ``VirtualPose`` keys."""
    out, info = convert_virtualpose_state_dict(sd, ignore_prefixes=('backbone.', ))
    ours = any(k.startswith(('root_net.', 'pose_net.')) for k in sd)
    info['layout'] = 'virtualpose_mm VirtualPose' if ours else 'VirtualPose REN/PEN'
    return out, info


def convert_virtualpose_image_state_dict(state_dict) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Rename an official FULL VirtualPose state dict (or our assembled one) into the keys
    of :class:`VirtualPoseImageEstimator` (module docstring).

    Args:
        state_dict: the state dict, or a checkpoint holding one (``state_dict`` / ``model``
            entry; a ``module.`` prefix is stripped).

    Returns:
        ``(converted, info)``; info: ``layout`` (:data:`FULL_LAYOUT` or
        :data:`OURS_IMAGE`), ``dropped`` (source keys dropped on purpose: the reference's
        unused heads), ``unknown`` (source keys no converter placed).

    Raises:
        CheckpointError: not a state dict, or stage-1 keys of two layouts at once.
    """
    sd = unwrap_checkpoint(state_dict)
    if any(k.startswith((AGR_PREFIX, STAGE2_PREFIX)) for k in sd):
        s2 = OrderedDict((k[len(STAGE2_PREFIX):], v) for k, v in sd.items()
                         if k.startswith(STAGE2_PREFIX))
        out2, info2 = convert_virtualpose_state_dict(s2)
        out = OrderedDict((k, v) for k, v in sd.items() if k.startswith(AGR_PREFIX))
        out.update(_prefixed(out2, STAGE2_PREFIX))
        unknown = [k for k in sd if not k.startswith((AGR_PREFIX, STAGE2_PREFIX))]
        unknown += [STAGE2_PREFIX + k for k in info2['unknown']]
        return out, dict(layout=OURS_IMAGE, unknown=unknown,
                         dropped=[STAGE2_PREFIX + k for k in info2['dropped']])
    out1, info1 = convert_virtualpose_stage1_state_dict(sd)
    out2, info2 = convert_virtualpose_state_dict(sd, ignore_prefixes=('backbone.', ))
    keys = set(sd)
    placed = (keys - set(info1['dropped']) - set(info1['unknown'])) | \
        (keys - set(info2['dropped']) - set(info2['unknown']))
    unknown = [k for k in sd if k not in placed and
               (k in info1['unknown'] or k in info2['unknown'])]
    dropped = [k for k in sd if k not in placed and k not in unknown]
    out = _prefixed(out1, AGR_PREFIX)
    out.update(_prefixed(out2, STAGE2_PREFIX))
    return out, dict(layout=FULL_LAYOUT, dropped=dropped, unknown=unknown)


def _fill_stage1(model, converted: Dict[str, torch.Tensor], info: dict):
    """BN ``num_batches_tracked`` an old stage-1 checkpoint lacks, from ``model.agr_net``."""
    part = OrderedDict((k[len(AGR_PREFIX):], v) for k, v in converted.items()
                       if k.startswith(AGR_PREFIX))
    filled = fill_untracked_keys(model.agr_net, part, info)
    out = OrderedDict(converted)
    for k in info.get('filled', []):
        out[AGR_PREFIX + k] = filled[k]
    info['filled'] = [AGR_PREFIX + k for k in info.get('filled', [])]
    info.pop('kept_init', None)
    return out


def load_virtualpose_image_checkpoint(model, checkpoint=None, stage1=None, stage2=None,
                                      map_location='cpu') -> dict:
    """Load weights into a :class:`VirtualPoseImageEstimator`, strictly.

    Args:
        model: the assembled model.
        checkpoint: one full checkpoint — official (``backbone.*`` + ``REN.*`` +
            ``PEN.*``) or ours (``agr_net.*`` + ``stage2.*``): a path
            (``torch.load(weights_only=True)``) or a loaded dict.
        stage1: instead of ``checkpoint``: the stage-1 checkpoint (official
            ``MultiPersonPoseNet`` or ``PoseDetResNet``, or ours), path or dict.
        stage2: with ``stage1``: the stage-2 checkpoint (official ``REN.*`` / ``PEN.*``, a
            full one whose ``backbone.*`` is ignored, or ours), path or dict.
        map_location: for the paths.

    Returns:
        info: ``layout`` (:data:`FULL_LAYOUT`, :data:`OURS_IMAGE`, or
        ``'stage1: <layout>, stage2: <layout>'``), ``dropped``, ``unknown``, ``filled``.

    Raises:
        ValueError: neither ``checkpoint`` nor both ``stage1`` and ``stage2`` (or both).
        CheckpointError: every unknown, missing or mis-shaped key, in one message.
    """
    if (checkpoint is None) == (stage1 is None and stage2 is None) or \
            (checkpoint is None and (stage1 is None or stage2 is None)):
        raise ValueError('load_virtualpose_image_checkpoint: give either checkpoint (one full '
                         'VirtualPose checkpoint) or both stage1 and stage2 (separate ones)')
    if checkpoint is not None:
        ckpt, source = read_weights_only(checkpoint, map_location)
        converted, info = convert_virtualpose_image_state_dict(ckpt)
    else:
        ckpt1, src1 = read_weights_only(stage1, map_location)
        ckpt2, src2 = read_weights_only(stage2, map_location)
        out1, info1 = _stage1(unwrap_checkpoint(ckpt1))
        out2, info2 = _stage2(unwrap_checkpoint(ckpt2))
        source = f'{src1} (stage 1) + {src2} (stage 2)'
        converted = _prefixed(out1, AGR_PREFIX)
        converted.update(_prefixed(out2, STAGE2_PREFIX))
        info = dict(layout=f'stage1: {info1["layout"]}, stage2: {info2["layout"]}',
                    dropped=[AGR_PREFIX + k for k in info1['dropped']] +
                    [STAGE2_PREFIX + k for k in info2['dropped']],
                    unknown=[AGR_PREFIX + k for k in info1['unknown']] +
                    [STAGE2_PREFIX + k for k in info2['unknown']])
    converted = _fill_stage1(model, converted, info)
    model.load_state_dict(fit_state_dict(model, converted, source, info['unknown']),
                          strict=True)
    return info
