# Faster-VoxelPose on CMU Panoptic: 5 HD views, images through a frozen ResNet-50
# SimpleBaseline (960x512 -> 240x128 heatmaps, Panoptic-15), capture space 8x8x2 m on an
# 80x80x20 grid, cubes of 2 m at 64^3. Settings of the reference configs/panoptic/jln64.yaml
# (PRETRAINED_BACKBONE pose_resnet50_panoptic.pth.tar, MIN_SCORE 0.3, 20 epochs, batch 8).
# The 2D network has the layout of ../voxelpose/_base_/voxelpose_panoptic_resnet50_model.py
# (a reference checkpoint's backbone.* keys load into backbone.* / head_2d.*). The model
# options (reference_* behaviours, all off) are documented in ./faster-voxelpose_shelf_cam5.py.
_base_ = ['../_base_/default_runtime.py', './_base_/faster-voxelpose_model.py',
          '../voxelpose/_base_/datasets/panoptic.py']

num_joints = 15
model = dict(
    num_joints=num_joints,
    num_views=5,
    image_size=(960, 512),
    root_joints=(2, ),          # Panoptic mid-hip
    freeze_2d=True,
    backbone=dict(type='ResNet', depth=50),
    head_2d=dict(
        type='HeatmapHead',
        in_channels=2048,
        out_channels=num_joints,
        deconv_out_channels=(256, 256, 256),
        deconv_kernel_sizes=(4, 4, 4),
        loss=dict(type='KeypointMSELoss', use_target_weight=True)),
    # images: BGR uint8 from LoadMultiViewImages -> RGB, ImageNet mean/std, every view
    data_preprocessor=dict(type='MultiViewDataPreprocessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    detector=dict(space_size=(8000.0, 8000.0, 2000.0), space_center=(0.0, -500.0, 800.0),
                  max_people=10, threshold=0.3))

input_size = (960, 512)
heatmap_size = (240, 128)
train_pipeline = [
    dict(type='LoadMultiViewImages', to_rgb=False),
    dict(type='ProjectKeypoints3D', out_key='keypoints_2d'),
    dict(type='MultiViewLetterbox', input_size=input_size),
    # 2D targets for fine-tuning the 2D network (used when the model has freeze_2d=False)
    dict(type='GenerateMultiViewHeatmaps', heatmap_size=heatmap_size,
         keypoints_key='keypoints_2d', out_key='target_heatmaps', sigma=3.0),
    dict(type='PackMultiViewPoseInputs', inputs_key='img'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8)
test_dataloader = val_dataloader

# ---------------------------------------------------------------- schedule
# the reference: Adam 1e-4, batch 8 (two optimizers; see faster-voxelpose_shelf_cam5.py)
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = []
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1,
                                     save_best='panoptic/mAP', rule='greater'))
auto_scale_lr = dict(base_batch_size=8)
