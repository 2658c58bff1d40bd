"""A test-time hook that draws every test frame with :class:`MultiviewPose3dVisualizer`.

``tools/test.py CONFIG CKPT --show-dir DIR`` adds it (as ``default_hooks.visualization``)
when the config has no visualization hook of its own; in a config::

    default_hooks = dict(visualization=dict(type='MultiviewVisualizationHook', enable=True,
                                            out_dir='vis'))
"""
from __future__ import annotations

import os
import os.path as osp
import warnings
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook

from ..registry import HOOKS, VISUALIZERS
from .multiview_pose3d_visualizer import MultiviewPose3dVisualizer


def _find_space(model):
    """(space_size, space_center) of the first sub-module that has both (the root net's
    capture space), or (None, None)."""
    model = getattr(model, 'module', model)  # DDP / model wrappers
    modules = model.modules() if hasattr(model, 'modules') else [model]
    for m in modules:
        size, center = getattr(m, 'space_size', None), getattr(m, 'space_center', None)
        if size is not None and center is not None and np.size(size) == 3 \
                and np.size(center) == 3:
            return tuple(float(s) for s in np.ravel(size)), \
                tuple(float(c) for c in np.ravel(center))
    return None, None


@HOOKS.register_module()
class MultiviewVisualizationHook(Hook):
    """Draw each test sample (world plot + one panel per view) after every test iteration.

    Each sample (every ``interval``-th) is drawn with the runner's visualizer when it is a
    :class:`MultiviewPose3dVisualizer`, else with one built from ``visualizer``. The
    cameras come from the sample's metainfo ``cameras`` (``PackMultiViewPoseInputs``),
    the view images from ``img_paths`` when ``load_images`` and the files exist (else a
    blank canvas of the camera's image size), the capture space from the metainfo
    (virtual scenes) or from the model's root net. Pictures are written to
    ``out_dir/<sample_idx>.png`` (the dataset index from the metainfo, else a running
    count), so each process of a distributed test writes its own samples.

    Args:
        enable: draw at all (``tools/test.py --show/--show-dir`` switches it on).
        interval: draw every ``interval``-th test sample.
        show: display each picture (mmengine ``Visualizer.show``).
        wait_time: seconds each picture is shown.
        out_dir: folder of the PNG files; None: the visualizer's backends get them.
        draw_gt: draw the GT people.
        visualize_single_view: add the per-view panels when the sample has cameras.
        load_images: read the view images from metainfo ``img_paths``.
        visualizer: config of the visualizer built when the runner's is not a
            :class:`MultiviewPose3dVisualizer`.
    """

    priority = 'NORMAL'

    def __init__(self, enable: bool = False, interval: int = 1, show: bool = False,
                 wait_time: float = 0., out_dir: Optional[str] = None, draw_gt: bool = True,
                 visualize_single_view: bool = True, load_images: bool = True,
                 visualizer: Optional[dict] = None):
        if int(interval) < 1:
            raise ValueError(f'MultiviewVisualizationHook: interval must be >= 1, got '
                             f'{interval}')
        self.enable = enable
        self.interval = int(interval)
        self.show = show
        self.wait_time = wait_time
        self.out_dir = out_dir
        self.draw_gt = draw_gt
        self.visualize_single_view = visualize_single_view
        self.load_images = load_images
        self.visualizer_cfg = dict(visualizer or dict(type='MultiviewPose3dVisualizer',
                                                      name='multiview_visualizer'))
        self._visualizer: Optional[MultiviewPose3dVisualizer] = None
        self._count = 0
        self._space = (None, None)
        self._warned_images = False

    def _get_visualizer(self, runner) -> MultiviewPose3dVisualizer:
        if self._visualizer is None:
            vis = getattr(runner, 'visualizer', None)
            if not isinstance(vis, MultiviewPose3dVisualizer):
                vis = VISUALIZERS.build(self.visualizer_cfg)
            if not isinstance(vis, MultiviewPose3dVisualizer):
                raise TypeError(f'MultiviewVisualizationHook: visualizer '
                                f'{self.visualizer_cfg} is a {type(vis).__name__}, not a '
                                'MultiviewPose3dVisualizer')
            self._visualizer = vis
        return self._visualizer

    def before_test(self, runner) -> None:
        self._count = 0
        if not self.enable:
            return
        vis = self._get_visualizer(runner)
        meta = getattr(getattr(runner, 'test_evaluator', None), 'dataset_meta', None)
        if meta is None:
            meta = getattr(getattr(runner.test_dataloader, 'dataset', None), 'metainfo', None)
        vis.set_dataset_meta(meta)
        self._space = _find_space(runner.model)
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)

    def _images(self, meta: dict) -> Optional[list]:
        paths = meta.get('img_paths') if self.load_images else None
        if not paths:
            return None
        images = []
        for p in paths:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR) if p and osp.isfile(str(p)) else None
            if img is None and not self._warned_images:
                warnings.warn(f'MultiviewVisualizationHook: cannot read view image {p!r}; '
                              'drawing on a blank canvas')
                self._warned_images = True
            images.append(None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        return images

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        if not self.enable or not outputs:
            return
        vis = self._get_visualizer(runner)
        for ds in outputs:
            self._count += 1
            if (self._count - 1) % self.interval:
                continue
            meta = ds.metainfo
            idx = meta.get('sample_idx', self._count - 1)
            cameras = meta.get('cameras')
            images = (self._images(meta) if cameras is not None
                      and self.visualize_single_view else None)
            size, center = (None, None) if meta.get('space_size') is not None else self._space
            vis.add_datasample(
                f'test_{idx}', ds, cameras=cameras, images=images, draw_gt=self.draw_gt,
                visualize_single_view=self.visualize_single_view and cameras is not None,
                space_size=size, space_center=center,
                out_file=None if self.out_dir is None else osp.join(self.out_dir,
                                                                    f'{idx}.png'),
                show=self.show, wait_time=self.wait_time, step=int(self._count))
