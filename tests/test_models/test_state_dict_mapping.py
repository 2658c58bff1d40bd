"""The checkpoint helpers shared by the converters and the runner
(``virtualpose_mm.models.utils.state_dict_mapping``)."""
import pytest
import torch
from torch import nn

from virtualpose_mm.engine.runner import compare_state_dict
from virtualpose_mm.models.utils.state_dict_mapping import (CheckpointError, diff_state_dict,
                                                            fit_state_dict, optional_2d_net,
                                                            prefix_hint, read_weights_only,
                                                            rename_state_dict)


class Net(nn.Module):
    def __init__(self, with_2d=False):
        super().__init__()
        self.root_net = nn.Linear(3, 2)
        self.backbone = nn.Linear(2, 2) if with_2d else None


def test_rename_by_the_first_matching_rule():
    sd = {'REN.w': 1, 'REN.depth.b': 2, 'PEN.x': 3, 'junk.y': 4, 'old.head': 5}
    out, info = rename_state_dict(sd, [('old.', None), ('REN.depth.', 'root.depth.'),
                                       (('REN.', 'PEN.'), lambda rest: 'nets.' + rest)])
    assert out == {'nets.w': 1, 'root.depth.b': 2, 'nets.x': 3}
    assert info == dict(dropped=['old.head'], unknown=['junk.y'])


def test_one_rule_for_the_fit_and_one_message_with_every_problem():
    model = Net()
    sd = dict(model.state_dict())
    sd['root_net.weight'] = torch.zeros(5, 3)          # wrong shape
    sd.pop('root_net.bias')                            # missing
    sd['root_net.extra'] = torch.zeros(1)              # unexpected
    diff = diff_state_dict(model.state_dict(), sd, unknown=['src.key'])
    assert diff.unexpected == ['root_net.extra'] and diff.missing == ['root_net.bias']
    assert diff.shapes == [('root_net.weight', (5, 3), (2, 3))]
    with pytest.raises(CheckpointError) as e:
        fit_state_dict(model, sd, 'ck.pth', ['src.key'],
                       prefix_hint('unknown', 'src.', '(drop src.* with an option)'))
    msg = str(e.value)
    for part in ('ck.pth does not fit the model', '1 unrecognised keys in the source: src.key',
                 'root_net.extra', 'root_net.bias',
                 'root_net.weight: checkpoint (5, 3) vs model (2, 3)',
                 '(drop src.* with an option)'):
        assert part in msg, part
    # the runner names the first keys of each kind with the same rule
    problems = compare_state_dict(model, sd)
    assert len(problems) == 3 and any('shape mismatches' in p for p in problems)
    many = {f'k{i}': torch.zeros(1) for i in range(8)}
    assert diff_state_dict({}, many).problems(limit=5)[0].endswith('... and 3 more')


def test_fit_casts_to_the_model_dtypes_and_2d_weights_are_optional(tmp_path):
    model = Net()
    sd = {k: v.double() for k, v in model.state_dict().items()}
    out = fit_state_dict(model, sd)
    assert all(v.dtype == torch.float32 for v in out.values())
    with2d = dict(sd, **{'backbone.weight': torch.zeros(2, 2)})
    conv, hint = optional_2d_net(model, with2d, drop_2d=False, option='--drop-2d')
    with pytest.raises(CheckpointError, match='pass --drop-2d'):
        fit_state_dict(model, conv, hint=hint)
    conv, hint = optional_2d_net(model, with2d, drop_2d=True)
    fit_state_dict(model, conv, hint=hint)
    assert optional_2d_net(Net(with_2d=True), with2d, drop_2d=True) == (with2d, None)
    # a path is read weights-only and named in the messages
    torch.save(sd, tmp_path / 'w.pth')
    loaded, source = read_weights_only(str(tmp_path / 'w.pth'))
    assert source.endswith('w.pth') and set(loaded) == set(sd)
    (tmp_path / 'bad.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError, match=r'bad\.pth: cannot be read'):
        read_weights_only(str(tmp_path / 'bad.pth'))
