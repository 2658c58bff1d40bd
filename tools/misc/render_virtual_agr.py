"""Render a few samples of a VirtualPose config's (virtual) training data to a PNG.

One row per sample: (1) a top view of the scene — the camera (centre ●, viewing direction →,
the ground footprint of its field of view), the 3D people (skeletons seen from above) and
the placement area; (2) the AGR joint heatmaps summed over joints with the 2D joints on top;
(3) the box map (box width l + r, heatmap px) with the root pixels. Use it to check a
config before training: are the people in view, do the heatmaps look like a detector's,
is the box map painted around each root?

Example::

    python tools/misc/render_virtual_agr.py configs/virtualpose/virtualpose_tiny_cpu.py \\
        --num 4 --out agr.png

The dataset is ``train_dataloader.dataset`` (or ``--dataloader val``/``test``), also inside
``ConcatDataset`` / ``RepeatDataset`` wrappers; its pipeline must contain
``GenerateVirtualPoseAGR`` (the packed sample is drawn).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Render VirtualPose AGR samples to a PNG.')
    p.add_argument('config', help='config file')
    p.add_argument('--num', type=int, default=4, help='number of samples (default 4)')
    p.add_argument('--start', type=int, default=0, help='first sample index')
    p.add_argument('--out', default=None,
                   help='output PNG (default <config name>_agr.png in the current folder)')
    p.add_argument('--dataloader', default='train', choices=['train', 'val', 'test'])
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='override config settings, as in tools/train.py')
    p.add_argument('--dpi', type=int, default=100)
    return p.parse_args(argv)


def _unwrap(ds):
    while hasattr(ds, 'dataset') and not hasattr(ds, 'get_data_info'):
        ds = ds.dataset
    if hasattr(ds, 'datasets'):
        ds = ds.datasets[0]
    return ds


def _footprint(cam, far=9000.0):
    """Ground (z = 0) polygon seen by the camera, clipped at ``far`` mm along the rays."""
    w, h = cam.image_size
    uv = np.array([[0, h], [w, h], [w, 0], [0, 0]], dtype=np.float64)
    o, d = cam.pixel_to_ray(uv)
    pts = []
    for oi, di in zip(o, d):
        t = -oi[2] / di[2] if di[2] < -1e-6 else np.inf
        pts.append(oi + min(t, far) * di)
    return np.array(pts)


def render(dataset, indices, out: str, dpi: int = 100):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from virtualpose_mm.datasets.joint_sets import get_joint_set
    from virtualpose_mm.geometry.camera import Camera

    js = get_joint_set(dataset.joint_set)
    n = len(indices)
    fig, axes = plt.subplots(n, 3, figsize=(15, 3.6 * n), squeeze=False,
                             gridspec_kw=dict(width_ratios=[1, 1.6, 1.6]))
    colors = plt.get_cmap('tab10')
    for row, idx in enumerate(indices):
        packed = dataset[idx]
        ds = packed['data_samples']
        agr = packed['inputs'][0].numpy()  # (1, K + 4, H, W): the one view
        K = js.num_joints
        meta = ds.metainfo
        cam = Camera.from_dict(meta['camera'], validate=False)
        gt, labels = ds.gt_instances, ds.gt_instance_labels
        X = np.asarray(gt.lifting_target)
        kp2 = np.asarray(gt.transformed_keypoints) if 'transformed_keypoints' in gt else None
        W, H = agr.shape[-1], agr.shape[-2]
        stride = float(meta['input_size'][0]) / W

        ax = axes[row, 0]
        C = cam.center
        fp = _footprint(cam)
        ax.fill(fp[:, 0], fp[:, 1], color='0.9', zorder=0)
        ax.plot(*np.r_[fp, fp[:1]].T[:2], color='0.6', lw=0.8)
        ax.plot(C[0], C[1], 'ko', ms=6)
        zdir = cam.R[2, :2] / max(np.linalg.norm(cam.R[2, :2]), 1e-9)
        ax.arrow(C[0], C[1], 1200 * zdir[0], 1200 * zdir[1], color='k', width=40,
                 head_width=300, head_length=350, length_includes_head=True)
        if hasattr(dataset, 'placement_area'):
            a = dataset.placement_area + dataset.scene_center[:, None]
            ax.plot([a[0, 0], a[0, 1], a[0, 1], a[0, 0], a[0, 0]],
                    [a[1, 0], a[1, 0], a[1, 1], a[1, 1], a[1, 0]], 'b--', lw=0.8)
        for p in range(len(X)):
            for a_, b_ in js.skeleton:
                ax.plot(X[p, [a_, b_], 0], X[p, [a_, b_], 1], color=colors(p % 10), lw=1.2)
        ax.set_aspect('equal')
        params = meta.get('camera_params') or {}
        title = f'#{idx}: {len(X)} people'
        if 'height' in params:
            title += (f"\ncam h {params['height']:.0f} mm, d {params['distance']:.0f} mm, "
                      f"pitch {params['pitch']:.0f}°, f {params['fx']:.0f}")
        elif 'name' in params:
            title += f"\ncamera {params['name']}"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=6)

        ax = axes[row, 1]
        ax.imshow(agr[:K].sum(0), cmap='magma', vmin=0, origin='upper')
        if kp2 is not None:
            for p in range(len(kp2)):
                ax.scatter(kp2[p, :, 0] / stride, kp2[p, :, 1] / stride, s=3,
                           color=colors(p % 10))
        ax.set_xlim(-0.5, W - 0.5)
        ax.set_ylim(H - 0.5, -0.5)
        ax.set_title(f'AGR heatmaps, sum over {K} joints ({W}×{H})', fontsize=8)
        ax.axis('off')

        ax = axes[row, 2]
        im = ax.imshow(agr[K] + agr[K + 2], cmap='viridis', origin='upper')
        if 'root_ind' in labels:
            ind, msk = labels.root_ind.numpy(), labels.root_mask.numpy()
            ax.scatter(ind[msk > 0] % W, ind[msk > 0] // W, s=12, c='r', marker='x')
        ax.set_title('box map: box width l + r (heatmap px), roots ×', fontsize=8)
        ax.axis('off')
        fig.colorbar(im, ax=ax, fraction=0.025)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(dict(_kv(o) for o in args.cfg_options))
    import virtualpose_mm  # noqa: F401
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    resolve_config_variables(cfg)  # '${name}' config variables
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    from virtualpose_mm.registry import DATASETS
    loader = cfg.get(f'{args.dataloader}_dataloader')
    if not loader:
        raise SystemExit(f'{args.config}: has no {args.dataloader}_dataloader')
    dataset = _unwrap(DATASETS.build(loader['dataset']))
    if args.num < 1:
        raise SystemExit('--num must be ≥ 1')
    last = args.start + args.num
    if last > len(dataset):
        raise SystemExit(f'the dataset has {len(dataset)} samples, asked for '
                         f'{args.start}..{last - 1}')
    out = args.out or osp.splitext(osp.basename(args.config))[0] + '_agr.png'
    render(dataset, list(range(args.start, last)), out, args.dpi)
    print(out)
    return out


def _kv(text: str):
    from mmengine.config import DictAction
    if '=' not in text:
        raise SystemExit(f'--cfg-options: expected KEY=VALUE, got {text!r}')
    k, v = text.split('=', 1)
    return k, DictAction._parse_iterable(v)


if __name__ == '__main__':
    main()
