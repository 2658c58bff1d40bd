"""AdaptiveLogIntervalHook: the first log line within about a minute on slow runs."""
import types

from mmengine.hooks import LoggerHook

import virtualpose_mm.engine.hooks as hooks_mod
from virtualpose_mm.engine.hooks import AdaptiveLogIntervalHook


def _train(monkeypatch, seconds_per_iter, epoch_len=400, configured=50, iters=200,
           first_iter=None):
    """Run the hook over ``iters`` fake iterations (the first one taking ``first_iter``
    seconds when given); return the iterations LoggerHook logs and the final interval."""
    clock = {'t': 0.0}
    monkeypatch.setattr(hooks_mod.time, 'perf_counter', lambda: clock['t'])
    logger = LoggerHook(interval=configured)
    runner = types.SimpleNamespace(hooks=[logger], train_dataloader=list(range(epoch_len)),
                                   iter=0)
    hook = AdaptiveLogIntervalHook(target_seconds=60.0)
    hook.before_train_epoch(runner)
    logged = []
    for i in range(iters):
        runner.iter = i
        clock['t'] += first_iter if (i == 0 and first_iter is not None) else seconds_per_iter
        if logger.every_n_train_iters(runner, logger.interval) or \
                logger.end_of_epoch(runner.train_dataloader, i % epoch_len):
            logged.append(i + 1)
        hook.after_train_iter(runner, i % epoch_len)
    return logged, logger.interval


def test_slow_cpu_iterations_log_within_a_minute(monkeypatch):
    logged, interval = _train(monkeypatch, seconds_per_iter=2.0)
    assert interval == 30                       # 60 s / 2 s per iteration
    assert logged[:4] == [30, 60, 90, 120]      # first line after 60 s, then regular


def test_slow_start_does_not_shrink_the_interval(monkeypatch):
    """A 20 s first iteration (workers, caches) then 1.3 s iterations: the interval is
    tuned on the steady iterations (60 / 1.3 = 46), not stuck at a few iterations."""
    logged, interval = _train(monkeypatch, seconds_per_iter=1.3, first_iter=20.0, iters=300)
    assert interval == 46
    assert logged[0] == 3                       # 60 / 20 s after the first iteration
    assert logged[1:4] == [46, 92, 138]


def test_fast_iterations_keep_the_configured_interval(monkeypatch):
    logged, interval = _train(monkeypatch, seconds_per_iter=0.01)
    assert interval == 50 and logged[:3] == [50, 100, 150]


def test_interval_never_exceeds_the_epoch(monkeypatch):
    logged, interval = _train(monkeypatch, seconds_per_iter=0.01, epoch_len=8, iters=16)
    assert interval == 8 and logged == [8, 16]
