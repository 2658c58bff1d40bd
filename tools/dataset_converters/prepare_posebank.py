"""Convert the CMU mocap pose bank into the compact bank shipped with the package.

The full bank (``cmu_mocap_poses.npz`` + ``clips.json``, 6 MB of float32) is reduced to
what virtual-scene training needs: the COCO-17 poses of one split as int16 millimetres
(every coordinate is rounded to the nearest mm, so the error is ≤ 0.5 mm), their clip ids,
and a small JSON of the clips (source, take, licence) for attribution. The Panoptic-15 array
is not stored: in the CMU bank it is exactly derived from COCO-17 (neck = mid-shoulder,
mid-hip = mean of the hips; checked to 3e-4 mm here), and the loader derives it again.
The shipped file ``virtualpose_mm/data/cmu_mocap_train_poses.npz`` was made with::

    python tools/dataset_converters/prepare_posebank.py \\
        /path/to/cmu_mocap_poses.npz --clips /path/to/clips.json --split train \\
        --out virtualpose_mm/data/cmu_mocap_train_poses.npz

Read the result with
``virtualpose_mm.datasets.datasets.virtual.posebank.load_pose_bank('builtin')`` (or the
output path).
"""
from __future__ import annotations

import argparse
import json
import os.path as osp

import numpy as np

CMU_ACK = ('The data used in this project was obtained from mocap.cs.cmu.edu. The database '
           'was created with funding from NSF EIA-0196217.')


def convert(src: str, clips_json: str, out: str, split: str = 'train') -> dict:
    """Write the compact bank; returns a summary dict."""
    data = np.load(src, allow_pickle=False)
    for k in ('coco17', 'panoptic15', 'split', 'clip_id'):
        if k not in data.files:
            raise ValueError(f'{src}: missing field {k!r} (fields: {data.files})')
    sp = {'train': 0, 'test': 1}
    keep = np.ones(len(data['split']), bool) if split == 'all' else data['split'] == sp[split]
    # Panoptic-15 must be derivable from COCO-17, or the loader's derivation would be wrong
    c = data['coco17'].astype(np.float64)
    derived = np.concatenate([(c[:, 5:6] + c[:, 6:7]) / 2, c[:, :1],
                              (c[:, 11:12] + c[:, 12:13]) / 2,
                              c[:, [5, 7, 9, 11, 13, 15, 6, 8, 10, 12, 14, 16]]], axis=1)
    err = np.abs(derived - data['panoptic15']).max()
    if err > 0.01:
        raise ValueError(f'{src}: panoptic15 differs from the COCO-17 derivation by {err} mm; '
                         'this converter assumes neck = mid-shoulder and mid-hip = mid-hips')
    out_arrays = {}
    for k in ('coco17', ):
        a = data[k][keep].astype(np.float64)
        if not np.isfinite(a).all():
            raise ValueError(f'{src}: field {k!r} has non-finite values')
        if np.abs(a).max() > 32000:
            raise ValueError(f'{src}: field {k!r} exceeds ±32 m; int16 mm cannot hold it')
        out_arrays[k] = np.round(a).astype(np.int16)
    with open(clips_json) as f:
        meta = json.load(f)
    clip_id = data['clip_id'][keep].astype(np.int16)
    used = sorted(set(clip_id.tolist()))
    by_id = {c['clip_id']: c for c in meta['clips']}
    clips = [{k: by_id[i].get(k) for k in ('clip_id', 'source_repo', 'path', 'commit',
                                           'take_id', 'subject', 'description', 'retargeted',
                                           'bone_lengths_from_subject')} for i in used]
    info = dict(
        format='virtualpose_mm compact pose bank v1',
        units='int16 millimetres (rounded), world z-up, floor at z = 0',
        split=split, num_poses=int(keep.sum()), source=osp.basename(src),
        attribution=CMU_ACK,
        licence='CMU Graphics Lab Motion Capture Database: free for research and commercial '
                'use with the acknowledgement above',
        joint_names=dict(coco17=list(meta['coco17']), panoptic15=list(meta['panoptic15'])),
        clips=clips)
    np.savez_compressed(out, coco17=out_arrays['coco17'], clip_id=clip_id,
                        split=np.full(int(keep.sum()), sp.get(split, 0), np.uint8),
                        info=np.array(json.dumps(info)))
    return dict(out=out, num_poses=int(keep.sum()), clips=len(used),
                max_round_error_mm=float(max(
                    np.abs(out_arrays[k] - data[k][keep]).max() for k in out_arrays)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('src', help='cmu_mocap_poses.npz')
    p.add_argument('--clips', required=True, help='clips.json of the bank')
    p.add_argument('--split', default='train', choices=['train', 'test', 'all'])
    p.add_argument('--out', required=True, help='output .npz')
    args = p.parse_args()
    print(convert(args.src, args.clips, args.out, args.split))


if __name__ == '__main__':
    main()
