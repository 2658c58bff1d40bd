# VoxelPose on Campus (heatmap input): the model part (see the Shelf config).
_base_ = ['../_base_/default_runtime.py', './_base_/voxelpose_campus_model.py']
