"""Winograd F(2³, 3³) convolution for 3×3×3 'same' Conv3d layers on the CPU (inference).

V2V's 3×3×3 convolutions are about two thirds of VoxelPose's per-person work (~55 of its
81 GMAC for a 64³ cube) and oneDNN already runs them near this CPU's peak, so only doing
less work makes them faster. Winograd's minimal filtering does a 2×2×2 output tile with 64
multiplications per channel pair instead of 216 (3.4× fewer); the transforms are additions.
The kernel (``csrc/winograd3d.cpp``: tiles in cache-sized chunks, input transform, 64
AVX2/FMA register-blocked matrix products, output transform) is compiled on first use with
``torch.utils.cpp_extension`` (about a minute; cached under ``VPMM_EXT_DIR`` or
``~/.cache/virtualpose_mm/torch_extensions``, one folder per checkout). It is used only
where the CPU has AVX2 and FMA and a C++ compiler is there; otherwise
:func:`winograd_available` says why and callers keep oneDNN. Outputs differ from the direct
convolution by float32 rounding (~1e-6 relative): the transforms add and subtract up to 64
terms before the products.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._build import CpuKernel
from ._build import cpu_has_avx2 as _cpu_has_avx2  # noqa: F401  (tests import it from here)

_KERNEL = CpuKernel('vpmm_winograd3d', 'winograd3d.cpp', 'the Winograd kernel')
_EMPTY = torch.empty(0)

# G of F(2, 3): the 3-tap filter -> the 4 points of the Winograd domain
_G = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]],
                  dtype=torch.float64)


def load_extension(verbose: bool = False):
    """The compiled kernel module, building it on first use; ``None`` where it cannot be
    used (the reason is in :func:`winograd_unavailable_reason`)."""
    return _KERNEL.load(verbose)


def winograd_available() -> bool:
    """Whether the Winograd kernel can run here (builds it on first call)."""
    return load_extension() is not None


def winograd_unavailable_reason() -> Optional[str]:
    load_extension()
    return _KERNEL.error


def is_winograd_conv(conv: nn.Module) -> bool:
    """A Conv3d that :class:`WinogradConv3d` computes: 3×3×3, stride 1, dilation 1, zero
    padding 1, one group, a multiple of 8 input and of 16 output channels."""
    return isinstance(conv, nn.Conv3d) and tuple(conv.kernel_size) == (3, 3, 3) and \
        tuple(conv.stride) == (1, 1, 1) and tuple(conv.dilation) == (1, 1, 1) and \
        not isinstance(conv.padding, str) and tuple(conv.padding) == (1, 1, 1) and \
        conv.padding_mode == 'zeros' and conv.groups == 1 and conv.in_channels % 8 == 0 and \
        conv.out_channels % 16 == 0


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """(O, C, 3, 3, 3) correlation weights → (64, C, O) float32 Winograd-domain weights
    U[ξ] = G g Gᵀ along the three axes (ξ = 16·a + 4·b + c for depth, height, width),
    computed in float64."""
    g = weight.detach().to('cpu', torch.float64)
    u = torch.einsum('ai,bj,ck,omijk->abcmo', _G, _G, _G, g)        # (4, 4, 4, C, O)
    return u.reshape(64, g.shape[1], g.shape[0]).to(torch.float32).contiguous()


class WinogradConv3d(nn.Module):
    """A 3×3×3 stride-1 'same' Conv3d by Winograd F(2³, 3³) on the CPU (float32
    inference; other devices/dtypes and autograd use ``F.conv3d`` with the same weights).

    Input (N, C, D, H, W), any memory format (channels-last-3d avoids a copy); output
    (N, O, D, H, W) in channels-last-3d memory.
    """

    def __init__(self, conv: nn.Conv3d, tiles_per_chunk: Optional[int] = None):
        super().__init__()
        if not is_winograd_conv(conv):
            raise ValueError(f'WinogradConv3d needs a 3x3x3 stride-1 padding-1 Conv3d with '
                             f'multiples of 8 input / 16 output channels, got {conv}')
        self.weight = conv.weight.detach()
        self.bias = None if conv.bias is None else conv.bias.detach()
        self.u = winograd_weight(self.weight)
        c, o = conv.in_channels, conv.out_channels
        # ~1 MiB of V plus M per chunk (L2-sized working set)
        self.tiles_per_chunk = int(tiles_per_chunk or max(8, (1 << 18) // (64 * max(c, o))))
        self._bias = (self.bias.to(torch.float32).contiguous() if self.bias is not None
                      else _EMPTY)

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None,
                relu: bool = False) -> torch.Tensor:
        """conv(x) + bias, plus ``residual`` (N, O, D, H, W) if given, then ReLU if
        ``relu``; the additions and the ReLU happen in the kernel's output transform."""
        ext = _KERNEL.module if _KERNEL.module is not None else load_extension()
        if ext is None or x.device.type != 'cpu' or x.dtype != torch.float32 or \
                (torch.is_grad_enabled() and x.requires_grad) or \
                (residual is not None and residual.dtype != torch.float32):
            y = F.conv3d(x, self.weight.to(x), None if self.bias is None else
                         self.bias.to(x), 1, 1)
            if residual is not None:
                y = y + residual
            return F.relu(y) if relu else y
        xl = x.permute(0, 2, 3, 4, 1).contiguous()       # a view for channels-last input
        rl = (residual.permute(0, 2, 3, 4, 1).contiguous() if residual is not None
              else _EMPTY)
        y = ext.winograd3d_f2(xl, self.u, self._bias, rl, bool(relu), self.tiles_per_chunk)
        return y.permute(0, 4, 1, 2, 3)

    def extra_repr(self) -> str:
        return f'{self.u.shape[1]}, {self.u.shape[2]}, tiles_per_chunk={self.tiles_per_chunk}'


class WinogradRes3DBlock(nn.Module):
    """V2V's residual block (``relu(conv2(relu(conv1(x))) + skip(x))``, BatchNorm folded)
    with both 3×3×3 convolutions by :class:`WinogradConv3d` and the ReLUs and the residual
    addition done in their output transforms: no separate add and ReLU passes over the
    volume (at 64³ × 32 channels each pass is 34 MB read and written)."""

    def __init__(self, conv1: WinogradConv3d, conv2: WinogradConv3d, skip: nn.Module):
        super().__init__()
        self.conv1, self.conv2, self.skip = conv1, conv2, skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(x)
        return self.conv2(self.conv1(x, relu=True), residual=skip, relu=True)
