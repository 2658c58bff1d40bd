"""Multi-view multi-person 3D pose estimation on synchronized views (MMPose 0.x's demo).

MMPose 0.x's command works unchanged::

    python demo/body3d_multiview_detect_and_regress_img_demo.py CONFIG CHECKPOINT \\
        --img-root IMG_ROOT --camera-param-file IMG_ROOT/camera_parameters.json \\
        --out-img-root OUT [--visualize-single-view] [--device cpu]

``IMG_ROOT`` holds one sub-folder of frames per camera (0.x layout: ``IMG_ROOT/00_03/``,
``IMG_ROOT/00_06/``, ...), frames matched across views by file name. Without
``--camera-param-file`` the cameras are read from ``IMG_ROOT/camera_parameters.json``.

Beyond 0.x:

* camera files in every format ``virtualpose_mm.geometry.camera_io.load_cameras`` reads
  (Panoptic calibration, the 0.x ``camera_parameters.json``, Shelf/Campus json with
  ``--image-size``, SimpleCamera json/pickle), sniffed from the content; ``--cameras``
  picks and orders them by name (default: the file's cameras; for a 0.x image root, the
  cameras named like its view folders);
* ``--kpt2d-file FILE``: run from per-view 2D detections instead of images: the
  ``pred_*.pkl`` of Shelf/Campus (a dict keyed ``"{camera}_{frame}"`` of lists of
  ``{'pred': (K, 3) x, y, score}`` in original pixels) or the same structure as JSON
  (``{"0_12": [{"pred": [[x, y, score], ...]}, ...], ...}``); ``--frames`` picks frames
  (default: every frame all cameras have). ``--img-root`` is then optional (pictures are
  drawn on the images when given, frames matched by the number in the file name, else on
  blank canvases);
* ``--pose2d CFG --pose2d-checkpoint PTH``: 2D detections from any MMPose 2D model
  (bottom-up / one-stage models run as they are; top-down models need mmdet for the person
  boxes) for heatmap-input configs; image-input configs (Panoptic with its own backbone)
  read the images directly;
* ``--out-json FILE`` (all frames), ``--video FILE.mp4`` (the 3D pictures), a progress bar.

Per frame it writes ``OUT/<frame>.json`` (people with world-mm joints, scores, their
projections, and the reprojection error) and ``OUT/<frame>_3d.png`` (all people in the
capture space with the cameras); with ``--visualize-single-view`` also
``OUT/<frame>_view_<camera>.png`` (the 3D poses projected on each view, the 2D detections
for comparison). It prints per frame the people found and the median distance (px) between
the projected 3D joints and the matched 2D detections. Files are written completely or not
at all.
"""
import argparse
import json
import os
import os.path as osp
import re
import sys
from collections import OrderedDict

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='model config')
    p.add_argument('checkpoint', help='checkpoint (ours, voxelpose-pytorch or MMPose 0.x)')
    p.add_argument('--img-root', help='folder with one sub-folder of frames per camera')
    p.add_argument('--camera-param-file',
                   help='camera file (default: IMG_ROOT/camera_parameters.json)')
    p.add_argument('--cameras', nargs='+', help='camera names to use, in order')
    p.add_argument('--image-size', type=int, nargs=2, metavar=('W', 'H'),
                   help='image size, for camera files that do not store it (Shelf, Campus); '
                   "default: the config's image_size (the own-rig configs' variable)")
    p.add_argument('--kpt2d-file', help='per-view 2D detections (pred_*.pkl or JSON)')
    p.add_argument('--frames', nargs='+', help='frames to run (names or numbers)')
    p.add_argument('--pose2d', help='MMPose 2D model config (or model alias)')
    p.add_argument('--pose2d-checkpoint', help='its checkpoint')
    p.add_argument('--out-img-root', required=True, help='output folder')
    p.add_argument('--out-json', help='also write all frames to this JSON file')
    p.add_argument('--video', help='also write the 3D pictures as an MP4 video')
    p.add_argument('--fps', type=float, default=5.0, help='video frame rate')
    p.add_argument('--visualize-single-view', action='store_true',
                   help='also draw the 3D poses projected onto every view')
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='override config settings, key=value (as in tools/test.py)')
    return p.parse_args(argv)


class DemoError(ValueError):
    """A bad demo input; the message names the file or argument."""


# --------------------------------------------------------------------------- inputs
def config_image_size(cfg, config_file: str):
    """The top-level ``image_size`` (w, h) of the loaded config ``cfg``: the own-rig
    configs' variable for a calibration that does not store the image size; None if the
    config has none. ``config_file`` names it in errors."""
    size = cfg.get('image_size')
    if size is None:
        return None
    if not isinstance(size, (list, tuple)) or len(size) != 2 or \
            not all(isinstance(v, (int, float)) and v > 0 for v in size):
        raise DemoError(f'{config_file}: image_size must be (w, h) in pixels, got {size!r}')
    return tuple(int(v) for v in size)


def load_kpt2d_file(path: str) -> dict:
    """``{"{camera}_{frame}": (n, K, 3) array}`` from a ``pred_*.pkl`` or its JSON twin."""
    from virtualpose_mm.datasets.datasets.multiview.shelf_campus import (_detections_of,
                                                                         load_detections_2d)
    if not osp.isfile(path):
        raise DemoError(f'{path}: 2D keypoint file not found')
    if path.endswith('.json'):
        try:
            with open(path) as f:
                raw = json.load(f)
        except json.JSONDecodeError as e:
            raise DemoError(f'{path}: not valid JSON ({e})') from None
        if not isinstance(raw, dict):
            raise DemoError(f'{path}: expected an object keyed "camera_frame"')
    else:
        raw = load_detections_2d(path)
    out = {}
    for key in raw:
        entries = raw[key]
        if not entries:
            out[str(key)] = None  # n = 0: K is not known yet
            continue
        first = np.asarray(entries[0].get('pred') if isinstance(entries[0], dict) else None,
                           dtype=np.float64) if isinstance(entries, (list, tuple)) else None
        K = first.shape[0] if first is not None and first.ndim == 2 else 0
        out[str(key)] = _detections_of(raw, key, path, K)
    Ks = {v.shape[1] for v in out.values() if v is not None}
    if len(Ks) > 1:
        raise DemoError(f'{path}: detections with different joint counts {sorted(Ks)}')
    K = Ks.pop() if Ks else 0
    return {k: (np.zeros((0, K, 3)) if v is None else v) for k, v in out.items()}


def _split_key(key: str):
    cam, _, frame = key.rpartition('_')
    return cam, frame


def frames_of_kpt2d(dets: dict, names, path: str, wanted=None):
    """Frame names that every camera has, in numeric order (or ``wanted``)."""
    by_cam = {}
    for key in dets:
        cam, frame = _split_key(key)
        by_cam.setdefault(cam, set()).add(frame)
    unknown = [n for n in names if n not in by_cam]
    if unknown and wanted is None:
        raise DemoError(f'{path}: no detections for camera(s) {unknown}; the file has '
                        f'cameras {sorted(by_cam)}')
    if wanted is None:
        common = set.intersection(*(by_cam[n] for n in names))
        if not common:
            raise DemoError(f'{path}: no frame has detections for every camera {names}')
        return sorted(common, key=lambda f: (len(f), f))
    for f in wanted:
        missing = [n for n in names if f'{n}_{f}' not in dets]
        if missing:
            raise DemoError(f'{path}: frame {f}: no detections for camera(s) {missing} '
                            f'(a missing view)')
    return [str(f) for f in wanted]


def _frame_number(name: str):
    m = re.search(r'(\d+)$', osp.splitext(name)[0])
    return int(m.group(1)) if m else None


def image_frames(img_root: str, view_dirs):
    """{frame name: [V paths]} of a 0.x image root."""
    from virtualpose_mm.apis import iter_multiview_frames
    return OrderedDict(iter_multiview_frames(img_root, view_dirs))


def view_dirs_for(img_root: str, names):
    """The image folders of the cameras: named like the cameras, else all in sorted order
    when there are as many as cameras."""
    dirs = sorted(d for d in os.listdir(img_root) if osp.isdir(osp.join(img_root, d)))
    if all(n in dirs for n in names):
        return list(names)
    if len(dirs) != len(names):
        raise DemoError(f'{img_root}: {len(dirs)} view folders {dirs} for {len(names)} '
                        f'cameras {list(names)} (name the folders like the cameras, or give '
                        '--cameras)')
    return dirs


# --------------------------------------------------------------------------- figures
def project_people(rig, kpts3d):
    """(V, N, K, 2) projections and (V, N, K) in-front flags of world-mm joints."""
    V = rig.batch_shape[0]
    N, K = kpts3d.shape[:2]
    uv = np.zeros((V, N, K, 2))
    front = np.zeros((V, N, K), bool)
    for v in range(V):
        cam = rig[v]
        if N:
            X = kpts3d.reshape(-1, 3)
            uv[v] = np.asarray(cam.project(X)).reshape(N, K, 2)
            front[v] = (np.asarray(cam.world_to_camera(X))[:, 2] > 1.0).reshape(N, K)
    return uv, front


def reprojection_error(uv, front, dets, score_thr: float = 0.3):
    """Median distance (px) between projected 3D joints and the 2D detections matched to
    each person (Hungarian per view on the mean joint distance; joints with detection score
    ≥ ``score_thr``), and the per-view matched distances. NaN when nothing matches."""
    from scipy.optimize import linear_sum_assignment
    dists = []
    for v, det in enumerate(dets):
        if len(det) == 0 or uv.shape[1] == 0:
            continue
        ok = det[None, :, :, 2] >= score_thr                                  # (1, M, K)
        d = np.linalg.norm(uv[v][:, None] - det[None, :, :, :2], axis=-1)     # (N, M, K)
        ok = ok & front[v][:, None]
        cost = np.where(ok.any(-1), (d * ok).sum(-1) / np.maximum(ok.sum(-1), 1), 1e9)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols):
            if cost[r, c] < 1e9:
                dists.append(d[r, c][ok[0, c] & front[v][r]])
    if not dists:
        return float('nan')
    return float(np.median(np.concatenate(dists)))


# --------------------------------------------------------------------------- outputs
def atomic_write_text(path: str, text: str) -> None:
    from virtualpose_mm.engine.fileio import atomic_write_bytes
    atomic_write_bytes(path, text.encode('utf-8'))


def atomic_write_image(path: str, rgb: np.ndarray) -> None:
    import cv2

    from virtualpose_mm.engine.fileio import atomic_write_bytes
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(rgb[..., 2::-1]))
    if not ok:
        raise DemoError(f'{path}: PNG encoding failed')
    atomic_write_bytes(path, buf.tobytes())


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    args = parse_args(argv)
    from virtualpose_mm.apis import InferenceError, inference_multiview, init_model, load_rig
    from virtualpose_mm.geometry.camera import CameraError

    if args.kpt2d_file is None and args.img_root is None:
        raise DemoError('give --img-root (images) or --kpt2d-file (2D detections)')
    if args.pose2d_checkpoint and not args.pose2d:
        raise DemoError('--pose2d-checkpoint needs --pose2d')
    cam_file = args.camera_param_file
    if cam_file is None:
        if args.img_root is None:
            raise DemoError('give --camera-param-file (no --img-root to find '
                            'camera_parameters.json in)')
        cam_file = osp.join(args.img_root, 'camera_parameters.json')
    # the config, read once as init_model reads it (its image_size below, then the model)
    from virtualpose_mm.apis import load_config
    cfg = load_config(args.config, args.cfg_options)
    if args.image_size is None:         # the config's, for a file that does not store it
        args.image_size = config_image_size(cfg, args.config)
    names = args.cameras
    if names is None and args.img_root is not None and args.kpt2d_file is None and \
            osp.isdir(args.img_root) and osp.isfile(cam_file):
        # 0.x layout: the cameras named like the view folders, when the file has them all
        dirs = sorted(d for d in os.listdir(args.img_root)
                      if osp.isdir(osp.join(args.img_root, d)))
        try:
            load_rig(cam_file, image_size=args.image_size, names=dirs)
            names = dirs
        except (CameraError, KeyError, ValueError):
            names = None  # not named like the folders: the file's cameras, folders in order
    rig, names = load_rig(cam_file, image_size=args.image_size, names=names)
    V = rig.batch_shape[0]

    model = init_model(cfg, args.checkpoint, device=args.device)
    want = getattr(model, 'num_views', None)
    if want is not None and want != V:
        raise DemoError(f'{cam_file}: {V} cameras {names}, but the checkpoint\'s config '
                        f'({osp.basename(args.config)}) is for num_views={want}')

    # frames and their inputs
    dets = None
    if args.kpt2d_file:
        dets = load_kpt2d_file(args.kpt2d_file)
        frames = frames_of_kpt2d(dets, names, args.kpt2d_file, args.frames)
        imgs = {}
        if args.img_root:
            by_num = {}
            for fname, paths in image_frames(args.img_root,
                                             view_dirs_for(args.img_root, names)).items():
                by_num[_frame_number(fname)] = paths
            imgs = {f: by_num.get(_frame_number(f)) for f in frames}
    else:
        allf = image_frames(args.img_root, view_dirs_for(args.img_root, names))
        frames = list(allf) if args.frames is None else [str(f) for f in args.frames]
        missing = [f for f in frames if f not in allf]
        if missing:
            raise DemoError(f'{args.img_root}: no frame {missing} in every view folder')
        imgs = {f: allf[f] for f in frames}

    pose2d = None
    if args.pose2d and dets is None:
        from mmpose.apis.inferencers import Pose2DInferencer
        pose2d = Pose2DInferencer(model=args.pose2d, weights=args.pose2d_checkpoint,
                                  device=args.device)

    from mmengine.utils import ProgressBar

    from virtualpose_mm.datasets.transforms.loading import read_image
    from virtualpose_mm.registry import VISUALIZERS
    vis = VISUALIZERS.build(dict(type='MultiviewPose3dVisualizer',
                                 name='multiview_demo'))
    vis.set_dataset_meta(model.dataset_meta)
    space = dict(space_size=getattr(model.root_net, 'space_size', None),
                 space_center=getattr(model.root_net, 'space_center', None)) \
        if hasattr(model, 'root_net') else {}

    os.makedirs(args.out_img_root, exist_ok=True)
    summary, video_frames = [], []
    bar = ProgressBar(len(frames))
    lines = []
    for f in frames:
        paths = imgs.get(f)
        images = [read_image(p, to_rgb=True) for p in paths] if paths else None
        if dets is not None:
            views = [dets[f'{n}_{f}'] for n in names]
            view_dets = views
        elif pose2d is not None:
            views = []
            for cam, p in zip(names, paths):
                res = next(pose2d(p, return_datasamples=True))['predictions'][0]
                k = np.asarray(res.pred_instances.keypoints, dtype=np.float64)
                s = np.asarray(res.pred_instances.keypoint_scores, dtype=np.float64)
                d = np.concatenate([k, s[..., None]], -1).reshape(-1, *k.shape[-2:-1], 3)
                ok = np.isfinite(d).all(axis=(1, 2))
                if not ok.all():  # said, not silent: a 2D model's invalid people
                    print(f'warning: frame {f}, camera {cam}: the 2D model returned '
                          f'{int((~ok).sum())} of {len(ok)} people with NaN/inf keypoints; '
                          'they are left out', file=sys.stderr)
                views.append(d[ok])
            view_dets = views
        else:
            views, view_dets = paths, None
        try:
            sample = inference_multiview(model, views, rig, view_names=names)
        except (InferenceError, CameraError) as e:
            raise DemoError(f'frame {f}: {e}') from None
        pred = sample.pred_instances
        k3d = np.asarray(pred.keypoints, dtype=np.float64).reshape(-1, *pred.keypoints.shape[1:])
        uv, front = project_people(rig, k3d)
        err = reprojection_error(uv, front, view_dets) if view_dets is not None else \
            float('nan')
        people = []
        for i in range(len(k3d)):
            people.append(dict(
                keypoints_3d=k3d[i].round(2).tolist(),
                keypoint_scores=np.asarray(pred.keypoint_scores[i]).round(4).tolist(),
                score=float(pred.bbox_scores[i]),
                keypoints_2d={n: [[round(float(x), 2) for x in p] if front[v, i, j] else None
                                  for j, p in enumerate(uv[v, i])]
                              for v, n in enumerate(names)}))
        record = dict(frame=f, cameras=names, units='world millimetres (z up)',
                      joint_names=list(model.dataset_meta.get('keypoint_id2name', {}).values()),
                      num_people=len(people), people=people,
                      reprojection_error_px=None if np.isnan(err) else round(err, 3))
        atomic_write_text(osp.join(args.out_img_root, f'{f}.json'),
                          json.dumps(record, indent=1, allow_nan=False))
        summary.append(record)
        out = vis.add_datasample(
            f'frame {f}', sample, cameras=rig, camera_names=names, images=images,
            keypoints_2d=view_dets, draw_gt=False,
            visualize_single_view=args.visualize_single_view, return_views=True, **space)
        atomic_write_image(osp.join(args.out_img_root, f'{f}_3d.png'), out['world'])
        video_frames.append(out['world'])
        if args.visualize_single_view:
            for n, img in zip(names, out['views']):
                atomic_write_image(osp.join(args.out_img_root, f'{f}_view_{n}.png'), img)
        why = 'n/a (no 2D detections)' if view_dets is None else 'n/a (nobody found)' \
            if not people else 'n/a (no person matches a detection)'
        lines.append(f'frame {f}: {len(people)} people, median reprojection error '
                     + (why if np.isnan(err) else f'{err:.1f} px'))
        bar.update()
    print()
    for line in lines:
        print(line)
    if args.out_json:
        atomic_write_text(args.out_json, json.dumps(dict(frames=summary), indent=1,
                                                    allow_nan=False))
    if args.video:
        write_video(args.video, video_frames, args.fps)
    print(f'results: {osp.abspath(args.out_img_root)}')
    return 0


def write_video(path: str, frames, fps: float) -> None:
    """MP4 of RGB frames, written to a temporary file and renamed (complete or absent)."""
    import tempfile

    import cv2
    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.mp4', dir=folder)
    os.close(fd)
    try:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
        if not writer.isOpened():
            raise DemoError(f'{path}: OpenCV cannot write MP4 here')
        for f in frames:
            canvas = np.full((h, w, 3), 255, np.uint8)
            canvas[:f.shape[0], :f.shape[1]] = f[..., :3]
            writer.write(canvas[..., ::-1])
        writer.release()
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def cli(argv=None) -> int:
    """``main`` with user errors as one line on stderr and exit status 2."""
    from virtualpose_mm.apis import InferenceError
    from virtualpose_mm.engine.runner import run_tool
    try:
        return run_tool(lambda: main(argv), 'multi-view demo')
    except (DemoError, InferenceError, FileNotFoundError) as e:
        if os.environ.get('VPMM_DEBUG'):
            raise
        print(f'multi-view demo: error: {e}', file=sys.stderr, flush=True)
        return 2


if __name__ == '__main__':
    sys.exit(cli())
