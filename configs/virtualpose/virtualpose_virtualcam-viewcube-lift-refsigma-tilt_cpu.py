# The pose refiner of ../../checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth
# trained once more at the reference's σ with tilted people: a fifth of the training people
# are turned about a random horizontal axis through their root by an angle drawn in
# (-180°, 180°), their lowest joint kept at its height (VirtualPoseSceneDataset(tilt_prob=
# 0.2)): upside-down and tilted bodies, which the bank's training split rarely holds and
# the held-out motions (cartwheels, acrobatics) do. lift-refsigma3's settings, seed (20) and
# schedule otherwise (./virtualpose_virtualcam-viewcube-lift-refsigma3_cpu.py, its control):
# 5,000 iterations of 64 frames of 3-8 people, Adam 1e-4 cosine; root net, pose net and
# depth refiner frozen. Its end-of-training validation ran on the tuning frames
# (`--cfg-options val_dataloader.dataset.bank_split=train val_dataloader.dataset.seed=99
# val_dataloader.dataset.num_samples=100`).
# Measured, not taken (the refsigma checkpoint keeps its refiner): with the refsigma root
# net, depth refiner and test-time options, root-relative MPJPE on the 100 tuning frames
# (`tools/test.py <refsigma config> <this run's iter_5000.pth> --cfg-options
# test_dataloader.dataset.bank_split=train test_dataloader.dataset.seed=99
# test_dataloader.dataset.num_samples=100`) 81.7 mm against the refsigma checkpoint's 77.5
# (recall 0.940 / 0.932, MRPE 111.0 / 109.8 mm). The rule, set before the run: taken if no
# more than 0.5 mm worse on the tuning frames (its purpose is motions they do not have);
# 4.2 mm worse, so not taken and not run on the held-out frames. Log:
# ../../checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma-tilt_cpu.log.
_base_ = ['./virtualpose_virtualcam-viewcube-lift-refsigma3_cpu.py']

train_dataloader = dict(dataset=dict(tilt_prob=0.2))
