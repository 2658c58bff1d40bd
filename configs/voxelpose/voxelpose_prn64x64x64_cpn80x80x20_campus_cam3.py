# VoxelPose on Campus, the MMPose-0.x config of the same name on the MMPose 1.x stack:
# 3 views, heatmap input (COCO-17), root grid 80x80x20 over 12x12x2 m, pose cubes 64^3.
# Trained on virtual scenes of the Campus rig, tested on frames 350-470 and 650-750 (PCP).
# Model part: ./_base_/voxelpose_campus_model.py; data part: ./_base_/datasets/campus.py.
_base_ = ['../_base_/default_runtime.py', './_base_/voxelpose_campus_model.py',
          './_base_/datasets/campus.py']

model = dict(data_preprocessor=dict(type='MultiViewDataPreprocessor'))

train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', milestones=[10, 20], gamma=0.1, by_epoch=True),
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1,
                                     save_best='campus/PCP_avg', rule='greater'))
auto_scale_lr = dict(base_batch_size=8)
