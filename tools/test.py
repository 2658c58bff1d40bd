"""Evaluate a checkpoint with mmengine's Runner.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out metrics.json]
        [--dump predictions.pkl] [--show-dir DIR] [--cfg-options k=v ...] [--launcher ...]

The command line is MMPose 1.x's ``tools/test.py``. ``--out`` writes the metric values
(JSON), ``--dump`` the raw predictions (pickle); both are written completely or not at all.
``--show-dir DIR`` draws every ``--interval``-th test sample (all people in a world plot
with the cameras and capture space, and one panel per view) to ``DIR/<sample_idx>.png``
with the config's ``default_hooks.visualization``, by default the package's
``MultiviewVisualizationHook``; ``--show`` displays them instead.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Evaluate a pose model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save evaluation results')
    parser.add_argument('--out', help='the file to save the metric results (.json)')
    parser.add_argument('--dump', type=str,
                        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value')
    parser.add_argument('--show-dir',
                        help='directory where painted predictions are saved')
    parser.add_argument('--show', action='store_true', help='display prediction results')
    parser.add_argument('--interval', type=int, default=1, help='visualize every N samples')
    parser.add_argument('--wait-time', type=float, default=1, help='display time (s)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        from mmengine.config import ConfigDict
        if cfg.get('default_hooks') is None:
            cfg.default_hooks = ConfigDict()
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            # the package's hook: world plot + one panel per view, DIR/<sample_idx>.png
            hooks.visualization = ConfigDict(type='MultiviewVisualizationHook')
        hooks.visualization.enable = True
        hooks.visualization.show = args.show
        hooks.visualization.interval = args.interval
        hooks.visualization.wait_time = args.wait_time
        if args.show_dir:
            hooks.visualization.out_dir = args.show_dir

    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump {args.dump}: the file must end with .pkl or .pickle')
        dump_metric = dict(type='AtomicDumpResults', out_file_path=args.dump)
        for key in ('test_evaluator', ):
            ev = cfg.get(key)
            if isinstance(ev, (list, tuple)):
                cfg[key] = list(ev) + [dump_metric]
            elif ev is None:
                cfg[key] = [dump_metric]
            elif 'metrics' in ev:
                ev.metrics = list(ev.metrics) + [dump_metric]
            else:
                cfg[key] = [ev, dump_metric]

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    import virtualpose_mm  # noqa: F401
    from mmengine.config import Config

    from virtualpose_mm.engine.config_checks import check_config, resolve_config_variables
    from virtualpose_mm.engine.results import write_json_atomic
    from virtualpose_mm.engine.runner import build_runner, run_tool, setup_distributed

    def _main():
        cfg = Config.fromfile(args.config)
        cfg = merge_args(cfg, args)
        resolve_config_variables(cfg)
        check_config(cfg, args.config, args.cfg_options, mode='test')
        setup_distributed(cfg)
        runner = build_runner(cfg)
        runner.strict_load = True  # a checkpoint that does not fit is an error
        metrics = runner.test()
        if args.out and runner.rank == 0:
            write_json_atomic(args.out, metrics)
            print(f'metrics written to {args.out}')

    return run_tool(_main, 'test')


if __name__ == '__main__':
    sys.exit(main())
