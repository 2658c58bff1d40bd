# Inference / evaluation of VirtualPose stage 2 on MuPoTS-3D with the sound protocol:
# test-time proposals are people iff their score exceeds the threshold
# (gt_proposal_filter=False), the world is the sequence's ground frame
# (ground_center_on_gt=False). See _base_/mupots_test_data.py for the data and why the
# AGR is rendered from the GT here.
#   python tools/test.py configs/virtualpose/virtualpose_mupots_test.py CHECKPOINT
_base_ = ['../_base_/default_runtime.py', './_base_/virtualpose_model.py',
          './_base_/mupots_test_data.py']

model = dict(gt_proposal_filter=False)
train_dataloader = None
train_cfg = None
optim_wrapper = None
