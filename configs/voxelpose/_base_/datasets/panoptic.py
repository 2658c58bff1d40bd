# CMU Panoptic data for VoxelPose (image input, Panoptic-15): the VoxelPose protocol,
# 5 HD cameras (0,12) (0,6) (0,23) (0,13) (0,3), training sequences every 3rd frame,
# validation sequences every 12th frame, AP metric.
# Folder (CMU Panoptic toolbox): data/panoptic/<seq>/{calibration_<seq>.json,
# hdPose3d_stage1_coco19/, hdImgs/<pp_nn>/}.
data_root = 'data/panoptic'
cameras = [(0, 12), (0, 6), (0, 23), (0, 13), (0, 3)]
space = dict(space_size=(8000.0, 8000.0, 2000.0), space_center=(0.0, -500.0, 800.0))
input_size = (960, 512)
heatmap_size = (240, 128)

train_pipeline = [
    dict(type='LoadMultiViewImages', to_rgb=False),
    dict(type='ProjectKeypoints3D', out_key='keypoints_2d'),
    dict(type='MultiViewLetterbox', input_size=input_size),
    # 2D targets for fine-tuning the 2D network (used when the model has freeze_2d=False)
    dict(type='GenerateMultiViewHeatmaps', heatmap_size=heatmap_size,
         keypoints_key='keypoints_2d', out_key='target_heatmaps', sigma=3.0),
    dict(type='GenerateRootTarget3D', space_shape=(80, 80, 20), root_joints=(2, ),
         sigma=200.0, **space),
    dict(type='PackMultiViewPoseInputs', inputs_key='img'),
]
val_pipeline = [
    dict(type='LoadMultiViewImages', to_rgb=False),
    dict(type='MultiViewLetterbox', input_size=input_size),
    dict(type='PackMultiViewPoseInputs', inputs_key='img'),
]
test_pipeline = val_pipeline

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='Body3DMviewDirectPanopticDataset',
        data_root=data_root,
        sequences='train',
        cameras=cameras,
        frame_interval=3,
        cache_file=f'{data_root}/group_train_cam5_index.pkl',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='Body3DMviewDirectPanopticDataset',
        data_root=data_root,
        sequences='validation',
        cameras=cameras,
        frame_interval=12,
        cache_file=f'{data_root}/group_validation_cam5_index.pkl',
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PanopticAPMetric')
test_evaluator = val_evaluator
