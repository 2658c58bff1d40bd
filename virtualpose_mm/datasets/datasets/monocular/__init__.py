"""Monocular datasets (VirtualPose): MuCo-3DHP, MuPoTS-3D, single Panoptic views."""
from .muco import MuCo3DHPDataset, load_muco_pose_bank  # noqa: F401
from .mupots import MuPoTS3DDataset  # noqa: F401
from .panoptic_mono import PanopticMonoDataset, convert_hmor  # noqa: F401
