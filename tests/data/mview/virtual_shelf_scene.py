# A virtual-scene dataset on the real Shelf rig (for tests of the dataset and of
# tools/misc/render_virtual_scene.py). Reference Shelf placement: roots in
# x ∈ [-1000, 2000], y ∈ [-1600, 1600] mm, 1–5 people, no view requirement.
custom_imports = dict(imports=['virtualpose_mm'], allow_failed_imports=False)
default_scope = 'mmpose'

space = dict(space_size=(8000, 8000, 2000), space_center=(450, -320, 800))
train_pipeline = [
    dict(type='ProjectKeypoints3D'),
    dict(type='SimulateHeatmapNoise'),
    dict(type='MultiViewLetterbox', input_size=(800, 608)),
    dict(type='GenerateMultiViewHeatmaps', heatmap_size=(200, 152)),
    dict(type='GenerateRootTarget3D', space_shape=(80, 80, 20), **space),
    dict(type='PackMultiViewPoseInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='VirtualMviewSceneDataset',
        calibration='{{ fileDirname }}/../shelf/calibration_shelf.json',
        image_size=(1032, 776),
        num_samples=8,
        seed=0,
        num_people=(1, 5),
        placement_area=((-1000, 2000), (-1600, 1600)),
        min_views=0,
        pipeline=train_pipeline,
        **space))
