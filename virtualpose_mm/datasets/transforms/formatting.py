"""Packing a multi-view frame into model inputs and a :class:`PoseDataSample`."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from ...geometry.camera import Camera
from ...registry import TRANSFORMS

__all__ = ['PackMultiViewPoseInputs']

DEFAULT_META_KEYS = ('sample_idx', 'frame_id', 'sequence', 'dataset_name', 'num_views',
                     'view_names', 'img_paths', 'cameras', 'affines', 'image_sizes',
                     'input_size', 'heatmap_size', 'num_actors', 'space_size', 'space_center',
                     'random_seed', 'num_people_requested')


@TRANSFORMS.register_module()
class PackMultiViewPoseInputs(BaseTransform):
    """Pack a frame for :class:`~virtualpose_mm.models.estimators.VoxelPose`.

    Output ``dict(inputs=Tensor (V, C, H, W), data_samples=PoseDataSample)``:

    * ``inputs``: the letterboxed images (V, 3, ih, iw) uint8 (``inputs_key='img'``; the
      data preprocessor normalises them) or the input heatmaps (V, K, H, W) float32
      (``inputs_key='input_heatmaps'``).
    * ``data_sample.metainfo`` (the keys of ``meta_keys`` present in the frame):
      ``cameras`` = ``Camera.to_dict()`` of the (V,) rig (``R`` (V, 3, 3), ``t`` (V, 3),
      ``f``, ``c`` (V, 2), ``dist`` (V, 5), ``image_size`` (V, 2); world z-up mm),
      ``affines`` (V, 2, 3) original px → input px, ``image_sizes`` (V, 2) original (w, h),
      ``input_size`` (2,) (iw, ih), ``heatmap_size`` (2,) (W, H), and ``sample_idx``,
      ``frame_id``, ``sequence``, ``dataset_name``, ``num_views``, ``view_names``,
      ``img_paths``, ``num_actors`` (Shelf/Campus), ``space_size``/``space_center``/
      ``random_seed``/``num_people_requested`` (virtual scenes).
    * ``data_sample.gt_instances`` (N people, N may be 0): ``keypoints_3d`` (N, K, 3)
      float32 world mm, ``keypoints_3d_visible`` (N, K) float32, ``roots_3d`` (N, 3)
      float32 (with :class:`GenerateRootTarget3D`), ``ids`` (N,) int64 (``gt_ids``), and
      for Shelf/Campus ``actor_ids`` (N,) int64 (what ``ShelfCampusPCPMetric`` reads).
    * data fields: ``gt_root_heatmap_3d`` (X, Y, Z) float32 (from ``root_target_3d``),
      ``gt_heatmaps_2d`` (V, K, H, W) float32 and ``gt_heatmap_weights_2d`` (V, K)
      (from ``target_heatmaps`` / ``target_heatmaps_weights``).

    Required Keys:

    - the ``inputs_key`` entry, cameras, affines, image_sizes, gt_keypoints_3d

    Args:
        inputs_key: ``'input_heatmaps'`` or ``'img'``.
        meta_keys: frame keys copied into the metainfo when present.
    """

    def __init__(self, inputs_key: str = 'input_heatmaps',
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        if inputs_key not in ('input_heatmaps', 'img'):
            raise ValueError(f"inputs_key must be 'input_heatmaps' or 'img', got {inputs_key!r}")
        self.inputs_key = inputs_key
        self.meta_keys = tuple(meta_keys)

    @staticmethod
    def _inputs(results: dict, key: str) -> torch.Tensor:
        if key not in results:
            hint = ('LoadMultiViewImages and MultiViewLetterbox' if key == 'img' else
                    'GenerateMultiViewHeatmaps')
            raise KeyError(f'PackMultiViewPoseInputs: the frame has no {key!r}; add {hint} '
                           'to the pipeline')
        x = results[key]
        if key == 'img':
            shapes = {np.shape(i) for i in x}
            if len(shapes) != 1:
                raise ValueError(f'PackMultiViewPoseInputs: views have different image shapes '
                                 f'{sorted(shapes)}; letterbox them to one input size first')
            arr = np.stack([np.asarray(i) for i in x])
            if arr.ndim == 3:
                arr = arr[..., None]
            return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
        return torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32)))

    def transform(self, results: dict) -> dict:
        inputs = self._inputs(results, self.inputs_key)
        for need in ('cameras', 'affines', 'image_sizes'):
            if need not in results:
                raise KeyError(f'PackMultiViewPoseInputs: the frame has no {need!r}'
                               + (' (add MultiViewLetterbox)' if need == 'affines' else ''))
        meta = {}
        for k in self.meta_keys:
            if k not in results:
                continue
            v = results[k]
            if isinstance(v, Camera):
                v = v.to_dict()
            meta[k] = v
        V = np.asarray(results['affines']).shape[0]
        if inputs.shape[0] != V:
            raise ValueError(f'PackMultiViewPoseInputs: {inputs.shape[0]} input views but '
                             f'{V} affines')
        ds = PoseDataSample(metainfo=meta)

        X = np.asarray(results.get('gt_keypoints_3d', np.zeros((0, 0, 3))), dtype=np.float32)
        N = X.shape[0]
        vis = results.get('gt_keypoints_3d_visible')
        vis = np.ones(X.shape[:2], np.float32) if vis is None else \
            np.asarray(vis, dtype=np.float32)
        if vis.ndim == 3:
            vis = vis[..., 0]
        gt = InstanceData()
        gt.keypoints_3d = torch.from_numpy(X)
        gt.keypoints_3d_visible = torch.from_numpy(np.ascontiguousarray(vis))
        if 'gt_roots_3d' in results:
            gt.roots_3d = torch.from_numpy(np.asarray(results['gt_roots_3d'], np.float32)
                                           .reshape(N, 3))
        if 'gt_ids' in results:
            ids = torch.from_numpy(np.asarray(results['gt_ids'], np.int64).reshape(N))
            gt.ids = ids
            if 'num_actors' in results:
                gt.actor_ids = ids.clone()
        ds.gt_instances = gt
        if 'root_target_3d' in results:
            ds.set_field(torch.from_numpy(np.asarray(results['root_target_3d'], np.float32)),
                         'gt_root_heatmap_3d')
        if 'target_heatmaps' in results:
            ds.set_field(torch.from_numpy(np.asarray(results['target_heatmaps'], np.float32)),
                         'gt_heatmaps_2d')
            w = results.get('target_heatmaps_weights')
            if w is not None:
                ds.set_field(torch.from_numpy(np.asarray(w, np.float32)),
                             'gt_heatmap_weights_2d')
        return dict(inputs=inputs, data_samples=ds)

    def __repr__(self):
        return f'{self.__class__.__name__}(inputs_key={self.inputs_key!r})'
