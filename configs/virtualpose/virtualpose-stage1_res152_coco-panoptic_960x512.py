# VirtualPose stage 1 (the AGR network: 2D joint heatmaps + box map) trained on COCO and
# CMU Panoptic images (HMOR split), the published Panoptic setting of wkom/VirtualPose:
# configs/coco/backbone_res152_mix_panoptic.yaml with core/config.py's defaults, data from
# dataset/coco.py, dataset/panoptic.py and dataset/mixed.py. That yaml is the MuCo one
# (configs/coco/backbone_res152_mix_muco.yaml) with three lines changed: NUM_JOINTS 15,
# TRAIN_DATASET ['coco', 'panoptic'], TRAIN_ROOT data/panoptic-toolbox/data_hmor/. So this
# config is a child of virtualpose-stage1_res152_coco-muco_960x512.py and keeps from it:
#
# * ResNet-152 + SimpleBaseline deconvolutions (3 × 256, 4×4) + box branch, initialised
#   from SimpleBaselines' pose_resnet_152_384x288.pth.tar (NETWORK.PRETRAINED_BACKBONE;
#   `simplebaseline_checkpoint`);
# * 960×512 letterboxed canvas → 240×128 maps, person-size σ (3 px at the reference size,
#   DATASET.HEATMAP.SIGMA / SIGMA_SCALE), boxes grown (25 %, 12 %), no augmentation
#   (DATASET.DATA_AUGMENTATION False);
# * losses 10000 · heatmap MSE + 0.1 · box L1 at the GT roots (DEPTH_WEIGHT 0);
# * flip training and flip test (TRAIN.FLIP, TEST.FLIP); Panoptic-15's left/right pairs
#   (3, 9) … (8, 14) are VirtualPose-17's, the head's default flip_pairs;
# * Adam, lr 1e-4 constant, 40 epochs × 2000 iterations (MAX_SAMPLE 24000 // BATCH_SIZE
#   12) of 12 images per GPU on 2 GPUs (tools/dist_train.sh CONFIG 2), a checkpoint every
#   2 epochs (SAVE_EPOCH); no evaluation during training (TEST.NEED False).
#
# and changes:
#
# * Panoptic-15 joints (NUM_JOINTS 15; the VoxelPose / HMOR order: neck, nose, mid-hip,
#   left arm, left leg, right arm, right leg; root = mid-hip, DATASET.ROOTIDX 2): 15 heatmap
#   channels;
# * COCO person_keypoints_train2017 (bottom-up: all people of an image, annotated boxes
#   padded 1.25×, the reference's process_bbox) with COCO-17 → Panoptic-15 targets
#   (virtualpose_mm.datasets.joint_sets.coco17_to_panoptic15_2d: neck = mid-shoulder,
#   mid-hip = mean of the hips, each visible when both sources are; the other joints by
#   name). Deviation: the reference calls Panoptic joint 1 'headtop' and leaves it out of
#   the COCO targets; in the Panoptic annotation it is the nose, trained here from COCO's;
# * CMU Panoptic, the HMOR training split of all HD views (TRAIN_VIEW [] in the
#   reference: its train_cam.pkl; here the 'train' split of the file that
#   tools/dataset_converters/panoptic_mono_hmor.py makes, see
#   _base_/panoptic_mono_test_data.py): the world joints projected through each frame's
#   camera; a joint is a target when HMOR marks it visible and it falls inside the image
#   (the reference's Panoptic _get_db check, `inside_image=True`) and the canvas; boxes
#   from the visible joints grown (25 %, 12 %). Deviation: the lens distortion of the
#   Panoptic calibration is kept (the images are not undistorted); the reference projects
#   without it (use_distortion=False reproduces that);
# * the mix (dataset/mixed.py): the smaller set is repeated round(N_large / N_small) times
#   and appended to the larger. Set `sample_ratio_factor` to that factor for your copies
#   ([k, 1.0] when COCO is the smaller, [1.0, k] when Panoptic is); unset here (plain
#   concatenation) because it depends on the files.
#
# Data (data/README.md): data/coco/annotations/person_keypoints_train2017.json +
# train2017/, and data/panoptic-toolbox/panoptic_mono_hmor.pkl + the Panoptic HD images
# under data/panoptic-toolbox/data/. The parent's MuCo variables (muco_root,
# muco_pipeline) are inherited and unused.
# Inference from one image with the Panoptic stage 2: virtualpose_image_res152_panoptic.py.
_base_ = ['./virtualpose-stage1_res152_coco-muco_960x512.py']

num_joints = 15
joint_set = 'panoptic15'
input_size = (960, 512)
heatmap_size = (240, 128)
coco_root = 'data/coco/'
panoptic_root = 'data/panoptic-toolbox/'
sample_ratio_factor = None

model = dict(head=dict(out_channels=num_joints))

target_cfg = dict(input_size=input_size, heatmap_size=heatmap_size, joint_set=joint_set,
                  root_index=2, base_sigma=3.0, bbox_extension=(0.25, 0.12))
coco_pipeline = [
    dict(type='LoadImage'),
    dict(type='LetterboxImage', input_size=input_size),
    dict(type='GenerateAGRTargets', source_joint_set='coco17', bbox_source='annotation',
         bbox_padding=1.25, **target_cfg),
]
panoptic_pipeline = [
    dict(type='LoadImage'),
    dict(type='LetterboxImage', input_size=input_size),
    dict(type='GenerateAGRTargets', source='keypoints_3d', bbox_source='keypoints',
         inside_image=True, **target_cfg),
]
train_dataloader = dict(
    dataset=dict(
        sample_ratio_factor=sample_ratio_factor,
        datasets=[
            dict(type='CocoDataset', data_root=coco_root, data_mode='bottomup',
                 ann_file='annotations/person_keypoints_train2017.json',
                 data_prefix=dict(img='train2017/'), pipeline=coco_pipeline),
            dict(type='PanopticMonoDataset', data_root=panoptic_root,
                 ann_file='panoptic_mono_hmor.pkl', img_prefix='data/', split='train',
                 joint_set=joint_set, pipeline=panoptic_pipeline),
        ]))
