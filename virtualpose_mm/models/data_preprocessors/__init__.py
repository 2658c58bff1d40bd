"""Data preprocessors: importing this package registers them."""
from .multiview import MultiViewDataPreprocessor  # noqa: F401
