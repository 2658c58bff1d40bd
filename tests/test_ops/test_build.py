"""Where the CPU kernels are cached: one folder per checkout and kernel
(virtualpose_mm/ops/_build.py)."""
import os
import os.path as osp

from virtualpose_mm.ops import _build


def test_build_dir_is_per_checkout_and_under_the_chosen_root(tmp_path, monkeypatch):
    monkeypatch.setenv('VPMM_EXT_DIR', str(tmp_path / 'ext'))
    mine = _build.build_dir()
    assert osp.isdir(mine) and mine.startswith(str(tmp_path / 'ext') + os.sep)
    assert mine == _build.build_dir(_build.CSRC_DIR)
    # another checkout's sources: another folder, under the same torch version's folder
    other_src = tmp_path / 'other_checkout' / 'virtualpose_mm' / 'ops' / 'csrc'
    other_src.mkdir(parents=True)
    other = _build.build_dir(str(other_src))
    assert other != mine and osp.dirname(other) == osp.dirname(mine)
    # the same sources through a symbolic link: the same folder (the real path counts)
    link = tmp_path / 'link'
    link.symlink_to(other_src.parent.parent.parent)
    assert _build.build_dir(str(link / 'virtualpose_mm' / 'ops' / 'csrc')) == other
    # one folder per kernel, inside the checkout's
    assert _build.build_dir(kernel='vpmm_a') == osp.join(mine, 'vpmm_a')
    assert osp.isdir(osp.join(mine, 'vpmm_a'))
    # without VPMM_EXT_DIR: under XDG_CACHE_HOME
    monkeypatch.delenv('VPMM_EXT_DIR')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert _build.build_dir().startswith(
        osp.join(str(tmp_path / 'xdg'), 'virtualpose_mm', 'torch_extensions') + os.sep)


def test_the_two_kernels_build_and_load_from_their_own_folders():
    import pytest
    from virtualpose_mm.ops.sample_views import _KERNEL as SAMPLE
    from virtualpose_mm.ops.winograd import _KERNEL as WINOGRAD
    if not _build.cpu_has_avx2():
        pytest.skip('the kernels need AVX2+FMA')
    folders = set()
    for kernel in (WINOGRAD, SAMPLE):
        assert kernel.load() is not None, kernel.error
        folder = _build.build_dir(kernel=kernel.name)
        assert osp.isfile(osp.join(folder, 'build.ninja'))
        with open(osp.join(folder, 'build.ninja')) as f:
            ninja = f.read()
        assert kernel.name + '.so' in ninja            # this kernel's build file only
        assert all(k.name + '.so' not in ninja for k in (WINOGRAD, SAMPLE) if k is not kernel)
        folders.add(folder)
    assert len(folders) == 2


def test_kernels_build_with_the_interpreters_own_ninja(tmp_path, monkeypatch):
    """While a kernel builds, the ninja next to the interpreter comes first on PATH (the
    venv's, whether or not the venv is activated: two ninja versions rebuilt each other's
    kernels), and PATH is restored afterwards."""
    import sys
    import stat
    import torch.utils.cpp_extension as cpp
    bindir = tmp_path / 'venv' / 'bin'
    bindir.mkdir(parents=True)
    ninja = bindir / 'ninja'
    ninja.write_text('#!/bin/sh\n')
    ninja.chmod(ninja.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, 'executable', str(bindir / 'python'))
    monkeypatch.setattr(_build, 'cpu_has_avx2', lambda: True)
    monkeypatch.setenv('VPMM_EXT_DIR', str(tmp_path / 'ext'))
    monkeypatch.setenv('PATH', '/usr/bin:/bin')
    seen = {}

    def fake_load(name, sources, build_directory, **kwargs):
        seen.update(path=os.environ['PATH'], name=name, folder=build_directory)
        return 'module'

    monkeypatch.setattr(cpp, 'load', fake_load)
    assert _build.interpreter_ninja() == str(ninja)
    kernel = _build.CpuKernel('vpmm_test_kernel', 'winograd3d.cpp', 'a test kernel')
    assert kernel.load() == 'module'
    assert seen['path'] == str(bindir) + os.pathsep + '/usr/bin:/bin'
    assert seen['folder'] == _build.build_dir(kernel='vpmm_test_kernel')
    assert os.environ['PATH'] == '/usr/bin:/bin'
    # no ninja next to the interpreter: PATH as it is
    ninja.unlink()
    assert _build.interpreter_ninja() is None
    kernel = _build.CpuKernel('vpmm_test_kernel2', 'winograd3d.cpp', 'a test kernel')
    assert kernel.load() == 'module' and seen['path'] == '/usr/bin:/bin'
    # two kernels building at once in two threads: PATH restored (one build at a time)
    import threading
    import time
    ninja.write_text('#!/bin/sh\n')
    ninja.chmod(ninja.stat().st_mode | stat.S_IXUSR)
    paths = []

    def slow_load(name, sources, build_directory, **kwargs):
        paths.append(os.environ['PATH'])
        time.sleep(0.05)
        return name

    monkeypatch.setattr(cpp, 'load', slow_load)
    kernels = [_build.CpuKernel(f'vpmm_test_thread{i}', 'winograd3d.cpp', 'a test kernel')
               for i in range(2)]
    threads = [threading.Thread(target=k.load) for k in kernels]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert [k.module for k in kernels] == ['vpmm_test_thread0', 'vpmm_test_thread1']
    assert paths == [str(bindir) + os.pathsep + '/usr/bin:/bin'] * 2
    assert os.environ['PATH'] == '/usr/bin:/bin'
    # a failing build: the reason kept, PATH restored
    monkeypatch.setattr(cpp, 'load', lambda **kw: (_ for _ in ()).throw(OSError('no compiler')))
    kernel = _build.CpuKernel('vpmm_test_kernel3', 'winograd3d.cpp', 'a test kernel')
    assert kernel.load() is None and 'no compiler' in kernel.error
    assert os.environ['PATH'] == '/usr/bin:/bin'
