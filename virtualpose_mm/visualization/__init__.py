"""Drawing multi-view, multi-person 3D poses: :class:`MultiviewPose3dVisualizer`
(``VISUALIZERS``) and the test-time :class:`MultiviewVisualizationHook` (``HOOKS``)."""
from .hooks import MultiviewVisualizationHook
from .multiview_pose3d_visualizer import (COCO17_SKELETON, PERSON_PALETTE,
                                          MultiviewPose3dVisualizer)

__all__ = ['MultiviewPose3dVisualizer', 'MultiviewVisualizationHook', 'PERSON_PALETTE',
           'COCO17_SKELETON']
