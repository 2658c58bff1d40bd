"""The package registers into MMPose's registries (scope ``mmpose``), so configs use the
plain type names and MMPose's runner, tools and hooks find our classes."""
from mmpose.registry import (DATA_SAMPLERS, DATASETS, EVALUATORS, HOOKS, KEYPOINT_CODECS,  # noqa
                             METRICS, MODELS, TRANSFORMS, VISUALIZERS)
