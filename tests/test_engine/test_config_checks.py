"""Config variables ('${name}') and the checks that run before training starts: each
mistake gives one error or warning that names the config key (or file and field)."""
import warnings
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from virtualpose_mm.datasets import DatasetError
from virtualpose_mm.engine.config_checks import (ConfigError, ConfigWarning, check_config,
                                                 resolve_config_variables)
from virtualpose_mm.registry import DATASETS, MODELS, TRANSFORMS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
OWN_RIG = CONFIGS / 'voxelpose' / 'voxelpose_own_rig.py'
SHELF = CONFIGS / 'voxelpose' / 'voxelpose_prn64x64x64_cpn80x80x20_shelf_cam5.py'
VP_TINY = CONFIGS / 'virtualpose' / 'virtualpose_tiny_cpu.py'
VP_PANOPTIC = CONFIGS / 'virtualpose' / 'virtualpose_virtualcam_panoptic.py'
SHELF_CALIB = str(REPO / 'tests' / 'data' / 'shelf' / 'calibration_shelf.json')
SHIPPED = sorted(p for p in CONFIGS.rglob('*.py') if '_base_' not in p.parts)


def _load(path, edits=None, cli=None):
    """Load like tools/train.py: file, edits (as if written in the file), --cfg-options,
    then resolve."""
    init_default_scope('mmpose')
    cfg = Config.fromfile(str(path))
    if edits:
        cfg.merge_from_dict(edits)
    if cli:
        cfg.merge_from_dict(cli)
    resolve_config_variables(cfg)
    return cfg


def _check(path, edits=None, cli=None, mode='train'):
    cfg = _load(path, edits, cli)
    check_config(cfg, str(path), cli, mode=mode)
    return cfg


def _no_warnings(fn, *args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out = fn(*args, **kw)
    mine = [w for w in caught if issubclass(w.category, ConfigWarning)]
    assert not mine, [str(w.message) for w in mine]
    return out


# one row per mistake: config, edits written in the config, --cfg-options, mode,
# expected class, a regex the message must match
MISTAKES = [
    # geometry: the root net's space against the data and the root targets
    pytest.param(SHELF, {'train_dataloader.dataset.space_center': (0.0, 0.0, 800.0)}, None,
                 'train', ConfigError,
                 r'train_dataloader\.dataset\.space_center = \(0, 0, 800\) differs from '
                 r'model\.root_net\.space_center = \(450, -320, 800\)',
                 id='dataset-space-center'),
    pytest.param(SHELF, {'train_dataloader.dataset.space_size': (6000.0, 6000.0, 2000.0),
                         'train_dataloader.dataset.pipeline.4.space_size':
                             (6000.0, 6000.0, 2000.0)}, None, 'train', ConfigError,
                 r'2 problems: \(1\) train_dataloader\.dataset\.space_size.* \| \(2\) '
                 r'train_dataloader\.dataset\.pipeline\[4\]\.space_size = \(6000, 6000, '
                 r'2000\) \(GenerateRootTarget3D\) differs from model\.root_net\.space_size',
                 id='dataset-and-target-space-size'),
    pytest.param(SHELF, {'train_dataloader.dataset.pipeline.4.space_shape': (40, 40, 12)},
                 None, 'train', ConfigError,
                 r'train_dataloader\.dataset\.pipeline\[4\]\.space_shape = \(40, 40, 12\) '
                 r'\(GenerateRootTarget3D\) differs from model\.root_net\.space_shape = '
                 r'\(80, 80, 20\)', id='target-space-shape'),
    pytest.param(SHELF, {'model.root_net.space_center': (0.0, 0.0, 800.0)}, None, 'train',
                 ConfigError, r'model\.root_net\.space_center = \(0, 0, 800\)',
                 id='model-space-center'),
    pytest.param(SHELF, {'train_dataloader.dataset.pipeline.4.root_joints': (5, 6)}, None,
                 'train', ConfigError,
                 r'pipeline\[4\]\.root_joints = \(5, 6\).*model\.root_joints = \(11, 12\)',
                 id='target-root-joints'),
    pytest.param(VP_TINY, {'model.root_net.space_center': (0.0, 500.0, 1100.0)}, None,
                 'train', ConfigError,
                 r'train_dataloader\.dataset\.pipeline\[1\]\.space_center = \(0, 0, 1100\) '
                 r'\(GenerateRootTarget3D\) differs from model\.root_net\.space_center = '
                 r'\(0, 500, 1100\)', id='virtualpose-space-center'),
    pytest.param(VP_TINY, {'train_dataloader.dataset.pipeline.1.root_joints': 3}, None,
                 'train', ConfigError, r'train_dataloader\.dataset\.pipeline\[1\]\.root_joints '
                 r'= \(3,\) \(GenerateRootTarget3D\) differs from model\.root_index = \(2,\)',
                 id='virtualpose-root-joints'),
    pytest.param(VP_PANOPTIC, {'train_dataloader.dataset.placement_area':
                               ((-5000.0, 5000.0), (-2500.0, 2500.0))}, None, 'train',
                 ConfigError,
                 r'train_dataloader\.dataset\.placement_area .* is not inside the root '
                 r"net's capture space \(model\.root_net\.space_center",
                 id='virtualpose-placement-outside-space'),
    # grids the V2V nets cannot halve twice (set through the rig variable: every copy
    # follows, so this is the only problem)
    pytest.param(OWN_RIG, {'root_shape': (80, 80, 18)}, None, 'train', ConfigError,
                 r'model\.root_net\.space_shape = \(80, 80, 18\): every axis must be '
                 r'divisible by 4.*; 18 is not', id='root-grid-not-divisible-by-4'),
    pytest.param(SHELF, {'model.pose_net.cube_shape': (64, 64, 62)}, None, 'train',
                 ConfigError, r'model\.pose_net\.cube_shape = \(64, 64, 62\).*62 is not',
                 id='pose-cube-not-divisible-by-4'),
    pytest.param(OWN_RIG, {'train_dataloader.dataset.min_views': 0}, None, 'train',
                 ConfigError, r'train_dataloader\.dataset\.min_views = 0: must be ≥ 1',
                 id='min-views-0'),
    pytest.param(SHELF, {'train_dataloader.dataset.placement_area':
                         ((9000.0, 9500.0), (-1000.0, 1000.0))}, None, 'train', ConfigError,
                 r'train_dataloader\.dataset\.placement_area .* does not overlap the '
                 r'capture space', id='placement-outside-space'),
    # only the dataloaders of the mode are checked
    pytest.param(SHELF, {'test_dataloader.dataset.space_center': (0.0, 0.0, 800.0)}, None,
                 'test', ConfigError, r'test_dataloader\.dataset\.space_center',
                 id='test-mode-checks-test-dataloader'),
    # keys that look like typos of known ones
    pytest.param(SHELF, {'trian_cfg': dict(max_epochs=1)}, None, 'train', ConfigWarning,
                 r"unknown top-level config key 'trian_cfg': did you mean 'train_cfg'\?",
                 id='trian_cfg'),
    pytest.param(SHELF, {'default_hooks.loger': dict(interval=5)}, None, 'train',
                 ConfigWarning, r'default_hooks\.loger .*did you mean default_hooks\.logger',
                 id='default_hooks.loger'),
    pytest.param(OWN_RIG, None, {'train_dataloader.dataset.calibraton': 'rig.json'}, 'train',
                 ConfigWarning,
                 r"--cfg-options train_dataloader\.dataset\.calibraton: "
                 r"train_dataloader\.dataset of the config has no key 'calibraton' "
                 r"\(did you mean 'calibration'\?\)", id='cfg-option-typo'),
    pytest.param(OWN_RIG, None, {'calibraton': 'rig.json'}, 'train', ConfigWarning,
                 r"--cfg-options calibraton: the top level of the config has no key "
                 r"'calibraton' \(did you mean 'calibration'\?\)",
                 id='cfg-option-variable-typo'),
    # placeholders
    pytest.param(OWN_RIG, {'train_dataloader.dataset.calibration': '${calib}'}, None,
                 'train', ConfigError,
                 r"train_dataloader\.dataset\.calibration = '\$\{calib\}': the config has "
                 r"no top-level variable 'calib' \(did you mean 'calibration'\?\)",
                 id='missing-variable'),
    pytest.param(OWN_RIG, {'model.root_net.space_size': '${rig.space}'}, None, 'train',
                 ConfigError,
                 r"model\.root_net\.space_size = '\$\{rig\.space\}': rig has no key 'space'",
                 id='missing-sub-key'),
    pytest.param(OWN_RIG, {'space_size': '${rig.space_size}'}, None, 'train', ConfigError,
                 r'cycle \(\$\{space_size\} -> \$\{rig\.space_size\} -> \$\{space_size\}\)',
                 id='cycle'),
    pytest.param(OWN_RIG, {'calibration': 'data/${rig_name}.json'}, None, 'train',
                 ConfigError, r"calibration = 'data/\$\{rig_name\}\.json': a placeholder "
                 r'must be the whole string', id='placeholder-inside-string'),
]


@pytest.mark.parametrize('path,edits,cli,mode,expected,match', MISTAKES)
def test_each_mistake_gives_one_clear_message(path, edits, cli, mode, expected, match):
    if issubclass(expected, Warning):
        with pytest.warns(expected, match=match):
            _check(path, edits, cli, mode)
    else:
        with pytest.raises(expected, match=match) as e:
            _check(path, edits, cli, mode)
        assert str(e.value).startswith(f'{path}: ')  # names the config file too
        assert '\n' not in str(e.value)  # one line: the tools print the last line


def test_unresolved_placeholders_are_refused_with_a_hint():
    # a user running MMPose's own tools/train.py: nothing resolves the variables
    init_default_scope('mmpose')
    cfg = Config.fromfile(str(OWN_RIG))
    with pytest.raises(ConfigError, match=r"model\.image_size = '\$\{input_size\}' is an "
                                          r'unresolved config variable.*'
                                          r'resolve_config_variables'):
        check_config(cfg, str(OWN_RIG))
    hint = r"is an unresolved config variable.*tools/train\.py.*resolve_config_variables"
    with pytest.raises(ConfigError,
                       match=r"VoxelPose: root_net\.space_size = '\$\{space_size\}' " + hint):
        MODELS.build(cfg.model)
    with pytest.raises(ConfigError, match=r"VirtualMviewSceneDataset: calibration = "
                                          r"'\$\{calibration\}' " + hint):
        DATASETS.build(cfg.train_dataloader.dataset)
    with pytest.raises(ConfigError, match=r"GenerateRootTarget3D: space_size = "
                                          r"'\$\{space_size\}' " + hint):
        TRANSFORMS.build(cfg.train_pipeline[4])
    with pytest.raises(ConfigError, match=r"MultiViewLetterbox: input_size = "):
        TRANSFORMS.build(cfg.train_pipeline[2])
    with pytest.raises(ConfigError, match=r"GenerateMultiViewHeatmaps: heatmap_size = "):
        TRANSFORMS.build(cfg.train_pipeline[3])


def test_space_no_camera_sees_fails_when_the_dataset_loads():
    cfg = _load(OWN_RIG, {'calibration': SHELF_CALIB, 'image_size': (1032, 776),
                          'space_center': (100000.0, 0.0, 1000.0)})
    check_config(cfg, str(OWN_RIG))  # consistent config: only the cameras can tell
    # (one Shelf camera looks that way: the far space is in its image, but not in two)
    with pytest.raises(DatasetError, match=r'calibration_shelf\.json: at most 1 of the 5 '
                                           r"cameras .* see any one point of the placement area "
                                           r'\[\[96500\.0, 103500\.0\], \[-3500\.0, 3500\.0\]\] '
                                           r'.* inside the capture space \(centre '
                                           r'\[100000\.0, 0\.0, 1000\.0\]'):
        DATASETS.build(cfg.train_dataloader.dataset)


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_shipped_configs_pass(path):
    # config-level checks only (no data is read; the own-rig calibration does not exist)
    for mode in ('train', 'test'):
        _no_warnings(_check, path, mode=mode)


def test_child_config_sets_only_the_variables(tmp_path):
    child = tmp_path / 'my_rig.py'
    child.write_text(f"_base_ = [{str(OWN_RIG)!r}]\n"
                     f"calibration = {SHELF_CALIB!r}\n"
                     "image_size = (1032, 776)\n")
    cfg = _no_warnings(_check, child)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[key].dataset
        assert ds.calibration == SHELF_CALIB
        assert tuple(ds.image_size) == (1032, 776)
        assert tuple(ds.space_center) == (0.0, 0.0, 1000.0)
    (target, ) = [t for t in cfg.train_dataloader.dataset.pipeline
                  if t.type == 'GenerateRootTarget3D']
    assert tuple(target.space_size) == (8000.0, 8000.0, 2000.0)
    assert tuple(target.space_center) == (0.0, 0.0, 1000.0)
    assert tuple(target.space_shape) == (80, 80, 20)
    assert tuple(cfg.model.root_net.space_center) == (0.0, 0.0, 1000.0)
    assert tuple(cfg.model.image_size) == (960, 512)
    # the copies are independent (a later edit of one does not change the others)
    target.space_center = (1.0, 2.0, 3.0)
    assert tuple(cfg.model.root_net.space_center) == (0.0, 0.0, 1000.0)
    dcfg = cfg.train_dataloader.dataset
    dcfg.num_samples = 2
    out = DATASETS.build(dcfg)[0]
    assert tuple(out['inputs'].shape) == (5, 17, 128, 240)


def test_cli_options_set_variables_or_single_copies():
    # a variable on the command line changes every copy
    cli = {'calibration': SHELF_CALIB, 'space_center': (450.0, -320.0, 800.0)}
    cfg = _no_warnings(_check, OWN_RIG, cli=cli)
    assert cfg.val_dataloader.dataset.calibration == SHELF_CALIB
    assert tuple(cfg.train_dataloader.dataset.pipeline[4].space_center) == (450, -320, 800)
    # the documented recipe: one copy per dataloader
    cli = {'train_dataloader.dataset.calibration': SHELF_CALIB,
           'val_dataloader.dataset.calibration': SHELF_CALIB}
    cfg = _no_warnings(_check, OWN_RIG, cli=cli)
    assert cfg.train_dataloader.dataset.calibration == SHELF_CALIB
    assert cfg.val_dataloader.dataset.calibration == SHELF_CALIB
    # a space changed in one copy only is refused
    with pytest.raises(ConfigError, match=r'model\.root_net\.space_center = '
                                          r'\(1000, 0, 1000\)'):
        _check(OWN_RIG, cli={'model.root_net.space_center': (1000.0, 0.0, 1000.0)})


def test_resolution_rules():
    cfg = Config(dict(
        a=(1, 2, 3), b='${a}', c='${b}', rig=dict(x='${c}', names=['p', 'q']),
        nested=dict(t=('${rig.x}', '${rig.names.1}'), lst=['${a}', dict(k='${c}')]),
        plain='no placeholder', money='$5'))
    resolve_config_variables(cfg)
    assert tuple(cfg.b) == (1, 2, 3) and tuple(cfg.c) == (1, 2, 3)
    assert tuple(cfg.rig.x) == (1, 2, 3)
    assert tuple(cfg.nested.t[0]) == (1, 2, 3) and cfg.nested.t[1] == 'q'
    assert tuple(cfg.nested.lst[0]) == (1, 2, 3) and tuple(cfg.nested.lst[1].k) == (1, 2, 3)
    assert cfg.plain == 'no placeholder' and cfg.money == '$5'
    resolve_config_variables(cfg)  # idempotent
    cfg = Config(dict(a='${a}'))
    with pytest.raises(ConfigError, match=r"a = '\$\{a\}'.*cycle"):
        resolve_config_variables(cfg)
    cfg = Config(dict(a=[1], b='${a.3}'))
    with pytest.raises(ConfigError, match=r"b = '\$\{a\.3\}': a has 1 items, no index 3"):
        resolve_config_variables(cfg)


def test_min_views_in_the_dataset_fails_fast(tmp_path):
    # a corner no Shelf camera sees, min_views=2: refused when the dataset loads
    with pytest.raises(DatasetError, match=r'calibration_shelf\.json: at most 1 of the 5 '
                                           r'cameras|calibration_shelf\.json: none of the 5'):
        DATASETS.build(dict(type='VirtualMviewSceneDataset', calibration=SHELF_CALIB,
                            image_size=(1032, 776), space_size=(8000, 8000, 2000),
                            space_center=(450, -320, 800),
                            placement_area=((3200, 3800), (-4200, -3500)), min_views=2))
