"""VirtualPose stage 2 (Su et al., ECCV 2022): depth estimator, detection decoding,
depth-gated projection, root net and losses. Importing this package also registers the
``VirtualPose`` estimator (:mod:`virtualpose_mm.models.estimators.virtualpose`)."""
from .decode import decode_root_detections, gather_at, heatmap_peaks  # noqa: F401
from .depth_net import VirtualPoseDepthNet  # noqa: F401
from .losses import root_depth_l1, root_volume_mse  # noqa: F401
from .projection import depth_gated_projection  # noqa: F401
from .root_net import VirtualPoseRootNet  # noqa: F401
from ..estimators.virtualpose import VirtualPose  # noqa: F401,E402
