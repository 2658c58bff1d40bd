# A tiny VirtualPose stage-1 (AGR network) config for CPU smoke tests: ResNet-18, a 128×64
# canvas → 32×16 maps, 32-channel deconvolutions, COCO-format images only (MMPose's
# CocoDataset in bottom-up mode: every person of an image). Not meant to be accurate.
# The published setting: virtualpose-stage1_res152_coco-muco_960x512.py.
_base_ = ['../_base_/default_runtime.py']

num_joints = 17
input_size = (128, 64)
heatmap_size = (32, 16)
data_root = 'data/coco/'

model = dict(
    type='VirtualPoseAGRNet',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
    head=dict(type='VirtualPoseAGRHead', in_channels=512, out_channels=num_joints,
              deconv_out_channels=(32, 32, 32), deconv_kernel_sizes=(4, 4, 4),
              box_channels=32),
    train_cfg=dict(flip_train=True),
    test_cfg=dict(flip_test=True))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LetterboxImage', input_size=input_size),
    dict(type='GenerateAGRTargets', input_size=input_size, heatmap_size=heatmap_size,
         joint_set='virtualpose17', source_joint_set='coco17', bbox_source='annotation'),
    dict(type='PackPoseInputs', pack_transformed=True,
         meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape', 'input_size',
                    'affine', 'heatmap_size', 'dataset_name')),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CocoDataset', data_root=data_root, data_mode='bottomup',
                 ann_file='annotations/person_keypoints_train2017.json',
                 data_prefix=dict(img='train2017/'), pipeline=train_pipeline))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False))
log_processor = dict(by_epoch=False)
visualizer = dict(_delete_=True, type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
randomness = dict(seed=0)
