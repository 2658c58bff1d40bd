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
        # precision='float32': the projection in float32 (the sampling grid of a static rig
        # is cached, so this only speeds up the first frame of each rig; on the golden
        # cases float32 projections + fast_eval move the poses by <= 0.011 mm, i.e. within
        # the 0.05 mm bound). 'reference' reproduces the reference's float32 order of
        # operations bit for bit (the golden checker forces it), 'float64' is the most
        # accurate.
        projector=dict(exclude_behind_camera=True, precision='float32', cache_size=8),
        fast_eval=True,  # inference V2V with folded BatchNorm, channels-last
        # fft_first_layer: the 7x7x7 first convolution of the inference copy by FFT (24.5
        # GMAC direct on a 64^3 cube; measured 1.92 -> 1.77 s per 64^3 pose cube on 1 core
        # of this machine, golden poses within 0.012 mm; costs ~0.4 GB of cached weight
        # spectrum for 64^3 cubes, ~0.25 GB for the 80x80x20 space). compile_v2v=True
        # torch.compiles the inference copy: opt-in (20-40 s of compilation, a C++
        # compiler; 2x on 32^3 cubes but no gain on 64^3 cubes in our runs)
        fft_first_layer=True,
        # winograd: with fast_eval on a CPU with AVX2+FMA, the V2V's 3x3x3 convolutions by
        # Winograd F(2^3,3^3) (virtualpose_mm/ops, built by `make install`; 64^3 pose V2V
        # 661 -> 435 ms per cube on 2 threads here, outputs within ~2e-6 relative); where
        # the kernel cannot be built a warning says so and oneDNN runs
        winograd=True,
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=1)),
    pose_net=dict(
        type='VoxelSinglePoseNet',
        cube_size=(2000.0, 2000.0, 2000.0),
        cube_shape=(64, 64, 64),
        beta=100.0,
        loss=dict(type='L1Loss', use_target_weight=True, loss_weight=1.0),
        # float32 projection: each cube is projected anew (no cache), and the float64 one
        # costs ~2x as much; golden poses move by <= 0.011 mm (bound 0.05 mm)
        projector=dict(exclude_behind_camera=True, precision='float32', cache_size=0),
        fast_eval=True,
        # None: cubes per projection / V2V call chosen by device at run time: one per call
        # on the CPU (batching 64^3 cubes thrashes the cache), all at once on a GPU and in
        # training (BatchNorm statistics over all pairs); an integer forces it, 0 = all
        max_cubes_per_call=None,
        fft_first_layer=True,  # see the root net
        winograd=True,  # see the root net
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=num_joints)))
