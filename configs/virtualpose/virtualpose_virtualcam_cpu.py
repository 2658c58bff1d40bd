# VirtualPose stage 2 sized to train on one CPU core, from virtual data only (the CMU pose
# bank's train split seen by random virtual cameras), for 2D front ends that give COCO-17
# keypoints (converted to VirtualPose-17 by RenderAGRFromKeypoints): the embedded monocular
# checkpoint of `make demo` step 4 (the real Shelf views, one at a time; 3,000 iterations,
# `make demo-train-virtualpose`, stored as float16: 10 MB).
#   AGR:       half the released canvas (480x256 letterboxed -> 120x64 heatmaps), the σ
#              rule's constants as released (in heatmap px: at half the size σ and its
#              noise are up to twice the reference's relative to the image; the refsigma
#              configs scale them, ./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py)
#   root net:  ResNet-18 depth net at half width (base_channels 32: a quarter of the
#              weights) with 64-channel deconvolutions; 40x40x12 grid over the
#              released 8 x 8 x 2.4 m space (200 mm voxels); V2V with 16 mid channels
#   pose net:  32^3 cubes over 2 m (62.5 mm voxels, soft-argmax); V2V with 16 mid channels
# Virtual cameras: the package defaults (MuPoTS / Panoptic rigs) widened to cover the real
# Shelf cameras (measured with camera_geometry on demo/data/calibration_shelf.json: height
# 0.96-2.69 m, 2.7-4.0 m from the scene centre, pitch 1.7-32.9 deg, f 1056-1130 px,
# 1032x776, principal point up to 0.05 of the height off centre).
# Validation/test: virtual frames whose poses come from the bank's held-out test split, a
# seed training never uses (777), cameras drawn as in training; PanopticMonoMetric:
# absolute and root-relative MPJPE, root error, recall@500 mm and AP.
_base_ = ['../_base_/default_runtime.py', './_base_/virtualpose_model.py']

num_joints = 17
input_size = (480, 256)
heatmap_size = (120, 64)
space_size = (8000.0, 8000.0, 2400.0)
space_center = (0.0, 0.0, 1100.0)
space_shape = (40, 40, 12)

model = dict(
    input_size=input_size,
    root_net=dict(
        depth_net=dict(base_channels=32, deconv_channels=(64, 64, 64), head_channels=64),
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=1,
                     mid_channels=16),
        space_shape=space_shape),
    pose_net=dict(
        cube_shape=(32, 32, 32),
        v2v_net=dict(type='V2VNet', input_channels=num_joints, output_channels=num_joints,
                     mid_channels=16)))

cameras = dict(type='VirtualCameraSampler', height_range=(500.0, 3000.0),
               distance_range=(2500.0, 6000.0), pitch_range=(0.0, 35.0),
               focal_range=(1000.0, 1800.0), principal_offset_range=(-0.06, 0.06),
               image_sizes=((1032, 776), (1920, 1080), (2048, 2048)))
scene = dict(type='VirtualPoseSceneDataset', pose_bank='builtin', joint_set='virtualpose17',
             cameras=cameras, num_people=(1, 4), replace=True, min_spacing=600.0,
             min_root_depth=1000.0, person_in_view=True,
             placement_area=((-3000.0, 3000.0), (-3000.0, 3000.0)))

# the rendered AGR and the root targets (named: the children whose training pipeline is
# another, e.g. lift-peaks' heatmap peaks, reach it as {{_base_.agr_maps_pipeline}})
agr_maps_pipeline = [
    dict(type='GenerateVirtualPoseAGR', input_size=input_size, heatmap_size=heatmap_size,
         joint_set='virtualpose17', noise=True),
    dict(type='GenerateRootTarget3D', space_size=space_size, space_center=space_center,
         space_shape=space_shape, root_joints=2),
    dict(type='PackVirtualPoseInputs'),
]
train_pipeline = agr_maps_pipeline
val_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(**scene, num_samples=6000, seed=0, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**scene, bank_split='test', num_samples=200, seed=777, test_mode=True,
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PanopticMonoMetric', group_by=None, prefix='virtual')
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=3000, T_max=2900,
         eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500,
                                     max_keep_ckpts=2))
randomness = dict(seed=0)
