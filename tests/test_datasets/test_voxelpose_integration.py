"""A virtual-scene batch goes through the data preprocessor into a (tiny) VoxelPose: the
packed contract is the one the estimator reads."""
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from virtualpose_mm.registry import DATASETS, MODELS

SPACE = dict(space_size=(8000, 8000, 2000), space_center=(450, -320, 800))


def test_virtual_batch_trains_and_predicts(test_data):
    init_default_scope('mmpose')
    pipe = [dict(type='ProjectKeypoints3D'), dict(type='SimulateHeatmapNoise'),
            dict(type='MultiViewLetterbox', input_size=(800, 608)),
            dict(type='GenerateMultiViewHeatmaps', heatmap_size=(200, 152)),
            dict(type='GenerateRootTarget3D', space_shape=(16, 16, 4), **SPACE),
            dict(type='PackMultiViewPoseInputs')]
    ds = DATASETS.build(dict(type='VirtualMviewSceneDataset',
                             calibration=str(test_data / 'shelf' / 'calibration_shelf.json'),
                             image_size=(1032, 776), num_samples=4, pipeline=pipe, **SPACE))
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='VoxelPose', num_joints=17, data_preprocessor=dict(type='MultiViewDataPreprocessor'),
        root_net=dict(type='VoxelCenterNet', space_shape=(16, 16, 4), max_people=4,
                      v2v_net=dict(type='V2VNet', input_channels=17, output_channels=1,
                                   mid_channels=8), **SPACE),
        pose_net=dict(type='VoxelSinglePoseNet', cube_size=(2000, 2000, 2000),
                      cube_shape=(8, 8, 8),
                      v2v_net=dict(type='V2VNet', input_channels=17, output_channels=17,
                                   mid_channels=8))))
    batch = pseudo_collate([ds[0], ds[1]])
    data = model.data_preprocessor(batch, training=True)
    assert tuple(data['inputs'].shape) == (2, 5, 17, 152, 200)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_center']) and float(losses['loss_center']) > 0
    losses['loss_center'].backward()
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(batch), mode='predict')
    assert len(out) == 2 and out[0].pred_instances.keypoints.shape[1:] == (17, 3)
