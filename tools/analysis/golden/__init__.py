"""Checks of our implementation against the reference-code golden files.

Each golden file format has one checker module in this package; the checker registers
itself with :func:`register_checker` and is found by :func:`check_golden_file` from the
content of the file (never from its name, so renamed or unseen cases work too).
"""
from .core import GoldenReport, check_golden_file, find_checker, register_checker  # noqa: F401

# checker modules (each registers itself on import)
from . import _checkers  # noqa: F401,E402
