# CMU Panoptic monocular (HMOR protocol) evaluation data for VirtualPose stage 2.
#
# Make the annotation file once:
#   python tools/dataset_converters/panoptic_mono_hmor.py data/panoptic-toolbox \
#       data/panoptic-toolbox/data --out data/panoptic-toolbox/panoptic_mono_hmor.pkl
#
# The AGR is rendered from the GT (no stage-1 image network in the package yet): the
# numbers measure stage 2 given exact 2D heatmaps. Metrics: MPJPE (absolute and
# root-aligned), MRPE, recall and AP per activity (haggling, mafia, ultimatum, pizza).
panoptic_root = 'data/panoptic-toolbox/'
panoptic_input_size = (960, 512)
panoptic_heatmap_size = (240, 128)
panoptic_test_pipeline = [
    dict(type='GenerateVirtualPoseAGR', input_size=panoptic_input_size,
         heatmap_size=panoptic_heatmap_size, joint_set='panoptic15', noise=None),
    dict(type='PackVirtualPoseInputs'),
]
val_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='PanopticMonoDataset', data_root=panoptic_root,
                 ann_file='panoptic_mono_hmor.pkl', img_prefix='data/', split='valid',
                 joint_set='panoptic15', test_mode=True, pipeline=panoptic_test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PanopticMonoMetric', match_threshold=500.0, group_by='activity')
test_evaluator = val_evaluator
