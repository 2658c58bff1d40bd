# The pose refiner of ../../checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth
# trained once more at the reference's σ, as ./virtualpose_virtualcam-viewcube-lift-refsigma-
# mirror_cpu.py without the mirrored people (its control): 5,000 iterations of 64 frames of
# 3-8 people (seed 20), Adam 1e-4 cosine (./virtualpose_virtualcam-viewcube-lift-refsigma2_cpu.py's
# schedule); root net, pose net and depth refiner frozen.
# Measured, not taken (the refsigma checkpoint keeps its refiner). With the refsigma root
# net, depth refiner and test-time options, root-relative MPJPE on the 100 tuning frames
# (`tools/test.py <refsigma config> <this run's iter_5000.pth> --cfg-options
# test_dataloader.dataset.bank_split=train test_dataloader.dataset.seed=99
# test_dataloader.dataset.num_samples=100`) 79.49 mm, the refsigma checkpoint 79.81 mm; on
# the held-out frames (the same without --cfg-options) 92.13 mm, refsigma 92.4 mm; recall
# (0.928 / 0.906) and MRPE (111.9 / 134.1 mm) unchanged. Log: ../../checkpoints/
# virtualpose_virtualcam-viewcube-lift-refsigma3_cpu.log (its last validation: the held-out frames).
_base_ = ['./virtualpose_virtualcam-viewcube-lift-refsigma2_cpu.py']

load_from = 'checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth'
train_dataloader = dict(dataset=dict(seed=20))
randomness = dict(seed=20)
