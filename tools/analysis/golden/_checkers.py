"""Imports every checker module so that it registers itself."""
import importlib

_MODULES = (
    'voxelpose_model',      # shelf_*/campus_* model cases (VoxelPose)
    'panoptic_projection',  # Panoptic calibration conversion and projection
    'metrics',              # Shelf/Campus PCP, Panoptic AP, MuPoTS 3DPCK
    'virtualpose',          # VirtualPose stage 2, losses, AGR rendering
    'faster_voxelpose',     # Faster-VoxelPose model (HDN + JLN), eval and train
)

for _name in _MODULES:
    try:
        importlib.import_module(f'{__package__}.{_name}')
    except ModuleNotFoundError as e:  # a checker not written yet
        if e.name != f'{__package__}.{_name}':
            raise
