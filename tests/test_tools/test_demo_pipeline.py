"""The own-rig recipe end to end through the real tools, as `make demo` runs it: VoxelPose
trained from nothing but a calibration file and the shipped pose bank, evaluated with
tools/test.py, then demo/voxelpose_demo.py writes poses (JSON) and a picture."""
import json
import os.path as osp
import sys

import numpy as np

from tests.helpers import REPO_ROOT as REPO
from tests.helpers import run_tool as _run

CFG = osp.join(REPO, 'configs', 'voxelpose', 'voxelpose_demo_shelf_virtual_cpu.py')
SMALL = ['--cfg-options', 'train_dataloader.dataset.num_samples=4',
         'val_dataloader.dataset.num_samples=2', 'test_dataloader.dataset.num_samples=2',
         'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
         'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
         'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']


def test_own_rig_demo_pipeline(tmp_path):
    wd = str(tmp_path / 'train')
    proc = _run([sys.executable, 'tools/train.py', CFG, '--work-dir', wd] + SMALL)
    ckpt = osp.join(wd, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    # validation ran on the unseen virtual frames with the Panoptic-style metric
    assert 'virtual/mAP' in proc.stdout + proc.stderr

    metrics = str(tmp_path / 'metrics.json')
    _run([sys.executable, 'tools/test.py', CFG, ckpt, '--work-dir', str(tmp_path / 'test'),
          '--out', metrics] + SMALL)
    m = json.load(open(metrics))
    assert 0.0 <= m['virtual/Recall@500'] <= 1.0 and 'virtual/MPJPE@500' in m

    out = tmp_path / 'demo'
    _run([sys.executable, 'demo/voxelpose_demo.py', CFG, ckpt, '--indices', '0', '1',
          '--out-dir', str(out)])
    for i in (0, 1):
        res = json.load(open(out / f'frame{i}.json'))
        assert res['units'].startswith('mm')
        assert len(res['joint_names']) == 17
        gt = np.asarray([g['keypoints'] for g in res['ground_truth']])
        assert gt.ndim == 3 and gt.shape[1:] == (17, 3) and len(gt) >= 1
        for person in res['people']:
            assert np.asarray(person['keypoints']).shape == (17, 3)
            assert isinstance(person['bbox_score'], float)
        assert (out / f'frame{i}.png').stat().st_size > 10000
