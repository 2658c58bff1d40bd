# ./virtualpose_virtualcam-viewcube-lift_cpu.py trained further: its refiner (~975,000
# people) continues on ~2.1 million more people in frames of 3-8 people (6,000
# iterations of 64 frames, seed 8: frames no earlier training saw; Adam 5e-4, cosine;
# 70 min on two CPU threads). The root and pose nets stay the viewcube checkpoint's.
# Why: a lifting MLP keeps improving with the number of people it sees.
# tools/analysis/lifting_sample_curve.py (a standalone lifter of the same width, 256 x 2
# blocks, on the bank's poses with the AGR's 2D noise and the true root depth, validated
# on the people of takes it never saw; no heatmaps, so millions of people take minutes),
# `--iters 4000 / 8000 / 12000 / 20000`: 79.2 mm after 0.61 M people, 73.7 after 1.22 M,
# 71.5 after 1.84 M, 69.3 after 3.06 M (the level depends on which takes are held out:
# with the bank's split groups, `--clips .../clips.json`, 93.1 after 0.61 M; an
# uncommitted variant that mirrored the poses or mixed upper and lower bodies changed
# nothing there). A training iteration here costs the AGR of its frames more than the
# MLP, so frames of 3-8 people give 1.75x the people per second of the 1-4 of the
# held-out frames (~515 vs ~295 on two CPU threads).
# The embedded checkpoint (checkpoints/virtualpose_virtualcam-viewcube-lift-long_cpu.pth,
# `make demo-train-virtualpose-lift-long`): float16, --deflate, 14.3 MB.
# Test-time options, chosen on the 100 tuning frames of ./virtualpose_virtualcam-viewcube-
# lift_cpu.py (the bank's train split, seed 99, 250 people; per person the best prediction
# by absolute MPJPE, recall = those < 500 mm; never the held-out frames), by the issue's
# target: recall first, then root-relative MPJPE, MRPE below 250 mm:
#   flip  pose_net_weight  depth_weight  recall  abs MPJPE  root-rel  MRPE (mm)
#   -     1 (pose net)     0             0.848   177.9      100.7     139.1
#   -     0 (refiner)      1             0.836   186.1       89.7     153.6
#   yes   0                1             0.840   186.5       87.8     155.4
#   yes   0.4              0.25          0.856   173.6       89.8     140.9   (lift's)
#   yes   0.25             0             0.848   172.8       88.7     139.8
#   yes   0.25             0.25          0.856   173.8       89.2     140.9
#   yes   0.25             0.5           0.868   181.6       89.6     149.6   <- chosen
#   yes   0.25             0.75          0.864   186.2       89.1     154.8
#   yes   0.5              0.5           0.868   181.6       91.1     149.6
# Held-out frames (`tools/test.py configs/virtualpose/virtualpose_virtualcam-viewcube-
# lift-long_cpu.py checkpoints/virtualpose_virtualcam-viewcube-lift-long_cpu.pth`):
# root-relative MPJPE 104.3 mm, absolute 187.4 mm, MRPE 148.0 mm, recall@500 0.820 (401
# of 489), mAP 0.320 (lift's checkpoint and options: 107.7, 187.6, 145.5, 0.824, 0.333;
# this checkpoint with lift's options, the log's end-of-training validation: 104.5,
# 185.9, 145.6, 0.822). The logged run (checkpoints/virtualpose_virtualcam-viewcube-
# lift-long_cpu.log) parsed this file before its two test-time weights were set; training
# does not read them.
_base_ = ['./virtualpose_virtualcam-viewcube-lift_cpu.py']

model = dict(refiner=dict(pose_net_weight=0.25, depth_weight=0.5))
load_from = 'checkpoints/virtualpose_virtualcam-viewcube-lift_cpu.pth'

max_iters = 6000
batch_size = 64
train_dataloader = dict(batch_size=batch_size,
                        dataset=dict(num_samples=batch_size * max_iters, seed=8,
                                     num_people=(3, 8)))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters,
         T_max=max_iters - 100, eta_min=1e-5),
]
randomness = dict(seed=8)
