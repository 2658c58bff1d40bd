"""Helpers shared by the tests: the repository root, running its command-line tools and
loading its scripts as modules."""
import importlib.util
import os
import os.path as osp
import subprocess
from types import ModuleType
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))  # tests/helpers.py -> repo


def run_tool(cmd: List[str], cwd: str = REPO_ROOT, env: Optional[Dict[str, str]] = None,
             timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``cmd`` with the repository on ``PYTHONPATH``; raise with the end of its output
    when it fails."""
    e = dict(os.environ)
    e['PYTHONPATH'] = REPO_ROOT + os.pathsep + e.get('PYTHONPATH', '')
    e.setdefault('OMP_NUM_THREADS', '1')
    if env:
        e.update(env)
    proc = subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc


def load_script(path: str, name: str) -> ModuleType:
    """The script at ``path`` (a demo or tool, not a package module) imported as module
    ``name``, so that tests can call its functions."""
    spec = importlib.util.spec_from_file_location(name, str(path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
