"""Winograd F(2³, 3³) 3×3×3 convolution (virtualpose_mm/ops) against torch's conv3d."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from virtualpose_mm.ops import (WinogradConv3d, WinogradRes3DBlock, is_winograd_conv,
                                winograd_available, winograd_unavailable_reason,
                                winograd_weight)
from virtualpose_mm.ops.winograd import _cpu_has_avx2
from virtualpose_mm.registry import MODELS

pytestmark = pytest.mark.skipif(not _cpu_has_avx2(),
                                reason='the Winograd kernel needs AVX2+FMA')


def test_kernel_builds_here():
    # every machine of this project has AVX2+FMA and a compiler: a build failure is a bug
    assert winograd_available(), winograd_unavailable_reason()


def _reference(conv, x):
    """conv3d in float64: the exact result to compare float32 kernels with."""
    return F.conv3d(x.double(), conv.weight.double(),
                    None if conv.bias is None else conv.bias.double(), 1, 1)


@pytest.mark.parametrize('n,c,o,shape,bias,tiles', [
    (2, 8, 16, (5, 6, 7), True, None),      # odd sizes: partial tiles on every axis
    (1, 32, 32, (16, 16, 16), True, None),
    (1, 16, 48, (3, 1, 2), False, None),    # thinner than a tile
    (2, 24, 32, (9, 4, 6), True, 1),        # one tile per chunk
    (1, 8, 16, (6, 10, 8), True, 5),        # 5-row matrix products and a short last chunk
    (1, 64, 16, (4, 4, 4), True, 7),
])
def test_matches_conv3d(n, c, o, shape, bias, tiles):
    torch.manual_seed(c + o)
    conv = nn.Conv3d(c, o, 3, padding=1, bias=bias)
    x = torch.randn(n, c, *shape)
    wc = WinogradConv3d(conv, tiles_per_chunk=tiles)
    with torch.no_grad():
        y = wc(x)
        ref = _reference(conv, x)
        # channels-last input: the same result
        y_cl = wc(x.contiguous(memory_format=torch.channels_last_3d))
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert y.is_contiguous(memory_format=torch.channels_last_3d)
    scale = ref.abs().max().item()
    # float32: the transforms sum up to 64 terms; oneDNN's direct conv is ~1e-6 too
    assert (y.double() - ref).abs().max().item() <= 1e-5 * scale
    assert torch.equal(y, y_cl)


@pytest.mark.parametrize('shape', [(6, 4, 8), (5, 3, 7)])
def test_residual_and_relu_in_the_output_transform(shape):
    torch.manual_seed(1)
    conv = nn.Conv3d(16, 32, 3, padding=1)
    wc = WinogradConv3d(conv, tiles_per_chunk=5)
    x = torch.randn(2, 16, *shape)
    r = torch.randn(2, 32, *shape)
    with torch.no_grad():
        ref = _reference(conv, x)
        y = wc(x, residual=r, relu=True)
        y_relu = wc(x, relu=True)
        y_res = wc(x, residual=r.contiguous(memory_format=torch.channels_last_3d))
    scale = ref.abs().max().item()
    assert (y.double() - F.relu(ref + r.double())).abs().max().item() <= 1e-5 * scale
    assert (y_relu.double() - F.relu(ref)).abs().max().item() <= 1e-5 * scale
    assert (y_res.double() - (ref + r.double())).abs().max().item() <= 1e-5 * scale
    assert (y_relu == 0).float().mean() > 0.3      # the ReLU did clamp
    # autograd falls back to conv3d with the same semantics
    xg = x.clone().requires_grad_(True)
    yg = wc(xg, residual=r, relu=True)
    assert yg.requires_grad and torch.allclose(yg.detach(), y, atol=1e-4)
    with pytest.raises(RuntimeError, match='residual'):
        with torch.no_grad():
            wc(x, residual=r[:, :, 1:])


def test_weight_transform_of_a_delta_kernel():
    # a centred delta kernel (identity convolution): G e_1 = (0, .5, -.5, 0) per axis
    w = torch.zeros(16, 8, 3, 3, 3)
    for i in range(8):
        w[i, i, 1, 1, 1] = 1.0
    u = winograd_weight(w).view(4, 4, 4, 8, 16)
    g = torch.tensor([0.0, 0.5, -0.5, 0.0])
    expect = torch.einsum('a,b,c->abc', g, g, g)
    assert torch.allclose(u[..., 3, 3], expect)
    assert u[..., 3, 4].abs().max() == 0
    conv = nn.Conv3d(8, 16, 3, padding=1, bias=False)
    conv.weight.data.copy_(w)
    x = torch.randn(1, 8, 6, 5, 4)
    with torch.no_grad():
        y = WinogradConv3d(conv)(x)
    assert torch.allclose(y[:, :8], x, atol=1e-6) and y[:, 8:].abs().max() == 0


def test_autograd_and_other_dtypes_use_conv3d():
    torch.manual_seed(0)
    conv = nn.Conv3d(8, 16, 3, padding=1)
    wc = WinogradConv3d(conv)
    x = torch.randn(1, 8, 4, 5, 6, requires_grad=True)
    y = wc(x)
    y.sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    F.conv3d(x2, conv.weight.detach(), conv.bias.detach(), 1, 1).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-5)
    with torch.no_grad():
        y64 = wc(x.detach().double())
    assert y64.dtype == torch.float64
    assert torch.allclose(y64, _reference(conv, x.detach()), atol=1e-10)


def test_which_convolutions_qualify():
    assert is_winograd_conv(nn.Conv3d(8, 16, 3, padding=1))
    assert not is_winograd_conv(nn.Conv3d(15, 16, 3, padding=1))      # C % 8
    assert not is_winograd_conv(nn.Conv3d(8, 12, 3, padding=1))       # O % 16
    assert not is_winograd_conv(nn.Conv3d(8, 16, 3, padding=1, stride=2))
    assert not is_winograd_conv(nn.Conv3d(8, 16, 3, padding=0))
    assert not is_winograd_conv(nn.Conv3d(8, 16, 7, padding=3))
    assert not is_winograd_conv(nn.Conv3d(8, 16, 3, padding=1, groups=2))
    with pytest.raises(ValueError, match='3x3x3 stride-1'):
        WinogradConv3d(nn.Conv3d(8, 16, 3, padding=1, stride=2))


def test_fast_eval_v2v_runs_its_3x3x3_convolutions_by_winograd():
    from virtualpose_mm.models.heads.voxel_center_net import FastEvalV2V, MkldnnConv3d
    torch.manual_seed(0)
    net = MODELS.build(dict(type='V2VNet', input_channels=15, output_channels=15,
                            mid_channels=16))
    net.eval()
    for m in net.modules():  # non-trivial folded BatchNorm
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.rand(1, 15, 16, 16, 16)
    fast, plain_kernels = FastEvalV2V(), FastEvalV2V(winograd=False)
    with torch.no_grad():
        a = fast(net, x)
        b = plain_kernels(net, x)
        d = net(x)
        d = d[0] if isinstance(d, (tuple, list)) else d
    n_wino = sum(isinstance(m, WinogradConv3d) for m in fast._net.modules())
    n_3x3 = sum(isinstance(m, nn.Conv3d) and is_winograd_conv(m) for m in net.modules())
    assert n_3x3 > 10 and n_wino == n_3x3
    # every V2V residual block runs fused (8 in this net), each holding its two convolutions
    n_fused = sum(isinstance(m, WinogradRes3DBlock) for m in fast._net.modules())
    assert n_fused == 8 and n_wino == 2 * n_fused
    assert not any(isinstance(m, WinogradConv3d) for m in plain_kernels._net.modules())
    assert any(isinstance(m, MkldnnConv3d) for m in plain_kernels._net.modules())
    scale = d.abs().max().item()
    assert (a - d).abs().max().item() <= 1e-4 * scale
    assert (a - b).abs().max().item() <= 1e-4 * scale
