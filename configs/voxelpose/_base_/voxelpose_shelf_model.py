# VoxelPose model, Shelf (5 views, 1032x776 images), heatmap input, COCO-17 joints.
# Reference settings: configs/shelf/prn64_cpn80x80x20.yaml of microsoft/voxelpose-pytorch.
# Data samples follow the one batch layout (docs/architecture.md): metainfo 'cameras' (dict
# of (V, ...) arrays, image_size included), 'affines' (original px -> 800x608 input px),
# stacked by the model's MultiViewDataPreprocessor (the default).
num_joints = 17
num_views = 5
model = dict(
    type='VoxelPose',
    num_joints=num_joints,
    num_views=num_views,
    image_size=(800, 608),      # network input (w, h); the heatmaps are 200x152
    root_joints=(11, 12),       # GT root = mid-hip (COCO)
    prn_train_per_slot=False,   # True: reference slot-by-slot pose-net BatchNorm
    root_net=dict(
        type='VoxelCenterNet',
        space_size=(8000.0, 8000.0, 2000.0),
        space_center=(450.0, -320.0, 800.0),
        space_shape=(80, 80, 20),
        max_people=10,
        nms_kernel=3,
        threshold=0.1,
        match_distance=500.0,
        target_sigma=200.0,
        loss=dict(type='KeypointMSELoss', loss_weight=1.0),
        # Part of the Shelf space lies behind some cameras; the reference lets those voxels
        # count through their mirrored projection. Set exclude_behind_camera=False to feed
        # a converted voxelpose-pytorch checkpoint exactly what it was trained on.
        projector=dict(exclude_behind_camera=True, precision='float64', cache_size=8),
        fast_eval=True,  # inference V2V with folded BatchNorm, channels-last
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=1)),
    pose_net=dict(
        type='VoxelSinglePoseNet',
        cube_size=(2000.0, 2000.0, 2000.0),
        cube_shape=(64, 64, 64),
        beta=100.0,
        loss=dict(type='L1Loss', use_target_weight=True, loss_weight=1.0),
        projector=dict(exclude_behind_camera=True, precision='float32', cache_size=0),
        fast_eval=True,
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=num_joints)))
