# VirtualPose stage 1 (the AGR network: 2D joint heatmaps + box map) trained on COCO and
# MuCo-3DHP images, the published setting of wkom/VirtualPose
# (configs/coco/backbone_res152_mix_muco.yaml with core/config.py's defaults):
#
# * ResNet-152 + SimpleBaseline deconvolutions (3 × 256, 4×4) + box branch, initialised
#   from SimpleBaselines' pose_resnet_152_384x288.pth.tar (NETWORK.PRETRAINED_BACKBONE;
#   put it under models/ or change `simplebaseline_checkpoint`, None trains from the
#   ImageNet-less random init);
# * 960×512 letterboxed canvas → 240×128 maps, 17 VirtualPose joints, person-size σ (3 px
#   at the reference size), boxes grown (25 %, 12 %);
# * losses 10000 · heatmap MSE (per-image joint weights) + 0.1 · box L1 at the GT roots
#   (LOSS.HEATMAP_WEIGHT, LOSS.BBOX_WEIGHT; DEPTH_WEIGHT 0: no depth head is built);
# * flip training (TRAIN.FLIP) and flip test (TEST.FLIP);
# * Adam, lr 1e-4 constant, 40 epochs of MAX_SAMPLE 24000 samples at BATCH_SIZE 12 per
#   iteration and GPU on 2 GPUs (the reference counts iterations as MAX_SAMPLE //
#   BATCH_SIZE = 2000 per epoch, each of 12 × 2 images): 80000 iterations of 12 images per
#   GPU, on 2 GPUs (tools/dist_train.sh CONFIG 2); a checkpoint every 2 epochs (SAVE_EPOCH).
#
# Data (data/README.md): data/coco/annotations/person_keypoints_train2017.json +
# train2017/, and data/MuCo-3DHP/MuCo-3DHP.json + images/. The reference mixes the two by
# repeating the smaller set round(N_large / N_small) times (dataset/mixed.py); set
# `sample_ratio_factor` below to that factor for your copies (e.g. [k, 1.0] when COCO is
# the smaller), left unset here (plain concatenation) because it depends on the files.
# No evaluation runs during training (TEST.NEED False in the reference).
_base_ = ['../_base_/default_runtime.py']

num_joints = 17
input_size = (960, 512)
heatmap_size = (240, 128)
coco_root = 'data/coco/'
muco_root = 'data/MuCo-3DHP/'
simplebaseline_checkpoint = 'models/pose_resnet_152_384x288.pth.tar'
sample_ratio_factor = None

model = dict(
    type='VirtualPoseAGRNet',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=152, out_indices=(3, )),
    head=dict(type='VirtualPoseAGRHead', in_channels=2048, out_channels=num_joints,
              deconv_out_channels=(256, 256, 256), deconv_kernel_sizes=(4, 4, 4),
              box_channels=256, heatmap_loss_weight=10000.0, box_loss_weight=0.1,
              flip_box=True),
    train_cfg=dict(flip_train=True),
    test_cfg=dict(flip_test=True),
    simplebaseline_checkpoint=simplebaseline_checkpoint)

target_cfg = dict(input_size=input_size, heatmap_size=heatmap_size, joint_set='virtualpose17',
                  root_index=2, base_sigma=3.0, bbox_extension=(0.25, 0.12))
coco_pipeline = [
    dict(type='LoadImage'),
    dict(type='LetterboxImage', input_size=input_size),
    dict(type='GenerateAGRTargets', source_joint_set='coco17', bbox_source='annotation',
         bbox_padding=1.25, **target_cfg),
]
muco_pipeline = [
    dict(type='LoadImage'),
    dict(type='LetterboxImage', input_size=input_size),
    dict(type='GenerateAGRTargets', source='keypoints_3d', bbox_source='keypoints',
         **target_cfg),
]
pack_pipeline = [
    dict(type='PackPoseInputs', pack_transformed=True,
         meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape', 'input_size',
                    'affine', 'heatmap_size', 'dataset_name')),
]
train_dataloader = dict(
    batch_size=12, num_workers=8, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='CombinedDataset',
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        sample_ratio_factor=sample_ratio_factor,
        datasets=[
            dict(type='CocoDataset', data_root=coco_root, data_mode='bottomup',
                 ann_file='annotations/person_keypoints_train2017.json',
                 data_prefix=dict(img='train2017/'), pipeline=coco_pipeline),
            dict(type='MuCo3DHPDataset', data_root=muco_root, ann_file='MuCo-3DHP.json',
                 img_prefix='images', pipeline=muco_pipeline),
        ],
        pipeline=pack_pipeline))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=40 * 2000)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=4000, by_epoch=False, max_keep_ckpts=5))
log_processor = dict(by_epoch=False)
visualizer = dict(_delete_=True, type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
auto_scale_lr = dict(enable=False, base_batch_size=24)
