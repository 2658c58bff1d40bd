# `make demo`: VoxelPose trained from nothing but the real Shelf calibration and the
# shipped CMU pose bank (virtual scenes through the real cameras — the "own rig" recipe),
# sized to train in a few minutes on a laptop CPU, then evaluated on unseen virtual frames.
# Small grids (root 32x32x8 voxels = 250 mm, pose cubes 24^3 = 83 mm) and thin V2V nets:
# a demonstration of the whole pipeline, not a benchmark model.
# Only the variables that differ from ./voxelpose_own_rig.py are set here: the parent refers
# to them as '${name}' placeholders (model, datasets and pipelines follow).
_base_ = ['./voxelpose_own_rig.py']

# ---------------------------------------------------------------- the rig (Shelf)
calibration = 'demo/data/calibration_shelf.json'
image_size = (1032, 776)
space_center = (450.0, -320.0, 800.0)
root_shape = (32, 32, 8)
input_size = (400, 304)
heatmap_size = (100, 76)
heatmap_sigma = 2.0
num_people = (1, 4)

# ---------------------------------------------------------------- thin networks
model = dict(
    root_net=dict(v2v_net=dict(type='V2VNet', input_channels=17, output_channels=1,
                               mid_channels=16)),
    pose_net=dict(cube_shape=(24, 24, 24),
                  v2v_net=dict(type='V2VNet', input_channels=17, output_channels=17,
                               mid_channels=16)))

# ---------------------------------------------------------------- data
# validation on clean heatmaps (no detector noise, no root target)
val_pipeline = [
    dict(type='ProjectKeypoints3D'),
    dict(type='MultiViewLetterbox', input_size='${input_size}', drop_outside=True),
    dict(type='GenerateMultiViewHeatmaps', heatmap_size='${heatmap_size}',
         sigma='${heatmap_sigma}'),
    dict(type='PackMultiViewPoseInputs', inputs_key='input_heatmaps'),
]
train_dataloader = dict(batch_size=2, num_workers=1, persistent_workers=True,
                        dataset=dict(num_samples=800, seed=0))
val_dataloader = dict(batch_size=2, num_workers=1, persistent_workers=True,
                      dataset=dict(num_samples=40, seed=12345))
test_dataloader = val_dataloader

# ---------------------------------------------------------------- schedule
train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50)]
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(type='CheckpointHook', interval=1, save_best=None))
