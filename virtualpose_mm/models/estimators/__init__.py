"""Top-level estimators (mmengine ``BaseModel`` subclasses registered in MODELS)."""
from .voxelpose import VoxelPose  # noqa: F401
from .faster_voxelpose import FasterVoxelPose  # noqa: F401
