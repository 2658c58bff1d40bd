# Campus data for VoxelPose (heatmap input, COCO-17): train on virtual scenes seen by the
# 3 Campus cameras (the reference CampusSynthetic: 1-9 people, every root seen by >= 2
# cameras, nobody missed, Campus joint groups), test on frames 350-470 and 650-750 with
# heatmaps of peak 1 rendered from the released 2D detections, PCP metric.
# Folder: data/campus/{calibration_campus.json, actorsGT.mat,
# pred_campus_maskrcnn_hrnet_coco.pkl, panoptic_training_pose.pkl}.
data_root = 'data/campus'
space = dict(space_size=(12000.0, 12000.0, 2000.0), space_center=(3000.0, 4500.0, 1000.0))
input_size = (800, 640)
heatmap_size = (200, 160)

train_pipeline = [
    dict(type='ProjectKeypoints3D'),
    dict(type='SimulateHeatmapNoise', person_drop_prob=0.0, peak_jitter_prob=0.6,
         peak_jitter_mean=0.9, peak_jitter_std=0.03,
         joint_drops=[dict(joints=[7, 8], prob=0.1, factor=0.5),
                      dict(joints=[9, 10], prob=0.1, factor=0.2)],
         default_drop=dict(prob=0.05, factor=0.5)),
    dict(type='MultiViewLetterbox', input_size=input_size, drop_outside=True),
    dict(type='GenerateMultiViewHeatmaps', heatmap_size=heatmap_size, sigma=3.0),
    dict(type='GenerateRootTarget3D', space_shape=(80, 80, 20), root_joints=(11, 12),
         sigma=200.0, **space),
    dict(type='PackMultiViewPoseInputs', inputs_key='input_heatmaps'),
]
test_pipeline = [
    dict(type='MultiViewLetterbox', input_size=input_size),
    dict(type='GenerateMultiViewHeatmaps', heatmap_size=heatmap_size, sigma=3.0),
    dict(type='PackMultiViewPoseInputs', inputs_key='input_heatmaps'),
]

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='VirtualMviewSceneDataset',
        dataset_name='campus_virtual',
        calibration=f'{data_root}/calibration_campus.json',
        image_size=(360, 288),
        pose_bank=f'{data_root}/panoptic_training_pose.pkl',
        joint_set='coco17',
        num_samples=3000,
        seed=0,
        num_people=(1, 9),
        placement_area=((-2500.0, 8500.0), (-1000.0, 10000.0)),
        near_prob=0.3,
        near_offset=(500.0, 50.0),
        max_footprint_iou=0.01,
        inside_space='root',
        min_views=2,
        view_margin=10.0,
        pipeline=train_pipeline,
        **space))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='Body3DMviewDirectCampusDataset',
        data_root=data_root,
        frame_range=[(350, 470), (650, 750)],
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ShelfCampusPCPMetric', dataset='campus',
                     actors_gt_file=f'{data_root}/actorsGT.mat')
test_evaluator = val_evaluator
