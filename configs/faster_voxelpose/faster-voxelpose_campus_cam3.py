# Faster-VoxelPose on Campus: 3 views (360x288 images), heatmap input (COCO-17), capture
# space 12x12x2 m on an 80x80x20 grid, cubes of 2 m at 64^3. Settings of the reference
# configs/campus/jln64.yaml: virtual scenes of 1-5 people seen by the Campus cameras,
# tested on frames 350-470 and 650-750 (PCP). The model options (reference_* behaviours,
# all off) are documented in ./faster-voxelpose_shelf_cam5.py.
_base_ = ['../_base_/default_runtime.py', './_base_/faster-voxelpose_model.py',
          '../voxelpose/_base_/datasets/campus.py']

model = dict(
    num_views=3,
    image_size=(800, 640),      # heatmaps 200x160
    detector=dict(space_size=(12000.0, 12000.0, 2000.0),
                  space_center=(3000.0, 4500.0, 1000.0),
                  max_people=5, threshold=0.1))

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
    # the reference draws Campus heatmaps with SIGMA 4
    dict(type='GenerateMultiViewHeatmaps', heatmap_size=heatmap_size, sigma=4.0),
    dict(type='PackMultiViewPoseInputs', inputs_key='input_heatmaps'),
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(num_samples=10000, num_people=(1, 5), placement_area=None,
                 area_margin=0.0, inside_space='joints', min_views=2, view_margin=10.0,
                 pipeline=train_pipeline))

# ---------------------------------------------------------------- schedule
# the reference: Adam 1e-4, batch 8 (two optimizers; see faster-voxelpose_shelf_cam5.py)
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = []
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1,
                                     save_best='campus/PCP_avg', rule='greater'))
auto_scale_lr = dict(base_batch_size=8)
