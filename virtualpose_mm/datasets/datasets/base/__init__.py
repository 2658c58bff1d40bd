"""Base dataset classes: multi-view (V calibrated views per frame) and monocular."""
from .mview_base import BaseMviewDataset, DatasetError, parse_frame_ranges  # noqa: F401
from .mono_base import BaseMonoDataset  # noqa: F401
