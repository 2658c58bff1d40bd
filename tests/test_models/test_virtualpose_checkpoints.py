"""The embedded monocular VirtualPose checkpoints load into their configs, and the one with
camera-facing pose cubes places people better than the first one given the same roots.

Frames: virtual frames of the CMU bank's train split, seed 99 (the tuning frames; not the
held-out test frames), the pose net fed the GT roots so that only the pose nets differ.
"""
import os.path as osp
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint

from virtualpose_mm.engine.config_checks import resolve_config_variables
from virtualpose_mm.registry import DATASETS, MODELS
from tests.helpers import REPO_ROOT

sys.path.insert(0, str(Path(__file__).resolve().parent))
import virtualpose_toy as T  # noqa: E402

CASES = {
    'world': ('virtualpose_virtualcam_cpu.py', 'virtualpose_virtualcam_cpu.pth'),
    'view': ('virtualpose_virtualcam-viewcube_cpu.py', 'virtualpose_virtualcam-viewcube_cpu.pth'),
}
NUM_FRAMES = 6


def _root_relative_errors(kind):
    cfg_name, ckpt = CASES[kind]
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'virtualpose', cfg_name))
    resolve_config_variables(cfg)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, osp.join(REPO_ROOT, 'checkpoints', ckpt), map_location='cpu',
                    strict=True, logger='silent')
    model.eval()
    assert model.pose_net.cube_orientation == kind
    ds_cfg = cfg.test_dataloader.dataset.copy()
    ds_cfg.update(num_samples=NUM_FRAMES, bank_split='train', seed=99)
    ds = DATASETS.build(ds_cfg)
    errors = []
    with torch.no_grad():
        for i in range(NUM_FRAMES):
            data = model.data_preprocessor(pseudo_collate([ds[i]]), False)
            x = model._inputs(data['inputs'])
            meta = model.parse_meta(data['data_samples'], 1)
            gt = np.asarray(data['data_samples'][0].gt_instances.lifting_target)
            M = model.root_net.max_people
            props = T.gt_root_proposals([gt[:, model.root_index]], M)
            poses = model.run_pose_net(x[:, :, :model.num_joints], props, meta,
                                       meta.input_size)['poses'][0].double().numpy()
            r = model.root_index
            for p, g in zip(poses, gt[:M]):
                errors.append(np.linalg.norm((p - p[r]) - (g - g[r]), axis=-1).mean())
    return np.asarray(errors)


@pytest.mark.timeout(300)
def test_camera_facing_cubes_checkpoint_beats_the_first_on_the_same_roots():
    first, view = _root_relative_errors('world'), _root_relative_errors('view')
    assert len(first) == len(view) >= 12
    # measured on these 6 frames (22 people): first 155.8 mm, camera-facing 119.5 mm, with
    # 1 or 2 threads (40 frames: 173.0 and 137.8, checkpoints/README.md)
    assert view.mean() < 150.0
    assert view.mean() < first.mean() - 15.0
    assert first.mean() < 220.0           # the first checkpoint works too
