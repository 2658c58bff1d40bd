# VirtualPose stage 2 for CMU Panoptic (monocular, HMOR protocol) trained on virtual data
# with VIRTUAL CAMERAS: Panoptic-15 joints (joint 1 is the nose), the builtin CMU mocap
# pose bank, cameras spanning the Panoptic HD dome (measured on the 31 HD cameras of
# calibration_160906_band1.json: 0.74–3.4 m high, 1.4–3.3 m from the dome centre
# (0, −500), pitch −15…53°, roll ±7°, f 1393–1862 px, 1920×1080), the reference's capture
# space (centre (0, −500, 800) mm) and training noise.
# Evaluation: the HMOR validation split (see _base_/panoptic_mono_test_data.py).
_base_ = ['../_base_/default_runtime.py', './_base_/virtualpose_model.py',
          './_base_/panoptic_mono_test_data.py']

num_joints = 15
input_size = (960, 512)
heatmap_size = (240, 128)
space_size = (8000.0, 8000.0, 2400.0)
space_center = (0.0, -500.0, 800.0)
space_shape = (80, 80, 24)

model = dict(
    num_joints=num_joints,
    root_net=dict(v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=1),
                  space_center=space_center),
    pose_net=dict(v2v_net=dict(type='V2VNet', input_channels=num_joints,
                               output_channels=num_joints)))

train_pipeline = [
    dict(type='GenerateVirtualPoseAGR', input_size=input_size, heatmap_size=heatmap_size,
         joint_set='panoptic15', noise=True),
    dict(type='GenerateRootTarget3D', space_size=space_size, space_center=space_center,
         space_shape=space_shape, root_joints=2),
    dict(type='PackVirtualPoseInputs'),
]
train_dataloader = dict(
    batch_size=6, num_workers=6, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='VirtualPoseSceneDataset', pose_bank='builtin', joint_set='panoptic15',
        cameras=dict(type='VirtualCameraSampler', height_range=(700.0, 3400.0),
                     distance_range=(1500.0, 4500.0), pitch_range=(-10.0, 50.0),
                     roll_range=(-7.0, 7.0), yaw_range=(-25.0, 25.0),
                     focal_range=(1350.0, 1900.0), image_sizes=((1920, 1080), ),
                     scene_center=(0.0, -500.0)),
        num_samples=12000, seed=0, num_people=(1, 6), replace=True,
        placement_area=((-2500.0, 2500.0), (-2500.0, 2500.0)), scene_center=(0.0, -500.0),
        min_spacing=600.0, min_root_depth=1000.0, person_in_view=True,
        pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
auto_scale_lr = dict(base_batch_size=6)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                                     save_best='panoptic_mono/MPJPE', rule='less'))
