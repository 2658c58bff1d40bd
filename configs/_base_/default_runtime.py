# Runtime defaults of virtualpose_mm (our own copy: `mmpose::` base configs need
# pkg_resources and mmpose's `.mim` folder, which modern installs lack).
default_scope = 'mmpose'
custom_imports = dict(imports=['virtualpose_mm'], allow_failed_imports=False)

# hooks
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# SyncNormStatsHook: identical BatchNorm statistics on every process of a distributed run;
# AdaptiveLogIntervalHook: a log line about once a minute on slow (CPU) runs, at most every
# default_hooks.logger.interval iterations; EvalProgressBarHook: a bar over val/test batches
custom_hooks = [dict(type='SyncNormStatsHook'), dict(type='AdaptiveLogIntervalHook'),
                dict(type='EvalProgressBarHook')]

# multi-processing backend
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# visualizer
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Pose3dLocalVisualizer', vis_backends=vis_backends, name='visualizer')

# logger
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False

# file I/O backend
backend_args = dict(backend='local')

# training/validation/testing progress
train_cfg = dict(by_epoch=True)
val_cfg = dict()
test_cfg = dict()
