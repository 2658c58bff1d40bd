"""VirtualPose root depth estimator (DE): a full-resolution ResNet over AGR heatmaps.

Architecture (wkom/VirtualPose ``posedet_resnet.PoseDetResNet`` with ``keep_scale``):
``backbone``, MMPose's registered ``ResNet`` (``mmpose.models.backbones.ResNet``, whose
parameter names — ``conv1``, ``bn1``, ``layer1..4`` with ``layerN.M.conv1/bn1/...`` and
``downsample.0/1`` — are torchvision's) with a **stride-1** 7×7 stem and no max-pool, so
the 3 stride-2 stages take the input to 1/8; then 3 deconvolutions (k4, s2, p1, no bias) +
BN + ReLU bring it back to the input resolution; the ``depth`` head is
Conv3×3(256→256, bias) → ReLU → Conv1×1(256→1, bias). The output is the root depth divided
by the sample's ``depth_norm_factor`` (see :class:`VirtualPoseRootNet`).

State dicts: ``backbone.{conv1, bn1, layer1..4}.*``, ``deconv_layers.*``, ``depth.*``.
State dicts of the earlier layout (the ResNet's modules directly on this module, as
torchvision's ``conv1``, ``bn1``, ``layer1..4``, the reference's layout too) are renamed on
loading (:meth:`VirtualPoseDepthNet._load_from_state_dict`,
:func:`legacy_depth_net_key`), so old checkpoints still load.

The reference also computes a ``bbox`` head and a joint ``final_layer`` that the stage-2
model never uses; they are not built here (the checkpoint converter drops their weights),
so no parameter is left without gradient (DDP-friendly).

Flip augmentation (``flip_train``): in training, with probability 0.5 per batch the input
is mirrored left-right, the network runs, and its output is mirrored back. The reference
(``TRAIN.FLIP``) mirrors the heatmaps *without* exchanging the left/right joint channels,
so the network sees a person whose left joints are drawn on its right side;
``flip_swap_channels=True`` (default) exchanges the channel pairs ``flip_pairs`` as a
mirror image requires, ``False`` reproduces the reference. (The reference's test-time flip
averages only its unused ``pose`` output, so it cannot change the depth and is not built.)
``flip_test=True`` (an addition of this package; default False) averages, in eval mode,
the depth map with the one of the mirrored input mirrored back, as MMPose's flip test
does for heatmaps; it suits a network trained with ``flip_train`` (and
``flip_swap_channels``).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule, initialize

from virtualpose_mm.registry import MODELS

_DEPTHS = (18, 34, 50, 101, 152)

#: The ResNet's top-level modules; in the earlier layout they sat on the DE itself.
BACKBONE_MODULES = ('conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4')


def legacy_depth_net_key(name: str) -> str:
    """A DE parameter name of the earlier / torchvision layout (``conv1.weight``,
    ``layer1.0.bn1.bias``, ...) → the current one (``backbone.conv1.weight``, ...); other
    names are returned unchanged."""
    return 'backbone.' + name if name.split('.', 1)[0] in BACKBONE_MODULES else name


# left/right pairs among the DE's 9 input channels: the joints [0, 1, 2, 3, 6, 7, 9, 12, 13]
# of the 17-joint order, i.e. (l-sho, r-sho), (l-hip, r-hip), (l-knee, r-knee)
DEFAULT_FLIP_PAIRS = ((3, 6), (4, 7), (5, 8))


@MODELS.register_module()
class VirtualPoseDepthNet(BaseModule):
    """Dense root-depth regression from AGR heatmaps.

    Args:
        in_channels: input heatmap channels (reference: 9 selected joints).
        depth: ResNet depth (18, 34, 50, 101, 152; reference 18).
        base_channels: channels of the ResNet's first stage, doubled at each later stage
            (reference 64; 32 has a quarter of the weights, for small checkpoints).
        deconv_channels: output channels of the deconvolutions (reference 3 × 256).
        deconv_kernels: their kernel sizes (4, 3 or 2; reference 4).
        head_channels: channels of the 3×3 head conv (reference 256).
        flip_train: random left-right flip of the input in training (reference True
            in its configs; applied per batch with probability 0.5).
        flip_swap_channels: exchange ``flip_pairs`` when flipping (module docstring).
        flip_pairs: left/right channel index pairs of the input.
        flip_test: in eval mode, average with the mirrored input's output (module
            docstring).
        init_cfg: mmengine init config. By default the ResNet is initialised when built
            as torchvision's is (convs Kaiming-normal fan_out / ReLU, BN (1, 0), no
            zero-initialised residual BN); ``init_weights`` makes the deconvolutions and
            the last head conv N(0, 0.001) with zero bias and their BN (1, 0) — the
            SimpleBaseline recipe.

    Shapes:
        input (B, C_in, H, W) → output (B, 1, H, W) (for H, W divisible by 8).
    """

    def __init__(self, in_channels: int = 9, depth: int = 18, base_channels: int = 64,
                 deconv_channels: Sequence[int] = (256, 256, 256),
                 deconv_kernels: Sequence[int] = (4, 4, 4), head_channels: int = 256,
                 flip_train: bool = False, flip_swap_channels: bool = True,
                 flip_pairs: Sequence[Tuple[int, int]] = DEFAULT_FLIP_PAIRS,
                 flip_test: bool = False, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if depth not in _DEPTHS:
            raise ValueError(f'VirtualPoseDepthNet: depth must be one of {list(_DEPTHS)}, '
                             f'got {depth}')
        if len(deconv_channels) != len(deconv_kernels):
            raise ValueError('VirtualPoseDepthNet: deconv_channels and deconv_kernels must have '
                             f'the same length, got {deconv_channels} and {deconv_kernels}')
        self.in_channels = in_channels
        self.flip_train = bool(flip_train)
        self.flip_swap_channels = bool(flip_swap_channels)
        self.flip_test = bool(flip_test)
        self.flip_pairs = tuple(tuple(p) for p in flip_pairs)
        for a, b in self.flip_pairs:
            if not (0 <= a < in_channels and 0 <= b < in_channels):
                raise ValueError(f'VirtualPoseDepthNet: flip pair {(a, b)} is outside the '
                                 f'{in_channels} input channels')

        self.backbone = MODELS.build(dict(
            type='ResNet', depth=depth, in_channels=in_channels, out_indices=(3, ),
            stem_channels=int(base_channels), base_channels=int(base_channels),
            zero_init_residual=False,
            init_cfg=[dict(type='Kaiming', layer='Conv2d', mode='fan_out',
                           nonlinearity='relu'),
                      dict(type='Constant', val=1, bias=0, layer=['_BatchNorm'])]))
        # stride-1 stem, no max-pool: the output keeps the input resolution
        self.backbone.conv1.stride = (1, 1)
        self.backbone.maxpool = nn.Identity()
        # initialised when built, as torchvision's ResNet was (a DE used without
        # init_weights() is the same kind of network as before); init_weights() redraws it
        initialize(self.backbone, self.backbone.init_cfg)
        inplanes = self.backbone.feat_dim

        layers = []
        for ch, k in zip(deconv_channels, deconv_kernels):
            pad, out_pad = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[int(k)]
            layers += [nn.ConvTranspose2d(inplanes, ch, int(k), stride=2, padding=pad,
                                          output_padding=out_pad, bias=False),
                       nn.BatchNorm2d(ch), nn.ReLU(inplace=True)]
            inplanes = ch
        self.deconv_layers = nn.Sequential(*layers)
        self.depth = nn.Sequential(
            nn.Conv2d(inplanes, head_channels, 3, padding=1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(head_channels, 1, 1, bias=True))

    def init_weights(self):
        super().init_weights()
        if self.init_cfg is not None:
            return
        for m in self.deconv_layers.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        nn.init.normal_(self.depth[2].weight, std=0.001)
        nn.init.constant_(self.depth[2].bias, 0)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        # the earlier layout (ResNet modules directly on the DE, torchvision names): rename
        # ``prefix + conv1.*`` → ``prefix + backbone.conv1.*`` etc. before the children load
        for key in [k for k in state_dict if k.startswith(prefix)]:
            new = prefix + legacy_depth_net_key(key[len(prefix):])
            if new != key:
                if new in state_dict:
                    error_msgs.append(f'{key} and {new} both in the state dict (the old and '
                                      'the new layout of the VirtualPose depth net)')
                    continue
                state_dict[new] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward_once(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) → (B, 1, H, W), no augmentation."""
        x = self.backbone(x)[-1]
        return self.depth(self.deconv_layers(x))

    def flipped_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mirror the input (and, with ``flip_swap_channels``, exchange the left/right
        channels), run the network and mirror the output back. (B, C, H, W) → (B, 1, H, W)."""
        x = torch.flip(x, dims=[-1])
        if self.flip_swap_channels and self.flip_pairs:
            perm = list(range(x.shape[1]))
            for a, b in self.flip_pairs:
                perm[a], perm[b] = b, a
            x = x[:, perm]
        return torch.flip(self.forward_once(x), dims=[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) heatmaps → (B, 1, H, W) normalised root depth."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'VirtualPoseDepthNet expects (B, {self.in_channels}, H, W) '
                             f'input, got {tuple(x.shape)}')
        if self.training and self.flip_train and bool(torch.rand(()) < 0.5):
            return self.flipped_forward(x)
        if self.flip_test and not self.training:
            return 0.5 * (self.forward_once(x) + self.flipped_forward(x))
        return self.forward_once(x)
