"""virtualpose_mm/models/utils/int8_weights.py: int8 storage of weight tensors with
per-channel scales (publish_model --int8), read back as float by the package's estimators
(mmengine's load_checkpoint through the load pre-hook, and the package's checkpoint readers
before their key checks)."""
import sys
from pathlib import Path

import pytest
import torch
from mmengine.runner import load_checkpoint

import virtualpose_mm  # noqa: F401  (registers the models)
from virtualpose_mm.engine.runner import read_checkpoint
from virtualpose_mm.models.utils.int8_weights import (SCALE_SUFFIX, dequantize_state_dict,
                                                      quantize_int8, quantize_state_dict)
from virtualpose_mm.registry import MODELS

sys.path.insert(0, str(Path(__file__).parent))
import virtualpose_toy as T  # noqa: E402


def test_quantize_int8_is_within_half_a_step_per_channel():
    torch.manual_seed(0)
    w = torch.randn(6, 4, 3, 3, 3) * torch.tensor([1e-3, 0.1, 1, 5, 0, 2]).view(6, 1, 1, 1, 1)
    q, s = quantize_int8(w)
    assert q.dtype == torch.int8 and q.shape == w.shape
    assert s.dtype == torch.float16 and s.shape == (6, 1, 1, 1, 1)
    back = q.float() * s.float()
    step = s.float()
    assert bool(((back - w).abs() <= step / 2 + 1e-6 * step).all())
    # (the scale is float16: a half step is max|w| / 254 to 0.05 %)
    # the largest weight of each non-zero channel takes the full range
    assert q.flatten(1).abs().amax(1).tolist() == [127, 127, 127, 127, 0, 127]
    assert s[4].item() == 1.0 and not q[4].any()       # a channel of zeros
    with pytest.raises(ValueError, match='≥ 2 dims'):
        quantize_int8(torch.randn(5))


def test_quantize_state_dict_only_touches_weights_under_the_prefix():
    sd = {'pose_net.conv.weight': torch.randn(4, 2, 3), 'pose_net.conv.bias': torch.randn(4),
          'pose_net.bn.num_batches_tracked': torch.tensor(3),
          'root_net.conv.weight': torch.randn(4, 2, 3)}
    q = quantize_state_dict(sd, ['pose_net.'])
    assert set(q) == set(sd) | {'pose_net.conv.weight' + SCALE_SUFFIX}
    assert q['pose_net.conv.weight'].dtype == torch.int8
    for k in ('pose_net.conv.bias', 'root_net.conv.weight', 'pose_net.bn.num_batches_tracked'):
        assert q[k] is sd[k]
    back = dequantize_state_dict(dict(q))
    assert set(back) == set(sd) and back['pose_net.conv.weight'].dtype == torch.float32
    w = sd['pose_net.conv.weight']
    torch.testing.assert_close(back['pose_net.conv.weight'], w, rtol=0,
                               atol=float(w.abs().max()) / 254 * 1.001)
    with pytest.raises(ValueError, match=r"a\.pth: no weight tensors .* under 'refiner\.'"):
        quantize_state_dict(sd, ['refiner.'], 'a.pth')
    with pytest.raises(ValueError, match='already stored as int8'):
        quantize_state_dict(q, ['pose_net.'])


def test_bad_scales_name_the_key(tmp_path):
    from virtualpose_mm.models.utils.state_dict_mapping import CheckpointError
    q = quantize_state_dict({'a.weight': torch.randn(4, 3)}, ['a.'])
    bad = str(tmp_path / 'bad.pth')
    torch.save({'state_dict': {'a.weight': q['a.weight'].float(),
                               'a.weight' + SCALE_SUFFIX: q['a.weight' + SCALE_SUFFIX]}}, bad)
    with pytest.raises(CheckpointError, match=r'bad\.pth: a\.weight:int8_scale has no int8 '
                       r'tensor a\.weight to scale \(found torch\.float32\)'):
        read_checkpoint(bad)
    with pytest.raises(ValueError, match=r'x\.pth: a\.weight:int8_scale has no int8 tensor'):
        dequantize_state_dict({'a.weight': torch.randn(4, 3),
                               'a.weight' + SCALE_SUFFIX: q['a.weight' + SCALE_SUFFIX]},
                              source='x.pth')
    with pytest.raises(ValueError, match=r'a\.weight:int8_scale has shape \(3, 1\), '
                       r'expected \(4, 1\)'):
        dequantize_state_dict({'a.weight': q['a.weight'],
                               'a.weight' + SCALE_SUFFIX: torch.ones(3, 1).half()})


def test_virtualpose_loads_an_int8_checkpoint_as_float(tmp_path):
    """The toy VirtualPose's pose net stored as int8: mmengine's load_checkpoint (strict,
    through the estimator's pre-hook) and the package's read_checkpoint both give the
    dequantised float32 weights, and the loaded model equals one given those weights."""
    torch.manual_seed(0)
    model = MODELS.build(T.model_config())
    sd = model.state_dict()
    q = quantize_state_dict(sd, ['pose_net.'])
    n = sum(k.endswith(SCALE_SUFFIX) for k in q)
    assert n >= 10
    path = str(tmp_path / 'int8.pth')
    torch.save({'state_dict': q, 'meta': {}}, path)
    expected = dequantize_state_dict(dict(q))
    fresh = MODELS.build(T.model_config())
    load_checkpoint(fresh, path, strict=True)
    got = fresh.state_dict()
    assert set(got) == set(sd)
    for k, v in expected.items():
        assert torch.equal(got[k], v.to(got[k].dtype)), k
    key = next(k for k in sd if k.startswith('pose_net.') and sd[k].dim() >= 2)
    assert not torch.equal(got[key], sd[key])              # rounded
    torch.testing.assert_close(got[key], sd[key], rtol=0,
                               atol=float(sd[key].abs().max()) / 254 * 1.001)
    read = read_checkpoint(path)['state_dict']
    assert set(read) == set(sd) and read[key].dtype == torch.float32
    assert torch.equal(read[key], expected[key])
