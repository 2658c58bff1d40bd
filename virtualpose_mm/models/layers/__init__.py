"""Building blocks shared by the voxel-based models (VoxelPose, VirtualPose).

* :mod:`.projection` — multi-view heatmaps → voxel volumes (one batched ``grid_sample``,
  cached whole-space sampling grids);
* :mod:`.proposal` — 3D NMS, top-k peaks, voxel index → world, GT matching;
* :mod:`.soft_argmax` — integral regression of joints from volumes;
* :mod:`.targets` — 3D Gaussian root targets.
"""
from .projection import (SamplingGrid, SamplingGridCache, VoxelProjector,  # noqa: F401
                         aggregate_views, compute_sampling_grid, heatmap_affines,
                         sample_key, sample_views, voxel_grid, voxel_offsets)
from .proposal import (ProposalLayer, index_to_world, match_to_gt, nms_3d,  # noqa: F401
                       topk_peaks, unravel_index)
from .soft_argmax import SoftArgmax3D, soft_argmax_3d  # noqa: F401
