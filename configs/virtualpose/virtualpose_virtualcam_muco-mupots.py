# VirtualPose stage 2 trained on virtual data for MuPoTS-3D, with VIRTUAL CAMERAS (the
# paper's setting, absent from the released code): every sample draws a camera from
# VirtualCameraSampler (defaults span the MuPoTS rigs: 0.5–3 m high, 2.5–6 m from the
# scene centre, pitched 0–35° down, roll ±7°, f 1200–1800 px, 2048² or 1920×1080 images)
# and puts 1–5 MuCo-3DHP poses on the floor in front of it (min 600 mm apart, random
# yaw); the AGR is rendered with the reference's training noise.
#
# Pose source: the 17-joint MuCo-3DHP poses (same joint definitions as MuPoTS). Without
# MuCo, use pose_bank='builtin' (the CMU mocap bank shipped with the package; its neck,
# spine, head and head top are made from COCO joints, see coco17_to_virtualpose17).
# Evaluation: MuPoTS-3D (see _base_/mupots_test_data.py).
_base_ = ['../_base_/default_runtime.py', './_base_/virtualpose_model.py',
          './_base_/mupots_test_data.py']

muco_root = 'data/MuCo-3DHP/'
input_size = (960, 512)
heatmap_size = (240, 128)
space_size = (8000.0, 8000.0, 2400.0)
space_center = (0.0, 0.0, 1100.0)
space_shape = (80, 80, 24)

train_pipeline = [
    dict(type='GenerateVirtualPoseAGR', input_size=input_size, heatmap_size=heatmap_size,
         joint_set='virtualpose17', noise=True),
    dict(type='GenerateRootTarget3D', space_size=space_size, space_center=space_center,
         space_shape=space_shape, root_joints=2),
    dict(type='PackVirtualPoseInputs'),
]
train_dataloader = dict(
    batch_size=6, num_workers=6, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='VirtualPoseSceneDataset',
        pose_bank=muco_root + 'MuCo-3DHP.json', muco_floor='ankle',
        joint_set='virtualpose17',
        cameras=dict(type='VirtualCameraSampler', scene_center=(0.0, 0.0)),
        num_samples=12000, seed=0, num_people=(1, 5), replace=True,
        yaw_range=(-180.0, 180.0), placement_area=((-3000.0, 3000.0), (-3000.0, 3000.0)),
        scene_center=(0.0, 0.0), min_spacing=600.0, min_root_depth=1000.0,
        person_in_view=True, pipeline=train_pipeline))

# the reference: Adam, lr 1e-4, 20 epochs of 12000 samples, batch 6
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
auto_scale_lr = dict(base_batch_size=6)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                                     save_best='mupots/all_absolute/PCK', rule='greater'))
