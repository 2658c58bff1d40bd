# VirtualPose stage 2 (root net + pose net on the AGR), the released architecture
# (wkom/VirtualPose configs/muco/synthesize_full.yaml): 17 joints (VirtualPose's internal
# MuCo/MuPoTS order), DE = ResNet-18 with a stride-1 stem + 3 deconvs, REN capture space
# 8 m × 8 m × 2.4 m centred at (0, 0, 1100) mm on an 80×80×24 grid, PEN 2 m cube on 64³.
# Sound defaults everywhere: gt_proposal_filter=False (the reference's GT filtering of
# test-time proposals is an opt-in), sound decoding (peak_offset 0, no depth sort),
# left/right channel swap in the DE flip augmentation.
num_joints = 17
space_size = (8000.0, 8000.0, 2400.0)
space_center = (0.0, 0.0, 1100.0)
space_shape = (80, 80, 24)
input_size = (960, 512)
heatmap_size = (240, 128)

model = dict(
    type='VirtualPose',
    num_joints=num_joints,
    root_index=2,
    input_size=input_size,
    data_preprocessor=dict(type='MultiViewDataPreprocessor'),  # V = 1: the AGR, no normalisation
    root_net=dict(
        depth_net=dict(depth=18, deconv_channels=(256, 256, 256), deconv_kernels=(4, 4, 4),
                       head_channels=256, flip_train=True),
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=1),
        space_size=space_size,
        space_center=space_center,
        space_shape=space_shape,
        max_people=10,
        threshold=0.3,
        match_distance=500.0,
        target_sigma=200.0,
        # inference (eval mode, no gradients: also a frozen root net in training): the V2V
        # through a copy with BatchNorm folded, channels-last, its 7^3 first convolution by
        # FFT and its 3x3x3 ones by Winograd on a CPU with AVX2+FMA (as VoxelPose's
        # configs; outputs within ~1e-5 relative of the plain net's). fast_eval=False runs
        # the plain net.
        fast_eval=True,
        fft_first_layer=True,
        winograd=True),
    pose_net=dict(
        type='VoxelSinglePoseNet',
        cube_size=(2000.0, 2000.0, 2000.0),
        cube_shape=(64, 64, 64),
        beta=100.0,
        fast_eval=True,  # as the root net
        fft_first_layer=True,
        winograd=True,
        # None: cubes per V2V call chosen at run time (on the CPU in inference as many as
        # hold 32^3 voxels: one 64^3 cube, four 20^3 ones; all on a GPU and in training)
        max_cubes_per_call=None,
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=num_joints)),
    loss_weights=dict(depth=0.1, root=1000.0, pose=1.0),
    gt_proposal_filter=False)
