# ./virtualpose_virtualcam-viewcube-lift-long_cpu.py's refiner trained on many more people
# in the same time: the training pipeline does not render the AGR heatmaps
# (GenerateVirtualPoseAGR(heatmap_mode='peaks') gives each joint's Gaussian instead, with
# the same noise from the same random numbers) and the refiner reads them where it looks
# (VirtualPose(refiner_train_inputs=dict(heatmap_peaks=True)) -> PeakHeatmaps: bit for bit
# the rendered values, tested). The root and pose nets stay the viewcube checkpoint's; the
# validation / test pipeline renders the AGR as always. Figures: checkpoints/README.md.
_base_ = ['./virtualpose_virtualcam-viewcube-lift-long_cpu.py']

model = dict(refiner_train_inputs=dict(heatmap_peaks=True))
load_from = 'checkpoints/virtualpose_virtualcam-viewcube-lift-long_cpu.pth'

input_size = (480, 256)
heatmap_size = (120, 64)
train_pipeline = [
    dict(type='GenerateVirtualPoseAGR', input_size=input_size, heatmap_size=heatmap_size,
         joint_set='virtualpose17', noise=True, heatmap_mode='peaks'),
    dict(type='PackVirtualPoseInputs'),
]
max_iters = 12000
batch_size = 64
# num_workers=0: a frame costs ~2 ms without rendering, and handing 64 frames' many small
# tensors from a worker process costs more than that (0.38 s an iteration with one worker
# against 0.27 s without, two CPU threads)
train_dataloader = dict(batch_size=batch_size, num_workers=0, persistent_workers=False,
                        dataset=dict(num_samples=batch_size * max_iters, seed=9,
                                     num_people=(3, 8), pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=3e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters,
         T_max=max_iters - 100, eta_min=1e-5),
]
default_hooks = dict(checkpoint=dict(interval=2000))
randomness = dict(seed=9)
