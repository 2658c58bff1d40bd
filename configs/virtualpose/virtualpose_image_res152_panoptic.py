# VirtualPose from ONE image for CMU Panoptic (inference only): stage 1 = the AGR network
# of virtualpose-stage1_res152_coco-panoptic_960x512.py (ResNet-152 + deconvolutions + box
# branch, 15 Panoptic joint heatmaps, flip test) and stage 2 = the root net + pose net of
# virtualpose_virtualcam_panoptic.py (Panoptic-15, capture space centred at
# (0, -500, 800) mm), assembled in a VirtualPoseImageEstimator, as wkom/VirtualPose's
# MultiPersonPoseNet runs at test time (configs/panoptic/synthesize_full_inference.yaml).
#
# Weights: an official FULL VirtualPose Panoptic checkpoint (backbone.* + REN.* + PEN.*,
# converted on the fly by init_model), our own assembled checkpoint (agr_net.* +
# stage2.*), or two separate checkpoints through
# virtualpose_mm.models.utils.virtualpose_image_converter.load_virtualpose_image_checkpoint
# (stage1=..., stage2=...). The stages are trained with their own configs (named above);
# this model has no loss.
#
#   python demo/body3d_monocular_img_demo.py \
#       configs/virtualpose/virtualpose_image_res152_panoptic.py VIRTUALPOSE_PANOPTIC.pth \
#       --img frame.jpg --out-dir out/
#
# Inference pipeline (test_pipeline; the camera of the frame comes from the caller, e.g.
# virtualpose_mm.apis.inference_monocular): LoadImage → LetterboxImage to stage 2's canvas
# → PackVirtualPoseInputs(inputs_key='img'); the data preprocessor normalises the uint8
# BGR canvas as stage 1 was trained (BGR → RGB, ImageNet mean / std).
#
# Stage 2's config is the base (its `model` is taken whole); its data, training and
# evaluation settings are switched off below.
_base_ = ['./virtualpose_virtualcam_panoptic.py']

# the canvas of both stages (stage 2's input_size) and the AGR, a quarter of it
input_size = (960, 512)
heatmap_size = (240, 128)

model = dict(
    _delete_=True,
    type='VirtualPoseImageEstimator',
    data_preprocessor=dict(type='MultiViewDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    # = the `model` of virtualpose-stage1_res152_coco-panoptic_960x512.py without its
    # SimpleBaselines initialisation (the trained weights come from the checkpoint);
    # tests/test_models/test_virtualpose_image.py checks that the two stay the same
    agr_net=dict(
        type='VirtualPoseAGRNet',
        data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(type='ResNet', depth=152, out_indices=(3, )),
        head=dict(type='VirtualPoseAGRHead', in_channels=2048, out_channels=15,
                  deconv_out_channels=(256, 256, 256), deconv_kernel_sizes=(4, 4, 4),
                  box_channels=256, heatmap_loss_weight=10000.0, box_loss_weight=0.1,
                  flip_box=True),
        train_cfg=dict(flip_train=True),
        test_cfg=dict(flip_test=True),
        simplebaseline_checkpoint=None),
    stage2={{_base_.model}})

test_pipeline = [
    dict(type='LoadImage'),
    dict(type='LetterboxImage', input_size=input_size),
    dict(type='PackVirtualPoseInputs', inputs_key='img'),
]

train_pipeline = None
train_dataloader = None
train_cfg = None
optim_wrapper = None
auto_scale_lr = None
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
default_hooks = dict(checkpoint=dict(_delete_=True, type='CheckpointHook', interval=1))
