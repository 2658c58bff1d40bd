"""The virtual-scene pipeline reproduces the reference's input heatmaps and root targets.

The golden VoxelPose cases (``golden/voxelpose/{shelf,campus}_cpn40_prn32.pt``) hold the
placed people of two synthetic frames, and the heatmaps / 3D targets the reference
``ShelfSynthetic`` / ``CampusSynthetic._get_single_view_item`` made from them with its noise
switched off. Projection → letterbox → heatmaps (``legacy_peak_offset=True``) → root target
must give the same tensors.
"""
import numpy as np
import pytest
import torch

from virtualpose_mm.datasets.transforms import (GenerateMultiViewHeatmaps, GenerateRootTarget3D,
                                                MultiViewLetterbox, ProjectKeypoints3D)
from virtualpose_mm.geometry.camera_io import load_shelf_campus_calibration, stack_cameras

CASES = {
    'shelf': ((1032, 776), (800, 608), (200, 152), (8000, 8000, 2000), (450, -320, 800)),
    'campus': ((360, 288), (800, 640), (200, 160), (12000, 12000, 2000), (3000, 4500, 1000)),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_reference_input_heatmaps_and_targets(case, shared_data, test_data):
    size, in_size, hm_size, space_size, space_center = CASES[case]
    d = torch.load(shared_data / 'golden' / 'voxelpose' / f'{case}_cpn40_prn32.pt')
    sp = d['input_heatmaps_sparse']
    dense = torch.zeros(int(np.prod(sp['shape'])))
    dense[sp['flat_index'].long()] = sp['values']
    dense = dense.view(sp['shape']).numpy()                      # (V, B, J, H, W)
    cams = stack_cameras(load_shelf_campus_calibration(
        str(test_data / case / f'calibration_{case}.json'), size))
    assert list(d['view_names']) == [str(v) for v in range(len(cams))]
    for b, scene in enumerate(d['scene']):
        r = dict(cameras=cams, image_sizes=np.asarray(cams.image_size),
                 gt_keypoints_3d=scene['joints_3d'].numpy(),
                 gt_keypoints_3d_visible=scene['joints_3d_vis'].numpy()[..., 0] > 0)
        r = ProjectKeypoints3D()(r)
        r = MultiViewLetterbox(in_size, drop_outside=True)(r)
        r = GenerateMultiViewHeatmaps(hm_size, legacy_peak_offset=True)(r)
        r = GenerateRootTarget3D(space_size, space_center, (40, 40, 12))(r)
        assert np.count_nonzero(dense[:, b]) > 1000
        np.testing.assert_allclose(r['input_heatmaps'], dense[:, b], rtol=0, atol=1e-6)
        np.testing.assert_allclose(r['root_target_3d'], d['targets_3d'][b].numpy(), atol=1e-6)
        # the reference meta's letterbox (center, scale) gives the same affine
        s = d['meta'][0]['scale'][b].numpy() * 200
        k = in_size[0] / s[0]
        np.testing.assert_allclose(r['affines'][0, 0, 0], k, rtol=1e-6)
