"""Helpers used by the tests and by ``tools/analysis/check_golden.py``."""
