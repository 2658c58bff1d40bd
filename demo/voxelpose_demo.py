"""Run a VoxelPose checkpoint on frames of a config's test set; write the 3D poses as JSON
and a picture of predictions against ground truth.

    python demo/voxelpose_demo.py CONFIG CHECKPOINT [--indices 0 1 2] [--out-dir DIR]

Outputs, per frame ``i``:
* ``DIR/frame<i>.json``: ``people`` = list of {``keypoints`` (K, 3) world mm,
  ``keypoint_scores`` (K,), ``bbox_score``} (the ``pred_instances`` fields, one person
  each), plus ``ground_truth`` = list of {``keypoints`` (K, 3) world mm} when the dataset
  has it;
* ``DIR/frame<i>.png``: top view and side view of predicted (solid) and GT (dashed)
  skeletons in the capture space.
Both files are written completely or not at all.
"""
import argparse
import io
import os
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--indices', type=int, nargs='+', default=[0],
                   help='test-set frame indices (default: 0)')
    p.add_argument('--out-dir', default='demo_output')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def _np(x):
    return x.detach().cpu().numpy() if hasattr(x, 'detach') else np.asarray(x)


def _mpjpe_matched(pred, gt):
    """Mean per-joint error of each GT person to its closest prediction (mm)."""
    if len(gt) == 0 or len(pred) == 0:
        return []
    d = np.linalg.norm(pred[:, None] - gt[None], axis=-1).mean(-1)  # (N, G)
    return d.min(0).tolist()


def draw(path, pred, gt, skeleton, space_size, space_center, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from virtualpose_mm.engine.fileio import atomic_write_bytes
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    lo = np.asarray(space_center) - np.asarray(space_size) / 2
    hi = np.asarray(space_center) + np.asarray(space_size) / 2
    for ax, (a, b), name in ((axes[0], (0, 1), 'top view (x, y)'),
                             (axes[1], (0, 2), 'side view (x, z)')):
        # a prediction takes the colour of its closest GT person (grey: no GT person)
        match = (np.linalg.norm(pred[:, None] - gt[None], axis=-1).mean(-1).argmin(1)
                 if len(gt) and len(pred) else np.full(len(pred), -1))
        for people, style, label, colors in (
                (gt, '--', 'ground truth', range(len(gt))),
                (pred, '-', 'prediction', match)):
            for i, (person, ci) in enumerate(zip(people, colors)):
                color = plt.cm.tab10(ci % 10) if ci >= 0 else 'grey'
                for j0, j1 in skeleton:
                    ax.plot(person[[j0, j1], a], person[[j0, j1], b], style, color=color,
                            lw=1.6 if style == '-' else 1.0)
                ax.plot([], [], style, color='k', label=label) if i == 0 else None
        ax.set_xlim(lo[a], hi[a])
        ax.set_ylim(lo[b], hi[b])
        ax.set_aspect('equal')
        ax.set_xlabel(['x', 'y', 'z'][a] + ' (mm)')
        ax.set_ylabel(['x', 'y', 'z'][b] + ' (mm)')
        ax.set_title(name)
        ax.legend(loc='upper right', fontsize=8)
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=90, bbox_inches='tight')
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def main(argv=None):
    args = parse_args(argv)
    import torch
    import virtualpose_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpose.registry import DATASETS, MODELS

    from virtualpose_mm.datasets.joint_sets import get_joint_set
    from virtualpose_mm.engine.results import write_json_atomic

    from virtualpose_mm.engine.config_checks import resolve_config_variables
    cfg = Config.fromfile(args.config)
    resolve_config_variables(cfg)  # '${name}' config variables
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to(args.device).eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    joint_set = get_joint_set(getattr(dataset, 'joint_set', 'coco17'))
    skeleton = joint_set.skeleton
    os.makedirs(args.out_dir, exist_ok=True)

    for idx in args.indices:
        if not 0 <= idx < len(dataset):
            raise IndexError(f'--indices {idx}: the test set has {len(dataset)} frames')
        data = pseudo_collate([dataset[idx]])
        with torch.no_grad():
            sample = model.test_step(data)[0]
        pi = sample.pred_instances
        pred = _np(pi.keypoints).reshape(-1, joint_set.num_joints, 3)
        gt = (_np(sample.gt_instances.lifting_target)
              if 'gt_instances' in sample and 'lifting_target' in sample.gt_instances
              else np.zeros((0, joint_set.num_joints, 3)))
        errs = _mpjpe_matched(pred, gt)
        out = dict(config=args.config, checkpoint=args.checkpoint, frame_index=idx,
                   units='mm, world frame z-up', joint_names=list(joint_set.joint_names),
                   people=[dict(keypoints=p, keypoint_scores=s, bbox_score=float(c))
                           for p, s, c in zip(pred, _np(pi.keypoint_scores),
                                              _np(pi.bbox_scores))],
                   ground_truth=[dict(keypoints=g) for g in gt],
                   gt_mpjpe_to_closest_prediction_mm=errs)
        write_json_atomic(osp.join(args.out_dir, f'frame{idx}.json'), out)
        meta = sample.metainfo
        draw(osp.join(args.out_dir, f'frame{idx}.png'), pred, gt, skeleton,
             meta.get('space_size', cfg.model.root_net.space_size),
             meta.get('space_center', cfg.model.root_net.space_center),
             f'frame {idx}: {len(pred)} people found, {len(gt)} in the ground truth')
        err_txt = ', '.join(f'{e:.0f}' for e in errs) if errs else '-'
        print(f'frame {idx}: {len(pred)} people found ({len(gt)} in GT); per-GT-person '
              f'MPJPE to the closest prediction: {err_txt} mm -> '
              f'{osp.join(args.out_dir, f"frame{idx}.png")}')


if __name__ == '__main__':
    main()
