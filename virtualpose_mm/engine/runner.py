"""What ``tools/train.py`` and ``tools/test.py`` add around mmengine's :class:`Runner`.

* :class:`CheckedRunner`: a checkpoint that does not fit the model fails (test, resume)
  or warns (``load_from`` before training, i.e. fine-tuning) with ONE short message naming
  the file and the first mismatching keys, instead of mmengine's per-key warnings (which
  let a test run on random weights) or torch's long unpickling traceback.
* :func:`setup_distributed`: distributed runs without CUDA use gloo on the CPU (said in
  the log), with the device-aware DDP wrapper; ``sync_bn`` is applied on CUDA only.
* :func:`run_tool`: a tool's ``main`` with the errors users cause (bad files, configs and
  checkpoints) reported in one line, and Ctrl-C ending with one line that names the last
  complete checkpoint.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
import pickle
import re
import signal
import sys
from collections import OrderedDict
from typing import Callable, Dict, List, Optional

import torch
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from ..models.utils.state_dict_mapping import CheckpointError, diff_state_dict

# how many keys a message lists before "... and N more"
_FIRST = 5


def read_checkpoint(filename: str, map_location='cpu') -> dict:
    """Read a checkpoint with mmengine's loader (``weights_only`` stays on); errors as
    :class:`CheckpointError` naming the file."""
    if '://' not in filename and not osp.isfile(filename):
        raise CheckpointError(f'{filename}: checkpoint file not found')
    try:
        checkpoint = _load_checkpoint(filename, map_location=map_location)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        text = str(e)
        hint = ''
        if 'Weights only load failed' in text or isinstance(e, pickle.UnpicklingError):
            glob = ''
            for line in text.splitlines():
                if 'GLOBAL' in line or 'Unsupported global' in line:
                    glob = ' (' + line.strip().removeprefix('WeightsUnpickler error: ') + ')'
                    break
            hint = (f'{glob}. It holds Python objects that a weights-only load refuses. '
                    'An MMPose-0.x or voxelpose-pytorch checkpoint can be converted with '
                    'tools/convert_voxelpose_checkpoint.py IN OUT')
        elif isinstance(e, (EOFError, )) or 'failed finding central directory' in text \
                or 'PytorchStreamReader' in text:
            hint = ': the file is truncated or not a torch checkpoint'
        else:
            hint = f': {type(e).__name__}: {text.splitlines()[0] if text else ""}'
        raise CheckpointError(f'{filename}: cannot be loaded{hint}') from None
    # int8-stored weights (tools/misc/publish_model.py --int8) as float32
    from virtualpose_mm.models.utils.int8_weights import dequantize_checkpoint
    return dequantize_checkpoint(checkpoint, filename)


def compare_state_dict(model: torch.nn.Module, state_dict: Dict[str, object]) -> List[str]:
    """Problems of loading ``state_dict`` into ``model`` (empty list: it fits); the rule
    of :func:`~virtualpose_mm.models.utils.state_dict_mapping.diff_state_dict`, the first
    keys of each kind named."""
    return diff_state_dict(model.state_dict(), state_dict).problems(limit=_FIRST)


class CheckedRunner(Runner):
    """mmengine :class:`Runner` whose checkpoint loading checks the fit first.

    * testing (``tools/test.py``) and ``--resume``: any missing, unexpected or mis-shaped
      key, or a stored capture space / cube that differs from the config, raises
      :class:`CheckpointError` naming the file and the first keys;
    * ``load_from`` before training (fine-tuning from other weights): the same message as
      one warning, and mmengine's non-strict loading; a differing capture space still
      raises (the weights would be meaningless).
    """

    #: True: every mismatch raises (``tools/test.py`` sets it); None: strict when resuming,
    #: a warning for ``load_from`` before training
    strict_load: Optional[bool] = None

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):
        checkpoint = read_checkpoint(filename, map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if hasattr(self.model, 'module') else self.model
        state_dict = checkpoint.get('state_dict', checkpoint) \
            if isinstance(checkpoint, dict) else None
        if not isinstance(state_dict, dict):
            raise CheckpointError(f'{filename}: no state dict in the checkpoint '
                                  f'(got {type(checkpoint).__name__})')
        sd = OrderedDict(state_dict)
        for p, r in revise_keys:
            sd = OrderedDict((re.sub(p, r, k), v) for k, v in sd.items())
        diff = diff_state_dict(model.state_dict(), sd)
        be_strict = self.strict_load if self.strict_load is not None else self._resume
        if diff:
            msg = (f'{filename} does not fit the model of this config: ' +
                   '; '.join(diff.problems(limit=_FIRST)))
            if be_strict:
                raise CheckpointError(msg)
            print_log(msg + ' (fine-tuning: the fitting weights are loaded)',
                      logger='current', level=logging.WARNING)
            misfit = set(diff.unexpected) | {k for k, _, _ in diff.shapes}
            sd = OrderedDict((k, v) for k, v in sd.items() if k not in misfit)
        try:
            model.load_state_dict(sd, strict=False)
        except ValueError as e:  # geometry state (capture space, cube) differs
            raise CheckpointError(f'{filename}: {e}') from None
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


def setup_distributed(cfg) -> None:
    """Distributed settings that depend on the machine (call before building the runner).

    Without CUDA, a distributed launch uses gloo on the CPU: the configs' ``nccl`` is
    replaced (and the log says so), the process group is created here and the
    device-aware DDP wrapper is selected (mmengine would call ``torch.cuda.set_device``
    and pass ``device_ids``). ``sync_bn`` (``'torch'`` or ``'mmcv'``) is applied by
    mmengine on CUDA; on the CPU SyncBatchNorm does not run, so it is dropped with a
    warning and each process keeps its own BatchNorm statistics.
    """
    import torch.distributed as dist
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise RuntimeError(f'CPU-only distributed training supports --launcher pytorch '
                           f'(torchrun, tools/dist_train.sh), not {cfg.launcher!r}')
    env = cfg.setdefault('env_cfg', {})
    dist_cfg = env.setdefault('dist_cfg', {})
    backend = dist_cfg.get('backend', 'nccl')
    if backend != 'gloo':
        print_log(f'no CUDA device: distributed backend {backend!r} → gloo (CPU)',
                  logger='current', level=logging.WARNING)
        dist_cfg['backend'] = 'gloo'
    if cfg.get('sync_bn', None) is not None:
        print_log(f'no CUDA device: sync_bn={cfg.sync_bn!r} is ignored (SyncBatchNorm runs '
                  'on CUDA only); each process keeps its own BatchNorm statistics',
                  logger='current', level=logging.WARNING)
        cfg.sync_bn = None
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper['type'] = 'DeviceAwareDistributedDataParallel'
    cfg.model_wrapper_cfg = wrapper


def build_runner(cfg) -> Runner:
    """``CheckedRunner.from_cfg`` (or the config's own ``runner_type``)."""
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        return RUNNERS.build(cfg)
    return CheckedRunner.from_cfg(cfg)


def last_checkpoint(work_dir: Optional[str]) -> Optional[str]:
    """The checkpoint named in ``work_dir/last_checkpoint`` if it exists."""
    if not work_dir:
        return None
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isfile(path) else None


def _user_errors() -> tuple:
    """Exception classes that describe a user's input (printed in one line)."""
    from ..geometry.camera_io import CameraError
    from ..datasets.datasets.base.mview_base import DatasetError
    from ..datasets.datasets.virtual.posebank import PoseBankError
    errors = [CheckpointError, CameraError, PoseBankError, DatasetError]
    try:
        from .config_checks import ConfigError
        errors.append(ConfigError)
    except ImportError:  # pragma: no cover
        pass
    try:
        from .safe_pickle import UnsafePickleError
        errors.append(UnsafePickleError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def _quiet_sigint_in_workers() -> None:
    """Ctrl-C reaches every process of the terminal's group. DataLoader workers (forked
    from this process, so they inherit this handler) ignore it and are shut down by the
    main process as it unwinds (a worker that died on SIGINT would make the DataLoader
    raise its own error in the middle of the interrupt); the main process raises
    KeyboardInterrupt."""
    main_pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != main_pid:
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def _interrupted(e: BaseException) -> bool:
    """A KeyboardInterrupt, or an error raised while one was being handled."""
    while e is not None:
        if isinstance(e, KeyboardInterrupt):
            return True
        e = e.__context__
    return False


def _close_process_group() -> None:
    """Leave the distributed group cleanly (all ranks reach this point): without it gloo's
    threads are torn down at interpreter exit and a rank can abort ('terminate called
    without an active exception') after a successful run. The finished runner is freed
    first: it sits in reference cycles (its loops and hooks point back at it), so without
    a collection its DistributedDataParallel model, which holds the process group and its
    reducer, outlived ``destroy_process_group`` (checked) and was destroyed during
    interpreter finalization: the likely cause of the same abort, seen in about one run in
    30 of the two-process CPU test under load before this collection (none in 20 after)."""
    import gc

    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
        gc.collect()


def run_tool(main: Callable[[], Optional[Runner]], what: str,
             work_dir_of: Callable[[], Optional[str]] = lambda: None) -> int:
    """Run a tool's ``main``; returns the exit status.

    * a user error (bad file, config or checkpoint: the classes above): one line
      ``<what>: error: <message>`` on stderr, exit 2 (``VPMM_DEBUG=1`` re-raises for the
      traceback);
    * Ctrl-C (SIGINT): one line naming the last complete checkpoint (checkpoints are
      written atomically, so it is complete), exit 130.
    """
    _quiet_sigint_in_workers()
    try:
        main()
        _close_process_group()
        return 0
    except (KeyboardInterrupt, RuntimeError) as e:
        if not _interrupted(e):
            raise
        ckpt = last_checkpoint(work_dir_of())
        where = f'last complete checkpoint: {ckpt}' if ckpt else 'no checkpoint was saved'
        print(f'{what}: interrupted (Ctrl-C); {where}', file=sys.stderr, flush=True)
        return 130
    except _user_errors() as e:
        if os.environ.get('VPMM_DEBUG'):
            raise
        msg = str(e).strip()
        print(f'{what}: error: {msg}', file=sys.stderr, flush=True)
        return 2
