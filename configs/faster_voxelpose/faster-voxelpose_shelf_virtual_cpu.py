# Faster-VoxelPose for the real Shelf rig trained from nothing but its calibration and the
# CMU pose bank (virtual scenes through the real cameras: the own-rig recipe), on a CPU.
# Same rig, input and held-out validation as ../voxelpose/voxelpose_shelf_virtual_cpu.py
# (the VoxelPose demo checkpoint), so the two are compared on the same frames:
#   detector:  80x80x20 voxels over 8 x 8 x 2 m (top view 2D CNN + height 1D CNN)
#   joint net: 64^3 cubes over 2 m (31.75 mm voxels), per-plane 2D CNN + fusion weights
#   input:     COCO-17 heatmaps 128x96 of views letterboxed to 512x384
# Validation/test: virtual frames whose poses come from the CMU bank's held-out test split
# (whole takes no training pose comes from), a seed training never uses (777), and the same
# detector-like heatmap noise as training, with people placed in the Shelf capture area that
# all five cameras see (placement_area below).
_base_ = ['./faster-voxelpose_own_rig.py']

# ---------------------------------------------------------------- the rig (Shelf)
calibration = 'demo/data/calibration_shelf.json'
image_size = (1032, 776)
space_center = (450.0, -320.0, 800.0)
root_shape = (80, 80, 20)
input_size = (512, 384)
heatmap_size = (128, 96)
heatmap_sigma = 2.0
num_people = (1, 5)
# where the validation/test people stand: the authors' ShelfSynthetic area (x -1 .. 2 m,
# y -1.6 .. 1.6 m; the ground-truth actors of the fixture frames stand inside it), which
# all five cameras see. The own-rig default (the space less 0.5 m, 7 x 7 m) puts most people
# where only two of the five cameras see their hips: measured on 100 held-out frames with
# the stage-4 checkpoint, 152 of 281 people were seen by two views and their MPJPE was
# 82 mm, against 38 mm for those all five views see. `--cfg-options
# test_dataloader.dataset.placement_area=None` tests on that wide area instead. Training
# uses the wide area (train sets: placement_area=None) except stage 5, which trained on this
# one and then missed the demo frames' fourth real person, who stands at y = -2.4 m.
placement_area = ((-1000.0, 2000.0), (-1600.0, 1600.0))

# top-view heatmap loss x1000 (the reference: x1): the detector's trunk also feeds the box
# head, whose L1 gradient otherwise outweighs the small MSE gradient of the sparse top-view
# target and keeps the heatmap at zero for thousands of iterations (measured here: loss
# 0.0050 -> 0.0050 in 130 iterations at x1, 0.0060 -> 0.0041 at x1000)
# The test-time refinement (refine=dict(type='HeatmapTriangulation'), from
# ./faster-voxelpose_own_rig.py; not in the paper): its defaults were chosen on the tuning set
# below (100 frames, train-split poses, seed 99) with the stage-6 checkpoint (all figures
# of this paragraph and the next two are that checkpoint's), among search radii
# 400/600/800 mm, inlier tolerances 0.5/1.0 heatmap px and both hypothesis choices: MPJPE
# 38.8 mm -> 18.4 mm, AP@100 0.854 -> 0.907 (recall@500 0.971 unchanged: it moves joints,
# it finds no people); with Gaussian noise of 4 px on the 2D positions (original image)
# 45.5 -> 36.3 mm. On the test frames (200, tools/test.py): 45.1 -> 17.5 mm, AP@100 0.816
# -> 0.909, mAP 0.719 -> 0.859; wide area 66.7 -> 38.3 mm, AP@100 0.716 -> 0.814; with 4
# px position noise 51.1 -> 35.6 mm. `--cfg-options model.refine=None` turns it off.
# Its rescue (added here): detect down to score 0.03 and keep a proposal at or below the
# threshold (0.15) when the views confirm it (at least half of its joints triangulated
# from 3 or more agreeing views) and it is not a duplicate (HeatmapTriangulation's
# docstring). Chosen on 400 tuning frames (train-split poses, seed 99): of the proposals
# scored 0.005-0.15 there, the criterion kept 7 people the threshold missed, no false
# proposal (1113) and no duplicate (3); 0.03 keeps 6 of the 7 for 23 % more joint-net work
# (0.01: 7, 61 %). Tuning set with / without: recall@500 0.974 / 0.972, AP@100 0.914 /
# 0.912, mAP 0.867 / 0.864, 1268 / 1262 predictions; test frames 0.979 / 0.976, 0.912 /
# 0.909, 0.862 / 0.860; on the real frames of `make demo` nobody is added.
# Its completion (complete=dict(), the defaults of triangulation.COMPLETE_DEFAULTS): people
# no proposal holds, found from the hips' heatmap peaks no kept person explains (a root on
# which 2 or more views agree, and at least half of the views whose image holds it), then
# estimated by the joint net at that root and kept when the views confirm the pose (half
# of its joints triangulated) and it duplicates nobody. Most people the network missed on
# the tuning frames stood 0.4-1.4 m from another one, whose top-view peak swallowed
# theirs, or at the edge of the views with scores near 0. Chosen on the same 400 tuning
# frames (the stage-6 checkpoint) among min_views 2/3, explain_px 1.5/2.5/4, min_joints
# 0.3/0.5/0.7, inlier_px 1.0/1.5, min_peak 0.1/0.2, min_distance 250/400 mm: refinement +
# rescue -> + completion: recall@500 0.974 -> 0.990 (1208 -> 1227 of 1240 people),
# AP@100 0.914 -> 0.922, mAP 0.867 -> 0.874, MPJPE 16.7 -> 18.3 mm, predictions 1265 ->
# 1284 (all 19 added are people; min_views 3: recall 0.981); wide area (placement_area
# None, 400 frames): recall 0.951 -> 0.957, AP@100 0.805 -> 0.809, 8 predictions added,
# all people. Without min_agree the same (on these frames the detector rarely misses two
# people a pair of views could confuse); it matters where it does (the layer's tests).
# A few ms per frame (predict's median over 40 held-out frames, 2 threads, stage 7: 173 ms
# network alone, 179 ms + refinement and rescue, 174 ms + completion: within the noise).
# Its roots at the edge of the views (added with the stage-7 checkpoint and the whole
# config, skeleton step included): it still missed 11 tuning people; of the 10 looked
# at, 8 had their hips in one view only. Off the capture area's middle one image often
# holds only one side of a person (the other hip and that side's limbs fall outside it).
# Three rules:
#  - a hip point no other pairs with is a root by itself (unpaired_roots);
#  - where no two views show a hip, the other joints' unexplained points, each lowered by
#    its median height above the hips in the CMU bank, make a root when 4 or more joints
#    agree within 0.5 m on the floor (cluster_joints=4, cluster_distance);
#  - the joints confirming a new person are counted among those two or more images hold
#    (min_joints_of='held'), at least 30 % of all (min_held).
# 400 tuning frames, capture area (MPJPE@500 / recall@500 / AP@100 / mAP / predictions):
# before 6.6 mm / 0.991 / 0.975 / 0.957 / 1276; unpaired roots and held joints 6.8 /
# 0.993 / 0.976 / 0.957 / 1278 (either alone: no change); + joint clusters 7.7 / 0.996 /
# 0.976 / 0.957 / 1287 (cluster_joints 3: AP@100 0.972; 5: recall 0.995, AP@100 0.975).
# Wide area (400 frames): before 30.2 / 0.952 / 0.858 / 0.803 / 1293; unpaired roots and
# held joints 30.3 / 0.957 / 0.860 / 0.807 / 1301; + clusters 32.2 / 0.960 / 0.854 /
# 0.802 / 1309 (recall for a little AP). On the real frames of `make demo` these rules
# added a fifth "person" per frame: the pose net's person at a new root whose hips the
# refinement moved onto the bent-over fourth person's hips. A new person whose root
# joints lie within duplicate_distance (mean) of a kept person's is therefore a duplicate
# (real frames: 4 people again; tuning frames: 2 predictions fewer, recall unchanged,
# 7.6 mm / 0.996 / 0.977 / 0.957 / 1285). Cost: about 20 ms per frame (the clusters'
# peaks of 15 joints; predict's median over 40 held-out frames on one thread: 305 ms
# without the clusters, 329 ms with them).
# Its skeleton step (skeleton=dict(), the defaults of triangulation.SKELETON_DEFAULTS):
# walking each kept person's limbs out from the hips, a joint the refinement did not
# triangulate, whose limb is outside the CMU bank's range (x / 1.5 its shortest to x 1.5
# its longest) or that another person holds too, moves to the point its views agree on
# within reach of its parent joint. Of the tuning people with a pose error of 100-500 mm
# (stage 7: 58 of 1240), 269 joints were off by more than 200 mm: 151 never triangulated
# (the network's estimate 0.5-1.5 m off, e.g. a crouching person's legs), 69 triangulated
# onto a neighbour's same joint, 48 onto points of no person. Chosen on the 400 tuning
# frames (stage 7) among bone_scale 1.25/1.5/2, claim_distance 100/200 mm, min_views 2/3,
# min_agree 0/0.5, inlier_px 1/1.5: without -> with: MPJPE@500 15.7 -> 6.4 mm, recall@100
# 0.944 -> 0.977, AP@100 0.926 -> 0.975, mAP 0.888 -> 0.957 (bone_scale 1.25: 0.978 /
# 0.964, but the bank's limbs are those of a few mocap subjects: 1.5 leaves room for
# other bodies and for 2D detectors' joints). On the real frames of `make demo` it moves
# 5 joints of the bent-over fourth person per frame; median reprojection errors 3.8 / 3.5
# / 3.9 -> 3.7 / 3.4 / 3.8 px. It costs about 15 ms per frame (resolve_skeleton alone, one
# thread); predict over 40 held-out frames on one thread: median 260 ms for the network
# alone, 312 ms with refinement, rescue and completion, 306 ms with the skeleton step too
# (means 251 / 302 / 322 ms). Held-out test figures: checkpoints/README.md.
# Test figures of the embedded (stage-7) checkpoint: checkpoints/README.md.
model = dict(num_views=5, detector=dict(loss_weights=dict(topview=1000.0)),
             refine=dict(type='HeatmapTriangulation',
                         rescue=dict(min_score=0.03, min_views=3, min_joints=0.5),
                         complete=dict(), skeleton=dict()))

# test-time score threshold: the highest that loses nothing on a tuning set (100 frames of
# TRAIN-split poses, seed 99, this placement area) with the stage-6 checkpoint: 0.05, 0.1
# and 0.15 all gave MPJPE 38.8 mm, recall@500 0.971, AP@100 0.854; 0.2 lost recall (0.964).
# At 0.1 the real Shelf frame 1 of `make demo` got two duplicate people with scores 0.11.
# With the refinement, on 400 tuning frames (same split and seed): thresholds 0.02 / 0.05 /
# 0.1 / 0.15 / 0.2 give recall@500 0.982 / 0.977 / 0.974 / 0.972 / 0.969, mAP 0.868 /
# 0.868 / 0.866 / 0.864 / 0.862 for 1673 / 1403 / 1296 / 1262 / 1239 predictions; at 0.05
# every real frame of `make demo` gets two extra "people" at y = -3 m (the edge of one or
# two views). 0.15 stays.
detection_threshold = 0.15

# one pass over 3,600 distinct virtual scenes (about 1.5 h on one CPU core), cosine
# schedule by iteration; a checkpoint every 400 iterations, validation at the end
train_dataloader = dict(batch_size=1, num_workers=1, persistent_workers=True,
                        dataset=dict(num_samples=3600, seed=0, placement_area=None))
val_dataloader = dict(batch_size=2, num_workers=1, persistent_workers=True,
                      dataset=dict(bank_split='test', num_samples=200, seed=777))
test_dataloader = val_dataloader

train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=3600, T_max=3500,
         eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=400,
                                     max_keep_ckpts=2))
