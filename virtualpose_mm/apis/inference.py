"""Inference API for the multi-view models: build a model from a config and a checkpoint,
run it on one frame of synchronized views (images or per-view 2D detections), iterate over
a folder of synchronized views.

    from virtualpose_mm.apis import init_model, inference_multiview
    model = init_model('configs/voxelpose/voxelpose_shelf_virtual_cpu.py',
                       'checkpoints/voxelpose_shelf_virtual_cpu.pth')
    cams = load_cameras('data/demo/shelf/calibration_shelf.json', image_size=(1032, 776))
    sample = inference_multiview(model, [kpts_view0, ..., kpts_view4], cams)
    sample.pred_instances.keypoints      # (N, K, 3) world mm

Checkpoints: our own (mmengine ``{'state_dict': ...}``), and VoxelPose checkpoints of
voxelpose-pytorch and MMPose 0.x, converted on the fly (a log line says so; convert once
with ``tools/convert_voxelpose_checkpoint.py`` to skip that).
"""
from __future__ import annotations

import copy
import os
import os.path as osp
from collections import OrderedDict
from typing import Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import init_default_scope

from ..geometry.camera import Camera, CameraError
from ..geometry.camera_io import load_cameras, stack_cameras

__all__ = ['init_model', 'inference_multiview', 'iter_multiview_frames', 'load_rig',
           'InferenceError', 'IMAGE_EXTENSIONS']

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')

#: transforms that need ground truth; an inference pipeline cannot contain them
_GT_TRANSFORMS = ('ProjectKeypoints3D', 'SimulateHeatmapNoise', 'GenerateRootTarget3D')


class InferenceError(ValueError):
    """Inputs the model cannot run on; the message names the input and what is wrong."""


def load_config(config, cfg_options: Optional[dict] = None) -> Config:
    """Read a config as :func:`init_model` reads it.

    Args:
        config: a config file path or an mmengine ``Config`` (deep-copied, never changed).
        cfg_options: overrides merged into it (``--cfg-options`` style keys).

    Returns:
        the ``Config`` with its variables (``image_size``, ``num_views``...) resolved, so a
        caller can read them and pass the same object on to :func:`init_model`.

    Raises:
        FileNotFoundError: a config path that is not a file.
        TypeError: anything else than a path or a ``Config``.
        ConfigError: a ``'${name}'`` placeholder that cannot be resolved (the message
            names the config file and the key).
    """
    from ..engine.config_checks import resolve_config_variables
    if isinstance(config, (str, os.PathLike)):
        if not osp.isfile(config):
            raise FileNotFoundError(f'{config}: config file not found')
        cfg = Config.fromfile(os.fspath(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a path or an mmengine Config, got '
                        f'{type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    resolve_config_variables(cfg)
    return cfg


def _dataset_meta(cfg: Config, model) -> dict:
    """MMPose dataset metainfo for the model's joint set (skeleton, names)."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    from ..datasets.joint_sets import to_mmpose_metainfo
    num = getattr(model, 'num_joints', None)
    joint_set = None
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        ds = cfg.get(key, {}).get('dataset', {}) if cfg.get(key) else {}
        joint_set = ds.get('joint_set') if isinstance(ds, Mapping) else None
        if joint_set:
            break
    if joint_set is None:
        joint_set = {17: 'coco17', 15: 'panoptic15'}.get(num)
    if joint_set is None:
        return dict(num_keypoints=num)
    return parse_pose_metainfo(to_mmpose_metainfo(joint_set))


def _load_weights(model, checkpoint: str) -> str:
    """Load ``checkpoint`` into ``model`` strictly; returns the key layout it had."""
    from ..models.utils.voxelpose_converter import (OURS, CheckpointError,
                                                    load_voxelpose_checkpoint)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'{checkpoint}: checkpoint file not found')
    if type(model).__name__ == 'VoxelPose':
        info = load_voxelpose_checkpoint(model, checkpoint)
        return info['layout']
    if type(model).__name__ == 'VirtualPoseImageEstimator':
        # official full VirtualPose checkpoints (backbone.* + REN.* + PEN.*) or ours
        from ..models.utils.virtualpose_image_converter import (
            OURS_IMAGE, load_virtualpose_image_checkpoint)
        info = load_virtualpose_image_checkpoint(model, checkpoint)
        return OURS if info['layout'] == OURS_IMAGE else info['layout']
    if type(model).__name__ == 'FasterVoxelPose':
        from ..models.utils.faster_voxelpose_converter import \
            load_faster_voxelpose_checkpoint
        info = load_faster_voxelpose_checkpoint(model, checkpoint,
                                                drop_2d=getattr(model, 'backbone', None)
                                                is None)
        return info['layout']
    from ..engine.runner import compare_state_dict, read_checkpoint
    ckpt = read_checkpoint(checkpoint)
    sd = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if isinstance(sd, dict) and sd and all(k.startswith('module.') for k in sd):
        sd = {k[len('module.'):]: v for k, v in sd.items()}
    problems = compare_state_dict(model, sd)
    if problems:
        raise CheckpointError(f'{checkpoint} does not fit the model:\n  - ' +
                              '\n  - '.join(problems))
    model.load_state_dict(sd, strict=True)
    return OURS


def init_model(config, checkpoint: Optional[str] = None, device: str = 'cpu',
               cfg_options: Optional[dict] = None):
    """Build a model from a config and load a checkpoint, ready for inference.

    Args:
        config: config path or :class:`mmengine.Config` (``'${name}'`` variables resolved).
        checkpoint: our checkpoint, or a voxelpose-pytorch / MMPose-0.x VoxelPose one, or
            an AlvinYH/Faster-VoxelPose one, or (for a ``VirtualPoseImageEstimator``) an
            official full wkom/VirtualPose one (converted on the fly, with a log line
            saying so). None: random weights.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
        cfg_options: overrides merged into the config before building.

    Returns:
        the model in eval mode on ``device``, with ``model.cfg`` (the resolved config) and
        ``model.dataset_meta`` (MMPose metainfo of its joint set: names, skeleton).

    Raises:
        FileNotFoundError: a missing config or checkpoint file.
        CheckpointError: a checkpoint that does not fit the model (all keys listed).
    """
    import virtualpose_mm  # noqa: F401  (registers the package)
    from virtualpose_mm.registry import MODELS
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        layout = _load_weights(model, checkpoint)
        from ..models.utils.voxelpose_converter import OURS
        if layout != OURS:
            once = ('' if type(model).__name__ == 'VirtualPoseImageEstimator' else
                    ' (tools/convert_voxelpose_checkpoint.py converts it once)')
            print_log(f'{checkpoint}: a {layout} checkpoint, converted to virtualpose_mm keys '
                      f'on the fly{once}', logger='current')
    model.cfg = cfg
    model.dataset_meta = _dataset_meta(cfg, model)
    model.to(device)
    model.eval()
    return model


def load_rig(cameras, image_size: Optional[Sequence[int]] = None,
             names: Optional[Sequence[str]] = None) -> Tuple[Camera, List[str]]:
    """Cameras in any accepted form → (Camera of batch shape (V,), V names).

    Args:
        cameras: a camera file (any format :func:`load_cameras` reads; the format is
            sniffed), a :class:`Camera` of batch shape (V,), a list of V single Cameras, or
            a mapping name → Camera.
        image_size: (w, h) for formats that do not store it (Shelf/Campus json).
        names: pick and order cameras of a file or mapping by name.
    """
    if isinstance(cameras, (str, os.PathLike)):
        path = os.fspath(cameras)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: camera file not found')
        from ..geometry.camera_io import sniff_camera_format
        kwargs = {}
        fmt = sniff_camera_format(path)
        if image_size is not None and fmt in ('shelf_campus', 'mupots'):
            kwargs['image_size'] = tuple(image_size)
        if names is not None:
            kwargs['cameras' if fmt in ('panoptic', 'mmpose_demo') else 'names'] = \
                list(names)
        if fmt == 'shelf_campus' and names is not None:
            kwargs.pop('names')
        cams = load_cameras(path, **kwargs)
        if fmt == 'shelf_campus' and names is not None:
            missing = [n for n in names if str(n) not in cams]
            if missing:
                raise CameraError(f'{path}: no camera {missing} (cameras: {list(cams)})')
            cams = OrderedDict((str(n), cams[str(n)]) for n in names)
        cams = OrderedDict(cams)
    elif isinstance(cameras, Camera):
        if len(cameras.batch_shape) != 1:
            raise CameraError(f'cameras: expected a batch of shape (V,), got '
                              f'{cameras.batch_shape}')
        cams = OrderedDict((str(i), cameras[i]) for i in range(cameras.batch_shape[0]))
    elif isinstance(cameras, Mapping):
        cams = OrderedDict((str(k), v) for k, v in cameras.items())
        if names is not None:
            cams = OrderedDict((str(n), cams[str(n)]) for n in names)
    elif isinstance(cameras, (list, tuple)):
        cams = OrderedDict((str(i), c) for i, c in enumerate(cameras))
    else:
        raise CameraError(f'cameras: expected a camera file, a Camera, a list or a mapping, '
                          f'got {type(cameras).__name__}')
    if not cams:
        raise CameraError('cameras: no camera')
    src = os.fspath(cameras) if isinstance(cameras, (str, os.PathLike)) else 'cameras'
    rig = stack_cameras(cams, source=src)
    if rig.image_size is None:
        raise CameraError(f'{src}: the cameras carry no image size; give image_size=(w, h)')
    return rig.numpy(), list(cams)


def _inference_pipeline(cfg: Config, kind: str) -> List[dict]:
    pipe = cfg.get('inference_pipeline') or cfg.get('test_pipeline')
    if pipe is None:
        raise InferenceError(f'{cfg.filename}: the config has no inference_pipeline (or '
                             'test_pipeline) for frames without ground truth')
    pipe = [dict(t) for t in pipe]
    bad = [t['type'] for t in pipe if t['type'] in _GT_TRANSFORMS]
    if bad:
        raise InferenceError(f'{cfg.filename}: inference_pipeline contains {bad}, which need '
                             'ground truth')
    loads_images = any(t['type'] == 'LoadMultiViewImages' for t in pipe)
    if kind == 'keypoints' and loads_images:
        raise InferenceError(f'{cfg.filename}: this model reads images; give one image per '
                             'view, not 2D keypoints')
    if kind == 'images' and not loads_images:
        raise InferenceError(f'{cfg.filename}: this model reads heatmaps rendered from 2D '
                             'detections; give per-view 2D keypoints (e.g. from an MMPose 2D '
                             'model: the demo\'s --pose2d), not images')
    return pipe


def _as_keypoints(view, v: int, num_joints: int) -> Tuple[np.ndarray, np.ndarray]:
    """One view's 2D detections → ((n, K, 2) px, (n, K) scores)."""
    if isinstance(view, Mapping):
        if 'keypoints' not in view:
            raise InferenceError(f'views[{v}]: a dict needs \'keypoints\' (n, K, 2) and '
                                 'optionally \'keypoint_scores\' (n, K)')
        k = np.asarray(view['keypoints'], dtype=np.float64)
        s = view.get('keypoint_scores')
        if k.ndim == 3 and k.shape[-1] == 3 and s is None:
            k, s = k[..., :2], k[..., 2]
        s = np.ones(k.shape[:2]) if s is None else np.asarray(s, dtype=np.float64)
    else:
        a = np.asarray(view, dtype=np.float64)
        if a.ndim != 3 or a.shape[-1] not in (2, 3):
            raise InferenceError(f'views[{v}]: 2D keypoints must be (n, K, 2) or (n, K, 3) '
                                 f'(x, y[, score]) in original pixels, got shape {a.shape}')
        k = a[..., :2]
        s = a[..., 2] if a.shape[-1] == 3 else np.ones(a.shape[:2])
    if k.ndim != 3 or k.shape[-1] != 2 or (len(k) and k.shape[1] != num_joints):
        raise InferenceError(f'views[{v}]: keypoints of shape {k.shape}; the model expects '
                             f'(n, {num_joints}, 2)')
    if s.shape != k.shape[:2]:
        raise InferenceError(f'views[{v}]: keypoint_scores of shape {s.shape}, expected '
                             f'{k.shape[:2]}')
    if not (np.isfinite(k).all() and np.isfinite(s).all()):
        raise InferenceError(f'views[{v}]: keypoints or scores have NaN or infinite values')
    return k.reshape(-1, num_joints, 2), s.reshape(-1, num_joints)


def _is_image(view) -> bool:
    if isinstance(view, (str, os.PathLike)):
        return True
    return isinstance(view, np.ndarray) and view.ndim == 3 and view.dtype == np.uint8 and \
        view.shape[-1] in (1, 3)


def inference_multiview(model, views: Sequence, cameras, view_names: Optional[Sequence[str]]
                        = None, image_size: Optional[Sequence[int]] = None, frame_id: int = 0):
    """Run a multi-view model on one frame of synchronized views.

    Args:
        model: from :func:`init_model` (has ``cfg``).
        views: V items, all of one kind:

            * images: paths or (H, W, 3) uint8 BGR arrays (image-input configs);
            * 2D detections in original pixels: (n, K, 3) arrays (x, y, score), (n, K, 2)
              arrays (scores 1), or dicts ``{'keypoints': (n, K, 2), 'keypoint_scores':
              (n, K)}`` (heatmap-input configs: the heatmaps are rendered from them as
              the config's inference pipeline says). ``n`` may be 0 for a view.
        cameras: anything :func:`load_rig` accepts; V cameras in the order of ``views``.
        view_names: optional names (for messages and the output metainfo).
        image_size: (w, h) of the views, for camera files that do not store it.
        frame_id: stored in the output metainfo.

    Returns:
        :class:`mmpose.structures.PoseDataSample` with ``pred_instances``: ``keypoints``
        (N, K, 3) world mm, ``keypoint_scores`` (N, K), ``bbox_scores`` (N,) (numpy).

    Raises:
        InferenceError: mixed or malformed views, a view count that differs from the
            cameras' or from the model's ``num_views``, a pipeline that cannot run
            without ground truth.
    """
    if not hasattr(model, 'cfg'):
        raise InferenceError('model: build it with virtualpose_mm.apis.init_model (it needs '
                             'the config\'s inference pipeline)')
    rig, names = load_rig(cameras, image_size=image_size)
    V = rig.batch_shape[0]
    views = list(views)
    if len(views) != V:
        raise InferenceError(f'{len(views)} views given for {V} cameras ({names})')
    want = getattr(model, 'num_views', None)
    if want is not None and V != want:
        raise InferenceError(f'{V} cameras given; the model\'s config '
                             f'({osp.basename(str(model.cfg.filename))}) is for num_views='
                             f'{want}')
    kinds = {_is_image(v) for v in views}
    if len(kinds) != 1:
        raise InferenceError('views: mix of images and 2D keypoints; give one kind for all '
                             'views')
    kind = 'images' if kinds.pop() else 'keypoints'
    names = list(view_names) if view_names is not None else names
    results = dict(sample_idx=0, frame_id=int(frame_id), sequence='', dataset_name='inference',
                   num_views=V, view_names=names, cameras=rig,
                   image_sizes=np.asarray(rig.image_size, dtype=np.float64))
    K = getattr(model, 'num_joints', None) or model.dataset_meta.get('num_keypoints')
    results['gt_keypoints_3d'] = np.zeros((0, K, 3))
    results['gt_keypoints_3d_visible'] = np.zeros((0, K), bool)
    results['gt_ids'] = np.zeros((0, ), np.int64)
    pipe = _inference_pipeline(model.cfg, kind)
    if kind == 'keypoints':
        ks, ss = zip(*[_as_keypoints(v, i, K) for i, v in enumerate(views)])
        results.update(input_keypoints_2d=list(ks), input_keypoints_2d_scores=list(ss),
                       input_keypoints_2d_visible=[np.ones(k.shape[:2], bool) for k in ks])
    elif all(isinstance(v, (str, os.PathLike)) for v in views):
        results['img_paths'] = [os.fspath(v) for v in views]
    else:
        from ..datasets.transforms.loading import read_image
        imgs = []
        for i, v in enumerate(views):
            img = read_image(os.fspath(v)) if isinstance(v, (str, os.PathLike)) else v
            w, h = (int(x) for x in results['image_sizes'][i])
            if img.shape[:2] != (h, w):
                raise InferenceError(f'views[{i}]: image of size {img.shape[1]}x'
                                     f'{img.shape[0]}, camera {names[i]} is calibrated for '
                                     f'{w}x{h}')
            imgs.append(img)
        results['img'] = imgs
        results['ori_shapes'] = np.asarray([im.shape[:2] for im in imgs])
        pipe = [t for t in pipe if t['type'] != 'LoadMultiViewImages']
    import virtualpose_mm  # noqa: F401
    init_default_scope(model.cfg.get('default_scope', 'mmpose'))
    data = Compose(pipe)(results)
    if data is None:
        raise InferenceError('the inference pipeline dropped the frame')
    with torch.no_grad():
        out = model.test_step(pseudo_collate([data]))
    sample = out[0]
    pred = sample.pred_instances
    for key in ('keypoints', 'keypoint_scores', 'bbox_scores'):
        val = pred.get(key)
        if isinstance(val, torch.Tensor):
            pred.set_field(val.detach().cpu().numpy(), key)
    sample.set_metainfo(dict(view_names=names))
    return sample


def _frame_key(name: str) -> str:
    return osp.splitext(name)[0]


def iter_multiview_frames(img_root: str, view_dirs: Optional[Sequence[str]] = None
                          ) -> Iterator[Tuple[str, List[str]]]:
    """Frames of a folder of synchronized views (MMPose 0.x demo layout).

    ``img_root`` holds one sub-folder of images per camera (``00_03/``, ``00_06/``, ...;
    ``camera_parameters.json`` beside them is ignored here). Frames are matched across
    views by file name without extension and yielded in sorted order.

    Args:
        img_root: the folder.
        view_dirs: sub-folders to use, in camera order (default: all, sorted).

    Yields:
        (frame name, list of V image paths).

    Raises:
        InferenceError: no view folder, a missing view folder, or a frame missing in a view.
    """
    if not osp.isdir(img_root):
        raise InferenceError(f'{img_root}: image folder not found')
    if view_dirs is None:
        view_dirs = sorted(d for d in os.listdir(img_root)
                           if osp.isdir(osp.join(img_root, d)))
    if not view_dirs:
        raise InferenceError(f'{img_root}: no view sub-folders (expected one folder of '
                             'frames per camera)')
    frames = []
    for d in view_dirs:
        folder = osp.join(img_root, d)
        if not osp.isdir(folder):
            raise InferenceError(f'{folder}: view folder not found')
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        frames.append({_frame_key(f): osp.join(folder, f) for f in files})
    keys = sorted(set().union(*frames))
    for key in keys:
        missing = [view_dirs[v] for v, fr in enumerate(frames) if key not in fr]
        if missing:
            raise InferenceError(f'{img_root}: frame {key!r} is missing in view folder(s) '
                                 f'{missing}')
        yield key, [fr[key] for fr in frames]
