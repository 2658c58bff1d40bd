# The pose refiner of ../../checkpoints/virtualpose_virtualcam-viewcube-lift-refsigma_cpu.pth
# trained once more at the reference's σ on new combinations of the training motions: half
# the training people are made of the upper body of one bank pose and the legs of another
# (VirtualPoseSceneDataset(part_mix_prob=0.5): upright poses only, hip lines aligned), and
# half are mirrored (mirror_prob=0.5), so that the lifting MLP sees arm and leg
# configurations together that no training clip holds. 5,000 iterations of 64 frames of 3-8
# people (seed 21), Adam 1e-4 cosine; root net, pose net and depth refiner frozen
# (./virtualpose_virtualcam-viewcube-lift-refsigma3_cpu.py's schedule).
# Measured, not taken (the refsigma checkpoint keeps its refiner). With the refsigma root
# net, depth refiner and test-time options, root-relative MPJPE on the 100 tuning frames
# (`tools/test.py <refsigma config> <this run's iter_5000.pth> --cfg-options
# test_dataloader.dataset.bank_split=train test_dataloader.dataset.seed=99
# test_dataloader.dataset.num_samples=100`) 79.90 mm, the refsigma checkpoint 79.81 mm; on
# the held-out frames (the same without --cfg-options) 92.63 mm, refsigma 92.4 mm; recall
# (0.928 / 0.906) and MRPE (111.9 / 134.1 mm) unchanged. Log: ../../checkpoints/
# virtualpose_virtualcam-viewcube-lift-refsigma-mix_cpu.log (its last validation: the held-out
# frames).
_base_ = ['./virtualpose_virtualcam-viewcube-lift-refsigma3_cpu.py']

train_dataloader = dict(dataset=dict(seed=21, mirror_prob=0.5, part_mix_prob=0.5))
randomness = dict(seed=21)
