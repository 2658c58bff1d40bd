"""virtualpose_mm.evaluation: importing this package registers its classes.

* :mod:`.functional`: pure numpy metric functions (Panoptic AP, Shelf/Campus PCP,
  MuPoTS-3D 3DPCK) and the MuPoTS ``.mat`` readers;
* :mod:`.metrics`: the mmengine metrics ``PanopticAPMetric``, ``ShelfCampusPCPMetric``
  and ``MuPoTSPCKMetric``;
* :mod:`.mupots_export`: writes predictions for the official MuPoTS MATLAB evaluation.
"""
from . import functional  # noqa: F401
from .metrics import MuPoTSPCKMetric, PanopticAPMetric, ShelfCampusPCPMetric  # noqa: F401
from .mupots_export import save_mupots_predictions  # noqa: F401
