# Third training stage of the Shelf-rig Faster-VoxelPose demo checkpoint: starts from the
# weights of ./faster-voxelpose_shelf_virtual_cpu_stage2.py (iteration 4400) and trains on
# 3,000 new virtual scenes (seed 2: none of them was seen in stages 1 and 2) with a
# restarted cosine schedule at 0.3 of stage 1's learning rate. Stage 2's joint loss was
# still falling (about 300 -> 260 over its 4,400 iterations). `make demo-train` runs all
# four stages (./..._stage4.py continues).
_base_ = ['./faster-voxelpose_shelf_virtual_cpu_stage2.py']

load_from = 'work_dirs/faster-voxelpose_shelf_virtual_cpu_stage2/iter_4400.pth'

train_dataloader = dict(dataset=dict(num_samples=3000, seed=2))

optim_wrapper = dict(optimizer=dict(lr=3e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=3000, T_max=2900,
         eta_min=3e-6),
]
