# Faster-VoxelPose (Ye et al., ECCV 2022) on Shelf: 5 views, heatmap input (COCO-17),
# capture space 8x8x2 m on an 80x80x20 grid, person cubes of 2 m at 64^3. Settings of the
# reference configs/shelf/jln64.yaml (AlvinYH/Faster-VoxelPose): trained on virtual scenes
# seen by the Shelf cameras (1-10 people), tested on Shelf frames 300-600 (PCP).
#   python tools/train.py configs/faster_voxelpose/faster-voxelpose_shelf_cam5.py
# Weights of the reference code load with
#   virtualpose_mm.models.utils.faster_voxelpose_converter.load_faster_voxelpose_checkpoint
# Model part (every option with its default): ./_base_/faster-voxelpose_model.py, plus the
# reference_* behaviours below; data part: ../voxelpose/_base_/datasets/shelf.py.
_base_ = ['../_base_/default_runtime.py', './_base_/faster-voxelpose_model.py',
          '../voxelpose/_base_/datasets/shelf.py']

model = dict(
    # ---- reference behaviours (AlvinYH/Faster-VoxelPose), all off = the sound defaults;
    # tools/analysis/golden/faster_voxelpose.py turns every one on to reproduce the
    # reference's numbers (with projector precision='reference' in both heads):
    # mean over ALL views for the volume and the cubes (a view that does not see a voxel
    # counts as 0) instead of the mean over the views that see it
    reference_view_average=False,
    # box target read at the floor cell of the root instead of the nearest cell
    reference_bbox_index=False,
    # box loss also on the first padding slot (cell 0 against a (0, 0) box)
    reference_bbox_mask=False,
    # JLN nets called once per sample (per-sample training BatchNorm) instead of once
    reference_jln_per_sample=False,
    # bbox_scores = the JLN confidence (the reference overwrites the detection score in
    # place) instead of the detection score (the JLN confidence is in jln_scores)
    reference_jln_score=False,
    # weight net left at PyTorch's default init (the reference never calls its init)
    # instead of N(0, 0.001^2) as its code intends
    reference_weight_net_init=False,
    # soft-argmax summed in float32 over absolute coordinates (the reference) instead of
    # over coordinates relative to the cube centre
    reference_soft_argmax=False)

# ---------------------------------------------------------------- data
# The reference Synthetic set: 1-10 people anywhere in the space (every visible joint
# inside it), the root seen by >= 2 views (10 px margin), 10000 frames per epoch. Its
# heatmap augmentation (random peak scaling and occlusion) is approximated by the
# SimulateHeatmapNoise of the data part. No root-volume target is needed.
input_size = (800, 608)
heatmap_size = (200, 152)
train_pipeline = [
    dict(type='ProjectKeypoints3D'),
    dict(type='SimulateHeatmapNoise', person_drop_prob=0.05, peak_jitter_prob=0.6,
         peak_jitter_mean=0.9, peak_jitter_std=0.03,
         joint_drops=[dict(joints=[7, 8], prob=0.1, factor=0.5),
                      dict(joints=[9, 10], prob=0.1, factor=0.2)],
         default_drop=dict(prob=0.05, factor=0.5)),
    dict(type='MultiViewLetterbox', input_size=input_size, drop_outside=True),
    dict(type='GenerateMultiViewHeatmaps', heatmap_size=heatmap_size, sigma=3.0),
    dict(type='PackMultiViewPoseInputs', inputs_key='input_heatmaps'),
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(num_samples=10000, num_people=(1, 10), placement_area=None,
                 area_margin=0.0, inside_space='joints', min_views=2, view_margin=10.0,
                 pipeline=train_pipeline))

# ---------------------------------------------------------------- schedule
# the reference: Adam 1e-4, 50 epochs, batch 8 (it steps the detection net with a loss
# accumulated over 4 batches and the joint net every batch, with two optimizers; here one
# Adam steps both every batch)
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = []
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1,
                                     save_best='shelf/PCP_avg', rule='greater'))
auto_scale_lr = dict(base_batch_size=8)
