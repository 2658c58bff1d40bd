"""Compiled CPU kernels (built on first use)."""
from .sample_views import (can_fuse, sample_views_average, sample_views_kernel_available,
                           sample_views_kernel_unavailable_reason)
from .winograd import (WinogradConv3d, WinogradRes3DBlock, is_winograd_conv, load_extension,
                       winograd_available, winograd_unavailable_reason, winograd_weight)

__all__ = ['WinogradConv3d', 'WinogradRes3DBlock', 'is_winograd_conv', 'load_extension',
           'winograd_available', 'winograd_unavailable_reason', 'winograd_weight',
           'can_fuse', 'sample_views_average', 'sample_views_kernel_available',
           'sample_views_kernel_unavailable_reason']
