# The root net of ./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py: the maskdepth
# checkpoint's root net trained further alone on AGRs rendered with the reference's σ
# relative to the image (that config's pipelines); pose net and both refiners frozen and not
# run, as ./virtualpose_virtualcam-viewcube-root2_cpu.py trained it. Its root net is then
# combined with the two refiners trained at the same σ (`make
# demo-train-virtualpose-refsigma`: publish_model.py --drop / --graft).
_base_ = ['./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py']

model = dict(frozen=('pose_net', 'refiner'), refiner_train_inputs=None)
load_from = 'checkpoints/virtualpose_virtualcam-viewcube-lift-maskdepth_cpu.pth'

train_pipeline = {{_base_.agr_maps_pipeline}}  # the rendered AGR (not the peaks)
max_iters = 1000
batch_size = 8
train_dataloader = dict(batch_size=batch_size, num_workers=1, persistent_workers=True,
                        dataset=dict(num_samples=batch_size * max_iters, seed=16,
                                     num_people=(1, 4), pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-4), paramwise_cfg=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters,
         T_max=max_iters - 50, eta_min=1e-5),
]
default_hooks = dict(checkpoint=dict(interval=250))
randomness = dict(seed=16)
