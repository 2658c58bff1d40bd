# A tiny config for the tests of tools/train.py, tools/test.py and tools/dist_train.sh.
# The toy classes live in the test scope `vpmm_tests` (tests/fixtures/toy.py), not in
# MMPose's registries: they are named `vpmm_tests.<Type>` (the default scope stays mmpose).
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['virtualpose_mm', 'tests.fixtures.toy'],
                      allow_failed_imports=False)

model = dict(type='vpmm_tests.ToyPoseRegressor')
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='vpmm_tests.ToyPoseDataset', num_samples=16))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='vpmm_tests.ToyPoseDataset', num_samples=8, seed=1))
test_dataloader = val_dataloader
val_evaluator = dict(type='vpmm_tests.ToyMPJPE')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False))
custom_hooks = [dict(type='vpmm_tests.ToyRecordHook')]
log_processor = dict(by_epoch=False)
visualizer = dict(_delete_=True, type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
randomness = dict(seed=0)
