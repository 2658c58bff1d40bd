"""Runtime, checkpoint and training-loop helpers."""
from . import checkpoint as _checkpoint
from .hooks import (AdaptiveLogIntervalHook, EvalProgressBarHook,  # noqa: F401
                    SyncNormStatsHook)
from .model_wrappers import DeviceAwareDistributedDataParallel  # noqa: F401
from .results import AtomicDumpResults, write_json_atomic  # noqa: F401

_checkpoint.apply()
