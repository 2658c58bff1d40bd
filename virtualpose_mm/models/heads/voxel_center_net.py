"""VoxelPose's root (centre) network: whole-space projection → V2V → proposals."""
from __future__ import annotations

import copy
import warnings
from typing import Hashable, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights

from virtualpose_mm.registry import MODELS
from ...codecs.voxel_root_codec import VoxelRootCodec
from ...ops import (WinogradConv3d, WinogradRes3DBlock, is_winograd_conv, winograd_available,
                    winograd_unavailable_reason)
from ..layers import ProposalLayer, VoxelProjector
from ..utils.geometry_state import GeometryStateMixin


def v2v_forward(net, x: torch.Tensor) -> torch.Tensor:
    """Run a V2V backbone; MMPose 1.x backbones return a tuple of one tensor."""
    out = net(x)
    return out[0] if isinstance(out, (tuple, list)) else out


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm of a V2V net into the preceding (transposed)
    convolution, in place (``ConvModule`` norms and ``Upsample3DBlock`` sequences)."""
    for child in list(net.children()):
        if isinstance(child, ConvModule) and child.with_norm and \
                isinstance(child.norm, nn.modules.batchnorm._BatchNorm) and \
                child.order.index('conv') < child.order.index('norm'):
            child.conv = fuse_conv_bn_eval(child.conv, child.norm)
            setattr(child, child.norm_name, nn.Identity())
        elif isinstance(child, nn.Sequential) and len(child) >= 2 and \
                isinstance(child[0], (nn.ConvTranspose3d, nn.Conv3d)) and \
                isinstance(child[1], nn.modules.batchnorm._BatchNorm):
            conv, bn = child[0], child[1]
            w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean,
                                        bn.running_var, bn.eps, bn.weight, bn.bias,
                                        transpose=isinstance(conv, nn.ConvTranspose3d))
            conv.weight, conv.bias = w, b
            child[1] = nn.Identity()
        else:
            fold_batchnorm(child)
    return net


class FFTConv3d(nn.Module):
    """A stride-1, zero-padded ('same') Conv3d evaluated with FFTs (inference only).

    For a large kernel on a large volume (V2V's 7³ first layer on 64³ cubes: 24.5 GMAC
    as a direct convolution) the work drops to two FFTs and one complex product per
    channel pair. The weight spectrum is cached per input shape (16×17 channels at 70³
    padded: ~420 MB for a 64³ cube). Outputs differ from the direct convolution by float32
    rounding (~1e-6 relative). Opt-in (``fft_first_layer``); see the benchmark for
    whether it wins on a machine.
    """

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        k = conv.kernel_size
        if conv.stride != (1, 1, 1) or conv.dilation != (1, 1, 1) or conv.groups != 1 or \
                any(p != (kk - 1) // 2 for p, kk in zip(conv.padding, k)) or \
                any(kk % 2 == 0 for kk in k) or conv.padding_mode != 'zeros':
            raise ValueError(f'FFTConv3d needs a stride-1 "same" convolution, got {conv}')
        self.weight = conv.weight.detach()
        self.bias = None if conv.bias is None else conv.bias.detach()
        self._spectra = {}

    @staticmethod
    def _fast_len(n: int) -> int:
        """The smallest m ≥ n whose prime factors are 2, 3 and 5 (fast FFT sizes)."""
        m = n
        while True:
            r = m
            for p in (2, 3, 5):
                while r % p == 0:
                    r //= p
            if r == 1:
                return m
            m += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        k = w.shape[2:]
        dims = tuple(x.shape[2:])
        s = tuple(self._fast_len(d + kk - 1) for d, kk in zip(dims, k))
        key = (s, x.device, x.dtype)
        W = self._spectra.get(key)
        if W is None:  # correlation = convolution with the flipped kernel
            W = torch.fft.rfftn(w.to(x.dtype).flip(2, 3, 4), s=s, dim=(2, 3, 4))
            W = W.transpose(0, 1).flatten(2).contiguous()            # (Ci, Co, F)
            self._spectra = {key: W}
        X = torch.fft.rfftn(x.contiguous(), s=s, dim=(2, 3, 4))       # (N, Ci, *F)
        fshape = X.shape[2:]
        X = X.flatten(2)                                               # (N, Ci, F)
        Ys = []
        for n in range(X.shape[0]):  # Σ_c W[c] · X[c], accumulated in place (2-D views)
            acc = W[0] * X[n, 0]
            for c in range(1, X.shape[1]):
                acc.addcmul_(W[c], X[n, c])
            Ys.append(acc)
        Y = (Ys[0][None] if len(Ys) == 1 else torch.stack(Ys)).view(X.shape[0], -1, *fshape)
        y = torch.fft.irfftn(Y, s=s, dim=(2, 3, 4))
        p = [(kk - 1) // 2 for kk in k]
        y = y[..., p[0]:p[0] + dims[0], p[1]:p[1] + dims[1], p[2]:p[2] + dims[2]]
        out = torch.empty(y.shape, dtype=y.dtype, device=y.device,
                          memory_format=torch.channels_last_3d)
        if self.bias is not None:  # crop + bias + channels-last in one pass
            return torch.add(y, self.bias.to(y).view(1, -1, 1, 1, 1), out=out)
        return out.copy_(y)


class PointwiseConv3d(nn.Module):
    """A 1×1×1 Conv3d as one matrix product over the voxels of a channels-last input
    (inference only). oneDNN runs V2V's 1×1×1 convolutions (the 16→32 skip at full
    resolution, the 32→K output layer) far below its 3×3×3 rate: on a 64³ cube the
    output layer took ~0.1 s for 0.14 GMAC. The result is channels-last-3d, no copy."""

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        if tuple(conv.kernel_size) != (1, 1, 1) or conv.stride != (1, 1, 1) or \
                conv.groups != 1 or tuple(conv.padding) != (0, 0, 0):
            raise ValueError(f'PointwiseConv3d needs a plain 1x1x1 convolution, got {conv}')
        self.weight_t = conv.weight.detach().flatten(1).t().contiguous()     # (Ci, Co)
        self.bias = None if conv.bias is None else conv.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, D, H, W = x.shape
        xl = x.permute(0, 2, 3, 4, 1)                     # a view for channels-last input
        flat = xl.reshape(-1, C)
        w = self.weight_t.to(flat)
        y = torch.addmm(self.bias.to(flat), flat, w) if self.bias is not None else flat @ w
        return y.view(N, D, H, W, -1).permute(0, 4, 1, 2, 3)


def _replace_pointwise(net: nn.Module) -> nn.Module:
    """Every plain 1×1×1 Conv3d of ``net`` → :class:`PointwiseConv3d`, in place."""
    for name, child in list(net.named_children()):
        if isinstance(child, nn.Conv3d) and tuple(child.kernel_size) == (1, 1, 1) and \
                child.stride == (1, 1, 1) and child.groups == 1 and \
                tuple(child.padding) == (0, 0, 0):
            setattr(net, name, PointwiseConv3d(child))
        else:
            _replace_pointwise(child)
    return net


class MkldnnConv3d(nn.Module):
    """A Conv3d that always runs oneDNN on channels-last-3d input (CPU inference only).

    PyTorch's backend heuristic sends a batch-1 3×3×3 convolution whose
    ``C·D·H`` is ≤ 20480 (V2V's 64→128 layer on a 64³ cube, half of the layers on a 32³
    cube) to its slow im2col path, which also returns NCDHW and forces layout copies
    around it; called directly, oneDNN is ~3x faster on those layers."""

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise ValueError(f'MkldnnConv3d needs numeric zero padding, got {conv}')
        self.weight = conv.weight.detach().contiguous(memory_format=torch.channels_last_3d)
        self.bias = None if conv.bias is None else conv.bias.detach()
        self.padding, self.stride = list(conv.padding), list(conv.stride)
        self.dilation, self.groups = list(conv.dilation), conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32 or x.device.type != 'cpu':
            return F.conv3d(x, self.weight.to(x), None if self.bias is None else
                            self.bias.to(x), self.stride, self.padding, self.dilation,
                            self.groups)
        x = x.contiguous(memory_format=torch.channels_last_3d)
        return torch.ops.aten.mkldnn_convolution(x, self.weight, self.bias, self.padding,
                                                 self.stride, self.dilation, self.groups)


def _replace_cpu_convs(net: nn.Module, winograd: bool = False) -> nn.Module:
    """Every remaining Conv3d → :class:`~virtualpose_mm.ops.WinogradConv3d` (with
    ``winograd``, the 3×3×3 stride-1 ones) or :class:`MkldnnConv3d`, in place. (A kernel-2
    stride-2 ConvTranspose3d as a matrix product plus a block shuffle was measured too:
    slower on a 64³ cube, 0.10 s against 0.04 s; it stays a ConvTranspose3d.)"""
    for name, child in list(net.named_children()):
        if winograd and is_winograd_conv(child):
            setattr(net, name, WinogradConv3d(child))
        elif isinstance(child, nn.Conv3d) and child.padding_mode == 'zeros' and \
                not isinstance(child.padding, str):
            setattr(net, name, MkldnnConv3d(child))
        else:
            _replace_cpu_convs(child, winograd)
    return net


def _winograd_conv_module(m: nn.Module, relu: bool) -> bool:
    """A ConvModule conv → (folded, Identity) norm → ReLU if ``relu`` / no activation,
    whose conv is a :class:`WinogradConv3d`."""
    if not isinstance(m, ConvModule) or not isinstance(m.conv, WinogradConv3d) or \
            tuple(m.order) != ('conv', 'norm', 'act') or \
            (m.with_norm and not isinstance(m.norm, nn.Identity)) or \
            getattr(m, 'with_explicit_padding', False):
        return False
    if not relu:
        return not m.with_activation
    return m.with_activation and isinstance(m.activate, nn.ReLU)


def _fuse_winograd_res_blocks(net: nn.Module) -> nn.Module:
    """Every V2V ``Res3DBlock`` (``relu(res_branch(x) + skip_con(x))``) whose two
    convolutions run by Winograd → :class:`~virtualpose_mm.ops.WinogradRes3DBlock`
    (ReLUs and the residual addition inside the kernel), in place."""
    for name, child in list(net.named_children()):
        rb = getattr(child, 'res_branch', None)
        if type(child).__name__ == 'Res3DBlock' and isinstance(rb, nn.Sequential) and \
                len(rb) == 2 and isinstance(getattr(child, 'skip_con', None), nn.Module) and \
                _winograd_conv_module(rb[0], True) and _winograd_conv_module(rb[1], False):
            setattr(net, name, WinogradRes3DBlock(rb[0].conv, rb[1].conv, child.skip_con))
        else:
            _fuse_winograd_res_blocks(child)
    return net


_WINOGRAD_WARNED = False


def _winograd_ready() -> bool:
    """Whether the Winograd kernel runs here; warns once (with the reason) if not."""
    global _WINOGRAD_WARNED
    if winograd_available():
        return True
    if not _WINOGRAD_WARNED:
        _WINOGRAD_WARNED = True
        warnings.warn(f'Winograd 3x3x3 convolutions are off ({winograd_unavailable_reason()}); '
                      'the V2V nets use oneDNN (slower, same results to ~1e-6).')
    return False


def _first_conv(net: nn.Module):
    """(parent, attribute name) of the first Conv3d of a V2V net, or None."""
    for name, child in net.named_modules():  # depth-first, in forward order for V2V
        if isinstance(child, nn.Conv3d):
            parent, _, attr = name.rpartition('.')
            return (net.get_submodule(parent) if parent else net), attr
    return None


class FastEvalV2V:
    """An inference copy of a V2V net with BatchNorm folded into the convolutions and
    channels-last-3d memory format (oneDNN kernels on the CPU: ~1.4x faster for 64³ cubes
    in our measurements; outputs differ from the plain net by ~1e-6 relative). Rebuilt
    whenever a parameter or buffer of the source net changes (tracked by tensor versions).
    Not a submodule: it never enters the state dict.

    Args:
        fft_first_layer: evaluate the first convolution (V2V's 7³ one) with FFTs
            (:class:`FFTConv3d`). Opt-in.
        compile: ``torch.compile`` the folded copy (inductor, weights frozen); compiles on
            first use (seconds) and falls back to eager if compilation fails. Opt-in.
        pointwise_matmul: 1×1×1 convolutions as matrix products
            (:class:`PointwiseConv3d`; on by default, faster on the CPU).
        cpu_kernels: on the CPU, every other convolution through oneDNN directly
            (:class:`MkldnnConv3d`); on by default.
        winograd: on the CPU (with ``cpu_kernels``), the 3×3×3 stride-1 convolutions by
            Winograd F(2³, 3³) (:class:`~virtualpose_mm.ops.WinogradConv3d`: 3.4× fewer
            multiplications, 1.1–2.4× faster than oneDNN per V2V layer on 2 threads here,
            the 64³ layers least: ``tools/analysis/benchmark_winograd.py``; outputs differ
            by ~2e-6 relative), the residual blocks fused
            (:class:`~virtualpose_mm.ops.WinogradRes3DBlock`). On by default where the
            kernel builds (AVX2+FMA and a C++ compiler); otherwise a warning and oneDNN.
    """

    def __init__(self, fft_first_layer: bool = False, compile: bool = False,
                 pointwise_matmul: bool = True, cpu_kernels: bool = True,
                 winograd: bool = True):
        self._key = None
        self._net = None
        self.fft_first_layer = bool(fft_first_layer)
        self.compile = bool(compile)
        self.pointwise_matmul = bool(pointwise_matmul)
        self.cpu_kernels = bool(cpu_kernels)
        self.winograd = bool(winograd)

    def __call__(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        tensors = list(net.parameters()) + list(net.buffers())
        key = tuple((t.data_ptr(), t._version, t.device) for t in tensors)
        if key != self._key:
            folded = copy.deepcopy(net)
            folded.eval()  # (mmpose backbones' train() returns None: no chaining)
            folded = fold_batchnorm(folded)
            for p in folded.parameters():
                p.requires_grad_(False)
            folded = folded.to(memory_format=torch.channels_last_3d)
            if self.pointwise_matmul:
                _replace_pointwise(folded)
            if self.fft_first_layer:
                where = _first_conv(folded)
                if where is not None and where[1] in where[0]._modules and \
                        max(getattr(where[0], where[1]).kernel_size) >= 5:
                    setattr(where[0], where[1], FFTConv3d(getattr(where[0], where[1])))
            if self.cpu_kernels and x.device.type == 'cpu' and \
                    torch.backends.mkldnn.is_available():
                use_winograd = self.winograd and _winograd_ready()
                _replace_cpu_convs(folded, use_winograd)
                if use_winograd:
                    _fuse_winograd_res_blocks(folded)
            if self.compile:
                try:
                    import torch._inductor.config as inductor_config
                    inductor_config.freezing = True
                    folded = torch.compile(folded)
                except Exception:  # noqa: BLE001  (no compiler: stay eager)
                    pass
            self._net = folded
            self._key = key
        x = x.contiguous(memory_format=torch.channels_last_3d)
        try:
            out = v2v_forward(self._net, x)
        except Exception:
            if not self.compile:
                raise
            self.compile = False  # compilation failed at run time: rebuild eager
            self._key = None
            return self(net, x)
        return out.contiguous()


def run_v2v(module, x: torch.Tensor) -> torch.Tensor:
    """``module.v2v_net`` on ``x``, through the fast inference copy when the module has
    ``fast_eval`` set, is in eval mode and no gradient is needed."""
    if getattr(module, 'fast_eval', False) and not module.training and \
            not torch.is_grad_enabled():
        return module._fast_v2v(module.v2v_net, x)
    return v2v_forward(module.v2v_net, x)


def _check_space(name, value, n=3):
    v = tuple(value)
    if len(v) != n:
        raise ValueError(f'{name} must have {n} values (x, y, z), got {v}')
    return v


@MODELS.register_module()
class VoxelCenterNet(GeometryStateMixin, BaseModule):
    """Finds people as peaks of a root-likelihood volume over the whole capture space.

    The per-view 2D heatmaps are projected into the voxel grid of the space
    (:class:`~virtualpose_mm.models.layers.VoxelProjector`, cached per rig), a V2V network
    maps the K joint channels to one root channel, and :class:`ProposalLayer` takes the
    NMS peaks.

    Args:
        space_size: (3,) capture-space size in mm.
        space_center: (3,) capture-space centre in mm (world, z up).
        space_shape: (3,) voxels per axis (VoxelPose: 80×80×20).
        v2v_net: config of the V2V backbone, K → 1 channels (MMPose ``V2VNet``).
        max_people: proposals per frame (M).
        nms_kernel: 3D max-pool NMS kernel.
        threshold: score above which a proposal is a person at test time.
        match_distance: a training proposal is matched to the nearest GT root within this
            many mm; unmatched proposals do not train the pose net.
        target_sigma: std in mm of the 3D Gaussian of the space's codec (the root targets
            themselves are made by the transform ``GenerateRootTarget3D``; give it the
            same sigma).
        loss: config of the root-volume loss (default MSE, as the reference).
        projector: kwargs of :class:`VoxelProjector` (``exclude_behind_camera``,
            ``precision``, ``cache_size``).
        fast_eval: in eval mode without gradients, run the V2V net through a copy with
            BatchNorm folded into the convolutions and channels-last memory (faster on the
            CPU; numbers differ by ~1e-6 relative). Off by default.
        fft_first_layer: with ``fast_eval``, the 7³ first convolution by FFT
            (:class:`FFTConv3d`; opt-in).
        compile_v2v: with ``fast_eval``, ``torch.compile`` the inference copy (opt-in).
        winograd: with ``fast_eval`` on the CPU, 3×3×3 convolutions by Winograd (see
            :class:`FastEvalV2V`; on by default).
        subvoxel: refine the proposals' peaks to sub-voxel positions (see
            :func:`~virtualpose_mm.models.layers.proposal.refine_peaks`; default False,
            the reference's voxel centres). VoxelPose only centres the pose cubes on them.
        init_cfg: mmengine init config.

    The module stores the space in its state dict (``_extra_state``, see
    :mod:`~virtualpose_mm.models.utils.geometry_state`); loading a checkpoint whose space
    differs from the config raises an error.
    """

    def __init__(self, space_size: Sequence[float], space_center: Sequence[float],
                 space_shape: Sequence[int], v2v_net: dict, max_people: int = 10,
                 nms_kernel: int = 3, threshold: float = 0.3, match_distance: float = 500.0,
                 target_sigma: float = 200.0, loss: dict = dict(type='KeypointMSELoss'),
                 projector: Optional[dict] = None, fast_eval: bool = False,
                 fft_first_layer: bool = False, compile_v2v: bool = False,
                 winograd: bool = True, subvoxel: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.space_size = tuple(float(s) for s in _check_space('space_size', space_size))
        self.space_center = tuple(float(s) for s in _check_space('space_center', space_center))
        self.space_shape = tuple(int(s) for s in _check_space('space_shape', space_shape))
        if any(s < 2 for s in self.space_shape):
            raise ValueError(f'space_shape needs at least 2 voxels per axis, got '
                             f'{self.space_shape}')
        self.target_sigma = float(target_sigma)
        self.projector = VoxelProjector(**(projector or {}))
        self.v2v_net = MODELS.build(v2v_net)
        # the space's codec: peak decoding (root targets: GenerateRootTarget3D)
        self.codec = VoxelRootCodec(self.space_size, self.space_center, self.space_shape,
                                    sigma=self.target_sigma)
        self.proposal_layer = ProposalLayer(self.space_size, self.space_center,
                                            self.space_shape, max_num=max_people,
                                            nms_kernel=nms_kernel, threshold=threshold,
                                            match_distance=match_distance, codec=self.codec,
                                            subvoxel=subvoxel)
        self.loss_module = MODELS.build(loss)
        self.fast_eval = bool(fast_eval)
        self._fast_v2v = FastEvalV2V(fft_first_layer, compile_v2v, winograd=winograd)

    @property
    def max_people(self) -> int:
        return self.proposal_layer.max_num

    # ------------------------------------------------------------------ state
    geometry_fields = ('space_size', 'space_center', 'space_shape')
    geometry_what = 'capture space'

    def space_dict(self) -> dict:
        return self.geometry_dict()

    # ------------------------------------------------------------------ forward parts
    def project(self, heatmaps: torch.Tensor, cameras, affines: torch.Tensor,
                image_sizes: torch.Tensor, input_size=None,
                sample_keys: Optional[List[Hashable]] = None) -> torch.Tensor:
        """(B, V, K, H, W) heatmaps → (B, K, X, Y, Z) input volume of the V2V net."""
        return self.projector.project_space(heatmaps, self.space_size, self.space_center,
                                            self.space_shape, cameras, affines, image_sizes,
                                            input_size=input_size, sample_keys=sample_keys)

    def forward(self, cubes: torch.Tensor) -> torch.Tensor:
        """(B, K, X, Y, Z) → (B, X, Y, Z) root likelihood."""
        return run_v2v(self, cubes).squeeze(1)

    def get_proposals(self, root_volume: torch.Tensor, gt_roots=None, gt_counts=None
                      ) -> torch.Tensor:
        """(B, X, Y, Z) → (B, M, 5) proposals (see :class:`ProposalLayer`)."""
        return self.proposal_layer(root_volume, gt_roots, gt_counts)

    def loss(self, root_volume: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Root-volume loss (B, X, Y, Z) vs (B, X, Y, Z) targets."""
        if targets.shape != root_volume.shape:
            raise ValueError(f'root targets have shape {tuple(targets.shape)}, the root '
                             f'volume {tuple(root_volume.shape)}')
        return self.loss_module(root_volume, targets.to(root_volume))
