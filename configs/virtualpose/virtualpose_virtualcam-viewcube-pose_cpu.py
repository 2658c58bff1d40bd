# The pose net of ./virtualpose_virtualcam-viewcube_cpu.py trained further, alone: the
# third step of `make demo-train-virtualpose-viewcube`. Starts from the whole model of the
# second step's checkpoint (load_from) and keeps its root net as it is
# (VirtualPose(frozen=('root_net', )): no gradients, eval-mode BatchNorm, its losses left
# out; it still runs, without gradients, to give the proposals whose cubes are cut).
# Why: the pose net alone on GT roots was 137.8 mm root-relative on the tuning frames and
# its loss was still falling at the end of the first step's 4,000 iterations of batch 2.
# Measured (checkpoints/virtualpose_virtualcam-viewcube-pose_cpu.log, 1 h 40 min on two
# CPU threads): the pose net alone on the GT roots of 40 tuning frames (the bank's train
# split, seed 99, 103 people) went from 137.8 mm root-relative (median 117.3) to 116.2 mm
# (92.0); at iteration 1,000 (the peak rate) it was 138.1 mm, at 2,000 127.4 mm. Held-out
# (./virtualpose_virtualcam-viewcube_cpu.py, threshold 0.1): root-relative MPJPE 139.2 ->
# 117.3 mm, recall@500 0.804 -> 0.814, mAP 0.259 -> 0.289. The result is the embedded
# checkpoints/virtualpose_virtualcam-viewcube_cpu.pth; test it with
# ./virtualpose_virtualcam-viewcube_cpu.py (the same model and its proposal threshold).
# load_from: `make demo-train-virtualpose-viewcube` passes the checkpoint of its second
# step; the default below is the embedded checkpoint, which already had this step, so
# running this file as it is trains the pose net once more (its third training).
_base_ = ['./virtualpose_virtualcam-viewcube_cpu.py']

# subvoxel=False: the pose net of the embedded checkpoint was trained on cubes cut at
# voxel-centre proposals (the base config's sub-voxel proposals came later; test with it)
model = dict(frozen=('root_net', ), root_net=dict(init_cfg=None, subvoxel=False))
load_from = 'checkpoints/virtualpose_virtualcam-viewcube_cpu.pth'

max_iters = 3600
batch_size = 4
# frames no earlier training saw (seed 4)
train_dataloader = dict(batch_size=batch_size,
                        dataset=dict(num_samples=batch_size * max_iters, seed=4))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4), paramwise_cfg=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters,
         T_max=max_iters - 100, eta_min=1e-5),
]
randomness = dict(seed=4)
