"""virtualpose_mm.datasets: importing this package registers its classes."""
from . import transforms  # noqa: F401,E402
from .mview_base import BaseMviewDataset, DatasetError, parse_frame_ranges  # noqa: F401,E402
from .panoptic import Body3DMviewDirectPanopticDataset  # noqa: F401,E402
from .posebank import PoseBank, load_pose_bank  # noqa: F401,E402
from .shelf_campus import (Body3DMviewDirectCampusDataset,  # noqa: F401,E402
                           Body3DMviewDirectShelfDataset)
from .virtual_scene import VirtualMviewSceneDataset, load_rig  # noqa: F401,E402
from .virtual_cameras import (FixedCameraSampler, VirtualCameraSampler,  # noqa: F401,E402
                              build_camera_sampler, camera_geometry)
from .virtual_agr import VirtualPoseSceneDataset, coco17_to_virtualpose17  # noqa: F401,E402
from .muco import MuCo3DHPDataset, load_muco_pose_bank  # noqa: F401,E402
from .mupots import MuPoTS3DDataset  # noqa: F401,E402
from .panoptic_mono import PanopticMonoDataset, convert_hmor  # noqa: F401,E402
