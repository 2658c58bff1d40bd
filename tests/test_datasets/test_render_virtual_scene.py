"""tools/misc/render_virtual_scene.py renders a config's virtual frame to a PNG."""
from pathlib import Path

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    return load_script(ROOT / 'tools' / 'misc' / 'render_virtual_scene.py',
                       'render_virtual_scene')


def test_render_virtual_scene(tmp_path, test_data):
    tool = _tool()
    out = tmp_path / 'scene.png'
    cfg = test_data / 'mview' / 'virtual_shelf_scene.py'
    assert tool.main([str(cfg), '--index', '1', '--out', str(out), '--dpi', '40',
                      '--cfg-options', 'train_dataloader.dataset.num_people=(2,2)']) == str(out)
    import matplotlib.image as mpimg
    img = mpimg.imread(str(out))
    assert img.shape[0] > 200 and img.shape[1] > 200
    # the heatmap panels are not blank: bright (heatmap) pixels exist
    assert (img[..., :3].mean(-1) > 0.9).mean() > 0.01
    assert (img[..., :3].max(-1) < 0.05).mean() > 0.05   # dark heatmap background


def test_find_virtual_in_wrappers():
    tool = _tool()
    inner = dict(type='VirtualMviewSceneDataset', seed=3)
    cfg = dict(type='ConcatDataset', datasets=[dict(type='Other'),
                                               dict(type='RepeatDataset', dataset=inner)])
    assert tool._find_virtual(cfg) is inner
    assert tool._find_virtual(dict(type='Other')) is None
