"""Dataset classes, by family (MMPose's ``mmpose/datasets/datasets/<family>/``):

* :mod:`.base` — the multi-view and monocular base classes;
* :mod:`.multiview` — CMU Panoptic, Shelf, Campus (calibrated multi-camera recordings);
* :mod:`.monocular` — MuCo-3DHP, MuPoTS-3D, Panoptic single views (VirtualPose);
* :mod:`.virtual` — the pose bank and the virtual scenes (any rig, virtual cameras).
"""
from .base import BaseMonoDataset, BaseMviewDataset, DatasetError, parse_frame_ranges  # noqa: F401,E501
from .multiview import (Body3DMviewDirectCampusDataset,  # noqa: F401
                        Body3DMviewDirectPanopticDataset, Body3DMviewDirectShelfDataset)
from .virtual import (FixedCameraSampler, PoseBank, VirtualCameraSampler,  # noqa: F401
                      VirtualMviewSceneDataset, VirtualPoseSceneDataset, build_camera_sampler,
                      camera_geometry, coco17_to_virtualpose17, load_pose_bank, load_rig)
from .monocular import (MuCo3DHPDataset, MuPoTS3DDataset, PanopticMonoDataset,  # noqa: F401
                        convert_hmor, load_muco_pose_bank)
