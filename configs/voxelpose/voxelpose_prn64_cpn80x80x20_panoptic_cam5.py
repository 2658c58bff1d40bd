# VoxelPose on CMU Panoptic (image input, ResNet-50 2D net): the model part.
_base_ = ['../_base_/default_runtime.py', './_base_/voxelpose_panoptic_resnet50_model.py']
