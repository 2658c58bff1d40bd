"""Mistakes users make, through the tools they run (`tools/train.py`, `tools/test.py`).

One row per mistake: each ends in the named error (one line on stderr, exit status 2, no
traceback) or warning, and nothing that was in the work dir before (checkpoints, metrics)
is lost or half-written. The per-file-kind malicious pickles, corrupt images and the
MMPose-0.x camera file have unit tables next to their readers
(tests/test_engine/test_safe_pickle.py, tests/test_datasets/test_loading.py,
tests/test_geometry/test_camera_io.py); config checks in tests/test_engine/.
"""
import hashlib
import json
import os
import os.path as osp
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from virtualpose_mm.registry import MODELS
from tests.helpers import REPO_ROOT as REPO

DEMO_CFG = osp.join(REPO, 'configs', 'voxelpose', 'voxelpose_demo_shelf_virtual_cpu.py')
TINY_CFG = osp.join(REPO, 'configs', 'voxelpose', 'voxelpose_tiny_heatmap_cpu.py')
SMALL_DATA = ['train_dataloader.dataset.num_samples=2', 'val_dataloader.dataset.num_samples=2',
              'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
              'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False']


class Evil:
    """Unpickling this runs a shell command (the attack the safe loader must stop)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def _run(cmd, env=None, timeout=600):
    e = dict(os.environ)
    e['PYTHONPATH'] = REPO + os.pathsep + e.get('PYTHONPATH', '')
    e.setdefault('OMP_NUM_THREADS', '1')
    e.pop('VPMM_DEBUG', None)
    e.update(env or {})
    return subprocess.run(cmd, cwd=REPO, env=e, capture_output=True, text=True,
                          timeout=timeout)


def _digest(folder):
    """{relative path: sha256} of every file under ``folder``."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = osp.join(root, f)
            with open(p, 'rb') as fh:
                out[osp.relpath(p, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _model_checkpoint(cfg_path, path, **overrides):
    init_default_scope('mmpose')
    cfg = Config.fromfile(cfg_path)
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    resolve_config_variables(cfg)
    cfg.model.update(overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture(scope='module')
def demo_ckpt(tmp_path_factory):
    return _model_checkpoint(DEMO_CFG, str(tmp_path_factory.mktemp('ck') / 'demo.pth'))


@pytest.fixture
def workdir(tmp_path):
    """A work dir that already holds a complete checkpoint and metrics from earlier."""
    wd = tmp_path / 'work'
    wd.mkdir()
    (wd / 'epoch_3.pth').write_bytes(b'earlier checkpoint ' * 1000)
    (wd / 'last_checkpoint').write_text(str(wd / 'epoch_3.pth'))
    (wd / 'metrics.json').write_text('{"virtual/mAP": 0.5}')
    return wd


def _evil_pickle(tmp_path, name):
    marker = tmp_path / f'pwned_{name}'
    path = tmp_path / name
    with open(path, 'wb') as f:
        pickle.dump([Evil(str(marker))], f)
    return str(path), marker


# ----------------------------------------------------------------------------- the table
def _row_calibration_pickle(tmp_path, ckpt):
    evil, marker = _evil_pickle(tmp_path, 'calibration.pkl')
    return (['tools/train.py', DEMO_CFG, '--cfg-options', f'calibration={evil}',
             f'train_dataloader.dataset.calibration={evil}',
             f'val_dataloader.dataset.calibration={evil}'],
            [evil, 'system'], marker)


def _row_pose_bank_pickle(tmp_path, ckpt):
    evil, marker = _evil_pickle(tmp_path, 'poses.pkl')
    return (['tools/train.py', DEMO_CFG, '--cfg-options',
             f'train_dataloader.dataset.pose_bank={evil}',
             f'val_dataloader.dataset.pose_bank={evil}'], [evil, 'system'], marker)


def _row_space_mismatch(tmp_path, ckpt):
    return (['tools/train.py', DEMO_CFG, '--cfg-options',
             'model.root_net.space_size=[7000.0,8000.0,2000.0]'],
            ['model.root_net.space_size', '7000'], None)


def _row_root_grid(tmp_path, ckpt):
    return (['tools/train.py', DEMO_CFG, '--cfg-options', 'root_shape=[30,30,8]'],
            ['space_shape', '30', '4'], None)


def _row_min_views(tmp_path, ckpt):
    return (['tools/train.py', DEMO_CFG, '--cfg-options', 'min_views=0',
             'train_dataloader.dataset.min_views=0', 'val_dataloader.dataset.min_views=0'],
            ['min_views'], None)


def _row_space_nobody_sees(tmp_path, ckpt):
    far = '[100000.0,100000.0,800.0]'
    return (['tools/train.py', DEMO_CFG, '--cfg-options', f'space_center={far}',
             f'model.root_net.space_center={far}'],
            ['calibration_shelf.json', 'camera'], None)


def _row_wrong_checkpoint(tmp_path, ckpt):
    other = _model_checkpoint(TINY_CFG, str(tmp_path / 'tiny.pth'))
    return (['tools/test.py', DEMO_CFG, other, '--cfg-options'] + SMALL_DATA,
            [other, 'does not fit', 'shape mismatches', 'root_net.v2v_net.'], None)


def _row_truncated_checkpoint(tmp_path, ckpt):
    bad = tmp_path / 'cut.pth'
    data = open(ckpt, 'rb').read()
    bad.write_bytes(data[:len(data) // 2])
    return (['tools/test.py', DEMO_CFG, str(bad), '--cfg-options'] + SMALL_DATA,
            [str(bad), 'cannot be loaded'], None)


def _row_pickled_object_checkpoint(tmp_path, ckpt):
    bad = tmp_path / 'objects.pth'
    marker = tmp_path / 'pwned_ckpt'
    torch.save({'state_dict': {}, 'meta': Evil(str(marker))}, bad)
    return (['tools/test.py', DEMO_CFG, str(bad), '--cfg-options'] + SMALL_DATA,
            [str(bad), 'cannot be loaded', 'system'], marker)


ROWS = [_row_calibration_pickle, _row_pose_bank_pickle, _row_space_mismatch, _row_root_grid,
        _row_min_views, _row_space_nobody_sees, _row_wrong_checkpoint,
        _row_truncated_checkpoint, _row_pickled_object_checkpoint]


@pytest.mark.parametrize('row', ROWS, ids=[r.__name__[5:] for r in ROWS])
def test_bad_input_ends_in_one_named_error_and_loses_nothing(row, tmp_path, workdir,
                                                             demo_ckpt):
    cmd, expected, marker = row(tmp_path, demo_ckpt)
    before = _digest(workdir)
    out = str(workdir / 'metrics.json')
    extra = ['--work-dir', str(workdir)] + (['--out', out] if cmd[0] == 'tools/test.py'
                                            else [])
    i = cmd.index('--cfg-options') if '--cfg-options' in cmd else len(cmd)
    proc = _run([sys.executable] + cmd[:i] + extra + cmd[i:])
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], err[-3000:])
    assert 'Traceback' not in err, err[-3000:]
    tool = osp.basename(cmd[0])[:-3]
    assert f'{tool}: error: ' in err, err[-2000:]
    msg = err[err.index(f'{tool}: error: '):]  # the message (it may list several lines)
    assert len(msg.splitlines()) <= 12, msg
    for word in expected:
        assert word in msg, (word, msg)
    if marker is not None:
        assert not marker.exists(), 'the malicious pickle was executed'
    after = _digest(workdir)
    for k, v in before.items():
        assert after.get(k) == v, f'{k} was changed or removed'


# ----------------------------------------------------------------------------- warnings
@pytest.mark.parametrize('option,near', [('trian_cfg.max_epochs=1', 'train_cfg'),
                                         ('default_hooks.loger.interval=1', 'logger'),
                                         ('model.root_net.spce_size=[1,1,1]', 'space_size')])
def test_typo_keys_warn_with_the_near_match(option, near, tmp_path):
    proc = _run([sys.executable, 'tools/train.py', DEMO_CFG, '--work-dir',
                 str(tmp_path / 'w'), '--no-validate', '--cfg-options', option,
                 'train_cfg.max_epochs=1'] + SMALL_DATA[:1] + SMALL_DATA[2:4])
    text = proc.stdout + proc.stderr
    key = option.split('=')[0].split('.')
    typo = next(k for k in key if k not in ('model', 'root_net', 'default_hooks',
                                            'interval', 'max_epochs'))
    lines = [ln for ln in text.splitlines() if typo in ln and near in ln]
    assert lines, text[-3000:]


# ----------------------------------------------------------------------------- outputs
def test_metrics_without_any_match_are_valid_json_with_reasons(tmp_path, demo_ckpt):
    """No proposal passes the threshold: MPJPE is undefined → null + reason, and the
    file is strict JSON with the usual (umask) permissions."""
    out = tmp_path / 'm.json'
    old = os.umask(0o022)
    try:
        proc = _run([sys.executable, 'tools/test.py', DEMO_CFG, demo_ckpt, '--work-dir',
                     str(tmp_path / 'w'), '--out', str(out), '--cfg-options',
                     'model.root_net.threshold=2.0'] + SMALL_DATA)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert 'Infinity' not in text and 'NaN' not in text
    metrics = json.loads(text)
    mpjpe = [k for k in metrics if 'MPJPE' in k]
    assert mpjpe and all(metrics[k] is None for k in mpjpe)
    assert all('matched' in metrics['null_reasons'][k] for k in mpjpe)
    assert metrics['virtual/mAP'] == 0.0
    assert oct(os.stat(out).st_mode & 0o777) == oct(0o644)


def test_atomic_writer_follows_umask_and_keeps_existing_mode(tmp_path):
    from virtualpose_mm.engine.fileio import atomic_write_bytes
    old = os.umask(0o027)
    try:
        atomic_write_bytes(str(tmp_path / 'a'), b'1')
        assert os.stat(tmp_path / 'a').st_mode & 0o777 == 0o640
        (tmp_path / 'b').write_bytes(b'0')
        os.chmod(tmp_path / 'b', 0o604)
        atomic_write_bytes(str(tmp_path / 'b'), b'1')
        assert os.stat(tmp_path / 'b').st_mode & 0o777 == 0o604
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------- CLI
def test_no_validate_with_the_own_rig_recipe_options_trains(tmp_path):
    """README's own-rig recipe options + --no-validate: validation stays off (the
    options do not rebuild half a validation config)."""
    calib = osp.join(REPO, 'demo', 'data', 'calibration_shelf.json')
    wd = tmp_path / 'w'
    proc = _run([sys.executable, 'tools/train.py', DEMO_CFG, '--work-dir', str(wd),
                 '--no-validate', '--cfg-options', f'train_dataloader.dataset.calibration='
                 f'{calib}', f'val_dataloader.dataset.calibration={calib}',
                 'train_cfg.max_epochs=1'] + SMALL_DATA)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'ignoring --cfg-options val_dataloader.dataset.calibration' in proc.stderr
    assert osp.isfile(wd / 'epoch_1.pth')
    log = open(next(str(p) for p in wd.rglob('*.log'))).read()
    assert 'Epoch(val)' not in log


def test_model_only_config_says_so():
    proc = _run([sys.executable, 'tools/train.py', TINY_CFG, '--work-dir', '/tmp/unused'])
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert 'model-only config' in last and 'train_dataloader' in last


def test_ctrl_c_ends_with_one_line_and_keeps_the_last_checkpoint(tmp_path):
    wd = tmp_path / 'w'
    e = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', DEMO_CFG, '--work-dir', str(wd), '--no-validate',
         '--cfg-options', 'train_cfg.max_epochs=1000', 'train_dataloader.dataset.num_samples=2',
         'train_dataloader.num_workers=1'],
        cwd=REPO, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        deadline = time.time() + 300
        while not (wd / 'epoch_2.pth').exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < deadline
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    assert 'Traceback' not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith('train: interrupted (Ctrl-C); last complete checkpoint: '), last
    ckpt = last.rsplit(': ', 1)[1]
    saved = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert saved['meta']['epoch'] >= 2 and 'root_net._extra_state' in saved['state_dict']
