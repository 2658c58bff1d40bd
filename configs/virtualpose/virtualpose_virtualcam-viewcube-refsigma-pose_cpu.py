# The pose net of ./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py: the maskdepth
# checkpoint's pose net trained further alone on AGRs rendered with the reference's σ
# relative to the image (that config's pipelines); root net frozen (it runs without
# gradients), both refiners frozen and not run, cubes at the GT roots' depths, as
# ./virtualpose_virtualcam-viewcube-pose_cpu.py trained it: 800 iterations of batch 4
# (seed 17), Adam 1e-4 cosine; 31 min on one thread, shared. Measured, not taken: with the
# two refiners trained at this σ, the tuning frames' root-relative MPJPE went from 79.0 to
# 80.4 mm (recall 0.924 -> 0.928, MRPE 119.5 -> 123.0 mm), and its end-of-training
# validation (the maskdepth root net and refiners) gave held-out 95.0 mm against 93.3 for
# the maskdepth weights; log ../../checkpoints/virtualpose_virtualcam-viewcube-refsigma-
# pose_cpu.log.
_base_ = ['./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py']

model = dict(frozen=('root_net', 'refiner'), refiner_train_inputs=None)
load_from = 'checkpoints/virtualpose_virtualcam-viewcube-lift-maskdepth_cpu.pth'

train_pipeline = {{_base_.agr_maps_pipeline}}  # the rendered AGR (not the peaks)
max_iters = 800
batch_size = 4
train_dataloader = dict(batch_size=batch_size, num_workers=1, persistent_workers=True,
                        dataset=dict(num_samples=batch_size * max_iters, seed=17,
                                     num_people=(1, 4), pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4), paramwise_cfg=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters,
         T_max=max_iters - 50, eta_min=1e-5),
]
default_hooks = dict(checkpoint=dict(interval=200))
randomness = dict(seed=17)
