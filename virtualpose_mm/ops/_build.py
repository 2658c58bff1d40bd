"""Building and loading the package's C++ CPU kernels (``csrc/*.cpp``) on first use.

Each kernel is compiled with ``torch.utils.cpp_extension.load`` (``-O3 -mavx2 -mfma
-fopenmp``) into ``VPMM_EXT_DIR`` or ``~/.cache/virtualpose_mm/torch_extensions``, under
``torch<ver>/<checkout key>/<kernel>`` (:func:`build_dir`), once per source version; ``make
install`` builds them so that no demo or test pays for it.
A kernel is used only where the CPU has AVX2 and FMA (``ATEN_CPU_CAPABILITY`` honoured) and
it builds; otherwise :attr:`CpuKernel.error` says why and callers keep their PyTorch path.
"""
from __future__ import annotations

import hashlib
import os
import os.path as osp
import sys
import threading
from typing import Optional

import torch


#: the kernels' sources
CSRC_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc')
# held while a kernel builds with PATH changed (interpreter_ninja)
_PATH_LOCK = threading.Lock()


def build_dir(csrc_dir: Optional[str] = None, kernel: Optional[str] = None) -> str:
    """The folder a compiled kernel is cached in (created):
    ``<root>/torch<ver>/<key>[/<kernel>]``, ``key`` a hash of the real path of the sources'
    folder (``csrc_dir``, default this checkout's).

    One folder per checkout and kernel. ninja rebuilds a kernel whenever its command line
    changes, and that holds the source's path, so two checkouts (a clone for CI, a worktree)
    sharing one folder rebuilt each other's kernels on every switch (~30 s). One folder per
    kernel: each ``load`` writes the folder's ``build.ninja`` for its own kernel only, so
    the kernels no longer overwrite each other's build file (see also
    :func:`interpreter_ninja`)."""
    root = os.environ.get('VPMM_EXT_DIR') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'), 'virtualpose_mm',
        'torch_extensions')
    key = hashlib.sha1(osp.realpath(csrc_dir or CSRC_DIR).encode()).hexdigest()[:12]
    path = osp.join(root, f'torch{torch.__version__}'.replace('+', '_'), key)
    if kernel:
        path = osp.join(path, kernel)
    os.makedirs(path, exist_ok=True)
    return path


def interpreter_ninja() -> Optional[str]:
    """The ``ninja`` next to the running interpreter (a venv's, installed by ``make
    install``), or None. Kernels are built with it whether or not the venv is activated:
    ninja keeps a hash of each output's command in its log and rebuilds when the hash
    differs, and two ninja versions hash differently — with the system's 1.11 on the PATH of
    ``.venv/bin/python ...`` and the venv's 1.13 on that of an activated venv (e.g.
    ``tools/dist_train.sh``) each rebuilt the kernels the other had built (~25 s per kernel
    at the next start)."""
    exe = osp.join(osp.dirname(sys.executable), 'ninja')
    return exe if osp.isfile(exe) and os.access(exe, os.X_OK) else None


def cpu_has_avx2() -> bool:
    """Whether this CPU (and ATen's capability setting) has AVX2 and FMA."""
    cap = torch.backends.cpu.get_cpu_capability()  # honours ATEN_CPU_CAPABILITY
    if cap not in ('AVX2', 'AVX512'):
        return False
    try:
        with open('/proc/cpuinfo') as f:
            flags = f.read()
        return ' avx2' in flags and ' fma' in flags
    except OSError:
        return cap in ('AVX2', 'AVX512')


class CpuKernel:
    """One compiled kernel module: ``csrc/<source>`` built as extension ``name``.

    Args:
        name: the extension's module name.
        source: file name under ``virtualpose_mm/ops/csrc``.
        what: words for messages ("the Winograd kernel").
    """

    def __init__(self, name: str, source: str, what: str):
        self.name, self.source, self.what = name, source, what
        self.module = None
        self.error: Optional[str] = None
        self._lock = threading.Lock()

    def load(self, verbose: bool = False):
        """The compiled module, building it on first use; ``None`` where it cannot be used
        (the reason is in :attr:`error`)."""
        if self.module is not None or self.error is not None:
            return self.module
        with self._lock:
            if self.module is not None or self.error is not None:
                return self.module
            if not cpu_has_avx2():
                self.error = ('this CPU (or ATEN_CPU_CAPABILITY) has no AVX2+FMA; '
                              f'ATen capability {torch.backends.cpu.get_cpu_capability()}')
                return None
            with _PATH_LOCK:  # PATH is the process's: one kernel build at a time
                path = os.environ.get('PATH', '')
                own_ninja = interpreter_ninja()
                try:
                    from torch.utils.cpp_extension import load
                    if own_ninja:  # see interpreter_ninja
                        os.environ['PATH'] = osp.dirname(own_ninja) + os.pathsep + path
                    src = osp.join(CSRC_DIR, self.source)
                    self.module = load(name=self.name, sources=[src],
                                       build_directory=build_dir(kernel=self.name),
                                       extra_cflags=['-O3', '-mavx2', '-mfma', '-fopenmp'],
                                       extra_ldflags=['-fopenmp'], verbose=verbose)
                except Exception as e:  # noqa: BLE001  (no compiler / ninja: say why)
                    self.error = f'building {self.what} failed: {type(e).__name__}: {e}'
                    self.module = None
                finally:
                    os.environ['PATH'] = path
        return self.module
