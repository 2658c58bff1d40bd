"""mmengine metrics (registered in ``virtualpose_mm.registry.METRICS``)."""
from .mupots_metric import MuPoTSPCKMetric  # noqa: F401
from .panoptic_ap_metric import PanopticAPMetric  # noqa: F401
from .pcp_metric import ShelfCampusPCPMetric  # noqa: F401

__all__ = ['PanopticAPMetric', 'ShelfCampusPCPMetric', 'MuPoTSPCKMetric']
from .panoptic_mono_metric import PanopticMonoMetric  # noqa: F401,E402
