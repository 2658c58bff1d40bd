"""Fixtures of the dataset tests: real-format files from ``tests/data`` and tiny images."""
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / 'data'


@pytest.fixture(scope='session')
def test_data() -> Path:
    return DATA


@pytest.fixture
def shelf_root(tmp_path) -> Path:
    """A Shelf folder (real calibration, actorsGT.mat and detections) in tmp_path."""
    import shutil
    root = tmp_path / 'shelf'
    root.mkdir()
    for f in ('calibration_shelf.json', 'actorsGT.mat'):
        shutil.copy(DATA / 'shelf' / f, root / f)
    shutil.copy(DATA / 'mview' / 'pred_shelf_maskrcnn_hrnet_coco.pkl',
                root / 'pred_shelf_maskrcnn_hrnet_coco.pkl')
    return root


def make_panoptic_tree(root: Path, src_seq: Path, seq: str, cameras,
                       images=True, size=(1920, 1080)):
    """Copy a Panoptic sequence (calibration + annotations) into ``root/seq`` under the
    name ``seq`` and write solid-colour images (the calibration's 1920×1080 by default) for
    ``cameras``; returns the frame strings."""
    import cv2
    d = root / seq
    (d / 'hdPose3d_stage1_coco19').mkdir(parents=True)
    src_calib = next(src_seq.glob('calibration_*.json'))
    (d / f'calibration_{seq}.json').write_text(src_calib.read_text())
    names = []
    for f in sorted((src_seq / 'hdPose3d_stage1_coco19').glob('*.json')):
        (d / 'hdPose3d_stage1_coco19' / f.name).write_text(f.read_text())
        names.append(f.name[len('body3DScene_'):-len('.json')])
    if images:
        for (p, n) in cameras:
            name = f'{p:02d}_{n:02d}'
            (d / 'hdImgs' / name).mkdir(parents=True)
            for i, fr in enumerate(names):
                img = np.full((size[1], size[0], 3), (10 * i + n) % 255, np.uint8)
                cv2.imwrite(str(d / 'hdImgs' / name / f'{name}_{fr}.jpg'), img)
    return names


@pytest.fixture(name='make_panoptic_tree')
def _make_panoptic_tree_fixture():
    return make_panoptic_tree
