"""virtualpose_mm.datasets (MMPose's layout): importing this package registers its classes.

* :mod:`.datasets` — the dataset classes by family (base, multiview, monocular, virtual);
* :mod:`.transforms` — the data pipeline (projection, letterbox, heatmaps, targets, packing);
* :mod:`.io` — readers of the published annotation formats;
* :mod:`.joint_sets` — every joint set and every conversion between them.
"""
from . import transforms  # noqa: F401,E402
from .datasets import (BaseMonoDataset, BaseMviewDataset,  # noqa: F401,E402
                       Body3DMviewDirectCampusDataset, Body3DMviewDirectPanopticDataset,
                       Body3DMviewDirectShelfDataset, DatasetError, FixedCameraSampler,
                       MuCo3DHPDataset, MuPoTS3DDataset, PanopticMonoDataset, PoseBank,
                       VirtualCameraSampler, VirtualMviewSceneDataset,
                       VirtualPoseSceneDataset, build_camera_sampler, camera_geometry,
                       coco17_to_virtualpose17, convert_hmor, load_muco_pose_bank,
                       load_pose_bank, load_rig, parse_frame_ranges)
