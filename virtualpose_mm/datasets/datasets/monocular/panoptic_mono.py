"""CMU Panoptic, monocular (the HMOR protocol used by VirtualPose).

HMOR (Wang et al., ECCV 2020) evaluates single-camera multi-person 3D on CMU Panoptic
(activities haggling, mafia, ultimatum, pizza) and ships its split as
``clean_train.pkl`` / ``clean_valid.pkl``. VirtualPose merges them with the Panoptic
calibration (``data/panoptic-toolbox/pack.py``) into ``train_cam.pkl`` / ``valid_cam.pkl``.
Here ``tools/dataset_converters/panoptic_mono_hmor.py`` does that merge once, with
:func:`convert_hmor`, into ONE annotation file (a pickle) that
:class:`PanopticMonoDataset` reads; every camera and joint is converted into the package
convention on the way.

**HMOR fields assumed** (no HMOR file is available here; these are exactly the fields the
VirtualPose reference reads, ``pack.py`` and ``dataset/panoptic.py``): ``clean_*.pkl`` is a
list of dicts, one per (frame, HD camera), with

* ``image_name`` (str): ``[<prefix>/]<seq>/hdImgs/<pp_nn>/<pp_nn>_<frame:08d>.jpg``; the
  sequence is the 4th path part from the end and the camera name the 2nd (as
  ``pack.py`` splits it), the frame number is the digits after the last ``_``;
* ``joints_3d_cam`` (P, 15, 3): the people's Panoptic-15 joints (VoxelPose order: neck,
  nose, mid-hip, left arm, left leg, right arm, right leg) in **centimetres** in that
  camera's frame;
* ``joints_3d_vis`` (P, 15, 3) or (P, 15): 3D joint visibility (0/1);
* ``intrinsics`` (3, 3), optional: the camera matrix (the reference uses it instead of
  the calibration's ``K``).

The camera comes from ``<panoptic_root>/[<prefix>/]<seq>/calibration_<seq>.json`` (the HD
camera named like the image folder), converted by
:func:`~virtualpose_mm.geometry.camera_io.load_panoptic_calibration` (axis swap to z-up,
cm → mm, distortion kept). Joints go camera → world with that camera: world z-up mm,
floor ≈ z = 0, the Panoptic world.

**Annotation file** written by :func:`convert_hmor` (a pickle of plain Python / numpy):
``{'format': 'virtualpose_mm.panoptic_mono', 'version': 1, 'joint_set': 'panoptic15',
'units': 'mm', 'intrinsics': 'hmor' | 'calibration', 'sources': {...},
'cameras': {'<seq>/<cam>': Camera.to_dict()}, 'splits': {'train': [frame, ...],
'valid': [...]}}`` with ``frame = {'image', 'seq_name', 'camera_name', 'camera_key',
'frame_id', 'keypoints_3d' (P, 15, 3) float64 world mm, 'keypoints_3d_visible' (P, 15)
bool}``.
"""
from __future__ import annotations

import os
import os.path as osp
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from virtualpose_mm.engine.safe_pickle import UnsafePickleError, safe_load_pickle
from virtualpose_mm.geometry.camera import Camera, CameraError
from virtualpose_mm.geometry.camera_io import load_panoptic_calibration
from virtualpose_mm.registry import DATASETS
from virtualpose_mm.datasets.datasets.base.mono_base import BaseMonoDataset, DatasetError

__all__ = ['PanopticMonoDataset', 'convert_hmor', 'load_panoptic_mono', 'read_hmor_pkl',
           'PANOPTIC_MONO_FORMAT', 'panoptic_activity']

PANOPTIC_MONO_FORMAT = 'virtualpose_mm.panoptic_mono'
PANOPTIC_MONO_VERSION = 1
_FRAME_RE = re.compile(r'_(\d+)\.\w+$')
_ACTIVITY_RE = re.compile(r'^(?:\d+_)?([A-Za-z]+?)\d*$')


def panoptic_activity(seq_name: str) -> str:
    """The activity of a Panoptic sequence: ``'160422_haggling1'`` → ``'haggling'``
    (the name without the date prefix and the take number)."""
    m = _ACTIVITY_RE.match(str(seq_name))
    return m.group(1) if m else str(seq_name)


def read_hmor_pkl(path: str) -> list:
    """Load an HMOR ``clean_*.pkl`` and check that it is a list of dicts."""
    path = os.fspath(path)
    if not osp.isfile(path):
        raise DatasetError(f'{path}: HMOR annotation file not found')
    try:  # restricted unpickler: containers and numpy arrays only, nothing is run
        data = safe_load_pickle(path, what='HMOR annotation file')
    except UnsafePickleError as e:
        raise DatasetError(str(e)) from e
    except Exception as e:  # pickle raises many kinds of errors on a bad file
        raise DatasetError(f'{path}: not a readable pickle ({type(e).__name__}: {e})') \
            from None
    if not isinstance(data, (list, tuple)):
        raise DatasetError(f'{path}: expected a list of per-image dicts, got '
                           f'{type(data).__name__}')
    return list(data)


def _parse_image_name(name, src: str):
    if not isinstance(name, str):
        raise DatasetError(f"{src}: field 'image_name' must be a string, got "
                           f'{type(name).__name__}')
    parts = name.replace('\\', '/').split('/')
    m = _FRAME_RE.search(parts[-1])
    if len(parts) < 4 or not m:
        raise DatasetError(f"{src}: field 'image_name' = {name!r} is not "
                           "'<seq>/hdImgs/<pp_nn>/<pp_nn>_<frame>.jpg'")
    return parts, parts[-4], parts[-2], int(m.group(1))


def _people_array(term: Mapping, key: str, src: str, P: Optional[int] = None,
                  vis: bool = False) -> np.ndarray:
    """``term[key]`` as (P, 15, 3) (or, with ``vis``, (P, 15) / (P, 15, C)), checked."""
    if key not in term:
        raise DatasetError(f'{src}: missing field {key!r} (fields: {sorted(term)[:12]})')
    try:
        a = np.asarray(term[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f'{src}: field {key!r} is not numeric') from None
    if a.size == 0:
        a = a.reshape((0, 15) if vis else (0, 15, 3))
    ok = (a.ndim in (2, 3) and a.shape[1] == 15) if vis else (a.ndim == 3 and
                                                              a.shape[1:] == (15, 3))
    if not ok or (P is not None and a.shape[0] != P):
        want = f'({P if P is not None else "P"}, 15{"[, C]" if vis else ", 3"})'
        raise DatasetError(f'{src}: field {key!r} has shape {a.shape}, expected {want}')
    if not np.isfinite(a).all():
        raise DatasetError(f'{src}: field {key!r} contains NaN or infinite values')
    return a


def convert_hmor(hmor_files: Mapping[str, str], panoptic_root: str,
                 intrinsics: str = 'hmor', image_prefix_strip: int = 0,
                 progress: Optional[Callable[[], None]] = None) -> dict:
    """Merge HMOR ``clean_*.pkl`` files with the Panoptic calibrations (module docstring).

    Args:
        hmor_files: split name → HMOR pickle, e.g. ``{'train': 'clean_train.pkl',
            'valid': 'clean_valid.pkl'}``.
        panoptic_root: folder of the Panoptic sequences (the toolbox's ``data``);
            calibrations are looked up at ``<root>/<image path up to the sequence>/
            calibration_<seq>.json`` (as ``pack.py``), else ``<root>/<seq>/...``.
        intrinsics: ``'hmor'`` (the term's ``intrinsics`` when present, as the reference;
            the calibration's ``K`` otherwise) or ``'calibration'`` (always ``K``).
        image_prefix_strip: leading path parts of ``image_name`` to drop in the stored
            image path (e.g. 1 to drop a ``data/`` prefix).
        progress: called once per HMOR term (e.g. ``ProgressBar.update``).

    Returns:
        the annotation dict (write it with :func:`pickle.dump`).

    Raises:
        DatasetError naming the file, the entry and the field of anything malformed, a
        missing calibration file or camera, and an HMOR ``intrinsics`` that differs from
        an earlier entry of the same camera.
    """
    if intrinsics not in ('hmor', 'calibration'):
        raise ValueError(f"intrinsics must be 'hmor' or 'calibration', got {intrinsics!r}")
    panoptic_root = os.fspath(panoptic_root)
    calib_cache: Dict[str, str] = {}
    cameras: Dict[str, dict] = {}
    cam_src: Dict[str, str] = {}
    splits: Dict[str, List[dict]] = {}
    stats = dict(terms=0, people=0, k_from_hmor=0)
    for split, path in hmor_files.items():
        terms = read_hmor_pkl(path)
        frames = []
        for i, term in enumerate(terms):
            src = f'{path}: [{i}]'
            if not isinstance(term, Mapping):
                raise DatasetError(f'{src}: expected a dict, got {type(term).__name__}')
            if 'image_name' not in term:
                raise DatasetError(f"{src}: missing field 'image_name' (fields: "
                                   f'{sorted(term)[:12]})')
            parts, seq, cam_name, frame = _parse_image_name(term['image_name'], src)
            key = f'{seq}/{cam_name}'
            if key not in cameras:
                cands = [osp.join(panoptic_root, *parts[:-3], f'calibration_{seq}.json'),
                         osp.join(panoptic_root, seq, f'calibration_{seq}.json')]
                calib = next((c for c in cands if osp.isfile(c)), None)
                if calib is None:
                    raise DatasetError(f"{src}: no calibration for sequence {seq!r} (field "
                                       f"'image_name'); looked for {cands}")
                calib_cache[seq] = calib
                try:
                    cam = load_panoptic_calibration(calib, cameras=[cam_name])[cam_name]
                except CameraError as e:
                    raise DatasetError(f'{e} (needed by {src})') from None
                if intrinsics == 'hmor' and 'intrinsics' in term:
                    K = _intrinsics_k(term, src)
                    cam = Camera(cam.R, cam.t, [K[0, 0], K[1, 1]], [K[0, 2], K[1, 2]],
                                 cam.dist, cam.image_size, source=cam.source + ' + ' + src)
                    stats['k_from_hmor'] += 1
                cameras[key] = cam.to_dict()
                cam_src[key] = src
            elif intrinsics == 'hmor' and 'intrinsics' in term:
                K = _intrinsics_k(term, src)
                have = cameras[key]
                want = np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]])
                if not np.allclose(np.r_[have['f'], have['c']], want, rtol=1e-6, atol=1e-6):
                    raise DatasetError(
                        f"{src}: field 'intrinsics' {want.tolist()} differs from the one of "
                        f"{cam_src[key]} ({np.r_[have['f'], have['c']].tolist()}) for the "
                        f"same camera {key}; use intrinsics='calibration'")
            j = _people_array(term, 'joints_3d_cam', src) * 10.0  # cm → mm, camera frame
            vis = _people_array(term, 'joints_3d_vis', src, P=j.shape[0], vis=True)
            vis = (vis[..., 0] if vis.ndim == 3 else vis) > 0
            cam = Camera.from_dict(cameras[key], source=key, validate=False)
            world = cam.camera_to_world(j) if len(j) else np.zeros((0, 15, 3))
            frames.append(dict(image='/'.join(parts[image_prefix_strip:]), seq_name=seq,
                               camera_name=cam_name, camera_key=key, frame_id=frame,
                               keypoints_3d=world, keypoints_3d_visible=vis))
            stats['terms'] += 1
            stats['people'] += len(j)
            if progress is not None:
                progress()
        splits[split] = frames
    return dict(format=PANOPTIC_MONO_FORMAT, version=PANOPTIC_MONO_VERSION,
                joint_set='panoptic15', units='mm',
                world='CMU Panoptic world, z up (axis swap of the y-down calibration), mm',
                intrinsics=intrinsics,
                sources=dict(hmor={k: os.fspath(v) for k, v in hmor_files.items()},
                             panoptic_root=panoptic_root, calibrations=calib_cache),
                stats=stats, cameras=cameras, splits=splits)


def _intrinsics_k(term: Mapping, src: str) -> np.ndarray:
    try:
        K = np.asarray(term['intrinsics'], dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{src}: field 'intrinsics' is not numeric") from None
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise DatasetError(f"{src}: field 'intrinsics' must be a finite 3×3 camera matrix "
                           f'with positive focal lengths, got shape {K.shape}')
    return K


def load_panoptic_mono(path: str) -> dict:
    """Read and check an annotation file written by :func:`convert_hmor`."""
    path = os.fspath(path)
    if not osp.isfile(path):
        raise DatasetError(f'{path}: annotation file not found (make it with '
                           'tools/dataset_converters/panoptic_mono_hmor.py)')
    try:  # restricted unpickler: containers and numpy arrays only, nothing is run
        data = safe_load_pickle(path, what='Panoptic-mono annotation file')
    except UnsafePickleError as e:
        raise DatasetError(str(e)) from e
    except Exception as e:
        raise DatasetError(f'{path}: not a readable pickle ({type(e).__name__}: {e})') \
            from None
    if not isinstance(data, dict) or data.get('format') != PANOPTIC_MONO_FORMAT:
        got = data.get('format') if isinstance(data, dict) else type(data).__name__
        raise DatasetError(f"{path}: field 'format' is {got!r}, expected "
                           f'{PANOPTIC_MONO_FORMAT!r} (an HMOR clean_*.pkl must be converted '
                           'first with tools/dataset_converters/panoptic_mono_hmor.py)')
    if data.get('version') != PANOPTIC_MONO_VERSION:
        raise DatasetError(f"{path}: field 'version' is {data.get('version')!r}, this code "
                           f'reads version {PANOPTIC_MONO_VERSION}; convert the HMOR files '
                           'again')
    for key in ('cameras', 'splits'):
        if not isinstance(data.get(key), dict):
            raise DatasetError(f'{path}: field {key!r} is missing or not a dict')
    return data


@DATASETS.register_module()
class PanopticMonoDataset(BaseMonoDataset):
    """CMU Panoptic monocular frames (HMOR split), Panoptic-15 GT in the Panoptic world.

    Args:
        ann_file: the file written by ``tools/dataset_converters/panoptic_mono_hmor.py``
            (relative to ``data_root`` if given).
        split: ``'train'`` or ``'valid'`` (a key of the file's ``splits``).
        img_prefix: folder the stored image paths are relative to (relative to
            ``data_root``).
        use_distortion: keep the calibration's lens distortion (default, the sound
            projection of the raw HD images). ``False`` zeroes it, as the reference does
            (its camera dict has ``k = p = 0``).
        cameras: optional camera names to keep (``['00_16', '00_30']``; the reference's
            ``TRAIN_VIEW`` / ``VAL_VIEW``).
        sequences: optional sequence names to keep.
        frame_interval: keep every n-th frame of the split (in file order).
        filter_empty: drop frames without people (logged with the count).
        **kwargs: :class:`BaseMonoDataset` / :class:`mmengine.dataset.BaseDataset`
            arguments.
    """

    dataset_name = 'panoptic_mono'
    only_joint_set = ('panoptic15', 'the HMOR annotations are Panoptic-15')

    def __init__(self, ann_file: str, split: str = 'valid', img_prefix: str = '',
                 use_distortion: bool = True, cameras: Optional[Sequence[str]] = None,
                 sequences: Optional[Sequence[str]] = None, frame_interval: int = 1,
                 filter_empty: bool = True, joint_set: str = 'panoptic15', **kwargs):
        self.split = split
        self.img_prefix = img_prefix
        self.use_distortion = bool(use_distortion)
        self.cameras_cfg = None if cameras is None else [str(c) for c in cameras]
        self.sequences = None if sequences is None else [str(s) for s in sequences]
        if int(frame_interval) < 1:
            raise ValueError(f'frame_interval must be ≥ 1, got {frame_interval}')
        self.frame_interval = int(frame_interval)
        self.filter_empty = bool(filter_empty)
        self._cameras: Dict[str, Camera] = {}
        super().__init__(ann_file=ann_file, joint_set=joint_set, **kwargs)

    def load_data_list(self) -> List[dict]:
        data = load_panoptic_mono(self.ann_file)
        if self.split not in data['splits']:
            raise DatasetError(f"{self.ann_file}: field 'splits' has no split "
                               f'{self.split!r} (it has {sorted(data["splits"])})')
        for key, d in data['cameras'].items():
            try:
                cam = Camera.from_dict(d, source=f'{self.ann_file}: cameras[{key!r}]')
            except CameraError as e:
                raise DatasetError(str(e)) from None
            if not self.use_distortion:
                cam = Camera(cam.R, cam.t, cam.f, cam.c, None, cam.image_size,
                             source=cam.source + ' (no distortion)')
            self._cameras[key] = cam
        frames = data['splits'][self.split][::self.frame_interval]
        root = osp.join(self.data_root, self.img_prefix) if self.data_root else self.img_prefix
        out, empty = [], 0
        for i, fr in enumerate(frames):
            src = f'{self.ann_file}: splits[{self.split!r}][{i * self.frame_interval}]'
            if self.cameras_cfg is not None and fr['camera_name'] not in self.cameras_cfg:
                continue
            if self.sequences is not None and fr['seq_name'] not in self.sequences:
                continue
            if fr['camera_key'] not in self._cameras:
                raise DatasetError(f"{src}: field 'camera_key' = {fr['camera_key']!r} has no "
                                   "entry in 'cameras'")
            X = np.asarray(fr['keypoints_3d'], dtype=np.float64).reshape(-1, 15, 3)
            vis = np.asarray(fr['keypoints_3d_visible'], dtype=bool).reshape(-1, 15)
            if len(vis) != len(X):
                raise DatasetError(f"{src}: fields 'keypoints_3d' and 'keypoints_3d_visible' "
                                   f'hold {len(X)} and {len(vis)} people')
            if len(X) == 0 and self.filter_empty:
                empty += 1
                continue
            cam = self._cameras[fr['camera_key']]
            out.append(dict(img_path=osp.join(root, fr['image']), seq_name=fr['seq_name'],
                            camera_name=fr['camera_name'], camera_key=fr['camera_key'],
                            frame_id=int(fr['frame_id']),
                            image_size=np.asarray(cam.image_size, np.float64),
                            gt_keypoints_3d=X, gt_keypoints_3d_visible=vis,
                            gt_ids=np.arange(len(X), dtype=np.int64)))
        if empty:
            print_log(f'{self.ann_file}: {empty} frames of split {self.split!r} without '
                      'people were left out (filter_empty=True)', logger='current')
        if not out:
            raise DatasetError(f'{self.ann_file}: no frame of split {self.split!r} is left '
                               f'after the camera / sequence filters (cameras='
                               f'{self.cameras_cfg}, sequences={self.sequences})')
        return out

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if not self._cameras:  # lazy_init / a worker that rebuilt the object
            self.load_data_list()
        info['camera'] = self._cameras[info['camera_key']]
        info['dataset_name'] = self.dataset_name
        return info
