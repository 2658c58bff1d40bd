"""High-level inference API (MMPose ``mmpose.apis`` style)."""
from .inference import (IMAGE_EXTENSIONS, InferenceError, inference_multiview,  # noqa: F401
                        init_model, iter_multiview_frames, load_config, load_rig)
from .inference_monocular import inference_monocular, monocular_camera  # noqa: F401

__all__ = ['init_model', 'inference_multiview', 'iter_multiview_frames', 'load_rig',
           'load_config', 'InferenceError', 'IMAGE_EXTENSIONS', 'inference_monocular',
           'monocular_camera']
