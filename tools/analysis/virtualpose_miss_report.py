"""Why a monocular VirtualPose checkpoint misses the people it misses.

Runs CONFIG + CHECKPOINT on frames of the config's test dataset (by default the tuning
frames of the CPU configs: the bank's train split, seed 99; never tune on the held-out
ones) and, for every GT person whose best prediction (by absolute MPJPE) is 500 mm or
more off — a miss of recall@500 — reports where that prediction is and sorts the miss
into the first category that fits:

* ``no prediction``: the frame has no prediction at all;
* ``coincident``: another GT person's root lies within ``--near-px`` heatmap px of this
  one's in the image: one root-heatmap peak for two people, which the root net's
  depth-gated projection (one depth per decoded peak) cannot tell apart;
* ``truncated``: fewer than ``--in-image`` of the person's joints project inside the
  image;
* ``depth``: the best prediction's root lies on the person's camera ray (within
  ``--lateral`` mm across it) but its camera depth is more than ``--depth-rel`` of the
  depth off;
* ``other``: none of these (a prediction off the ray, a smaller depth error that is
  still ≥ 500 mm for a far person, or the right root with a wrong pose).

Per GT person its best prediction, whichever other person it is also the best of, so the
recall printed here can exceed the metric's (which matches each prediction once).

It also splits the root-relative error of the found people by where their joints project:
the joints outside the image (which the AGR does not show, so the model infers them from
the others) against those inside, and the share of the error carried by the people with
any joint outside.

    python tools/analysis/virtualpose_miss_report.py CONFIG CHECKPOINT \\
        [--frames 100] [--split train] [--seed 99] [--out misses.json]

Needs a dataset whose data info carries the frame's ``camera``
(:class:`~virtualpose_mm.geometry.camera.Camera`) and ``image_size``, as the virtual
datasets' do. Prints one row per miss and the counts per category (also of the found
people with another root within ``--near-px`` and the truncated ones, for comparison);
``--out`` writes the rows as JSON.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Sequence

import numpy as np
from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

CATEGORIES = ('no prediction', 'coincident', 'truncated', 'depth', 'other')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--frames', type=int, default=100, help='frames of the dataset')
    p.add_argument('--split', default='train', help="pose-bank split ('train': tuning)")
    p.add_argument('--seed', type=int, default=99, help='frame seed of the dataset')
    p.add_argument('--match', type=float, default=500.0,
                   help='a person is found when its best prediction is within this '
                   'absolute MPJPE (mm)')
    p.add_argument('--near-px', type=float, default=3.0)
    p.add_argument('--in-image', type=float, default=0.6)
    p.add_argument('--depth-rel', type=float, default=0.1)
    p.add_argument('--lateral', type=float, default=150.0)
    p.add_argument('--out', help='write the rows (JSON)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings (KEY=VALUE), as tools/test.py')
    return p.parse_args(argv)


def classify(row: Dict, near_px: float = 3.0, in_image: float = 0.6,
             depth_rel: float = 0.1, lateral: float = 150.0) -> str:
    """The category (:data:`CATEGORIES`, module docstring) of one missed person's row
    (keys ``has_prediction``, ``near_px``, ``in_image``, ``depth_rel``, ``lateral_mm``)."""
    if not row['has_prediction']:
        return 'no prediction'
    if row['near_px'] < near_px:
        return 'coincident'
    if row['in_image'] < in_image:
        return 'truncated'
    if row['lateral_mm'] < lateral and abs(row['depth_rel']) > depth_rel:
        return 'depth'
    return 'other'


def person_rows(preds: np.ndarray, gts: np.ndarray, camera, image_size: Sequence[float],
                to_heatmap: np.ndarray, root: int) -> List[Dict]:
    """One row per GT person of a frame.

    Args:
        preds: (N, K, 3) predicted joints, world mm. gts: (G, K, 3) GT joints, world mm.
        camera: the frame's :class:`~virtualpose_mm.geometry.camera.Camera`.
        image_size: (w, h) px.
        to_heatmap: (2, 3) affine, image px → heatmap px.
        root: the root joint.

    Returns:
        per GT person: ``abs_mm`` (its best prediction's absolute MPJPE, inf without
        predictions), ``rel_mm`` (that prediction's root-relative MPJPE), ``root_mm``
        (the distance of its root to the GT root; inf without predictions), ``depth_rel``
        (its root's camera depth error / the GT depth), ``lateral_mm`` (its root's
        distance across the GT root's ray, at the GT depth), ``depth_mm`` (GT root
        depth), ``in_image`` (share of joints inside the image), ``joints`` (K) and
        ``joints_out`` (how many project outside it), ``rel_out_mm`` / ``rel_in_mm``
        (the summed root-relative errors of the best prediction's joints whose GT
        projects outside / inside the image; 0 without such joints, nan without
        predictions), ``near_px`` (heatmap px to the nearest other GT root in the image,
        inf when alone) and ``has_prediction``.
    """
    w, h = float(image_size[0]), float(image_size[1])
    uv_roots = camera.project(gts[:, root]) if len(gts) else np.zeros((0, 2))
    hm_roots = uv_roots @ to_heatmap[:, :2].T + to_heatmap[:, 2]
    rows = []
    for g_i, g in enumerate(gts):
        uv = camera.project(g)
        inside_j = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        inside = inside_j.mean()
        d = np.linalg.norm(hm_roots - hm_roots[g_i], axis=-1)
        d[g_i] = np.inf
        g_cam = camera.world_to_camera(g[root][None])[0]
        row = dict(depth_mm=float(g_cam[2]), in_image=float(inside),
                   joints=len(g), joints_out=int((~inside_j).sum()), rel_out_mm=float('nan'),
                   rel_in_mm=float('nan'), near_px=float(d.min()) if len(d) > 1 else float('inf'),
                   has_prediction=bool(len(preds)), abs_mm=float('inf'),
                   rel_mm=float('nan'), root_mm=float('inf'), depth_rel=float('nan'),
                   lateral_mm=float('nan'))
        if len(preds):
            err = np.linalg.norm(preds - g, axis=-1).mean(-1)
            j = int(err.argmin())
            q = preds[j]
            q_cam = camera.world_to_camera(q[root][None])[0]
            rel = np.linalg.norm((q - q[root]) - (g - g[root]), axis=-1)          # (K, )
            row.update(
                abs_mm=float(err[j]), rel_mm=float(rel.mean()),
                rel_out_mm=float(rel[~inside_j].sum()), rel_in_mm=float(rel[inside_j].sum()),
                root_mm=float(np.linalg.norm(q[root] - g[root])),
                depth_rel=float((q_cam[2] - g_cam[2]) / g_cam[2]),
                lateral_mm=float(np.linalg.norm(q_cam[:2] / q_cam[2] - g_cam[:2] / g_cam[2])
                                 * g_cam[2]))
        rows.append(row)
    return rows


def summarize(rows: List[Dict], match: float = 500.0, **thresholds) -> Dict:
    """Counts: people, found, misses per category, and the found people who are
    coincident / truncated by the same thresholds; of the found people, those with a joint
    outside the image (``found_joints_out``), their share of the summed root-relative
    error (``rel_share_joints_out``), and the mean root-relative error of the joints
    outside and inside the image (``rel_mm_out`` / ``rel_mm_in``, per joint; nan
    without such joints)."""
    miss = [r for r in rows if not r['abs_mm'] < match]
    found = [r for r in rows if r['abs_mm'] < match]
    counts = {c: 0 for c in CATEGORIES}
    for r in miss:
        r['category'] = classify(r, **thresholds)
        counts[r['category']] += 1
    near = thresholds.get('near_px', 3.0)
    share = thresholds.get('in_image', 0.6)
    n_out = sum(r['joints_out'] for r in found)
    n_in = sum(r['joints'] - r['joints_out'] for r in found)
    err_out = sum(r['rel_out_mm'] for r in found)
    err_in = sum(r['rel_in_mm'] for r in found)
    err_cut = sum(r['rel_out_mm'] + r['rel_in_mm'] for r in found if r['joints_out'])
    return dict(people=len(rows), found=len(found), missed=len(miss), categories=counts,
                found_coincident=sum(r['near_px'] < near for r in found),
                found_truncated=sum(r['in_image'] < share for r in found),
                found_joints_out=sum(r['joints_out'] > 0 for r in found),
                rel_share_joints_out=err_cut / (err_out + err_in) if found else float('nan'),
                rel_mm_out=err_out / n_out if n_out else float('nan'),
                rel_mm_in=err_in / n_in if n_in else float('nan'))


def model_rows(model, ds, num_frames=None, what: str = 'the dataset') -> List[Dict]:
    """:func:`person_rows` of the first ``num_frames`` frames of ``ds`` (all: None) through
    a VirtualPose ``model`` in eval mode (``predict``: every test-time option of its
    config), each row with its ``frame`` index. ``what`` names the source in errors."""
    import torch
    from mmengine.dataset import pseudo_collate

    from virtualpose_mm.geometry.camera import Camera

    rows = []
    with torch.no_grad():
        for i in range(len(ds) if num_frames is None else num_frames):
            info = ds.get_data_info(i)
            cam = info.get('camera')
            if not isinstance(cam, Camera) or info.get('image_size') is None:
                raise ValueError(f'{what}: test dataset frame {i} has no `camera` '
                                 '(Camera) and `image_size` in its data info; this tool '
                                 'needs them (the virtual datasets have them)')
            data = model.data_preprocessor(pseudo_collate([ds[i]]), False)
            sample = data['data_samples'][0]
            gts = np.asarray(sample.gt_instances.lifting_target, np.float64)
            out = model.predict(data['inputs'], data['data_samples'])[0]
            preds = np.asarray(out.pred_instances.keypoints, np.float64)
            preds = preds.reshape(-1, model.num_joints, 3)
            meta = model.parse_meta(data['data_samples'], 1)
            # image px -> network input px -> heatmap px
            to_hm = np.asarray(meta.affines[0, 0], np.float64) * (
                data['inputs'].shape[-1] / float(model.input_size[0]))
            for row in person_rows(preds, gts, cam, info['image_size'], to_hm,
                                   model.root_index):
                row['frame'] = i
                rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import load_checkpoint

    import virtualpose_mm  # noqa: F401
    from virtualpose_mm.engine.config_checks import resolve_config_variables
    from virtualpose_mm.engine.results import write_json_atomic
    from virtualpose_mm.registry import DATASETS, MODELS

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    resolve_config_variables(cfg)
    init_default_scope('mmpose')
    if cfg.model.get('type', 'VirtualPose') != 'VirtualPose':
        raise ValueError(f'{args.config}: the model is a {cfg.model.type}; this tool runs '
                         'VirtualPose stage-2 configs (model.type VirtualPose)')
    if not cfg.get('test_dataloader'):
        raise ValueError(f'{args.config}: the config has no test_dataloader; this tool draws '
                         'its frames from it (a virtual dataset)')
    cfg.model.root_net.init_cfg = None  # the checkpoint holds every weight
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True, logger='silent')
    model.eval()
    ds_cfg = cfg.test_dataloader.dataset.copy()
    ds_cfg.update(num_samples=args.frames, bank_split=args.split, seed=args.seed)
    ds = DATASETS.build(ds_cfg)
    thresholds = dict(near_px=args.near_px, in_image=args.in_image,
                      depth_rel=args.depth_rel, lateral=args.lateral)
    rows = model_rows(model, ds, what=args.config)
    summary = summarize(rows, args.match, **thresholds)
    for r in rows:
        if 'category' in r:
            print(f"frame {r['frame']:4d}  {r['category']:13s}  abs {r['abs_mm']:7.0f} mm  "
                  f"depth {r['depth_rel']:+.3f}  across the ray {r['lateral_mm']:6.0f} mm  "
                  f"root-relative {r['rel_mm']:6.1f} mm  GT depth {r['depth_mm']:5.0f} mm  "
                  f"in image {r['in_image']:.2f}  nearest root {r['near_px']:5.1f} px")
    print(f"people {summary['people']}, found {summary['found']} (recall@{args.match:g} "
          f"{summary['found'] / max(summary['people'], 1):.3f}), missed {summary['missed']}: "
          + ', '.join(f'{c} {n}' for c, n in summary['categories'].items()))
    print(f"found people with another root within {args.near_px:g} heatmap px: "
          f"{summary['found_coincident']}; with under {args.in_image:g} of their joints in "
          f"the image: {summary['found_truncated']}")
    print(f"found people with a joint outside the image: {summary['found_joints_out']} "
          f"of {summary['found']}, {100 * summary['rel_share_joints_out']:.0f} % of the "
          f"root-relative error; per joint: outside the image "
          f"{summary['rel_mm_out']:.1f} mm, inside {summary['rel_mm_in']:.1f} mm")
    if args.out:
        write_json_atomic(args.out, dict(summary=summary, thresholds=thresholds, rows=rows))
        print(f'rows written to {args.out}')
    return summary


if __name__ == '__main__':
    main()
