"""Virtual scenes: the pose bank, person placement, virtual cameras, and the fixed-rig
(VoxelPose / Faster-VoxelPose) and virtual-camera (VirtualPose) scene datasets."""
from .posebank import PoseBank, load_pose_bank  # noqa: F401
from .virtual_cameras import (FixedCameraSampler, VirtualCameraSampler,  # noqa: F401
                              build_camera_sampler, camera_geometry)
from .virtual_scene import VirtualMviewSceneDataset, load_rig  # noqa: F401
from .virtual_agr import VirtualPoseSceneDataset, coco17_to_virtualpose17  # noqa: F401
