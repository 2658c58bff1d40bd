# VirtualPose stage 2 for CMU Panoptic in the RELEASED setting (FIX_CAMERA: True,
# RANDOM_PLACE: False of configs/panoptic/synthesize_full.yaml): the AGR is rendered from
# the GT poses of every HMOR training frame through that frame's real camera (no images),
# with the reference's training noise; lens distortion is ignored as the reference does.
_base_ = ['./virtualpose_virtualcam_panoptic.py']

panoptic_root = 'data/panoptic-toolbox/'
train_dataloader = dict(
    dataset=dict(_delete_=True, type='PanopticMonoDataset', data_root=panoptic_root,
                 ann_file='panoptic_mono_hmor.pkl', img_prefix='data/', split='train',
                 joint_set='panoptic15', use_distortion=False,
                 pipeline={{_base_.train_pipeline}}))
