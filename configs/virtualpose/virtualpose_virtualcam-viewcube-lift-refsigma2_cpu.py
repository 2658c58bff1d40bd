# The pose refiner of ./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py trained once
# more at the reference's σ, from that config's run (its iteration 4,000): 5,000 iterations
# of 64 frames of 3-8 people (seed 18), Adam 1e-4 cosine; 33 min on one thread (shared).
# Its refiner is the one in checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth
# (`make demo-train-virtualpose-refsigma`). On the 100 tuning frames with the refsigma root
# net and depth refiner: root-relative MPJPE 80.10 -> 79.67 mm at pose_net_weight 0.1
# (0.0: 80.17, 0.25: 80.58), recall 0.928 and MRPE 111.0 mm unchanged. The run of
# ../../checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma2_cpu.log read a copy of
# this config whose load_from named the first run's iteration 4,000 in its own work folder
# (the resolved configs otherwise equal).
_base_ = ['./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py']

load_from = 'work_dirs/virtualpose_virtualcam-viewcube-lift-refsigma_cpu/pose_refiner/iter_4000.pth'
max_iters = 5000
batch_size = 64
train_dataloader = dict(dataset=dict(num_samples=batch_size * max_iters, seed=18))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters,
         T_max=max_iters - 100, eta_min=1e-5),
]
randomness = dict(seed=18)
