"""Model utilities: multi-view metainfo parsing and checkpoint converters."""
from .multiview import ViewMeta, cameras_from_meta, parse_view_meta  # noqa: F401
from .voxelpose_converter import (convert_voxelpose_state_dict,  # noqa: F401
                                  load_voxelpose_checkpoint)
