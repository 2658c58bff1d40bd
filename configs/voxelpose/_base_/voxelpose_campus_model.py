# VoxelPose model, Campus (3 views, 360x288 images), heatmap input, COCO-17 joints.
# Reference settings: configs/campus/prn64_cpn80x80x20.yaml of microsoft/voxelpose-pytorch.
_base_ = ['./voxelpose_shelf_model.py']
num_views = 3
model = dict(
    num_views=num_views,
    image_size=(800, 640),      # heatmaps 200x160
    root_net=dict(space_size=(12000.0, 12000.0, 2000.0),
                  space_center=(3000.0, 4500.0, 1000.0)))
