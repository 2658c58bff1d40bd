"""VirtualPose stage-2 losses (reference: ``multi_person_posenet.py`` and ``core/loss.py``).

* :func:`root_depth_l1` — the DE: L1 in mm between the DE depth read at each GT root pixel
  and the GT root depth, averaged over the people whose root is on the canvas;
* :func:`root_volume_mse` — the REN: mean squared error between the root volume and the
  3D Gaussian target (:func:`virtualpose_mm.structures.render_root_target`);
* the PEN loss is the pose net's own built loss (``pose_net.loss``, MMPose ``L1Loss`` with
  ``use_target_weight``: the mean over pairs × K × 3 of ``|pred·w − gt·w|``, masked joints
  counting in the denominator as the reference), shared with VoxelPose.

The reference weights (``LOSS.DEPTH_WEIGHT``, ``PROP_WEIGHT``, ``CORD_WEIGHT``) are 0.1,
1000 and 1; the estimator applies them.
"""
from __future__ import annotations

import torch

from virtualpose_mm.models.layers.root_decode import gather_at


def root_depth_l1(depth_map: torch.Tensor, depth_norm_factor: torch.Tensor,
                  ind: torch.Tensor, mask: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """DE loss.

    Args:
        depth_map: (B, 1, H, W) DE output (depth / depth_norm_factor).
        depth_norm_factor: (B,) mm.
        ind: (B, P) int64 flat GT root pixel index (row·W + col); padding rows anything
            in range.
        mask: (B, P) 1 for people whose root pixel is on the map (and not padding).
        depth: (B, P) GT root depth (camera z) in mm.

    Returns:
        scalar float64: ``Σ |D·f·m − d·m| / (Σ m + 1e-4)`` in mm.
    """
    pred = gather_at(depth_map, ind)[..., 0].double() * \
        depth_norm_factor.double().to(depth_map.device)[:, None]
    m = mask.double()
    return ((pred * m - depth.double() * m).abs().sum()) / (m.sum() + 1e-4)


def root_volume_mse(root_volume: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """REN loss: ``mean((root_volume − target)²)`` over B·X·Y·Z."""
    return torch.mean((root_volume - target.to(root_volume)) ** 2)
