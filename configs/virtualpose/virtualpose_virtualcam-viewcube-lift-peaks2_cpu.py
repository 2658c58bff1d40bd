# ./virtualpose_virtualcam-viewcube-lift-peaks_cpu.py's refiner trained once more, on ~2.8
# million new people (8,000 iterations of 64 frames of 3-8 people, seed 10: frames no
# earlier training saw; Adam 2e-4 cosine), to see whether the held-out error still falls
# with the people seen. Measured and not embedded: checkpoints/README.md.
_base_ = ['./virtualpose_virtualcam-viewcube-lift-peaks_cpu.py']

# trained and measured with lift-peaks' refiner options before read_passes
model = dict(refiner=dict(depth_weight=0.75, read_passes=1,
                          test_search_radius=None))

load_from = 'checkpoints/virtualpose_virtualcam-viewcube-lift-peaks_cpu.pth'
max_iters = 8000
batch_size = 64
train_dataloader = dict(dataset=dict(num_samples=batch_size * max_iters, seed=10))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters,
         T_max=max_iters - 100, eta_min=1e-5),
]
randomness = dict(seed=10)
