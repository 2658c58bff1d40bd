"""Merge the HMOR CMU Panoptic monocular split with the Panoptic calibration.

HMOR (Wang et al., ECCV 2020) ships its monocular Panoptic protocol (haggling, mafia,
ultimatum, pizza) as ``clean_train.pkl`` / ``clean_valid.pkl``: one entry per (frame, HD
camera) with ``image_name``, ``joints_3d_cam`` (cm, camera frame), ``joints_3d_vis`` and
optionally ``intrinsics``. This script looks up every entry's camera in the Panoptic
calibration of its sequence, converts camera and joints into the package convention (world
z-up mm), and writes ONE annotation file that ``PanopticMonoDataset`` reads (format in
``virtualpose_mm/datasets/datasets/monocular/panoptic_mono.py``).

Example (the VirtualPose layout: ``data/panoptic-toolbox/{clean_train,clean_valid}.pkl``
and the toolbox's ``data/panoptic-toolbox/data/<seq>/calibration_<seq>.json``)::

    python tools/dataset_converters/panoptic_mono_hmor.py data/panoptic-toolbox \\
        data/panoptic-toolbox/data --out data/panoptic-toolbox/panoptic_mono_hmor.pkl

Then, in a config: ``dict(type='PanopticMonoDataset', data_root='data/panoptic-toolbox/',
ann_file='panoptic_mono_hmor.pkl', img_prefix='data/', split='valid')``.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import pickle
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='HMOR clean_{train,valid}.pkl + Panoptic '
                                'calibration → one PanopticMonoDataset annotation file')
    p.add_argument('hmor_dir', help='folder holding clean_train.pkl and clean_valid.pkl')
    p.add_argument('panoptic_root', help='folder of the Panoptic sequences (<seq>/'
                   'calibration_<seq>.json), the toolbox\'s data folder')
    p.add_argument('--out', required=True, help='output annotation file (.pkl)')
    p.add_argument('--splits', nargs='+', default=['train', 'valid'],
                   help='splits to convert: clean_<split>.pkl (default: train valid)')
    p.add_argument('--intrinsics', choices=['hmor', 'calibration'], default='hmor',
                   help="'hmor': the entries' intrinsics where present (as VirtualPose); "
                   "'calibration': the calibration's K")
    p.add_argument('--strip-image-prefix', type=int, default=0,
                   help='leading path parts of image_name to drop in the stored paths')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.utils import ProgressBar

    from virtualpose_mm.datasets.datasets.monocular.panoptic_mono import convert_hmor, read_hmor_pkl

    files = {}
    for split in args.splits:
        path = osp.join(args.hmor_dir, f'clean_{split}.pkl')
        if not osp.isfile(path):
            raise SystemExit(f'{path}: HMOR file of split {split!r} not found')
        files[split] = path
    total = sum(len(read_hmor_pkl(p)) for p in files.values())
    bar = ProgressBar(total)
    data = convert_hmor(files, args.panoptic_root, intrinsics=args.intrinsics,
                        image_prefix_strip=args.strip_image_prefix, progress=bar.update)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    tmp = args.out + '.tmp'
    with open(tmp, 'wb') as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, args.out)
    s = data['stats']
    print(f'\n{args.out}: {s["terms"]} images, {s["people"]} people, '
          f'{len(data["cameras"])} cameras; splits ' +
          ', '.join(f'{k}: {len(v)}' for k, v in data['splits'].items()))
    return data


if __name__ == '__main__':
    main()
