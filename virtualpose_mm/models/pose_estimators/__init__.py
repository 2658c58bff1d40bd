"""Top-level pose estimators (mmengine ``BaseModel`` subclasses registered in MODELS), as
MMPose's ``mmpose.models.pose_estimators``."""
from .voxelpose import VoxelPose  # noqa: F401
from .faster_voxelpose import FasterVoxelPose  # noqa: F401
from .virtualpose import VirtualPose  # noqa: F401
from .virtualpose_agr_net import VirtualPoseAGRNet  # noqa: F401
from .virtualpose_image import VirtualPoseImageEstimator  # noqa: F401
