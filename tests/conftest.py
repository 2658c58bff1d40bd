"""Shared pytest fixtures.

``tests`` is a package: every test file imports its helpers as ``tests.helpers`` and
``tests.fixtures.toy``, and the golden checkers as ``tools.analysis.golden``, with the
repository root on ``sys.path`` (pytest's default import mode puts it there for this
package; the line below also covers ``--import-mode=importlib``).
"""
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """``../shared/data`` next to the repository (fixtures, golden files); skip if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f'shared data folder {SHARED_DATA} is not available')
    return SHARED_DATA
