"""tools/dist_train.sh and tools/dist_test.sh with the REAL models on the CPU (gloo).

Distributed training was first tested only with a toy model and crashed for every real
config (mmengine's start-up broadcast of the models' extra state). These tests run the
shipped VoxelPose demo config and the tiny VirtualPose config with 2 processes, as a user
would (`tools/dist_train.sh CONFIG 2`, no extra options), check that both ranks end with
identical weights, that the checkpoint loads in a 1-process `tools/test.py`, and that
`tools/dist_test.sh` with 2 processes gives the same metrics as 1 process.
"""
import json
import math
import os.path as osp
import re
import socket
import sys
import textwrap

import pytest
import torch

import virtualpose_mm  # noqa: F401  (the allow-list that loads mmengine checkpoints)
from tests.fixtures.dataset_files import write_tiny_coco
from tests.helpers import REPO_ROOT as REPO
from tests.helpers import run_tool as _run

DEMO_CFG = osp.join(REPO, 'configs', 'voxelpose', 'voxelpose_demo_shelf_virtual_cpu.py')
VP_TINY_CFG = osp.join(REPO, 'configs', 'virtualpose', 'virtualpose_tiny_cpu.py')
FVP_RIG_CFG = osp.join(REPO, 'configs', 'faster_voxelpose', 'faster-voxelpose_own_rig.py')
VP_STAGE1_TINY_CFG = osp.join(REPO, 'configs', 'virtualpose', 'virtualpose-stage1_tiny_cpu.py')

# A hook (imported through the child config's custom_imports) that saves each rank's
# final weights, so the test can compare the replicas; registered in the test scope.
RANK_DUMP = '''
import os.path as osp
import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmpose.registry import HOOKS as MMPOSE_HOOKS

from tests.fixtures.scope import scoped_registry

HOOKS = scoped_registry(MMPOSE_HOOKS)


@HOOKS.register_module(force=True)
class RankWeightsDumpHook(Hook):
    @staticmethod
    def _state(runner):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()
                if isinstance(v, torch.Tensor)}

    def before_train(self, runner):
        self._init = self._state(runner)

    def after_train(self, runner):
        state = self._state(runner)
        # the weights this rank's training changed (so that a test can tell two trained
        # replicas from two untouched copies)
        changed = [k for k, v in state.items()
                   if k in self._init and not torch.equal(v, self._init[k])]
        torch.save(dict(rank=get_rank(), world_size=get_world_size(), iter=runner.iter,
                        state=state, changed=changed),
                   osp.join(runner.work_dir, f'rank{get_rank()}.pt'))
'''


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _child_config(tmp_path, base, extra):
    (tmp_path / 'rank_dump_hook.py').write_text(RANK_DUMP)
    cfg = tmp_path / ('child_' + osp.basename(base))
    cfg.write_text(f'_base_ = [{base!r}]\n'
                   "custom_imports = dict(imports=['virtualpose_mm', 'rank_dump_hook'], "
                   'allow_failed_imports=False)\n'
                   "custom_hooks = [dict(type='SyncNormStatsHook'), "
                   "dict(type='AdaptiveLogIntervalHook'), dict(type='EvalProgressBarHook'), "
                   "dict(type='vpmm_tests.RankWeightsDumpHook')]\n" +
                   textwrap.dedent(extra))
    return str(cfg)


def _env(tmp_path):
    return dict(PYTHON=sys.executable, PORT=str(_free_port()),
                PYTHONPATH=f'{REPO}:{tmp_path}', OMP_NUM_THREADS='1')


def _assert_identical_replicas(wd, iters):
    recs = [torch.load(osp.join(wd, f'rank{r}.pt'), weights_only=True) for r in (0, 1)]
    for r, rec in enumerate(recs):
        assert rec['rank'] == r and rec['world_size'] == 2 and rec['iter'] == iters
    a, b = recs[0]['state'], recs[1]['state']
    assert a.keys() == b.keys() and len(a) > 50
    for k in a:
        assert torch.equal(a[k], b[k]), f'{k} differs between the ranks'
    return a


def _assert_trained(state, init_state):
    """Training changed the weights (the replicas are not just two untouched copies)."""
    changed = [k for k in state if k.endswith('.weight') and
               not torch.equal(state[k], init_state[k])]
    assert len(changed) > 10


def _metrics(path):
    with open(path) as f:
        text = f.read()
    assert 'NaN' not in text and 'Infinity' not in text
    return json.loads(text)


@pytest.mark.timeout(900)
def test_dist_train_voxelpose_demo_config_two_processes(tmp_path):
    """The README's `tools/dist_train.sh CONFIG 2` on the real demo VoxelPose config."""
    cfg = _child_config(tmp_path, DEMO_CFG, '''
        train_dataloader = dict(dataset=dict(num_samples=8))   # 2 iterations per rank
        val_dataloader = dict(dataset=dict(num_samples=6))
        test_dataloader = val_dataloader
        ''')
    wd = str(tmp_path / 'work')
    out = _run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', wd],
               env=_env(tmp_path), timeout=800)
    assert 'gloo' in out.stdout + out.stderr     # the CPU backend was chosen and said so
    state = _assert_identical_replicas(wd, iters=2)
    ckpt = osp.join(wd, 'epoch_1.pth')
    saved = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    for k, v in state.items():  # the checkpoint holds the trained replica
        assert torch.equal(saved[k].cpu(), v), k
    # extra state: the capture space travels as a tensor and round-trips
    space = saved['root_net._extra_state']
    assert isinstance(space, torch.Tensor)
    assert space.tolist() == [8000.0, 8000.0, 2000.0, 450.0, -320.0, 800.0, 32.0, 32.0, 8.0]

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from virtualpose_mm.registry import MODELS
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    init_default_scope('mmpose')
    demo = Config.fromfile(DEMO_CFG)
    resolve_config_variables(demo)
    torch.manual_seed(0)
    fresh = MODELS.build(demo.model).state_dict()
    _assert_trained(state, fresh)

    # the checkpoint loads in a 1-process tools/test.py; 2-process dist_test gives the same
    one, two = str(tmp_path / 'one.json'), str(tmp_path / 'two.json')
    _run([sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir', str(tmp_path / 't1'),
          '--out', one], env=_env(tmp_path))
    _run(['bash', 'tools/dist_test.sh', cfg, ckpt, '2', '--work-dir', str(tmp_path / 't2'),
          '--out', two], env=_env(tmp_path), timeout=600)
    m1, m2 = _metrics(one), _metrics(two)
    assert m1.keys() == m2.keys() and any(k.endswith('mAP') for k in m1)
    for k in m1:
        if k == 'null_reasons':
            assert m1[k] == m2[k]
        else:
            assert m1[k] == pytest.approx(m2[k], abs=1e-9, nan_ok=True), k


@pytest.mark.timeout(900)
def test_dist_train_virtualpose_tiny_config_two_processes(tmp_path):
    cfg = _child_config(tmp_path, VP_TINY_CFG, '''
        train_dataloader = dict(dataset=dict(num_samples=8))
        train_cfg = dict(max_iters=3)
        default_hooks = dict(checkpoint=dict(interval=3))
        ''')
    wd = str(tmp_path / 'work')
    _run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', wd], env=_env(tmp_path),
         timeout=800)
    state = _assert_identical_replicas(wd, iters=3)
    saved = torch.load(osp.join(wd, 'iter_3.pth'), map_location='cpu',
                       weights_only=True)['state_dict']
    for k, v in state.items():
        assert torch.equal(saved[k].cpu(), v), k
    assert isinstance(saved['root_net._extra_state'], torch.Tensor)


@pytest.mark.timeout(900)
def test_dist_train_faster_voxelpose_own_rig_two_processes(tmp_path):
    """Faster-VoxelPose's own-rig config (real Shelf cameras; grids made small) trains with
    2 processes; the replicas stay identical and the checkpoint holds them."""
    calib = osp.join(REPO, 'demo', 'data', 'calibration_shelf.json')
    cfg = _child_config(tmp_path, FVP_RIG_CFG, f'''
        calibration = {calib!r}
        image_size = (1032, 776)
        space_center = (450.0, -320.0, 800.0)
        root_shape = (32, 32, 8)
        cube_shape = (16, 16, 16)
        input_size = (256, 192)
        heatmap_size = (64, 48)
        train_dataloader = dict(num_workers=0, persistent_workers=False,
                                dataset=dict(num_samples=4))
        val_dataloader = dict(num_workers=0, persistent_workers=False,
                              dataset=dict(num_samples=2))
        test_dataloader = val_dataloader
        train_cfg = dict(max_epochs=1, val_interval=1)
        ''')
    wd = str(tmp_path / 'work')
    _run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', wd], env=_env(tmp_path),
         timeout=800)
    state = _assert_identical_replicas(wd, iters=2)
    saved = torch.load(osp.join(wd, 'epoch_1.pth'), map_location='cpu',
                       weights_only=True)['state_dict']
    for k, v in state.items():
        assert torch.equal(saved[k].cpu(), v), k
    assert any(k.startswith('detector.') for k in saved)
    assert any(k.startswith('joint_net.') for k in saved)


@pytest.mark.timeout(900)
def test_dist_train_virtualpose_stage1_tiny_config_two_processes(tmp_path):
    """VirtualPose stage 1 (the AGR network: ResNet-18 + heatmap and box branches, flip
    training) on a tiny COCO folder with 2 processes: 3 images over 2 ranks of batch 2
    (DefaultSampler pads to 2 per rank), 2 iterations; the replicas stay identical, the
    checkpoint holds them and training moved the weights."""
    coco = str(tmp_path / 'coco')
    write_tiny_coco(coco)
    cfg = _child_config(tmp_path, VP_STAGE1_TINY_CFG, f'''
        data_root = {coco + '/'!r}
        train_dataloader = dict(dataset=dict(data_root=data_root))
        train_cfg = dict(max_iters=2)
        default_hooks = dict(checkpoint=dict(interval=2))
        ''')
    wd = str(tmp_path / 'work')
    out = _run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', wd],
               env=_env(tmp_path), timeout=800)
    log = out.stdout + out.stderr
    assert 'gloo' in log
    # both iterations logged their (finite, positive) losses
    losses = re.findall(r'Iter\(train\) \[\s*(\d+)/2\].*?loss_heatmap: ([0-9.e+-]+)', log)
    assert sorted({int(i) for i, _ in losses}) == [1, 2], log[-3000:]
    assert all(math.isfinite(float(v)) and float(v) > 0 for _, v in losses)
    state = _assert_identical_replicas(wd, iters=2)
    saved = torch.load(osp.join(wd, 'iter_2.pth'), map_location='cpu',
                       weights_only=True)['state_dict']
    for k, v in state.items():
        assert torch.equal(saved[k].cpu(), v), k
    assert 'head.box_branch.0.weight' in saved and 'backbone.layer4.1.conv2.weight' in saved
    # training moved the weights of every part, the same ones on both ranks
    changed = [torch.load(osp.join(wd, f'rank{r}.pt'), weights_only=True)['changed']
               for r in (0, 1)]
    assert changed[0] == changed[1]
    for part in ('backbone.conv1.weight', 'backbone.layer4.1.conv2.weight',
                 'head.final_layer.weight', 'head.box_branch.0.weight'):
        assert part in changed[0], part


def test_slurm_scripts_launch_dist_scripts_with_slurm_topology(tmp_path):
    """slurm_train.sh / slurm_test.sh: srun runs one task per node that calls the
    torchrun scripts with NNODES / NODE_RANK / MASTER_ADDR from Slurm (fake srun)."""
    bin_ = tmp_path / 'bin'
    bin_.mkdir()
    (bin_ / 'srun').write_text(
        '#!/usr/bin/env bash\n'
        '# fake srun: drop its options (up to the command, bash), run it as node 1 of 2\n'
        'while [ "$1" != bash ]; do shift; done\n'
        'SLURM_NNODES=2 SLURM_NODEID=1 SLURM_JOB_NODELIST=n[7-8] exec "$@"\n')
    (bin_ / 'scontrol').write_text('#!/usr/bin/env bash\necho n7\necho n8\n')
    (bin_ / 'fakepython').write_text(
        '#!/usr/bin/env bash\n'
        'echo "NNODES=$NNODES NODE_RANK=$NODE_RANK MASTER_ADDR=$MASTER_ADDR ARGS=$*"\n')
    for f in bin_.iterdir():
        f.chmod(0o755)
    env = dict(PATH=f'{bin_}:/usr/bin:/bin', PYTHON=str(bin_ / 'fakepython'), GPUS='16',
               GPUS_PER_NODE='8', PORT='29555')
    out = _run(['bash', 'tools/slurm_train.sh', 'part', 'job', 'cfg.py', 'wd', '--amp'],
               env=env).stdout
    assert 'NNODES=2 NODE_RANK=1 MASTER_ADDR=n7' in out
    assert '--nproc_per_node=8' in out and '--master_port=29555' in out
    assert 'train.py cfg.py --launcher pytorch --work-dir=wd --amp' in out
    out = _run(['bash', 'tools/slurm_test.sh', 'part', 'job', 'cfg.py', 'c.pth'],
               env=env).stdout
    assert 'NNODES=2 NODE_RANK=1 MASTER_ADDR=n7' in out
    assert 'test.py cfg.py c.pth --launcher pytorch' in out
