"""tools/train.py, tools/test.py, tools/dist_train.sh through the real mmengine Runner,
and the checkpoint fixes (safe loading on torch >= 2.6, atomic saving)."""
import json
import os
import os.path as osp
import pickle
import socket
import sys

import numpy as np
import pytest
import torch

from tests.helpers import REPO_ROOT as REPO
from tests.helpers import run_tool as _run

TOY_CFG = osp.join(REPO, 'tests', 'data', 'configs', 'toy_iter_train.py')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_config_custom_imports_builds_package_class(tmp_path):
    """A fresh interpreter: the config's custom_imports line alone registers our classes."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("custom_imports = dict(imports=['virtualpose_mm'], "
                   "allow_failed_imports=False)\n"
                   f"metric = dict(type='AtomicDumpResults', out_file_path='{tmp_path}/x.pkl')\n")
    code = ('import sys\n'
            'from mmengine.config import Config\n'
            'from mmengine.registry import init_default_scope\n'
            "assert 'virtualpose_mm' not in sys.modules\n"
            f"cfg = Config.fromfile(r'{cfg}')\n"
            "init_default_scope('mmpose')\n"
            'from mmpose.registry import METRICS\n'
            'm = METRICS.build(cfg.metric)\n'
            'print(type(m).__module__, type(m).__name__)\n')
    out = _run([sys.executable, '-c', code], cwd=str(tmp_path)).stdout
    assert 'virtualpose_mm.engine.results AtomicDumpResults' in out


def test_train_then_resume(tmp_path):
    wd = str(tmp_path / 'work')
    _run([sys.executable, 'tools/train.py', TOY_CFG, '--work-dir', wd])
    ckpt = osp.join(wd, 'iter_2.pth')
    assert osp.isfile(ckpt)
    first = json.load(open(osp.join(wd, 'rank0.json')))
    assert first['start_iter'] == 0 and first['iters_run'] == 2

    # the safe loader (weights_only=True) reads mmengine's own checkpoint once the
    # package's allow-list is installed
    import virtualpose_mm  # noqa: F401
    saved = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert saved['meta']['iter'] == 2
    saved_momentum = [v['momentum_buffer'].flatten().tolist()
                      for _, v in sorted(saved['optimizer']['state'].items())]
    assert saved_momentum and any(abs(x) > 0 for m in saved_momentum for x in m)

    # resume: continues from iteration 2 with the saved optimizer state
    _run([sys.executable, 'tools/train.py', TOY_CFG, '--work-dir', wd, '--resume',
          '--cfg-options', 'train_cfg.max_iters=4'])
    second = json.load(open(osp.join(wd, 'rank0.json')))
    assert second['start_iter'] == 2
    assert second['iters_run'] == 2
    assert len(second['momentum_at_start']) == len(saved_momentum)
    for got, want in zip(second['momentum_at_start'], saved_momentum):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert torch.load(osp.join(wd, 'iter_4.pth'), weights_only=True)['meta']['iter'] == 4


def test_dist_train_two_cpu_processes(tmp_path):
    wd = str(tmp_path / 'dist')
    env = dict(PYTHON=sys.executable, PORT=str(_free_port()))
    _run(['bash', 'tools/dist_train.sh', TOY_CFG, '2', '--work-dir', wd,
          '--cfg-options', 'env_cfg.dist_cfg.backend=gloo'], env=env)
    recs = [json.load(open(osp.join(wd, f'rank{r}.json'))) for r in (0, 1)]
    for r, rec in enumerate(recs):
        assert rec['rank'] == r and rec['world_size'] == 2
        assert rec['iters_run'] == 2
    assert osp.isfile(osp.join(wd, 'iter_2.pth'))
    # DDP kept the replicas identical: the checkpoint (rank 0) equals what rank 1 saw
    assert recs[0]['final_param_sum'] == pytest.approx(recs[1]['final_param_sum'], abs=1e-6)


def test_test_tool_writes_metrics_and_dump(tmp_path):
    wd = str(tmp_path / 'work')
    _run([sys.executable, 'tools/train.py', TOY_CFG, '--work-dir', wd, '--no-validate'])
    out, dump = str(tmp_path / 'm.json'), str(tmp_path / 'preds.pkl')
    _run([sys.executable, 'tools/test.py', TOY_CFG, osp.join(wd, 'iter_2.pth'),
          '--work-dir', wd, '--out', out, '--dump', dump])
    metrics = json.load(open(out))
    assert metrics['toy/mpjpe'] > 0
    preds = pickle.load(open(dump, 'rb'))
    assert len(preds) == 8 and 'pred_instances' in preds[0]


def test_safe_loading_still_refuses_unknown_classes(tmp_path):
    import virtualpose_mm  # noqa: F401  (installs the allow-list)
    from tests.fixtures.toy import ToyPoseDataset
    path = tmp_path / 'evil.pth'
    torch.save({'obj': ToyPoseDataset}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    import virtualpose_mm  # noqa: F401
    from mmengine.runner import runner as mm_runner

    from virtualpose_mm.engine import checkpoint as ck
    assert mm_runner.save_checkpoint is ck.atomic_save_checkpoint
    target = tmp_path / 'epoch_1.pth'
    ck.atomic_save_checkpoint({'a': torch.ones(3)}, str(target))
    assert torch.load(target, weights_only=True)['a'].sum() == 3

    def broken_fsync(fd):
        raise OSError('disk full')
    from virtualpose_mm.engine import fileio
    monkeypatch.setattr(fileio.os, 'fsync', broken_fsync)
    with pytest.raises(OSError):
        ck.atomic_save_checkpoint({'a': torch.zeros(3)}, str(target))
    # the old, complete checkpoint is untouched and no temporary file is left behind
    assert torch.load(target, weights_only=True)['a'].sum() == 3
    assert sorted(os.listdir(tmp_path)) == ['epoch_1.pth']


def test_safe_loading_refuses_getattr_escape(tmp_path):
    """``builtins.getattr`` is resolved only for HistoryBuffer's statistics methods."""
    import virtualpose_mm  # noqa: F401

    class Escape:
        def __reduce__(self):  # np.ndarray is allow-listed; walking its attributes is not
            return (getattr, (np.ndarray, 'tofile'))

    path = tmp_path / 'escape.pth'
    torch.save({'x': Escape()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.load(path, weights_only=True)
