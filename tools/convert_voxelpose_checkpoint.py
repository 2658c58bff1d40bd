"""Convert a voxelpose-pytorch or MMPose-0.x VoxelPose checkpoint for ``virtualpose_mm``.

    python tools/convert_voxelpose_checkpoint.py IN OUT [--config CONFIG] [--drop-2d]

Key layouts (detected from the keys):

* voxelpose-pytorch: ``root_net.v2v_net.*``, ``pose_net.v2v_net.*``, ``backbone.*``
  (``nn.Sequential`` V2V blocks are renamed to MMPose ``ConvModule`` names);
* MMPose 0.x ``DetectAndRegress``: ``human_detector.center_net.*``,
  ``human_detector.center_head.{grid_size,cube_size,grid_center}``,
  ``pose_regressor.pose_net.*``, ``backbone.backbone.*``, ``backbone.keypoint_head.*``.

With ``--config`` the result is checked against the model the config builds: unknown,
missing or mis-shaped keys are listed in one error, and a capture space stored in the
checkpoint that differs from the config's is an error. The output is an mmengine-style
checkpoint ``{'state_dict': ..., 'meta': {...}}`` loadable with ``load_from`` or
``tools/test.py``. The input is read with ``torch.load(weights_only=True)``.
"""
import argparse
import os
import os.path as osp
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('input', help='source checkpoint (.pth / .pth.tar)')
    parser.add_argument('output', help='converted checkpoint to write')
    parser.add_argument('--config', help='model config to check the result against')
    parser.add_argument('--drop-2d', action='store_true',
                        help='drop the 2D network weights (for a heatmap-input model)')
    args = parser.parse_args(argv)

    import torch
    from virtualpose_mm.models.utils.voxelpose_converter import (CheckpointError,
                                                                 check_space,
                                                                 convert_voxelpose_state_dict,
                                                                 match_state_dict)
    if not osp.isfile(args.input):
        print(f'error: {args.input}: no such file', file=sys.stderr)
        return 1
    try:
        ckpt = torch.load(args.input, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unreadable file)
        print(f'error: {args.input}: cannot be read as a weights-only checkpoint ({e})',
              file=sys.stderr)
        return 1
    try:
        sd, info = convert_voxelpose_state_dict(ckpt)
        if args.config:
            import virtualpose_mm  # noqa: F401
            from mmengine.config import Config
            from virtualpose_mm.registry import MODELS
            cfg = Config.fromfile(args.config)
            from virtualpose_mm.engine.config_checks import resolve_config_variables
            resolve_config_variables(cfg)  # '${name}' config variables
            from mmengine.registry import init_default_scope
            init_default_scope(cfg.get('default_scope', 'mmpose'))
            model = MODELS.build(cfg.model)
            check_space(model, info['space'], args.input)
            sd = match_state_dict(model, sd, args.input, info, drop_2d=args.drop_2d)
        elif info['unknown']:
            raise CheckpointError(f'{args.input}: unrecognised keys {sorted(info["unknown"])}')
        elif args.drop_2d:
            sd = {k: v for k, v in sd.items() if not k.startswith(('backbone.', 'head_2d.'))}
    except CheckpointError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    meta = dict(converted_from=info['layout'], source=osp.abspath(args.input))
    if info['space'] is not None:
        meta['space'] = info['space']
    os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
    torch.save(dict(state_dict=sd, meta=meta), args.output)
    print(f'converted {len(sd)} entries ({info["layout"]}) -> {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
