"""Inference API for VirtualPose from ONE image: absolute 3D poses of every person.

    from virtualpose_mm.apis import init_model, inference_monocular
    model = init_model('configs/virtualpose/virtualpose_virtualcam_muco-mupots.py', 'vp.pth')
    # path A: 2D keypoints of any MMPose 2D model (COCO-17, image px) + scores
    sample = inference_monocular(model, 'img.jpg', camera=1500.0,   # a focal length (px)
                                 keypoints_2d=kpts, scores=scores)
    sample.pred_instances.keypoints      # (N, 17, 3) mm: world frame when the camera has
                                         # extrinsics, else the camera frame
    # path B: a stage-1 network (VirtualPoseAGRNet) makes the AGR from the image
    sample = inference_monocular(model, 'img.jpg', camera='calib.json', agr_model=agr_net)
    # path B, assembled: one VirtualPoseImageEstimator (stage 1 + stage 2, e.g.
    # configs/virtualpose/virtualpose_image_res152_muco-mupots.py + an official full
    # VirtualPose checkpoint) runs on the image itself
    model = init_model('configs/virtualpose/virtualpose_image_res152_muco-mupots.py', 'vp.pth')
    sample = inference_monocular(model, 'img.jpg', camera=1500.0)

**The camera** (:func:`monocular_camera`): a camera file in any format
:func:`~virtualpose_mm.geometry.camera_io.load_cameras` reads (``camera_index`` picks one
camera: its name or position), a :class:`~virtualpose_mm.geometry.camera.Camera` or its
``to_dict()`` (both carry extrinsics), a dict of intrinsics only (``f`` (fx, fy) or a
number, optional ``c``, ``dist``), a number (the focal length in px), or None. Missing
intrinsics follow the stated default rule: **principal point at the image centre
((w/2, h/2)), focal length ``f = max(w, h)`` px** (a 53° field of view across the longer
side; :func:`default_intrinsics`).

**Without extrinsics** the stage-2 network still needs a world (z up, mm) in which its
capture space lives. The camera is then assumed level (no pitch, no roll) at the height
of the capture-space centre, on the middle of the space's near side, looking along world
+y (:func:`level_camera_extrinsics`; for the released configs: 1.1 m high, 4 m in front
of the space centre, so camera depths 0–8 m, ±4 m sideways and ±1.2 m vertically are
covered). The results are returned in the camera frame (``keypoints``), with the
assumed-world coordinates alongside (``keypoints_world``).

**Depth and focal length.** Stage 2 regresses depth divided by the focal length in canvas
px (``depth_norm_factor = sqrt(fx·fy·|det A|)``, A the letterbox), so for the same AGR
the decoded root depths scale linearly with f: doubling f doubles them exactly
(``metainfo['root_detections']['depth_mm']``); the final 3D joints follow through the
depth-gated projection (exactly proportional for a trained model only as far as the root
and pose nets follow the gate).
"""
from __future__ import annotations

import os
import os.path as osp
from numbers import Number
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from ..geometry.camera import Camera
from .inference import InferenceError, load_rig

__all__ = ['inference_monocular', 'monocular_camera', 'default_intrinsics',
           'level_camera_extrinsics', 'agr_render_settings', 'keypoints_from_pose2d',
           'DEFAULT_FOCAL_RATIO']

#: Default focal length rule: ``f = DEFAULT_FOCAL_RATIO · max(w, h)`` px.
DEFAULT_FOCAL_RATIO = 1.0

_RENDER_KEYS = ('input_size', 'heatmap_size', 'root_index', 'base_sigma', 'bbox_extension',
                'box_radius', 'legacy_peak_offset', 'legacy_box_paint',
                'paint_offcanvas_roots', 'sigma_ref_size')


# ----------------------------------------------------------------------------- cameras
def default_intrinsics(image_size: Sequence[float], focal: Optional[float] = None
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """``(f (2,), c (2,))`` of the default rule: principal point at the image centre
    (w/2, h/2), focal ``focal`` px if given, else ``DEFAULT_FOCAL_RATIO · max(w, h)``."""
    w, h = (float(v) for v in np.asarray(image_size, dtype=np.float64).reshape(2))
    f = DEFAULT_FOCAL_RATIO * max(w, h) if focal is None else float(focal)
    if not (np.isfinite(f) and f > 0):
        raise InferenceError(f'focal length must be a positive number of pixels, got {focal!r}')
    return np.array([f, f]), np.array([w / 2.0, h / 2.0])


def level_camera_extrinsics(space_size: Sequence[float], space_center: Sequence[float]
                            ) -> Tuple[np.ndarray, np.ndarray]:
    """``(R, t)`` of the assumed camera placement for cameras without extrinsics: level,
    at the centre of the capture space's near (−y) side, looking along world +y (module
    docstring). Camera x = world x, camera y (down) = −world z."""
    from ..datasets.datasets.virtual.virtual_cameras import look_rotation
    size = np.asarray(space_size, dtype=np.float64).reshape(3)
    center = np.asarray(space_center, dtype=np.float64).reshape(3)
    R = look_rotation(90.0, 0.0, 0.0)
    C = center - np.array([0.0, size[1] / 2.0, 0.0])
    return R, -R @ C


def _check_size(cam: Camera, size: np.ndarray, what: str) -> Camera:
    if cam.image_size is None:
        return Camera(cam.R, cam.t, cam.f, cam.c, cam.dist, size, source=cam.source)
    have = np.asarray(cam.image_size, dtype=np.float64).reshape(2)
    if np.abs(have - size).max() > 0.5:
        raise InferenceError(f'{what}: the camera is calibrated for {int(have[0])}x'
                             f'{int(have[1])} images, the image is {int(size[0])}x'
                             f'{int(size[1])}')
    return cam


def monocular_camera(camera=None, image_size: Optional[Sequence[float]] = None,
                     camera_index=None, focal: Optional[float] = None,
                     space_size: Sequence[float] = (8000.0, 8000.0, 2400.0),
                     space_center: Sequence[float] = (0.0, 0.0, 1100.0)
                     ) -> Tuple[Camera, dict]:
    """The camera of one image, with extrinsics (given or assumed) and image size.

    Args:
        camera: see the module docstring (file, Camera, dict, number, None).
        image_size: (w, h) of the image (required unless the camera carries it).
        camera_index: for a camera file (or a (V,) Camera) with several cameras: the name
            or the position of the one to use (default: the only one; an error if several).
        focal: focal length px when ``camera`` gives no intrinsics (overrides the default
            rule; an error together with a camera that has intrinsics).
        space_size, space_center: the model's capture space, for the assumed placement.

    Returns:
        ``(Camera (single, float64, with image_size), info)``; ``info``: ``intrinsics``
        (``'camera'``, ``'focal'`` or ``'default'``), ``extrinsics_given`` (bool),
        ``source``.

    Raises:
        InferenceError / CameraError / FileNotFoundError: a bad file, index or value.
    """
    size = None if image_size is None else np.asarray(image_size, np.float64).reshape(2)
    info = dict(intrinsics='camera', extrinsics_given=True, source='camera')
    cam = None
    if isinstance(camera, (str, os.PathLike)):
        path = os.fspath(camera)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: camera file not found')
        rig, names = load_rig(path, image_size=None if size is None else
                              tuple(int(round(v)) for v in size))
        cam = _pick(rig, names, camera_index, path)
        info['source'] = path
    elif isinstance(camera, Camera):
        c = camera.numpy()
        if c.batch_shape:
            if len(c.batch_shape) != 1:
                raise InferenceError(f'camera: expected one camera, got batch shape '
                                     f'{c.batch_shape}')
            c = _pick(c, [str(i) for i in range(c.batch_shape[0])], camera_index, 'camera')
        cam = c
    elif isinstance(camera, Mapping) and 'R' in camera:
        cam = Camera.from_dict(dict(camera), source='camera').numpy()
    elif camera is None or isinstance(camera, (Number, Mapping)):
        if size is None:
            raise InferenceError('the image size (w, h) is needed for a camera without '
                                 'calibration file')
        if isinstance(camera, Number) and not isinstance(camera, bool):
            if focal is not None:
                raise InferenceError('give the focal length once (camera or focal)')
            focal, camera = float(camera), None
        intr = dict(camera or {})
        unknown = set(intr) - {'f', 'c', 'dist', 'image_size'}
        if unknown:
            raise InferenceError(f'camera: unknown intrinsics fields {sorted(unknown)} '
                                 "(expected 'f', 'c', 'dist'; extrinsics need 'R' and 't')")
        if 'f' in intr and focal is not None:
            raise InferenceError('camera: the focal length is given twice (f and focal)')
        f0, c0 = default_intrinsics(size, focal)
        f = f0 if 'f' not in intr else np.broadcast_to(
            np.asarray(intr['f'], np.float64), (2, )).copy()
        c = c0 if 'c' not in intr else np.asarray(intr['c'], np.float64).reshape(2)
        info['intrinsics'] = 'camera' if 'f' in intr else ('focal' if focal is not None
                                                           else 'default')
        info['extrinsics_given'] = False
        info['source'] = ('intrinsics' if 'f' in intr else
                          f'focal {f[0]:g} px' if focal is not None else
                          f'default intrinsics (f = {DEFAULT_FOCAL_RATIO:g}·max(w, h))')
        R, t = level_camera_extrinsics(space_size, space_center)
        if not (np.isfinite(f).all() and (f > 0).all() and np.isfinite(c).all()):
            raise InferenceError(f'camera: intrinsics must be finite with f > 0, got f '
                                 f'{f.tolist()}, c {c.tolist()}')
        cam = Camera(R, t, f, c, intr.get('dist'), intr.get('image_size', size),
                     source=info['source'])
    else:
        raise InferenceError(f'camera: expected a camera file, a Camera, a dict, a focal '
                             f'length or None, got {type(camera).__name__}')
    if focal is not None and info['intrinsics'] == 'camera' and info['extrinsics_given']:
        raise InferenceError('focal: the camera already has intrinsics; give one of them')
    if size is None:
        if cam.image_size is None:
            raise InferenceError(f'{cam.source}: the camera carries no image size; give '
                                 'the image or its size (w, h)')
        size = np.asarray(cam.image_size, np.float64).reshape(2)
    return _check_size(cam, size, str(info['source'])), info


def _pick(rig: Camera, names, index, what: str) -> Camera:
    V = rig.batch_shape[0]
    if index is None:
        if V != 1:
            raise InferenceError(f'{what}: {V} cameras {list(names)}; pick one with '
                                 'camera_index (name or position)')
        return rig[0]
    key = str(index)
    if key in names:
        return rig[list(names).index(key)]
    try:
        i = int(index)
    except (TypeError, ValueError):
        i = None
    if i is None or not -V <= i < V:
        raise InferenceError(f'{what}: no camera {index!r} (cameras: {list(names)})')
    return rig[i]


# ----------------------------------------------------------------------------- settings
def _pipelines(cfg):
    for key in ('inference_pipeline', 'test_pipeline', 'val_pipeline', 'train_pipeline'):
        if cfg.get(key):
            yield cfg[key]
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dl = cfg.get(key)
        ds = dl.get('dataset') if isinstance(dl, Mapping) else None
        if isinstance(ds, Mapping) and ds.get('pipeline'):
            yield ds['pipeline']


def agr_render_settings(model) -> dict:
    """The AGR rendering settings of the model's config: those of a
    ``RenderAGRFromKeypoints`` or ``GenerateVirtualPoseAGR`` in its pipelines (first of
    ``inference_pipeline``, ``test_pipeline``, ``train_pipeline``, the dataloaders'; a
    ``RenderAGRFromKeypoints`` also gives its ``score_thr``, ``score_as_amplitude`` and
    ``bbox_source``), else the model's canvas (``input_size``) with stride 4 and the
    default settings. Returns keyword arguments of ``RenderAGRFromKeypoints``. For an
    assembled ``VirtualPoseImageEstimator`` the canvas, root joint and checks are those of
    its ``stage2`` (the config is the assembled model's)."""
    cfg = getattr(model, 'cfg', None)
    model = _stage2(model)
    found = None
    if cfg is not None:
        for pipe in _pipelines(cfg):
            for t in pipe:
                if isinstance(t, Mapping) and t.get('type') in ('RenderAGRFromKeypoints',
                                                                'GenerateVirtualPoseAGR'):
                    found = t
                    break
            if found is not None:
                break
    out = {}
    if found is not None:
        keys = _RENDER_KEYS + (('score_thr', 'score_as_amplitude', 'bbox_source')
                               if found['type'] == 'RenderAGRFromKeypoints' else ())
        out = {k: found[k] for k in keys if k in found}
        for k in ('input_size', 'heatmap_size', 'bbox_extension'):
            if k in out:
                out[k] = tuple(out[k])
    if 'input_size' not in out:
        out['input_size'] = tuple(int(v) for v in getattr(model, 'input_size', (960, 512)))
    if 'heatmap_size' not in out:
        out['heatmap_size'] = tuple(int(v) // 4 for v in out['input_size'])
    out.setdefault('root_index', int(getattr(model, 'root_index', 2)))
    want = tuple(float(v) for v in getattr(model, 'input_size', out['input_size']))
    if tuple(float(v) for v in out['input_size']) != want:
        raise InferenceError(f'the config renders the AGR on a {out["input_size"]} canvas, '
                             f'the model reads {want}')
    return out


def _is_assembled(model) -> bool:
    """Whether ``model`` is an assembled image → 3D model (``agr_net`` + ``stage2``)."""
    return hasattr(model, 'agr_net') and hasattr(model, 'stage2')


def _stage2(model):
    """The stage-2 network of ``model`` (itself unless it is an assembled model)."""
    return model.stage2 if _is_assembled(model) else model


# ----------------------------------------------------------------------------- inputs
def _image_and_size(image_or_size):
    """(BGR image or None, (w, h) float64, path or None)."""
    if isinstance(image_or_size, (str, os.PathLike)):
        from ..datasets.transforms.loading import read_image
        path = os.fspath(image_or_size)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: image not found')
        img = read_image(path)
        return img, np.array([img.shape[1], img.shape[0]], np.float64), path
    a = np.asarray(image_or_size)
    if a.ndim == 3 and a.shape[-1] in (1, 3) and a.dtype == np.uint8:
        if a.shape[-1] == 1:
            a = np.repeat(a, 3, -1)
        return a, np.array([a.shape[1], a.shape[0]], np.float64), None
    if a.shape == (2, ) and np.issubdtype(a.dtype, np.number):
        size = a.astype(np.float64)
        if not (np.isfinite(size).all() and (size > 0).all()):
            raise InferenceError(f'image size must be positive (w, h), got {size.tolist()}')
        return None, size, None
    raise InferenceError('image_or_size: expected an image path, an (H, W, 3) uint8 BGR '
                         f'image or the size (w, h), got {type(image_or_size).__name__} of '
                         f'shape {getattr(a, "shape", None)}')


def keypoints_from_pose2d(inferencer, image
                          ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Run an MMPose ``Pose2DInferencer`` (or ``MMPoseInferencer``) on one image:
    ``(keypoints (N, K, 2) px, scores (N, K), bboxes (N, 4) or None)``; people with NaN or
    infinite keypoints are left out (with a warning on stderr)."""
    import sys
    res = next(inferencer(image, return_datasamples=True))['predictions'][0]
    inst = res.pred_instances
    k = np.asarray(inst.keypoints, dtype=np.float64)
    if k.ndim == 2:
        k = k[None]
    s = np.asarray(inst.keypoint_scores, dtype=np.float64).reshape(k.shape[:2])
    b = inst.get('bboxes', None)
    b = None if b is None else np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ok = np.isfinite(k).all(axis=(1, 2)) & np.isfinite(s).all(-1)
    if not ok.all():
        print(f'warning: the 2D model returned {int((~ok).sum())} of {len(ok)} people with '
              'NaN/inf keypoints; they are left out', file=sys.stderr)
    if b is not None and len(b) != len(k):
        b = None
    return k[ok], s[ok], None if b is None else b[ok]


def _agr_from_network(agr_model, img: np.ndarray, size: np.ndarray, settings: dict):
    """Path B: the stage-1 network's AGR of the letterboxed image.

    The image (BGR, as read) is letterboxed to the stage-2 canvas (``LetterboxImage``'s
    affine and warp) and normalised by ``agr_model.data_preprocessor`` when the network has
    one (MMPose's ``PoseDataPreprocessor``: BGR → RGB, ImageNet mean / std, as in stage-1
    training); a network without one gets float RGB 0–255."""
    import cv2

    from ..datasets.transforms.multiview import letterbox_affine
    if not callable(getattr(agr_model, 'predict_agr', None)):
        raise InferenceError(f'agr_model: a {type(agr_model).__name__} has no predict_agr(); '
                             'expected a VirtualPoseAGRNet (virtualpose_mm.models.'
                             'pose_estimators.virtualpose_agr_net)')
    iw, ih = (int(v) for v in settings['input_size'])
    A = letterbox_affine(size, (iw, ih))
    canvas = cv2.warpAffine(img, A, (iw, ih), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    chw = torch.from_numpy(np.ascontiguousarray(canvas.transpose(2, 0, 1)))
    try:
        device = next(agr_model.parameters()).device
    except (AttributeError, StopIteration):
        device = torch.device('cpu')
    pre = getattr(agr_model, 'data_preprocessor', None)
    with torch.no_grad():
        if pre is not None:
            from mmpose.structures import PoseDataSample
            images = pre(dict(inputs=[chw.to(device)], data_samples=[PoseDataSample()]),
                         False)['inputs']
        else:
            images = chw.flip(0).float()[None].to(device)
        heatmaps, box_map = agr_model.predict_agr(images)
    W, H = (int(v) for v in settings['heatmap_size'])
    K = int(settings.get('num_joints', heatmaps.shape[1]))
    if tuple(heatmaps.shape) != (1, K, H, W) or tuple(box_map.shape) != (1, 4, H, W):
        raise InferenceError(f'agr_model: predict_agr gave heatmaps {tuple(heatmaps.shape)} '
                             f'and box map {tuple(box_map.shape)} for a {iw}x{ih} canvas; '
                             f'stage 2 reads (1, {K}, {H}, {W}) and (1, 4, {H}, {W})')
    agr = torch.cat([heatmaps.float(), box_map.float()], 1)[0].detach().cpu().numpy()
    return A, agr


# ----------------------------------------------------------------------------- the API
def inference_monocular(model, image_or_size, camera=None, keypoints_2d=None, scores=None,
                        agr_model=None, bboxes=None, camera_index=None,
                        focal: Optional[float] = None, input_joint_set: str = 'coco17',
                        score_thr: Optional[float] = None, frame_id=0):
    """Absolute 3D poses of every person in one image (VirtualPose stage 2).

    Args:
        model: a :class:`~virtualpose_mm.models.pose_estimators.VirtualPose`, or an
            assembled :class:`~virtualpose_mm.models.pose_estimators.
            VirtualPoseImageEstimator` (stage 1 + stage 2), from
            :func:`~virtualpose_mm.apis.init_model` (it has ``cfg``). The assembled model
            makes the AGR from the image with its own ``agr_net`` (path B: the image is
            letterboxed to ``stage2.input_size`` and run through
            ``model.predict_forward``) unless ``keypoints_2d`` are given (path A, with its
            ``stage2``).
        image_or_size: an image path, an (H, W, 3) uint8 BGR image, or the image size
            (w, h) (path A needs no pixels).
        camera: the module docstring's forms (file, Camera, dict, focal length, None).
        keypoints_2d: path A: (N, K, 2) or (N, K, 3) (x, y[, score]) original image px, in
            ``input_joint_set`` (``'coco17'``: any MMPose COCO body model; or
            ``'virtualpose17'``). N may be 0.
        scores: (N, K) joint scores (default: the third column, else 1).
        agr_model: path B: a stage-1 network (``VirtualPoseAGRNet``) with
            ``predict_agr(images (B, 3, H, W)) -> (heatmaps (B, K, H/4, W/4), box_map
            (B, 4, H/4, W/4))``; it gets the image letterboxed to the stage-2 canvas and
            normalised by its ``data_preprocessor`` (float RGB 0–255 without one); needs
            the image. Not with an assembled model (it has its own).
        bboxes: (N, 4) person boxes, image px (used only by a ``RenderAGRFromKeypoints``
            with ``bbox_source='input'`` in the config).
        camera_index: which camera of a camera file (name or position).
        focal: focal length px for a camera without intrinsics.
        input_joint_set: joint set of ``keypoints_2d``.
        score_thr: joints scoring below it are not rendered (default the config's / 0).
        frame_id: stored in the metainfo.

    Returns:
        :class:`mmpose.structures.PoseDataSample`; ``pred_instances`` (numpy, N people):
        ``keypoints`` (N, K, 3) mm — world frame when the camera has extrinsics, else the
        camera frame —, ``keypoints_cam`` (N, K, 3) camera frame mm, ``keypoints_world``
        (N, K, 3) world mm (the assumed level-camera world without extrinsics),
        ``keypoints_2d`` (N, K, 2) their projections (image px), ``root_depths`` (N,) camera
        depth of the root joint, ``keypoint_scores`` (N, K), ``bbox_scores`` (N,),
        ``centers_3d`` (N, 3) world mm. Metainfo: ``camera`` (the camera used,
        ``Camera.to_dict()``, R/t for ``keypoints_world``), ``camera_info`` (intrinsics
        source, ``extrinsics_given``), ``keypoints_frame`` (``'world'`` / ``'camera'``),
        ``root_detections`` (the root net's detections: ``xy`` (n, 2) image px,
        ``depth_mm`` (n,) = normalised depth × ``depth_norm_factor``, ``score`` (n,)),
        ``input_keypoints_2d`` (N', K, 2) / ``input_keypoints_visible`` (path A: the joints
        rendered, model joint set, image px).

    Raises:
        InferenceError: malformed inputs (wrong joint count, no input path, ...);
        FileNotFoundError: a missing image or camera file.
    """
    if not hasattr(model, 'cfg'):
        raise InferenceError('model: build it with virtualpose_mm.apis.init_model')
    net = _stage2(model)  # the stage-2 network
    if not hasattr(net, 'root_net') or not hasattr(net, 'predict_forward'):
        raise InferenceError(f'model: inference_monocular runs VirtualPose models, got a '
                             f'{type(model).__name__}')
    assembled = _is_assembled(model)
    if assembled and agr_model is not None:
        raise InferenceError(f'agr_model: the {type(model).__name__} makes the AGR with its '
                             'own agr_net; give agr_model only with a stage-2 VirtualPose')
    if not assembled and (keypoints_2d is None) == (agr_model is None):
        raise InferenceError('give either keypoints_2d (path A: 2D keypoints of an MMPose '
                             '2D model) or agr_model (path B: a stage-1 AGR network)')
    from_image = assembled and keypoints_2d is None  # path B through the assembled model
    img, size, path = _image_and_size(image_or_size)
    rn = net.root_net
    cam, info = monocular_camera(camera, size, camera_index=camera_index, focal=focal,
                                 space_size=rn.space_size, space_center=rn.space_center)
    settings = agr_render_settings(model)
    K = int(net.num_joints)
    import virtualpose_mm  # noqa: F401  (registers the transforms)
    from ..datasets.transforms import (LetterboxImage, PackVirtualPoseInputs,
                                       RenderAGRFromKeypoints)
    from ..datasets.transforms.virtualpose_agr import depth_norm_factor
    init_default_scope(model.cfg.get('default_scope', 'mmpose'))
    results = dict(sample_idx=0, frame_id=frame_id, img_path=path, image_size=size,
                   camera=cam.to_dict(), dataset_name='inference')
    if keypoints_2d is not None:
        k = np.asarray(keypoints_2d, dtype=np.float64)
        Kin = 17 if input_joint_set == 'coco17' else K
        if k.size == 0:
            k = k.reshape(0, Kin, 2)
        if k.ndim != 3 or k.shape[-1] not in (2, 3) or k.shape[1] != Kin:
            raise InferenceError(f'keypoints_2d: shape {k.shape}; expected (N, {Kin}, 2) or '
                                 f'(N, {Kin}, 3) ({input_joint_set} joints, image px)')
        if scores is not None and np.shape(scores) != k.shape[:2]:
            raise InferenceError(f'scores: shape {np.shape(scores)}, expected {k.shape[:2]}')
        if k.shape[-1] == 3 and scores is None:
            k, scores = k[..., :2], k[..., 2]
        if not np.isfinite(k).all():
            raise InferenceError('keypoints_2d: NaN or infinite coordinates (leave such '
                                 'people out, or give them a score below score_thr)')
        kw = dict(settings)
        kw.update(input_joint_set=input_joint_set, joint_set='virtualpose17')
        if score_thr is not None:
            kw['score_thr'] = float(score_thr)
        results.update(keypoints=k, keypoint_scores=scores,
                       bboxes=None if bboxes is None else np.asarray(bboxes, np.float64))
        try:
            results = RenderAGRFromKeypoints(**kw)(results)
        except (KeyError, ValueError) as e:
            raise InferenceError(str(e)) from None
    elif from_image:
        if img is None:
            raise InferenceError(f'a {type(model).__name__} without keypoints_2d needs the '
                                 'image (a path or an array), not only its size')
        lb = LetterboxImage(settings['input_size'])(dict(img=img))
        results.update(img=lb['img'], affine=lb['affine'], input_size=lb['input_size'],
                       heatmap_size=np.asarray(settings['heatmap_size'], np.int64),
                       depth_norm_factor=depth_norm_factor(cam.f, lb['affine']))
    else:
        if img is None:
            raise InferenceError('agr_model needs the image (a path or an array), not only '
                                 'its size')
        settings['num_joints'] = K
        A, agr = _agr_from_network(agr_model, img, size, settings)
        results.update(agr=agr.astype(np.float32), affine=A,
                       input_size=np.asarray(settings['input_size'], np.int64),
                       heatmap_size=np.asarray(settings['heatmap_size'], np.int64),
                       depth_norm_factor=depth_norm_factor(cam.f, A))
    data = Compose([PackVirtualPoseInputs(inputs_key='img' if from_image else 'agr')])(
        results)
    runner = model if from_image else net  # images: stage 1 then stage 2; AGR: stage 2
    with torch.no_grad():
        batch = runner.data_preprocessor(pseudo_collate([data]), False)
        result = runner.predict_forward(batch['inputs'], batch['data_samples'])
        sample = runner.add_pred_to_datasample(result, batch['data_samples'])[0]
    _finish(sample, result, cam, info, results, settings, net)
    return sample


def _finish(sample, result, cam: Camera, info: dict, results: dict, settings: dict, model):
    pred = sample.pred_instances
    Xw = np.asarray(pred.keypoints, dtype=np.float64)
    N, K = Xw.shape[:2]
    Xc = np.asarray(cam.world_to_camera(Xw.reshape(-1, 3))).reshape(N, K, 3)
    with np.errstate(all='ignore'):
        uv = np.asarray(cam.project(Xw.reshape(-1, 3))).reshape(N, K, 2) if N else \
            np.zeros((0, K, 2))
    pred.keypoints_world = Xw.astype(np.float32)
    pred.keypoints_cam = Xc.astype(np.float32)
    pred.keypoints_2d = uv.astype(np.float32)
    pred.root_depths = Xc[:, model.root_index, 2].astype(np.float32)
    pred.keypoints = (Xw if info['extrinsics_given'] else Xc).astype(np.float32)
    # the root net's decoded people: image px, DE depth (mm), score
    det = result['det']
    valid = det['valid'][0].cpu().numpy().astype(bool)
    W = float(settings['heatmap_size'][0])
    stride = float(settings['input_size'][0]) / W
    xy_canvas = det['xys'][0].double().cpu().numpy()[valid] * stride
    A = np.asarray(results['affine'], np.float64)
    xy = (xy_canvas - A[:, 2]) @ np.linalg.inv(A[:, :2]).T
    sample.set_metainfo(dict(
        camera=cam.to_dict(), camera_info=dict(info),
        keypoints_frame='world' if info['extrinsics_given'] else 'camera',
        root_detections=dict(xy=xy, depth_mm=result['depths_mm'][0].cpu().numpy()[valid],
                             score=det['scores'][0].double().cpu().numpy()[valid])))
    if 'agr_keypoints' in results:
        sample.set_metainfo(dict(input_keypoints_2d=results['agr_keypoints'],
                                 input_keypoints_visible=results['agr_keypoints_visible']))
