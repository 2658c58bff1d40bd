"""The restricted unpickler: every pickle the package reads refuses code and runs nothing.

Each row of the table writes a malicious pickle in the place of one kind of input file,
loads it through the package's real entry point for that kind, and checks that the error
names the file and the refused global, and that the payload did not run (its marker file
does not exist). The real fixture files load through the same path and equal what plain
``pickle.load`` gives.
"""
import builtins
import collections
import io
import logging
import os
import pickle
import pickletools
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from virtualpose_mm.datasets import Body3DMviewDirectPanopticDataset, DatasetError
from virtualpose_mm.datasets.datasets.monocular.panoptic_mono import (load_panoptic_mono,
                                                                      read_hmor_pkl)
from virtualpose_mm.datasets.datasets.virtual.posebank import PoseBankError, load_pose_bank
from virtualpose_mm.datasets.datasets.multiview.shelf_campus import load_detections_2d
from virtualpose_mm.engine.safe_pickle import (ALLOWED_GLOBALS, RestrictedUnpickler,
                                               UnsafePickleError, safe_load_pickle,
                                               safe_loads_pickle)
from virtualpose_mm.geometry import CameraError, load_cameras, sniff_camera_format
from virtualpose_mm.geometry.camera_io import load_mupots_extrinsics

TEST_DATA = Path(__file__).resolve().parents[1] / 'data'
SHARED_FIXTURES = Path(__file__).resolve().parents[2].parent / 'shared' / 'data' / 'fixtures'


# ----------------------------------------------------------------------------- payloads
class _System:
    """``os.system('touch <marker>')`` on unpickling."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class _Exec:
    """``builtins.exec(...)`` writing the marker."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f'open({self.marker!r}, "w").write("pwned")', )


class _Popen:
    """``subprocess.Popen(['touch', marker])``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return subprocess.Popen, (['touch', self.marker], )


def _global(fn) -> str:
    return f'{fn.__module__}.{fn.__qualname__}'


PAYLOADS = {
    'os.system': (_System, _global(os.system)),  # pickled as posix.system on Linux
    'builtins.exec': (_Exec, 'builtins.exec'),
    'subprocess.Popen': (_Popen, 'subprocess.Popen'),
    # the malicious object hidden inside a numpy object array: the array's elements are
    # unpickled by the same restricted unpickler
    'object-array': (lambda m: np.array([None, _System(m)], dtype=object), _global(os.system)),
}


# ----------------------------------------------------------------------------- file kinds
def _mupots(payload):
    return [{'R': np.eye(3), 't': payload}]


def _simple_camera(payload):
    return {'cam0': {'R': np.eye(3), 'T': payload, 'K': np.eye(3)[:2]}}


def _posebank(payload):
    return [{'pose': np.zeros((17, 3)), 'vis': np.ones((17, 3))}, {'pose': payload}]


def _detections(payload):
    d = collections.defaultdict(list)
    d['0_0'] = [{'pred': payload}]
    return d


def _hmor(payload):
    return [{'image_name': '160906_band1/hdImgs/00_03/00_03_00000168.jpg',
             'joints_3d_cam': payload}]


def _panoptic_mono(payload):
    return {'format': 'virtualpose_mm.panoptic_mono', 'version': 1, 'cameras': {},
            'splits': {'train': [payload]}}


def _index_cache(payload):
    return {'version': 1, 'config': {}, 'fingerprint': '', 'data_list': [payload]}


def _panoptic_dataset(tmp_path: Path, cache: Path):
    root = tmp_path / 'panoptic'
    if not root.exists():
        shutil.copytree(TEST_DATA / 'panoptic_body3d' / '160906_band1', root / '160906_band1')
    return Body3DMviewDirectPanopticDataset(
        data_root=str(root), sequences=['160906_band1'], frame_interval=1,
        require_images=False, show_progress=False, cache_file=str(cache))


# kind, file name, how the file is made around the payload, how it is read, error class
KINDS = [
    ('calibration pickle: sniff_camera_format', 'cameras.pkl', _mupots,
     sniff_camera_format, CameraError),
    ('calibration pickle: load_cameras (MuPoTS cameras.pkl)', 'cameras.pkl', _mupots,
     lambda p: load_cameras(p, intrinsics=(1e3, 1e3, 500.0, 500.0)), CameraError),
    ('MuPoTS cameras.pkl: load_mupots_extrinsics', 'cameras.pkl', _mupots,
     load_mupots_extrinsics, CameraError),
    ('MMPose-0.x SimpleCamera pickle: load_cameras', 'camera_parameters.pkl',
     _simple_camera, load_cameras, CameraError),
    ('pose bank .pkl: load_pose_bank', 'panoptic_training_pose.pkl', _posebank,
     load_pose_bank, PoseBankError),
    ('Shelf/Campus pred_*.pkl: load_detections_2d', 'pred_shelf_maskrcnn_hrnet_coco.pkl',
     _detections, load_detections_2d, DatasetError),
    ('HMOR clean_*.pkl: read_hmor_pkl', 'clean_train.pkl', _hmor, read_hmor_pkl,
     DatasetError),
    ('Panoptic-mono annotation: load_panoptic_mono', 'panoptic_mono_hmor.pkl',
     _panoptic_mono, load_panoptic_mono, DatasetError),
]


@pytest.mark.parametrize('payload_name', list(PAYLOADS))
@pytest.mark.parametrize('kind,filename,wrap,load,error', KINDS, ids=[k[0] for k in KINDS])
@pytest.mark.parametrize('protocol', [2, pickle.HIGHEST_PROTOCOL])
def test_malicious_input_file_is_refused_and_runs_nothing(tmp_path, kind, filename, wrap,
                                                          load, error, payload_name,
                                                          protocol):
    make, refused = PAYLOADS[payload_name]
    marker = tmp_path / 'pwned'
    path = tmp_path / filename
    path.write_bytes(pickle.dumps(wrap(make(marker)), protocol=protocol))
    with pytest.raises(error) as info:
        load(str(path))
    msg = str(info.value)
    assert str(path) in msg and refused in msg, msg
    assert 'refused' in msg
    cause = info.value.__cause__
    assert isinstance(cause, UnsafePickleError) and cause.global_name == refused
    assert not marker.exists(), f'{kind}: the payload ran'


@pytest.mark.parametrize('payload_name', list(PAYLOADS))
def test_malicious_index_cache_is_not_run_but_rebuilt(tmp_path, payload_name):
    """The dataset index cache is ours and rebuildable: a cache naming a foreign global is
    not run; an ERROR-level log line names the file and the global, the index is rebuilt
    and the cache overwritten with a clean one (documented in ``_load_or_build``)."""
    make, refused = PAYLOADS[payload_name]
    marker = tmp_path / 'pwned'
    cache = tmp_path / 'cache' / 'panoptic_index.pkl'
    clean = _panoptic_dataset(tmp_path, cache)
    assert cache.is_file() and len(clean) == 2
    good = safe_load_pickle(cache, what='dataset index cache')  # what our code writes
    assert good['data_list'][0]['gt_keypoints_3d'].shape[1:] == (15, 3)
    cache.write_bytes(pickle.dumps(_index_cache(make(marker)), protocol=5))

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    records = []

    class Grab(logging.Handler):
        def emit(self, record):
            records.append(record)

    h = Grab(level=logging.DEBUG)
    logger.addHandler(h)
    try:
        ds = _panoptic_dataset(tmp_path, cache)
    finally:
        logger.removeHandler(h)
    assert not marker.exists(), 'the cache payload ran'
    errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    assert any(str(cache) in m and refused in m for m in errors), errors
    assert len(ds) == 2
    np.testing.assert_array_equal(ds.get_data_info(1)['gt_keypoints_3d'],
                                  clean.get_data_info(1)['gt_keypoints_3d'])
    rebuilt = safe_load_pickle(cache, what='dataset index cache')  # clean again
    assert len(rebuilt['data_list']) == 2
    assert not [p for p in cache.parent.iterdir() if p.name != cache.name]  # no temp left


@pytest.mark.parametrize('payload_name', list(PAYLOADS))
def test_payloads_are_live(tmp_path, payload_name):
    """Control: plain ``pickle.loads`` does run each payload (so the refusals above mean
    something)."""
    make, _ = PAYLOADS[payload_name]
    marker = tmp_path / 'pwned'
    obj = pickle.loads(pickle.dumps(make(marker), protocol=2))
    for o in (obj if isinstance(obj, np.ndarray) else [obj]):
        if isinstance(o, subprocess.Popen):
            o.wait()
    assert marker.exists()


def test_refused_before_anything_runs_and_message():
    """The refusal is in ``find_class``: the payload's callable is never even imported
    into the result, and the message says what is allowed."""
    data = pickle.dumps(_System('/nonexistent/x'), protocol=0)
    with pytest.raises(UnsafePickleError) as info:
        safe_loads_pickle(data, what='pose bank', name='bank.pkl')
    e = info.value
    assert isinstance(e, pickle.UnpicklingError)
    assert e.path == 'bank.pkl' and e.what == 'pose bank'
    assert str(e).startswith(f'bank.pkl: refused to load this pose bank: the pickle imports '
                             f'{_global(os.system)}, which a pose bank never holds; only '
                             'Python containers and numpy arrays/scalars are allowed')


@pytest.mark.parametrize('module,name', [
    ('builtins', 'eval'), ('builtins', 'exec'), ('builtins', 'getattr'),
    ('builtins', '__import__'), ('builtins', 'open'), ('builtins', 'compile'),
    ('os', 'system'), ('posix', 'system'), ('subprocess', 'run'),
    ('numpy', 'load'), ('numpy.testing._private.utils', 'runstring'),
    ('numpy.ma.core', '_mareconstruct'),
    ('numpy', 'matrix'), ('numpy.dtypes', 'Float64DType'), ('collections', 'namedtuple'),
    ('copyreg', '_reconstructor'), ('torch', 'load'), ('pickle', 'loads'),
    ('numpy.core.multiarray', '_reconstruct.__globals__'), ('functools', 'partial'),
])
def test_only_the_allow_list_is_admitted(module, name):
    """Any global outside the allow-list is refused by name (protocol 0 text GLOBAL, which
    can name anything)."""
    data = b'c' + module.encode() + b'\n' + name.encode() + b'\n.'
    with pytest.raises(UnsafePickleError, match=re.escape(f'{module}.{name}')):
        safe_loads_pickle(data)


def test_python2_spellings_are_named_both_ways():
    """Protocols 0–2 spell some globals the Python-2 way; both names are reported and the
    Python-2 spelling of an allowed global (``__builtin__.list``) is allowed."""
    with pytest.raises(UnsafePickleError) as info:
        safe_loads_pickle(b'c__builtin__\neval\n.')
    assert info.value.global_name == 'builtins.eval'
    assert 'imports builtins.eval (written as __builtin__.eval)' in str(info.value)
    with pytest.raises(UnsafePickleError, match=re.escape('subprocess.Popen (written as '
                                                          'commands.Popen)')):
        safe_loads_pickle(pickle.dumps(subprocess.Popen, protocol=2))
    assert safe_loads_pickle(b'c__builtin__\nlist\n(Vab\ntR.') == ['a', 'b']


def test_guarded_callables():
    """``numpy.ndarray`` is only usable through ``_reconstruct``; ``_codecs.encode`` only as
    pickle uses it; ``bytes`` refuses a size."""
    # numpy.ndarray((10,)) called directly by REDUCE
    direct = b'cnumpy\nndarray\n(I10\ntR.'
    with pytest.raises(TypeError):
        safe_loads_pickle(direct)
    # _reconstruct of a subclass (np.matrix is refused by name; a token of our own is not
    # reachable from a pickle), of something else
    with pytest.raises(pickle.UnpicklingError, match='only plain numpy.ndarray'):
        safe_loads_pickle(b'cnumpy.core.multiarray\n_reconstruct\n(cnumpy\ndtype\n(I0\n'
                          b'tC\x01btR.')
    with pytest.raises(pickle.UnpicklingError, match="only \\(str, 'latin1'\\)"):
        safe_loads_pickle(b"c_codecs\nencode\n(Vabc\nVrot13\ntR.")
    with pytest.raises(pickle.UnpicklingError, match='bytes\\(<int>\\)'):
        safe_loads_pickle(b'c__builtin__\nbytes\n(I1000000000000\ntR.')


@pytest.mark.parametrize('key', list(ALLOWED_GLOBALS), ids='.'.join)
def test_allowed_globals_cannot_be_altered_by_build(key):
    """``BUILD`` on an allowed global (dict state, and slot state doing ``setattr``) fails
    and leaves it as it was: a file cannot change what later loads get."""
    obj = ALLOWED_GLOBALS[key]
    glob = b'c' + key[0].encode() + b'\n' + key[1].encode() + b'\n'
    before = (getattr(obj, '__defaults__', None), sorted(getattr(obj, '__dict__', {})))
    dict_state = b"(dS'x'\nI1\ns"  # {'x': 1}
    slot_state = b"(N(dS'__defaults__'\n(I1\ntst"  # (None, {'__defaults__': (1,)})
    for state in (dict_state, slot_state):
        with pytest.raises(Exception):
            safe_loads_pickle(glob + state + b'b.')
    assert (getattr(obj, '__defaults__', None), sorted(getattr(obj, '__dict__', {}))) == before
    assert not hasattr(obj, 'x')


# ----------------------------------------------------------------------------- positive
def _equal(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and (
            np.array_equal(a, b, equal_nan=a.dtype.kind in 'fc') if a.dtype != object else
            all(_equal(x, y) for x, y in zip(a.ravel(), b.ravel())))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _fixture_pickles():
    files = sorted(TEST_DATA.rglob('*.pkl'))
    if SHARED_FIXTURES.is_dir():
        files += sorted(SHARED_FIXTURES.rglob('*.pkl'))
    return files


def _fixture_id(p: Path) -> str:
    for base, tag in ((TEST_DATA, 'tests/data'), (SHARED_FIXTURES, 'shared/fixtures')):
        if base in p.parents:
            return f'{tag}/{p.relative_to(base)}'
    return str(p)


@pytest.mark.parametrize('path', _fixture_pickles(), ids=_fixture_id)
def test_real_fixture_files_load_and_equal_plain_pickle(path):
    with open(path, 'rb') as f:
        plain = pickle.load(f, encoding='latin1')
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no numpy.core deprecation warning either
        safe = safe_load_pickle(path, what='fixture')
    assert _equal(safe, plain)
    # the globals it names are all on the allow-list (as found by pickletools)
    names = set()
    strings = []
    for op, arg, _ in pickletools.genops(path.read_bytes()):
        if op.name == 'GLOBAL':
            names.add(tuple(arg.split(' ', 1)))
        elif 'UNICODE' in op.name:
            strings.append(arg)
        elif op.name == 'STACK_GLOBAL':
            names.add((strings[-2], strings[-1]))
    assert names <= set(ALLOWED_GLOBALS), names - set(ALLOWED_GLOBALS)


def _numpy1_names(data: bytes, protocol: int) -> bytes:
    """The pickle as numpy 1.x writes it: ``numpy.core.*`` instead of ``numpy._core.*``."""
    if protocol <= 3:  # GLOBAL opcodes: 'module\\nname\\n' text
        return data.replace(b'numpy._core.', b'numpy.core.')
    frames = [pos for op, _, pos in pickletools.genops(data) if op.name == 'FRAME']
    for pos in reversed(frames):  # frames are optional; drop them so lengths can change
        data = data[:pos] + data[pos + 9:]

    def fix(m):
        s = m.group(2).replace(b'numpy._core.', b'numpy.core.')
        return b'\x8c' + bytes([len(s)]) + s
    return re.sub(rb'\x8c(.)(numpy\._core\.[A-Za-z_.]+)', fix, data, flags=re.S)


_DTYPES = ['bool', 'int8', 'uint8', 'int16', 'int32', 'int64', 'uint64', 'float16',
           'float32', 'float64', 'complex128', 'U5', 'S5', 'datetime64[ns]', 'O',
           [('a', 'f8'), ('b', 'i4')]]


@pytest.mark.parametrize('protocol', range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize('numpy1', [False, True], ids=['numpy2-names', 'numpy1-names'])
def test_numpy_arrays_and_scalars_of_every_common_dtype(protocol, numpy1):
    seen = set()

    class Record(RestrictedUnpickler):
        def find_class(self, module, name):
            seen.add((module, name))
            return super().find_class(module, name)

    for dt in _DTYPES:
        a = np.arange(6).astype(dt).reshape(2, 3) if dt != 'O' else \
            np.array([[1, 'x', None], [2.5, (1, 2), {'k': [1]}]], dtype=object)
        for obj in (a, a[:, ::2], np.asfortranarray(a), a.ravel()[1], np.dtype(dt), a[:0],
                    {'nested': [a, a.ravel()[1]]}):
            data = pickle.dumps(obj, protocol=protocol)
            if numpy1:
                data = _numpy1_names(data, protocol)
            with warnings.catch_warnings():
                warnings.simplefilter('error')
                got = Record(io.BytesIO(data), path='<t>', what='t').load()
            with warnings.catch_warnings():  # plain pickle warns on numpy.core under numpy 2
                warnings.simplefilter('ignore', DeprecationWarning)
                plain = pickle.loads(data)
            assert _equal(got, plain), (dt, protocol, obj)
    prefix = 'numpy.core.' if numpy1 else 'numpy._core.'
    assert any(m.startswith(prefix) for m, _ in seen), seen


def test_structured_object_field_with_payload_is_refused(tmp_path):
    """A structured dtype with an object field, holding a malicious object."""
    marker = tmp_path / 'pwned'
    a = np.zeros(2, dtype=[('x', 'f8'), ('o', 'O')])
    a[1]['o'] = _System(marker)
    for proto in (2, 5):
        with pytest.raises(UnsafePickleError, match=re.escape(_global(os.system))):
            safe_loads_pickle(pickle.dumps(a, protocol=proto))
    assert not marker.exists()
