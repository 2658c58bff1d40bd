"""Multi-view transforms (MMPose 1.x style): importing this package registers them."""
from .agr_from_keypoints import RenderAGRFromKeypoints  # noqa: F401
from .formatting import PackMultiViewPoseInputs  # noqa: F401
from .heatmaps import (CAMPUS_JOINT_DROPS, SHELF_JOINT_DROPS,  # noqa: F401
                       GenerateMultiViewHeatmaps, SimulateHeatmapNoise)
from .loading import LoadMultiViewImages  # noqa: F401
from .multiview import (MultiViewLetterbox, ProjectKeypoints3D, apply_affine,  # noqa: F401
                        frame_rng, letterbox_affine)
from .targets import GenerateRootTarget3D  # noqa: F401
from .virtualpose_agr import (GenerateVirtualPoseAGR, PackVirtualPoseInputs,  # noqa: F401
                              depth_norm_factor, reference_agr_noise)
from .agr_targets import AGR_LABEL_MAPPING, GenerateAGRTargets, LetterboxImage  # noqa: F401
