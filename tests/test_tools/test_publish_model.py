"""tools/misc/publish_model.py: weights and meta kept, optimizer dropped, fp16 storage that
loads back into the float32 model, the hash suffix."""
import hashlib
import os.path as osp
import sys

import pytest
import torch

from tests.helpers import REPO_ROOT

sys.path.insert(0, REPO_ROOT)
from tools.misc.publish_model import publish  # noqa: E402


def test_publish(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    src = str(tmp_path / 'epoch_3.pth')
    torch.save({'state_dict': net.state_dict(), 'optimizer': opt.state_dict(),
                'meta': {'epoch': 3, 'cfg': 'model = dict()', 'hook_msgs': {'x': 1}}}, src)
    out = publish(src, str(tmp_path / 'model.pth'))
    data = open(out, 'rb').read()
    assert osp.basename(out) == f'model-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    ck = torch.load(out, weights_only=True)
    assert set(ck) == {'state_dict', 'meta'}
    assert ck['meta']['epoch'] == 3 and ck['meta']['cfg'] == 'model = dict()'
    assert 'hook_msgs' not in ck['meta'] and ck['meta']['weights_dtype'] == 'float32'
    for k, v in net.state_dict().items():
        assert torch.equal(ck['state_dict'][k], v)
    half = publish(src, str(tmp_path / 'half.pth'), fp16=True, add_hash=False)
    assert osp.basename(half) == 'half.pth'
    hk = torch.load(half, weights_only=True)['state_dict']
    assert hk['0.weight'].dtype == torch.float16
    assert hk['1.num_batches_tracked'].dtype == torch.int64
    net2 = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
    net2.load_state_dict(hk)
    assert net2[0].weight.dtype == torch.float32
    torch.testing.assert_close(net2[0].weight, net[0].weight, rtol=1e-3, atol=1e-4)
    assert not torch.equal(net2[0].weight, net[0].weight)  # it was rounded


def test_publish_compact_is_smaller_and_loads_the_same(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(30)])
    src = str(tmp_path / 'iter_10.pth')
    torch.save({'state_dict': net.state_dict(), 'meta': {'iter': 10}}, src)
    zipped = publish(src, str(tmp_path / 'zip.pth'), fp16=True, add_hash=False)
    compact = publish(src, str(tmp_path / 'compact.pth'), fp16=True, add_hash=False,
                      compact=True)
    # 60 tensors: the zip format spends a record (local header, central-directory entry,
    # 64-byte alignment) on each
    assert osp.getsize(compact) < osp.getsize(zipped) - 60 * 100
    a = torch.load(zipped, weights_only=True)
    b = torch.load(compact, weights_only=True)
    assert a['meta'] == b['meta'] and a['state_dict'].keys() == b['state_dict'].keys()
    for k, v in a['state_dict'].items():
        assert v.dtype == torch.float16 and torch.equal(b['state_dict'][k], v)


def test_publish_deflate_is_smaller_and_loads_the_same(tmp_path):
    """``--deflate``: float16 weights of a trained-like distribution shrink (their exponent
    bits repeat) and load bit for bit, through torch and mmengine."""
    from mmengine.runner import load_checkpoint
    torch.manual_seed(0)
    net = torch.nn.Sequential(*[torch.nn.Linear(64, 64) for _ in range(8)])
    src = str(tmp_path / 'iter_10.pth')
    torch.save({'state_dict': net.state_dict(), 'meta': {'iter': 10}}, src)
    zipped = publish(src, str(tmp_path / 'zip.pth'), fp16=True, add_hash=False)
    deflated = publish(src, str(tmp_path / 'deflate.pth'), fp16=True, add_hash=False,
                       deflate=True)
    assert osp.getsize(deflated) < 0.95 * osp.getsize(zipped)
    a = torch.load(zipped, weights_only=True)
    b = torch.load(deflated, weights_only=True)
    assert a['meta'] == b['meta'] and a['state_dict'].keys() == b['state_dict'].keys()
    for k, v in a['state_dict'].items():
        assert torch.equal(b['state_dict'][k], v)
    net2 = torch.nn.Sequential(*[torch.nn.Linear(64, 64) for _ in range(8)])
    load_checkpoint(net2, deflated, strict=True)
    assert torch.equal(net2[3].weight, a['state_dict']['3.weight'].float())
    with pytest.raises(ValueError, match='exclude each other'):
        publish(src, str(tmp_path / 'x.pth'), compact=True, deflate=True)


def test_publish_graft_adds_another_checkpoints_submodule(tmp_path):
    """--graft depth_refiner.=B:refiner.: B's refiner weights under the new prefix, the
    main checkpoint's own weights unchanged; a missing source prefix or a taken
    destination prefix is an error naming the file."""
    torch.manual_seed(0)
    a = {'refiner.w': torch.randn(3), 'pose_net.w': torch.randn(2)}
    b = {'refiner.w': torch.randn(3), 'refiner.b': torch.randn(1), 'pose_net.w': torch.randn(2)}
    src, other = str(tmp_path / 'a.pth'), str(tmp_path / 'b.pth')
    torch.save({'state_dict': a, 'meta': {'iter': 1}}, src)
    torch.save({'state_dict': b, 'optimizer': {}}, other)
    out = publish(src, str(tmp_path / 'ab.pth'), add_hash=False,
                  grafts=[f'depth_refiner.={other}:refiner.'])
    ck = torch.load(out, weights_only=True)
    sd = ck['state_dict']
    assert set(sd) == {'refiner.w', 'pose_net.w', 'depth_refiner.w', 'depth_refiner.b'}
    assert torch.equal(sd['refiner.w'], a['refiner.w'])
    assert torch.equal(sd['depth_refiner.w'], b['refiner.w'])
    assert torch.equal(sd['depth_refiner.b'], b['refiner.b'])
    assert ck['meta']['grafted'] == ['depth_refiner.=b.pth:refiner.']
    with pytest.raises(ValueError, match=r"b\.pth: no weights under 'root_net\.'"):
        publish(src, str(tmp_path / 'x.pth'), add_hash=False,
                grafts=[f'depth_refiner.={other}:root_net.'])
    with pytest.raises(ValueError, match=r"a\.pth: already has 1 weights under 'pose_net\.'"):
        publish(src, str(tmp_path / 'x.pth'), add_hash=False,
                grafts=[f'pose_net.={other}:refiner.'])
    with pytest.raises(ValueError, match='DST_PREFIX=CKPT:SRC_PREFIX'):
        publish(src, str(tmp_path / 'x.pth'), add_hash=False, grafts=[other])
    assert not osp.exists(tmp_path / 'x.pth')


def test_publish_drop_then_graft_replaces_a_submodule(tmp_path):
    """--drop refiner. --graft refiner.=B:refiner.: the input's refiner replaced by B's,
    its other weights (depth_refiner. too: another prefix) unchanged; dropping a prefix
    that holds nothing is an error naming the file, and nothing is written."""
    torch.manual_seed(1)
    a = {'refiner.w': torch.randn(3), 'depth_refiner.w': torch.randn(3),
         'root_net.w': torch.randn(2)}
    b = {'refiner.w': torch.randn(3), 'root_net.w': torch.randn(2)}
    src, other = str(tmp_path / 'a.pth'), str(tmp_path / 'b.pth')
    torch.save({'state_dict': a, 'meta': {'iter': 1}}, src)
    torch.save({'state_dict': b}, other)
    out = publish(src, str(tmp_path / 'ab.pth'), add_hash=False, drops=['refiner.'],
                  grafts=[f'refiner.={other}:refiner.'])
    ck = torch.load(out, weights_only=True)
    sd = ck['state_dict']
    assert set(sd) == set(a)
    assert torch.equal(sd['refiner.w'], b['refiner.w'])
    assert torch.equal(sd['depth_refiner.w'], a['depth_refiner.w'])
    assert torch.equal(sd['root_net.w'], a['root_net.w'])
    assert ck['meta']['dropped'] == ['refiner.']
    # dropped and not replaced: the weights are gone
    sd2 = torch.load(publish(src, str(tmp_path / 'c.pth'), add_hash=False,
                             drops=['depth_refiner.']), weights_only=True)['state_dict']
    assert set(sd2) == {'refiner.w', 'root_net.w'}
    with pytest.raises(ValueError, match=r"a\.pth: no weights under 'pose_net\.' to drop"):
        publish(src, str(tmp_path / 'x.pth'), add_hash=False, drops=['pose_net.'])
    assert not osp.exists(tmp_path / 'x.pth')


def test_publish_int8_and_widen(tmp_path):
    """--int8 pose_net.: the pose net's weights stored as int8 with scales, the file a
    quarter of float32 for them, loaded back as float by the package's readers; --widen
    refiner.=2: the refiner twice as wide (meta records both); a bad spec is an error."""
    from virtualpose_mm.engine.runner import read_checkpoint
    from virtualpose_mm.models.heads import LiftingPoseRefiner
    torch.manual_seed(0)
    ref = LiftingPoseRefiner(hidden_channels=8, use_pose_net_pose=False)
    sd = {f'refiner.{k}': v for k, v in ref.state_dict().items()}
    sd['pose_net.conv.weight'] = torch.randn(64, 32, 3, 3, 3)
    sd['pose_net.conv.bias'] = torch.randn(64)
    src = str(tmp_path / 'iter_1.pth')
    torch.save({'state_dict': sd, 'meta': {'iter': 1}}, src)
    plain = publish(src, str(tmp_path / 'plain.pth'), add_hash=False)
    out = publish(src, str(tmp_path / 'q.pth'), add_hash=False, int8=['pose_net.'],
                  widen=['refiner.=2'], seed=3)
    ck = torch.load(out, weights_only=True)
    assert ck['meta']['int8'] == ['pose_net.'] and ck['meta']['widened'] == ['refiner.=2']
    assert ck['meta']['widen_seed'] == 3
    assert ck['state_dict']['pose_net.conv.weight'].dtype == torch.int8
    assert ck['state_dict']['refiner.input_layer.0.weight'].shape == (16, 3 * 17 + 6)
    # 221 k weights: 4 bytes each in float32, 1 as int8 (the refiner is 4x larger)
    assert osp.getsize(plain) - osp.getsize(out) > 0.7 * 3 * 64 * 32 * 27
    back = read_checkpoint(out)['state_dict']
    w = sd['pose_net.conv.weight']
    assert back['pose_net.conv.weight'].dtype == torch.float32
    torch.testing.assert_close(back['pose_net.conv.weight'], w, rtol=0,
                               atol=float(w.abs().max()) / 254 * 1.001)
    assert torch.equal(back['pose_net.conv.bias'], sd['pose_net.conv.bias'])
    with pytest.raises(ValueError, match='PREFIX=FACTOR'):
        publish(src, str(tmp_path / 'x.pth'), add_hash=False, widen=['refiner.=1'])
    assert not osp.exists(tmp_path / 'x.pth')
