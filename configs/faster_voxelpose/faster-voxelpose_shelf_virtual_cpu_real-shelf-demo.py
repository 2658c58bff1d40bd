# The Faster-VoxelPose Shelf-rig checkpoint (./faster-voxelpose_shelf_virtual_cpu.py, trained
# on virtual scenes only) tested on REAL Shelf frames: the three frames of data/demo/shelf
# (2D detections of the five cameras, Mask R-CNN + HRNet, and the Shelf ground truth),
# scored with the Shelf PCP metric. Used by `make demo`:
#   python tools/test.py \
#       configs/faster_voxelpose/faster-voxelpose_shelf_virtual_cpu_real-shelf-demo.py \
#       checkpoints/faster-voxelpose_shelf_virtual_cpu.pth
# For the published test frames (300-600) of the full dataset set data_root and
# frame_range.
_base_ = ['./faster-voxelpose_shelf_virtual_cpu.py']

real_shelf_root = 'data/demo/shelf'
test_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=0,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type='Body3DMviewDirectShelfDataset', data_root=real_shelf_root,
                 frame_range=[(0, 2)], test_mode=True, show_progress=False,
                 pipeline='${inference_pipeline}'))
test_evaluator = dict(_delete_=True, type='ShelfCampusPCPMetric', dataset='shelf',
                      actors_gt_file=real_shelf_root + '/actorsGT.mat')
