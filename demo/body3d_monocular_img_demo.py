"""Absolute 3D poses of every person from ONE camera (VirtualPose), per image.

    python demo/body3d_monocular_img_demo.py CONFIG CHECKPOINT --img PATH|DIR \\
        --pose2d CFG --pose2d-checkpoint PTH [--focal F | --camera-param-file FILE] \\
        --out-dir DIR [--device cpu]

    # images through an assembled VirtualPose (stage 1 + stage 2: no 2D model needed)
    python demo/body3d_monocular_img_demo.py \\
        configs/virtualpose/virtualpose_image_res152_muco-mupots.py VIRTUALPOSE.pth \\
        --img PATH|DIR [--focal F | --camera-param-file FILE] --out-dir DIR

    # one real Shelf view at a time, from the published 2D detections (no images needed)
    python demo/body3d_monocular_img_demo.py CONFIG CHECKPOINT \\
        --kpt2d-file data/demo/shelf/pred_shelf_maskrcnn_hrnet_coco.pkl --camera-index 0 \\
        --camera-param-file data/demo/shelf/calibration_shelf.json --image-size 1032 776 \\
        --out-dir DIR [--reference-json demo_output/shelf/results.json]

``--reference-json`` (the multi-view demo's ``--out-json`` of the same frames): each
person's 3D root (mid-hip, world mm) is compared with the nearest root the multi-view demo
found in that frame; the distances are printed per image, summarised at the end and
stored per person (``root_distance_to_reference_mm``). ``make demo`` runs it on the five
real Shelf cameras, one at a time.

Inputs:

* 2D keypoints (COCO-17 by default, ``--input-joint-set``) either from ``--kpt2d-file``
  (Shelf/Campus ``pred_*.pkl`` or its JSON twin, keyed ``"{camera}_{frame}"``, as the
  multi-view demo reads it; ``--camera-index`` picks the camera, ``--frames`` the frames;
  ``--img`` optional: images matched by the number in their file name, else blank
  canvases of ``--image-size``) or from any MMPose 2D model on ``--img``
  (``--pose2d CFG --pose2d-checkpoint PTH``, MMPose's ``Pose2DInferencer``); or, with an
  assembled config (``VirtualPoseImageEstimator``: stage 1 + stage 2) and ``--img`` alone,
  none: its own stage-1 network makes the AGR from the image;
* the camera: ``--camera-param-file`` (any format
  ``virtualpose_mm.geometry.camera_io.load_cameras`` reads, with extrinsics;
  ``--camera-index`` picks one camera: name or position), or ``--focal F`` (px; principal
  point at the image centre, no extrinsics), or nothing (the default rule: principal
  point at the image centre, f = max(w, h) px). Without extrinsics the camera is assumed
  level at the capture-space centre height (``virtualpose_mm.apis.inference_monocular``).

Per image (or ``cam<I>_<frame>`` for ``--kpt2d-file``) it writes ``<name>.json`` (each
person's absolute 3D joints in the camera frame and in the world frame, mm; their
projections; scores; the camera; the people scoring below ``--bbox-thr``, default 0.3,
are left out and counted in ``num_below_bbox_thr``), ``<name>_2d.png`` (the image with
the projected 3D skeletons, and the input 2D keypoints as thin white crosses) and
``<name>_3d.png`` (the 3D view with the camera). Files are written completely or not at
all.
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

_MV_DEMO = osp.join(osp.dirname(osp.abspath(__file__)),
                    'body3d_multiview_detect_and_regress_img_demo.py')


def _multiview_demo():
    """The multi-view demo's module (its --kpt2d-file reader and writers are reused)."""
    spec = importlib.util.spec_from_file_location('_vpmm_multiview_demo', _MV_DEMO)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mv = _multiview_demo()
DemoError = mv.DemoError


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='VirtualPose (stage 2) config')
    p.add_argument('checkpoint', help='its checkpoint')
    p.add_argument('--img', help='an image or a folder of images')
    p.add_argument('--kpt2d-file', help='2D detections keyed "{camera}_{frame}" '
                   '(pred_*.pkl or JSON)')
    p.add_argument('--camera-index', nargs='+',
                   help='camera of --kpt2d-file / --camera-param-file (name or position); '
                   'with --kpt2d-file several may be given: each camera is run on its own, '
                   'one after the other')
    p.add_argument('--frames', nargs='+', help='frames of --kpt2d-file to run')
    p.add_argument('--pose2d', help='MMPose 2D model config (or model alias)')
    p.add_argument('--pose2d-checkpoint', help='its checkpoint')
    cam = p.add_mutually_exclusive_group()
    cam.add_argument('--focal', type=float, help='focal length in px (no extrinsics)')
    cam.add_argument('--camera-param-file', help='camera file (any supported format)')
    p.add_argument('--image-size', type=int, nargs=2, metavar=('W', 'H'),
                   help='image size when there are no images (and for camera files that '
                   'do not store it)')
    p.add_argument('--input-joint-set', default='coco17',
                   choices=('coco17', 'virtualpose17'), help='joint set of the 2D keypoints')
    p.add_argument('--score-thr', type=float, default=None,
                   help='2D joints scoring below it are not rendered (default 0)')
    p.add_argument('--bbox-thr', type=float, default=0.3,
                   help='people whose score (pred_instances.bbox_scores) is below it are '
                   'left out of the JSON, pictures and printed figures, their number '
                   'recorded (default 0.3, the reference VirtualPose\'s proposal threshold; '
                   '0: every person the model returns)')
    p.add_argument('--reference-json', help='the multi-view demo\'s --out-json of the same '
                   'frames: each person\'s 3D root (mid-hip) is compared with the nearest '
                   'root found there (world mm; needs a camera file with extrinsics)')
    p.add_argument('--out-dir', required=True, help='output folder')
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override config settings, key=value')
    return p.parse_args(argv)


# --------------------------------------------------------------------------- inputs
def list_images(path: str):
    from virtualpose_mm.apis import IMAGE_EXTENSIONS
    if osp.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise DemoError(f'{path}: no images ({", ".join(IMAGE_EXTENSIONS)})')
        return [osp.join(path, f) for f in files]
    if not osp.isfile(path):
        raise DemoError(f'{path}: image (or folder) not found')
    return [path]


def kpt2d_items(args, cam_names, camera_index=None):
    """``(camera, [(name, image path or None, (n, K, 3) detections)])`` of one camera
    (``camera_index``: name or position; None: the file's only camera) of --kpt2d-file."""
    dets = mv.load_kpt2d_file(args.kpt2d_file)
    by_cam = {}
    for key in dets:
        c, f = mv._split_key(key)
        by_cam.setdefault(c, []).append(f)
    if camera_index is None:
        if len(by_cam) != 1:
            raise DemoError(f'{args.kpt2d_file}: detections of cameras {sorted(by_cam)}; pick '
                            'one with --camera-index')
        cam = next(iter(by_cam))
    else:
        cam = str(camera_index)
        if cam not in by_cam and cam_names is not None and cam.lstrip('-').isdigit() and \
                -len(cam_names) <= int(cam) < len(cam_names):
            cam = cam_names[int(cam)]
        if cam not in by_cam:
            raise DemoError(f'{args.kpt2d_file}: no detections of camera {camera_index!r}'
                            f' (cameras: {sorted(by_cam)})')
    frames = sorted(by_cam[cam], key=lambda f: (len(f), f))
    if args.frames is not None:
        missing = [f for f in args.frames if str(f) not in by_cam[cam]]
        if missing:
            raise DemoError(f'{args.kpt2d_file}: camera {cam} has no frame {missing} '
                            f'(frames: {frames})')
        frames = [str(f) for f in args.frames]
    imgs = {}
    if args.img:
        for p in list_images(args.img):
            imgs[mv._frame_number(osp.basename(p))] = p
    return cam, [(f'cam{cam}_{f}', imgs.get(mv._frame_number(f)), dets[f'{cam}_{f}'])
                 for f in frames]


# --------------------------------------------------------------------------- reference
def load_reference_roots(path: str) -> dict:
    """``{frame: (M, 3) world mm}``: the people's roots (mid-hip) in a multi-view demo
    JSON (``{"frames": [{"frame", "joint_names", "people": [{"keypoints_3d"}]}]}``)."""
    from virtualpose_mm.datasets.joint_sets import root_of
    if not osp.isfile(path):
        raise DemoError(f'{path}: reference JSON not found')
    try:
        with open(path) as f:
            raw = json.load(f)
    except json.JSONDecodeError as e:
        raise DemoError(f'{path}: not valid JSON ({e})') from None
    frames = raw.get('frames') if isinstance(raw, dict) else None
    if not isinstance(frames, list):
        raise DemoError(f'{path}: expected {{"frames": [...]}} (the multi-view demo\'s '
                        '--out-json)')
    out = {}
    for i, fr in enumerate(frames):
        try:
            names = fr['joint_names']
            kp = np.asarray([p['keypoints_3d'] for p in fr['people']], np.float64)
            frame = str(fr['frame'])
        except (KeyError, TypeError) as e:
            raise DemoError(f'{path}: frames[{i}] lacks {e} (frame, joint_names, '
                            'people[].keypoints_3d)') from None
        js = {17: 'coco17', 15: 'panoptic15'}.get(len(names))
        if js is None or (len(kp) and kp.shape[1:] != (len(names), 3)):
            raise DemoError(f'{path}: frames[{i}]: {len(names)} joint names and keypoints '
                            f'of shape {kp.shape}; expected COCO-17 or Panoptic-15 joints')
        out[frame] = root_of(kp, js) if len(kp) else np.zeros((0, 3))
    return out


def frame_of(name: str, from_kpt2d: bool):
    """The frame name of an item (``cam<C>_<frame>`` or an image file name)."""
    if from_kpt2d:
        return name.split('_', 1)[1]
    n = mv._frame_number(name)
    return None if n is None else str(n)


# --------------------------------------------------------------------------- outputs
def _r(a, nd=2):
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def frame_record(name, img_path, sample, model, cam_name):
    pred = sample.pred_instances
    meta = sample.metainfo
    info = meta['camera_info']
    cam = meta['camera']
    Xc = np.asarray(pred.keypoints_cam, np.float64)
    Xw = np.asarray(pred.keypoints_world, np.float64)
    uv = np.asarray(pred.keypoints_2d, np.float64)
    for what, a in (('camera-frame', Xc), ('world', Xw)):
        if not np.isfinite(a).all():
            raise DemoError(f'{name}: the model returned non-finite {what} joints')
    people = []
    for i in range(len(Xc)):
        front = Xc[i, :, 2] > 1.0
        people.append(dict(
            keypoints_3d_camera=_r(Xc[i]), keypoints_3d_world=_r(Xw[i]),
            keypoints_2d=[_r(p) if ok and np.isfinite(p).all() else None
                          for p, ok in zip(uv[i], front)],
            root_depth_mm=round(float(pred.root_depths[i]), 2),
            keypoint_scores=_r(pred.keypoint_scores[i], 4),
            score=round(float(pred.bbox_scores[i]), 4)))
    det = meta['root_detections']
    world = ('the camera file\'s world (z up)' if info['extrinsics_given'] else
             'assumed: the camera level at the capture-space centre height, on the middle '
             'of the space\'s near side, looking along +y (z up)')
    return dict(
        name=name, image=img_path, units='millimetres',
        frames=dict(camera='OpenCV camera frame: x right, y down, z forward', world=world),
        camera=dict(name=cam_name, source=str(info['source']),
                    intrinsics=info['intrinsics'], extrinsics_given=info['extrinsics_given'],
                    f=_r(cam['f'], 4), c=_r(cam['c'], 4), dist=_r(cam['dist'], 6),
                    image_size=_r(cam['image_size'], 0), R=_r(cam['R'], 8), t=_r(cam['t'], 4)),
        joint_names=list(model.dataset_meta.get('keypoint_id2name', {}).values()),
        num_people=len(people), people=people,
        root_detections=[dict(xy=_r(xy), depth_mm=round(float(d), 2),
                              score=round(float(s), 4))
                         for xy, d, s in zip(det['xy'], det['depth_mm'], det['score'])])


def keep_confident(sample, bbox_thr: float) -> int:
    """Leave the people scoring below ``bbox_thr`` out of ``sample.pred_instances`` (in
    place; the root net's ``root_detections`` are kept); returns how many were left out.

    The test-time proposal threshold of a config is chosen for the evaluation's recall
    (the recall-tuned CPU configs propose down to 0.05), while a picture should show the
    people the model is sure of; MMPose's demos filter their detections the same way
    (``--bbox-thr``)."""
    pred = sample.pred_instances
    keep = np.asarray(pred.bbox_scores, np.float64) >= bbox_thr
    if keep.all():
        return 0
    sample.pred_instances = pred[keep]
    return int((~keep).sum())


def draw(vis, sample, image_rgb, space):
    """(2D overlay, 3D view) RGB images."""
    from mmpose.structures import PoseDataSample
    from mmengine.structures import InstanceData

    from virtualpose_mm.geometry.camera import Camera
    meta = sample.metainfo
    cam = Camera.from_dict(meta['camera'], source='camera', validate=False)
    cams = Camera.stack([cam])
    pred = sample.pred_instances
    ds = PoseDataSample()
    inst = InstanceData()
    inst.keypoints = np.asarray(pred.keypoints_world)      # the camera's world frame
    inst.bbox_scores = np.asarray(pred.bbox_scores)
    ds.pred_instances = inst
    kp = meta.get('input_keypoints_2d')
    out = vis.add_datasample('monocular', ds, cameras=cams, camera_names=['camera'],
                             images=[image_rgb], draw_gt=False,
                             keypoints_2d=None if kp is None else [kp], return_views=True,
                             **space)
    return out['views'][0], out['world']


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    args = parse_args(argv)
    from virtualpose_mm.apis import InferenceError, init_model, inference_monocular, load_rig
    from virtualpose_mm.apis.inference_monocular import keypoints_from_pose2d
    from virtualpose_mm.datasets.transforms.loading import read_image
    from virtualpose_mm.registry import VISUALIZERS

    if args.kpt2d_file is None and args.img is None:
        raise DemoError('give --img (images, with --pose2d) or --kpt2d-file (2D detections)')
    if args.pose2d_checkpoint and not args.pose2d:
        raise DemoError('--pose2d-checkpoint needs --pose2d')
    if not (np.isfinite(args.bbox_thr) and args.bbox_thr >= 0):
        raise DemoError(f'--bbox-thr must be a number ≥ 0, got {args.bbox_thr}')
    cam_names = None
    if args.camera_param_file:
        if not osp.isfile(args.camera_param_file):
            raise DemoError(f'{args.camera_param_file}: camera file not found')
        _, cam_names = load_rig(args.camera_param_file, image_size=args.image_size)
    runs = []  # ((name, image path, detections), camera index, camera name)
    if args.kpt2d_file:
        for index in (args.camera_index or [None]):
            cam_name, items = kpt2d_items(args, cam_names, index)
            runs += [(it, index if index is not None else cam_name, cam_name)
                     for it in items]
    else:
        if args.camera_index is not None and len(args.camera_index) > 1:
            raise DemoError('--img: the images are of one camera; give one --camera-index')
        index = args.camera_index[0] if args.camera_index else None
        runs = [((osp.splitext(osp.basename(p))[0], p, None), index, index)
                for p in list_images(args.img)]
    camera = args.camera_param_file if args.camera_param_file else args.focal

    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    assembled = type(model).__name__ == 'VirtualPoseImageEstimator'  # stage 1 + stage 2
    net = model.stage2 if assembled else model
    if not hasattr(net, 'root_net') or type(net).__name__ != 'VirtualPose':
        raise DemoError(f'{args.config}: a {type(model).__name__} config; this demo runs '
                        'VirtualPose (stage 2) and VirtualPoseImageEstimator configs')
    if args.kpt2d_file is None and not args.pose2d and not assembled:
        raise DemoError('--img needs a 2D model for the keypoints: --pose2d CFG '
                        '--pose2d-checkpoint PTH (or give --kpt2d-file, or an assembled '
                        'VirtualPoseImageEstimator config)')
    pose2d = None
    if args.pose2d and args.kpt2d_file is None:
        from mmpose.apis.inferencers import Pose2DInferencer
        pose2d = Pose2DInferencer(model=args.pose2d, weights=args.pose2d_checkpoint,
                                  device=args.device)
    vis = VISUALIZERS.build(dict(type='MultiviewPose3dVisualizer', name='monocular_demo'))
    vis.set_dataset_meta(model.dataset_meta)
    space = dict(space_size=net.root_net.space_size, space_center=net.root_net.space_center)

    ref_roots = load_reference_roots(args.reference_json) if args.reference_json else None
    if ref_roots is not None and not args.camera_param_file:
        raise DemoError('--reference-json compares world positions: give the camera with '
                        'its extrinsics (--camera-param-file)')

    os.makedirs(args.out_dir, exist_ok=True)
    lines, all_dist = [], []
    for (name, img_path, dets), cam_index, cam_name in runs:
        img = read_image(img_path) if img_path else None
        if img is not None:
            src = img
        elif args.image_size is not None:
            src = tuple(args.image_size)
        else:
            src = None
        try:
            if src is None:  # the camera file's own image size
                from virtualpose_mm.apis import monocular_camera
                cam, _ = monocular_camera(camera, None, camera_index=cam_index)
                src = tuple(int(v) for v in cam.image_size)
            if pose2d is not None:
                k, s, _ = keypoints_from_pose2d(pose2d, img_path)
                dets = np.concatenate([k, s[..., None]], -1)
            sample = inference_monocular(model, src, camera=camera, keypoints_2d=dets,
                                         camera_index=cam_index if args.camera_param_file
                                         else None, input_joint_set=args.input_joint_set,
                                         score_thr=args.score_thr, frame_id=name)
        except InferenceError as e:
            raise DemoError(f'{name}: {e}') from None
        left_out = keep_confident(sample, args.bbox_thr)
        record = frame_record(name, img_path, sample, model, cam_name)
        record.update(bbox_thr=args.bbox_thr, num_below_bbox_thr=left_out)
        dist_txt = ''
        if ref_roots is not None:
            frame = frame_of(name, args.kpt2d_file is not None)
            if frame not in ref_roots:
                raise DemoError(f'{args.reference_json}: no frame {frame!r} (frames: '
                                f'{sorted(ref_roots)})')
            roots = np.asarray(sample.pred_instances.keypoints_world,
                               np.float64)[:, net.root_index]
            ref = ref_roots[frame]
            d = (np.linalg.norm(roots[:, None] - ref[None], axis=-1).min(1) if len(ref)
                 else np.full(len(roots), np.inf))
            for person, di in zip(record['people'], d):
                person['root_distance_to_reference_mm'] = \
                    round(float(di), 2) if np.isfinite(di) else None
            record['reference'] = dict(file=args.reference_json, frame=frame,
                                       num_people=int(len(ref)))
            all_dist.extend(d[np.isfinite(d)].tolist())
            dist_txt = (f'; {len(ref)} in the multi-view result, root distance to the nearest '
                        'one (m) ' + (', '.join(f'{v / 1000:.2f}' for v in d) or '-'))
        mv.atomic_write_text(osp.join(args.out_dir, f'{name}.json'),
                             json.dumps(record, indent=1, allow_nan=False))
        rgb = None if img is None else np.ascontiguousarray(img[..., ::-1])
        view, world = draw(vis, sample, rgb, space)
        mv.atomic_write_image(osp.join(args.out_dir, f'{name}_2d.png'), view)
        mv.atomic_write_image(osp.join(args.out_dir, f'{name}_3d.png'), world)
        depths = ', '.join(f'{p["root_depth_mm"] / 1000:.2f}' for p in record['people'])
        lines.append(f'{name}: {record["num_people"]} people'
                     + (f' ({left_out} below --bbox-thr left out)' if left_out else '')
                     + (f', root depths (m) {depths}' if depths else '') + dist_txt)
    for line in lines:
        print(line)
    if ref_roots is not None and all_dist:
        a = np.asarray(all_dist)
        print(f'root distance to the multi-view roots over {len(a)} people: median '
              f'{np.median(a) / 1000:.2f} m, {np.mean(a < 500) * 100:.0f}% within 0.5 m, '
              f'{np.mean(a < 1000) * 100:.0f}% within 1 m')
    print(f'results: {osp.abspath(args.out_dir)}')
    return 0


def cli(argv=None) -> int:
    """``main`` with user errors as one line on stderr and exit status 2."""
    from virtualpose_mm.apis import InferenceError
    from virtualpose_mm.engine.runner import run_tool
    from virtualpose_mm.geometry.camera import CameraError
    try:
        return run_tool(lambda: main(argv), 'monocular demo')
    except (DemoError, InferenceError, CameraError, FileNotFoundError) as e:
        if os.environ.get('VPMM_DEBUG'):
            raise
        print(f'monocular demo: error: {e}', file=sys.stderr, flush=True)
        return 2


if __name__ == '__main__':
    sys.exit(cli())
