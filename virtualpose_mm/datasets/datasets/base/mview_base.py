"""Common base of the multi-view multi-person datasets.

One sample is one *frame*: all its views at once. Every multi-view dataset (CMU Panoptic,
Shelf, Campus, virtual scenes) hands the pipeline a dict with the same keys, so the same
transforms serve real and virtual frames (``DESIGN.md`` §3):

================================  ==========================================================
key                               value
================================  ==========================================================
``sample_idx``                    int, index in the dataset
``frame_id``                      int, frame number in its sequence
``sequence``                      str, sequence name (``''`` where there is none)
``dataset_name``                  str
``num_views``                     V
``view_names``                    list of V str (``'00_12'``, ``'0'``, ...)
``cameras``                       :class:`~virtualpose_mm.geometry.Camera`, batch (V,),
                                  world z-up mm, with ``image_size``
``image_sizes``                   (V, 2) float64, original (w, h) of each view, px
``img_paths``                     list of V str (real datasets; absent for virtual scenes)
``gt_keypoints_3d``               (N, K, 3) float64 world mm (N may be 0)
``gt_keypoints_3d_visible``       (N, K) bool
``gt_ids``                        (N,) int: actor id (Shelf/Campus), body id (Panoptic),
                                  pose-bank index (virtual)
``input_keypoints_2d``            list of V (n_v, K, 2) float64, original px: the 2D points
                                  the input heatmaps are rendered from (detections for
                                  Shelf/Campus; absent otherwise until a transform makes
                                  them)
``input_keypoints_2d_visible``    list of V (n_v, K) bool
``input_keypoints_2d_scores``     list of V (n_v, K) float64: Gaussian peak values
``random_seed``                   tuple of int (virtual scenes): seeds every random
                                  transform of the frame, so a frame is reproducible
================================  ==========================================================

The transforms in :mod:`virtualpose_mm.datasets.transforms` add ``img``, ``affines``,
``input_size``, ``input_heatmaps``, ``target_heatmaps``, ``root_target_3d`` and pack the
result (see :class:`~virtualpose_mm.datasets.transforms.PackMultiViewPoseInputs`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import os.path as osp
import pickle
from typing import Callable, List, Optional

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from virtualpose_mm.engine.fileio import atomic_write_bytes
from virtualpose_mm.engine.safe_pickle import UnsafePickleError, safe_load_pickle
from virtualpose_mm.datasets.joint_sets import get_joint_set, to_mmpose_metainfo

__all__ = ['BaseMviewDataset', 'DatasetError', 'parse_frame_ranges']

CACHE_VERSION = 1


class DatasetError(ValueError):
    """A dataset folder or file is unusable; the message names the path and field."""


def parse_frame_ranges(frames, what: str = 'frame_range') -> List[int]:
    """Frame numbers from ``[(start, end), ...]`` (both ends included), ``range`` objects or
    plain ints, in order, without duplicates."""
    if isinstance(frames, range):
        return list(frames)
    if isinstance(frames, (int, np.integer)):
        return [int(frames)]
    out: List[int] = []
    for item in frames:
        if isinstance(item, range):
            out.extend(item)
        elif isinstance(item, (int, np.integer)):
            out.append(int(item))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            a, b = int(item[0]), int(item[1])
            if b < a:
                raise ValueError(f'{what}: range ({a}, {b}) ends before it starts')
            out.extend(range(a, b + 1))
        else:
            raise ValueError(f'{what}: entries must be ints, ranges or (start, end) pairs '
                             f'(both ends included), got {item!r}')
    seen = set()
    dup = [f for f in out if f in seen or seen.add(f)]
    if dup:
        raise ValueError(f'{what}: frames listed twice: {sorted(set(dup))[:10]}')
    return out


class BaseMviewDataset(BaseDataset):
    """Base of the multi-view datasets: metainfo from a joint set, frame dicts, caches.

    Args:
        joint_set: name of the joint set of ``gt_keypoints_3d`` (sets the MMPose metainfo:
            keypoint names, skeleton, flip pairs).
        dataset_name: name recorded in the metainfo and in every sample.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``data_root``,
            ``pipeline``, ``test_mode``, ``lazy_init``, ``indices``, ``metainfo``, ...).
    """

    joint_set: str = 'coco17'
    dataset_name: str = 'mview'

    def __init__(self, *, joint_set: Optional[str] = None, dataset_name: Optional[str] = None,
                 metainfo: Optional[dict] = None, **kwargs):
        if joint_set is not None:
            self.joint_set = get_joint_set(joint_set).name
        if dataset_name is not None:
            self.dataset_name = dataset_name
        kwargs.setdefault('serialize_data', True)
        # build the transforms from the mmpose-scoped registry, so the dataset works
        # without a default scope being set (tests, scripts) as well as under the runner
        from virtualpose_mm.registry import TRANSFORMS
        kwargs['pipeline'] = [TRANSFORMS.build(t) if isinstance(t, dict) else t
                              for t in (kwargs.get('pipeline') or [])]
        super().__init__(metainfo=metainfo, **kwargs)
        meta = self._joint_set_metainfo()
        meta.update(self._metainfo)  # the user's metainfo wins
        self._metainfo = meta

    # ------------------------------------------------------------------ metainfo
    def _joint_set_metainfo(self) -> dict:
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        info = to_mmpose_metainfo(self.joint_set, self.dataset_name)
        meta = parse_pose_metainfo(info)
        meta['joint_set'] = self.joint_set
        meta['dataset_name'] = self.dataset_name
        return meta

    @property
    def num_joints(self) -> int:
        return get_joint_set(self.joint_set).num_joints

    # ------------------------------------------------------------------ caches
    @staticmethod
    def _fingerprint(config: dict) -> str:
        blob = json.dumps(config, sort_keys=True, default=str).encode()
        return hashlib.sha1(blob).hexdigest()

    def _load_or_build(self, cache_file: Optional[str], config: dict,
                       build: Callable[[], List[dict]]) -> List[dict]:
        """Return the cached frame list when ``cache_file`` holds one made with exactly
        ``config``; otherwise build it (and write the cache when a path is given).

        A cache made with another configuration (sequences, cameras, interval, ...) or by
        another version of this code is rebuilt, with a warning naming what differs.

        The cache is read with the restricted unpickler
        (:mod:`virtualpose_mm.engine.safe_pickle`): plain containers and numpy arrays only.
        A cache that names any other global (``os.system``, ``builtins.exec``, ...) is
        **not executed**: nothing in it runs. Because the cache is this package's own,
        derived file, it is then treated like an unreadable cache rather than as a fatal
        error: an ERROR-level log line names the file and the refused global (someone or
        something wrote a file our code never writes, worth investigating), the index is
        rebuilt from the dataset, and the cache is overwritten atomically with a clean one.
        Raising instead would stop the run over a file that carries no information of its
        own; the data files themselves (detections, pose banks, calibrations) do raise.
        """
        if cache_file:
            cache_file = os.fspath(cache_file)
        if cache_file and osp.isfile(cache_file):
            try:
                cached = safe_load_pickle(cache_file, what='dataset index cache')
                ok = isinstance(cached, dict) and 'data_list' in cached
            except UnsafePickleError as e:  # not ours: nothing was run; say so and rebuild
                print_log(f'{e} The index cache is rebuilt from the dataset and the file '
                          'overwritten.', logger='current', level=logging.ERROR)
                ok = False
            except Exception as e:  # unreadable cache: say so and rebuild
                print_log(f'{cache_file}: unreadable index cache ({type(e).__name__}: {e}); '
                          'rebuilding it', logger='current', level=logging.WARNING)
                ok = False
            if ok:
                if cached.get('version') == CACHE_VERSION and \
                        cached.get('fingerprint') == self._fingerprint(config):
                    print_log(f'{cache_file}: loaded the index of '
                              f'{len(cached["data_list"])} frames', logger='current')
                    return cached['data_list']
                old = cached.get('config', {})
                if not isinstance(old, dict):
                    old = {}
                diff = sorted(k for k in set(old) | set(config)
                              if json.dumps(old.get(k), default=str, sort_keys=True) !=
                              json.dumps(config.get(k), default=str, sort_keys=True))
                print_log(f'{cache_file}: the index cache was made with a different '
                          f'configuration (differs in: {diff or ["code version"]}); '
                          'rebuilding it', logger='current', level=logging.WARNING)
        data_list = build()
        if cache_file:
            blob = pickle.dumps(dict(version=CACHE_VERSION, config=config,
                                     fingerprint=self._fingerprint(config),
                                     data_list=data_list), protocol=pickle.HIGHEST_PROTOCOL)
            atomic_write_bytes(cache_file, blob)
        return data_list

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _progress(n: int, enabled: bool):
        """An mmengine ProgressBar (or a no-op) for index building."""
        if not enabled or n <= 1:
            class _Null:
                def update(self, *a, **k):
                    pass
            return _Null()
        from mmengine.utils import ProgressBar
        return ProgressBar(n)
