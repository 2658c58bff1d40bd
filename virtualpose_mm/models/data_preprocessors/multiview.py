"""Batching of multi-view (and monocular, V = 1) frames: inputs and views."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor

from virtualpose_mm.registry import MODELS
from ..layers.projection import SamplingGridCache
from ..utils.multiview import ViewMeta, parse_view_meta

__all__ = ['MultiViewDataPreprocessor']


@MODELS.register_module()
class MultiViewDataPreprocessor(BaseDataPreprocessor):
    """The data preprocessor of every model of the package (VoxelPose, VirtualPose): stacks
    the inputs into (B, V, C, H, W) and the views of the batch into one :class:`ViewMeta`.

    It is part of the model (``model.data_preprocessor``): the runner's ``train_step`` /
    ``val_step`` / ``test_step`` call it; code that calls the model directly runs
    ``data = model.data_preprocessor(dict(inputs=..., data_samples=...))`` and then
    ``model(**data, mode=...)``.

    **Inputs.** The pack transform gives one (V, C, H, W) tensor per frame (V = 1 for a
    monocular frame): letterboxed images as uint8, or heatmaps / VirtualPose's AGR as
    float32. They are moved to the model's device and stacked. Images (uint8) are converted
    to float, optionally turned from BGR to RGB, and normalised per view as
    ``(x − mean) / std``; floating inputs pass through unchanged.

    **Views.** Each sample's metainfo holds the canonical layout of the pack transform
    (:mod:`virtualpose_mm.models.utils.multiview`): ``cameras`` = dict of float64 arrays
    ``R`` (V, 3, 3), ``t`` (V, 3), ``f`` (V, 2), ``c`` (V, 2), ``dist`` (V, 5),
    ``image_size`` (V, 2); ``affines`` (V, 2, 3); optional ``input_size`` (2,) and
    ``depth_norm_factor``. They are checked (a missing key, a shape or view count that
    does not fit the inputs, NaN: a ``ValueError`` naming the sample and the field) and
    stacked once per batch into a :class:`ViewMeta`:

    =======================  ==================  ======================================
    ``cameras``              Camera (B, V)       torch float64, on the inputs' device
    ``affines``              (B, V, 2, 3)        float64
    ``image_sizes``          (B, V, 2)           float64 (= ``cameras.image_size``)
    ``input_size``           (w, h) or None
    ``keys``                 B hashables         exact bytes of each sample's arrays
    ``depth_norm_factor``    (B,) or None        float64 mm (monocular)
    =======================  ==================  ======================================

    That one object is set as metainfo ``view_meta`` of every data sample of the batch
    (the data samples returned, which ``cast_data`` copied onto the device); the
    estimators read it with ``parse_meta(data_samples)``. Batches whose arrays are
    byte-identical to a recent batch (a static rig) reuse its tensors
    (``cache_size`` batches are kept; the key is computed once per batch).

    Args:
        mean: per-channel mean, (C,) for every view or (V, C) per view; None: no
            normalisation.
        std: per-channel std, same shape as ``mean``.
        bgr_to_rgb: reverse the channel order of images (``LoadMultiViewImages`` reads BGR
            unless ``to_rgb=True``).
        non_blocking: non-blocking host → device copies.
        cache_size: stacked batches of views kept for reuse (0: no cache).

    Raises:
        ValueError: frames of one batch with different numbers of views or sizes, a
            mean/std that does not fit the channels or views, or bad view metainfo.
    """

    def __init__(self, mean: Optional[Sequence] = None, std: Optional[Sequence] = None,
                 bgr_to_rgb: bool = False, non_blocking: bool = False, cache_size: int = 8):
        super().__init__(non_blocking=non_blocking)
        if (mean is None) != (std is None):
            raise ValueError('MultiViewDataPreprocessor: give both mean and std, or neither')
        self._norm = mean is not None
        if self._norm:
            m = torch.as_tensor(mean, dtype=torch.float32)
            s = torch.as_tensor(std, dtype=torch.float32)
            if m.shape != s.shape or m.dim() not in (1, 2):
                raise ValueError('MultiViewDataPreprocessor: mean and std must both be (C,) '
                                 f'or (V, C), got {tuple(m.shape)} and {tuple(s.shape)}')
            if (s <= 0).any():
                raise ValueError(f'MultiViewDataPreprocessor: std must be positive, got {s}')
            self.register_buffer('mean', m, False)
            self.register_buffer('std', s, False)
        self.bgr_to_rgb = bool(bgr_to_rgb)
        # the projectors' LRU, here holding stacked ViewMeta keyed by the batch's bytes
        self.view_cache = SamplingGridCache(cache_size)

    @staticmethod
    def stack(inputs: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """A list of B (V, C, H, W) tensors (or a (B, V, C, H, W) tensor) → (B, V, C, H, W)."""
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() != 5:
                raise ValueError('MultiViewDataPreprocessor: inputs must be (B, V, C, H, W), got '
                                 f'{tuple(inputs.shape)}')
            return inputs
        shapes = [tuple(x.shape) for x in inputs]
        if not shapes:
            raise ValueError('MultiViewDataPreprocessor: empty batch')
        if any(len(s) != 4 for s in shapes):
            raise ValueError('MultiViewDataPreprocessor: every frame must be (V, C, H, W) '
                             f'(a monocular frame: V = 1), got {shapes}')
        if len(set(shapes)) != 1:
            raise ValueError('MultiViewDataPreprocessor: the frames of a batch must have the same '
                             f'views and size, got {shapes} (frame i has shape shapes[i])')
        return torch.stack(list(inputs))

    def view_meta(self, data_samples, num_views: int, device) -> ViewMeta:
        """The batch's :class:`ViewMeta` (checked, stacked on ``device``, cached)."""
        return parse_view_meta([ds.metainfo for ds in data_samples], num_views,
                               device=device, cache=self.view_cache)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        x = self.stack(data['inputs'])
        if not torch.is_floating_point(x):  # images
            x = x.float()
            if self.bgr_to_rgb:
                if x.shape[2] != 3:
                    raise ValueError('MultiViewDataPreprocessor: bgr_to_rgb needs 3-channel '
                                     f'images, got {x.shape[2]} channels')
                x = x.flip(2)
            if self._norm:
                B, V, C = x.shape[:3]
                m, s = self.mean, self.std
                if m.shape[-1] != C or (m.dim() == 2 and m.shape[0] != V):
                    raise ValueError(f'MultiViewDataPreprocessor: mean/std of shape '
                                     f'{tuple(m.shape)} do not fit {V} views of {C} channels')
                m = m.view(1, 1, C, 1, 1) if m.dim() == 1 else m.view(1, V, C, 1, 1)
                s = s.view(1, 1, C, 1, 1) if s.dim() == 1 else s.view(1, V, C, 1, 1)
                x = (x - m) / s
        samples = data.get('data_samples')
        if samples is not None:
            if len(samples) != x.shape[0]:
                raise ValueError(f'MultiViewDataPreprocessor: {len(samples)} data samples for '
                                 f'{x.shape[0]} frames of inputs')
            vm = self.view_meta(samples, x.shape[1], x.device)
            for ds in samples:  # one shared object (set_metainfo would deep-copy it)
                ds.set_field(vm, 'view_meta', field_type='metainfo')
        return dict(inputs=x, data_samples=samples)
