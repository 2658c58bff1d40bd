"""Losses (MMPose ``mmpose.models.losses``)."""
from .virtualpose_losses import root_depth_l1, root_volume_mse  # noqa: F401
