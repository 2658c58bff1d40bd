# VirtualPose stage 2 for MuPoTS-3D in the RELEASED setting (FIX_CAMERA: True,
# RANDOM_PLACE: True of configs/muco/synthesize_full.yaml): every sample uses the real
# camera of a MuCo-3DHP image (in turn) and 4 MuCo poses drawn without replacement,
# placed uniformly in ±2 m around the MuCo world origin, ≥ 600 mm apart, random yaw,
# heights of the MuCo world; the AGR has the reference's training noise.
# Differences from the reference: people are kept in front of the camera
# (min_root_depth) and a frame where nobody's root is in the image is re-drawn (the
# reference trains on it too).
_base_ = ['./virtualpose_virtualcam_muco-mupots.py']

muco_root = 'data/MuCo-3DHP/'
train_dataloader = dict(
    dataset=dict(
        pose_bank=muco_root + 'MuCo-3DHP.json', muco_floor='world',
        cameras=dict(_delete_=True, type='FixedCameraSampler',
                     calibration=muco_root + 'MuCo-3DHP.json', choice='cycle'),
        num_people=(4, 4), replace=False,
        placement_area=((-2000.0, 2000.0), (-2000.0, 2000.0)), scene_center=(0.0, 0.0),
        min_spacing=600.0, person_in_view=False))
