"""Per-view Gaussian heatmaps rendered from 2D points, and the reference's model of a 2D
detector's imperfections used for virtual scenes."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from ...engine.config_checks import reject_unresolved
from ...registry import TRANSFORMS
from ...structures.heatmaps import adaptive_sigma, render_gaussian_heatmaps
from .multiview import KEYPOINT_KEYS, frame_rng

__all__ = ['SimulateHeatmapNoise', 'GenerateMultiViewHeatmaps']

#: VoxelPose ``ShelfSynthetic`` joint groups (COCO-17): elbows and knees are weakened to
#: 0.5 with probability 0.1, wrists and ankles to 0.2 with probability 0.1.
SHELF_JOINT_DROPS = (dict(joints=(7, 8, 13, 14), prob=0.1, factor=0.5),
                     dict(joints=(9, 10, 15, 16), prob=0.1, factor=0.2))
#: ``CampusSynthetic``: only elbows (0.5) and wrists (0.2); knees and ankles fall into the
#: default group.
CAMPUS_JOINT_DROPS = (dict(joints=(7, 8), prob=0.1, factor=0.5),
                      dict(joints=(9, 10), prob=0.1, factor=0.2))


@TRANSFORMS.register_module()
class SimulateHeatmapNoise(BaseTransform):
    """Imitate a 2D detector on perfect 2D points (the VoxelPose synthetic-data model).

    Independently in every view:

    * each person is missed entirely with probability ``person_drop_prob`` (its joints
      become invisible in that view);
    * each joint's peak is ``N(peak_jitter_mean, peak_jitter_std)`` with probability
      ``peak_jitter_prob``, else 1;
    * then the peak is multiplied by a group's ``factor`` with the group's ``prob``
      (``joint_drops``, a list of ``dict(joints, prob, factor)``); joints in no group use
      ``default_drop`` (``dict(prob, factor)``). A factor of 0 removes the joint's
      Gaussian (it still counts for the person's size).
    * optionally, the position moves by ``N(0, position_noise_std)`` px (original image).

    Defaults are the reference ``ShelfSynthetic`` values; ``CampusSynthetic`` uses
    ``person_drop_prob=0`` and :data:`CAMPUS_JOINT_DROPS`. Random numbers come from
    :func:`~virtualpose_mm.datasets.transforms.multiview.frame_rng` (reproducible per
    virtual frame).

    Required Keys:

    - ``<key>``, ``<key>_visible``, ``<key>_scores`` (lists of V arrays, see
      :class:`ProjectKeypoints3D`)
    - random_seed (optional)

    Modified Keys:

    - ``<key>_visible`` (dropped people), ``<key>_scores`` (peak values),
      ``<key>`` (with ``position_noise_std`` > 0)

    Args:
        key: the point set (``'input_keypoints_2d'``).
        person_drop_prob, peak_jitter_prob, peak_jitter_mean, peak_jitter_std,
        joint_drops, default_drop, position_noise_std: see above.
    """

    def __init__(self, key: str = 'input_keypoints_2d', person_drop_prob: float = 0.05,
                 peak_jitter_prob: float = 0.6, peak_jitter_mean: float = 0.9,
                 peak_jitter_std: float = 0.03,
                 joint_drops: Sequence[dict] = SHELF_JOINT_DROPS,
                 default_drop: Optional[dict] = dict(prob=0.05, factor=0.5),
                 position_noise_std: float = 0.0):
        if key not in KEYPOINT_KEYS:
            raise ValueError(f'key must be one of {KEYPOINT_KEYS}, got {key!r}')
        for name, p in (('person_drop_prob', person_drop_prob),
                        ('peak_jitter_prob', peak_jitter_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {p}')
        self.key = key
        self.person_drop_prob = float(person_drop_prob)
        self.peak_jitter_prob = float(peak_jitter_prob)
        self.peak_jitter_mean = float(peak_jitter_mean)
        self.peak_jitter_std = float(peak_jitter_std)
        groups = []
        seen = set()
        for g in joint_drops or ():
            if set(g) - {'joints', 'prob', 'factor'} or not {'joints', 'prob', 'factor'} <= set(g):
                raise ValueError("each joint_drops entry must be dict(joints=..., prob=..., "
                                 f'factor=...), got {g}')
            joints = tuple(int(j) for j in g['joints'])
            if seen & set(joints):
                raise ValueError(f'joint_drops: joints {sorted(seen & set(joints))} are in two '
                                 'groups')
            seen |= set(joints)
            groups.append((joints, float(g['prob']), float(g['factor'])))
        self.joint_drops = groups
        if default_drop is not None and set(default_drop) != {'prob', 'factor'}:
            raise ValueError(f'default_drop must be dict(prob=..., factor=...), got {default_drop}')
        self.default_drop = None if default_drop is None else \
            (float(default_drop['prob']), float(default_drop['factor']))
        self.position_noise_std = float(position_noise_std)

    def _drop_tables(self, K: int):
        prob = np.zeros(K)
        factor = np.ones(K)
        if self.default_drop is not None:
            prob[:], factor[:] = self.default_drop
        for joints, p, f in self.joint_drops:
            bad = [j for j in joints if not 0 <= j < K]
            if bad:
                raise ValueError(f'SimulateHeatmapNoise: joint_drops names joints {bad}, the '
                                 f'frame has {K} joints')
            prob[list(joints)] = p
            factor[list(joints)] = f
        return prob, factor

    def transform(self, results: dict) -> dict:
        k = self.key
        for need in (k, k + '_visible'):
            if need not in results:
                raise KeyError(f'SimulateHeatmapNoise: the frame has no {need!r}; put '
                               'ProjectKeypoints3D before it')
        rng = frame_rng(results, 'SimulateHeatmapNoise')
        kps, viss = results[k], results[k + '_visible']
        scores = results.get(k + '_scores') or [np.ones(np.shape(v)) for v in viss]
        new_kp, new_vis, new_sc = [], [], []
        for kp, vis, sc in zip(kps, viss, scores):
            kp = np.asarray(kp, dtype=np.float64).copy()
            vis = np.asarray(vis, bool).copy()
            N, K = vis.shape
            drop_p, drop_f = self._drop_tables(K)
            person_kept = rng.random(N) >= self.person_drop_prob
            vis &= person_kept[:, None]
            jitter = np.where(rng.random((N, K)) < self.peak_jitter_prob,
                              rng.normal(self.peak_jitter_mean, self.peak_jitter_std, (N, K)),
                              1.0)
            weak = rng.random((N, K)) < drop_p[None]
            peak = np.asarray(sc, dtype=np.float64) * jitter * np.where(weak, drop_f[None], 1.0)
            if self.position_noise_std > 0:
                kp = kp + rng.normal(0.0, self.position_noise_std, kp.shape)
            new_kp.append(kp)
            new_vis.append(vis)
            new_sc.append(np.where(vis, peak, 0.0))
        results[k] = new_kp
        results[k + '_visible'] = new_vis
        results[k + '_scores'] = new_sc
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(key={self.key!r}, '
                f'person_drop_prob={self.person_drop_prob}, '
                f'peak_jitter=({self.peak_jitter_prob}, {self.peak_jitter_mean}, '
                f'{self.peak_jitter_std}), joint_drops={self.joint_drops}, '
                f'default_drop={self.default_drop}, '
                f'position_noise_std={self.position_noise_std})')


@TRANSFORMS.register_module()
class GenerateMultiViewHeatmaps(BaseTransform):
    """Render one Gaussian heatmap stack per view from 2D points in input pixels.

    Uses :func:`~virtualpose_mm.structures.heatmaps.render_gaussian_heatmaps`: a point ``x``
    (input px) sits at ``x / stride`` heatmap px with ``stride = input_size /
    heatmap_size``; each person's σ is person-size adaptive
    (:func:`~virtualpose_mm.structures.heatmaps.adaptive_sigma`: ``σ = base_sigma ·
    √(2·clip(s², (ref/2)², (2·ref)²)) / ref``, ``s`` the larger extent of the person's
    visible points in heatmap px) or fixed; peaks are the ``<key>_scores``; people are
    merged by maximum; values are clipped to [0, 1].

    Required Keys:

    - ``<keypoints_key>`` (list of V (n_v, K, 2), input px), its ``_visible`` and
      ``_scores`` companions (optional: all visible, peaks 1)
    - input_size (from :class:`MultiViewLetterbox`)

    Added Keys:

    - ``<out_key>`` (V, K, H, W) float32
    - ``<out_key>_sigmas`` (list of V (n_v,) float64): σ per person, heatmap px
    - ``<out_key>_weights`` (V, K) float32: 1 where some person has the joint visible
    - heatmap_size (2,) int

    Args:
        heatmap_size: (W, H).
        keypoints_key: ``'input_keypoints_2d'`` or ``'keypoints_2d'``.
        out_key: ``'input_heatmaps'`` (model inputs) or ``'target_heatmaps'`` (2D targets).
        num_joints: K; checked against the points (None: taken from them).
        sigma: base σ in heatmap px (reference 3).
        adaptive_sigma: person-size-adaptive σ (reference); False uses ``sigma`` for all.
        sigma_ref_size, sigma_min_ratio, sigma_max_ratio: see ``adaptive_sigma``.
        legacy_peak_offset: reproduce the reference's integer window (peaks up to 1.5 px
            early; golden README quirk 7). Default False: peaks on the true position.
    """

    def __init__(self, heatmap_size: Sequence[int], keypoints_key: str = 'input_keypoints_2d',
                 out_key: str = 'input_heatmaps', num_joints: Optional[int] = None,
                 sigma: float = 3.0, adaptive_sigma: bool = True, sigma_ref_size: float = 96.0,
                 sigma_min_ratio: float = 0.5, sigma_max_ratio: float = 2.0,
                 legacy_peak_offset: bool = False):
        reject_unresolved(type(self).__name__, locals())
        if keypoints_key not in KEYPOINT_KEYS:
            raise ValueError(f'keypoints_key must be one of {KEYPOINT_KEYS}, got '
                             f'{keypoints_key!r}')
        if out_key not in ('input_heatmaps', 'target_heatmaps'):
            raise ValueError(f"out_key must be 'input_heatmaps' or 'target_heatmaps', got "
                             f'{out_key!r}')
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.keypoints_key = keypoints_key
        self.out_key = out_key
        self.num_joints = num_joints
        self.sigma = float(sigma)
        self.adaptive_sigma = adaptive_sigma
        self.sigma_ref_size = float(sigma_ref_size)
        self.sigma_min_ratio = float(sigma_min_ratio)
        self.sigma_max_ratio = float(sigma_max_ratio)
        self.legacy_peak_offset = legacy_peak_offset

    def transform(self, results: dict) -> dict:
        key = self.keypoints_key
        if key not in results:
            raise KeyError(f'GenerateMultiViewHeatmaps: the frame has no {key!r} (2D points '
                           'to render): Shelf/Campus datasets provide detections, virtual '
                           'scenes need ProjectKeypoints3D first')
        if 'input_size' not in results:
            raise KeyError('GenerateMultiViewHeatmaps: no input_size; put MultiViewLetterbox '
                           'before it (heatmaps are rendered in input pixels / stride)')
        iw, ih = (float(v) for v in results['input_size'])
        W, H = self.heatmap_size
        stride = np.array([iw / W, ih / H])
        kps = results[key]
        viss = results.get(key + '_visible')
        scs = results.get(key + '_scores')
        K = self.num_joints
        if K is None:
            shapes = {np.shape(k)[1] for k in kps if np.ndim(k) == 3}
            if len(shapes) > 1:
                raise ValueError(f'{key}: views have different joint counts {shapes}')
            if not shapes:
                raise ValueError(f'GenerateMultiViewHeatmaps: cannot tell the joint count '
                                 f'from {key}; set num_joints')
            K = shapes.pop()
        maps = np.zeros((len(kps), K, H, W), dtype=np.float32)
        weights = np.zeros((len(kps), K), dtype=np.float32)
        sigmas = []
        for v, kp in enumerate(kps):
            kp = np.asarray(kp, dtype=np.float64)
            if kp.size == 0:
                sigmas.append(np.zeros(0))
                continue
            if kp.ndim != 3 or kp.shape[1:] != (K, 2):
                raise ValueError(f'{key}[{v}] has shape {kp.shape}, expected (n, {K}, 2)')
            n = kp.shape[0]
            vis = np.ones((n, K), bool) if viss is None else np.asarray(viss[v], bool)
            amp = np.ones((n, K)) if scs is None else np.asarray(scs[v], dtype=np.float64)
            if vis.shape != (n, K) or amp.shape != (n, K):
                raise ValueError(f'{key}_visible / _scores [{v}] have shapes {vis.shape} / '
                                 f'{amp.shape}, expected ({n}, {K})')
            hm_pts = kp / stride
            if self.adaptive_sigma:
                sig, _ = adaptive_sigma(hm_pts, base_sigma=self.sigma,
                                        ref_size=self.sigma_ref_size,
                                        min_ratio=self.sigma_min_ratio,
                                        max_ratio=self.sigma_max_ratio, visible=vis)
            else:
                sig = np.where(vis.any(1), self.sigma, 0.0)
            maps[v] = render_gaussian_heatmaps(hm_pts, (W, H), sig, visible=vis, amplitudes=amp,
                                               legacy_peak_offset=self.legacy_peak_offset)
            weights[v] = vis.any(0)
            sigmas.append(sig)
        results[self.out_key] = maps
        results[self.out_key + '_sigmas'] = sigmas
        results[self.out_key + '_weights'] = weights
        results['heatmap_size'] = np.array([W, H], dtype=np.int64)
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(heatmap_size={self.heatmap_size}, '
                f'keypoints_key={self.keypoints_key!r}, out_key={self.out_key!r}, '
                f'sigma={self.sigma}, adaptive_sigma={self.adaptive_sigma}, '
                f'legacy_peak_offset={self.legacy_peak_offset})')
