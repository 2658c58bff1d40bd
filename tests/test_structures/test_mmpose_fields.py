"""MMPose 1.3.2's own tools read our data samples (the field table of
:mod:`virtualpose_mm.datasets.transforms.formatting`): its ``Pose3dLocalVisualizer`` draws
our VoxelPose predictions and the packed GT, and its ``MPJPE`` metric scores them. Neither
is modified; see the table's notes for what they cannot do (one person per drawing, no
matching in MPJPE)."""
import copy

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.evaluation.metrics import MPJPE
from mmpose.visualization import Pose3dLocalVisualizer

from tests.helpers import REPO_ROOT
from virtualpose_mm.engine.config_checks import resolve_config_variables
from virtualpose_mm.registry import DATASETS, MODELS

DEMO_CFG = f'{REPO_ROOT}/configs/voxelpose/voxelpose_demo_shelf_virtual_cpu.py'
TINY_CFG = f'{REPO_ROOT}/configs/voxelpose/voxelpose_tiny_heatmap_cpu.py'
#: the colours of the COCO-17 skeleton in the joint set's MMPose metainfo (left, right,
#: centre), RGB
PALETTE = np.array([[0, 255, 0], [255, 128, 0], [51, 153, 255]])


@pytest.fixture(scope='module')
def setup():
    """Two virtual Shelf-rig frames (the demo's validation set) and the tiny model."""
    init_default_scope('mmpose')
    demo = Config.fromfile(DEMO_CFG)
    resolve_config_variables(demo)
    ds_cfg = demo.val_dataloader.dataset.copy()
    ds_cfg.num_samples = 2
    dataset = DATASETS.build(ds_cfg)
    cfg = Config.fromfile(TINY_CFG)
    resolve_config_variables(cfg)
    model = MODELS.build(cfg.model).eval()
    return dataset, model


def test_installed_matplotlib_has_what_mmpose_visualizer_needs():
    """MMPose 1.3.2's Pose3dLocalVisualizer reads figures with ``canvas.tostring_rgb()``,
    removed in matplotlib 3.10; the install pins matplotlib < 3.10 (tools/install.sh)."""
    assert hasattr(FigureCanvasAgg, 'tostring_rgb')


def _predict(model, frame):
    batch = model.data_preprocessor(pseudo_collate([frame]), False)
    with torch.no_grad():
        return model(**batch, mode='predict')[0]


def _gt_predictions(model, sample, shift=0.0):
    """Pack predictions equal to the sample's GT (+ ``shift`` mm on x) through the
    estimator's own packing, with one unused proposal slot that must not become a row."""
    gt = sample.gt_instances
    X = torch.as_tensor(gt.lifting_target)
    G, K = X.shape[:2]
    poses = torch.zeros(1, G + 1, K, 3)
    poses[0, :G] = X + torch.tensor([shift, 0.0, 0.0])
    props = torch.zeros(1, G + 1, 5)
    props[0, :, 3] = -1
    props[0, :G, 3] = torch.arange(G, dtype=torch.float32)
    props[0, :G, :3] = X[:, [11, 12]].mean(1)
    props[0, :G, 4] = 0.9
    model.add_pred_to_datasample(dict(poses=poses, proposals=props), [sample])
    return sample


def test_predict_and_pack_use_the_mmpose_names(setup):
    dataset, model = setup
    sample = _predict(model, dataset[0])
    p = sample.pred_instances
    assert set(p.keys()) == {'keypoints', 'keypoint_scores', 'bbox_scores', 'centers_3d'}
    n = len(p)
    assert p.keypoints.shape == (n, 17, 3) and p.keypoints.dtype == np.float32
    assert p.keypoint_scores.shape == (n, 17) and p.bbox_scores.shape == (n, )
    assert isinstance(p.keypoints, np.ndarray) and isinstance(p.bbox_scores, np.ndarray)
    gt = sample.gt_instances
    G = len(gt)
    assert G >= 1 and gt.lifting_target.shape == (G, 17, 3)
    assert gt.lifting_target.dtype == np.float32 and gt.lifting_target_visible.shape == (G, 17)
    assert isinstance(gt.lifting_target, np.ndarray)
    assert 'keypoints_3d' not in gt and 'keypoints_3d_visible' not in gt
    w = sample.gt_instance_labels.keypoint_weights
    assert isinstance(w, torch.Tensor) and tuple(w.shape) == (G, 17)
    np.testing.assert_array_equal(w.numpy(), gt.lifting_target_visible)
    # every proposal a person: rows = proposals, still no padding
    thr = model.root_net.proposal_layer.threshold
    model.root_net.proposal_layer.threshold = -1e9
    try:
        p = _predict(model, dataset[0]).pred_instances
    finally:
        model.root_net.proposal_layer.threshold = thr
    assert len(p) == model.root_net.proposal_layer.max_num
    np.testing.assert_allclose(p.keypoint_scores, np.repeat(p.bbox_scores[:, None], 17, 1))


def _palette_pixels(img: np.ndarray) -> int:
    """Pixels within 40 (per channel) of a skeleton colour."""
    d = np.abs(img[:, :, None, :3].astype(int) - PALETTE[None, None]).max(-1)
    return int((d <= 40).any(-1).sum())


def test_mmpose_pose3d_visualizer_draws_our_predictions_and_gt(setup):
    dataset, model = setup
    # the untrained tiny model's scores are ~0, below the visualizer's fixed 0.3
    # keypoint threshold: draw GT-derived predictions packed by the estimator instead
    sample = _gt_predictions(model, _predict(model, dataset[0]))
    assert len(sample.pred_instances) == len(sample.gt_instances)
    vis = Pose3dLocalVisualizer()
    vis.set_dataset_meta(dataset.metainfo)
    img = np.zeros((300, 400, 3), np.uint8)
    # num_instances=1: MMPose 1.3.2 cannot lay out more than one person per figure
    kw = dict(draw_2d=False, axis_limit=2000, num_instances=1)
    drawn = vis.add_datasample('frame', img, sample, draw_gt=False, **kw)
    blank = copy.deepcopy(sample)  # clone() shares pred_instances
    blank.pred_instances.keypoint_scores = np.zeros_like(sample.pred_instances.keypoint_scores)
    background = vis.add_datasample('frame', img, blank, draw_gt=False, **kw)
    assert drawn.shape == background.shape == (400, 400, 3)
    assert _palette_pixels(background) == 0          # axes only
    assert _palette_pixels(drawn) > 300               # the skeleton's joints and links
    changed = np.abs(drawn.astype(int) - background).max(-1) > 0
    assert changed.sum() > 300
    # prediction (left) and GT (``lifting_target``, right) side by side
    both = vis.add_datasample('frame', img, sample, draw_gt=True, **kw)
    assert both.shape == (400, 800, 3)
    assert _palette_pixels(both[:, :400]) > 300 and _palette_pixels(both[:, 400:]) > 300


def test_mmpose_mpjpe_scores_our_outputs(setup):
    dataset, model = setup
    samples = []
    for i, shift in ((0, 0.0), (1, 10.0)):
        s = _gt_predictions(model, _predict(model, dataset[i]), shift=shift)
        # MPJPE reads an action name from a Human3.6M-style file name
        s.set_metainfo(dict(target_img_path=[f'S1_Walking.5413896{i}_000001.jpg']))
        samples.append(s)
    metric = MPJPE(mode='mpjpe')
    metric.process({}, [samples[0].to_dict()])
    assert metric.evaluate(1)['MPJPE'] == pytest.approx(0.0, abs=1e-6)
    metric.process({}, [samples[1].to_dict()])
    assert metric.evaluate(1)['MPJPE'] == pytest.approx(10.0, abs=1e-3)
    # invisible joints are left out, as MMPose's mask says
    s = copy.deepcopy(samples[1])
    s.pred_instances.keypoints[:, 0] += 1000.0
    s.gt_instances.lifting_target_visible[:, 0] = 0
    metric.process({}, [s.to_dict()])
    assert metric.evaluate(1)['MPJPE'] == pytest.approx(10.0, abs=1e-3)
