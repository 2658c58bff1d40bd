# The pose refiner of ../../checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth
# made twice as wide (hidden_channels 256 -> 512) and trained further at the reference's σ.
# A standalone lifter gained 2.3 mm going from 256 to 512 wide (../../checkpoints/README.md,
# lift-peaks section); trained from scratch, the refiner took 33,000 iterations of 64 frames
# over five runs. This run starts from the trained 256-wide refiner widened without changing
# its function (Net2Net's wider operation: each hidden unit copied, its outgoing weights
# split in random shares; on the tuning frames it scores as the refsigma checkpoint, 77.5 mm):
#   python tools/misc/publish_model.py \
#       checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth \
#       work_dirs/virtualpose_virtualcam-viewcube-lift-refsigma-wide_cpu/refiner-x2.pth \
#       --no-hash --widen refiner.=2 --seed 0
# then 10,000 iterations of 64 frames of 3-8 people (seed 23), Adam 2e-4 cosine; root net,
# pose net and depth refiner frozen, the perturbed-GT inputs read off the Gaussians as
# before (`make demo-train-virtualpose-refsigma-wide` runs the three steps and publishes;
# the logged run read its start from work_dirs/wide/refsigma_refiner-x2.pth, the same file).
# 65 min on two threads (shared). Log: ../../checkpoints/virtualpose_virtualcam-viewcube-lift-
# refsigma-wide_cpu.log (its validation: the tuning frames). Published with the pose net's
# weights stored as int8 so that the file stays under 15 MB (13.17 MB):
#   python tools/misc/publish_model.py <work dir>/iter_10000.pth \
#       checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma-wide_cpu.pth \
#       --fp16 --deflate --no-hash --int8 pose_net.
# The rule, written before the run's figures: taken if the published file is at least
# 0.5 mm better than the refsigma checkpoint on the 100 tuning frames (bank train split,
# seed 99; <= 77.0 mm) and on 200 more (seed 98; <= 78.4 mm), with no lower recall, and
# better than the refsigma checkpoint with only its pose net stored as int8 (77.3 / 79.0
# mm). Root-relative MPJPE (`tools/test.py <this config> <checkpoint> --cfg-options
# test_dataloader.dataset.bank_split=train test_dataloader.dataset.seed=99
# test_dataloader.dataset.num_samples=100`): 73.8 mm (refsigma 77.5), seed 98: 76.5 mm
# (78.9); recall 0.932 / 0.925 (0.932 / 0.923). Taken; then the held-out frames, once
# (`tools/test.py <this config> checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma-
# wide_cpu.pth`): root-relative MPJPE 87.2 mm, absolute 166.2 mm, MRPE 134.8 mm,
# recall@500 0.910 (445 of 489), mAP 0.417 (refsigma: 90.6, 167.1, 133.0, 0.906, 0.410).
_base_ = ['./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py']

model = dict(refiner=dict(hidden_channels=512))
load_from = 'work_dirs/virtualpose_virtualcam-viewcube-lift-refsigma-wide_cpu/refiner-x2.pth'
max_iters = 10000
batch_size = 64
train_dataloader = dict(batch_size=batch_size,
                        dataset=dict(num_samples=batch_size * max_iters, seed=23))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters,
         T_max=max_iters - 100, eta_min=1e-5),
]
default_hooks = dict(checkpoint=dict(interval=2000))
randomness = dict(seed=23)
