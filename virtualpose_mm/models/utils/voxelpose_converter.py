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

REFERENCE = 'voxelpose-pytorch'
MMPOSE0X = 'mmpose-0.x'
OURS = 'virtualpose_mm'

_RES_BRANCH = {'0': '0.conv', '1': '0.bn', '3': '1.conv', '4': '1.bn'}
_SKIP = {'0': 'conv', '1': 'bn'}
_BACKBONE_2D = ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.', 'layer4.')
_HEAD_2D = ('deconv_layers.', 'final_layer.')
_SPACE_FIELDS = ('space_size', 'space_center', 'space_shape')


class CheckpointError(ValueError):
    """A checkpoint does not fit the model; the message lists what is wrong."""


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
    out: Dict[str, torch.Tensor] = OrderedDict()
    unknown = []
    space = None
    if layout == OURS:
        extra = sd.get('root_net._extra_state')
        if extra is not None:
            try:
                space = decode_geometry_state(extra, _SPACE_FIELDS)
            except ValueError as e:
                raise CheckpointError(f'root_net._extra_state: {e}') from None
        return OrderedDict(sd), dict(layout=layout, space=space, unknown=[])
    if layout == REFERENCE:
        for k, v in sd.items():
            if k.startswith('root_net.v2v_net.') or k.startswith('pose_net.v2v_net.'):
                head, rest = k.split('.v2v_net.', 1)
                out[f'{head}.v2v_net.{reference_v2v_key(rest)}'] = v
            elif k.startswith('backbone.'):
                rest = k[len('backbone.'):]
                if rest.startswith(_BACKBONE_2D):
                    out[f'backbone.{rest}'] = v
                elif rest.startswith(_HEAD_2D):
                    out[f'head_2d.{rest}'] = v
                else:
                    unknown.append(k)
            else:
                unknown.append(k)
    elif layout == MMPOSE0X:
        space = _space_from_0x(sd)
        for k, v in sd.items():
            if k.startswith('human_detector.center_net.'):
                out['root_net.v2v_net.' + k[len('human_detector.center_net.'):]] = v
            elif k.startswith('human_detector.center_head.'):
                continue  # the space buffers, checked separately
            elif k.startswith('pose_regressor.pose_net.'):
                out['pose_net.v2v_net.' + k[len('pose_regressor.pose_net.'):]] = v
            elif k.startswith('backbone.backbone.'):
                out['backbone.' + k[len('backbone.backbone.'):]] = v
            elif k.startswith('backbone.keypoint_head.'):
                out['head_2d.' + k[len('backbone.keypoint_head.'):]] = v
            else:
                unknown.append(k)
    else:
        raise CheckpointError(f'unknown checkpoint layout {layout!r}')
    return out, dict(layout=layout, space=space, unknown=unknown)


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
    """Check a converted state dict against ``model`` key by key.

    Unknown keys, keys the model lacks, missing keys and shape mismatches are all collected
    into ONE :class:`CheckpointError`. The model's ``_extra_state`` entries (capture space,
    cube) are filled in from the model when the checkpoint has none.

    Args:
        drop_2d: ignore ``backbone.*`` / ``head_2d.*`` weights in the checkpoint when the
            model has no 2D network (heatmap input).
    Returns:
        The state dict to load (float tensors cast to the model's dtypes).
    """
    target = model.state_dict()
    converted = OrderedDict(converted)
    if drop_2d and getattr(model, 'backbone', None) is None:
        for k in [k for k in converted if k.startswith(('backbone.', 'head_2d.'))]:
            converted.pop(k)
    for k, v in target.items():
        if k.endswith('_extra_state') and k not in converted:
            converted[k] = v
    problems = []
    if info and info.get('unknown'):
        problems.append(f'unrecognised keys in the source: {sorted(info["unknown"])}')
    unexpected = sorted(k for k in converted if k not in target)
    if unexpected:
        hint = ''
        if any(k.startswith(('backbone.', 'head_2d.')) for k in unexpected) and \
                getattr(model, 'backbone', None) is None:
            hint = (' (the checkpoint holds a 2D network but the model takes heatmaps; '
                    'pass drop_2d=True / --drop-2d to ignore it)')
        problems.append(f'keys the model does not have: {unexpected}{hint}')
    missing = sorted(k for k in target if k not in converted)
    if missing:
        problems.append(f'model keys missing from the checkpoint: {missing}')
    shapes = []
    out = OrderedDict()
    for k, v in converted.items():
        if k not in target:
            continue
        t = target[k]
        if isinstance(t, torch.Tensor):
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(t.shape):
                shapes.append(f'{k}: checkpoint {tuple(getattr(v, "shape", ()))} vs model '
                              f'{tuple(t.shape)}')
                continue
            v = v.to(t.dtype) if v.is_floating_point() else v
        out[k] = v
    if shapes:
        problems.append('shape mismatches: ' + '; '.join(shapes))
    if problems:
        raise CheckpointError(f'{source} does not fit the model:\n  - ' + '\n  - '.join(problems))
    return out


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
    source = checkpoint if isinstance(checkpoint, str) else 'checkpoint'
    if isinstance(checkpoint, str):
        try:
            checkpoint = torch.load(checkpoint, map_location=map_location, weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise CheckpointError(f'{source}: cannot be read as a weights-only checkpoint '
                                  f'({e})') from None
    converted, info = convert_voxelpose_state_dict(checkpoint)
    check_space(model, info['space'], source)
    sd = match_state_dict(model, converted, source, info, drop_2d=drop_2d)
    model.load_state_dict(sd, strict=True)
    return info
