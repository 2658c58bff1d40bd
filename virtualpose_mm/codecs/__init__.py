"""Keypoint codecs (MMPose ``KEYPOINT_CODECS``)."""
from .voxel_root_codec import VoxelRootCodec  # noqa: F401

__all__ = ['VoxelRootCodec']
