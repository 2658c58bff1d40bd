"""VirtualPose root depth estimator (DE): a full-resolution ResNet over AGR heatmaps.

Architecture (wkom/VirtualPose ``posedet_resnet.PoseDetResNet`` with ``keep_scale``):
ResNet (torchvision layer names: ``conv1``, ``bn1``, ``layer1..4``) with a **stride-1** 7×7
stem and no max-pool, so the 3 stride-2 stages take the input to 1/8; then 3 deconvolutions
(k4, s2, p1, no bias) + BN + ReLU bring it back to the input resolution; the ``depth`` head
is Conv3×3(256→256, bias) → ReLU → Conv1×1(256→1, bias). The output is the root depth
divided by the sample's ``depth_norm_factor`` (see :class:`VirtualPoseRootNet`).

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
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torchvision
from mmengine.model import BaseModule

from virtualpose_mm.registry import MODELS

_RESNETS = {18: 'resnet18', 34: 'resnet34', 50: 'resnet50', 101: 'resnet101',
            152: 'resnet152'}

# left/right pairs among the DE's 9 input channels: the joints [0, 1, 2, 3, 6, 7, 9, 12, 13]
# of the 17-joint order, i.e. (l-sho, r-sho), (l-hip, r-hip), (l-knee, r-knee)
DEFAULT_FLIP_PAIRS = ((3, 6), (4, 7), (5, 8))


@MODELS.register_module()
class VirtualPoseDepthNet(BaseModule):
    """Dense root-depth regression from AGR heatmaps.

    Args:
        in_channels: input heatmap channels (reference: 9 selected joints).
        depth: ResNet depth (18, 34, 50, 101, 152; reference 18).
        deconv_channels: output channels of the deconvolutions (reference 3 × 256).
        deconv_kernels: their kernel sizes (4, 3 or 2; reference 4).
        head_channels: channels of the 3×3 head conv (reference 256).
        flip_train: random left-right flip of the input in training (reference True
            in its configs; applied per batch with probability 0.5).
        flip_swap_channels: exchange ``flip_pairs`` when flipping (module docstring).
        flip_pairs: left/right channel index pairs of the input.
        init_cfg: mmengine init config. By default the ResNet keeps torchvision's
            initialisation, deconvolutions and the last head conv are N(0, 0.001) with zero
            bias, BN is (1, 0) — the SimpleBaseline recipe.

    Shapes:
        input (B, C_in, H, W) → output (B, 1, H, W) (for H, W divisible by 8).
    """

    def __init__(self, in_channels: int = 9, depth: int = 18,
                 deconv_channels: Sequence[int] = (256, 256, 256),
                 deconv_kernels: Sequence[int] = (4, 4, 4), head_channels: int = 256,
                 flip_train: bool = False, flip_swap_channels: bool = True,
                 flip_pairs: Sequence[Tuple[int, int]] = DEFAULT_FLIP_PAIRS,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if depth not in _RESNETS:
            raise ValueError(f'VirtualPoseDepthNet: depth must be one of {sorted(_RESNETS)}, '
                             f'got {depth}')
        if len(deconv_channels) != len(deconv_kernels):
            raise ValueError('VirtualPoseDepthNet: deconv_channels and deconv_kernels must have '
                             f'the same length, got {deconv_channels} and {deconv_kernels}')
        self.in_channels = in_channels
        self.flip_train = bool(flip_train)
        self.flip_swap_channels = bool(flip_swap_channels)
        self.flip_pairs = tuple(tuple(p) for p in flip_pairs)
        for a, b in self.flip_pairs:
            if not (0 <= a < in_channels and 0 <= b < in_channels):
                raise ValueError(f'VirtualPoseDepthNet: flip pair {(a, b)} is outside the '
                                 f'{in_channels} input channels')

        resnet = getattr(torchvision.models, _RESNETS[depth])(weights=None)
        # stride-1 stem, no max-pool: the output keeps the input resolution
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=1, padding=3, bias=False)
        self.bn1 = resnet.bn1
        self.relu = nn.ReLU(inplace=True)
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4
        inplanes = resnet.fc.in_features
        del resnet

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

    def forward_once(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) → (B, 1, H, W), no augmentation."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
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
        return self.forward_once(x)
