"""Where the CPU kernels are cached: one folder per checkout (virtualpose_mm/ops/_build.py)."""
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
    # without VPMM_EXT_DIR: under XDG_CACHE_HOME
    monkeypatch.delenv('VPMM_EXT_DIR')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert _build.build_dir().startswith(
        osp.join(str(tmp_path / 'xdg'), 'virtualpose_mm', 'torch_extensions') + os.sep)
