"""Config variables and the checks that run before training or testing starts.

Config variables
----------------
mmengine evaluates a parent config with the parent's own values: a child that inherits
``voxelpose_own_rig.py`` and sets ``calibration = 'x.json'`` changes the top-level key but
not the copies the parent already made of it (``rig = dict(calibration=calibration)``). A
config therefore refers to a variable with a **placeholder**, a string value that is
exactly::

    '${name}'        # the value of the top-level key `name`
    '${name.sub}'    # a key (or list index) inside it, e.g. '${rig.calibration}'

anywhere in the config (in dicts, lists and tuples, at any depth).
:func:`resolve_config_variables` replaces every placeholder by a copy of the variable's
value *after* all inheritance and ``--cfg-options`` are merged, so a child config (or
``--cfg-options calibration=data/rig.json``) that sets the top-level key changes every
place that refers to it. A variable whose value is itself a placeholder (or contains some)
resolves transitively. A placeholder must be the whole string: ``'data/${name}.json'`` is
an error (build such strings in Python). A missing variable and a cycle are
:class:`ConfigError`\\ s naming the key that refers to them.

virtualpose_mm's ``tools/train.py``, ``tools/test.py``, the demos and the tools under
``tools/misc`` and ``tools/analysis`` resolve after loading. MMPose's own
``tools/train.py`` does not: the classes that receive these values
(:class:`~virtualpose_mm.datasets.VirtualMviewSceneDataset`, the letterbox / heatmap /
root-target transforms, the VoxelPose model with its root_net / pose_net dicts) call
:func:`reject_unresolved`, which says so instead of failing on a string later.

Checks (:func:`check_config`)
-----------------------------
Errors (:class:`ConfigError`, one line with every problem found, each naming the config
keys):

* the model's root-net capture space (``model.root_net.space_size`` / ``space_center`` /
  ``space_shape``) differs from a dataset's ``space_size`` / ``space_center`` or from a
  ``GenerateRootTarget3D`` of a pipeline (VoxelPose and VirtualPose);
* a grid the V2V networks cannot halve twice (``model.root_net.space_shape``,
  ``model.pose_net.cube_shape``: every axis divisible by 4);
* ``min_views < 1`` in a ``VirtualMviewSceneDataset`` (people no camera sees);
* a placement area outside the capture space (``VirtualMviewSceneDataset``: no overlap;
  ``VirtualPoseSceneDataset``: not inside the root net's space);
* ``GenerateRootTarget3D.root_joints`` differing from the model's root joint(s);
* an unresolved placeholder (:func:`resolve_config_variables` was not called).

Warnings (:class:`ConfigWarning`, through ``warnings.warn`` and mmengine's ``print_log``):

* a top-level key close to a key mmengine's ``Runner.from_cfg`` or MMPose reads but not
  one of them (``trian_cfg`` → ``train_cfg``); keys near nothing known are user variables;
* a ``default_hooks`` name close to a standard hook name (``loger`` → ``logger``);
* a ``--cfg-options`` key whose path did not exist in the config file (the file is read
  again to know what existed before the merge, unless ``base_cfg`` is given), with the
  near matches among the existing keys at the first level that does not exist; a new
  top-level key that mmengine reads (``randomness``, ``work_dir``, ...) is fine.

Which dataloaders are checked depends on ``mode``: ``'train'`` checks
``train_dataloader`` and ``val_dataloader``, ``'test'`` checks ``test_dataloader``.
Checks that need the cameras (a capture space no camera sees) run when the dataset loads
its calibration (:class:`~virtualpose_mm.datasets.VirtualMviewSceneDataset`).
"""
from __future__ import annotations

import copy
import difflib
import inspect
import logging
import os
import re
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple

__all__ = ['ConfigError', 'ConfigWarning', 'resolve_config_variables', 'check_config',
           'reject_unresolved', 'placeholder_name', 'find_placeholder']

#: A placeholder: the whole string is ``${name}`` or ``${name.sub...}``.
PLACEHOLDER = re.compile(r'^\$\{\s*([A-Za-z_]\w*(?:\.\w+)*)\s*\}$')
_EMBEDDED = re.compile(r'\$\{[^}]*\}')

#: Top-level keys that mmengine's ``Runner.from_cfg`` / ``Runner`` read (the signature of
#: ``Runner.__init__`` is added at run time) and the usual keys of MMPose configs.
KNOWN_TOP_LEVEL = frozenset({
    # Runner.from_cfg
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader',
    'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor',
    'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'default_scope', 'randomness', 'experiment_name',
    # read by the Runner later / by the tools
    'model_wrapper_cfg', 'find_unused_parameters', 'sync_bn', 'compile',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'runner_type',
    # MMPose / OpenMMLab config conventions
    '_base_', 'custom_imports', 'codec', 'dataset_type', 'data_mode', 'data_root',
    'backend_args', 'vis_backends', 'train_pipeline', 'val_pipeline', 'test_pipeline',
    'file_client_args', 'norm_cfg', 'train_batch_size_per_gpu', 'val_batch_size_per_gpu',
    'max_epochs', 'base_lr', 'tta_model', 'tta_pipeline',
})

#: mmengine's default hook names (``Runner.register_default_hooks``).
STANDARD_HOOKS = ('runtime_info', 'timer', 'logger', 'param_scheduler', 'checkpoint',
                  'sampler_seed', 'visualization')

#: Near-match threshold of difflib (``trian_cfg`` / ``train_cfg``: 0.89,
#: ``loger`` / ``logger``: 0.91; ``mupots_test_pipeline`` / ``test_pipeline``: 0.79, a user
#: variable); keys one edit from a known key (``modle``) are near too.
NEAR = 0.84

#: Words of a capture-space mismatch (the message then explains how to fix one).
SPACE_MISMATCH = 'differs from model.root_net.space_'

#: Dataloaders that each mode builds.
MODE_LOADERS = dict(train=('train_dataloader', 'val_dataloader'), test=('test_dataloader', ))


class ConfigError(ValueError):
    """A config is wrong; the message names the config file and keys."""


class ConfigWarning(UserWarning):
    """A config key looks like a typo of a known one."""


# ---------------------------------------------------------------------------- helpers
def _root(cfg) -> dict:
    """The ConfigDict of a Config (or the dict itself)."""
    d = getattr(cfg, '_cfg_dict', None)
    return d if d is not None else cfg


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f'{path}[{key}]'
    return f'{path}.{key}' if path else str(key)


def placeholder_name(value) -> Optional[str]:
    """``'name.sub'`` for a placeholder string ``'${name.sub}'``, else None."""
    if isinstance(value, str):
        m = PLACEHOLDER.match(value)
        if m:
            return m.group(1)
    return None


def find_placeholder(value, path: str = '') -> Optional[Tuple[str, str]]:
    """The first ``(key path, string)`` inside ``value`` that is (or holds) a placeholder
    (dicts, lists and tuples searched recursively), or None."""
    if isinstance(value, str):
        return (path, value) if _EMBEDDED.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            hit = find_placeholder(v, _join(path, k))
            if hit:
                return hit
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            hit = find_placeholder(v, _join(path, i))
            if hit:
                return hit
    return None


def _unresolved_message(where: str, path: str, text: str) -> str:
    return (f'{where}: {path} = {text!r} is an unresolved config variable. Configs that '
            "use '${name}' placeholders must be resolved after loading: run "
            "virtualpose_mm's tools/train.py or tools/test.py (MMPose's own tools do not "
            'resolve them), or call virtualpose_mm.engine.config_checks.'
            'resolve_config_variables(cfg) after Config.fromfile and merge_from_dict.')


def reject_unresolved(owner: str, args: Dict[str, Any]) -> None:
    """Raise :class:`ConfigError` when an argument of ``owner`` (a class name) is, or holds,
    an unresolved ``'${...}'`` placeholder.

    Call it first thing in ``__init__`` with ``locals()``: ``self`` and dunder names are
    skipped, ``**kwargs`` is searched like any dict.
    """
    args = dict(args)
    extra = args.pop('kwargs', None)
    if isinstance(extra, dict):
        args.update(extra)
    for key, value in args.items():
        if key == 'self' or key.startswith('__'):
            continue
        hit = find_placeholder(value, key)
        if hit:
            raise ConfigError(_unresolved_message(owner, *hit))


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance (insert, delete, substitute, swap neighbours)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def _near(word: str, choices, cutoff: float = NEAR, n: int = 3) -> List[str]:
    """Close matches: difflib ratio ≥ ``cutoff``, or (short words, where one typo moves the
    ratio most) one edit away."""
    word, choices = str(word), [str(c) for c in choices]
    near = difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)
    near += [c for c in choices if c not in near and abs(len(c) - len(word)) <= 1
             and _edit_distance(word, c) <= 1]
    return near[:n]


def _did_you_mean(word: str, choices, cutoff: float = 0.6) -> str:
    near = _near(word, choices, cutoff)
    return f' (did you mean {" or ".join(repr(c) for c in near)}?)' if near else ''


def _warn(msg: str) -> None:
    from mmengine.logging import print_log
    print_log(msg, logger='current', level=logging.WARNING)
    warnings.warn(msg, ConfigWarning, stacklevel=3)


# ---------------------------------------------------------------------------- resolution
class _Resolver:
    """In-place resolution of every placeholder of a config dict (see the module doc)."""

    def __init__(self, root: dict):
        self.root = root

    def walk(self, node, path: str, stack: Tuple[str, ...]):
        """``node`` with every placeholder inside resolved (containers in place; the return
        value replaces ``node`` in its parent, needed for strings and tuples)."""
        if isinstance(node, str):
            name = placeholder_name(node)
            if name is not None:
                return self.lookup(name, path, stack)
            if _EMBEDDED.search(node):
                raise ConfigError(
                    f'{path} = {node!r}: a placeholder must be the whole string value '
                    "('${name}'); build a longer string in Python instead")
            return node
        if isinstance(node, dict):
            for k in list(node.keys()):
                v = node[k]
                new = self.walk(v, _join(path, k), stack)
                if new is not v:
                    node[k] = new
            return node
        if isinstance(node, list):
            for i, v in enumerate(node):
                new = self.walk(v, _join(path, i), stack)
                if new is not v:
                    node[i] = new
            return node
        if isinstance(node, tuple):
            items = [self.walk(v, _join(path, i), stack) for i, v in enumerate(node)]
            if any(a is not b for a, b in zip(items, node)):
                try:
                    return type(node)(items)
                except TypeError:  # a namedtuple
                    return type(node)(*items)
            return node
        return node

    def lookup(self, name: str, ref: str, stack: Tuple[str, ...]):
        """A deep copy of the (resolved) variable ``name``, referred to at key path ``ref``."""
        if name in stack:
            chain = ' -> '.join(f'${{{s}}}' for s in stack + (name, ))
            raise ConfigError(f"{ref} = '${{{name}}}': the config variables refer to each "
                              f'other in a cycle ({chain})')
        stack = stack + (name, )
        parts = name.split('.')
        parent, key, node = None, None, self.root
        done: List[str] = []
        for part in parts:
            where = '.'.join(done) if done else 'the config'
            if isinstance(node, dict):
                if part not in node:
                    keys = list(node.keys())
                    what = 'top-level variable' if not done else 'key'
                    raise ConfigError(
                        f"{ref} = '${{{name}}}': {where} has no {what} {part!r}"
                        f'{_did_you_mean(part, keys)}; define it '
                        + (f'(e.g. `{part} = ...` at the top level of the config or '
                           f'--cfg-options {part}=...)' if not done else f'in {where}'))
                parent, key = node, part
            elif isinstance(node, (list, tuple)) and part.isdigit():
                if int(part) >= len(node):
                    raise ConfigError(f"{ref} = '${{{name}}}': {where} has {len(node)} "
                                      f'items, no index {part}')
                parent, key = node, int(part)
            else:
                raise ConfigError(f"{ref} = '${{{name}}}': {where} is a "
                                  f'{type(node).__name__}, it has no key {part!r}')
            node = parent[key]
            done.append(part)
            if placeholder_name(node) is not None:
                # resolve in place so later parts (and later references) see the value
                new = self.walk(node, '.'.join(done), stack)
                if new is not node and isinstance(parent, (dict, list)):
                    parent[key] = new
                node = new
        node = self.walk(node, name, stack)
        if isinstance(parent, (dict, list)) and parent[key] is not node:
            parent[key] = node
        return copy.deepcopy(node)


def resolve_config_variables(cfg) -> None:
    """Replace every ``'${name}'`` / ``'${name.sub}'`` placeholder of ``cfg`` (an mmengine
    ``Config`` or a dict), in place, by a copy of the value of that top-level key (after
    inheritance and ``--cfg-options``; see the module docstring).

    Raises:
        ConfigError: a missing variable, a cycle, or a placeholder inside a longer string;
            the message names the config file (``cfg.filename``) and the key path that
            refers to it.
    """
    root = _root(cfg)
    try:
        _Resolver(root).walk(root, '', ())
    except ConfigError as e:
        source = getattr(cfg, 'filename', None)
        if source:
            raise ConfigError(f'{source}: {e}') from None
        raise


# ---------------------------------------------------------------------------- unknown keys
def _known_top_level() -> set:
    known = set(KNOWN_TOP_LEVEL)
    try:
        from mmengine.runner import Runner
        known.update(p for p in inspect.signature(Runner.__init__).parameters
                     if p not in ('self', 'cfg'))
    except Exception:  # noqa: BLE001  (an mmengine without Runner: the static list)
        pass
    return known


def _check_top_level(root: dict, source: str) -> None:
    known = _known_top_level()
    for key in root.keys():
        if key in known or key.startswith('_'):
            continue
        near = _near(key, known)
        if near:
            _warn(f'{source}: unknown top-level config key {key!r}: did you mean '
                  f'{" or ".join(repr(n) for n in near)}? mmengine ignores {key!r}, so its '
                  'setting has no effect.')


def _check_default_hooks(root: dict, source: str) -> None:
    hooks = root.get('default_hooks')
    if not isinstance(hooks, dict):
        return
    for name in hooks.keys():
        if name in STANDARD_HOOKS:
            continue
        near = _near(name, STANDARD_HOOKS)
        if near:
            _warn(f'{source}: default_hooks.{name} is not a standard hook name: did you '
                  f'mean default_hooks.{near[0]}? ({name!r} is registered as an extra hook '
                  f'and the default {near[0]!r} hook keeps its default settings.)')


def _check_cli_options(options: dict, base: dict, source: str) -> None:
    known = _known_top_level()
    for full_key in options:
        parts = str(full_key).split('.')
        node = base
        done: List[str] = []
        for part in parts:
            if isinstance(node, dict):
                exists = part in node
                siblings = list(node.keys())
                child = node.get(part) if exists else None
            elif isinstance(node, (list, tuple)) and part.isdigit():
                exists = int(part) < len(node)
                siblings = [str(i) for i in range(len(node))]
                child = node[int(part)] if exists else None
            else:
                break  # a new value replaces a non-container: nothing to compare
            if not exists:
                if not done and part in known:
                    break  # a Runner key that the config leaves at its default
                where = '.'.join(done) if done else 'the top level'
                _warn(f'{source}: --cfg-options {full_key}: {where} of the config has no '
                      f'key {part!r}{_did_you_mean(part, siblings)}; it is added as a new '
                      'key, which the code may ignore.')
                break
            node = child
            done.append(part)


# ---------------------------------------------------------------------------- geometry
def _vec(value, path: str, n: int = 3) -> Optional[Tuple[float, ...]]:
    if value is None:
        return None
    try:
        v = tuple(float(x) for x in value)
    except (TypeError, ValueError):
        raise ConfigError(f'{path} = {value!r}: expected {n} numbers') from None
    if len(v) != n:
        raise ConfigError(f'{path} = {value!r}: expected {n} numbers (x, y, z), got {len(v)}')
    return v


def _same(a, b) -> bool:
    return all(abs(x - y) <= 1e-6 * max(1.0, abs(x), abs(y)) for x, y in zip(a, b))


def _fmt(v) -> str:
    return '(' + ', '.join(f'{x:g}' for x in v) + ')'


def _class_defaults(type_name, fallback=None) -> dict:
    """Default arguments of a registered model class (``{}`` when unknown)."""
    cls = None
    if isinstance(type_name, str):
        try:
            import virtualpose_mm  # noqa: F401  (registers the classes)
            from virtualpose_mm.registry import MODELS
            cls = MODELS.get(type_name)
        except Exception:  # noqa: BLE001
            cls = None
    elif inspect.isclass(type_name):
        cls = type_name
    cls = cls or fallback
    if cls is None:
        return {}
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return {}
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def _model_space(model: dict) -> Tuple[Dict[str, Any], dict]:
    """The root net's space fields ``{'space_size': (path, value), ...}`` and its dict."""
    rn = model.get('root_net') if isinstance(model, dict) else None
    if not isinstance(rn, dict):
        return {}, {}
    fallback = None
    if 'type' not in rn and model.get('type') == 'VirtualPose':
        try:
            from virtualpose_mm.models.heads.virtualpose_root_net import VirtualPoseRootNet
            fallback = VirtualPoseRootNet
        except Exception:  # noqa: BLE001
            fallback = None
    defaults = _class_defaults(rn.get('type'), fallback) if ('type' in rn or fallback) else {}
    out = {}
    for f in ('space_size', 'space_center', 'space_shape'):
        if f in rn:
            out[f] = (f'model.root_net.{f}', rn[f])
        elif defaults.get(f) is not None:
            out[f] = (f'model.root_net.{f} (default)', defaults[f])
    return out, rn


def _iter_datasets(ds, path: str) -> Iterator[Tuple[str, dict]]:
    """Every dataset dict under a dataloader's ``dataset`` (through wrappers)."""
    if not isinstance(ds, dict):
        return
    yield path, ds
    if isinstance(ds.get('dataset'), dict):
        yield from _iter_datasets(ds['dataset'], f'{path}.dataset')
    if isinstance(ds.get('datasets'), (list, tuple)):
        for i, d in enumerate(ds['datasets']):
            yield from _iter_datasets(d, f'{path}.datasets[{i}]')


def _iter_transforms(node, path: str, type_name: str) -> Iterator[Tuple[str, dict]]:
    if isinstance(node, dict):
        if node.get('type') == type_name:
            yield path, node
        for k in ('transforms', 'transform'):
            if k in node:
                yield from _iter_transforms(node[k], f'{path}.{k}', type_name)
    elif isinstance(node, (list, tuple)):
        for i, t in enumerate(node):
            yield from _iter_transforms(t, f'{path}[{i}]', type_name)


def _as_joints(v) -> Optional[Tuple[int, ...]]:
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return (int(v), )
    try:
        return tuple(int(x) for x in v)
    except (TypeError, ValueError):
        return None


def _check_geometry(root: dict, mode: str) -> List[str]:
    problems: List[str] = []
    model = root.get('model')
    model = model if isinstance(model, dict) else {}
    space, rn = _model_space(model)
    vals = {}
    for f, (p, v) in space.items():
        try:
            vals[f] = (p, _vec(v, p))
        except ConfigError as e:
            problems.append(str(e))

    # grids the V2V nets halve twice
    grids = []
    if 'space_shape' in vals:
        grids.append(vals['space_shape'])
    pn = model.get('pose_net')
    if isinstance(pn, dict) and pn.get('cube_shape') is not None:
        try:
            grids.append(('model.pose_net.cube_shape',
                          _vec(pn['cube_shape'], 'model.pose_net.cube_shape')))
        except ConfigError as e:
            problems.append(str(e))
    for p, shape in grids:
        bad = [int(s) if s == int(s) else s for s in shape if s != int(s) or int(s) % 4]
        if bad:
            problems.append(
                f'{p} = {_fmt(shape)}: every axis must be divisible by 4 (the V2V network '
                f'halves the grid twice and doubles it back); {", ".join(map(str, bad))} '
                f'{"is" if len(bad) == 1 else "are"} not')

    # the model's root joint(s)
    model_root = None
    if model.get('type') == 'VirtualPose':
        ri = model.get('root_index', _class_defaults('VirtualPose').get('root_index'))
        model_root = ('model.root_index', _as_joints(ri))
    elif model.get('root_joints') is not None:
        model_root = ('model.root_joints', _as_joints(model.get('root_joints')))

    for loader in MODE_LOADERS[mode]:
        dl = root.get(loader)
        if not isinstance(dl, dict):
            continue
        for dpath, ds in _iter_datasets(dl.get('dataset'), f'{loader}.dataset'):
            dtype = ds.get('type')
            # dataset space fields
            dspace = {}
            for f in ('space_size', 'space_center'):
                if ds.get(f) is not None:
                    try:
                        dspace[f] = _vec(ds[f], f'{dpath}.{f}')
                    except ConfigError as e:
                        problems.append(str(e))
                        continue
                    if f in vals and not _same(dspace[f], vals[f][1]):
                        problems.append(f'{dpath}.{f} = {_fmt(dspace[f])} differs from '
                                        f'{vals[f][0]} = {_fmt(vals[f][1])}')
            if dtype == 'VirtualMviewSceneDataset' or 'min_views' in ds:
                mv = ds.get('min_views', 2 if dtype == 'VirtualMviewSceneDataset' else None)
                if mv is not None and (not isinstance(mv, (int, float)) or mv < 1):
                    problems.append(
                        f'{dpath}.min_views = {mv!r}: must be ≥ 1 (min_views={mv!r} places '
                        'people where no camera sees them, and the root net learns to find '
                        'people without evidence; 1 only requires the root in one view)')
            problems += _check_placement(ds, dpath, dspace, vals)
            # root targets in the pipelines
            for tpath, t in _iter_transforms(ds.get('pipeline'), f'{dpath}.pipeline',
                                             'GenerateRootTarget3D'):
                for f in ('space_size', 'space_center', 'space_shape'):
                    if t.get(f) is None or f not in vals:
                        continue
                    try:
                        tv = _vec(t[f], f'{tpath}.{f}')
                    except ConfigError as e:
                        problems.append(str(e))
                        continue
                    if not _same(tv, vals[f][1]):
                        problems.append(f'{tpath}.{f} = {_fmt(tv)} (GenerateRootTarget3D) '
                                        f'differs from {vals[f][0]} = {_fmt(vals[f][1])}')
                tj = _as_joints(t.get('root_joints'))
                if model_root and model_root[1] and tj and \
                        sorted(tj) != sorted(model_root[1]):
                    problems.append(f'{tpath}.root_joints = {tj} (GenerateRootTarget3D) '
                                    f'differs from {model_root[0]} = {model_root[1]}: the '
                                    'root targets would sit on other joints than the roots '
                                    'the model matches')
    return problems


def _check_placement(ds: dict, dpath: str, dspace: dict, model_space: dict) -> List[str]:
    """Placement areas against the capture space (x-y)."""
    area = ds.get('placement_area')
    if area is None:
        return []
    try:
        a = [tuple(float(v) for v in r) for r in area]
        assert len(a) == 2 and all(len(r) == 2 for r in a)
    except (TypeError, ValueError, AssertionError):
        return [f'{dpath}.placement_area = {area!r}: expected ((x_min, x_max), '
                '(y_min, y_max)) mm']
    dtype = ds.get('type')
    if dtype == 'VirtualMviewSceneDataset':
        if ds.get('inside_space', 'root') is None or 'space_size' not in dspace or \
                'space_center' not in dspace:
            return []
        s, c = dspace['space_size'], dspace['space_center']
        lo = [c[i] - s[i] / 2 for i in range(2)]
        hi = [c[i] + s[i] / 2 for i in range(2)]
        if any(a[i][1] < lo[i] or a[i][0] > hi[i] for i in range(2)):
            return [f'{dpath}.placement_area = {a} does not overlap the capture space '
                    f'({dpath}.space_center = {_fmt(c)}, space_size = {_fmt(s)}: x '
                    f'{lo[0]:g}..{hi[0]:g}, y {lo[1]:g}..{hi[1]:g}); no person can be '
                    'placed inside the space']
    elif dtype == 'VirtualPoseSceneDataset':
        if 'space_size' not in model_space or 'space_center' not in model_space:
            return []
        sc = ds.get('scene_center', (0.0, 0.0))
        try:
            sc = tuple(float(v) for v in sc)[:2]
        except (TypeError, ValueError):
            return [f'{dpath}.scene_center = {sc!r}: expected (x, y) mm']
        (sp, s), (cp, c) = model_space['space_size'], model_space['space_center']
        lo = [c[i] - s[i] / 2 for i in range(2)]
        hi = [c[i] + s[i] / 2 for i in range(2)]
        world = [(a[i][0] + sc[i], a[i][1] + sc[i]) for i in range(2)]
        if any(world[i][0] < lo[i] - 1e-6 or world[i][1] > hi[i] + 1e-6 for i in range(2)):
            return [f'{dpath}.placement_area = {a} around {dpath}.scene_center = {sc} '
                    f'(x {world[0][0]:g}..{world[0][1]:g}, y {world[1][0]:g}..'
                    f'{world[1][1]:g} mm) is not inside the root net\'s capture space '
                    f'({cp} = {_fmt(c)}, {sp} = {_fmt(s)}: x {lo[0]:g}..{hi[0]:g}, '
                    f'y {lo[1]:g}..{hi[1]:g}); people outside it cannot be found']
    return []


# ---------------------------------------------------------------------------- entry point
def check_config(cfg, source: str, cli_options: Optional[dict] = None, mode: str = 'train',
                 base_cfg=None) -> None:
    """Check a loaded, merged and resolved config before a run starts.

    Args:
        cfg: the mmengine ``Config`` after ``merge_from_dict`` and
            :func:`resolve_config_variables`.
        source: the config file (named in every message; re-read for ``cli_options``
            unless ``base_cfg`` is given).
        cli_options: the ``--cfg-options`` dict (``DictAction``), dotted keys.
        mode: ``'train'`` (checks train and val dataloaders) or ``'test'``.
        base_cfg: the config as loaded from ``source``, before ``--cfg-options``
            (default: ``Config.fromfile(source)`` is read again when there are
            ``cli_options``; without either, the option keys are not checked).

    Raises:
        ConfigError: every error found, in one line (see the module docstring).

    Warns:
        ConfigWarning: unknown keys near known ones (also logged with ``print_log``).
    """
    if mode not in MODE_LOADERS:
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    root = _root(cfg)
    hit = find_placeholder(root)
    if hit:
        raise ConfigError(_unresolved_message(source, *hit))
    _check_top_level(root, source)
    _check_default_hooks(root, source)
    if cli_options:
        if base_cfg is None and os.path.isfile(source):
            from mmengine.config import Config
            base_cfg = Config.fromfile(source)
        if base_cfg is not None:
            _check_cli_options(cli_options, _root(base_cfg), source)
    problems = _check_geometry(root, mode)
    if not problems:
        return
    # one line (tools print the last line of an error): problems joined by ' | '
    if len(problems) == 1:
        msg = f'{source}: {problems[0]}'
    else:
        msg = f'{source}: {len(problems)} problems: ' + ' | '.join(
            f'({i}) {p}' for i, p in enumerate(problems, 1))
    if any(SPACE_MISMATCH in p for p in problems):
        msg += (' | The data, the root targets and the root net must use one capture space. '
                'In a config with rig variables (configs/voxelpose/voxelpose_own_rig.py) set '
                'the top-level variable (space_size, space_center, root_shape; in a child '
                'config or with --cfg-options) instead of one copy.')
    raise ConfigError(msg)
