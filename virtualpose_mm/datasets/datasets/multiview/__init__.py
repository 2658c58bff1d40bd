"""Calibrated multi-camera datasets: CMU Panoptic, Shelf, Campus."""
from .panoptic import Body3DMviewDirectPanopticDataset  # noqa: F401
from .shelf_campus import (Body3DMviewDirectCampusDataset,  # noqa: F401
                           Body3DMviewDirectShelfDataset)
