"""tools/test.py on the real Shelf fixture frames: the Shelf test set (heatmaps from the
published 2D detections) through a VoxelPose of the Shelf config, scored with PCP."""
import json
import shutil
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from virtualpose_mm.registry import MODELS
from tests.helpers import REPO_ROOT, run_tool

CFG = f'{REPO_ROOT}/configs/voxelpose/voxelpose_prn32x32x32_cpn80x80x20_shelf_cam5.py'
SMALL_MODEL = {
    'model.root_net.space_shape': (16, 16, 8),
    'model.root_net.v2v_net.mid_channels': 8,
    'model.pose_net.cube_shape': (16, 16, 16),
    'model.pose_net.v2v_net.mid_channels': 8,
}


def test_shelf_fixture_frames_through_test_tool(tmp_path):
    data = tmp_path / 'shelf'
    data.mkdir()
    for f in ('calibration_shelf.json', 'actorsGT.mat'):
        shutil.copy(f'{REPO_ROOT}/tests/data/shelf/{f}', data / f)
    shutil.copy(f'{REPO_ROOT}/tests/data/mview/pred_shelf_maskrcnn_hrnet_coco.pkl', data)

    # a checkpoint of the (shrunk) Shelf model: random weights, real data path
    init_default_scope('mmpose')
    cfg = Config.fromfile(CFG)
    cfg.merge_from_dict(SMALL_MODEL)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'shelf_small.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)

    opts = [f'{k}={v}'.replace(' ', '') for k, v in SMALL_MODEL.items()] + [
        f'test_dataloader.dataset.data_root={data}',
        'test_dataloader.dataset.frame_range=[(0,2)]',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        f'test_evaluator.actors_gt_file={data}/actorsGT.mat']
    out = tmp_path / 'metrics.json'
    proc = run_tool([sys.executable, 'tools/test.py', CFG, str(ckpt), '--work-dir',
                     str(tmp_path / 'work'), '--out', str(out), '--cfg-options'] + opts)
    metrics = json.load(open(out))
    pcp = {k: v for k, v in metrics.items() if 'PCP' in k}
    # 4 actors (per-actor PCP), the average and the six bone groups
    assert sum('actor' in k for k in pcp) == 4, pcp
    assert any(k.endswith('PCP_avg') for k in pcp), pcp
    assert all(0.0 <= v <= 1.0 for v in pcp.values()), pcp
    assert 'PCP' in proc.stdout + proc.stderr  # printed by the runner's logger


def test_benchmark_on_a_full_dataset_config():
    """The benchmark builds models from full configs (data preprocessor in the mmpose
    scope), not only from model-only ones."""
    opts = [f'{k}={v}'.replace(' ', '') for k, v in SMALL_MODEL.items()]
    proc = run_tool([sys.executable, 'tools/analysis/benchmark_voxelpose.py', CFG,
                     '--compare-loop', '--iters', '1', '--threads', '1',
                     '--cfg-options'] + opts)
    lines = proc.stdout.strip().splitlines()
    assert any(line.startswith('poses identical: yes') for line in lines), proc.stdout
    assert lines[-1].startswith('speedup:') and float(lines[-1].split()[1]) > 0
