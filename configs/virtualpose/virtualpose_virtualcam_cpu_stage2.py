# Second training stage of the embedded monocular VirtualPose checkpoint: starts from the
# weights of ./virtualpose_virtualcam_cpu.py (iteration 3000, whose losses were still
# falling at the end of its cosine schedule) and trains on 4,000 new virtual frames
# (seed 1: none was seen in stage 1) for 2,000 iterations of batch 2 with a restarted
# cosine schedule at half of stage 1's learning rate.
# Measured here (1 h 17 min on one CPU thread, shared): held-out virtual frames (the test
# set of ./virtualpose_virtualcam_cpu.py) root-relative MPJPE 158.0 -> 156.6 mm, absolute
# MPJPE 216.5 -> 208.2 mm, MRPE 144.1 -> 133.5 mm, recall@500 0.605 -> 0.628, mAP 0.169 ->
# 0.195; but on the real Shelf detections of `make demo` step 4 it finds 23 people over the
# 15 single views (stage 1: 30) with roots a median 0.28 m from the multi-view roots
# (stage 1: 0.22 m). The embedded checkpoint stays stage 1's (checkpoints/README.md).
_base_ = ['./virtualpose_virtualcam_cpu.py']

load_from = 'work_dirs/virtualpose_virtualcam_cpu/iter_3000.pth'

train_dataloader = dict(dataset=dict(num_samples=4000, seed=1))

optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=2000, T_max=1900,
         eta_min=5e-6),
]
