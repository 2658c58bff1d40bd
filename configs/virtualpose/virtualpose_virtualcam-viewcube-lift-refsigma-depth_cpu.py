# The depth refiner of ./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py: lift-mask's
# refiner (./virtualpose_virtualcam-viewcube-lift-mask_cpu.py, mask_unfound_joints=True, the
# maskdepth checkpoint's depth refiner before float16) trained further at the reference σ,
# alone, as `refiner` (root and pose nets frozen; no depth refiner in this model), then
# grafted into the refsigma checkpoint as `depth_refiner.`.
_base_ = ['./virtualpose_virtualcam-viewcube-lift-refsigma_cpu.py']

model = dict(
    refiner=dict(mask_unfound_joints=True, depth_weight=1.0, read_passes=3,
                 test_search_radius=4),
    depth_refiner=None)
# the base's depth refiner as `refiner` (`make demo-train-virtualpose-refsigma` makes it with
# publish_model.py --drop / --graft; its log's run read the same file at
# work_dirs/refsigma_depth_init.pth)
load_from = 'work_dirs/virtualpose_virtualcam-viewcube-lift-refsigma_cpu/depth_init.pth'
train_dataloader = dict(dataset=dict(seed=15))
randomness = dict(seed=15)
