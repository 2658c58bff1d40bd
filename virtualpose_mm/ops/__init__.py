"""Compiled CPU kernels (built on first use)."""
from .winograd import (WinogradConv3d, WinogradRes3DBlock, is_winograd_conv, load_extension,
                       winograd_available, winograd_unavailable_reason, winograd_weight)

__all__ = ['WinogradConv3d', 'WinogradRes3DBlock', 'is_winograd_conv', 'load_extension',
           'winograd_available', 'winograd_unavailable_reason', 'winograd_weight']
