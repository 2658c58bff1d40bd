"""Building blocks shared by the voxel-based models (VoxelPose, VirtualPose).

* :mod:`.projection` — multi-view heatmaps → voxel volumes (one batched ``grid_sample``,
  or one pass of the CPU kernel that samples and averages the views; cached whole-space
  sampling grids);
* :mod:`.proposal` — 3D NMS, top-k peaks, sub-voxel refinement, voxel index → world, GT
  matching;
* :mod:`.soft_argmax` — integral regression of joints from volumes;
* :mod:`.root_decode` — VirtualPose: root-heatmap peaks with their box and depth;
* :mod:`.depth_gated_projection` — VirtualPose: AGR heatmaps → volume, gated by root depth;
* :mod:`.triangulation` — multi-view models: test-time refinement of joints by robust
  triangulation of the input heatmaps' peaks.
"""
from .projection import (SamplingGrid, SamplingGridCache, VoxelProjector,  # noqa: F401
                         aggregate_views, compute_sampling_grid, heatmap_affines,
                         sample_and_average, sample_key, sample_views, voxel_grid,
                         voxel_offsets)
from .proposal import (ProposalLayer, index_to_world, match_to_gt, nms_3d,  # noqa: F401
                       refine_peaks, topk_peaks, unravel_index)
from .soft_argmax import SoftArgmax3D, soft_argmax_3d  # noqa: F401
from .root_decode import decode_root_detections, gather_at, heatmap_peaks  # noqa: F401
from .depth_gated_projection import depth_gated_projection  # noqa: F401
from .triangulation import HeatmapTriangulation, solve_rays  # noqa: F401
