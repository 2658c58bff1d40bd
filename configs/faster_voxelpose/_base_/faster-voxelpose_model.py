# Faster-VoxelPose model, Shelf settings (5 views, 1032x776 images, heatmap input, COCO-17
# joints), from configs/shelf/jln64.yaml of AlvinYH/Faster-VoxelPose. Every option is listed
# with its default; the Campus and Panoptic configs change the space, views and 2D network.
num_joints = 17
model = dict(
    type='FasterVoxelPose',
    num_joints=num_joints,
    num_views=5,
    image_size=(800, 608),      # network input (w, h); the heatmaps are 200x152
    root_joints=(11, 12),       # GT root = mid-hip (COCO)
    data_preprocessor=dict(type='MultiViewDataPreprocessor'),
    # reference_* behaviours: all off (the estimator's defaults); see
    # ../faster-voxelpose_shelf_cam5.py
    detector=dict(
        type='FasterVoxelPoseDetector',
        space_size=(8000.0, 8000.0, 2000.0),
        space_center=(450.0, -320.0, 800.0),
        space_shape=(80, 80, 20),
        max_people=10,
        threshold=0.1,          # MIN_SCORE: score = top-view value x height value
        match_distance=500.0,
        target_sigma=200.0,
        bbox_padding=200.0,     # GT box = 2 x joint extent + 200 mm
        replace_small_boxes=True,
        box_replace_margin=0.1,
        loss_weights=dict(topview=1.0, height=1.0, bbox=0.1),
        # exclude_behind_camera applies with the in-image mask (reference_view_average
        # False); the whole-space grid is cached per rig
        projector=dict(exclude_behind_camera=True, precision='float64', cache_size=8),
        fast_eval=True),            # inference nets with folded BatchNorm, channels-last
    joint_net=dict(
        type='FasterVoxelPoseJointNet',
        cube_size=(2000.0, 2000.0, 2000.0),
        cube_shape=(64, 64, 64),
        beta=100.0,
        weight_feat_channels=32,
        weight_hidden_channels=64,
        loss_weights=dict(planes=1.0, fused=5.0),
        # cache_size: fine-grid projections kept (one per rig, ~164 MB each for Shelf);
        # 0 projects the cube voxels every call (rigs that change every frame)
        projector=dict(exclude_behind_camera=True, precision='float64', cache_size=2),
        fast_eval=True))
