# The lift-maskdepth checkpoint's pose refiner trained further on the pose net's own poses
# (an experiment of issue 11, item 6). Measured and not embedded: it makes the poses worse.
# Stopped at iteration 1,026 of 1,500 (log: checkpoints/virtualpose_virtualcam-viewcube-
# lift-posenet_cpu.log; 2.2 s an iteration of 16 frames on two CPU threads, ~30 people a
# second). On the 100 tuning frames (per GT person its best prediction; lift-maskdepth:
# recall 0.920, root-relative 87.4 mm, MRPE 137.2 mm): iteration 500 0.920 / 88.9 / 137.2,
# iteration 1,000 0.920 / 88.7 / 137.2 (the MRPE is the depth refiner's, not trained here).
# Held-out, `tools/test.py <this config> <work dir>/iter_1000.pth`: root-relative 103.8
# mm, absolute 189.0, MRPE 149.2, recall@500 0.865 (423), mAP 0.339 (lift-maskdepth:
# 102.3, 189.1, 150.0, 0.867 (424), 0.344). A likely reason (not measured): in training
# the refiner reads once, near the pose net's joints, while at test time its second and
# third read passes read near its own refined poses, which may be nearer the perturbed GT
# poses of its earlier training than the pose net's are.
#
# Every lift refiner so far trained on perturbed GT poses in place of the pose net's
# (`refiner_train_inputs`: joints moved by N(0, 70^2) mm per axis, depths scaled by
# exp(N(0, sigma^2))), so that the two V2V nets did not run: ~1,300 people a second. At
# test time the refiner reads near the pose net's joints and from the root net's depth,
# whose errors are not independent Gaussians (a joint the pose net puts on the wrong limb,
# a depth off along the ray). Here the frozen root and pose nets run in training (through
# their V2V nets' inference copies, fast_eval) and the refiner learns from their actual
# outputs on the GT-matched proposals, at the root net's depths
# (train_cubes_at_gt_depth=False, as at test time). The depth refiner (lift-mask's) is not
# trained (it never is) and the test-time options are lift-maskdepth's.
_base_ = ['./virtualpose_virtualcam-viewcube-lift-maskdepth_cpu.py']

model = dict(refiner_train_inputs=None, train_cubes_at_gt_depth=False)
load_from = 'checkpoints/virtualpose_virtualcam-viewcube-lift-maskdepth_cpu.pth'

train_pipeline = {{_base_.agr_maps_pipeline}}  # the rendered AGR (lift-peaks': peaks)
max_iters = 1500
batch_size = 16
train_dataloader = dict(batch_size=batch_size, num_workers=0, persistent_workers=False,
                        dataset=dict(num_samples=batch_size * max_iters, seed=14,
                                     num_people=(2, 6), pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters,
         T_max=max_iters - 50, eta_min=1e-6),
]
default_hooks = dict(checkpoint=dict(interval=500))
randomness = dict(seed=14)
