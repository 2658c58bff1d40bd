"""Data structures and target rendering shared by the models and datasets.

* :mod:`.heatmaps` — 2D Gaussian heatmaps (person-size-adaptive σ, max-merge, clip) and
  box-map painting;
* :mod:`.targets` — 3D Gaussian root target volumes and VirtualPose's AGR rendering.
"""
from .heatmaps import (adaptive_sigma, paint_box_map, person_boxes,  # noqa: F401
                       render_gaussian_heatmaps, root_pixel)
from .targets import render_agr, render_root_target, voxel_axes  # noqa: F401
