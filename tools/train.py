"""Train a model of virtualpose_mm (or any MMPose 1.x config) with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]] [--amp]
        [--no-validate] [--auto-scale-lr] [--cfg-options k=v ...] [--launcher ...]

The command line is MMPose 1.x's ``tools/train.py``. Multi-GPU / multi-node training:
``tools/dist_train.sh CONFIG GPUS [args]`` (torchrun) or ``tools/slurm_train.sh``.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Train a pose model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='If a checkpoint path is given, resume from it; without a value, resume '
        'from the latest checkpoint in the work dir.')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual batch size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value (xxx=yyy format)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torchrun passes --local-rank; older launchers pass --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Merge CLI arguments into the config (as MMPose 1.x does)."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher

    # work_dir: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        from mmengine.optim import AmpOptimWrapper, OptimWrapper  # noqa: F401
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            from virtualpose_mm.engine.config_checks import ConfigError
            raise ConfigError(f'{args.config}: --auto-scale-lr needs `auto_scale_lr = '
                              'dict(base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True

    options = dict(args.cfg_options or {})
    if args.no_validate:
        # validation is off: options for it (e.g. the own-rig recipe's
        # val_dataloader.dataset.calibration=...) must not rebuild half a validation config
        ignored = sorted(k for k in options if k.split('.')[0] in _VAL_KEYS)
        for k in ignored:
            options.pop(k)
        if ignored:
            print(f'--no-validate: ignoring --cfg-options {", ".join(ignored)}',
                  file=sys.stderr)
    if options:
        cfg.merge_from_dict(options)
    _check_trainable(cfg, args.config)
    return cfg


_VAL_KEYS = ('val_cfg', 'val_dataloader', 'val_evaluator')


def _check_trainable(cfg, source: str) -> None:
    """A config without the training parts (a model-only config) says so."""
    missing = [k for k in ('train_dataloader', 'train_cfg', 'optim_wrapper')
               if not cfg.get(k)]
    if missing:
        from virtualpose_mm.engine.config_checks import ConfigError
        raise ConfigError(f'{source}: cannot train: the config has no {", ".join(missing)}. '
                          + ('It is a model-only config (used by tests and benchmarks); '
                             'train a config that defines the data, e.g. '
                             'configs/voxelpose/voxelpose_demo_shelf_virtual_cpu.py.'
                             if 'train_dataloader' in missing else ''))


def main(argv=None) -> int:
    args = parse_args(argv)
    import virtualpose_mm  # noqa: F401  registers classes, checkpoint fixes
    from mmengine.config import Config

    from virtualpose_mm.engine.config_checks import check_config, resolve_config_variables
    from virtualpose_mm.engine.runner import build_runner, run_tool, setup_distributed

    state = {}

    def _main():
        cfg = Config.fromfile(args.config)
        cfg = merge_args(cfg, args)
        resolve_config_variables(cfg)
        check_config(cfg, args.config, args.cfg_options, mode='train')
        state['work_dir'] = cfg.work_dir
        setup_distributed(cfg)
        runner = build_runner(cfg)
        runner.train()

    return run_tool(_main, 'train', lambda: state.get('work_dir'))


if __name__ == '__main__':
    sys.exit(main())
