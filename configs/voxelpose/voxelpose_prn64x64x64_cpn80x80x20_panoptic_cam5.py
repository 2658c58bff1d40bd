# VoxelPose on CMU Panoptic, the MMPose-0.x config of the same name on the MMPose 1.x
# stack: 5 HD views, images through a frozen ResNet-50 SimpleBaseline (960x512 -> 240x128
# heatmaps, Panoptic-15), root grid 80x80x20 over 8x8x2 m, pose cubes 64^3 of 2 m.
# Model part: ./_base_/voxelpose_panoptic_resnet50_model.py;
# data part: ./_base_/datasets/panoptic.py.
_base_ = ['../_base_/default_runtime.py', './_base_/voxelpose_panoptic_resnet50_model.py',
          './_base_/datasets/panoptic.py']

# images: BGR uint8 from LoadMultiViewImages -> RGB, ImageNet mean/std, every view
model = dict(data_preprocessor=dict(type='MultiViewDataPreprocessor',
                                    mean=[123.675, 116.28, 103.53],
                                    std=[58.395, 57.12, 57.375], bgr_to_rgb=True))

train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', milestones=[8, 9], gamma=0.1, by_epoch=True),
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1,
                                     save_best='panoptic/mAP', rule='greater'))
auto_scale_lr = dict(base_batch_size=8)
