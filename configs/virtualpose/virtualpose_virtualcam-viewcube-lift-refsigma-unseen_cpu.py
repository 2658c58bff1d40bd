# The pose refiner of ../../checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth
# trained once more at the reference's σ with the joints the AGR does not show (their GT
# projection off the heatmaps: people cut by the image border) perturbed more in its
# training inputs (VirtualPose refiner_train_inputs unseen_joint_std=150 mm per axis on top
# of joint_std 70): on the 100 tuning frames the pose net's guesses of such joints are 260
# mm off (mean joint error about the root; 81 mm for the joints in the map) and the
# refiner's 181 mm (67), and the 31 % of people with such joints carry 41 % of the
# root-relative error. As ./virtualpose_virtualcam-viewcube-lift-refsigma3_cpu.py (its
# control: the same frames, seed 20, schedule and start) otherwise.
# Measured, not taken (the refsigma checkpoint keeps its refiner): with the refsigma root
# net, depth refiner and test-time options (exclusive peaks), root-relative MPJPE on the 100
# tuning frames (`tools/test.py <refsigma config> <this run's iter_5000.pth> --cfg-options
# test_dataloader.dataset.bank_split=train test_dataloader.dataset.seed=99
# test_dataloader.dataset.num_samples=100`) 78.4 mm against the checkpoint's 77.5 (the rule
# set before: taken only if ≥ 0.5 mm better); held-out (its log's last validation, the
# same test-time options) 91.0 mm against 90.6; recall and MRPE unchanged (the depth
# refiner's). (The pose net's guesses of the unseen joints, though poor, seem to carry
# more of them than a refiner taught to distrust them infers from the other joints.)
# Log: ../../checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma-unseen_cpu.log.
# 24 min on two threads.
_base_ = ['./virtualpose_virtualcam-viewcube-lift-refsigma3_cpu.py']

model = dict(refiner_train_inputs=dict(unseen_joint_std=150.0))
