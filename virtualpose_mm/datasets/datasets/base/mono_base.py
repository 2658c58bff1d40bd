"""Common base of the monocular (one camera per frame) datasets of VirtualPose.

One sample is one *frame* seen by one camera. The virtual-scene dataset
(:class:`~virtualpose_mm.datasets.datasets.virtual.virtual_agr.VirtualPoseSceneDataset`) and
the datasets that read published formats (MuCo-3DHP, MuPoTS-3D, CMU Panoptic monocular) hand the
pipeline a dict with the same keys, so the same transforms
(:class:`~virtualpose_mm.datasets.transforms.GenerateVirtualPoseAGR` →
:class:`~virtualpose_mm.datasets.transforms.GenerateRootTarget3D` →
:class:`~virtualpose_mm.datasets.transforms.PackVirtualPoseInputs`) serve real and virtual
frames (``DESIGN.md`` §3):

===============================  ===========================================================
key                              value
===============================  ===========================================================
``sample_idx``                   int, index in the dataset
``frame_id``                     int, frame / image number in its sequence
``seq_name``                     str, sequence (``'TS3'``, ``'160422_haggling1'``,
                                 ``'virtual'``)
``dataset_name``                 str
``camera``                       single :class:`~virtualpose_mm.geometry.Camera`, world z-up
                                 mm, with ``image_size``
``image_size``                   (2,) float64, original (w, h), px
``img_path``                     str (real datasets)
``gt_keypoints_3d``              (N, K, 3) float64, world mm (N may be 0)
``gt_keypoints_3d_visible``      (N, K) bool: the joint is annotated in 3D (evaluation
                                 visibility; the loss weights add "inside the canvas", see
                                 ``GenerateVirtualPoseAGR``)
``gt_ids``                       (N,) int64: person / annotation id, or pose-bank index
``random_seed``                  tuple of int (virtual scenes): seeds the random transforms
===============================  ===========================================================

The joint order of ``gt_keypoints_3d`` is the dataset's ``joint_set``: ``'virtualpose17'``
(VirtualPose's internal 17-joint MuCo/MuPoTS order) or ``'panoptic15'``.
"""
from __future__ import annotations

from typing import Optional, Tuple

from virtualpose_mm.datasets.datasets.base.mview_base import BaseMviewDataset, DatasetError

__all__ = ['BaseMonoDataset', 'DatasetError', 'VIRTUALPOSE_JOINT_SETS']

#: Joint sets the VirtualPose datasets produce.
VIRTUALPOSE_JOINT_SETS = ('virtualpose17', 'panoptic15')


class BaseMonoDataset(BaseMviewDataset):
    """Base of the monocular VirtualPose datasets (module docstring).

    Reuses :class:`~virtualpose_mm.datasets.datasets.base.mview_base.BaseMviewDataset` for what
    is not multi-view specific: the MMPose metainfo of the joint set, building the pipeline from the
    package's registry, index caches and progress bars.

    Args:
        joint_set: ``'virtualpose17'`` or ``'panoptic15'``.
        dataset_name: name recorded in the metainfo and in every sample.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    joint_set: str = 'virtualpose17'
    dataset_name: str = 'mono'
    #: ``(joint set, why)`` for a dataset whose files give one joint set only: any other
    #: ``joint_set`` raises ``DatasetError('<class>: <why>, so it cannot provide joint set
    #: ...')``.
    only_joint_set: Optional[Tuple[str, str]] = None

    def __init__(self, *, joint_set: Optional[str] = None, **kwargs):
        js = joint_set if joint_set is not None else self.joint_set
        if self.only_joint_set is not None and js != self.only_joint_set[0]:
            only, why = self.only_joint_set
            raise DatasetError(f'{type(self).__name__}: {why}, so it cannot provide joint '
                               f'set {js!r}; use {only}')
        if js not in VIRTUALPOSE_JOINT_SETS:
            raise ValueError(f'{type(self).__name__}: joint_set must be one of '
                             f'{VIRTUALPOSE_JOINT_SETS}, got {js!r}')
        super().__init__(joint_set=js, **kwargs)
