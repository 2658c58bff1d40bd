# VoxelPose for YOUR camera rig, trained on virtual scenes only (no images, no labels).
#
# 1. Set the variables under "your rig": inherit this file in a config of your own that
#    sets only what differs (see voxelpose_demo_shelf_virtual_cpu.py), e.g.
#        _base_ = ['./voxelpose_own_rig.py']
#        calibration = 'data/my_rig/calibration.json'
#        space_center = (0.0, 0.0, 1000.0)
#    or set them on the command line:
#      python tools/train.py configs/voxelpose/voxelpose_own_rig.py --cfg-options \
#          calibration=data/my_rig/calibration.json "space_center=(0.0,0.0,1000.0)"
#    The rest of the config refers to them as '${name}' placeholders, which virtualpose_mm's
#    tools replace with the final values after inheritance and --cfg-options
#    (virtualpose_mm/engine/config_checks.py, resolve_config_variables), so the datasets,
#    the pipelines and the model always share one rig and one capture space. (Setting one
#    copy still works, e.g. --cfg-options train_dataloader.dataset.calibration=...
#    val_dataloader.dataset.calibration=...; a space set in one place only is refused
#    before training starts.) Any calibration format that
#    virtualpose_mm.geometry.camera_io.load_cameras reads works: Panoptic calibration json
#    (pick cameras with camera_kwargs=dict(cameras=[(0, 3), ...])), Shelf/Campus json (give
#    image_size), the MMPose-0.x camera_parameters.json, MuCo/MuPoTS files.
# 2. Look at a few frames before training:
#      python tools/misc/render_virtual_scene.py configs/voxelpose/voxelpose_own_rig.py \
#          --index 0 --out scene0.png
#    People must stand where the cameras look; if the placement area is too large for the
#    cameras' field of view, set placement_area (a space no camera sees is refused when the
#    dataset loads the calibration).
# 3. At test time feed heatmaps from any COCO-17 2D detector on your images (letterboxed to
#    input_size, the affines in the metainfo), as the Shelf/Campus test sets do.
#
# Validation: virtual scenes with another seed, scored with the Panoptic AP metric on
# COCO-17 joints (prefix 'virtual/'). For held-out poses, convert the test split of the full
# CMU bank (tools/dataset_converters/prepare_posebank.py --split test) and point the
# validation pose_bank at it.
_base_ = ['../_base_/default_runtime.py', './_base_/voxelpose_shelf_model.py']

# ---------------------------------------------------------------- your rig
# (referred to below as '${name}'; a child config or --cfg-options name=... overrides them)
calibration = 'data/my_rig/calibration.json'
camera_kwargs = dict()           # extra loader arguments, e.g. dict(cameras=[(0, 3), (0, 6)])
image_size = None                # (w, h) of your images if the calibration does not store it
space_size = (8000.0, 8000.0, 2000.0)   # capture space edge lengths, mm (x, y, z; z up)
space_center = (0.0, 0.0, 1000.0)       # its centre in your world frame, mm
placement_area = None            # ((x_min, x_max), (y_min, y_max)) mm; default: space - 0.5 m
min_views = 2                    # every person's root must be seen by at least this many views
num_people = (1, 5)              # people per virtual frame
input_size = (960, 512)          # network input (w, h) every view is letterboxed to
heatmap_size = (240, 128)        # input / 4
heatmap_sigma = 3.0              # Gaussian sigma of the input heatmaps, heatmap px
root_shape = (80, 80, 20)        # root-net voxels over the space (each divisible by 4)
pose_bank = 'builtin'            # CMU mocap poses shipped with the package (COCO-17)

# ---------------------------------------------------------------- model
model = dict(
    num_views=None,              # taken from the data; the calibration decides
    image_size='${input_size}',
    data_preprocessor=dict(type='MultiViewDataPreprocessor'),
    root_net=dict(space_size='${space_size}', space_center='${space_center}',
                  space_shape='${root_shape}'),
    # test time: move each joint to the triangulation of the input heatmaps' peaks where
    # two or more views agree near it (HeatmapTriangulation; not in the paper; no
    # parameters, training unchanged). Shelf-rig demo checkpoint, 100 tuning frames:
    # MPJPE 90.3 -> 41.0 mm (numbers in ./voxelpose_shelf_virtual_cpu.py). refine=None
    # gives the network's joints as they are. complete=dict() also finds the people the
    # root net missed from the views' hip peaks (on in ./voxelpose_shelf_virtual_cpu.py,
    # recall 0.666 -> 0.958 there, without the rules for the edge of the views that the
    # defaults add: see that file; e.g. --cfg-options model.refine.complete.min_views=2);
    # skeleton=dict() re-places the joints that break a limb or that two people share
    # (see ../faster_voxelpose/faster-voxelpose_shelf_virtual_cpu.py; e.g. --cfg-options
    # model.refine.skeleton.bone_scale=1.5).
    refine=dict(type='HeatmapTriangulation'))

# ---------------------------------------------------------------- data
rig = dict(calibration='${calibration}', camera_kwargs='${camera_kwargs}',
           image_size='${image_size}', space_size='${space_size}',
           space_center='${space_center}')
scene = dict(num_people='${num_people}', placement_area='${placement_area}',
             min_views='${min_views}', inside_space='root', near_prob=0.3,
             near_offset=(500.0, 50.0), max_footprint_iou=0.01, yaw_range=(-180.0, 180.0),
             floor_z=0.0)
train_pipeline = [
    dict(type='ProjectKeypoints3D'),
    dict(type='SimulateHeatmapNoise', person_drop_prob=0.05, peak_jitter_prob=0.6,
         peak_jitter_mean=0.9, peak_jitter_std=0.03,
         joint_drops=[dict(joints=[7, 8, 13, 14], prob=0.1, factor=0.5),
                      dict(joints=[9, 10, 15, 16], prob=0.1, factor=0.2)],
         default_drop=dict(prob=0.05, factor=0.5)),
    dict(type='MultiViewLetterbox', input_size='${input_size}', drop_outside=True),
    dict(type='GenerateMultiViewHeatmaps', heatmap_size='${heatmap_size}',
         sigma='${heatmap_sigma}'),
    dict(type='GenerateRootTarget3D', space_size='${space_size}',
         space_center='${space_center}', space_shape='${root_shape}', root_joints=(11, 12),
         sigma=200.0),
    dict(type='PackMultiViewPoseInputs', inputs_key='input_heatmaps'),
]
val_pipeline = train_pipeline
# frames without ground truth (virtualpose_mm.apis.inference_multiview and the multi-view
# demo): per-view 2D detections in original pixels, letterboxed, rendered as heatmaps
inference_pipeline = [
    dict(type='MultiViewLetterbox', input_size='${input_size}'),
    dict(type='GenerateMultiViewHeatmaps', heatmap_size='${heatmap_size}',
         sigma='${heatmap_sigma}'),
    dict(type='PackMultiViewPoseInputs', inputs_key='input_heatmaps'),
]

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VirtualMviewSceneDataset', dataset_name='own_rig_virtual',
                 pose_bank='${pose_bank}', bank_split='train', joint_set='coco17',
                 num_samples=3000, seed=0, pipeline='${train_pipeline}', **rig, **scene))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type='VirtualMviewSceneDataset', dataset_name='own_rig_virtual_val',
                 # held-out poses need the full bank (tools/dataset_converters/
                 # prepare_posebank.py --split test); the shipped bank is the train split,
                 # so by default validation uses its poses with another seed
                 pose_bank='${pose_bank}', bank_split='train', joint_set='coco17',
                 num_samples=200, seed=12345, test_mode=True, pipeline='${val_pipeline}',
                 **rig, **scene))
test_dataloader = val_dataloader
val_evaluator = dict(type='PanopticAPMetric', prefix='virtual')
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', milestones=[10, 20], gamma=0.1, by_epoch=True),
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1,
                                     save_best='virtual/mAP', rule='greater'))
