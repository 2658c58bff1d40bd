"""Converters from every dataset's native camera format into :class:`Camera`.

Nothing downstream of this module knows a dataset's native convention: every loader returns
cameras in the package convention (``DESIGN.md`` §2): world z-up in millimetres, ``R``
world → camera, ``t`` with ``X_cam = R·X + t``, ``f``/``c`` in pixels, ``dist`` =
(k1, k2, p1, p2, k3), ``image_size`` = (w, h).

Formats handled (one function each; :func:`load_cameras` sniffs the format of a file):

* :func:`load_panoptic_calibration`: CMU Panoptic ``calibration_<seq>.json`` (y-down, cm);
* :func:`load_shelf_campus_calibration`: Shelf / Campus ``calibration_*.json`` (``T`` = centre);
* :func:`load_mupots_cameras` / :func:`load_mupots_extrinsics`: MuPoTS-3D ``cameras.pkl``
  (extrinsics only, det −1 matrices repaired);
* :func:`camera_from_muco` / :func:`load_muco_cameras`: MuCo-3DHP RootNet json ``images[]``;
* :func:`load_mmpose_demo_cameras`: the MMPose-0.x multi-view demo ``camera_parameters.json``
  (a Panoptic calibration, possibly with cameras named after their image folders) and 0.x
  ``SimpleCamera`` parameter dicts (:func:`camera_from_simple_camera_param`).

Pickles (MuPoTS ``cameras.pkl``, 0.x ``SimpleCamera`` pickles) are read with the restricted
unpickler of :mod:`virtualpose_mm.engine.safe_pickle`, which runs nothing.

All loaders return an ``OrderedDict`` name → single :class:`Camera` (float64 numpy);
:func:`stack_cameras` turns it into one (V,) batch.

Every bad input raises :class:`CameraError` naming the file and the field.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..engine.safe_pickle import UnsafePickleError, safe_load_pickle
from .camera import Camera, CameraError

PathLike = Union[str, os.PathLike]

#: Panoptic's world has y pointing down; ``X_new = X_old · M`` (row vectors) makes it z-up.
#: A proper rotation (det +1): ``(x, y, z)_new = (x, z, −y)_old``, so "up" (−y_old) is +z_new.
PANOPTIC_AXIS_SWAP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
#: The five HD cameras (panel, node) used by VoxelPose / VirtualPose on Panoptic, in the
#: order of the reference config ``cam_list``.
PANOPTIC_DEFAULT_CAMERAS = ((0, 12), (0, 6), (0, 23), (0, 13), (0, 3))
#: Panoptic calibration and annotations are in centimetres.
PANOPTIC_CM_TO_MM = 10.0
#: MuCo-3DHP (MPI-INF-3DHP) world has y up; ``R_new = R_json · M`` makes it z-up
#: (the VirtualPose reference ``muco.py`` conversion): ``(x, y, z)_new = (x, −z, y)_old``.
MUCO_AXIS_SWAP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
#: Image sizes (w, h) of the datasets whose calibration files do not store it.
SHELF_IMAGE_SIZE = (1032, 776)
CAMPUS_IMAGE_SIZE = (360, 288)


# ----------------------------------------------------------------------------- helpers
def _field(d: Mapping, key: str, source: str):
    if not isinstance(d, Mapping):
        raise CameraError(f'{source}: expected a dict of camera fields, got {type(d).__name__}')
    if key not in d:
        raise CameraError(f'{source}: missing field {key!r} '
                          f'(fields present: {sorted(map(str, d))})')
    return d[key]


def _num(value: Any, key: str, source: str, shapes: Iterable[Tuple[int, ...]]) -> np.ndarray:
    """``value`` as float64 of one of ``shapes``, else CameraError. The result takes the
    first listed shape with as many elements (so (3, 1) and (1, 3) come back as (3,))."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().double().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CameraError(f'{source}: field {key!r} is not numeric (got {str(value)[:80]!r})') \
            from None
    shapes = list(shapes)
    if tuple(arr.shape) not in shapes:
        want = ' or '.join(str(s) for s in shapes)
        raise CameraError(f'{source}: field {key!r} has shape {tuple(arr.shape)}, expected {want}')
    if not np.all(np.isfinite(arr)):
        raise CameraError(f'{source}: field {key!r} contains NaN or infinite values')
    return arr.reshape(next(s for s in shapes if int(np.prod(s)) == arr.size))


def _scalar(d: Mapping, key: str, source: str) -> float:
    return float(_num(_field(d, key, source), key, source, [(), (1, ), (1, 1)]))


def _read_json(path: PathLike) -> Any:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CameraError(f'{path}: camera file not found')
    try:
        with open(path, 'r') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CameraError(f'{path}: not a valid JSON file ({e})') from None


def _read_pickle(path: PathLike) -> Any:
    """A camera pickle, read with the restricted unpickler (plain containers and numpy
    arrays only: a pickle naming any other global is refused and runs nothing)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CameraError(f'{path}: camera file not found')
    try:
        return safe_load_pickle(path, what='camera file')
    except UnsafePickleError as e:
        raise CameraError(str(e)) from e
    except Exception as e:  # pickle raises many kinds of errors on a bad file
        raise CameraError(f'{path}: not a readable pickle file ({type(e).__name__}: {e})') \
            from None


def _image_size(image_size, source: str, key: str = 'image_size') -> Optional[np.ndarray]:
    if image_size is None:
        return None
    return _num(image_size, key, source, [(2, )])


def _intrinsics_from_K(K: np.ndarray, key: str, source: str) -> Tuple[np.ndarray, np.ndarray]:
    """(3, 3) or (2, 3) ``K`` → f (2,), c (2,); refuses skew and a bad last row."""
    if abs(K[0, 1]) > 1e-9 * abs(K[0, 0]) or K[1, 0] != 0:
        raise CameraError(f'{source}: field {key!r} has a skew term (K[0,1] = {K[0, 1]:g}); '
                          'skewed intrinsics are not supported')
    if K.shape[0] == 3 and not np.allclose(K[2], [0.0, 0.0, 1.0]):
        raise CameraError(f'{source}: field {key!r} must have last row (0, 0, 1), got '
                          f'{K[2].tolist()}')
    return np.array([K[0, 0], K[1, 1]]), np.array([K[0, 2], K[1, 2]])


def stack_cameras(cameras: Mapping[str, Camera], source: Optional[str] = None) -> Camera:
    """An ordered dict of single cameras (what the loaders return) → one (V,) batch."""
    return Camera.stack(list(cameras.values()), source=source)


# ----------------------------------------------------------------------------- reference dict
def camera_from_reference_dict(d: dict, image_size=None, source: str = '<reference camera>',
                               validate: bool = True) -> Camera:
    """The voxelpose-pytorch / VirtualPose camera dict → :class:`Camera`.

    That dict has ``R`` (..., 3, 3) world→camera, ``T`` (..., 3, 1) the camera *centre* in
    world mm, ``fx fy cx cy`` (...,), ``k`` (..., 3, 1) = (k1, k2, k3) and ``p`` (..., 2, 1)
    = (p1, p2). Leading batch dimensions (a collated batch) are kept. Values may be numpy
    arrays or torch tensors; the result is float64 numpy.
    """

    def arr(key):
        v = _field(d, key, source)
        if hasattr(v, 'detach'):
            v = v.detach().cpu().double().numpy()
        try:
            return np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise CameraError(f'{source}: field {key!r} is not numeric') from None

    R = arr('R')
    if R.shape[-2:] != (3, 3):
        raise CameraError(f'{source}: field \'R\' has shape {R.shape}, expected (..., 3, 3)')
    batch = R.shape[:-2]
    T = arr('T')
    if T.size != int(np.prod(batch, dtype=np.int64)) * 3:
        raise CameraError(f'{source}: field \'T\' has shape {T.shape}, expected (..., 3, 1)')
    T = T.reshape(batch + (3, ))
    f = np.stack([arr('fx').reshape(batch), arr('fy').reshape(batch)], -1)
    c = np.stack([arr('cx').reshape(batch), arr('cy').reshape(batch)], -1)
    k = arr('k').reshape(batch + (-1, )) if 'k' in d else np.zeros(batch + (3, ))
    p = arr('p').reshape(batch + (-1, )) if 'p' in d else np.zeros(batch + (2, ))
    if k.shape[-1] != 3 or p.shape[-1] != 2:
        raise CameraError(f'{source}: fields \'k\'/\'p\' must hold 3 and 2 values, '
                          f'got {k.shape[-1]} and {p.shape[-1]}')
    dist = np.concatenate([k[..., :2], p, k[..., 2:3]], -1)
    if image_size is not None:
        image_size = np.broadcast_to(np.asarray(image_size, dtype=np.float64), batch + (2, ))
    return Camera.from_center(R, T, f, c, dist, image_size, source=source, validate=validate)


# ----------------------------------------------------------------------------- CMU Panoptic
CameraId = Union[str, Tuple[int, int], Sequence[int]]


def _panoptic_request_key(cam: CameraId, path: str):
    if isinstance(cam, str):
        return ('name', cam)
    try:
        panel, node = cam
        return ('pn', (int(panel), int(node)))
    except (TypeError, ValueError):
        raise CameraError(f'{path}: requested camera {cam!r} is neither a name such as '
                          "'00_12' nor a (panel, node) pair") from None


def load_panoptic_calibration(path: PathLike, cameras: Optional[Sequence[CameraId]] = None,
                              order: str = 'requested') -> 'OrderedDict[str, Camera]':
    """CMU Panoptic ``calibration_<seq>.json`` → ordered ``{name: Camera}``.

    The file holds ``{'calibDataSource': str, 'cameras': [...]}`` with one entry per camera
    (HD, VGA and Kinect): ``name`` ('00_12'), ``type``, ``resolution`` (w, h), ``panel``,
    ``node``, ``K`` (3, 3), ``distCoef`` (k1, k2, p1, p2, k3), ``R`` (3, 3) world→camera and
    ``t`` (3, 1) in **cm**, in Panoptic's world whose **y axis points down**.

    Conversion: ``R = R_json · M`` with ``M`` = :data:`PANOPTIC_AXIS_SWAP` (a world point
    ``X_new = X_old · M`` as a row vector is z-up) and ``t = 10 · t_json`` (cm → mm); the
    camera frame itself is unchanged, so pixels are the same as with the native calibration.

    Args:
        path: the calibration json.
        cameras: which cameras, each a ``(panel, node)`` pair or a name such as ``'00_12'``.
            Default :data:`PANOPTIC_DEFAULT_CAMERAS` (HD 12, 6, 23, 13, 3).
        order: ``'requested'`` (default): the order of ``cameras``. ``'file'``: the order in
            which the cameras appear in the calibration file. The reference
            ``Panoptic._get_cam`` walks the file, so every reference Panoptic batch has its
            views in file order (for the default list: 03, 06, 12, 13, 23) whatever the
            config's ``cam_list`` says (golden README, quirk 5); use ``'file'`` to
            reproduce it, e.g. to feed reference-ordered heatmaps.

    Returns:
        ``OrderedDict`` camera name → single :class:`Camera` (float64 numpy) with
        ``image_size`` from ``resolution``. :func:`stack_cameras` makes a (V,) batch.

    Raises:
        CameraError: file unreadable, ``cameras`` list missing, an entry lacking a field or
        with a wrong shape / non-numeric value / non-rotation ``R``, a requested camera not in
        the file, or a camera requested twice.
    """
    return _load_panoptic(path, cameras, order)


def _load_panoptic(path: PathLike, cameras: Optional[Sequence[CameraId]], order: str,
                   resolution_required: bool = True) -> 'OrderedDict[str, Camera]':
    """:func:`load_panoptic_calibration`; ``resolution_required=False`` accepts entries
    without ``resolution`` (image size unknown), as MMPose-0.x demo files may be."""
    path = os.fspath(path)
    if order not in ('requested', 'file'):
        raise ValueError(f"order must be 'requested' or 'file', got {order!r}")
    calib = _read_json(path)
    entries = _field(calib, 'cameras', path) if isinstance(calib, Mapping) else None
    if not isinstance(entries, list):
        raise CameraError(f"{path}: field 'cameras' must be a list of camera dicts")
    requested = list(PANOPTIC_DEFAULT_CAMERAS if cameras is None else cameras)
    if not requested:
        raise CameraError(f'{path}: no cameras requested')
    keys = [_panoptic_request_key(c, path) for c in requested]
    if len(set(keys)) != len(keys):
        raise CameraError(f'{path}: a camera is requested twice in {requested}')

    found: Dict[Tuple, Tuple[int, Mapping]] = {}
    for i, entry in enumerate(entries):
        src = f'{path}: cameras[{i}]'
        if not isinstance(entry, Mapping):
            raise CameraError(f'{src}: expected a dict, got {type(entry).__name__}')
        name = entry.get('name')
        cand = [('name', name)] if isinstance(name, str) else []
        if 'panel' in entry and 'node' in entry:
            try:
                cand.append(('pn', (int(entry['panel']), int(entry['node']))))
            except (TypeError, ValueError):
                raise CameraError(f"{src}: fields 'panel'/'node' must be integers") from None
        for k in cand:
            if k in keys:
                found[k] = (i, entry)
    missing = [requested[j] for j, k in enumerate(keys) if k not in found]
    if missing:
        hd = [e.get('name') for e in entries if isinstance(e, Mapping) and e.get('type') == 'hd']
        names = hd or [e.get('name') for e in entries if isinstance(e, Mapping)]
        hint = ('; the default cameras are the five HD cameras of the VoxelPose configs: '
                "pass cameras=[...] (names or (panel, node) pairs) to pick others"
                if cameras is None else '')
        raise CameraError(f"{path}: field 'cameras' has no camera {missing} "
                          f'({"HD " if hd else ""}cameras in the file: {names[:8]}'
                          f'{"..." if len(names) > 8 else ""}){hint}')
    picked = [found[k] for k in keys]
    if len({i for i, _ in picked}) != len(picked):
        raise CameraError(f'{path}: the requested cameras {requested} name one camera twice')
    if order == 'file':
        picked.sort(key=lambda x: x[0])

    out: 'OrderedDict[str, Camera]' = OrderedDict()
    for i, entry in picked:
        name = entry.get('name', f'{entry.get("panel")}_{entry.get("node")}')
        src = f'{path}: cameras[{i}] ({name})'
        R = _num(_field(entry, 'R', src), 'R', src, [(3, 3)]) @ PANOPTIC_AXIS_SWAP
        t = _num(_field(entry, 't', src), 't', src, [(3, ), (3, 1), (1, 3)]) * PANOPTIC_CM_TO_MM
        K = _num(_field(entry, 'K', src), 'K', src, [(3, 3)])
        f, c = _intrinsics_from_K(K, 'K', src)
        dist = _num(_field(entry, 'distCoef', src), 'distCoef', src, [(5, ), (5, 1), (1, 5)])
        if resolution_required or 'resolution' in entry:
            size = _image_size(_field(entry, 'resolution', src), src, 'resolution')
        else:
            size = None
        out[str(name)] = Camera(R, t, f, c, dist, size, source=src)
    return out


def panoptic_joints_to_world(joints19_cm: Any, source: str = '<panoptic joints>'
                             ) -> Tuple[np.ndarray, np.ndarray]:
    """Panoptic ``body3DScene`` joints → world z-up mm and confidence.

    Args:
        joints19_cm: ``bodies[i]['joints19']``: a flat list of J × (x, y, z, confidence) with
            x, y, z in cm in Panoptic's y-down world (J = 19 for ``coco19``), or an array
            (J, 4). Undetected joints carry confidence −1.
        source: where the joints came from, for error messages.

    Returns:
        joints (J, 3) float64 in world mm, z up (``X·M·10``, as the camera conversion of
        :func:`load_panoptic_calibration`), and confidence (J,) float64.
    """
    try:
        arr = np.asarray(joints19_cm, dtype=np.float64)
    except (TypeError, ValueError):
        raise CameraError(f"{source}: field 'joints19' is not numeric") from None
    if arr.ndim == 1 and arr.size % 4 == 0 and arr.size:
        arr = arr.reshape(-1, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise CameraError(f"{source}: field 'joints19' has shape {arr.shape}, expected a flat "
                          'list of J × (x, y, z, confidence) or (J, 4)')
    if not np.all(np.isfinite(arr)):
        raise CameraError(f"{source}: field 'joints19' contains NaN or infinite values")
    joints = (arr[:, :3] @ PANOPTIC_AXIS_SWAP) * PANOPTIC_CM_TO_MM
    return joints, arr[:, 3].copy()


# ----------------------------------------------------------------------------- Shelf / Campus
def load_shelf_campus_calibration(path: PathLike,
                                  image_size: Optional[Sequence[float]] = None
                                  ) -> 'OrderedDict[str, Camera]':
    """Shelf / Campus ``calibration_*.json`` (voxelpose-pytorch format) → ``{'0': Camera, ...}``.

    The file maps camera ids ``'0'``, ``'1'``, ... to ``R`` (3, 3) world→camera, ``T`` (3, 1)
    the camera **centre** in world mm (so ``t = −R·T``), ``fx fy cx cy``, ``k`` (3, 1) =
    (k1, k2, k3) and ``p`` (2, 1) = (p1, p2). The world is already z-up in mm.

    The image size is not stored in the file: pass ``image_size`` (w, h), for Shelf
    :data:`SHELF_IMAGE_SIZE` (1032 × 776), for Campus :data:`CAMPUS_IMAGE_SIZE` (360 × 288);
    None leaves it unknown (``Camera.in_image`` then refuses).

    Note:
        These rotations are orthonormal only to ~1e-6 (rounded to 6 decimals);
        :attr:`Camera.center` inverts ``R`` exactly, so it returns the stored ``T``.

    Returns:
        ``OrderedDict`` id → :class:`Camera`, ids in numeric order.
    """
    path = os.fspath(path)
    calib = _read_json(path)
    if not isinstance(calib, Mapping) or not calib:
        raise CameraError(f"{path}: expected a dict of cameras keyed '0', '1', ...")
    ids = []
    for key in calib:
        try:
            ids.append((int(key), key))
        except (TypeError, ValueError):
            raise CameraError(f"{path}: field {key!r} is not a camera id ('0', '1', ...)") \
                from None
    size = _image_size(image_size, path)
    out: 'OrderedDict[str, Camera]' = OrderedDict()
    for _, key in sorted(ids):
        d = calib[key]
        src = f'{path}: camera {key!r}'
        R = _num(_field(d, 'R', src), 'R', src, [(3, 3)])
        T = _num(_field(d, 'T', src), 'T', src, [(3, ), (3, 1), (1, 3)])
        f = np.array([_scalar(d, 'fx', src), _scalar(d, 'fy', src)])
        c = np.array([_scalar(d, 'cx', src), _scalar(d, 'cy', src)])
        k = _num(_field(d, 'k', src), 'k', src, [(3, ), (3, 1), (1, 3)])
        p = _num(_field(d, 'p', src), 'p', src, [(2, ), (2, 1), (1, 2)])
        dist = np.array([k[0], k[1], p[0], p[1], k[2]])
        out[str(key)] = Camera.from_center(R, T, f, c, dist, size, source=src)
    return out


# ----------------------------------------------------------------------------- MuPoTS-3D
def repair_reflection(R: np.ndarray, tol: float = 0.1) -> Tuple[np.ndarray, bool]:
    """Make a stored camera rotation right-handed the way the VirtualPose reference does.

    If the third column is not the cross product of the first two
    (``‖R[:,0] × R[:,1] − R[:,2]‖ > tol``, i.e. det R = −1 for an orthonormal matrix), the
    second column is negated: ``R' = R · diag(1, −1, 1)``.

    What it means: ``R' X = R (diag(1, −1, 1) X)``, so the repaired camera sees the point
    ``X`` where the stored one saw ``X`` with its world **y mirrored**: the stored world frame
    of those sequences was left-handed, and the repair re-expresses the camera in the
    right-handed frame obtained by flipping world y. Camera-frame coordinates, depths and
    pixels of camera-frame annotations are unchanged (MuPoTS ground truth is given in camera
    coordinates and is mapped to the world with the repaired camera), heights (world z) are
    unchanged, and only world y flips sign.

    Returns:
        (repaired R (3, 3), whether it was changed).
    """
    R = np.array(R, dtype=np.float64, copy=True)
    if np.linalg.norm(np.cross(R[:, 0], R[:, 1]) - R[:, 2]) > tol:
        R[:, 1] = -R[:, 1]
        return R, True
    return R, False


def load_mupots_extrinsics(path: PathLike) -> 'OrderedDict[str, dict]':
    """MuPoTS-3D ``cameras.pkl`` (VirtualPose) → ``{'TS1': {'R', 't', 'repaired'}, ...}``.

    The pickle is a list of 20 dicts ``{'R': (3, 3), 't': (3, 1)}``, one per test sequence
    TS1..TS20, the extrinsics of a z-up ground frame: ``X_cam = R·X + t`` with ``t`` in
    **mm** (the camera heights ``(−Rᵀt)_z`` come out 0.5–2.9 m). Ten of the twenty ``R``
    have determinant −1; they are repaired by :func:`repair_reflection` (see there for what
    that means).

    Returns:
        ``OrderedDict`` ``'TS<i>'`` → ``{'R': (3, 3) proper rotation, 't': (3,) mm,
        'repaired': bool}``.
    """
    path = os.fspath(path)
    data = _read_pickle(path)
    if isinstance(data, Mapping):
        items = list(data.items())
    elif isinstance(data, (list, tuple)):
        items = [(f'TS{i + 1}', d) for i, d in enumerate(data)]
    else:
        raise CameraError(f'{path}: expected a list of camera dicts, got {type(data).__name__}')
    if not items:
        raise CameraError(f'{path}: holds no cameras')
    out: 'OrderedDict[str, dict]' = OrderedDict()
    for i, (name, d) in enumerate(items):
        src = f'{path}: camera [{i}] ({name})'
        R = _num(_field(d, 'R', src), 'R', src, [(3, 3)])
        t = _num(_field(d, 't', src), 't', src, [(3, ), (3, 1), (1, 3)])
        R, repaired = repair_reflection(R)
        err = np.abs(R @ R.T - np.eye(3)).max()
        if err > 1e-3 or np.linalg.det(R) < 0:
            raise CameraError(f"{src}: field 'R' is not a rotation even after the reflection "
                              f'repair (max |R·Rᵀ − I| = {err:.3g}, det = {np.linalg.det(R):.3f})')
        out[str(name)] = {'R': R, 't': t, 'repaired': repaired}
    return out


def load_mupots_cameras(path: PathLike,
                        intrinsics: Union[Sequence[float], Mapping[Any, Sequence[float]]],
                        image_size: Optional[Union[Sequence[float],
                                                   Mapping[Any, Sequence[float]]]] = None
                        ) -> 'OrderedDict[str, Camera]':
    """MuPoTS-3D ``cameras.pkl`` + intrinsics → ``{'TS1': Camera, ...}``.

    The pickle holds extrinsics only (see :func:`load_mupots_extrinsics`). MuPoTS intrinsics
    come with the annotations (``MuPoTS-3D.json`` ``images[i]['intrinsic']`` =
    (fx, fy, cx, cy), constant within a sequence); pass them here.

    Args:
        path: ``cameras.pkl``.
        intrinsics: one (fx, fy, cx, cy) for every sequence, or a mapping from the sequence
            name (``'TS1'``) or its 0-based index to (fx, fy, cx, cy). Every sequence needs
            one. MuPoTS has no lens distortion in this representation (zeros).
        image_size: (w, h) for all, a mapping like ``intrinsics``, or None (unknown).
    """
    path = os.fspath(path)
    extr = load_mupots_extrinsics(path)

    def pick(table, name, i, what):
        if table is None:
            return None
        if isinstance(table, Mapping):
            for k in (name, i, str(i)):
                if k in table:
                    return table[k]
            raise CameraError(f'{path}: no {what} given for camera {name!r} '
                              f'(argument {what!r} has keys {list(table)[:6]}...)')
        return table

    out: 'OrderedDict[str, Camera]' = OrderedDict()
    for i, (name, e) in enumerate(extr.items()):
        src = f'{path}: camera [{i}] ({name})'
        intr = _num(pick(intrinsics, name, i, 'intrinsics'), 'intrinsics', src, [(4, )])
        size = pick(image_size, name, i, 'image_size')
        out[name] = Camera(e['R'], e['t'], intr[:2], intr[2:], None,
                           _image_size(size, src), source=src)
    return out


# ----------------------------------------------------------------------------- MuCo-3DHP
def camera_from_muco(image_entry: Mapping, source: str = '<MuCo image>',
                     axis_swap: bool = True) -> Camera:
    """One ``images[]`` entry of the RootNet/VirtualPose ``MuCo-3DHP.json`` → :class:`Camera`.

    The entry has ``f`` (2) and ``c`` (2) in pixels, ``R`` (3×3, or 9 values) and ``T`` (3),
    and usually ``width`` / ``height``.

    What ``R`` and ``T`` are (from the VirtualPose reference ``lib/dataset/muco.py``, which
    sets ``R_ref = R·M`` and the centre ``T_ref = −R_refᵀ·T`` and maps the camera-frame
    joints ``keypoints_cam`` to the world with ``X = R_refᵀ·x + T_ref``): ``R`` is
    world→camera and ``T`` is a **translation**, ``X_cam = R·X_old + T``, not the camera
    centre. Its unit is that of ``keypoints_cam``, **millimetres** (RootNet/PoseNet treat
    MuCo camera coordinates as mm, as MPI-INF-3DHP's own calibration is); the reference
    applies no scale. RootNet's ``MuCo.py`` itself never reads ``R``/``T`` (it works in camera
    coordinates), and no MuCo file is among the fixtures, so the unit could not be checked
    against data here.

    Args:
        image_entry: the dict.
        source: where it came from, for errors (e.g. ``'MuCo-3DHP.json: images[12]'``).
        axis_swap: apply :data:`MUCO_AXIS_SWAP` (``R·M``), as the reference does, turning
            the y-up MPI-INF-3DHP world into the package's z-up one. The camera frame is
            unchanged.
    """
    f = _num(_field(image_entry, 'f', source), 'f', source, [(2, ), (2, 1), (1, 2)])
    c = _num(_field(image_entry, 'c', source), 'c', source, [(2, ), (2, 1), (1, 2)])
    R = _num(_field(image_entry, 'R', source), 'R', source, [(3, 3), (9, ), (1, 9)])
    t = _num(_field(image_entry, 'T', source), 'T', source, [(3, ), (3, 1), (1, 3)])
    if axis_swap:
        R = R @ MUCO_AXIS_SWAP
    size = None
    if 'width' in image_entry and 'height' in image_entry:
        size = np.array([_scalar(image_entry, 'width', source),
                         _scalar(image_entry, 'height', source)])
    return Camera(R, t, f, c, None, size, source=source)


def load_muco_cameras(path: PathLike, axis_swap: bool = True) -> 'OrderedDict[str, Camera]':
    """Every image camera of a MuCo-3DHP json (``images[]``) → ``{str(image id): Camera}``."""
    path = os.fspath(path)
    data = _read_json(path)
    images = _field(data, 'images', path) if isinstance(data, Mapping) else None
    if not isinstance(images, list):
        raise CameraError(f"{path}: field 'images' must be a list")
    out: 'OrderedDict[str, Camera]' = OrderedDict()
    for i, img in enumerate(images):
        key = str(img.get('id', i)) if isinstance(img, Mapping) else str(i)
        out[key] = camera_from_muco(img, f'{path}: images[{i}]', axis_swap=axis_swap)
    return out


# ----------------------------------------------------------------------------- MMPose 0.x demo
def camera_from_simple_camera_param(param: Mapping, source: str = '<camera param>') -> Camera:
    """An MMPose-0.x ``SimpleCamera`` parameter dict → :class:`Camera`.

    MMPose 0.x (``mmpose/core/camera/single_camera.py``) stores ``R`` (3, 3) **camera →
    world** and ``T`` (3, 1) the camera-to-world translation, i.e. the camera **centre**
    (``X_cam = Rᵀ·(X − T)``); intrinsics as ``K`` (2, 3) (or (3, 3)) or ``f`` (2, 1) and
    ``c`` (2, 1); optional ``k`` (3) = (k1, k2, k3) and ``p`` (2) = (p1, p2); optional
    ``w`` / ``h`` image size. The 0.x Panoptic dataset and demo fill it from a Panoptic
    calibration with the axis swap and cm → mm already applied (world z-up, mm). The
    6-coefficient rational model (``k`` of 6) is accepted only when k4..k6 are zero.
    """
    R_c2w = _num(_field(param, 'R', source), 'R', source, [(3, 3)])
    T = _num(_field(param, 'T', source), 'T', source, [(3, ), (3, 1), (1, 3)])
    if 'K' in param:
        K = np.asarray(_num(param['K'], 'K', source, [(2, 3), (3, 3)]))
        f, c = _intrinsics_from_K(K, 'K', source)
    elif 'f' in param and 'c' in param:
        f = _num(param['f'], 'f', source, [(2, ), (2, 1), (1, 2)])
        c = _num(param['c'], 'c', source, [(2, ), (2, 1), (1, 2)])
    else:
        raise CameraError(f"{source}: missing field 'K' (or both 'f' and 'c'); fields "
                          f'present: {sorted(map(str, param))}')
    k = np.zeros(3)
    p = np.zeros(2)
    if 'k' in param:
        kk = _num(param['k'], 'k', source, [(3, ), (3, 1), (1, 3), (6, ), (6, 1), (1, 6)])
        if kk.size == 6 and np.any(kk[3:] != 0):
            raise CameraError(f"{source}: field 'k' uses the rational model (k4..k6 = "
                              f'{kk[3:].tolist()}), which is not supported')
        k = kk[:3]
    if 'p' in param:
        p = _num(param['p'], 'p', source, [(2, ), (2, 1), (1, 2)])
    size = None
    if 'w' in param and 'h' in param:
        size = np.array([_scalar(param, 'w', source), _scalar(param, 'h', source)])
    dist = np.array([k[0], k[1], p[0], p[1], k[2]])
    return Camera.from_center(R_c2w.T, T, f, c, dist, size, source=source)


def _is_panoptic_entry(entry) -> bool:
    """An entry of the Panoptic calibration layout (``K``, ``distCoef``, ``R``, ``t`` in cm,
    y down), as opposed to a converted 0.x ``SimpleCamera`` dict (``R``, ``T``)."""
    return isinstance(entry, Mapping) and ('distCoef' in entry or 't' in entry) and 'T' not in entry


def _is_panoptic_dataset_entry(entry) -> bool:
    """An entry as CMU Panoptic's own calibration files write it: ``panel`` and ``node``
    integers and the name ``'<panel:02d>_<node:02d>'`` ('00_12', '01_01', '50_01')."""
    if not _is_panoptic_entry(entry) or 'panel' not in entry or 'node' not in entry:
        return False
    try:
        return str(entry.get('name')) == f'{int(entry["panel"]):02d}_{int(entry["node"]):02d}'
    except (TypeError, ValueError):
        return False


def load_mmpose_demo_cameras(path: PathLike, names: Optional[Sequence[str]] = None
                             ) -> 'OrderedDict[str, Camera]':
    """The MMPose-0.x multi-view demo ``camera_parameters.json`` → ``{name: Camera}``.

    Two layouts are read:

    * The file the 0.x demo (``demo/body3d_multiview_detect_and_regress_img_demo.py``,
      documented in ``demo/docs/3d_multiview_human_pose_demo.md``: "we only support CMU
      Panoptic data format") and its test data
      (``tests/data/panoptic_body3d/demo/camera_parameters.json``) use: a **Panoptic
      calibration** ``{"cameras": [{"name", "K", "distCoef", "R", "t", ...}]}`` (y-down,
      cm) whose camera ``name`` is the image folder of that view. The 0.x test file is
      literally a Panoptic calibration (``calibDataSource`` '160422_calib_tent13_norm', the
      31 HD cameras with every Panoptic field); a user's own file needs only ``name``,
      ``K``, ``distCoef``, ``R`` and ``t`` (0.x reads nothing else), so ``resolution``
      may be missing here (image size then unknown). Converted as
      :func:`load_panoptic_calibration` does. ``names`` picks cameras by name in that
      order; None takes every camera, in file order.
    * The converted ``SimpleCamera`` parameters that 0.x code builds from it
      (``get_panoptic_camera_parameters``), saved as ``{name: {R, T, K, k, p}}`` or
      ``{"cameras": [{"name": ..., R, T, K | f, c, k, p, w, h}]}``: see
      :func:`camera_from_simple_camera_param`.
    """
    path = os.fspath(path)
    data = _read_json(path)
    if isinstance(data, Mapping) and 'cameras' in data:
        entries = data['cameras']
        if not isinstance(entries, list) or not entries:
            raise CameraError(f"{path}: field 'cameras' must be a non-empty list")
        if all(_is_panoptic_entry(e) for e in entries):
            if names is None:
                names = []
                for i, e in enumerate(entries):
                    if 'name' not in e:
                        raise CameraError(f"{path}: cameras[{i}]: missing field 'name'")
                    names.append(str(e['name']))
                return _load_panoptic(path, names, 'file', resolution_required=False)
            return _load_panoptic(path, list(names), 'requested', resolution_required=False)
        table = OrderedDict()
        for i, e in enumerate(entries):
            if not isinstance(e, Mapping) or 'name' not in e:
                raise CameraError(f"{path}: cameras[{i}]: missing field 'name'")
            table[str(e['name'])] = (f'{path}: cameras[{i}] ({e["name"]})', e)
    elif isinstance(data, Mapping) and data:
        table = OrderedDict((str(k), (f'{path}: camera {k!r}', v)) for k, v in data.items())
    else:
        raise CameraError(f"{path}: expected a dict with a 'cameras' list or a dict of "
                          'camera parameter dicts')
    if names is not None:
        missing = [n for n in names if n not in table]
        if missing:
            raise CameraError(f"{path}: field 'cameras' has no camera {missing} "
                              f'(cameras in the file: {list(table)[:8]})')
        table = OrderedDict((n, table[n]) for n in names)
    return OrderedDict((n, camera_from_simple_camera_param(p, src))
                       for n, (src, p) in table.items())


# ----------------------------------------------------------------------------- dispatch
def sniff_camera_format(path: PathLike) -> str:
    """The format of a camera file, from its content (not its name).

    One of:

    * ``'panoptic'``: a ``{"cameras": [...]}`` list in the Panoptic calibration layout
      (``K``, ``distCoef``, ``R``, ``t``) whose every entry is named the way CMU Panoptic
      names its cameras, ``'<panel:02d>_<node:02d>'`` with matching ``panel`` / ``node``
      fields. Both a dataset ``calibration_<seq>.json`` and the MMPose-0.x demo's own
      ``camera_parameters.json`` (a Panoptic calibration of the 31 HD cameras, see
      :func:`load_mmpose_demo_cameras`) are this: the two files have the same fields, so
      no content tells them apart, and none needs to: they convert the same way;
    * ``'mmpose_demo'``: the same Panoptic layout with cameras named otherwise (the 0.x
      demo docs name each camera after its image folder, ``"camera0"``, and need no
      ``panel`` / ``node`` / ``resolution``);
    * ``'shelf_campus'``, ``'mupots'``, ``'muco'``, ``'mmpose_simple_camera'`` (the
      converted 0.x ``SimpleCamera`` dicts, ``R`` camera→world and ``T`` the centre).

    CameraError if none fits.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CameraError(f'{path}: camera file not found')
    with open(path, 'rb') as f:
        head = f.read(2)
    if head[:1] == b'\x80':  # pickle protocol ≥ 2
        data = _read_pickle(path)
        if isinstance(data, (list, tuple)) and data and all(
                isinstance(d, Mapping) and 'R' in d and 't' in d for d in data):
            return 'mupots'
        if isinstance(data, Mapping) and data and all(
                isinstance(d, Mapping) and 'R' in d and 'T' in d for d in data.values()):
            return 'mmpose_simple_camera'
        raise CameraError(f'{path}: unrecognised camera pickle (expected the MuPoTS '
                          "list of {'R', 't'} dicts or a dict of SimpleCamera parameters)")
    data = _read_json(path)
    if isinstance(data, Mapping):
        cams = data.get('cameras')
        if isinstance(cams, list) and cams:
            if all(_is_panoptic_entry(e) for e in cams):
                if all(_is_panoptic_dataset_entry(e) for e in cams):
                    return 'panoptic'
                return 'mmpose_demo'
            if all(isinstance(e, Mapping) and 'T' in e for e in cams):
                return 'mmpose_simple_camera'
        images = data.get('images')
        if isinstance(images, list) and images and isinstance(images[0], Mapping) and \
                {'f', 'c', 'R', 'T'} <= set(images[0]):
            return 'muco'
        vals = list(data.values())
        if vals and all(isinstance(v, Mapping) for v in vals):
            if all(str(k).isdigit() for k in data) and all('fx' in v for v in vals):
                return 'shelf_campus'
            if all('R' in v and 'T' in v for v in vals):
                return 'mmpose_simple_camera'
    keys = sorted(map(str, data))[:10] if isinstance(data, Mapping) else type(data).__name__
    raise CameraError(f'{path}: unrecognised camera file format (top level: {keys})')


def load_cameras(path: PathLike, **kwargs) -> 'OrderedDict[str, Camera]':
    """Load any supported camera file; the format is sniffed from the content
    (:func:`sniff_camera_format`).

    Formats and what comes back with no keyword arguments:

    * CMU Panoptic ``calibration_<seq>.json`` (:func:`load_panoptic_calibration`): the five
      HD cameras of the VoxelPose configs (:data:`PANOPTIC_DEFAULT_CAMERAS`); ``cameras``
      (names or (panel, node) pairs) and ``order`` pick others;
    * the MMPose-0.x multi-view demo ``camera_parameters.json``. The file of the 0.x demo
      data is itself a Panoptic calibration (the 31 HD cameras, Panoptic names and fields),
      so it loads as one: the same five HD cameras, which are exactly the five image
      folders of the 0.x demo data (00_03, 00_06, 00_12, 00_13, 00_23); ``cameras=[...]``
      or ``names=[...]`` (:func:`load_mmpose_demo_cameras`) pick cameras by name in the
      given order. A demo file whose cameras are named after their image folders, as the
      0.x demo docs ask (``"camera0"``; not Panoptic's ``panel``/``node`` naming), is read
      by :func:`load_mmpose_demo_cameras`: every camera in file order; ``names`` (or
      ``cameras``) selects;
    * the converted 0.x ``SimpleCamera`` parameters (json or pickle, ``R`` camera→world,
      ``T`` centre): every camera; ``names`` selects;
    * Shelf / Campus ``calibration_*.json``: ``image_size`` (not stored in the file);
    * MuPoTS-3D ``cameras.pkl``: ``intrinsics`` (required) and ``image_size``;
    * MuCo-3DHP json: ``axis_swap``.

    Pickles are read with the restricted unpickler (:mod:`virtualpose_mm.engine.safe_pickle`):
    a camera pickle naming anything but containers and numpy arrays raises CameraError and
    runs nothing.
    """
    fmt = sniff_camera_format(path)
    if fmt == 'panoptic':
        if 'names' in kwargs:
            return load_mmpose_demo_cameras(path, **kwargs)
        return load_panoptic_calibration(path, **kwargs)
    if fmt == 'mmpose_demo':
        if 'cameras' in kwargs and 'names' not in kwargs:
            kwargs['names'] = kwargs.pop('cameras')
        return load_mmpose_demo_cameras(path, **kwargs)
    if fmt == 'shelf_campus':
        return load_shelf_campus_calibration(path, **kwargs)
    if fmt == 'mupots':
        if 'intrinsics' not in kwargs:
            raise CameraError(f'{os.fspath(path)}: MuPoTS cameras.pkl holds extrinsics only; '
                              'pass intrinsics=(fx, fy, cx, cy) or a per-sequence mapping, or '
                              'use load_mupots_extrinsics()')
        return load_mupots_cameras(path, **kwargs)
    if fmt == 'muco':
        return load_muco_cameras(path, **kwargs)
    if fmt == 'mmpose_simple_camera':
        if os.fspath(path).endswith(('.pkl', '.pickle')) or _is_pickle(path):
            data = _read_pickle(path)
            names = kwargs.get('names')
            keys = list(data) if names is None else list(names)
            missing = [k for k in keys if k not in data]
            if missing:
                raise CameraError(f'{os.fspath(path)}: no camera {missing}')
            return OrderedDict((str(k), camera_from_simple_camera_param(
                data[k], f'{os.fspath(path)}: camera {k!r}')) for k in keys)
        return load_mmpose_demo_cameras(path, **kwargs)
    raise AssertionError(fmt)  # pragma: no cover


def _is_pickle(path: PathLike) -> bool:
    with open(path, 'rb') as f:
        return f.read(1) == b'\x80'


__all__: List[str] = [
    'PANOPTIC_AXIS_SWAP', 'PANOPTIC_DEFAULT_CAMERAS', 'MUCO_AXIS_SWAP', 'SHELF_IMAGE_SIZE',
    'CAMPUS_IMAGE_SIZE', 'camera_from_reference_dict', 'load_panoptic_calibration',
    'panoptic_joints_to_world', 'load_shelf_campus_calibration', 'repair_reflection',
    'load_mupots_extrinsics', 'load_mupots_cameras', 'camera_from_muco', 'load_muco_cameras',
    'camera_from_simple_camera_param', 'load_mmpose_demo_cameras', 'sniff_camera_format',
    'load_cameras', 'stack_cameras'
]
