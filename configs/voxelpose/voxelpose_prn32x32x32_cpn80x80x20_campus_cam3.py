# As voxelpose_prn64x64x64_cpn80x80x20_campus_cam3.py with 32^3 pose-net cubes (MMPose 0.x's
# prn32 variant: 8x fewer pose-net voxels, faster, slightly less precise joints).
_base_ = ['./voxelpose_prn64x64x64_cpn80x80x20_campus_cam3.py']
model = dict(pose_net=dict(cube_shape=(32, 32, 32)))
