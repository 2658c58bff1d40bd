# VoxelPose on Shelf, the MMPose-0.x config of the same name on the MMPose 1.x stack:
# 5 views, heatmap input (COCO-17), root grid 80x80x20 over 8x8x2 m, pose cubes 64^3 of
# 2 m. Trained on virtual scenes of the Shelf rig, tested on Shelf frames 300-600 (PCP).
#   python tools/train.py configs/voxelpose/voxelpose_prn64x64x64_cpn80x80x20_shelf_cam5.py
# Model part: ./_base_/voxelpose_shelf_model.py; data part: ./_base_/datasets/shelf.py.
_base_ = ['../_base_/default_runtime.py', './_base_/voxelpose_shelf_model.py',
          './_base_/datasets/shelf.py']

model = dict(data_preprocessor=dict(type='MultiViewDataPreprocessor'))

# schedule of the reference / MMPose-0.x config: Adam 1e-4, 30 epochs of 3000 frames,
# linear warm-up over 500 iterations, x0.1 at epochs 10 and 20
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', milestones=[10, 20], gamma=0.1, by_epoch=True),
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1,
                                     save_best='shelf/PCP_avg', rule='greater'))
auto_scale_lr = dict(base_batch_size=8)
