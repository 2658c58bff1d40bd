# VoxelPose on Shelf (heatmap input): the model part. The dataset / pipeline / schedule
# parts are added by the Shelf dataset config; this file alone serves the benchmark
# (tools/analysis/benchmark_voxelpose.py) and checkpoint conversion.
_base_ = ['../_base_/default_runtime.py', './_base_/voxelpose_shelf_model.py']
