"""The dataset parts of the VoxelPose configs build and produce what the model reads."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from virtualpose_mm.engine.config_checks import resolve_config_variables
from virtualpose_mm.registry import DATASETS

CFG = Path(__file__).resolve().parents[2] / 'configs' / 'voxelpose'


def _load(name):
    init_default_scope('mmpose')
    cfg = Config.fromfile(str(CFG / name))
    resolve_config_variables(cfg)  # '${name}' config variables, as the tools do
    return cfg


@pytest.mark.parametrize('name,case,views,size', [
    ('voxelpose_prn64x64x64_cpn80x80x20_shelf_cam5.py', 'shelf', 5, (200, 152)),
    ('voxelpose_prn64x64x64_cpn80x80x20_campus_cam3.py', 'campus', 3, (200, 160)),
])
def test_shelf_campus_configs(tmp_path, test_data, name, case, views, size):
    cfg = _load(name)
    assert cfg.model.type == 'VoxelPose' and cfg.model.num_views == views
    root = tmp_path / case
    root.mkdir()
    for f in (test_data / case).iterdir():
        shutil.copy(f, root / f.name)
    shutil.copy(test_data / 'mview' / 'panoptic_training_pose.pkl', root)
    # train: virtual scenes on the dataset's own cameras
    tr = cfg.train_dataloader.dataset
    tr.calibration = str(root / f'calibration_{case}.json')
    tr.pose_bank = str(root / 'panoptic_training_pose.pkl')
    tr.num_samples = 2
    ds = DATASETS.build(tr)
    out = ds[0]
    assert tuple(out['inputs'].shape) == (views, 17, size[1], size[0])
    ds_ = out['data_samples']
    assert tuple(ds_.gt_fields.root_heatmap_3d.shape) == tuple(cfg.model.root_net.space_shape)
    assert tuple(ds_.metainfo['input_size']) == tuple(cfg.model.image_size)
    # test: the real test set (Shelf detections; no Campus detections in the fixtures)
    if case == 'shelf':
        shutil.copy(test_data / 'mview' / 'pred_shelf_maskrcnn_hrnet_coco.pkl', root)
        te = cfg.test_dataloader.dataset
        te.data_root = str(root)
        te.frame_range = [(0, 2)]
        tds = DATASETS.build(te)
        out = tds[1]
        assert tuple(out['inputs'].shape) == (5, 17, 152, 200)
        assert out['data_samples'].metainfo['frame_id'] == 1
        assert cfg.test_evaluator.type == 'ShelfCampusPCPMetric'


def test_panoptic_config(tmp_path, test_data, make_panoptic_tree):
    cfg = _load('voxelpose_prn64x64x64_cpn80x80x20_panoptic_cam5.py')
    assert cfg.model.data_preprocessor.bgr_to_rgb
    cams = [tuple(c) for c in cfg.train_dataloader.dataset.cameras]
    make_panoptic_tree(tmp_path, test_data / 'panoptic_body3d' / '160906_band1',
                       '160906_band1', cams)
    tr = cfg.train_dataloader.dataset
    tr.data_root = str(tmp_path)
    tr.sequences = ['160906_band1']
    tr.cache_file = None
    out = DATASETS.build(tr)[0]
    assert tuple(out['inputs'].shape) == (5, 3, 512, 960)
    d = out['data_samples']
    assert tuple(d.gt_fields.root_heatmap_3d.shape) == (80, 80, 20)
    assert tuple(d.gt_fields.heatmaps.shape) == (5, 15, 128, 240)
    assert d.gt_instances.lifting_target.shape[1:] == (15, 3)
    # 1920×1080 → 960×512 is limited by the height: scale 512/1080, 24.9 px bars left/right
    k = 512 / 1080
    np.testing.assert_allclose(d.metainfo['affines'][0], [[k, 0, (960 - k * 1920) / 2],
                                                          [0, k, 0]])


def test_own_rig_config(test_data):
    cfg = _load('voxelpose_own_rig.py')
    assert cfg.model.num_views is None
    for key in ('train_dataloader', 'val_dataloader'):
        dcfg = cfg[key].dataset
        dcfg.calibration = str(test_data / 'shelf' / 'calibration_shelf.json')
        dcfg.image_size = (1032, 776)
        dcfg.space_center = (450.0, -320.0, 800.0)
        dcfg.num_samples = 2
    # the root-target pipeline and the model use the config's space; keep them consistent
    for t in cfg.train_dataloader.dataset.pipeline:
        if t.type == 'GenerateRootTarget3D':
            t.space_center = (450.0, -320.0, 800.0)
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    out = ds[1]
    assert tuple(out['inputs'].shape) == (5, 17, 128, 240)
    assert out['data_samples'].gt_instances.lifting_target.shape[0] >= 1
    assert cfg.val_evaluator.type == 'PanopticAPMetric'
