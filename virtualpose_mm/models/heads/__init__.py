"""Heads and sub-networks of the voxel-based estimators (MMPose ``mmpose.models.heads``)."""
from .voxel_center_net import VoxelCenterNet  # noqa: F401
from .voxel_single_pose_net import VoxelSinglePoseNet  # noqa: F401
from .faster_voxelpose_heads import (FasterVoxelPoseDetector,  # noqa: F401
                                     FasterVoxelPoseJointNet)
from .virtualpose_root_net import VirtualPoseRootNet  # noqa: F401
from .virtualpose_agr_head import VirtualPoseAGRHead  # noqa: F401
from .lifting_pose_refiner import (LiftingPoseRefiner, PeakHeatmaps,  # noqa: F401
                                   widen_refiner_state_dict)
