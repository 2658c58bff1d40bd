"""End to end: the tiny VirtualPose config trains through tools/train.py on virtual data, the
AGR render tool draws it, and every shipped VirtualPose config builds its model."""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO, 'configs', 'virtualpose', 'virtualpose_tiny_cpu.py')


def test_tiny_config_trains_two_iterations_through_tools_train(tmp_path):
    wd = str(tmp_path / 'work')
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '2')
    proc = subprocess.run([sys.executable, 'tools/train.py', TINY, '--work-dir', wd],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert osp.isfile(osp.join(wd, 'iter_2.pth'))
    log = proc.stdout + proc.stderr
    for key in ('loss_depth', 'loss_root', 'loss_pose'):
        assert key in log, key
    import torch
    import virtualpose_mm  # noqa: F401  (safe-loading allow-list)
    ckpt = torch.load(osp.join(wd, 'iter_2.pth'), map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 2
    assert any(k.startswith('root_net.depth_net.') for k in ckpt['state_dict'])


def test_render_tool_writes_a_png(tmp_path):
    sys.path.insert(0, REPO)
    from tools.misc.render_virtual_agr import main
    out = str(tmp_path / 'agr.png')
    assert main([TINY, '--num', '2', '--out', out]) == out
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert osp.getsize(out) > 20000


@pytest.mark.parametrize('name', [
    'virtualpose_virtualcam_muco-mupots', 'virtualpose_fixedcam_muco-mupots',
    'virtualpose_virtualcam_panoptic', 'virtualpose_fixedcam_panoptic',
    'virtualpose_mupots_test', 'virtualpose_mupots_test_reference-protocol'])
def test_configs_parse_and_keep_the_sound_defaults(name):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'virtualpose', f'{name}.py'))
    assert cfg.model.type == 'VirtualPose'
    assert cfg.model.gt_proposal_filter is ('reference' in name)
    k = cfg.model.num_joints
    assert cfg.model.root_net.v2v_net.input_channels == k
    assert cfg.model.pose_net.v2v_net.output_channels == k
    if cfg.get('train_dataloader'):
        ds = cfg.train_dataloader.dataset
        agr = ds.pipeline[0]
        assert agr.type == 'GenerateVirtualPoseAGR' and agr.noise is True
        assert agr.joint_set == ('panoptic15' if k == 15 else 'virtualpose17')
        target = ds.pipeline[1]
        assert tuple(target.space_center) == tuple(cfg.model.root_net.space_center)
        if 'virtualcam' in name:
            assert ds.cameras.type == 'VirtualCameraSampler'
    test = cfg.test_dataloader.dataset
    if test.type == 'MuPoTS3DDataset':
        assert test.ground_center_on_gt is ('reference' in name)
