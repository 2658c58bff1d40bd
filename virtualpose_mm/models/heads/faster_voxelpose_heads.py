"""Faster-VoxelPose's two networks (Ye et al., ECCV 2022; reference AlvinYH/Faster-VoxelPose).

* :class:`FasterVoxelPoseDetector` — the human detection net (HDN): the K joint heatmaps
  of all views are projected into the voxel grid of the capture space (the shared
  :class:`~virtualpose_mm.models.layers.VoxelProjector` maths, whole-space grid cached per
  rig); the volume is max-pooled along z to a top view; a 2D CNN
  (:class:`TopViewCenterNet`) gives a top-view centre heatmap and a box size (x, y) per
  cell; 2D NMS + top-k picks ``max_people`` cells; for each, the volume column above it
  goes through a 1D CNN (:class:`HeightNet`) whose arg-max is the height. Score =
  top-view value × height value.
* :class:`FasterVoxelPoseJointNet` — the joint localisation net (JLN): for every usable
  proposal, a cube (``cube_size`` mm, ``cube_shape`` voxels) around it is cut out of a
  fine grid of the whole space (so its z extent is clipped to the space), voxels outside
  the predicted box are zeroed, and the cube is max-projected onto the xy, xz and yz
  planes. A shared 2D CNN (:class:`PlaneNet`) maps each plane's K channels to K joint
  maps; a soft-argmax per (plane, joint) gives two coordinates; a small weight net
  (:class:`FusionWeightNet`) scores every map, and each 3D coordinate is the weighted mean
  of the two planes that contain it. Confidence = mean over planes and joints of the
  largest softmax probability.

All usable proposals of all samples go through the JLN's networks in ONE call (the
reference loops over samples and, inside the cube sampling, over proposals). The cube
sampling positions come from a cached projection of the fine grid of the whole space
(one per rig), gathered for the voxels inside each proposal's window.

The 2D/1D encoder-decoders have the layout of MMPose's ``V2VNet`` in 2D/1D (``ConvModule``
blocks), so the reference weights map onto them with the usual renames
(:mod:`~virtualpose_mm.models.utils.faster_voxelpose_converter`).
"""
from __future__ import annotations

import copy
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.utils import _pair
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights

from virtualpose_mm.engine.config_checks import reject_unresolved
from virtualpose_mm.registry import MODELS
from virtualpose_mm.models.utils.loss_weights import merge_loss_weights
from ..layers import (SamplingGrid, SamplingGridCache, VoxelProjector, match_to_gt,
                      sample_and_average, sample_views, voxel_grid)
from ..utils.geometry_state import GeometryStateMixin
from .voxel_center_net import _check_space


# ============================================================================ building blocks
def _cfgs(dim: int) -> Tuple[dict, dict]:
    if dim not in (1, 2):
        raise ValueError(f'dim must be 1 or 2, got {dim}')
    return dict(type=f'Conv{dim}d'), dict(type=f'BN{dim}d')


class _BasicBlock(nn.Module):
    """Conv (k) + BN + ReLU (``block.conv``, ``block.bn``)."""

    def __init__(self, dim, cin, cout, k):
        super().__init__()
        conv, norm = _cfgs(dim)
        self.block = ConvModule(cin, cout, k, stride=1, padding=(k - 1) // 2, conv_cfg=conv,
                                norm_cfg=norm, bias=True)

    def forward(self, x):
        return self.block(x)


class _ResBlock(nn.Module):
    """Two conv3+BN (ReLU between) plus an identity or conv1+BN skip, then ReLU."""

    def __init__(self, dim, cin, cout):
        super().__init__()
        conv, norm = _cfgs(dim)
        self.res_branch = nn.Sequential(
            ConvModule(cin, cout, 3, stride=1, padding=1, conv_cfg=conv, norm_cfg=norm,
                       bias=True),
            ConvModule(cout, cout, 3, stride=1, padding=1, conv_cfg=conv, norm_cfg=norm,
                       act_cfg=None, bias=True))
        self.skip_con = nn.Sequential() if cin == cout else ConvModule(
            cin, cout, 1, stride=1, padding=0, conv_cfg=conv, norm_cfg=norm, act_cfg=None,
            bias=True)

    def forward(self, x):
        return F.relu(self.res_branch(x) + self.skip_con(x), True)


class _Upsample(nn.Module):
    """Transposed conv (k 2, s 2) + BN + ReLU (``block.0``, ``block.1``)."""

    def __init__(self, dim, cin, cout):
        super().__init__()
        tconv = nn.ConvTranspose1d if dim == 1 else nn.ConvTranspose2d
        bn = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
        self.block = nn.Sequential(tconv(cin, cout, kernel_size=2, stride=2), bn(cout),
                                   nn.ReLU(True))

    def forward(self, x):
        return self.block(x)


class _EncoderDecoder(nn.Module):
    """The V2V encoder-decoder in 1D/2D: two pool+res levels, a middle res block, two
    upsampling levels with res-block skips (channels c, 2c, 4c)."""

    def __init__(self, dim, c):
        super().__init__()
        self.dim = dim
        self.encoder_res1 = _ResBlock(dim, c, 2 * c)
        self.encoder_res2 = _ResBlock(dim, 2 * c, 4 * c)
        self.mid_res = _ResBlock(dim, 4 * c, 4 * c)
        self.decoder_res2 = _ResBlock(dim, 4 * c, 4 * c)
        self.decoder_upsample2 = _Upsample(dim, 4 * c, 2 * c)
        self.decoder_res1 = _ResBlock(dim, 2 * c, 2 * c)
        self.decoder_upsample1 = _Upsample(dim, 2 * c, c)
        self.skip_res1 = _ResBlock(dim, c, c)
        self.skip_res2 = _ResBlock(dim, 2 * c, 2 * c)

    def _pool(self, x):
        return F.max_pool1d(x, 2, 2) if self.dim == 1 else F.max_pool2d(x, 2, 2)

    def forward(self, x):
        skip1 = self.skip_res1(x)
        x = self.encoder_res1(self._pool(x))
        skip2 = self.skip_res2(x)
        x = self.encoder_res2(self._pool(x))
        x = self.decoder_res2(self.mid_res(x))
        x = self.decoder_upsample2(x) + skip2
        x = self.decoder_upsample1(self.decoder_res1(x)) + skip1
        return x


class _Trunk(BaseModule):
    """``front_layers`` (conv7 in→c/2, res c/2→c) + ``encoder_decoder``; every (transposed)
    conv initialised N(0, 0.001²) with zero bias, BN γ = 1, β = 0 (the reference init, also
    re-applied by :meth:`init_weights` so that the runner's initialisation keeps it)."""

    def __init__(self, dim: int, in_channels: int, mid_channels: int = 32):
        super().__init__()
        if mid_channels % 2:
            raise ValueError(f'mid_channels must be even, got {mid_channels}')
        self.dim = dim
        self.front_layers = nn.Sequential(_BasicBlock(dim, in_channels, mid_channels // 2, 7),
                                          _ResBlock(dim, mid_channels // 2, mid_channels))
        self.encoder_decoder = _EncoderDecoder(dim, mid_channels)

    def trunk(self, x):
        return self.encoder_decoder(self.front_layers(x))

    def reset_reference_init(self) -> None:
        convs = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
        for m in self.modules():
            if isinstance(m, convs):
                nn.init.normal_(m.weight, 0, 0.001)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def init_weights(self):
        super().init_weights()
        self.reset_reference_init()


class TopViewCenterNet(_Trunk):
    """HDN top-view 2D CNN: (B, K, X, Y) → centre heatmap (B, 1, X, Y) and box size
    (B, 2, X, Y) (``output_hm``, ``output_size``: conv3 → ReLU → conv1)."""

    def __init__(self, in_channels: int, mid_channels: int = 32, head_channels: int = 32):
        super().__init__(2, in_channels, mid_channels)
        self.output_hm = nn.Sequential(
            nn.Conv2d(mid_channels, head_channels, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(head_channels, 1, 1))
        self.output_size = nn.Sequential(
            nn.Conv2d(mid_channels, head_channels, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(head_channels, 2, 1))
        self.reset_reference_init()

    def forward(self, x):
        x = self.trunk(x)
        return self.output_hm(x), self.output_size(x)


class HeightNet(_Trunk):
    """HDN 1D CNN over a volume column: (N, K, Z) → (N, 1, Z) (``output_hm`` conv1)."""

    def __init__(self, in_channels: int, mid_channels: int = 32):
        super().__init__(1, in_channels, mid_channels)
        self.output_hm = nn.Conv1d(mid_channels, 1, 1)
        self.reset_reference_init()

    def forward(self, x):
        return self.output_hm(self.trunk(x))


class PlaneNet(_Trunk):
    """JLN 2D CNN shared by the three planes: (N, K, a, b) → (N, K, a, b)."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int = 32):
        super().__init__(2, in_channels, mid_channels)
        self.output_layer = nn.Conv2d(mid_channels, out_channels, 1)
        self.reset_reference_init()

    def forward(self, x):
        return self.output_layer(self.trunk(x))


class FusionWeightNet(BaseModule):
    """JLN weight net: one weight in (0, 1) per joint map.

    (N, K, a, b) → every map alone: conv3 (1 → C) + BN + max-pool 2 + ReLU, global average
    pool, Linear (C → H) + ReLU + Linear (H → 1) + sigmoid → (N, K, 1). In eval mode the
    maps go through the feature layer ``eval_chunk_maps`` at a time (same numbers).

    Args:
        feat_channels: C (reference ``NUM_CHANNEL_JOINT_FEAT`` 32).
        hidden_channels: H (reference ``NUM_CHANNEL_JOINT_HIDDEN`` 64).
        reference_init: keep PyTorch's default initialisation. The reference defines
            ``_initialize_weights`` (N(0, 0.001²), zero bias) but never calls it; the
            default (False) calls it, as intended.
    """

    def __init__(self, feat_channels: int = 32, hidden_channels: int = 64,
                 reference_init: bool = False):
        super().__init__()
        self.reference_init = bool(reference_init)
        self.heatmap_feature_net = nn.Sequential(
            nn.Conv2d(1, feat_channels, 3, stride=1, padding=1), nn.BatchNorm2d(feat_channels),
            nn.MaxPool2d(2), nn.ReLU(True))
        self.output = nn.Sequential(nn.Linear(feat_channels, hidden_channels), nn.ReLU(True),
                                    nn.Linear(hidden_channels, 1), nn.Sigmoid())
        self.reset_intended_init()

    def reset_intended_init(self) -> None:
        if self.reference_init:
            return
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0, 0.001)
                nn.init.constant_(m.bias, 0)

    def init_weights(self):
        super().init_weights()
        self.reset_intended_init()

    #: maps per feature-layer call in eval mode: the C-channel full-resolution features of
    #: a few maps stay in the CPU cache (all 3P·K at once are hundreds of MB: 7x slower)
    eval_chunk_maps = 8

    #: maps per chunk of the training path (:meth:`_train_features`)
    train_chunk_maps = 16

    def forward(self, x: Tensor) -> Tensor:
        N, K = x.shape[:2]
        maps = x.reshape(N * K, 1, *x.shape[2:])
        if self.training and maps.shape[0] and \
                not torch.is_autocast_enabled(maps.device.type):
            feats = [self._train_features(maps)]
        elif self.training and maps.shape[0]:          # mixed precision: the plain modules
            feats = [F.adaptive_avg_pool2d(self.heatmap_feature_net(maps), 1)]
        else:
            step = self.eval_chunk_maps
            feats = [F.adaptive_avg_pool2d(self.heatmap_feature_net(maps[i:i + step]), 1)
                     for i in range(0, maps.shape[0], max(step, 1))]
        if not feats:                                  # no maps (no proposal)
            feats = [maps.new_zeros(0, self.output[0].in_features)]
        y = (torch.cat(feats) if len(feats) != 1 else feats[0]).reshape(
            N * K, self.output[0].in_features)
        return self.output(y).reshape(N, K, 1)

    def _train_features(self, maps: Tensor) -> Tensor:
        """The feature layer + global average pool in training, (M, 1, a, b) → (M, C, 1, 1):
        the same numbers and gradients as ``heatmap_feature_net`` on the whole batch (its
        BatchNorm normalises with the statistics of all M maps and updates its running
        statistics once), at a fraction of the memory traffic.

        The plain path keeps four (M, C, a, b) tensors for backward (hundreds of MB for a
        few proposals: 0.8 s per step for 3 proposals on one CPU core, most of it filling
        and reading memory). Here the BatchNorm statistics come from the 3×3 patch moments
        of the input (the conv has one input channel: mean = w·μ + b, var = wᵀ Σ w, in
        float64), BatchNorm is folded into the conv with those statistics, and the
        conv → max-pool → ReLU → average-pool runs in chunks of ``train_chunk_maps`` maps
        that are recomputed in backward (:class:`_PooledConvFeatures`), so each chunk's
        features stay in the CPU cache. Gradients agree with the plain path to float32
        rounding (the max-pool's go to the first maximum of a window, as ``F.max_pool2d``'s).
        """
        conv, bn, pool = self.heatmap_feature_net[:3]
        if _pair(pool.kernel_size) != (2, 2) or _pair(pool.stride) != (2, 2) or \
                _pair(pool.padding) != (0, 0) or conv.in_channels != 1 or conv.groups != 1:
            raise ValueError('FusionWeightNet: the training path needs a 1-channel conv and a '
                             f'2x2 stride-2 max-pool, got {conv} and {pool}')
        use_batch_stats = bn.training or bn.running_mean is None
        if use_batch_stats:
            cols = F.unfold(maps, conv.kernel_size, padding=conv.padding,
                            stride=conv.stride)                       # (M, 9, L)
            n = cols.shape[0] * cols.shape[2]
            mu = cols.mean((0, 2), keepdim=True)
            cen = cols - mu
            # biased, as BN; float32 sums over one map, float64 over the maps
            cov = torch.bmm(cen, cen.transpose(1, 2)).double().sum(0) / n
            mu = mu.reshape(-1).double()
            w = conv.weight.double().reshape(conv.out_channels, -1)
            mean = w @ mu + (conv.bias.double() if conv.bias is not None else 0.0)
            var = ((w @ cov) * w).sum(1)
            if bn.training and bn.track_running_stats:
                with torch.no_grad():
                    bn.num_batches_tracked.add_(1)
                    mom = bn.momentum if bn.momentum is not None else \
                        1.0 / float(bn.num_batches_tracked)
                    bn.running_mean.mul_(1 - mom).add_(mean.float(), alpha=mom)
                    bn.running_var.mul_(1 - mom).add_(var.float() * (n / max(n - 1, 1)),
                                                      alpha=mom)
        else:
            mean, var = bn.running_mean.double(), bn.running_var.double()
        scale = torch.rsqrt(var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight.double()
        bias = -mean * scale if conv.bias is None else (conv.bias.double() - mean) * scale
        if bn.bias is not None:
            bias = bias + bn.bias.double()
        weight = (conv.weight.double() * scale[:, None, None, None]).to(maps.dtype)
        bias = bias.to(maps.dtype)

        out = _PooledConvFeatures.apply(maps, weight, bias, conv.stride, conv.padding,
                                        pool.kernel_size, max(int(self.train_chunk_maps), 1))
        return out[:, :, None, None]


def _pool2_first_max(z: Tensor) -> Tuple[List[Tensor], Tensor]:
    """The four strided slices of the 2×2 windows of ``z`` (..., H, W) in window order
    (row-major, as ``F.max_pool2d`` scans them) and their maximum (..., H // 2, W // 2)."""
    h, w = z.shape[-2] // 2 * 2, z.shape[-1] // 2 * 2
    parts = [z[..., i:h:2, j:w:2] for i in (0, 1) for j in (0, 1)]
    return parts, torch.maximum(torch.maximum(parts[0], parts[1]),
                                torch.maximum(parts[2], parts[3]))


class _PooledConvFeatures(torch.autograd.Function):
    """conv2d → 2×2 max-pool (stride 2) → ReLU → global average, (M, C_in, a, b) → (M, C),
    chunk by chunk. Saves only the input and the conv's weight and bias; backward
    recomputes each chunk's conv output. The max-pool's gradient goes to the first maximum
    of each window (row-major), as ``F.max_pool2d``'s; ReLU's to values > 0."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, pool_kernel, chunk):
        if _pair(pool_kernel) != (2, 2):
            raise ValueError('_PooledConvFeatures: a 2x2 max-pool is required, got '
                             f'{pool_kernel}')
        outs = []
        for i in range(0, x.shape[0], chunk):
            _, m = _pool2_first_max(F.conv2d(x[i:i + chunk], weight, bias, stride, padding))
            outs.append(m.clamp_min_(0).mean((2, 3)))
        ctx.save_for_backward(x, weight, bias)
        ctx.conf = (stride, padding, chunk)
        return torch.cat(outs)

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias = ctx.saved_tensors
        stride, padding, chunk = ctx.conf
        need_x = ctx.needs_input_grad[0]
        gx = torch.empty_like(x) if need_x else None
        gw = weight.new_zeros(weight.shape[0], weight[0].numel())
        gb = torch.zeros_like(bias)
        C, kh, kw = weight.shape[0], weight.shape[-2], weight.shape[-1]
        wt = weight.reshape(C, -1).T                                        # (9, C)
        for i in range(0, x.shape[0], chunk):
            xc = x[i:i + chunk]
            z = F.conv2d(xc, weight, bias, stride, padding)
            parts, m = _pool2_first_max(z)
            mc, _, h2, w2 = m.shape
            gcell = grad[i:i + chunk] / (h2 * w2)                           # (m, C)
            # the conv input patches at the four window slots: (m, 9, h2, 2, w2, 2)
            cols = F.unfold(xc, (kh, kw), padding=padding, stride=stride)
            cols = cols.view(mc, -1, z.shape[-2], z.shape[-1])[..., :2 * h2, :2 * w2]
            cols = cols.reshape(mc, -1, h2, 2, w2, 2)
            gcols = torch.zeros_like(cols) if need_x else None
            left = m > 0                                    # ReLU passes values > 0
            for (di, dj), part in zip(((0, 0), (0, 1), (1, 0), (1, 1)), parts):
                sel = left & (part == m)                    # first maximum of each window
                left &= ~sel
                sel = sel.flatten(2).to(x.dtype)                                # (m, C, n)
                cs = cols[:, :, :, di, :, dj].flatten(2)                        # (m, 9, n)
                # dL/dz = gcell at the selected positions, 0 elsewhere
                gw += (torch.bmm(sel, cs.transpose(1, 2)) * gcell[..., None]).sum(0)
                gb += (sel.sum(2) * gcell).sum(0)
                if need_x:
                    gcols[:, :, :, di, :, dj] = torch.matmul(
                        wt, sel * gcell[..., None]).view(mc, -1, h2, w2)
            if need_x:
                full = gcols.new_zeros(mc, gcols.shape[1], z.shape[-2], z.shape[-1])
                full[..., :2 * h2, :2 * w2] = gcols.view(mc, -1, 2 * h2, 2 * w2)
                gx[i:i + chunk] = F.fold(full.flatten(2), x.shape[-2:], (kh, kw),
                                         padding=padding, stride=stride)
        return gx, gw.view_as(weight), gb, None, None, None, None


# ============================================================================ fast inference
def fold_batchnorm_2d(net: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm of these nets into the preceding (transposed)
    convolution, in place (``ConvModule`` norms, the upsampling blocks, the weight net's
    feature layer)."""
    for child in list(net.children()):
        if isinstance(child, ConvModule) and child.with_norm and \
                child.order.index('conv') < child.order.index('norm'):
            child.conv = fuse_conv_bn_eval(child.conv, child.norm)
            setattr(child, child.norm_name, nn.Identity())
        elif isinstance(child, nn.Sequential) and len(child) >= 2 and \
                isinstance(child[0], (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d,
                                      nn.ConvTranspose2d)) and \
                isinstance(child[1], nn.modules.batchnorm._BatchNorm):
            conv, bn = child[0], child[1]
            w, b = fuse_conv_bn_weights(
                conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight,
                bn.bias, transpose=isinstance(conv, (nn.ConvTranspose1d, nn.ConvTranspose2d)))
            conv.weight, conv.bias = w, b
            child[1] = nn.Identity()
        else:
            fold_batchnorm_2d(child)
    return net


class FastEvalCopy:
    """An inference copy of a net with BatchNorm folded into the convolutions (and, for
    2D nets, channels-last memory: oneDNN's faster CPU kernels); outputs differ from the
    plain net by ~1e-6 relative. Rebuilt whenever a parameter or buffer of the source
    changes (tensor versions). Not a submodule: it never enters the state dict."""

    def __init__(self):
        self._key = None
        self._net = None

    def __call__(self, net: nn.Module, x: Tensor, channels_last: bool = False):
        tensors = list(net.parameters()) + list(net.buffers())
        key = tuple((t.data_ptr(), t._version, t.device) for t in tensors)
        if key != self._key:
            folded = fold_batchnorm_2d(copy.deepcopy(net).eval())
            if channels_last:
                folded = folded.to(memory_format=torch.channels_last)
            self._net, self._key = folded, key
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out = self._net(x)
        if isinstance(out, tuple):
            return tuple(o.contiguous() for o in out)
        return out.contiguous()


def _use_fast(module) -> bool:
    return getattr(module, 'fast_eval', False) and not module.training and \
        not torch.is_grad_enabled()


# ============================================================================ helpers
def nms_2d(heatmap: Tensor, kernel: int = 3) -> Tensor:
    """Keep a cell where it equals the max of its ``kernel²`` neighbourhood, zero others.

    Args:
        heatmap: (B, C, X, Y).
    """
    pooled = F.max_pool2d(heatmap, kernel, stride=1, padding=(kernel - 1) // 2)
    return (heatmap == pooled).float() * heatmap


def combine_views(heatmaps: Tensor, grid: Tensor, inside: Tensor, reference: bool) -> Tensor:
    """(B, V, K, H, W) heatmaps sampled at the (B, V, N, 2) grid → (B, K, N) in [0, 1].

    ``reference=False``: the mean over the views in which the point is inside the image
    (:func:`~virtualpose_mm.models.layers.sample_and_average`, as VoxelPose; one pass of
    the CPU kernel where it applies).
    ``reference=True``: the plain mean over all V views (Faster-VoxelPose's projection;
    a view that does not see the point counts as a 0 — or, near the image border, as the
    value at the clamped pixel), then clamped to [0, 1].
    """
    if reference:
        return sample_views(heatmaps, grid).mean(1).clamp_(0.0, 1.0)
    return sample_and_average(heatmaps, grid, inside)


def reference_sampling_grid(points: Tensor, cameras, affines: Tensor, image_sizes: Tensor,
                            heatmap_size, input_size=None, exclude_behind_camera: bool = True,
                            axes: Optional[Sequence[Tensor]] = None) -> SamplingGrid:
    """The sampling grid computed with the Faster-VoxelPose reference's float32 operations
    in its order (``ProjectLayer.project_grid``: ``x_cam = R·(X − centre)``, ``/ (z + 1e-5)``,
    its distortion expression, ``f·y + c``, clamp to ``[−1, max(w, h)]``, the affine,
    ``· heatmap / input``, ``/ (size − 1) · 2 − 1``, clamp ±1.1).

    The reference computes ``R·(X − centre)`` and the affine with ``torch.mm``; with an
    inner dimension of 3 that is the plain left-to-right sum of rounded products
    (``(a0·x0 + a1·x1) + a2·x2``, measured bit-identical here), which is written out
    elementwise so the result does not depend on the BLAS. voxelpose-pytorch's projection
    (``VoxelProjector(precision='reference')``) differs from it in the last bit.

    Args / returns: as :func:`~virtualpose_mm.models.layers.compute_sampling_grid`
    (points (N, 3) or (B, N, 3); cameras of batch shape (B, V)). With ``axes`` (three 1D
    float32 coordinate tensors) the points are their meshgrid (x slowest) and ``points``
    is ignored: the products of ``R·(X − centre)`` are formed per axis (the same rounded
    values) and broadcast, which makes whole-grid projections several times cheaper.
    """
    B, V = cameras.batch_shape
    dev = affines.device
    f32 = dict(device=dev, dtype=torch.float32)
    R = cameras.R.to(**f32)[..., None]                                     # (B, V, 3, 3, 1)
    C = cameras.center.to(**f32)[..., None]                                # (B, V, 3, 1)
    if axes is not None:
        n = [int(a.numel()) for a in axes]
        X = [axes[a].to(**f32)[None, None] - C[:, :, a] for a in range(3)]  # (B, V, n_a)
        shape = [(B, V, n[0], 1, 1), (B, V, 1, n[1], 1), (B, V, 1, 1, n[2])]
        xc = [((R[:, :, r, 0] * X[0]).view(shape[0]) + (R[:, :, r, 1] * X[1]).view(shape[1]))
              + (R[:, :, r, 2] * X[2]).view(shape[2]) for r in range(3)]
        xc = [x.reshape(B, V, -1) for x in xc]
    else:
        if points.dim() == 2:
            points = points[None].expand(B, -1, -1)
        P = points.to(**f32)
        X = [P[:, None, :, a] - C[:, :, a] for a in range(3)]              # (B, V, N) each
        xc = [(R[:, :, r, 0] * X[0] + R[:, :, r, 1] * X[1]) + R[:, :, r, 2] * X[2]
              for r in range(3)]
    z = xc[2]
    y0 = xc[0] / (z + 1e-5)
    y1 = xc[1] / (z + 1e-5)
    del xc
    dist = cameras.dist.to(**f32)[:, :, None]                              # (B, V, 1, 5)
    if bool((dist != 0).any()):
        k1, k2, p1, p2, k3 = (dist[..., i] for i in range(5))
        r = y0 ** 2 + y1 ** 2
        d = 1 + k1 * r + k2 * r * r + k3 * r * r * r
        u = y0 * d + 2 * p1 * y0 * y1 + p2 * (r + 2 * y0 * y0)
        v = y1 * d + 2 * p2 * y0 * y1 + p1 * (r + 2 * y1 * y1)
    else:  # the reference's terms are exact no-ops without distortion
        u, v = y0, y1
    f = cameras.f.to(**f32)[:, :, None]
    c = cameras.c.to(**f32)[:, :, None]
    px = f[..., 0] * u + c[..., 0]
    py = f[..., 1] * v + c[..., 1]
    del u, v, y0, y1
    wh = image_sizes.to(**f32)[:, :, None]                                  # (B, V, 1, 2)
    bad = ~(torch.isfinite(px) & torch.isfinite(py))
    inside = (px >= 0) & (py >= 0) & (px < wh[..., 0]) & (py < wh[..., 1]) & ~bad
    if exclude_behind_camera:
        inside &= z > 0
    del z
    hi = wh.amax(-1)
    px = torch.minimum(torch.clamp(torch.where(bad, -1.0, px), min=-1.0), hi)
    py = torch.minimum(torch.clamp(torch.where(bad, -1.0, py), min=-1.0), hi)
    A = affines.to(**f32)[:, :, None]                                      # (B, V, 1, 2, 3)
    hw, hh = (float(t) for t in heatmap_size)
    gx = (A[..., 0, 0] * px + A[..., 0, 1] * py) + A[..., 0, 2]
    gy = (A[..., 1, 0] * px + A[..., 1, 1] * py) + A[..., 1, 2]
    del px, py
    if input_size is not None:
        gx = gx * hw / float(input_size[0])
        gy = gy * hh / float(input_size[1])
    grid = torch.stack([gx / (hw - 1) * 2.0 - 1.0, gy / (hh - 1) * 2.0 - 1.0], -1)
    return SamplingGrid(grid.clamp_(-1.1, 1.1), inside)


def projector_grid(projector: VoxelProjector, points, cameras, affines, image_sizes,
                   heatmap_size, input_size=None) -> SamplingGrid:
    """The projector's sampling grid; ``precision='reference'`` means the Faster-VoxelPose
    reference's operations (:func:`reference_sampling_grid`)."""
    if projector.precision == 'reference':
        return reference_sampling_grid(points, cameras, affines, image_sizes, heatmap_size,
                                       input_size, projector.exclude_behind_camera)
    return projector.sampling_grid(points, cameras, affines, image_sizes, heatmap_size,
                                   input_size=input_size)


def _float_t(v, device=None) -> Tensor:
    return torch.tensor([float(x) for x in v], dtype=torch.float32, device=device)


# ============================================================================ the HDN
@MODELS.register_module()
class FasterVoxelPoseDetector(GeometryStateMixin, BaseModule):
    """Faster-VoxelPose's human detection net (HDN): whole-space volume → top view → 2D CNN
    (centre heatmap, box size) → 2D NMS + top-k → 1D CNN on each column (height).

    Proposals are ``(B, M, 7)``: x, y, z (mm), flag, score, box width, box depth. The
    position is ``index · size / (shape − 1) + center − size / 2`` (float32, the
    reference's formula); the box is a fraction of ``bbox_unit`` (the JLN cube size) in x
    and y. Without GT the flag is 0 when ``score > threshold`` (strict) and −1 otherwise;
    with GT it is the index of the nearest GT root (−1 beyond ``match_distance`` mm) and,
    with ``replace_small_boxes``, a matched proposal whose box is smaller than its GT box
    minus ``box_replace_margin`` in x or y gets the GT box (so the JLN sees the whole
    person early in training; the reference does the same, in place).

    Targets (made here from the GT, float64, cast to float32): a top-view Gaussian
    (σ = ``target_sigma`` mm, ±3σ window, max over people), a 1D Gaussian along z per GT
    person, and per person the top-view cell of its root and its box
    ``(2 · max_j |root − joint_j| + bbox_padding) / bbox_unit`` over its visible joints.
    Losses: ``loss_topview`` = w · MSE(heatmap, target), ``loss_height`` = w · MSE of the
    matched proposals' 1D heatmaps against their GT's, ``loss_bbox`` = w · L1 of the box
    map at each GT root cell against the GT box.

    Args:
        space_size, space_center, space_shape: the capture space (mm, mm, voxels).
        num_joints: K (input channels).
        max_people: proposals per frame (M).
        threshold: test-time score threshold.
        match_distance: GT matching radius (mm) in training.
        target_sigma: σ of the Gaussian targets (mm).
        bbox_unit: (w, d) mm the box sizes are fractions of (set by
            :class:`~virtualpose_mm.models.pose_estimators.FasterVoxelPose` to the JLN cube).
        bbox_padding: mm added to the joints' extent for the GT box.
        replace_small_boxes, box_replace_margin: see above.
        nms_kernel: 2D NMS kernel.
        mid_channels, head_channels: widths of the 2D / 1D nets (reference 32, 32).
        loss_weights: ``topview``, ``height``, ``bbox`` (reference 1.0, 1.0, 0.1).
        projector: kwargs of :class:`~virtualpose_mm.models.layers.VoxelProjector`
            (``exclude_behind_camera``, ``precision``, ``cache_size``); ``precision=
            'reference'`` is the Faster-VoxelPose reference's float32 projection
            (:func:`reference_sampling_grid`).
        fast_eval: in eval mode without gradients, run the 2D / 1D nets through copies with
            BatchNorm folded into the convolutions (channels-last for the 2D net; outputs
            differ by ~1e-6 relative). Off by default (the golden check runs without it).
        reference_view_average, reference_bbox_index, reference_bbox_mask: reference
            behaviours, set by the estimator (see
            :class:`~virtualpose_mm.models.pose_estimators.FasterVoxelPose`).
    """

    geometry_fields = ('space_size', 'space_center', 'space_shape')
    geometry_what = 'capture space'

    def __init__(self, space_size: Sequence[float], space_center: Sequence[float],
                 space_shape: Sequence[int], num_joints: int, max_people: int = 10,
                 threshold: float = 0.1, match_distance: float = 500.0,
                 target_sigma: float = 200.0, bbox_unit: Sequence[float] = (2000.0, 2000.0),
                 bbox_padding: float = 200.0, replace_small_boxes: bool = True,
                 box_replace_margin: float = 0.1, nms_kernel: int = 3, mid_channels: int = 32,
                 head_channels: int = 32, loss_weights: Optional[dict] = None,
                 projector: Optional[dict] = None, fast_eval: bool = False,
                 reference_view_average: bool = False, reference_bbox_index: bool = False,
                 reference_bbox_mask: bool = False, init_cfg=None):
        reject_unresolved(type(self).__name__, locals())
        super().__init__(init_cfg=init_cfg)
        self.space_size = tuple(float(s) for s in _check_space('space_size', space_size))
        self.space_center = tuple(float(s) for s in _check_space('space_center', space_center))
        self.space_shape = tuple(int(s) for s in _check_space('space_shape', space_shape))
        X, Y, Z = self.space_shape
        if min(X, Y, Z) < 2 or X % 4 or Y % 4 or Z % 4:
            raise ValueError(f'FasterVoxelPoseDetector: space_shape {self.space_shape} must '
                             'have at least 4 voxels per axis and be divisible by 4 (two '
                             'pooling levels in the 2D and 1D nets)')
        self.num_joints = int(num_joints)
        self.max_people = int(max_people)
        if self.max_people > X * Y:
            raise ValueError(f'max_people={self.max_people} exceeds the {X}x{Y} top-view cells')
        self.threshold = float(threshold)
        self.match_distance = float(match_distance)
        self.target_sigma = float(target_sigma)
        self.bbox_unit = tuple(float(v) for v in bbox_unit)
        if len(self.bbox_unit) != 2:
            raise ValueError(f'bbox_unit must be (w, d) mm, got {bbox_unit}')
        self.bbox_padding = float(bbox_padding)
        self.replace_small_boxes = bool(replace_small_boxes)
        self.box_replace_margin = float(box_replace_margin)
        self.nms_kernel = int(nms_kernel)
        self.loss_weights = merge_loss_weights(
            'FasterVoxelPoseDetector', dict(topview=1.0, height=1.0, bbox=0.1), loss_weights)
        self.projector = VoxelProjector(**(projector or {}))
        self.center_net = TopViewCenterNet(self.num_joints, mid_channels, head_channels)
        self.height_net = HeightNet(self.num_joints, mid_channels)
        self.fast_eval = bool(fast_eval)
        self._fast_center = FastEvalCopy()
        self._fast_height = FastEvalCopy()
        self.reference_view_average = bool(reference_view_average)
        self.reference_bbox_index = bool(reference_bbox_index)
        self.reference_bbox_mask = bool(reference_bbox_mask)

    # ------------------------------------------------------------------ geometry
    def _scale_bias(self, device) -> Tuple[Tensor, Tensor]:
        """Index → mm, as the reference: ``scale = size / (shape − 1)``,
        ``bias = center − size / 2`` (float32)."""
        size = _float_t(self.space_size, device)
        n = torch.tensor(self.space_shape, device=device)
        return size / (n - 1), _float_t(self.space_center, device) - size / 2.0

    def index_to_world(self, index: Tensor) -> Tensor:
        scale, bias = self._scale_bias(index.device)
        return index.float() * scale + bias

    def axes(self) -> List[Tensor]:
        """Voxel-centre coordinates per axis, float64."""
        return [torch.linspace(-s / 2, s / 2, n, dtype=torch.float64) + c
                for s, c, n in zip(self.space_size, self.space_center, self.space_shape)]

    # ------------------------------------------------------------------ projection
    def space_grid(self, cameras, affines, image_sizes, heatmap_size, input_size, keys
                   ) -> Tuple[Tensor, Tensor]:
        """Cached (B, V, N, 2) sampling grid and (B, V, N) in-image mask of the whole
        space (one entry per rig, :class:`~virtualpose_mm.models.layers.SamplingGridCache`
        of the projector)."""
        pj = self.projector
        space_key = ('fvp-hdn', self.space_size, self.space_center, self.space_shape,
                     tuple(heatmap_size),
                     None if input_size is None else tuple(float(v) for v in input_size),
                     pj.exclude_behind_camera, pj.precision, str(affines.device))

        def make(idx: Tensor):
            pts = voxel_grid(self.space_size, self.space_center, self.space_shape,
                             device=affines.device)
            return projector_grid(pj, pts, cameras[idx], affines[idx], image_sizes[idx],
                                  heatmap_size, input_size=input_size)

        return pj.cached_grids(space_key, list(keys), make, affines.device)

    def project(self, heatmaps: Tensor, cameras, affines, image_sizes, input_size=None,
                keys: Optional[List[Hashable]] = None) -> Tensor:
        """(B, V, K, H, W) heatmaps → (B, K, X, Y, Z) volume in [0, 1]."""
        B, V, K, H, W = heatmaps.shape
        if keys is None:
            from ..layers import sample_key
            keys = [sample_key(cameras[b].key(), affines[b], image_sizes[b]) for b in range(B)]
        grid, inside = self.space_grid(cameras, affines, image_sizes, (W, H), input_size, keys)
        vol = combine_views(heatmaps, grid, inside, self.reference_view_average)
        return vol.view(B, K, *self.space_shape)

    # ------------------------------------------------------------------ forward
    def forward(self, volume: Tensor, gt: Optional[Dict[str, Tensor]] = None,
                targets: Optional[Dict[str, Tensor]] = None) -> Dict[str, Tensor]:
        """Volume → proposals.

        Args:
            volume: (B, K, X, Y, Z).
            gt: optional padded GT (``roots`` (B, G, 3), ``counts`` (B,)) to match the
                proposals (training); ``targets`` (:meth:`make_targets`) then gives the GT
                boxes for ``replace_small_boxes``.

        Returns:
            dict: ``center_hm`` (B, 1, X, Y), ``center_size`` (B, 2, X, Y), ``topk_values``
            / ``topk_index`` (B, M) (flat index x·Y + y), ``columns`` (B, M, K, Z),
            ``heatmaps_1d`` (B, M, Z), ``index`` (B, M, 3), ``scores`` (B, M),
            ``bbox_preds`` (B, M, 2) (before replacement), ``bbox_replaced`` (B, M) bool,
            ``proposals`` (B, M, 7).
        """
        B, K, X, Y, Z = volume.shape
        M = self.max_people
        fast = _use_fast(self)
        top = volume.amax(-1)
        center_hm, center_size = self._fast_center(self.center_net, top, True) if fast \
            else self.center_net(top)
        peaks = nms_2d(center_hm.detach(), self.nms_kernel).reshape(B, -1)
        top_val, top_idx = peaks.topk(M, dim=1)                               # (B, M)
        ix = torch.div(top_idx, Y, rounding_mode='floor')
        iy = top_idx % Y
        bidx = torch.arange(B, device=volume.device)[:, None]
        bbox_preds = center_size.detach().flatten(2).transpose(1, 2)[bidx, top_idx]   # (B,M,2)
        columns = volume.permute(0, 2, 3, 1, 4)[bidx, ix, iy]                # (B, M, K, Z)
        cols = columns.reshape(B * M, K, Z)
        hm1d = (self._fast_height(self.height_net, cols) if fast else
                self.height_net(cols)).reshape(B, M, Z)
        h_val, h_idx = hm1d.detach().topk(1, dim=-1)
        index = torch.stack([ix, iy, h_idx[..., 0]], -1)
        scores = top_val * h_val[..., 0]
        centers = self.index_to_world(index)
        boxes = bbox_preds
        replaced = torch.zeros(B, M, dtype=torch.bool, device=volume.device)
        if gt is not None:
            flag = match_to_gt(centers, gt['roots'], gt['counts'], self.match_distance)
            if self.replace_small_boxes and targets is not None:
                g = flag.clamp(min=0)
                gt_box = targets['bbox'].to(boxes)[bidx, g]                    # (B, M, 2)
                replaced = (flag >= 0) & (boxes < gt_box - self.box_replace_margin).any(-1)
                boxes = torch.where(replaced[..., None], gt_box, boxes)
            flag = flag.to(centers.dtype)
        else:
            flag = (scores > self.threshold).float() - 1.0
        proposals = torch.cat([centers, flag[..., None], scores[..., None].float(), boxes], -1)
        return dict(center_hm=center_hm, center_size=center_size, topk_values=top_val,
                    topk_index=top_idx, columns=columns, heatmaps_1d=hm1d, index=index,
                    scores=scores, bbox_preds=bbox_preds, bbox_replaced=replaced,
                    proposals=proposals)

    # ------------------------------------------------------------------ targets / losses
    def make_targets(self, gt: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """GT → HDN targets (float64 maths, float32 results).

        Args:
            gt: padded GT: ``roots`` (B, G, 3), ``counts`` (B,), ``joints`` (B, G, K, 3),
                ``weights`` (B, G, K) (a joint counts for the box where weight > 0.1).

        Returns:
            ``topview`` (B, X, Y), ``height`` (B, G, Z), ``index`` (B, G) long (top-view
            cell x·Y + y of the root: nearest voxel, or the floor with
            ``reference_bbox_index``), ``bbox`` (B, G, 2), ``valid`` (B, G) bool (a real
            person whose root lies in the space).
        """
        roots = gt['roots'].detach().double().cpu()
        joints = gt['joints'].detach().double().cpu()
        weights = gt['weights'].detach().double().cpu()
        counts = gt['counts'].cpu()
        device = gt['roots'].device
        B, G = roots.shape[:2]
        X, Y, Z = self.space_shape
        ax, ay, az = self.axes()
        s = self.target_sigma
        real = torch.arange(G)[None] < counts[:, None]                         # (B, G)

        # Gaussian profiles in their ±3σ windows (the reference's searchsorted bounds)
        def prof(axis, mu):
            d = axis[None, None] - mu[..., None]
            win = (axis[None, None] >= mu[..., None] - 3 * s) & \
                (axis[None, None] <= mu[..., None] + 3 * s)
            return d, win
        dx, wx = prof(ax, roots[..., 0])
        dy, wy = prof(ay, roots[..., 1])
        dz, wz = prof(az, roots[..., 2])
        drawn = real & wx.any(-1) & wy.any(-1) & wz.any(-1)                   # (B, G)
        g2 = torch.exp(-(dx[..., :, None] ** 2 + dy[..., None, :] ** 2) / (2 * s * s))
        g2 = g2 * (wx[..., :, None] & wy[..., None, :] & drawn[..., None, None])
        topview = g2.amax(1) if G else torch.zeros(B, X, Y, dtype=torch.float64)
        g1 = torch.exp(-dz ** 2 / (2 * s * s)) * (wz & drawn[..., None])
        # root cell and box
        size = torch.tensor(self.space_size, dtype=torch.float64)
        lo = torch.tensor(self.space_center, dtype=torch.float64) - size / 2
        loc = (roots - lo) / (size / (torch.tensor(self.space_shape, dtype=torch.float64) - 1))
        cell = torch.floor(loc) if self.reference_bbox_index else torch.round(loc)
        n = torch.tensor(self.space_shape, dtype=torch.float64)
        inside = ((cell >= 0) & (cell <= n - 1)).all(-1)
        cell = torch.minimum(cell.clamp(min=0), n - 1)
        index = (cell[..., 0] * Y + cell[..., 1]).long()
        vis = weights > 0.1                                                    # (B, G, K)
        ext = ((roots[:, :, None] - joints).abs() * vis[..., None]).amax(2) \
            if joints.shape[2] else torch.zeros(B, G, 3, dtype=torch.float64)
        bbox = (2 * ext[..., :2] + self.bbox_padding) / torch.tensor(self.bbox_unit,
                                                                     dtype=torch.float64)
        f = dict(dtype=torch.float32, device=device)
        return dict(topview=topview.clamp(0, 1).to(**f), height=g1.clamp(0, 1).to(**f),
                    index=index.to(device), bbox=(bbox * real[..., None]).to(**f),
                    valid=(real & inside).to(device), counts=counts.to(device))

    def loss(self, out: Dict[str, Tensor], targets: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """``loss_topview``, ``loss_height``, ``loss_bbox`` (see the class docstring)."""
        w = self.loss_weights
        hm = out['center_hm'][:, 0]
        losses = dict(loss_topview=w['topview'] * F.mse_loss(hm, targets['topview'].to(hm)))
        flag = out['proposals'][..., 3]
        used = flag >= 0
        h1 = out['heatmaps_1d']
        if bool(used.any()):
            b, m = used.nonzero(as_tuple=True)
            tgt = targets['height'].to(h1)[b, flag[b, m].long()]
            losses['loss_height'] = w['height'] * F.mse_loss(h1[b, m], tgt)
        else:  # keep the 1D net in the graph (DDP) with a zero value
            losses['loss_height'] = h1.sum() * 0.0
        size = out['center_size'].flatten(2).transpose(1, 2)                   # (B, XY, 2)
        B = size.shape[0]
        index, bbox, valid = targets['index'], targets['bbox'].to(size), targets['valid']
        if self.reference_bbox_mask:
            # reference generate_target: mask = arange(M) <= num_person, so the first
            # padding slot (top-view cell 0, box (0, 0)) is supervised too
            counts = targets['counts'].to(index.device)
            index = torch.cat([index, index.new_zeros(B, 1)], 1)
            bbox = torch.cat([bbox, bbox.new_zeros(B, 1, 2)], 1)
            valid = torch.cat([valid, valid.new_zeros(B, 1)], 1)
            slot = torch.arange(index.shape[1], device=index.device)[None]
            pad = (slot == counts[:, None]) & (counts[:, None] < self.max_people)
            index = torch.where(pad, torch.zeros_like(index), index)
            bbox = torch.where(pad[..., None], torch.zeros_like(bbox), bbox)
            valid = valid | pad
        bidx = torch.arange(B, device=size.device)[:, None]
        pred = size[bidx, index]                                              # (B, G, 2)
        if bool(valid.any()):
            losses['loss_bbox'] = w['bbox'] * F.l1_loss(pred[valid], bbox[valid])
        else:
            losses['loss_bbox'] = size.sum() * 0.0
        return losses


# ============================================================================ the JLN
def plane_soft_argmax(maps: Tensor, rel_grids: Tensor, beta: float,
                      reference_reduction: bool = False,
                      abs_grids: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Soft-argmax of every plane map and the largest probability.

    Args:
        maps: (3, N, K, a·b) joint maps of the xy, xz, yz planes.
        rel_grids: (3, a·b, 2) cell coordinates relative to the cube centre (mm).
        beta: softmax multiplier.
        reference_reduction: sum ``p · grid`` as the reference does (an elementwise product
            summed over the cells in float32, with the grid in absolute coordinates
            ``abs_grids`` (3, a·b, 2)); the default sums the small relative coordinates with
            a matrix product.

    Returns:
        positions (3, N, K, 2) (relative to the cube centre; absolute in ``abs_grids``'
        frame with ``reference_reduction``) and max probabilities (3, N, K).
    """
    P3, N, K, C = maps.shape
    if reference_reduction:  # the reference's exact tensor shapes and ops
        prob = F.softmax(beta * maps.reshape(3, N, K, C, 1), dim=3)
        pmax = torch.max(prob, dim=3)[0].squeeze(3)
        pos = torch.sum(torch.mul(prob, abs_grids.reshape(3, 1, 1, C, 2)), dim=3)
        return pos, pmax
    prob = torch.softmax(beta * maps, dim=-1)
    pmax = prob.amax(-1)
    pos = torch.bmm(prob.reshape(3, N * K, C), rel_grids.to(prob)).reshape(3, N, K, 2)
    return pos, pmax


def fuse_plane_poses(planes: Tensor, weights: Tensor) -> Tensor:
    """(3, N, K, 2) plane coordinates (xy, xz, yz) and (3, N, K, 1) weights → (N, K, 3):
    ``x = (w_xy·x_xy + w_xz·x_xz) / (w_xy + w_xz)`` etc. (normalised weights first, as the
    reference)."""
    xy, xz, yz = planes.unbind(0)
    wxy, wxz, wyz = weights.unbind(0)

    def mix(w1, p1, w2, p2):
        s = w1 + w2
        return w1 / s * p1 + w2 / s * p2

    return torch.cat([mix(wxy, xy[..., :1], wxz, xz[..., :1]),
                      mix(wxy, xy[..., 1:], wyz, yz[..., :1]),
                      mix(wxz, xz[..., 1:], wyz, yz[..., 1:])], -1)


@MODELS.register_module()
class FasterVoxelPoseJointNet(GeometryStateMixin, BaseModule):
    """Faster-VoxelPose's joint localisation net (JLN); see the module docstring.

    **The cube.** The capture space is covered by a fine grid with the cube's voxel
    spacing (``cube_size / (cube_shape − 1)`` per axis; ``space_size`` must be a whole
    number of such steps — true for the reference spaces, e.g. 8000 mm = 252 × 31.75 mm).
    A proposal's cube is the ``cube_shape`` window of that grid whose corner is the
    nearest fine voxel to ``centre − cube_size / 2`` (so the cube centre is snapped to the
    fine grid). Voxels outside the space are 0 — in particular the cube is always
    ``cube_size[2]`` tall and is cut at the floor/ceiling of the space. In x and y, a
    margin ``m = trunc((1 − box) / 2 · (n − 1))`` voxels (0 if negative) on each side is
    zeroed, ``box`` being the proposal's box fraction. The cube values are the views'
    heatmaps averaged over the views (see ``reference_view_average``), clamped to [0, 1].

    **Sampling positions.** The projection of the whole fine grid is cached per rig
    (``cache_size`` rigs, float32 grid + in-image mask: 20 bytes per fine voxel and view,
    ~164 MB for Shelf's 253×253×64 voxels × 5 views); with ``cache_size=0`` only the
    voxels inside the proposals' windows are projected, every call (identical numbers; for
    rigs that change every frame).

    Args:
        cube_size, cube_shape: the individual cube (reference 2000 mm, 64 voxels).
        space_size, space_center: the capture space (set by the estimator from its
            detector).
        num_joints: K.
        beta: soft-argmax multiplier (reference 100).
        mid_channels: width of the plane net (reference 32).
        weight_feat_channels, weight_hidden_channels: the weight net (32, 64).
        loss_weights: ``planes`` (each plane's L1), ``fused`` (reference 1.0, 5.0).
        projector: kwargs of :class:`~virtualpose_mm.models.layers.VoxelProjector`;
            its ``cache_size`` is the number of cached fine-grid projections.
        chunk_elements: bound on V·K·(voxels sampled) per sampling call (memory); all
            windows of a call are sampled with one ``grid_sample``.
        fast_eval: BatchNorm-folded copies of the plane and weight nets for inference (see
            :class:`FasterVoxelPoseDetector`).
        reference_view_average, reference_soft_argmax, reference_weight_net_init: set by
            the estimator (see :class:`~virtualpose_mm.models.pose_estimators.FasterVoxelPose`).
    """

    geometry_fields = ('cube_size', 'cube_shape')
    geometry_what = 'JLN cube'

    def __init__(self, cube_size: Sequence[float], cube_shape: Sequence[int],
                 space_size: Sequence[float], space_center: Sequence[float], num_joints: int,
                 beta: float = 100.0, mid_channels: int = 32, weight_feat_channels: int = 32,
                 weight_hidden_channels: int = 64, loss_weights: Optional[dict] = None,
                 projector: Optional[dict] = None, chunk_elements: int = 2 ** 25,
                 fast_eval: bool = False,
                 reference_view_average: bool = False, reference_soft_argmax: bool = False,
                 reference_weight_net_init: bool = False, init_cfg=None):
        reject_unresolved(type(self).__name__, locals())
        super().__init__(init_cfg=init_cfg)
        self.cube_size = tuple(float(s) for s in _check_space('cube_size', cube_size))
        self.cube_shape = tuple(int(s) for s in _check_space('cube_shape', cube_shape))
        self.space_size = tuple(float(s) for s in _check_space('space_size', space_size))
        self.space_center = tuple(float(s) for s in _check_space('space_center', space_center))
        nx, ny, nz = self.cube_shape
        if nx != ny or ny != nz:
            raise ValueError(f'FasterVoxelPoseJointNet: cube_shape {self.cube_shape} must be '
                             'equal on all axes (one 2D net for the three planes)')
        if nx % 4 or nx < 4:
            raise ValueError(f'cube_shape {self.cube_shape} must be divisible by 4')
        fine = []
        for a, (W, s, n) in enumerate(zip(self.space_size, self.cube_size, self.cube_shape)):
            steps = W / s * (n - 1)
            if abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
                raise ValueError(
                    f'FasterVoxelPoseJointNet: space_size[{a}] = {W} mm is not a whole number '
                    f'of cube voxels ({s} / {n - 1} = {s / (n - 1):.6g} mm): the cubes are '
                    f'windows of a fine grid of the space. Use e.g. space_size[{a}] = '
                    f'{round(steps) * s / (n - 1):.6g}.')
            if W < s:
                raise ValueError(f'FasterVoxelPoseJointNet: space_size[{a}] = {W} mm is '
                                 f'smaller than the cube ({s} mm)')
            fine.append(int(round(steps)) + 1)
        self.fine_shape = tuple(fine)
        self.num_joints = int(num_joints)
        self.beta = float(beta)
        self.loss_weights = merge_loss_weights(
            'FasterVoxelPoseJointNet', dict(planes=1.0, fused=5.0), loss_weights)
        pj = dict(projector or {})
        cache_size = int(pj.pop('cache_size', 2))
        self.projector = VoxelProjector(cache_size=0, **pj)
        self.fine_cache = SamplingGridCache(cache_size)
        self.chunk_elements = int(chunk_elements)
        self.plane_net = PlaneNet(self.num_joints, self.num_joints, mid_channels)
        self.weight_net = FusionWeightNet(weight_feat_channels, weight_hidden_channels,
                                          reference_init=reference_weight_net_init)
        self.reference_view_average = bool(reference_view_average)
        self.reference_soft_argmax = bool(reference_soft_argmax)
        self.fast_eval = bool(fast_eval)
        self._fast_plane = FastEvalCopy()
        self._fast_weight = FastEvalCopy()

    # ------------------------------------------------------------------ geometry
    def _consts(self, device) -> Dict[str, Tensor]:
        """The reference's float32 constants: fine shape F, corner ``scale`` and ``bias``."""
        W = _float_t(self.space_size, device)
        C = _float_t(self.space_center, device)
        S = _float_t(self.cube_size, device)
        Fn = torch.tensor(self.fine_shape, dtype=torch.int32, device=device)
        scale = (Fn.float() - 1) / W
        bias = -S / 2.0 / W * (Fn - 1) - scale * (C - W / 2.0)
        return dict(W=W, C=C, S=S, F=Fn, scale=scale, bias=bias,
                    n=torch.tensor(self.cube_shape, dtype=torch.int32, device=device))

    def fine_axes(self, device=None) -> List[Tensor]:
        """Fine-grid coordinates per axis (float32 world mm, ``linspace + centre``)."""
        return [torch.linspace(-w / 2, w / 2, f, dtype=torch.float32, device=device) + c
                for w, c, f in zip(self.space_size, self.space_center, self.fine_shape)]

    def plane_grids(self, device=None) -> Tuple[Tensor, Tensor]:
        """(3, n·n, 2) cell coordinates of the xy, xz, yz planes: relative to the cube
        centre, and absolute at the space centre (the reference's ``center_grid``)."""
        n = self.cube_shape[0]
        rel, ab = [], []
        for (a, b) in ((0, 1), (0, 2), (1, 2)):
            ra = torch.linspace(-self.cube_size[a] / 2, self.cube_size[a] / 2, n,
                                dtype=torch.float32, device=device)
            rb = torch.linspace(-self.cube_size[b] / 2, self.cube_size[b] / 2, n,
                                dtype=torch.float32, device=device)
            ga, gb = torch.meshgrid(ra, rb, indexing='ij')
            rel.append(torch.stack([ga.reshape(-1), gb.reshape(-1)], -1))
            ga, gb = torch.meshgrid(ra + self.space_center[a], rb + self.space_center[b],
                                    indexing='ij')
            ab.append(torch.stack([ga.reshape(-1), gb.reshape(-1)], -1))
        return torch.stack(rel), torch.stack(ab)

    def windows(self, proposals: Tensor) -> Dict[str, Tensor]:
        """Corner, offset and window of each cube (the reference's formulas, float32).

        Args:
            proposals: (P, ≥ 7) rows x, y, z, flag, score, box w, box d.

        Returns:
            ``corner`` (P, 3) int32 fine index of the cube's first voxel, ``offset``
            (P, 3) mm cube centre − space centre, ``mask`` (P, 3) int32 box margins,
            ``start`` / ``end`` (P, 3) int32 window in the fine grid.
        """
        k = self._consts(proposals.device)
        P = proposals.shape[0]
        corner = torch.round(proposals[:, :3].float() * k['scale'] + k['bias']).int()
        offset = corner.float() / (k['F'] - 1) * k['W'] - k['W'] / 2.0 + k['S'] / 2.0
        m = ((1 - proposals[:, 5:7].float()) / 2 * (k['n'][0:2] - 1)).int()
        m = m.clamp(min=0)
        m = torch.cat([m, torch.zeros(P, 1, dtype=torch.int32, device=m.device)], 1)
        start = torch.where(corner + m >= 0, corner + m, torch.zeros_like(corner))
        hi = corner + k['n'] - m
        end = torch.where(hi <= k['F'], hi, k['F'].expand_as(hi))
        return dict(corner=corner, offset=offset, mask=m, start=start, end=end)

    # ------------------------------------------------------------------ fine grid
    def _fine_key(self, heatmap_size, input_size, device):
        pj = self.projector
        return ('fvp-jln', self.space_size, self.space_center, self.fine_shape,
                tuple(heatmap_size),
                None if input_size is None else tuple(float(v) for v in input_size),
                pj.exclude_behind_camera, pj.precision, str(device))

    def _fine_grid(self, b: int, meta, heatmap_size, input_size, device,
                   chunk: int = 2 ** 18) -> Tuple[Tensor, Tensor]:
        """(V, N_fine, 2) grid and (V, N_fine) mask of sample ``b``'s rig (cached)."""
        key = (self._fine_key(heatmap_size, input_size, device), meta.keys[b])
        hit = self.fine_cache.get(key)
        if hit is not None:
            return hit
        idx = torch.as_tensor([b], device=device)
        cams, A, S = meta.cameras[idx], meta.affines[idx], meta.image_sizes[idx]
        grids, insides = [], []
        axes = self.fine_axes(device)
        Fx, Fy, Fz = self.fine_shape
        step = max(1, chunk // (Fy * Fz))
        pts = None
        for i in range(0, Fx, step):  # bounded memory: 4M+ points per view
            if self.projector.precision == 'reference':
                g = reference_sampling_grid(None, cams, A, S, heatmap_size, input_size,
                                            self.projector.exclude_behind_camera,
                                            axes=(axes[0][i:i + step], axes[1], axes[2]))
            else:
                if pts is None:
                    pts = voxel_grid(self.space_size, self.space_center, self.fine_shape,
                                     device=device).view(Fx, Fy * Fz, 3)
                g = projector_grid(self.projector, pts[i:i + step].reshape(-1, 3), cams, A, S,
                                   heatmap_size, input_size=input_size)
            grids.append(g.grid[0])
            insides.append(g.inside[0])
        out = (torch.cat(grids, 1), torch.cat(insides, 1))
        self.fine_cache.put(key, out)
        return out

    # ------------------------------------------------------------------ cubes → planes
    def project_planes(self, heatmaps: Tensor, proposals: Tensor, batch_index: Tensor, meta,
                       input_size=None, keep_cube: Optional[int] = None,
                       debug: bool = False) -> Dict[str, Tensor]:
        """Cubes of P proposals, max-projected onto the three planes.

        Only the voxels inside each cube's window are sampled: their sampling positions
        are slices of the rig's cached fine-grid projection (or are projected, with
        ``cache_size=0``), and all windows of a chunk of proposals (``chunk_elements``)
        go through ONE ``grid_sample`` call. The planes are the windows' maxima (the
        values are ≥ 0, so the zeros around a window never win), so the 64³ cubes are
        never materialised.

        Args:
            heatmaps: (B, V, K, H, W).
            proposals: (P, 7) rows. batch_index: (P,) sample of each.
            meta: :class:`~virtualpose_mm.models.utils.multiview.ViewMeta` of the batch.
            keep_cube: also return the full cube of this pair (debugging, golden checks).
            debug: also compute ``cube_sum`` and ``cube_nonzero``.

        Returns:
            ``planes`` (3P, K, n, n) ordered [xy of all P; xz of all P; yz of all P],
            ``cube_sum`` (P, K) float64 and ``cube_nonzero`` (P,) (with ``debug``), the
            window dict of :meth:`windows`, and ``cube`` (K, n, n, n) with ``keep_cube``.
        """
        B, V, K, H, W = heatmaps.shape
        P = proposals.shape[0]
        n = self.cube_shape[0]
        device = heatmaps.device
        win = self.windows(proposals)
        out = dict(win)
        planes = heatmaps.new_zeros(3, P, K, n, n)
        cube_sum = torch.zeros(P, K, dtype=torch.float64)
        cube_nz = torch.zeros(P, dtype=torch.long)
        out.update(planes=planes.view(3 * P, K, n, n), cube_sum=cube_sum,
                   cube_nonzero=cube_nz)
        if keep_cube is not None:
            out['cube'] = None
        if P == 0:
            return out
        start, end = win['start'].tolist(), win['end'].tolist()
        corner = win['corner'].tolist()
        sizes = [[max(e - s, 0) for s, e in zip(start[q], end[q])] for q in range(P)]
        counts = [sz[0] * sz[1] * sz[2] for sz in sizes]
        Fx, Fy, Fz = self.fine_shape
        use_cache = self.fine_cache.max_entries > 0
        bidx = batch_index.tolist()
        order = sorted(range(P), key=lambda q: bidx[q])                       # sample-major
        grids = {b: self._fine_grid(b, meta, (W, H), input_size, device)
                 for b in sorted(set(bidx))} if use_cache else None
        axes = None if use_cache else self.fine_axes(device)
        # chunks of proposals bounded by V·K·(voxels sampled) (memory)
        budget = max(self.chunk_elements // max(V * K, 1), 1)
        chunks, cur, acc = [], [], 0
        for q in order:
            if counts[q] == 0:
                continue
            if cur and acc + counts[q] > budget:
                chunks.append(cur)
                cur, acc = [], 0
            cur.append(q)
            acc += counts[q]
        if cur:
            chunks.append(cur)
        for idx in chunks:
            # sampling positions of every window, grouped by sample
            groups: List[list] = []                   # [sample, [proposals], [pieces]]
            for q in idx:
                (x0, y0, z0), (x1, y1, z1) = start[q], end[q]
                if use_cache:
                    g, ins = grids[bidx[q]]
                    piece = (g.view(V, Fx, Fy, Fz, 2)[:, x0:x1, y0:y1, z0:z1].reshape(V, -1, 2),
                             ins.view(V, Fx, Fy, Fz)[:, x0:x1, y0:y1, z0:z1].reshape(V, -1))
                else:
                    gx, gy, gz = torch.meshgrid(axes[0][x0:x1], axes[1][y0:y1],
                                                axes[2][z0:z1], indexing='ij')
                    piece = torch.stack([gx.reshape(-1), gy.reshape(-1), gz.reshape(-1)], -1)
                if groups and groups[-1][0] == bidx[q]:
                    groups[-1][1].append(q)
                    groups[-1][2].append(piece)
                else:
                    groups.append([bidx[q], [q], [piece]])
            Tn = [sum(counts[q] for q in g[1]) for g in groups]
            Tm = max(Tn)
            bi = torch.as_tensor([g[0] for g in groups], device=device)
            if use_cache:
                if len(groups) == 1:
                    grid = torch.cat([pc[0] for pc in groups[0][2]], 1)[None]
                    inside = torch.cat([pc[1] for pc in groups[0][2]], 1)[None]
                else:
                    grid = heatmaps.new_zeros(len(groups), V, Tm, 2)
                    inside = torch.zeros(len(groups), V, Tm, dtype=torch.bool, device=device)
                    for j, g in enumerate(groups):
                        torch.cat([pc[0] for pc in g[2]], 1, out=grid[j, :, :Tn[j]])
                        torch.cat([pc[1] for pc in g[2]], 1, out=inside[j, :, :Tn[j]])
            else:
                pts = heatmaps.new_zeros(len(groups), Tm, 3)
                for j, g in enumerate(groups):
                    pts[j, :Tn[j]] = torch.cat(g[2])
                sg = projector_grid(self.projector, pts, meta.cameras[bi], meta.affines[bi],
                                    meta.image_sizes[bi], (W, H), input_size=input_size)
                grid, inside = sg.grid, sg.inside
            vals = combine_views(heatmaps[bi], grid, inside,
                                 self.reference_view_average)                 # (B', K, Tm)
            for j, g in enumerate(groups):
                off = 0
                for q in g[1]:
                    sx, sy, sz = sizes[q]
                    v = vals[j, :, off:off + counts[q]].view(K, sx, sy, sz)
                    off += counts[q]
                    (x0, y0, z0), c = start[q], corner[q]
                    lx, ly, lz = x0 - c[0], y0 - c[1], z0 - c[2]
                    planes[0, q, :, lx:lx + sx, ly:ly + sy] = v.amax(3)        # xy: max over z
                    planes[1, q, :, lx:lx + sx, lz:lz + sz] = v.amax(2)        # xz: max over y
                    planes[2, q, :, ly:ly + sy, lz:lz + sz] = v.amax(1)        # yz: max over x
                    if debug:
                        cube_sum[q] = v.double().sum((1, 2, 3)).cpu()
                        cube_nz[q] = int((v != 0).sum())
                    if keep_cube == q:
                        cube = heatmaps.new_zeros(K, n, n, n)
                        cube[:, lx:lx + sx, ly:ly + sy, lz:lz + sz] = v
                        out['cube'] = cube
        return out

    # ------------------------------------------------------------------ networks
    def forward(self, planes: Tensor, offsets: Tensor, groups: Optional[List[Tensor]] = None
                ) -> Dict[str, Tensor]:
        """Plane net, soft-argmax, weight net and fusion.

        Args:
            planes: (3P, K, n, n) from :meth:`project_planes`.
            offsets: (P, 3) cube centre − space centre (mm).
            groups: optional partition of range(P); each group is one call of the two nets
                (per-sample BatchNorm of the reference). Default: one call.

        Returns:
            ``poses`` (P, K, 3) fused world mm, ``plane_poses`` (3, P, K, 2) world mm,
            ``confidence`` (P,), ``weights`` (3, P, K), ``planes_out`` (3, P, K, n, n),
            ``plane_rel`` (3, P, K, 2) soft-argmax before the offsets (the reference's
            absolute frame with ``reference_soft_argmax``).
        """
        P = offsets.shape[0]
        K = self.num_joints
        n = self.cube_shape[0]
        dev = planes.device
        if P == 0:
            z = planes.new_zeros
            return dict(poses=z(0, K, 3), plane_poses=z(3, 0, K, 2), confidence=z(0),
                        weights=z(3, 0, K), planes_out=z(3, 0, K, n, n),
                        plane_rel=z(3, 0, K, 2))
        if groups is None:
            groups = [torch.arange(P, device=dev)]
        rel, ab = self.plane_grids(dev)
        pin = planes.view(3, P, K, n, n)
        feats = planes.new_zeros(3, P, K, n, n) if len(groups) > 1 else None
        weights = planes.new_zeros(3, P, K, 1) if len(groups) > 1 else None
        fast = _use_fast(self)
        for g in groups:
            x = pin[:, g].reshape(-1, K, n, n)
            f = self._fast_plane(self.plane_net, x, True) if fast else self.plane_net(x)
            w = self._fast_weight(self.weight_net, f, True) if fast else self.weight_net(f)
            if len(groups) == 1:
                feats = f.view(3, P, K, n, n)
                weights = w.view(3, P, K, 1)
            else:
                feats = feats.index_copy(1, g, f.view(3, -1, K, n, n))
                weights = weights.index_copy(1, g, w.view(3, -1, K, 1))
        pos, pmax = plane_soft_argmax(feats.reshape(3, P, K, n * n), rel, self.beta,
                                      self.reference_soft_argmax, ab)
        conf = pmax.mean(dim=(0, 2))
        off = offsets.float()
        pairs = ((0, 1), (0, 2), (1, 2))
        if self.reference_soft_argmax:  # absolute grid at the space centre + offset
            add = torch.stack([off[:, list(ab_)] for ab_ in pairs])           # (3, P, 2)
            plane_poses = pos + add[:, :, None]
        else:  # relative grid + cube centre (float64 add)
            C = torch.tensor(self.space_center, dtype=torch.float64, device=dev)
            centre = off.double() + C                                          # (P, 3)
            add = torch.stack([centre[:, list(ab_)] for ab_ in pairs])
            plane_poses = (pos.double() + add[:, :, None]).float()
        poses = fuse_plane_poses(plane_poses, weights)
        return dict(poses=poses, plane_poses=plane_poses, confidence=conf,
                    weights=weights[..., 0], planes_out=feats, plane_rel=pos)

    def loss(self, out: Dict[str, Tensor], joints: Tensor, weights: Tensor) -> Tensor:
        """Σ_planes L1 + ``fused`` · L1 of P matched proposals, both sides multiplied by
        the joint weights, each mean over all (proposal, joint, coordinate) elements.

        Args:
            out: :meth:`forward` output. joints: (P, K, 3) GT mm. weights: (P, K).
        """
        w = weights.to(joints)[..., None]
        gt = joints * w
        lw = self.loss_weights
        planes = out['plane_poses']
        terms = [F.l1_loss(planes[0] * w, gt[..., [0, 1]]),
                 F.l1_loss(planes[1] * w, gt[..., [0, 2]]),
                 F.l1_loss(planes[2] * w, gt[..., [1, 2]]),
                 F.l1_loss(out['poses'] * w, gt)]
        return lw['planes'] * (terms[0] + terms[1] + terms[2]) + lw['fused'] * terms[3]

    def loss_terms(self, out: Dict[str, Tensor], joints: Tensor, weights: Tensor) -> Tensor:
        """The four unweighted L1 terms (xy, xz, yz, fused) of :meth:`loss`."""
        w = weights.to(joints)[..., None]
        gt = joints * w
        p = out['plane_poses']
        return torch.stack([F.l1_loss(p[0] * w, gt[..., [0, 1]]),
                            F.l1_loss(p[1] * w, gt[..., [0, 2]]),
                            F.l1_loss(p[2] * w, gt[..., [1, 2]]),
                            F.l1_loss(out['poses'] * w, gt)])
