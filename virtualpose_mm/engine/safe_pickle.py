"""One restricted unpickler for every pickle the package reads.

``pickle.load`` runs whatever a file tells it to: a pickle names any importable callable
(``os.system``, ``builtins.exec``, ``subprocess.Popen``) and calls it while loading. The
pickles this package reads (Panoptic/Shelf/Campus pose banks, Shelf/Campus 2D detections
``pred_*.pkl``, MuPoTS ``cameras.pkl``, MMPose-0.x camera pickles, HMOR ``clean_*.pkl`` and
the converted Panoptic-mono file, dataset index caches) hold only Python containers and
numpy arrays, so they are read by :class:`RestrictedUnpickler`, whose
:meth:`~RestrictedUnpickler.find_class` admits an explicit **allow-list** of globals and
refuses everything else (never a deny-list). The refusal happens when the pickle *names*
the global, before any call (``REDUCE``) can use it, so a refused file runs nothing.

What needs no global at all (pickle opcodes of their own): ``None``, ``bool``, ``int``,
``float``, ``str``, ``bytes`` (protocol ≥ 3), ``bytearray`` (protocol 5), ``list``,
``tuple``, ``dict``, ``set`` / ``frozenset`` (protocol ≥ 4).

The allow-list (:data:`ALLOWED_GLOBALS`), each entry with why it is there; the names were
taken from ``pickletools.genops`` over the real fixture files and from recording every
``find_class`` call while loading numpy arrays and scalars of every common dtype pickled
with protocols 0–5 under numpy 2.4 (``numpy._core.*``) and as numpy 1.x writes them
(``numpy.core.*``, the published dataset files):

* ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct`` and
  ``numpy.ndarray``, ``numpy.dtype``: every ndarray at protocols 0–4 (and non-contiguous
  ones at 5); ``ndarray`` appears only as ``_reconstruct``'s first argument, so it is
  handed out as an inert token that only the guarded ``_reconstruct`` accepts (a pickle
  cannot call ``numpy.ndarray(...)`` itself);
* ``numpy.core.multiarray.scalar`` / ``numpy._core.multiarray.scalar``: numpy scalars
  (``np.float64(1.0)``, ``np.int64``, ...);
* ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``: contiguous
  arrays at protocol 5 (``pickle.HIGHEST_PROTOCOL``); numpy refuses an object dtype there;
* ``collections.defaultdict``: the Shelf/Campus ``pred_*.pkl`` detection files are
  defaultdicts; ``builtins.list``: the usual ``defaultdict(list)`` factory (a pure
  constructor; the fixtures' defaultdicts have no factory, but one written with
  ``defaultdict(list)`` names it);
* ``collections.OrderedDict``: the package's camera tables and any dict written by code
  that keeps key order (a pure container);
* ``_codecs.encode``: how protocols 0–2 (the default of ``mmcv.dump`` / ``mmengine.dump``)
  store every ``bytes`` object, numpy array data included; handed out as a wrapper that
  accepts only ``(str, 'latin1')``, what pickle itself writes;
* ``builtins.bytes``: empty ``bytes`` and numpy ``S``/``U`` scalars at protocols 0–2;
  handed out as a wrapper that refuses an integer size (``bytes(10**12)``).

Not admitted although numpy can pickle them: ``numpy.dtypes.*DType`` classes (only a pickled
dtype *class*, ``type(arr.dtype)``, refers to them; arrays, scalars and dtypes of every
common dtype name ``numpy.dtype``, checked under numpy 2.4 for protocols 0–5),
``numpy._core._internal._convert_to_stringdtype_kwargs`` (numpy-2 ``StringDType`` arrays,
which no dataset file holds) and ``numpy.ma`` / ``numpy.matrix`` subclasses. Object arrays
are fine: their elements are unpickled by the same restricted unpickler, so a malicious
object inside an object array is refused like any other.

Files are read with ``encoding='latin1'``, numpy's advice for arrays pickled by Python 2.
"""
from __future__ import annotations

import collections
import importlib
import io
import os
import pickle
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from typing import Any, Callable, Dict, IO, Sequence, Tuple, Union

import numpy as np

__all__ = ['UnsafePickleError', 'RestrictedUnpickler', 'safe_load_pickle', 'safe_loads_pickle',
           'ALLOWED_GLOBALS']

PathOrFile = Union[str, 'os.PathLike[str]', IO[bytes]]


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global outside the allow-list; nothing in it was run.

    Attributes:
        path: the file (or ``'<bytes>'`` / a stream's name).
        what: what the file was read as (``'camera file'``, ``'pose bank'``, ...).
        global_name: the refused ``module.name``, in its Python-3 spelling (protocols 0–2
            write some names the Python-2 way, ``__builtin__.exec``, ``commands.Popen``;
            the message gives both).
    """

    def __init__(self, path: str, what: str, global_name: str, written_as: str = ''):
        self.path, self.what, self.global_name = path, what, global_name
        spelled = f' (written as {written_as})' if written_as and written_as != global_name \
            else ''
        super().__init__(
            f'{path}: refused to load this {what}: the pickle imports {global_name}{spelled}, '
            f'which a {what} never holds; only Python containers and numpy arrays/scalars '
            'are allowed. Nothing in the file was run. If the file is yours, save it with plain '
            'dicts/lists and numpy arrays; if it is not, do not use it (it may be malicious).')


# --------------------------------------------------------------------------- guarded callables
class _Frozen:
    """Base of what the unpickler hands out in place of Python functions: no ``__dict__``
    and no attribute can be set, so a pickle's ``BUILD`` opcode cannot alter it (a plain
    function would let ``BUILD`` set its ``__defaults__`` or ``__dict__`` for the rest of
    the process). The other allowed globals are C types and builtins, immutable already."""
    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f'{self!r} is read-only')


class _NdarrayToken(_Frozen):
    """Stands for ``numpy.ndarray`` in a pickle: accepted only by :func:`_reconstruct`."""
    __slots__ = ()

    def __repr__(self):
        return '<numpy.ndarray (restricted)>'


class _Guarded(_Frozen):
    """An immutable callable wrapping one allowed function."""
    __slots__ = ('_fn', )

    def __init__(self, fn):
        object.__setattr__(self, '_fn', fn)

    def __call__(self, *args):
        return self._fn(*args)

    def __repr__(self):
        return f'<restricted {self._fn.__name__}>'


_NDARRAY = _NdarrayToken()


def _import_first(candidates: Sequence[Tuple[str, str]]) -> Callable:
    """The first ``module.name`` of ``candidates`` that imports (numpy 2 moved ``numpy.core``
    to ``numpy._core``; importing the old name warns under numpy 2, so it comes second)."""
    for mod, name in candidates:
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f'none of {[".".join(c) for c in candidates]} is importable')


_np_reconstruct = _import_first([('numpy._core.multiarray', '_reconstruct'),
                                 ('numpy.core.multiarray', '_reconstruct')])
_np_scalar = _import_first([('numpy._core.multiarray', 'scalar'),
                            ('numpy.core.multiarray', 'scalar')])
_np_frombuffer = _import_first([('numpy._core.numeric', '_frombuffer'),
                                ('numpy.core.numeric', '_frombuffer')])


def _reconstruct_plain(subtype, shape, dtype):
    """``numpy.core.multiarray._reconstruct`` for plain ndarrays only."""
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError(
            f'numpy _reconstruct of {subtype!r}: only plain numpy.ndarray is allowed')
    return _np_reconstruct(np.ndarray, shape, dtype)


def _latin1_encode(obj, encoding='utf-8', errors='strict'):
    """``_codecs.encode`` as protocols 0–2 use it: ``(str, 'latin1')`` → bytes."""
    if not isinstance(obj, str) or encoding not in ('latin1', 'latin-1') or errors != 'strict':
        raise pickle.UnpicklingError(
            f'_codecs.encode({type(obj).__name__}, {encoding!r}, {errors!r}): only '
            "(str, 'latin1') is allowed")
    return obj.encode('latin1')


def _bytes(*args):
    """``bytes`` from nothing, a str + encoding, or bytes; not an integer size."""
    if args and isinstance(args[0], int):
        raise pickle.UnpicklingError('bytes(<int>) is not allowed in a data pickle')
    return bytes(*args)


#: normalised ``(module, name)`` → the object handed to the pickle.
_reconstruct = _Guarded(_reconstruct_plain)
_scalar = _Guarded(_np_scalar)
_frombuffer = _Guarded(_np_frombuffer)
_encode = _Guarded(_latin1_encode)
_bytes_guarded = _Guarded(_bytes)

#: normalised ``(module, name)`` → the object handed to the pickle (C types, or immutable
#: wrappers of the functions).
ALLOWED_GLOBALS: Dict[Tuple[str, str], Any] = {
    ('numpy.core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy', 'ndarray'): _NDARRAY,
    ('numpy', 'dtype'): np.dtype,
    ('numpy.core.multiarray', 'scalar'): _scalar,
    ('numpy._core.multiarray', 'scalar'): _scalar,
    ('numpy.core.numeric', '_frombuffer'): _frombuffer,
    ('numpy._core.numeric', '_frombuffer'): _frombuffer,
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('collections', 'defaultdict'): collections.defaultdict,
    ('builtins', 'list'): list,
    ('builtins', 'bytes'): _bytes_guarded,
    ('_codecs', 'encode'): _encode,
}


def _normalise(module: str, name: str) -> Tuple[str, str]:
    """Python-2 names (``__builtin__``, ``copy_reg``, ...) → Python 3, as pickle's own
    ``fix_imports`` does."""
    if (module, name) in NAME_MAPPING:
        return NAME_MAPPING[(module, name)]
    return IMPORT_MAPPING.get(module, module), name


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only :data:`ALLOWED_GLOBALS`.

    Args:
        file: a binary file object.
        path: the file's name, for messages.
        what: what the file is read as, for messages (``'pose bank'``).
    """

    def __init__(self, file: IO[bytes], *, path: str, what: str, **kwargs):
        kwargs.setdefault('encoding', 'latin1')  # numpy arrays pickled by Python 2
        super().__init__(file, **kwargs)
        self._path, self._what = path, what

    def find_class(self, module: str, name: str) -> Any:
        key = _normalise(module, name)
        try:
            return ALLOWED_GLOBALS[key]
        except KeyError:
            raise UnsafePickleError(self._path, self._what, '.'.join(key),
                                    f'{module}.{name}') from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(
            f'{self._path}: the {self._what} uses persistent ids, which a data file never does')


def safe_load_pickle(source: PathOrFile, *, what: str = 'data file') -> Any:
    """Load a pickle with :class:`RestrictedUnpickler`.

    Args:
        source: a path or a binary file object.
        what: what the file is (``'camera file'``, ``'pose bank'``, ``'2D detection
            file'``, ...), named in messages.

    Returns:
        The unpickled object.

    Raises:
        UnsafePickleError: the pickle names a global outside the allow-list (message: the
            file, the global, what is allowed). Nothing in the file was run.
        OSError / pickle.UnpicklingError / EOFError / ...: an unreadable or truncated file,
            as ``pickle.load`` raises them (callers turn them into their own errors).
    """
    if hasattr(source, 'read'):
        path = str(getattr(source, 'name', '<stream>'))
        return RestrictedUnpickler(source, path=path, what=what).load()
    path = os.fspath(source)
    with open(path, 'rb') as f:
        return RestrictedUnpickler(f, path=path, what=what).load()


def safe_loads_pickle(data: bytes, *, what: str = 'data', name: str = '<bytes>') -> Any:
    """:func:`safe_load_pickle` for bytes in memory."""
    return RestrictedUnpickler(io.BytesIO(data), path=name, what=what).load()
