"""Backbones (MMPose ``mmpose.models.backbones``); V2V comes from MMPose itself
(``mmpose.models.backbones.V2VNet``)."""
from .virtualpose_depth_net import VirtualPoseDepthNet  # noqa: F401
