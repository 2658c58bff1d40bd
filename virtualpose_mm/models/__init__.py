"""virtualpose_mm.models (MMPose's layout): importing this package registers its classes.

* :mod:`.backbones` — networks over images/heatmaps (VirtualPose's depth net);
* :mod:`.heads` — the voxel root/centre nets, the per-person pose nets, Faster-VoxelPose's
  detector and joint net, VirtualPose's root net;
* :mod:`.layers` — shared building blocks (projection, proposals, soft-argmax, decoding);
* :mod:`.losses` — losses that are not a head's own;
* :mod:`.pose_estimators` — VoxelPose, FasterVoxelPose, VirtualPose;
* :mod:`.data_preprocessors`, :mod:`.utils` (metainfo parsing, checkpoint converters).
"""
from . import layers  # noqa: F401
from . import backbones  # noqa: F401
from . import losses  # noqa: F401
from . import heads  # noqa: F401
from . import pose_estimators  # noqa: F401
from . import utils  # noqa: F401
from . import data_preprocessors  # noqa: F401
