"""Every shipped config builds its dataset and its model, and one batch goes through.

For each full config under ``configs/`` (found by glob, so a new config is tested without
editing this file; the ``_base_`` parts are not configs of their own):

1. the config is loaded as the tools load it (``Config.fromfile`` +
   :func:`~virtualpose_mm.engine.config_checks.resolve_config_variables`);
2. its data is pointed at small copies of the real fixture data of ``tests/data`` (see
   ``tests/data/README.md``), one *feeder* per dataset type (:data:`FEEDERS`), and a few
   sizes that only make the test slow are shrunk (:func:`_shrink`, :func:`_shrink_canvas`:
   each override is listed there);
   :func:`~virtualpose_mm.engine.config_checks.check_config` then proves the edited
   config still agrees with itself (model space = data space = root targets);
3. the train dataset (the test dataset for test-only configs) and the model are built,
   two samples (of a ``CombinedDataset``: one of its first and one of its last part) go
   through ``pseudo_collate`` → ``model.data_preprocessor`` →
   ``model(..., mode='loss')`` (finite losses) and ``mode='predict'`` (``PoseDataSample``\\ s
   with ``pred_instances.keypoints`` (N, K, 3)).

Five kinds of config need more than a feeder, each said where it is done:

* "your rig" configs (``voxelpose_own_rig.py`` and its children) are put on the real
  Shelf rig: its calibration, image size and capture space, through the rig variables;
* test-only configs (MuPoTS) make no training target: the root target the loss needs is
  added before their pack transform (:func:`_add_root_target`);
* a config with a model and no data (``voxelpose_tiny_heatmap_cpu.py``) is fed Shelf
  virtual scenes sized for its model (:func:`_model_only_dataset`);
* VirtualPose stage-1 configs (image → AGR, :data:`IMAGE_TO_AGR`) are image networks
  whose prediction is the AGR in ``pred_fields``, checked instead of 3D keypoints;
* assembled VirtualPose configs (image → 3D people, :data:`IMAGE_TO_3D`) are inference
  only: no dataset and no loss (``mode='loss'`` must refuse); their test pipeline runs on
  generated images (:func:`_run_image_to_3d`).

The same estimator code runs for every dataset and camera format: nothing below tells
the model which dataset it is fed. A dataset type without a feeder fails (add one); a
model type that is not registered fails, except under ``configs/faster_voxelpose/``
while that model is being written.
"""
import copy
import functools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.structures import PoseDataSample

from virtualpose_mm.datasets.datasets.virtual.virtual_agr import load_virtualpose_pose_bank
from virtualpose_mm.engine.config_checks import check_config, resolve_config_variables
from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.geometry.camera_io import MUCO_AXIS_SWAP, load_mupots_extrinsics
from virtualpose_mm.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from tests.fixtures.dataset_files import (DATA, make_panoptic_mono, write_panoptic_mono_images,
                                          write_tiny_coco)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
#: the model of these configs may not exist yet (another change adds it)
UNDER_CONSTRUCTION = ('faster_voxelpose', )
#: image → AGR networks (VirtualPose stage 1): their prediction is 2D (``pred_fields``)
IMAGE_TO_AGR = ('VirtualPoseAGRNet', )
#: image → 3D people, inference only (the two VirtualPose stages assembled)
IMAGE_TO_3D = ('VirtualPoseImageEstimator', )

BATCH = 2               # samples per batch
SMALL_SPACE = (16, 16, 8)
SMALL_CUBE = (16, 16, 16)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# ----------------------------------------------------------------------------- overrides
def _shrink(node, notes: list, path: str = 'cfg'):
    """Sizes that only make the test slow, replaced everywhere they appear (model,
    pipelines and config variables alike, so the config stays consistent):

    * ``space_shape`` / ``root_shape`` (the root net's voxel grid, 80×80×20 or 80×80×24
      in the released configs) → 16×16×8;
    * ``cube_shape`` (the pose net's cube, 64³ or 32³) → 16³;
    * ``depth_net.deconv_channels`` / ``head_channels`` (VirtualPose's depth-estimation
      head, 256 channels at a quarter of the 960×512 canvas) → 16 (the tiny CPU config's
      values; the ResNet-18 trunk is kept);
    * a ``ResNet`` image backbone deeper than 18 → ResNet-18 (and its 2D head's input
      channels 2048 → 512).
    """
    if isinstance(node, dict):
        for key in list(node):
            val, where = node[key], f'{path}.{key}'
            if key in ('space_shape', 'root_shape') and isinstance(val, (list, tuple)) \
                    and math.prod(val) > math.prod(SMALL_SPACE):
                node[key] = SMALL_SPACE
                notes.append(f'{where}: {tuple(val)} → {SMALL_SPACE}')
            elif key == 'cube_shape' and isinstance(val, (list, tuple)) and \
                    math.prod(val) > math.prod(SMALL_CUBE):
                node[key] = SMALL_CUBE
                notes.append(f'{where}: {tuple(val)} → {SMALL_CUBE}')
            elif key == 'depth_net' and isinstance(val, dict):
                val['deconv_channels'] = (16, 16, 16)
                val['head_channels'] = 16
                notes.append(f'{where}: deconv/head channels → 16')
            elif key == 'backbone' and isinstance(val, dict) and val.get('type') == 'ResNet' \
                    and val.get('depth', 18) > 18:
                notes.append(f'{where}.depth: {val["depth"]} → 18')
                val['depth'] = 18
                head = node.get('head_2d') or node.get('head')
                if isinstance(head, dict) and head.get('in_channels') == 2048:
                    head['in_channels'] = 512
            else:
                _shrink(val, notes, where)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _shrink(v, notes, f'{path}[{i}]')


#: the network input of an image backbone (÷32) and VirtualPose's canvas (the tiny CPU
#: config's), each with heatmaps a quarter of it
SMALL_IMAGE_INPUT = (256, 128)
SMALL_AGR_CANVAS = (480, 256)


def _shrink_canvas(cfg, notes: list):
    """The network input of the models that run an image network on it, shrunk with its
    heatmaps wherever the config names them (model, letterbox, heatmap and AGR
    transforms):

    * VoxelPose with an image backbone: ``image_size`` / ``input_size`` 960×512 → 256×128,
      ``heatmap_size`` 240×128 → 64×32 (a ResNet on five 960×512 views per sample is
      most of a minute on one CPU thread);
    * VirtualPose (its depth network runs on the AGR canvas): 960×512 → 480×256,
      heatmaps 240×128 → 120×64 (the tiny CPU config's canvas);
    * VirtualPose stage 1 (a ResNet on the image canvas, the config's ``input_size``):
      960×512 → 256×128, maps 240×128 → 64×32;
    * the assembled VirtualPose (the config's ``input_size``: both stages' canvas):
      960×512 → 480×256 as stage 2, AGR 240×128 → 120×64.

    Heatmap-input VoxelPose configs keep their sizes (their cost is the voxel grids).
    """
    m = cfg.model
    if m.get('type') in IMAGE_TO_AGR:
        key, small = None, SMALL_IMAGE_INPUT
    elif m.get('type') in IMAGE_TO_3D:
        key, small = None, SMALL_AGR_CANVAS
    elif m.get('backbone'):
        key, small = 'image_size', SMALL_IMAGE_INPUT
    elif m.get('type') == 'VirtualPose':
        key, small = 'input_size', SMALL_AGR_CANVAS
    else:
        return
    big = tuple(cfg.input_size if key is None else m[key])
    if math.prod(big) <= math.prod(small):
        return
    sizes = {big: small, (big[0] // 4, big[1] // 4): (small[0] // 4, small[1] // 4)}
    notes.append(f'network input {big} → {small}, heatmaps {(big[0] // 4, big[1] // 4)} → '
                 f'{(small[0] // 4, small[1] // 4)}')

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ('image_size', 'input_size', 'heatmap_size') and \
                        isinstance(v, (list, tuple)) and tuple(v) in sizes:
                    node[k] = sizes[tuple(v)]
                else:
                    walk(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)

    walk(cfg._cfg_dict)


# ----------------------------------------------------------------------------- fixtures
@functools.lru_cache(maxsize=1)
def _vp17_bank():
    return load_virtualpose_pose_bank('builtin', 'virtualpose17')


def _vp17_people(cam: Camera, n: int, seed: int) -> np.ndarray:
    """n VirtualPose-17 poses of the builtin bank standing on the floor (z = 0) 3.5–5 m in
    front of ``cam``, side by side."""
    bank = _vp17_bank()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = bank.poses[rng.integers(len(bank))].copy()
        at = cam.camera_to_world(np.array([[(i - (n - 1) / 2) * 900.0, 0.0,
                                            3500.0 + 500 * i]]))[0]
        p[:, :2] += at[:2] - p[2, :2]
        out.append(p)
    return np.stack(out)


def _mupots_cameras(seqs=('TS1', 'TS2')):
    """The real ground-frame cameras of ``tests/data/mupots/cameras.pkl`` with MuPoTS
    intrinsics (2048² images)."""
    extr = load_mupots_extrinsics(DATA / 'mupots' / 'cameras.pkl')
    return {s: Camera(extr[s]['R'], extr[s]['t'].reshape(3), [1497.7, 1497.1],
                      [1024.7, 1051.4], None, [2048, 2048]) for s in seqs}


def _rootnet_people(cam: Camera, X: np.ndarray, joints: str):
    """(camera-frame joints, pixels) lists of people in the MuPoTS-17 (or MuCo-21) order."""
    from virtualpose_mm.datasets.joint_sets import virtualpose17_to_mupots17
    out = []
    for p in X:
        kc = virtualpose17_to_mupots17(cam.world_to_camera(p))
        ki = virtualpose17_to_mupots17(cam.project(p))
        if joints == 'muco21':  # hands and toes next to the wrists and ankles
            kc = np.concatenate([kc, kc[[4, 7, 10, 13]]])
            ki = np.concatenate([ki, ki[[4, 7, 10, 13]]])
        out.append((kc.tolist(), ki.tolist()))
    return out


def make_muco(root: Path) -> Path:
    """``MuCo-3DHP.json`` with 2 images seen by the real MuPoTS cameras (MuCo's y-up
    convention: ``R_file = R · M⁻¹``), 3 builtin-bank people each, MuCo-21 joints."""
    images, anns = [], []
    for i, cam in enumerate(_mupots_cameras().values()):
        R_file = cam.R @ MUCO_AXIS_SWAP.T
        images.append(dict(id=i, file_name=f'augmented_set/{i}_000000.jpg', width=2048,
                           height=2048, f=cam.f.tolist(), c=cam.c.tolist(),
                           R=R_file.tolist(), T=cam.t.tolist()))
        for kc, ki in _rootnet_people(cam, _vp17_people(cam, 3, i), 'muco21'):
            anns.append(dict(id=len(anns), image_id=i, keypoints_cam=kc, keypoints_img=ki,
                             keypoints_vis=[1] * 21))
    path = root / 'MuCo-3DHP.json'
    path.write_text(json.dumps(dict(images=images, annotations=anns)))
    return path


def make_mupots(root: Path) -> Path:
    """``MuPoTS-3D.json`` (TS1, TS2: one image each, 2 valid people) + the real
    ``cameras.pkl``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / 'mupots' / 'cameras.pkl', root / 'cameras.pkl')
    images, anns = [], []
    for i, (seq, cam) in enumerate(_mupots_cameras().items()):
        images.append(dict(id=i, file_name=f'{seq}/img_000000.jpg', width=2048, height=2048,
                           intrinsic=np.r_[cam.f, cam.c].tolist()))
        for kc, ki in _rootnet_people(cam, _vp17_people(cam, 2, 10 + i), 'mupots17'):
            anns.append(dict(id=len(anns), image_id=i, keypoints_cam=kc, keypoints_img=ki,
                             is_valid=1))
    (root / 'MuPoTS-3D.json').write_text(json.dumps(dict(images=images, annotations=anns)))
    return root


def make_panoptic_tree(root: Path, cameras) -> Path:
    """``<root>/160906_band1``: the real calibration and two ``coco19`` frames, with solid
    1920×1080 images for ``cameras``."""
    import cv2
    src = DATA / 'panoptic_body3d' / '160906_band1'
    seq = root / '160906_band1'
    shutil.copytree(src, seq)
    frames = [f.name[len('body3DScene_'):-len('.json')]
              for f in sorted((seq / 'hdPose3d_stage1_coco19').glob('*.json'))]
    for p, n in cameras:
        name = f'{p:02d}_{n:02d}'
        (seq / 'hdImgs' / name).mkdir(parents=True)
        for i, fr in enumerate(frames):
            cv2.imwrite(str(seq / 'hdImgs' / name / f'{name}_{fr}.jpg'),
                        np.full((1080, 1920, 3), 40 * i + n, np.uint8))
    return root


def _mview_rig(path: str):
    """The fixture rig standing in for a multi-view calibration: Campus for Campus
    configs, the real Shelf cameras for everything else (Shelf, and "your rig")."""
    if 'campus' in Path(str(path)).name:
        return DATA / 'campus' / 'calibration_campus.json', (360, 288)
    return DATA / 'shelf' / 'calibration_shelf.json', (1032, 776)


#: Shelf's capture space, the one a "your rig" config must use on the Shelf cameras
SHELF_CENTER = (450.0, -320.0, 800.0)


# ----------------------------------------------------------------------------- feeders
# One per dataset type: point the dataset config at fixture data in ``tmp`` (a few
# samples). Returns a line for the test's notes.
def feed_virtual_mview(ds: dict, tmp: Path) -> str:
    calib, size = _mview_rig(ds['calibration'])
    ds['calibration'] = str(calib)
    if ds.get('image_size') is None:
        ds['image_size'] = size
    if ds.get('pose_bank', 'builtin') != 'builtin':
        ds['pose_bank'] = str(DATA / 'mview' / 'panoptic_training_pose.pkl')
    ds['num_samples'] = BATCH
    return f'{ds["type"]}: rig {calib.name}, pose bank {ds.get("pose_bank", "builtin")}'


def feed_virtualpose_scene(ds: dict, tmp: Path) -> str:
    muco = None
    if str(ds.get('pose_bank', 'builtin')).endswith('.json'):
        muco = make_muco(tmp)
        ds['pose_bank'] = str(muco)
    cams = ds.get('cameras') or {}
    if isinstance(cams, dict) and cams.get('type') == 'FixedCameraSampler':
        muco = muco or make_muco(tmp)
        cams['calibration'] = str(muco)
    ds['num_samples'] = BATCH
    return f'{ds["type"]}: ' + ('MuCo json from the MuPoTS cameras' if muco else 'builtin')


def feed_muco(ds: dict, tmp: Path) -> str:
    make_muco(tmp)
    ds.update(data_root=str(tmp), ann_file='MuCo-3DHP.json', cache_file=None)
    return 'MuCo json from the MuPoTS cameras'


def feed_mupots(ds: dict, tmp: Path) -> str:
    root = make_mupots(tmp / 'mupots')
    ds.update(data_root=str(root), ann_file='MuPoTS-3D.json', camera_file='cameras.pkl',
              cache_file=None)
    return 'MuPoTS json on the real cameras.pkl'


def feed_panoptic_mono(ds: dict, tmp: Path) -> str:
    ann = make_panoptic_mono(tmp)
    ds.update(data_root=str(tmp), ann_file=ann.name, cameras=None, sequences=None,
              frame_interval=1)
    return 'HMOR terms of the real Panoptic fixture, converted'


def feed_panoptic_mono_images(ds: dict, tmp: Path) -> str:
    """The Panoptic-mono annotation file of :func:`feed_panoptic_mono` plus black HD images
    where it names them (image configs load them)."""
    feed_panoptic_mono(ds, tmp)
    write_panoptic_mono_images(tmp / 'panoptic_mono_hmor.pkl', tmp / ds.get('img_prefix', ''))
    return 'HMOR terms of the real Panoptic fixture, converted, black images'


def feed_panoptic(ds: dict, tmp: Path) -> str:
    make_panoptic_tree(tmp, ds['cameras'])
    ds.update(data_root=str(tmp), sequences=['160906_band1'], frame_interval=1,
              cache_file=None, show_progress=False)
    return 'the real 160906_band1 fixture, solid images'


def feed_shelf_campus(ds: dict, tmp: Path) -> str:
    case = 'campus' if 'Campus' in ds['type'] else 'shelf'
    root = tmp / case
    shutil.copytree(DATA / case, root)
    if case == 'shelf':
        shutil.copy(DATA / 'mview' / 'pred_shelf_maskrcnn_hrnet_coco.pkl', root)
    ds.update(data_root=str(root), frame_range=[(0, BATCH)])
    return f'the real {case} fixture'


def feed_coco(ds: dict, tmp: Path) -> str:
    root = tmp / 'coco'
    write_tiny_coco(str(root))
    ds.update(data_root=str(root) + '/', ann_file='annotations/person_keypoints_train2017.json',
              data_prefix=dict(img='train2017/'))
    return 'tiny COCO folder (3 generated images, 1-2 people each)'


def feed_muco_images(ds: dict, tmp: Path) -> str:
    """MuCo json of :func:`make_muco` plus black images where the json names them (image
    configs load them)."""
    import cv2
    feed_muco(ds, tmp)
    ann = json.loads((tmp / 'MuCo-3DHP.json').read_text())
    prefix = (ds.get('data_prefix') or {}).get('img', 'images/')
    for im in ann['images']:
        f = tmp / prefix / im['file_name']
        f.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(f), np.zeros((im['height'], im['width'], 3), np.uint8))
    return 'MuCo json from the MuPoTS cameras, black images'


def feed_combined(ds: dict, tmp: Path) -> str:
    """Each sub-dataset of MMPose's ``CombinedDataset`` by its own feeder (MuCo and
    Panoptic-mono with images: the combined datasets here are image datasets)."""
    with_images = {'MuCo3DHPDataset': feed_muco_images,
                   'PanopticMonoDataset': feed_panoptic_mono_images}
    notes = []
    for i, sub in enumerate(ds['datasets']):
        feeder = with_images.get(sub['type']) or FEEDERS[sub['type']]
        (tmp / f'part{i}').mkdir()
        notes.append(feeder(sub, tmp / f'part{i}'))
    return 'CombinedDataset of: ' + '; '.join(notes)


def feed_concat(ds: dict, tmp: Path) -> str:
    """Each sub-dataset of mmengine's ``ConcatDataset`` by its own feeder (the
    Faster-VoxelPose stage-7 config mixes two kinds of virtual scenes)."""
    notes = []
    for i, sub in enumerate(ds['datasets']):
        (tmp / f'part{i}').mkdir()
        notes.append(FEEDERS[sub['type']](sub, tmp / f'part{i}'))
    return 'ConcatDataset of: ' + '; '.join(notes)


FEEDERS = {
    'ConcatDataset': feed_concat,
    'CocoDataset': feed_coco,
    'CombinedDataset': feed_combined,
    'VirtualMviewSceneDataset': feed_virtual_mview,
    'VirtualPoseSceneDataset': feed_virtualpose_scene,
    'MuCo3DHPDataset': feed_muco,
    'MuPoTS3DDataset': feed_mupots,
    'PanopticMonoDataset': feed_panoptic_mono,
    'Body3DMviewDirectPanopticDataset': feed_panoptic,
    'Body3DMviewDirectShelfDataset': feed_shelf_campus,
    'Body3DMviewDirectCampusDataset': feed_shelf_campus,
}


def _model_only_dataset(cfg) -> dict:
    """A config with a model and no data (``voxelpose_tiny_heatmap_cpu.py``: its users
    bring their own data) is fed what the Shelf configs are fed, sized for its model:
    virtual scenes through the real Shelf cameras, heatmaps of ``model.image_size`` / 4."""
    m = cfg.model
    w, h = m.image_size
    space = dict(space_size=tuple(m.root_net.space_size),
                 space_center=tuple(m.root_net.space_center))
    pipeline = [
        dict(type='ProjectKeypoints3D'),
        dict(type='MultiViewLetterbox', input_size=(w, h), drop_outside=True),
        dict(type='GenerateMultiViewHeatmaps', heatmap_size=(w // 4, h // 4), sigma=2.0),
        dict(type='GenerateRootTarget3D', space_shape=tuple(m.root_net.space_shape),
             root_joints=tuple(m.root_joints), **space),
        dict(type='PackMultiViewPoseInputs', inputs_key='input_heatmaps')]
    return dict(type='VirtualMviewSceneDataset', calibration='calibration_shelf.json',
                joint_set='coco17', pose_bank='builtin', num_people=(1, 3), seed=0,
                pipeline=pipeline, **space)


def _add_root_target(ds: dict, cfg) -> str:
    """A test-only config's pipeline makes no training target; the loss needs the root
    target, added before the pack transform as the training configs make it (the model's
    capture space and root joints)."""
    r = cfg.model['root_net']
    joints = cfg.model.get('root_joints', cfg.model.get('root_index'))
    target = dict(type='GenerateRootTarget3D', space_size=tuple(r['space_size']),
                  space_center=tuple(r['space_center']),
                  space_shape=tuple(r['space_shape']), root_joints=joints)
    pipe = list(ds['pipeline'])
    ds['pipeline'] = pipe[:-1] + [target] + pipe[-1:]
    return 'test-only config: root target added for the loss'


# ----------------------------------------------------------------------------- checks
def _unregistered(cfg) -> list:
    """The dataset, transform and metric types the config names that are not
    registered (empty: all are)."""
    missing = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = (cfg.get(key) or {}).get('dataset') or {}
        if ds and DATASETS.get(ds['type']) is None:
            missing.append(f'{key}.dataset.type={ds["type"]}')
        for t in ds.get('pipeline') or []:
            if isinstance(t, dict) and TRANSFORMS.get(t['type']) is None:
                missing.append(f'{key} transform {t["type"]}')
    for key in ('val_evaluator', 'test_evaluator'):
        ev = cfg.get(key) or []
        for m in ev if isinstance(ev, (list, tuple)) else [ev]:
            if m and METRICS.get(m['type']) is None:
                missing.append(f'{key}.type={m["type"]}')
    return missing


def _not_finite(losses: dict) -> list:
    """The loss entries holding NaN or infinite values."""
    bad = []
    for k, v in losses.items():
        for t in v if isinstance(v, (list, tuple)) else [v]:
            if not torch.isfinite(torch.as_tensor(t)).all():
                bad.append(k)
    return bad


def _run_image_to_3d(cfg, path, tmp: Path, notes: list) -> None:
    """An assembled (inference-only) config: ``mode='loss'`` refuses; two generated images
    of different sizes go through its ``test_pipeline`` (with the assumed level camera of
    ``inference_monocular``) and ``mode='predict'``."""
    import cv2
    from virtualpose_mm.apis.inference_monocular import monocular_camera
    from mmengine.dataset import Compose
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    rn = model.stage2.root_net
    items = []
    for i, (w, h) in enumerate(((640, 480), (300, 400))):
        f = tmp / f'img{i}.jpg'
        cv2.imwrite(str(f), np.random.default_rng(i).integers(0, 255, (h, w, 3), np.uint8))
        cam, _ = monocular_camera(None, (w, h), space_size=rn.space_size,
                                  space_center=rn.space_center)
        items.append(Compose(cfg.test_pipeline)(dict(img_path=str(f), camera=cam.to_dict(),
                                                     sample_idx=i)))
    batch = pseudo_collate(items)
    model.train()
    with pytest.raises(RuntimeError, match='trained separately'):
        model(**model.data_preprocessor(copy.deepcopy(batch), training=True), mode='loss')
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(batch, training=False), mode='predict')
    assert len(out) == BATCH
    K = model.stage2.num_joints
    for s in out:
        kp = torch.as_tensor(s.pred_instances.keypoints)
        assert kp.ndim == 3 and tuple(kp.shape[1:]) == (K, 3), (tuple(kp.shape), notes)
        assert torch.isfinite(kp).all(), (_rel(path), notes)


@pytest.mark.parametrize('path', CONFIGS, ids=[_rel(p) for p in CONFIGS])
def test_config_builds_and_runs_one_batch(path, tmp_path):
    init_default_scope('mmpose')
    cfg = Config.fromfile(str(path))
    if MODELS.get(cfg.model['type']) is None and \
            any(part in UNDER_CONSTRUCTION for part in path.parts):
        pytest.skip(f'{_rel(path)}: model type {cfg.model["type"]} is not registered yet')
    assert MODELS.get(cfg.model['type']) is not None, \
        f'{_rel(path)}: model type {cfg.model["type"]} is not registered'
    # "your rig" configs: the rig variables, set before the '${name}' placeholders resolve
    if cfg.get('calibration') is not None and cfg.get('space_center') is not None:
        calib, size = _mview_rig(cfg.calibration)
        cfg.calibration, cfg.space_center = str(calib), SHELF_CENTER
        if cfg.get('image_size') is None:
            cfg.image_size = size
    resolve_config_variables(cfg)
    missing = _unregistered(cfg)
    assert not missing, f'{_rel(path)}: not registered: {missing}'

    notes = []
    _shrink(cfg._cfg_dict, notes)
    _shrink_canvas(cfg, notes)
    if cfg.model['type'] in IMAGE_TO_3D:
        return _run_image_to_3d(cfg, path, tmp_path, notes)
    loader = cfg.get('train_dataloader') or cfg.get('test_dataloader')
    if loader:
        ds_cfg = loader['dataset']
    else:
        ds_cfg = _model_only_dataset(cfg)
        notes.append('no dataloader in the config: fed Shelf virtual scenes')
    assert ds_cfg['type'] in FEEDERS, \
        f'{_rel(path)}: no fixture feeder for dataset type {ds_cfg["type"]}: add one'
    notes.append(FEEDERS[ds_cfg['type']](ds_cfg, tmp_path))
    if loader:
        check_config(cfg, _rel(path), mode='train' if cfg.get('train_dataloader') else 'test')
    if not cfg.get('train_dataloader'):
        notes.append(_add_root_target(ds_cfg, cfg))

    dataset = DATASETS.build(ds_cfg)
    assert len(dataset) >= BATCH, notes
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # a CombinedDataset: the first sample of its first part and the last of its last, so
    # that every part's pipeline reaches the model
    idx = [0, len(dataset) - 1] if ds_cfg['type'] == 'CombinedDataset' else range(BATCH)
    batch = pseudo_collate([dataset[i] for i in idx])
    test_batch = copy.deepcopy(batch)  # the data preprocessor marks the samples it stacks

    model.train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    bad = _not_finite(losses)
    assert losses and not bad, f'{_rel(path)}: losses {bad} are not finite ({notes})'
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(test_batch, training=False), mode='predict')
    assert len(out) == BATCH
    if cfg.model['type'] in IMAGE_TO_AGR:
        # VirtualPose stage 1: an image network; its prediction is the AGR (per-joint
        # heatmaps + 4-channel box map at a quarter of the canvas), not 3D people
        K = cfg.model['head']['out_channels']
        for s in out:
            hm, box = s.pred_fields.heatmaps, s.pred_fields.box_map
            assert hm.shape[0] == K and box.shape[0] == 4 and hm.shape[1:] == box.shape[1:]
            assert torch.isfinite(torch.as_tensor(hm)).all()
        return
    K = cfg.model['num_joints']
    for s in out:
        assert isinstance(s, PoseDataSample), type(s)
        kp = torch.as_tensor(s.pred_instances.keypoints)
        assert kp.ndim == 3 and tuple(kp.shape[1:]) == (K, 3), (tuple(kp.shape), notes)
