# MuPoTS-3D evaluation data for VirtualPose stage 2 (val and test).
#
# Layout (VirtualPose's, plus the official test set for the MATLAB-equivalent 3DPCK):
#   data/MuPoTS-3D/MuPoTS-3D.json       RootNet annotations (images[].intrinsic, is_valid)
#   data/MuPoTS-3D/cameras.pkl          ground-frame extrinsics of TS1..TS20
#   data/MuPoTS-3D/MultiPersonTestSet/  TS<k>/annot.mat, occlusion.mat (and the images)
#
# World = each sequence's ground frame of cameras.pkl (ground_center_on_gt=False: the
# reference's per-frame centring on the GT roots leaks test GT and is off).
#
# The AGR is rendered from the GT (GenerateVirtualPoseAGR, no noise): the package has no
# stage-1 image network yet, so these numbers measure stage 2 given exact 2D heatmaps (an
# upper bound of the image-based protocol). To evaluate on images, replace the first
# transform by one that writes a stage-1 network's AGR into results['agr'].
mupots_root = 'data/MuPoTS-3D/'
mupots_input_size = (960, 512)
mupots_heatmap_size = (240, 128)
mupots_test_pipeline = [
    dict(type='GenerateVirtualPoseAGR', input_size=mupots_input_size,
         heatmap_size=mupots_heatmap_size, joint_set='virtualpose17', noise=None),
    dict(type='PackVirtualPoseInputs'),
]
val_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MuPoTS3DDataset', data_root=mupots_root, ann_file='MuPoTS-3D.json',
                 camera_file='cameras.pkl', img_prefix='MultiPersonTestSet',
                 ground_center_on_gt=False, test_mode=True, pipeline=mupots_test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='MuPoTSPCKMetric', ann_root=mupots_root + 'MultiPersonTestSet',
         pred_joint_set='virtualpose17', pred_frame='world', per_sequence=False),
    dict(type='PanopticMonoMetric', group_by='sequence', prefix='mupots_abs'),
]
test_evaluator = val_evaluator
