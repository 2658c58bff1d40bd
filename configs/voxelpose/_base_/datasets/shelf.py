# Shelf data for VoxelPose (heatmap input, COCO-17): train on virtual scenes seen by the
# 5 Shelf cameras (the reference ShelfSynthetic), test on the Shelf test set (frames
# 300-600) with heatmaps rendered from the released 2D detections, PCP metric.
# Folder (the voxelpose-pytorch release): data/shelf/{calibration_shelf.json, actorsGT.mat,
# pred_shelf_maskrcnn_hrnet_coco.pkl, panoptic_training_pose.pkl}.
data_root = 'data/shelf'
space = dict(space_size=(8000.0, 8000.0, 2000.0), space_center=(450.0, -320.0, 800.0))
input_size = (800, 608)
heatmap_size = (200, 152)

train_pipeline = [
    dict(type='ProjectKeypoints3D'),
    # the reference detector model: 5% people missed per view, peaks N(0.9, 0.03) on 60% of
    # the joints, elbows/knees x0.5 and wrists/ankles x0.2 with p = 0.1, others x0.5 (p 0.05)
    dict(type='SimulateHeatmapNoise', person_drop_prob=0.05, peak_jitter_prob=0.6,
         peak_jitter_mean=0.9, peak_jitter_std=0.03,
         joint_drops=[dict(joints=[7, 8, 13, 14], prob=0.1, factor=0.5),
                      dict(joints=[9, 10, 15, 16], prob=0.1, factor=0.2)],
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
        dataset_name='shelf_virtual',
        calibration=f'{data_root}/calibration_shelf.json',
        image_size=(1032, 776),
        # the reference pose bank; 'builtin' uses the CMU mocap poses shipped with the package
        pose_bank=f'{data_root}/panoptic_training_pose.pkl',
        joint_set='coco17',
        num_samples=3000,
        seed=0,
        num_people=(1, 5),
        placement_area=((-1000.0, 2000.0), (-1600.0, 1600.0)),
        near_prob=0.3,
        near_offset=(500.0, 50.0),
        max_footprint_iou=0.01,
        inside_space='root',
        # the reference has no view test (min_views=0); that also places the ~0.4% of root
        # positions of this area that no camera sees, which the config checks refuse
        min_views=1,
        pipeline=train_pipeline,
        **space))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='Body3DMviewDirectShelfDataset',
        data_root=data_root,
        frame_range=[(300, 600)],
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ShelfCampusPCPMetric', dataset='shelf',
                     actors_gt_file=f'{data_root}/actorsGT.mat')
test_evaluator = val_evaluator
