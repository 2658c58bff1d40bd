# A small heatmap-input VoxelPose for CPU smoke tests (training / unit tests / benchmark
# dry runs): 5 views, COCO-17 joints, 64x48 heatmaps of a 256x192 input, a 16x16x8 root
# grid and 16^3 pose cubes, V2V with 8 middle channels. Not meant to be accurate.
_base_ = ['../_base_/default_runtime.py', './_base_/voxelpose_shelf_model.py']
model = dict(
    image_size=(256, 192),
    root_net=dict(space_shape=(16, 16, 8),
                  v2v_net=dict(type='V2VNet', input_channels=17, output_channels=1,
                               mid_channels=8)),
    pose_net=dict(cube_shape=(16, 16, 16),
                  v2v_net=dict(type='V2VNet', input_channels=17, output_channels=17,
                               mid_channels=8)))
