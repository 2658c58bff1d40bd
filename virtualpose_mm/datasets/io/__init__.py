"""Readers for dataset files in their native formats (pure numpy / scipy)."""
from .actors_gt import ActorsGT, actors_gt_from_cell, load_actors_gt  # noqa: F401
