# A tiny VirtualPose stage-2 config for CPU smoke tests (tools/train.py in the tests,
# tools/misc/render_virtual_agr.py): virtual scenes from the builtin CMU pose bank seen by
# random virtual cameras, a half-size canvas (480×256 → 120×64 AGR), a 16×16×8 root grid,
# 16³ pose cubes, V2V with 8 middle channels and a slim DE head. Not meant to be accurate.
_base_ = ['../_base_/default_runtime.py', './_base_/virtualpose_model.py']

num_joints = 17
input_size = (480, 256)
heatmap_size = (120, 64)
space_size = (8000.0, 8000.0, 2400.0)
space_center = (0.0, 0.0, 1100.0)
space_shape = (16, 16, 8)

model = dict(
    input_size=input_size,
    root_net=dict(
        depth_net=dict(deconv_channels=(16, 16, 16), head_channels=16),
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=1,
                     mid_channels=8),
        space_shape=space_shape),
    pose_net=dict(
        cube_shape=(16, 16, 16),
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=num_joints,
                     mid_channels=8)))

train_pipeline = [
    dict(type='GenerateVirtualPoseAGR', input_size=input_size, heatmap_size=heatmap_size,
         joint_set='virtualpose17', noise=True),
    dict(type='GenerateRootTarget3D', space_size=space_size, space_center=space_center,
         space_shape=space_shape, root_joints=2),
    dict(type='PackVirtualPoseInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VirtualPoseSceneDataset', pose_bank='builtin',
                 joint_set='virtualpose17', cameras=dict(type='VirtualCameraSampler'),
                 num_samples=8, seed=0, num_people=(1, 3), pipeline=train_pipeline))
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
