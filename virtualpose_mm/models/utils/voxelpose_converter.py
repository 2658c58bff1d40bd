"""Convert VoxelPose checkpoints of other code bases into :class:`VoxelPose` state dicts.

Two source layouts are recognised from their keys:

* **voxelpose-pytorch** (``microsoft/voxelpose-pytorch``): ``root_net.v2v_net.*``,
  ``pose_net.v2v_net.*`` and, with a 2D network, ``backbone.*`` (PoseResNet:
  ``conv1 bn1 layer1..4`` and ``deconv_layers final_layer``). Its V2V blocks are plain
  ``nn.Sequential``; MMPose's ``V2VNet`` uses ``ConvModule``:

  - ``Basic3DBlock`` (``front_layers.0``): ``block.0`` / ``block.1`` → ``block.conv`` /
    ``block.bn``;
  - ``Res3DBlock``: ``res_branch.0, .1, .3, .4`` → ``res_branch.0.conv, .0.bn, .1.conv,
    .1.bn``; ``skip_con.0, .1`` → ``skip_con.conv, .bn``;
  - ``Upsample3DBlock`` and ``output_layer`` keep their names.

* **MMPose 0.x** ``DetectAndRegress``: ``human_detector.center_net.*`` (V2V, already
  ``ConvModule``), ``human_detector.center_head.{grid_size, cube_size, grid_center}``
  (the capture space, checked against the config), ``pose_regressor.pose_net.*`` and
  ``backbone.backbone.*`` / ``backbone.keypoint_head.*`` (the 2D TopDown model).

Our layout: ``root_net.v2v_net.*``, ``pose_net.v2v_net.*``, ``backbone.*`` (mmpose
``ResNet``), ``head_2d.*`` (mmpose ``HeatmapHead``: ``deconv_layers.*``, ``final_layer.*``),
plus the ``_extra_state`` entries that record the capture space and cube.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from .geometry_state import decode_geometry_state
from .state_dict_mapping import (CheckpointError, fit_state_dict,  # noqa: F401
                                 optional_2d_net, read_weights_only, rename_state_dict,
                                 unwrap_checkpoint)

REFERENCE = 'voxelpose-pytorch'
MMPOSE0X = 'mmpose-0.x'
OURS = 'virtualpose_mm'

_RES_BRANCH = {'0': '0.conv', '1': '0.bn', '3': '1.conv', '4': '1.bn'}
_SKIP = {'0': 'conv', '1': 'bn'}
_BACKBONE_2D = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.', 'layer4.')
_HEAD_2D = ('deconv_layers.', 'final_layer.')
_SPACE_FIELDS = ('space_size', 'space_center', 'space_shape')


def reference_v2v_key(key: str) -> str:
    """Rename one key *inside* a reference V2V net (``nn.Sequential`` → ``ConvModule``).

    >>> reference_v2v_key('front_layers.1.res_branch.3.weight')
    'front_layers.1.res_branch.1.conv.weight'
    """
    m = re.fullmatch(r'front_layers\.0\.block\.([01])\.(.+)', key)
    if m:
        return f'front_layers.0.block.{"conv" if m.group(1) == "0" else "bn"}.{m.group(2)}'
    m = re.fullmatch(r'(.+)\.res_branch\.(\d+)\.(.+)', key)
    if m:
        if m.group(2) not in _RES_BRANCH:
            return key  # left as is: reported as unexpected later
        return f'{m.group(1)}.res_branch.{_RES_BRANCH[m.group(2)]}.{m.group(3)}'
    m = re.fullmatch(r'(.+)\.skip_con\.(\d+)\.(.+)', key)
    if m and m.group(2) in _SKIP:
        return f'{m.group(1)}.skip_con.{_SKIP[m.group(2)]}.{m.group(3)}'
    return key


def detect_layout(sd: Dict[str, torch.Tensor]) -> str:
    """Which code base a state dict comes from (see the module docstring)."""
    keys = list(sd)
    if any(k.startswith('human_detector.') or k.startswith('pose_regressor.') for k in keys):
        return MMPOSE0X
    if any(k.endswith('_extra_state') for k in keys) or \
            any(k.startswith('head_2d.') for k in keys):
        return OURS
    if any(k.startswith('root_net.v2v_net.') for k in keys):
        # ours and the reference share the prefix; the reference uses Sequential indices
        ref = re.compile(r'(\.res_branch\.\d+|\.skip_con\.\d+|front_layers\.0\.block\.\d+)'
                         r'\.(weight|bias|running_mean|running_var|num_batches_tracked)$')
        if any(ref.search(k) for k in keys):
            return REFERENCE
        return OURS
    raise CheckpointError('not a VoxelPose checkpoint: no root_net.v2v_net.* (voxelpose-pytorch'
                          ') or human_detector.center_net.* (MMPose 0.x) keys; first keys: '
                          f'{keys[:5]}')


def _space_from_0x(sd) -> Optional[dict]:
    names = ('grid_size', 'cube_size', 'grid_center')
    vals = {n: sd.get(f'human_detector.center_head.{n}') for n in names}
    if all(v is None for v in vals.values()):
        return None
    missing = [n for n, v in vals.items() if v is None]
    if missing:
        raise CheckpointError(f'MMPose-0.x checkpoint: human_detector.center_head is missing '
                              f'{missing}')
    return dict(space_size=[float(x) for x in vals['grid_size'].reshape(-1).tolist()],
                space_center=[float(x) for x in vals['grid_center'].reshape(-1).tolist()],
                space_shape=[int(x) for x in vals['cube_size'].reshape(-1).tolist()])


def _v2v(prefix: str):
    return lambda rest: prefix + reference_v2v_key(rest)


#: Key rules of each foreign layout (:func:`~.state_dict_mapping.rename_state_dict`).
_RULES = {
    REFERENCE: [
        ('root_net.v2v_net.', _v2v('root_net.v2v_net.')),
        ('pose_net.v2v_net.', _v2v('pose_net.v2v_net.')),
        *[(f'backbone.{p}', f'backbone.{p}') for p in _BACKBONE_2D],
        *[(f'backbone.{p}', f'head_2d.{p}') for p in _HEAD_2D],
    ],
    MMPOSE0X: [
        ('human_detector.center_net.', 'root_net.v2v_net.'),
        ('human_detector.center_head.', None),  # the space buffers, checked separately
        ('pose_regressor.pose_net.', 'pose_net.v2v_net.'),
        ('backbone.backbone.', 'backbone.'),
        ('backbone.keypoint_head.', 'head_2d.'),
    ],
}


def convert_voxelpose_state_dict(state_dict: Dict[str, torch.Tensor],
                                 layout: Optional[str] = None
                                 ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Rename a foreign VoxelPose state dict into our key layout.

    Args:
        state_dict: the source state dict (or a checkpoint dict holding one).
        layout: ``'voxelpose-pytorch'``, ``'mmpose-0.x'`` or None to detect.

    Returns:
        (converted state dict, info) where info has ``layout``, ``space`` (the capture
        space stored in the checkpoint, MMPose 0.x only, else None) and ``unknown`` (source
        keys that could not be placed).
    """
    sd = unwrap_checkpoint(state_dict)
    layout = layout or detect_layout(sd)
    space = None
    if layout == OURS:
        extra = sd.get('root_net._extra_state')
        if extra is not None:
            try:
                space = decode_geometry_state(extra, _SPACE_FIELDS)
            except ValueError as e:
                raise CheckpointError(f'root_net._extra_state: {e}') from None
        return OrderedDict(sd), dict(layout=layout, space=space, unknown=[])
    if layout not in _RULES:
        raise CheckpointError(f'unknown checkpoint layout {layout!r}')
    if layout == MMPOSE0X:
        space = _space_from_0x(sd)
    out, info = rename_state_dict(sd, _RULES[layout])
    return out, dict(layout=layout, space=space, unknown=info['unknown'])


def check_space(model, space: Optional[dict], source: str = 'checkpoint') -> None:
    """Raise if a checkpoint's stored capture space differs from the model's."""
    if space is None:
        return
    mine = model.root_net.space_dict()
    diffs = [f'{k}: {source} {space[k]} vs config {mine[k]}' for k in mine
             if [float(x) for x in space[k]] != [float(x) for x in mine[k]]]
    if diffs:
        raise CheckpointError(f'{source}: the capture space stored in the checkpoint differs '
                              'from the config (' + '; '.join(diffs) + '). Use a config with '
                              'the checkpoint\'s space.')


def match_state_dict(model, converted: Dict[str, torch.Tensor], source: str = 'checkpoint',
                     info: Optional[dict] = None, drop_2d: bool = False
                     ) -> Dict[str, torch.Tensor]:
    """Check a converted state dict against ``model`` key by key
    (:func:`~virtualpose_mm.models.utils.state_dict_mapping.fit_state_dict`: every problem
    in ONE :class:`CheckpointError`; ``_extra_state`` filled in from the model).

    Args:
        drop_2d: ignore ``backbone.*`` / ``head_2d.*`` weights in the checkpoint when the
            model has no 2D network (heatmap input).
    Returns:
        The state dict to load (float tensors cast to the model's dtypes).
    """
    converted, hint = optional_2d_net(model, converted, drop_2d, 'drop_2d=True / --drop-2d')
    return fit_state_dict(model, converted, source, (info or {}).get('unknown') or (),
                          hint)


def load_voxelpose_checkpoint(model, checkpoint, drop_2d: bool = False,
                              map_location='cpu') -> dict:
    """Load a voxelpose-pytorch, MMPose-0.x or own VoxelPose checkpoint into ``model``.

    Args:
        model: a :class:`VoxelPose`.
        checkpoint: a path (loaded with ``torch.load(weights_only=True)``) or a loaded
            dict / state dict.
        drop_2d: see :func:`match_state_dict`.

    Returns:
        info dict (``layout``, ``space``).

    Raises:
        CheckpointError: unknown, missing or mis-shaped keys (all listed), or a stored
            capture space that differs from the model's.
    """
    checkpoint, source = read_weights_only(checkpoint, map_location)
    converted, info = convert_voxelpose_state_dict(checkpoint)
    check_space(model, info['space'], source)
    sd = match_state_dict(model, converted, source, info, drop_2d=drop_2d)
    model.load_state_dict(sd, strict=True)
    return info
