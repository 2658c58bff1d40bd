# VoxelPose model, CMU Panoptic (5 HD views), image input through a frozen ResNet-50
# SimpleBaseline at 960x512 -> heatmaps 240x128, Panoptic-15 joints.
# Weights: convert the voxelpose-pytorch or MMPose-0.x checkpoint with
#   python tools/convert_voxelpose_checkpoint.py IN OUT --config <this config>
# The images must be normalised per view by the data preprocessor (ImageNet mean/std).
num_joints = 15
model = dict(
    type='VoxelPose',
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
    root_net=dict(
        type='VoxelCenterNet',
        space_size=(8000.0, 8000.0, 2000.0),
        space_center=(0.0, -500.0, 800.0),
        space_shape=(80, 80, 20),
        max_people=10,
        threshold=0.3,
        match_distance=500.0,
        # float32 projection (cached per rig: only the first frame pays for it)
        projector=dict(precision='float32', cache_size=8),
        fast_eval=True,
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=1)),
    pose_net=dict(
        type='VoxelSinglePoseNet',
        cube_size=(2000.0, 2000.0, 2000.0),
        cube_shape=(64, 64, 64),
        beta=100.0,
        projector=dict(precision='float32', cache_size=0),
        fast_eval=True,
        # None: one cube per call on the CPU, all at once on a GPU and in training
        max_cubes_per_call=None,
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=num_joints)))
