"""Hooks that make long CPU runs show progress early."""
from __future__ import annotations

import time
from typing import Optional

from mmengine.hooks import Hook, LoggerHook
from mmengine.dist import is_main_process
from mmengine.utils import ProgressBar

from ..registry import HOOKS


@HOOKS.register_module()
class AdaptiveLogIntervalHook(Hook):
    """Lowers the :class:`~mmengine.hooks.LoggerHook` interval on slow runs.

    The config's ``default_hooks.logger.interval`` stays the most iterations between two
    log lines; this hook lowers it so that a line appears about every ``target_seconds``
    (estimated from the first iteration, then once more at the first line) and never later
    than the end of an epoch. On a GPU with fast iterations the interval stays as
    configured; on a CPU where an iteration takes seconds the first line appears within
    about a minute instead of after ``interval`` iterations. Training, validation and
    testing are tuned separately. Works with any ``LoggerHook`` (sub)class in the config.

    Args:
        target_seconds: wanted time between two log lines.
    """

    priority = 'LOW'  # after LoggerHook (BELOW_NORMAL): it logs, then we re-tune

    def __init__(self, target_seconds: float = 60.0) -> None:
        self.target_seconds = float(target_seconds)
        self._logger: Optional[LoggerHook] = None
        self._max = None
        self._cap = None
        self._t_last = None
        self._n_since = 0
        self._train_interval = None
        self._tunes_left = 0

    def _find_logger(self, runner) -> Optional[LoggerHook]:
        if self._logger is None:
            self._logger = next((h for h in runner.hooks if isinstance(h, LoggerHook)), None)
            if self._logger is not None:
                self._max = int(self._logger.interval)
        return self._logger

    def _start(self, runner, loader) -> None:
        if self._find_logger(runner) is None:
            return
        try:
            n = len(loader)
        except TypeError:  # an iterable without length
            n = None
        self._cap = self._max if n is None else max(1, min(self._max, n))
        self._logger.interval = self._cap
        self._t_last, self._n_since, self._tunes_left = time.perf_counter(), 0, 2

    def _tick(self, logged: bool) -> None:
        """Re-tune twice per loop: after its first iteration (a rough estimate) and at its
        first log line (the mean over the iterations after the first, which carries the
        start-up cost: workers, caches, lazy initialisation; counting it kept a 1.3 s/iter
        run logging every 3 iterations); then the interval stays, so the lines come at
        regular multiples (LoggerHook logs when iter % interval == 0)."""
        if self._logger is None or self._t_last is None or self._tunes_left <= 0:
            return
        self._n_since += 1
        first = self._tunes_left == 2
        if not (first or logged):
            return
        now = time.perf_counter()
        per_iter = (now - self._t_last) / self._n_since
        want = int(self.target_seconds / max(per_iter, 1e-6))
        self._logger.interval = max(1, min(self._cap, want))
        self._tunes_left -= 1
        if first:  # the second estimate starts after the first iteration
            self._t_last, self._n_since = now, 0

    # training
    def before_train_epoch(self, runner) -> None:
        if self._train_interval is None:
            self._start(runner, runner.train_dataloader)
        else:  # later epochs: keep the tuned interval
            self._logger.interval = self._train_interval

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        lg = self._logger
        if lg is None:
            return
        logged = lg.every_n_train_iters(runner, lg.interval) or \
            lg.end_of_epoch(runner.train_dataloader, batch_idx)
        self._tick(logged)
        self._train_interval = lg.interval

    # validation / testing
    def before_val_epoch(self, runner) -> None:
        self._start(runner, runner.val_dataloader)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._logger is not None:
            self._tick(self._logger.every_n_inner_iters(batch_idx, self._logger.interval))

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._logger is not None and self._train_interval is not None:
            self._logger.interval = self._train_interval
            self._tunes_left = 0

    def before_test_epoch(self, runner) -> None:
        self._start(runner, runner.test_dataloader)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._logger is not None:
            self._tick(self._logger.every_n_inner_iters(batch_idx, self._logger.interval))


@HOOKS.register_module()
class EvalProgressBarHook(Hook):
    """A progress bar over the batches of validation and testing (main process only)."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._bar: Optional[ProgressBar] = None

    def _begin(self, loader) -> None:
        self._bar = None
        if not is_main_process():
            return
        try:
            n = len(loader)
        except TypeError:
            return
        self._bar = ProgressBar(n)

    def _step(self) -> None:
        if self._bar is not None:
            self._bar.update()

    def _end(self) -> None:
        if self._bar is not None:
            self._bar.file.write('\n')
            self._bar.file.flush()
        self._bar = None

    def before_val_epoch(self, runner) -> None:
        self._begin(runner.val_dataloader)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._end()

    def before_test_epoch(self, runner) -> None:
        self._begin(runner.test_dataloader)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._end()


@HOOKS.register_module()
class SyncNormStatsHook(Hook):
    """Average the floating-point buffers (BatchNorm running statistics) over the processes
    of a distributed run, every ``interval`` training iterations and at each epoch end.

    DDP keeps parameters identical but each process updates its BatchNorm running
    statistics from its own batches; without this hook the checkpoint (saved by rank 0)
    holds rank 0's statistics only and the replicas disagree. Averaging after every
    iteration (a few KB per all-reduce) keeps every replica identical at every checkpoint,
    for epoch- and iteration-based loops. Integer buffers (``num_batches_tracked``, which
    differ when one rank had no matched proposal and skipped the pose net) take rank 0's
    values, as DDP's own buffer broadcast does. Does nothing outside distributed runs.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW)

    def __init__(self, interval: int = 1) -> None:
        self.interval = int(interval)

    @staticmethod
    def _sync(runner) -> None:
        from mmengine.dist import all_reduce_params, broadcast, is_distributed
        if not is_distributed():
            return
        bufs = list(runner.model.buffers())
        floats = [b for b in bufs if b.is_floating_point()]
        if floats:
            all_reduce_params(floats, op='mean')
        for b in bufs:  # counters (num_batches_tracked): rank 0's, as DDP broadcasts them
            if not b.is_floating_point():
                broadcast(b, src=0)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._sync(runner)

    def after_train_epoch(self, runner) -> None:
        self._sync(runner)
