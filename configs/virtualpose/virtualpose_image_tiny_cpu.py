# A tiny assembled VirtualPose (image → absolute 3D poses, inference only) for CPU smoke
# tests: the tiny stage 1 of virtualpose-stage1_tiny_cpu.py (ResNet-18, 32-channel
# deconvolutions, flip test) on the canvas of the tiny stage 2 of virtualpose_tiny_cpu.py
# (480×256 → 120×64 AGR; the stage-1 network is fully convolutional, so the canvas is
# set by LetterboxImage and stage 2's input_size). Not meant to be accurate. The released
# sizes: virtualpose_image_res152_muco-mupots.py.
_base_ = ['./virtualpose_tiny_cpu.py']

# the canvas of both stages (= stage 2's input_size of virtualpose_tiny_cpu.py), AGR ÷ 4
input_size = (480, 256)
heatmap_size = (120, 64)

model = dict(
    _delete_=True,
    type='VirtualPoseImageEstimator',
    data_preprocessor=dict(type='MultiViewDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    # = the `model` of virtualpose-stage1_tiny_cpu.py (checked by
    # tests/test_models/test_virtualpose_image.py)
    agr_net=dict(
        type='VirtualPoseAGRNet',
        data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
        head=dict(type='VirtualPoseAGRHead', in_channels=512, out_channels=17,
                  deconv_out_channels=(32, 32, 32), deconv_kernel_sizes=(4, 4, 4),
                  box_channels=32),
        train_cfg=dict(flip_train=True),
        test_cfg=dict(flip_test=True)),
    stage2={{_base_.model}})

test_pipeline = [
    dict(type='LoadImage'),
    dict(type='LetterboxImage', input_size=input_size),
    dict(type='PackVirtualPoseInputs', inputs_key='img'),
]

# inference only: the tiny stages train with their own configs
train_pipeline = None
train_dataloader = None
train_cfg = None
optim_wrapper = None
