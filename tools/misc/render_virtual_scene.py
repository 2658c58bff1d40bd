"""Render one frame of a config's virtual-scene dataset to a PNG.

Shows the people seen from above (capture space, placement area, cameras and their
viewing directions, skeletons coloured per person) and, for every view, the input heatmaps
(maximum over joints) with the projected joints of each person on top. Use it to check an
own-rig config before training: are the people where the cameras look, do the heatmaps
look like a detector's?

Example::

    python tools/misc/render_virtual_scene.py configs/voxelpose/voxelpose_own_rig.py \\
        --index 3 --out scene3.png

The dataset is the first ``VirtualMviewSceneDataset`` found in ``train_dataloader`` (then
``val_dataloader``, ``test_dataloader``), also inside ``ConcatDataset`` / ``RepeatDataset``
wrappers. Its pipeline runs up to (not including) ``PackMultiViewPoseInputs``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Render one frame of a virtual-scene dataset.')
    p.add_argument('config', help='config file')
    p.add_argument('--index', type=int, default=0, help='frame index (default 0)')
    p.add_argument('--out', default=None, help='output PNG (default: '
                   '<config name>_scene<index>.png in the current folder)')
    p.add_argument('--dataloader', default=None,
                   help='which dataloader to take the dataset from (default: the first of '
                   'train/val/test_dataloader holding a VirtualMviewSceneDataset)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='override config settings, as in tools/train.py')
    p.add_argument('--dpi', type=int, default=110)
    return p.parse_args(argv)


def _find_virtual(cfg_ds):
    """The VirtualMviewSceneDataset config inside (possibly wrapped) dataset configs."""
    if cfg_ds is None:
        return None
    if isinstance(cfg_ds, (list, tuple)):
        for d in cfg_ds:
            found = _find_virtual(d)
            if found is not None:
                return found
        return None
    if cfg_ds.get('type') in ('VirtualMviewSceneDataset', 'mmpose.VirtualMviewSceneDataset'):
        return cfg_ds
    for key in ('dataset', 'datasets'):
        if key in cfg_ds:
            found = _find_virtual(cfg_ds[key])
            if found is not None:
                return found
    return None


def build_dataset(cfg, dataloader=None):
    from virtualpose_mm.registry import DATASETS
    names = [dataloader] if dataloader else ['train_dataloader', 'val_dataloader',
                                             'test_dataloader']
    for name in names:
        dl = cfg.get(name)
        ds_cfg = _find_virtual(dl.get('dataset') if dl else None)
        if ds_cfg is not None:
            return DATASETS.build(ds_cfg), name
    raise SystemExit(f'{cfg.filename}: no VirtualMviewSceneDataset in {names}')


def run_pipeline_until_pack(dataset, index):
    """The frame dict after every transform before the packing one."""
    results = dataset.get_data_info(index)
    for t in dataset.pipeline.transforms:
        if type(t).__name__ == 'PackMultiViewPoseInputs':
            break
        results = t(results)
        if results is None:
            raise SystemExit(f'transform {t!r} dropped frame {index}')
    return results


def render(results, skeleton, out_path, dpi=110, title=''):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    X = np.asarray(results['gt_keypoints_3d'])
    vis3d = np.asarray(results['gt_keypoints_3d_visible'], bool)
    cams = results['cameras']
    names = results.get('view_names') or [str(i) for i in range(len(results['image_sizes']))]
    hms = results.get('input_heatmaps')
    V = len(names)
    colors = plt.cm.tab10(np.arange(max(len(X), 1)) % 10)

    ncol = min(V, 3)
    nrow = 1 + (V + ncol - 1) // ncol
    fig = plt.figure(figsize=(5.2 * ncol, 4.2 * nrow))
    gs = fig.add_gridspec(nrow, ncol)

    # ---- top view
    ax = fig.add_subplot(gs[0, :])
    size = np.asarray(results.get('space_size', [0, 0, 0]), float)
    center = np.asarray(results.get('space_center', [0, 0, 0]), float)
    if size.any():
        ax.add_patch(Rectangle(center[:2] - size[:2] / 2, size[0], size[1], fill=False,
                               ec='k', lw=1.2, label='capture space'))
    cc = np.asarray(cams.center)
    for v in range(V):
        # optical axis: the camera's z axis in world coordinates is the 3rd row of R
        d = np.asarray(cams.R)[v, 2]
        ax.plot(cc[v, 0], cc[v, 1], 'k^', ms=7)
        L = 0.12 * max(size[:2].max() if size.any() else 4000, 1)
        ax.arrow(cc[v, 0], cc[v, 1], d[0] * L, d[1] * L, head_width=L * 0.15, color='0.4')
        ax.annotate(names[v], cc[v, :2], textcoords='offset points', xytext=(4, 4),
                    fontsize=8)
    for n, (p, vv) in enumerate(zip(X, vis3d)):
        for a, b in skeleton:
            if vv[a] and vv[b]:
                ax.plot(p[[a, b], 0], p[[a, b], 1], '-', color=colors[n], lw=1.5)
        ax.plot(p[vv, 0], p[vv, 1], '.', color=colors[n], ms=4)
        ax.annotate(f'{n}', p[vv, :2].mean(0), color=colors[n], fontsize=9,
                    textcoords='offset points', xytext=(6, -10))
    ax.set_aspect('equal')
    ax.set_xlabel('x (mm)')
    ax.set_ylabel('y (mm)')
    ax.set_title(f'{title}top view: {len(X)} people (z up)')
    ax.grid(alpha=0.3)

    # ---- views
    kps = results.get('input_keypoints_2d')
    kvis = results.get('input_keypoints_2d_visible')
    hm_size = results.get('heatmap_size')
    in_size = results.get('input_size')
    for v in range(V):
        r, c = 1 + v // ncol, v % ncol
        axv = fig.add_subplot(gs[r, c])
        if hms is not None:
            axv.imshow(np.asarray(hms[v]).max(0), cmap='magma', vmin=0, vmax=1,
                       interpolation='nearest')
            if kps is not None and hm_size is not None and in_size is not None:
                stride = np.asarray(in_size, float) / np.asarray(hm_size, float)
                for n, (p, vv) in enumerate(zip(kps[v], kvis[v])):
                    q = np.asarray(p) / stride
                    axv.plot(q[vv, 0], q[vv, 1], 'o', mfc='none', mec=colors[n % 10],
                             ms=4, mew=0.8)
        else:
            axv.text(0.5, 0.5, 'no input_heatmaps in the pipeline', ha='center',
                     transform=axv.transAxes)
        axv.set_title(f'view {names[v]}: heatmaps (max over joints)', fontsize=9)
        axv.set_xticks([])
        axv.set_yticks([])
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=dpi)
    plt.close(fig)
    return out_path


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        opts = {}
        for kv in args.cfg_options:
            k, _, v = kv.partition('=')
            try:
                import ast
                opts[k] = ast.literal_eval(v)
            except (ValueError, SyntaxError):
                opts[k] = v
        cfg.merge_from_dict(opts)
    import virtualpose_mm  # noqa: F401  (registers the classes)
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    resolve_config_variables(cfg)  # '${name}' config variables
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    dataset, where = build_dataset(cfg, args.dataloader)
    if not 0 <= args.index < len(dataset):
        raise SystemExit(f'--index {args.index} is outside the dataset (0..{len(dataset) - 1})')
    results = run_pipeline_until_pack(dataset, args.index)
    from virtualpose_mm.datasets.joint_sets import get_joint_set
    skeleton = get_joint_set(dataset.joint_set).skeleton
    out = args.out or f'{osp.splitext(osp.basename(args.config))[0]}_scene{args.index}.png'
    render(results, skeleton, out, dpi=args.dpi,
           title=f'{osp.basename(args.config)} [{where}] frame {args.index}: ')
    print(f'wrote {out}')
    return out


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
