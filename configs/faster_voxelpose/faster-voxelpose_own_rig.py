# Faster-VoxelPose for YOUR camera rig, trained on virtual scenes only (no images, no labels):
# the recipe, the rig variables and the data of ../voxelpose/voxelpose_own_rig.py (read its
# header: calibration formats, checking a few frames, test-time heatmaps), with the
# Faster-VoxelPose model instead of VoxelPose.
#   python tools/train.py configs/faster_voxelpose/faster-voxelpose_own_rig.py \
#       --cfg-options calibration=data/my_rig/calibration.json "space_center=(0.0,0.0,1000.0)"
# The variables below and those of the parent ('${name}' placeholders: calibration,
# camera_kwargs, image_size, space_size, space_center, placement_area, min_views,
# num_people, input_size, heatmap_size, heatmap_sigma, root_shape, pose_bank) are set the
# same way. The JLN cuts its cubes out of a fine grid of the space with the cube's voxel
# spacing (cube_size / (cube_shape - 1) = 31.75 mm by default), so every space_size must be
# a whole number of those steps (8000 and 2000 mm are; the model says which value to use
# otherwise). The reference_* options of the model are documented in
# ./faster-voxelpose_shelf_cam5.py; they are all off here.
_base_ = ['../voxelpose/voxelpose_own_rig.py']

# ---------------------------------------------------------------- Faster-VoxelPose
cube_size = (2000.0, 2000.0, 2000.0)     # the person cube, mm
cube_shape = (64, 64, 64)                # its voxels (equal, divisible by 4)
max_people = 10                          # proposals per frame
detection_threshold = 0.1                # test-time score threshold (top view x height)

model = dict(
    _delete_=True,
    type='FasterVoxelPose',
    num_joints=17,
    num_views=None,              # taken from the data; the calibration decides
    image_size='${input_size}',
    root_joints=(11, 12),
    data_preprocessor=dict(type='MultiViewDataPreprocessor'),
    detector=dict(
        type='FasterVoxelPoseDetector',
        space_size='${space_size}',
        space_center='${space_center}',
        space_shape='${root_shape}',
        max_people='${max_people}',
        threshold='${detection_threshold}',
        match_distance=500.0,
        target_sigma=200.0,
        loss_weights=dict(topview=1.0, height=1.0, bbox=0.1),
        projector=dict(exclude_behind_camera=True, precision='float64', cache_size=8),
        fast_eval=True),
    joint_net=dict(
        type='FasterVoxelPoseJointNet',
        cube_size='${cube_size}',
        cube_shape='${cube_shape}',
        beta=100.0,
        loss_weights=dict(planes=1.0, fused=5.0),
        projector=dict(exclude_behind_camera=True, precision='float64', cache_size=2),
        fast_eval=True),
    # test time: move each joint to the triangulation of the input heatmaps' peaks where
    # two or more views agree near it (HeatmapTriangulation; not in the paper; no
    # parameters, training unchanged); figures in ./faster-voxelpose_shelf_virtual_cpu.py.
    # refine=None gives the network's joints as they are. Three more test-time options, on
    # in the Shelf demo config (tuned on that 5-camera rig; check them on your frames):
    # complete=dict() finds the people the detector missed from the views' hip peaks (and
    # at the edge of the views from a single hip or a cluster of other joints),
    # rescue=dict(min_score=0.03, min_views=3, min_joints=0.5) keeps weakly scored people
    # the views confirm, skeleton=dict() re-places the joints that break a limb or that
    # two people share (COCO-17 joints; the CMU bank's limb lengths), e.g.
    # --cfg-options model.refine.complete.min_views=2 model.refine.skeleton.bone_scale=1.5.
    refine=dict(type='HeatmapTriangulation'))

# ---------------------------------------------------------------- data
# the parent's virtual scenes and detector-noise model, without the VoxelPose root target
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
    dict(type='PackMultiViewPoseInputs', inputs_key='input_heatmaps'),
]
val_pipeline = train_pipeline

# Adam 1e-4 as the reference; the parent's warm-up and steps
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
