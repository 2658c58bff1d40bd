"""Batching and normalisation of multi-view inputs."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor

from virtualpose_mm.registry import MODELS

__all__ = ['MultiViewDataPreprocessor']


@MODELS.register_module()
class MultiViewDataPreprocessor(BaseDataPreprocessor):
    """Stack multi-view frames into (B, V, C, H, W) and normalise the images.

    ``PackMultiViewPoseInputs`` gives one (V, C, H, W) tensor per frame: letterboxed images
    as uint8, or input heatmaps as float32. This preprocessor moves the batch to the model's
    device and stacks it. Images (uint8 inputs) are converted to float, optionally turned
    from BGR to RGB, and normalised per view as ``(x − mean) / std``; heatmaps (floating
    inputs) pass through unchanged.

    Args:
        mean: per-channel mean, (C,) for every view or (V, C) per view; None: no
            normalisation.
        std: per-channel std, same shape as ``mean``.
        bgr_to_rgb: reverse the channel order of images (``LoadMultiViewImages`` reads BGR
            unless ``to_rgb=True``).
        non_blocking: non-blocking host → device copies.

    Raises:
        ValueError: frames of one batch with different numbers of views or sizes, or a
            mean/std that does not fit the channels or views.
    """

    def __init__(self, mean: Optional[Sequence] = None, std: Optional[Sequence] = None,
                 bgr_to_rgb: bool = False, non_blocking: bool = False):
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
            raise ValueError('MultiViewDataPreprocessor: every frame must be (V, C, H, W), got '
                             f'{shapes}')
        if len(set(shapes)) != 1:
            raise ValueError('MultiViewDataPreprocessor: the frames of a batch must have the same '
                             f'views and size, got {shapes} (frame i has shape shapes[i])')
        return torch.stack(list(inputs))

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
        return dict(inputs=x, data_samples=data.get('data_samples'))
