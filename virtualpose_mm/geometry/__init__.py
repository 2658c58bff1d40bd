from .camera import Camera, CameraError  # noqa: F401
from .camera_io import (CAMPUS_IMAGE_SIZE, MUCO_AXIS_SWAP, PANOPTIC_AXIS_SWAP,  # noqa: F401
                        PANOPTIC_DEFAULT_CAMERAS, SHELF_IMAGE_SIZE, camera_from_muco,
                        camera_from_reference_dict, camera_from_simple_camera_param,
                        load_cameras, load_mmpose_demo_cameras, load_muco_cameras,
                        load_mupots_cameras, load_mupots_extrinsics, load_panoptic_calibration,
                        load_shelf_campus_calibration, panoptic_joints_to_world,
                        repair_reflection, sniff_camera_format, stack_cameras)
from .voxel_space import VoxelSpace  # noqa: F401
