"""The same weights give the same poses across refactors (≤ 0.01 mm).

Reference: ``tests/data/regression/`` (see its README): a trained demo VoxelPose and its
predictions on 8 virtual Shelf-rig validation frames, recorded before the architecture
refactor of the data layout, codec and second stage.
"""
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from virtualpose_mm.engine.config_checks import resolve_config_variables
from virtualpose_mm.registry import DATASETS, MODELS
from tests.helpers import REPO_ROOT

REF = osp.join(REPO_ROOT, 'tests', 'data', 'regression')
CFG = osp.join(REPO_ROOT, 'configs', 'voxelpose', 'voxelpose_demo_shelf_virtual_cpu.py')


def test_trained_demo_model_gives_the_recorded_poses():
    init_default_scope('mmpose')
    cfg = Config.fromfile(CFG)
    resolve_config_variables(cfg)
    # the recorded poses are the network's (recorded before the test-time refinement
    # existed; it is tested in test_layers_triangulation.py)
    cfg.model.refine = None
    model = MODELS.build(cfg.model)
    sd = torch.load(osp.join(REF, 'voxelpose_demo_epoch1.pth'), map_location='cpu',
                    weights_only=True)['state_dict']
    model.load_state_dict({k: v.float() if v.dtype == torch.float16 else v
                           for k, v in sd.items()})
    model.eval()
    ref = np.load(osp.join(REF, 'voxelpose_demo_val8_predictions.npz'))
    ds_cfg = cfg.val_dataloader.dataset.copy()
    ds_cfg.num_samples = 8
    ds = DATASETS.build(ds_cfg)
    kps, counts, scores = [], [], []
    with torch.no_grad():
        for i in range(8):
            batch = model.data_preprocessor(pseudo_collate([ds[i]]), False)
            pred = model(**batch, mode='predict')[0].pred_instances
            k = np.asarray(pred.keypoints).reshape(-1, 17, 3)
            kps.append(k)
            counts.append(len(k))
            scores.append(np.asarray(pred.bbox_scores).reshape(-1))
    assert counts == ref['counts'].tolist()
    err = np.abs(np.concatenate(kps) - ref['keypoints']).max()
    assert err <= 0.01, f'poses moved by {err:.4f} mm'
    np.testing.assert_allclose(np.concatenate(scores), ref['scores'], atol=1e-5)
