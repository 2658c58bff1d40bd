"""Test-time refinement of 3D joints by robust triangulation of the input heatmaps' peaks.

The voxel networks place a joint on a grid from the averaged evidence of all views; when a
person is seen by few cameras, the averaged volume holds long single-view rays and the
network sometimes puts an isolated joint 0.3-1 m away from where the views agree. The
views' own heatmaps still hold the joint where it is: this layer looks for it near the
network's estimate in every view and, where enough views agree, replaces the estimate by
their triangulation. It adds no parameters and uses nothing but the model's inputs (the
heatmaps and the cameras), so it applies to any multi-view model of the package
(:class:`~virtualpose_mm.models.pose_estimators.VoxelPose`,
:class:`~virtualpose_mm.models.pose_estimators.FasterVoxelPose`; option ``refine``).
It is not part of the authors' methods.

Per person p, joint k and view v (all batched):

1. the estimate ``X0`` (world mm) is projected into the view's heatmap; if it falls inside
   the image, the heatmap of joint k is searched in a disc around it whose radius is
   ``search_radius`` mm at the estimate's depth (in heatmap pixels, clipped to
   ``[2, max_window]``);
2. the view's candidate is the local maximum of the heatmap (≥ its 8 neighbours and at
   least ``min_peak``; the ``max_peaks`` highest of the heatmap) in the disc nearest the
   projected estimate (``view_peak='nearest'``; or the highest one, ``'highest'``); its
   position is refined to sub-pixel accuracy by a parabola through the
   logarithms of its neighbours (exact for a Gaussian peak);
3. each candidate becomes a ray (camera centre, direction; lens distortion undone);
4. every pair of candidate rays gives a hypothesis (the midpoint of their closest points,
   within ``max_shift`` mm of ``X0``); a ray is an inlier of a hypothesis when the point
   lies in front of its camera and its angular distance to it, in heatmap pixels of its
   view, is at most ``inlier_px``; among the hypotheses with at least ``min_views``
   inliers the one nearest ``X0`` wins (``select='nearest'``; or the one whose inliers
   have the largest total peak value, ``'support'``);
5. the winner's inliers are triangulated again (least squares over rays, weighted by the
   peak values), the inliers recomputed and the point solved once more; the joint moves
   there when at least ``min_views`` views are inliers and it stays within ``max_shift``
   mm of ``X0``. Otherwise the network's estimate is kept.

Optionally (``rescue``) the layer also confirms people: the model then detects with a
lower score threshold, and a proposal scored below the model's own threshold is kept only
when enough of its joints were triangulated from enough agreeing views
(:meth:`HeatmapTriangulation.confirmed`). A detector's false proposals, seen by one or two
views, are not confirmed; a real person with a weak detection score is.

Optionally (``complete``) the layer also finds people the detector missed altogether
(:meth:`HeatmapTriangulation.find_roots`): the local maxima of the root joints' heatmaps
(the hips for COCO-17) that no kept person explains are triangulated across views; a root
on which ``min_views`` views agree (both hips, when the root is their midpoint) becomes a
new proposal, the model's own pose network estimates the person there, and the person is
kept when the views confirm its pose as for ``rescue``. A detector's top-view heatmap
sometimes merges two people 0.5-1 m apart into one peak, or scores a person at the edge of
the views near zero; the views' 2D peaks still hold them apart. At the edge of the views
one image may hold a person's one side only: a hip that pairs with no other is then a root
by itself (``unpaired_roots``); where no two views show a hip, four or more other joints
whose points (each lowered by its median height above the hips in the CMU bank) agree on
the floor make one (``cluster_joints``); and the joints confirming the pose are counted
among those two or more images hold (``min_joints_of='held'``), so a ghost point where two
views' rays happen to meet still needs half of its pose confirmed to become a person. A new
person on a kept person's hips is that person again and is not kept.

Optionally (``skeleton``) the layer finally re-places the joints that break a limb
(:meth:`HeatmapTriangulation.resolve_skeleton`): walking the skeleton outwards from the
hips, a joint that was not triangulated, whose limb is longer or shorter than any in the
CMU pose bank (with a margin, ``bone_scale``), or that another person holds too, moves to
the point its views agree on within reach of its parent joint. The refinement searches
near the network's estimate; when a limb is 0.5-1.5 m off (folded onto a neighbour, a
crouching person), the nearest peaks are a neighbour's joint or rays that meet nowhere.

Nearest rather than highest matters where people are close: another person's joint in
the search disc is often as high as the person's own. The defaults were chosen on a
tuning set of the Shelf-rig demo model (virtual frames of training-split poses, seed 99,
not the test frames), with exact and with noisy 2D positions (Gaussian, σ 4 px in the
original image); the figures are in ``configs/faster_voxelpose/
faster-voxelpose_shelf_virtual_cpu.py``. The refinement relies on the heatmaps' peaks
being where the joints are: with a 2D detector that is often off by more than
``inlier_px`` heatmap pixels the gain shrinks (it does not reverse in the measurements
above).
"""
from __future__ import annotations

from itertools import combinations
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from virtualpose_mm.engine.config_checks import reject_unresolved
from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.models.layers.projection import compute_sampling_grid, heatmap_affines
from virtualpose_mm.registry import MODELS

__all__ = ['HeatmapTriangulation', 'neighbourhood_max', 'solve_rays', 'COMPLETE_DEFAULTS',
           'SKELETON_DEFAULTS']

#: defaults of ``HeatmapTriangulation(complete=dict(...))`` (chosen on the tuning frames of
#: the Shelf-rig demo model; figures in configs/faster_voxelpose/
#: faster-voxelpose_shelf_virtual_cpu.py)
COMPLETE_DEFAULTS = dict(min_views=2, min_agree=0.5, min_peak=0.2, explain_px=2.5,
                         inlier_px=1.5, pair_distance=450.0, nms_distance=300.0,
                         min_distance=400.0, min_joints=0.5, unpaired_roots=True,
                         min_joints_of='held', min_held=0.3, cluster_joints=4,
                         cluster_distance=500.0, joint_set='coco17')

#: defaults of ``HeatmapTriangulation(skeleton=dict(...))`` (chosen on the tuning frames of
#: the Shelf-rig demo model; figures in configs/faster_voxelpose/
#: faster-voxelpose_shelf_virtual_cpu.py)
SKELETON_DEFAULTS = dict(joint_set='coco17', bone_scale=1.5, claim_distance=100.0,
                         min_views=2, min_agree=0.5, min_peak=0.1, inlier_px=1.0,
                         nms_distance=100.0)


def solve_rays(origins: Tensor, dirs: Tensor, weights: Tensor) -> Tensor:
    """Weighted least-squares point nearest to a set of rays.

    Minimises ``Σ_v w_v ‖(I − d_v d_vᵀ)(X − o_v)‖²``.

    Args:
        origins: (..., V, 3) ray origins (mm). dirs: (..., V, 3) unit directions.
        weights: (..., V) non-negative weights (0 ignores a ray).

    Returns:
        (..., 3); rows with fewer than two non-parallel weighted rays give an arbitrary
        finite point (the caller checks the number of views).
    """
    eye = torch.eye(3, dtype=dirs.dtype, device=dirs.device)
    proj = eye - dirs[..., :, None] * dirs[..., None, :]                     # (..., V, 3, 3)
    w = weights[..., None, None]
    A = (w * proj).sum(-3)
    b = (w * proj @ origins[..., None]).sum(-3)[..., 0]
    # a tiny ridge keeps degenerate rows solvable without moving well-posed ones
    A = A + 1e-9 * (A.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None] + 1.0) * eye
    return torch.linalg.solve(A, b[..., None])[..., 0]


def px_off_ray(X: Tensor, origins: Tensor, dirs: Tensor, f_px: Tensor) -> Tensor:
    """Angular distance of points from rays, in pixels of each ray's view.

    Args:
        X: (..., 3) points, origins / dirs: (..., 3) rays (unit directions), f_px: (...)
            focal length of each ray's view in the pixels to measure; all broadcast.

    Returns:
        (...) distance; +inf where the point is not in front of the ray (≤ 1 mm along it).
    """
    rel = X - origins
    along = (rel * dirs).sum(-1)
    perp = (rel - along[..., None] * dirs).norm(dim=-1)
    err = perp / along.clamp(min=1.0) * f_px
    return torch.where(along > 1.0, err, err.new_tensor(float('inf')))


def neighbourhood_max(maps: Tensor) -> Tensor:
    """(..., h, w) → the maximum over each pixel's 3 × 3 neighbourhood (the map's border
    padded with −inf); ``F.max_pool2d(maps, 3, 1, 1)``, 5-10 times faster on the CPU for
    the many single-channel maps of a frame."""
    h, w = maps.shape[-2:]
    pad = F.pad(maps, (1, 1, 1, 1), value=float('-inf'))
    out = pad[..., 1:h + 1, 1:w + 1].clone()
    for dy in range(3):
        for dx in range(3):
            if dy != 1 or dx != 1:
                torch.maximum(out, pad[..., dy:dy + h, dx:dx + w], out=out)
    return out


@MODELS.register_module()
class HeatmapTriangulation(nn.Module):
    """Refine predicted 3D joints with the triangulated peaks of the input heatmaps (see
    the module docstring for the algorithm).

    Args:
        search_radius: radius (mm, at the estimate's depth) of the disc searched in each
            view around the projected estimate.
        max_window: largest disc radius in heatmap pixels.
        min_peak: smallest heatmap value that counts as a detection of the joint.
        inlier_px: largest angular distance, in heatmap pixels of the view, between a
            view's ray and the triangulated point for the view to count as agreeing.
        min_views: views that must agree for a joint to move.
        max_shift: largest move (mm) from the network's estimate.
        view_peak: each view's candidate: ``'nearest'`` (the local maximum nearest the
            projected estimate) or ``'highest'`` (the highest local maximum in the disc).
        max_peaks: local maxima kept per heatmap (the highest; more than the people a
            frame can hold).
        rescue: None (default), or ``dict(min_score, min_views, min_joints)``: the model
            then detects with the lower score threshold ``min_score`` and keeps a proposal
            scored at or below its own threshold only when at least a fraction
            ``min_joints`` of its joints were triangulated from at least ``min_views``
            agreeing views (people the views confirm; the false proposals of a detector,
            seen by one or two views, are not), and no person kept on its score lies within
            ``duplicate_distance`` mm (mean over joints) of it. See :meth:`confirmed`.
        duplicate_distance: see ``rescue``.
        complete: None (default), or a dict: find people no proposal holds from the root
            joints' heatmap peaks (:meth:`find_roots`; keys and defaults in
            :data:`COMPLETE_DEFAULTS`: ``min_views`` views agreeing on a root,
            ``min_peak`` smallest peak, ``explain_px`` heatmap px within which a kept
            person's projected joint explains a peak, ``inlier_px`` agreement tolerance,
            ``pair_distance`` mm between the two hips of a root, ``nms_distance`` mm
            between two roots, ``min_distance`` mm (floor plane) from a kept person's root,
            ``unpaired_roots`` (True: a hip point that pairs with no other, and lies
            ``pair_distance`` or more from every paired root, is a root by itself: a person
            at the edge of the views whose other hip only one image holds),
            ``min_joints`` fraction of the new person's joints the views must confirm
            (triangulated from ``min_views`` views), counted among the joints that at
            least ``min_views`` images hold (``min_joints_of='held'``) or among all
            (``'all'``), and with ``'held'`` ``min_held`` the fraction of all its joints
            that ``min_views`` images must hold; see :meth:`confirmed`).
        skeleton: None (default), or a dict: re-place the joints that break the skeleton
            (:meth:`resolve_skeleton`; keys and defaults in :data:`SKELETON_DEFAULTS`:
            ``joint_set`` of the poses (its skeleton and the builtin bank's limb lengths),
            ``bone_scale`` margin on the bank's shortest / longest limb, ``claim_distance``
            mm within which two people hold the same joint, and for the views' points
            ``min_views``, ``min_agree``, ``min_peak``, ``inlier_px``, ``nms_distance`` as
            in ``complete``).
        select: which hypothesis wins: ``'support'`` (the largest total peak value of its
            agreeing views) or ``'nearest'`` (the one nearest the estimate among those
            with ``min_views`` agreeing views).
    """

    def __init__(self, search_radius: float = 800.0, max_window: int = 24,
                 min_peak: float = 0.1, inlier_px: float = 1.0, min_views: int = 2,
                 max_shift: float = 800.0, select: str = 'nearest',
                 view_peak: str = 'nearest', max_peaks: int = 16,
                 rescue: Optional[dict] = None, duplicate_distance: float = 200.0,
                 complete: Optional[dict] = None, skeleton: Optional[dict] = None):
        reject_unresolved(type(self).__name__, locals())
        super().__init__()
        if search_radius <= 0 or max_shift <= 0 or inlier_px <= 0:
            raise ValueError('HeatmapTriangulation: search_radius, max_shift and inlier_px '
                             'must be positive')
        if int(max_window) < 2:
            raise ValueError(f'HeatmapTriangulation: max_window must be >= 2, got {max_window}')
        if int(min_views) < 2:
            raise ValueError(f'HeatmapTriangulation: min_views must be >= 2 (a point needs two '
                             f'rays), got {min_views}')
        self.search_radius = float(search_radius)
        self.max_window = int(max_window)
        self.min_peak = float(min_peak)
        self.inlier_px = float(inlier_px)
        self.min_views = int(min_views)
        self.max_shift = float(max_shift)
        if select not in ('support', 'nearest'):
            raise ValueError(f"HeatmapTriangulation: select must be 'support' or 'nearest', "
                             f'got {select!r}')
        self.select = select
        if view_peak not in ('highest', 'nearest'):
            raise ValueError(f"HeatmapTriangulation: view_peak must be 'highest' or 'nearest', "
                             f'got {view_peak!r}')
        self.view_peak = view_peak
        if int(max_peaks) < 1:
            raise ValueError(f'HeatmapTriangulation: max_peaks must be >= 1, got {max_peaks}')
        self.max_peaks = int(max_peaks)
        self.rescue = None
        if rescue is not None:
            want = {'min_score', 'min_views', 'min_joints'}
            if not isinstance(rescue, dict) or set(rescue) != want:
                raise ValueError('HeatmapTriangulation: rescue must be None or dict('
                                 f'min_score=..., min_views=..., min_joints=...), got {rescue}')
            self.rescue = dict(min_score=float(rescue['min_score']),
                               min_views=int(rescue['min_views']),
                               min_joints=float(rescue['min_joints']))
            if self.rescue['min_views'] < 2 or not 0 < self.rescue['min_joints'] <= 1:
                raise ValueError('HeatmapTriangulation: rescue needs min_views >= 2 and '
                                 f'0 < min_joints <= 1, got {rescue}')
        self.duplicate_distance = float(duplicate_distance)
        self.complete = None
        if complete is not None:
            c = self._options('complete', complete, COMPLETE_DEFAULTS)
            fractions = ('min_joints', 'min_agree', 'min_held', 'cluster_joints')
            if c['min_views'] < 2 or not 0 < c['min_joints'] <= 1 or \
                    not 0 <= c['min_agree'] <= 1 or not 0 <= c['min_held'] <= 1 or \
                    c['min_joints_of'] not in ('held', 'all') or c['cluster_joints'] < 0 or \
                    min(v for k, v in c.items() if k not in fractions and
                        isinstance(v, float)) <= 0:
                raise ValueError('HeatmapTriangulation: complete needs min_views >= 2, '
                                 '0 < min_joints <= 1, 0 <= min_agree <= 1, 0 <= min_held '
                                 "<= 1, min_joints_of 'held' or 'all', cluster_joints >= 0 "
                                 f'and positive distances, got {complete}')
            if c['cluster_joints'] > 0:
                from virtualpose_mm.datasets.joint_sets import can_convert, get_joint_set
                name = get_joint_set(c['joint_set']).name
                if name != 'coco17' and not can_convert('coco17', name):
                    raise ValueError(f'HeatmapTriangulation: complete joint_set {name!r}: the '
                                     'builtin CMU pose bank (COCO-17) gives joint heights '
                                     'for coco17 and the sets made from it, not this one')
                c['joint_set'] = name
            self.complete = c
        self.skeleton = None
        if skeleton is not None:
            c = self._options('skeleton', skeleton, SKELETON_DEFAULTS)
            if c['min_views'] < 2 or c['bone_scale'] < 1 or not 0 <= c['min_agree'] <= 1 or \
                    min(c[k] for k in ('claim_distance', 'min_peak', 'inlier_px',
                                       'nms_distance')) <= 0:
                raise ValueError('HeatmapTriangulation: skeleton needs min_views >= 2, '
                                 'bone_scale >= 1, 0 <= min_agree <= 1 and positive '
                                 f'distances, got {skeleton}')
            from virtualpose_mm.datasets.joint_sets import can_convert, get_joint_set
            name = get_joint_set(c['joint_set']).name  # (the bank is read when first used)
            if name != 'coco17' and not can_convert('coco17', name):
                raise ValueError(f'HeatmapTriangulation: skeleton joint_set {name!r}: the '
                                 'builtin CMU pose bank (COCO-17) gives limb lengths for '
                                 'coco17 and the sets made from it, not this one')
            self.skeleton = dict(c, joint_set=name)

    @staticmethod
    def _options(name: str, given, defaults: dict) -> dict:
        """``given`` (a dict of keys among ``defaults``) over ``defaults``: ``min_views``
        as int, strings as they are, the rest as float."""
        unknown = set(given) - set(defaults) if isinstance(given, dict) else None
        if unknown is None or unknown:
            raise ValueError(f'HeatmapTriangulation: {name} must be None or a dict with keys '
                             f'among {sorted(defaults)}, got {given}')
        return {k: (v if isinstance(defaults[k], str) else bool(v)
                    if isinstance(defaults[k], bool) else int(v) if k == 'min_views'
                    else float(v)) for k, v in dict(defaults, **given).items()}

    @staticmethod
    def _view_geometry(cameras: Camera, affines: Tensor, input_size, hm_size):
        """One sample's (V,) cameras (float64, as given) → (A, A⁻¹, f_hm): the (V, 2, 3)
        original px → heatmap px affines, their (V, 2, 2) inverse linear parts and the
        focal lengths in heatmap px (V,)."""
        A = heatmap_affines(affines.to(dtype=torch.float64), input_size, hm_size)
        Ainv = torch.linalg.inv(A[..., :2])
        f_hm = cameras.f.mean(-1) * A[..., :2].det().abs().sqrt()
        return A, Ainv, f_hm

    def extra_repr(self) -> str:
        return (f'search_radius={self.search_radius}, max_window={self.max_window}, '
                f'min_peak={self.min_peak}, inlier_px={self.inlier_px}, '
                f'min_views={self.min_views}, max_shift={self.max_shift}, '
                f'select={self.select!r}, view_peak={self.view_peak!r}, '
                f'max_peaks={self.max_peaks}, rescue={self.rescue}, '
                f'duplicate_distance={self.duplicate_distance}, complete={self.complete}, '
                f'skeleton={self.skeleton}')

    # ------------------------------------------------------------------ step 1-2
    def find_peaks(self, heatmaps: Tensor, sample_index: Tensor, hm_xy: Tensor,
                   radius: Tensor, inside: Tensor) -> Dict[str, Tensor]:
        """The candidate peak of every (person, view, joint).

        The local maxima of every heatmap (≥ their 8 neighbours and ≥ ``min_peak``; the
        ``max_peaks`` highest per heatmap) are found once; each (person, view, joint)
        takes, among those of its heatmap inside its disc, the one nearest its projected
        estimate (``view_peak='nearest'``) or the highest (``'highest'``).

        Args:
            heatmaps: (B, V, K, h, w) the batch's heatmaps.
            sample_index: (P,) each person's sample.
            hm_xy: (P, V, K, 2) projected estimates in heatmap pixels.
            radius: (P, V, K) search radius in heatmap pixels.
            inside: (P, V, K) the estimate projects into the view's image.

        Returns:
            dict with ``xy`` (P, V, K, 2) sub-pixel peak positions (heatmap px), ``value``
            (P, V, K) and ``valid`` (P, V, K) bool.
        """
        B, V, K, h, w = heatmaps.shape
        dev = heatmaps.device
        hm = heatmaps.detach().reshape(B * V * K, h, w)
        is_max = (hm >= neighbourhood_max(hm)) & (hm >= self.min_peak)
        flat = hm.reshape(B * V * K, h * w)
        n = min(self.max_peaks, h * w)
        top_val, top_idx = torch.where(is_max.reshape(B * V * K, h * w), flat,
                                       flat.new_tensor(-1.0)).topk(n, dim=-1)
        # each (person, view, joint) looks at the maxima of its own heatmap
        ch = (sample_index.long()[:, None, None] * V +
              torch.arange(V, device=dev)[None, :, None]) * K + \
            torch.arange(K, device=dev)[None, None, :]                       # (P, V, K)
        cval = top_val[ch].to(hm_xy.dtype)                                    # (P, V, K, n)
        cidx = top_idx[ch]
        cx, cy = (cidx % w).to(hm_xy.dtype), (cidx // w).to(hm_xy.dtype)
        d2 = (cx - hm_xy[..., 0:1]) ** 2 + (cy - hm_xy[..., 1:2]) ** 2
        usable = (cval >= self.min_peak) & (d2 <= (radius ** 2)[..., None])
        if self.view_peak == 'nearest':
            arg = torch.where(usable, d2, d2.new_tensor(float('inf'))).argmin(-1)
        else:  # the highest maximum in the disc
            arg = torch.where(usable, cval, cval.new_tensor(-1.0)).argmax(-1)
        pick = arg[..., None]
        valid = inside & usable.gather(-1, pick)[..., 0]
        best = cval.gather(-1, pick)[..., 0]
        idx = cidx.gather(-1, pick)[..., 0]
        px, py = idx % w, idx // w

        def at(dx, dy):  # the heatmap value next to the peak (0 outside the map)
            xx, yy = px + dx, py + dy
            ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            v = flat[ch, yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)].to(hm_xy.dtype)
            return torch.where(ok, v, v.new_tensor(0.0))

        def vertex(a, c, b):
            """Sub-pixel offset of the parabola through log values at −1, 0, +1."""
            eps = 1e-12
            la, lc, lb = (torch.log(t.clamp(min=eps)) for t in (a, c, b))
            den = la - 2 * lc + lb
            ok = (a > eps) & (b > eps) & (den < -1e-9)
            o = 0.5 * (la - lb) / torch.where(ok, den, den.new_tensor(-1.0))
            return torch.where(ok, o, o.new_zeros(())).clamp(-0.5, 0.5)

        xy = torch.stack([px.to(hm_xy.dtype) + vertex(at(-1, 0), best, at(1, 0)),
                          py.to(hm_xy.dtype) + vertex(at(0, -1), best, at(0, 1))], -1)
        return dict(xy=xy, value=best.clamp(min=0.0), valid=valid)

    @staticmethod
    def views_holding(poses: Tensor, sample_index: Tensor, cameras: Camera) -> Tensor:
        """(P, K) long: for P people's joints (P, K, 3) world mm, the number of views of
        their sample (``sample_index`` (P,) into the (B, V) ``cameras``) whose image holds
        the joint (in front of the camera and inside the image)."""
        P, K, _ = poses.shape
        out = torch.zeros(P, K, dtype=torch.long, device=poses.device)
        cams_all = cameras.to_tensor(device=poses.device, dtype=torch.float64)
        for b in sample_index.unique().tolist():
            rows = (sample_index == b).nonzero(as_tuple=True)[0]
            cams = cams_all[b]                                                # (V,)
            held = HeatmapTriangulation._held(cams, poses[rows].to(torch.float64).reshape(-1, 3))
            out[rows] = held.sum(-1).reshape(len(rows), K)                    # (n K, V) -> ..
        return out

    @staticmethod
    def _held(cams: Camera, X: Tensor) -> Tensor:
        """(n, V) bool: the (V,) ``cams`` whose image holds each of the (n, 3) world points
        (in front of the camera and inside the image)."""
        Xv = X[:, None, None]                                                 # (n, 1, 1, 3)
        return (cams.depth(Xv)[..., 0] > 1.0) & \
            cams.in_image(cams.project(Xv, min_depth=1.0))[..., 0]

    def confirmed(self, refined: Dict[str, Tensor], sample_index: Tensor, low: Tensor,
                  kept_poses: Tensor, kept_index: Tensor,
                  scores: Optional[Tensor] = None,
                  rule: Optional[dict] = None, held: Optional[Tensor] = None,
                  root_joints: Optional[Sequence[int]] = None) -> Tensor:
        """Which low-score people the views confirm (``rescue``, ``complete``).

        A low-score person is confirmed when a fraction ``min_joints`` of its joints were
        triangulated from ``min_views`` agreeing views and it lies ``duplicate_distance``
        mm or more (mean over joints) from every person of its sample kept on its score
        and from every person confirmed before it (in the order of ``scores``, highest
        first). With a rule whose ``min_joints_of`` is ``'held'`` (``complete``'s default)
        the fraction counts among the joints that ``min_views`` images hold (``held``), and
        at least a fraction ``min_held`` of all joints must be so held: a person at the
        edge of the views, whose other side only one image holds, can be confirmed by the
        joints two views can see. With ``root_joints``, a person whose root joints lie
        within ``duplicate_distance`` mm (mean) of a kept person's is that person again
        (``complete``: the refinement can move a new person's hips onto a kept person's
        hip peaks while its other joints differ) and is not confirmed either.

        Args:
            refined: :meth:`forward`'s output for P people.
            sample_index: (P,) their samples.
            low: (P,) bool, scored at or below the model's threshold.
            kept_poses: (Q, K, 3) the (refined) people kept on their score.
            kept_index: (Q,) their samples.
            scores: (P,) detection scores (the order of confirmation); None: index order.
            rule: ``dict(min_views, min_joints)`` (and optionally ``min_joints_of``,
                ``min_held``); None: ``rescue``'s.
            held: (P, K) the views whose image holds each joint (:meth:`views_holding`);
                needed with ``min_joints_of='held'``.
            root_joints: see above; None: no such test.

        Returns:
            (P,) bool: True for a low-score person to keep (False for all others, and for
            all without ``rescue`` or ``rule``).
        """
        r = self.rescue if rule is None else rule
        if r is None or not bool(low.any()):
            return torch.zeros_like(low)
        tri = refined['num_views'] >= r['min_views']                        # (P, K)
        if r.get('min_joints_of', 'all') == 'held':
            if held is None:
                raise ValueError("HeatmapTriangulation.confirmed: min_joints_of='held' needs "
                                 'held (views_holding)')
            seen = held.to(tri.device) >= r['min_views']
            support = ((tri & seen).float().sum(-1) >=
                       r['min_joints'] * seen.float().sum(-1).clamp(min=1)) & \
                (seen.float().mean(-1) >= r['min_held'])
        else:
            support = tri.float().mean(-1) >= r['min_joints']
        cand = (low & support).nonzero(as_tuple=True)[0]
        if root_joints is not None and cand.numel() and kept_poses.shape[0]:
            rj = list(root_joints)
            d = (refined['poses'][cand][:, None, rj].double() -
                 kept_poses[None, :, rj].double()).norm(dim=-1).mean(-1)      # (n, Q)
            same = (d < self.duplicate_distance) & \
                (sample_index[cand][:, None] == kept_index[None].to(sample_index.device))
            cand = cand[~same.any(-1)]
        if scores is not None and cand.numel() > 1:
            cand = cand[scores[cand].argsort(descending=True, stable=True)]
        out = torch.zeros_like(low)
        ref_poses = [kept_poses.double()]
        ref_index = [kept_index.long()]
        for i in cand.tolist():
            pose = refined['poses'][i].double()
            others = torch.cat(ref_poses)
            same = torch.cat(ref_index) == sample_index[i]
            dist = (others - pose).norm(dim=-1).mean(-1)
            if bool(((dist < self.duplicate_distance) & same).any()):
                continue
            out[i] = True
            ref_poses.append(pose[None])
            ref_index.append(sample_index[i:i + 1].long())
        return out

    # ------------------------------------------------------------------ complete
    @torch.no_grad()
    def find_roots(self, heatmaps: Tensor, kept_poses: Tensor, kept_index: Tensor,
                   cameras: Camera, affines: Tensor, image_sizes: Tensor,
                   input_size: Optional[Sequence[float]], root_joints: Sequence[int],
                   bounds: Optional[Tensor] = None) -> List[Tensor]:
        """Roots of the people no kept person explains (``complete``), per sample.

        For each root joint: the local maxima (≥ ``min_peak``, the ``max_peaks`` highest)
        of its heatmap in every view, less those within ``explain_px`` heatmap px of a kept
        person's projected joint, become rays; every pair of rays from two views gives a
        point, the views with a ray within ``inlier_px`` of it agree, and points with
        ``min_views`` agreeing views that are also a fraction ``min_agree`` of the views
        whose image holds the point are kept greedily (most views, then the largest
        total peak value) ``nms_distance`` mm apart. With two root joints (the hips), a
        root is the midpoint of two such points ``pair_distance`` mm apart or less (each
        point used once, nearest first). Roots within ``min_distance`` mm on the floor
        plane (x, y) of a kept person's root, or outside ``bounds``, are dropped.

        Args:
            heatmaps: (B, V, K, h, w). kept_poses: (Q, K, 3) world mm, the people kept so
                far; kept_index: (Q,) their samples.
            cameras, affines, image_sizes, input_size: as :meth:`forward`.
            root_joints: the one or two joints whose mean is the model's root.
            bounds: (2, 3) lowest and highest root (world mm), or None.

        Returns:
            B tensors (n_b, 3) float64 world mm, most supported first.
        """
        c = self.complete if self.complete is not None else dict(COMPLETE_DEFAULTS)
        root_joints = [int(j) for j in root_joints]
        if len(root_joints) not in (1, 2):
            raise ValueError(f'HeatmapTriangulation.find_roots: one or two root joints, got '
                             f'{root_joints}')
        B, V, K, h, w = heatmaps.shape
        dev = heatmaps.device
        f64 = torch.float64
        cams_all = cameras.to_tensor(device=dev, dtype=f64)
        kept = kept_poses.detach().to(device=dev, dtype=f64)
        kept_index = kept_index.to(dev).long()
        out = []
        for b in range(B):
            cams = cams_all[b]                                                # (V,)
            A, Ainv, f_hm = self._view_geometry(cams, affines[b].to(dev), input_size, (w, h))
            mine = kept[kept_index == b]                                      # (Q, K, 3)
            maps = heatmaps[b].detach().to(f64)                               # (V, K, h, w)
            is_max = kept_px = None
            if c['cluster_joints'] > 0:           # every joint's maxima and projections
                is_max = (maps >= neighbourhood_max(maps)) & (maps >= c['min_peak'])
                kept_px = self._kept_px(mine, cams, A) if mine.shape[0] else None
            points = []
            for j in root_joints:
                points.append(self._root_points(
                    maps[:, j], mine[:, j], cams, A, Ainv, f_hm, c,
                    is_max=None if is_max is None else is_max[:, j],
                    kept_px=None if kept_px is None else kept_px[:, j]))
            if len(root_joints) == 2:
                roots, support, unused = self._pair(points[0], points[1], c['pair_distance'])
                if c['unpaired_roots']:
                    # a hip no other pairs with (the person's other hip: one view or none)
                    roots, support = self._add_alone(
                        roots, support, torch.cat([p[0][u] for p, u in zip(points, unused)]),
                        torch.cat([p[1][u] for p, u in zip(points, unused)]),
                        c['pair_distance'])
            else:
                roots, support = points[0]
            if c['cluster_joints'] > 0:
                roots, support = self._add_alone(
                    roots, support, *self._cluster_roots(maps, mine, cams, A, Ainv, f_hm, c,
                                                         root_joints, is_max, kept_px),
                    c['pair_distance'])
            if roots.shape[0] and mine.shape[0]:
                kr = mine[:, root_joints].mean(1)
                far = torch.cdist(roots[:, :2], kr[:, :2]).min(-1).values >= c['min_distance']
                roots, support = roots[far], support[far]
            if bounds is not None and roots.shape[0]:
                lo, hi = bounds.to(device=dev, dtype=f64)
                inside = ((roots >= lo) & (roots <= hi)).all(-1)
                roots, support = roots[inside], support[inside]
            out.append(self._greedy(roots, support, c['nms_distance']))
        return out

    # ------------------------------------------------------------------ skeleton
    def bone_order(self, root_joints: Sequence[int], num_joints: int) -> List[tuple]:
        """The skeleton's limbs ``(child, parent, lo, hi, median)`` in breadth-first order
        from the root joints, with the allowed length range (mm): the builtin CMU bank's
        shortest limb / ``bone_scale`` to its longest × ``bone_scale``, and its median
        (:func:`~virtualpose_mm.datasets.datasets.virtual.posebank.bone_length_range`)."""
        from virtualpose_mm.datasets.datasets.virtual.posebank import bone_length_range
        from virtualpose_mm.datasets.joint_sets import get_joint_set
        c = self.skeleton if self.skeleton is not None else dict(SKELETON_DEFAULTS)
        js = get_joint_set(c['joint_set'])
        if len(js.joint_names) != num_joints:
            raise ValueError(f"HeatmapTriangulation: skeleton joint_set {js.name!r} has "
                             f'{len(js.joint_names)} joints, the poses {num_joints}')
        lengths = bone_length_range(js.name)
        seen = set(int(j) for j in root_joints)
        frontier, order = sorted(seen), []
        while frontier:
            nxt = []
            for parent in frontier:
                for (a, b), (lo, median, hi) in lengths.items():
                    for child, par in ((a, b), (b, a)):
                        if par == parent and child not in seen:
                            seen.add(child)
                            nxt.append(child)
                            order.append((child, parent, lo / c['bone_scale'],
                                          hi * c['bone_scale'], median))
            frontier = nxt
        return order

    @torch.no_grad()
    def resolve_skeleton(self, poses: Tensor, refined: Tensor, sample_index: Tensor,
                         heatmaps: Tensor, cameras: Camera, affines: Tensor,
                         image_sizes: Tensor, input_size: Optional[Sequence[float]],
                         root_joints: Sequence[int],
                         num_views: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Re-place the joints that break the skeleton (``skeleton``).

        The refinement looks for a joint near the network's estimate; when the estimate is
        0.3-1.5 m off (a limb the network folded onto a neighbour, a crouching person), the
        nearest peaks are another person's joint or rays that meet nowhere, or no views
        agree and the estimate stays. Here the limbs are walked outwards from the root
        joints (hips → knees → ankles, hips → shoulders → elbows → wrists → head): a
        joint is kept when it was triangulated, its limb length is within the allowed
        range (:meth:`bone_order`) and no other person of the sample holds the same joint
        within ``claim_distance`` mm (of two, the one whose limb length is nearer the
        bank's median keeps it). Otherwise it moves to the best point the views agree on
        for that joint (every pair of its heatmap peaks triangulated; ``min_views`` agreeing
        views that are a fraction ``min_agree`` of the views seeing the point) within the
        limb's range of its (kept or re-placed) parent and not held by another person:
        the most agreeing views, then the limb length nearest the median (a joint whose
        best point lies within ``claim_distance`` of it stays: its limb is just longer or
        shorter than the bank's, e.g. a 2D detector's ear). The moved joints
        are then refined once more from the new position (:meth:`forward`).

        Args:
            poses: (P, K, 3) world mm (refined). refined: (P, K) bool, the joints the
                refinement triangulated. sample_index: (P,).
            heatmaps, cameras, affines, image_sizes, input_size: as :meth:`forward`.
            root_joints: the joints the walk starts from (not moved).
            num_views: (P, K) agreeing views of the refinement (:meth:`forward`), or None
                (zeros).

        Returns:
            dict with ``poses`` (P, K, 3) and ``refined`` (P, K) bool (triangulated, before
            or here), ``moved`` (P, K) bool (re-placed here), ``num_views`` (P, K) (the
            given ones, those of the re-placed joints updated).
        """
        P, K = poses.shape[:2]
        moved = torch.zeros(P, K, dtype=torch.bool, device=poses.device)
        views = torch.zeros(P, K, dtype=torch.long, device=poses.device) if num_views is None \
            else num_views.to(poses.device).long().clone()
        if P == 0:
            return dict(poses=poses.clone(), refined=refined.clone(), moved=moved,
                        num_views=views)
        c = self.skeleton if self.skeleton is not None else dict(SKELETON_DEFAULTS)
        order = self.bone_order(root_joints, K)
        B, V, _, h, w = heatmaps.shape
        dev = heatmaps.device
        f64 = torch.float64
        cams_all = cameras.to_tensor(device=dev, dtype=f64)
        out = poses.detach().to(device=dev, dtype=f64).clone()
        ref = refined.to(dev).clone()
        sample_index = sample_index.to(dev).long()
        no_kept = out.new_zeros(0, 3)
        claim = c['claim_distance']
        for b in range(B):
            people = (sample_index == b).nonzero(as_tuple=True)[0]
            if people.numel() == 0:
                continue
            cams = cams_all[b]
            A, Ainv, f_hm = self._view_geometry(cams, affines[b].to(dev), input_size, (w, h))
            for child, parent, lo, hi, median in order:
                X, Pa = out[people, child], out[people, parent]
                bone = (X - Pa).norm(dim=-1)
                ok = ref[people, child] & (bone >= lo) & (bone <= hi)
                # two people on one point: the limb length nearer the median keeps it
                off = (bone - median).abs()
                D = torch.cdist(X, X)
                for i, j in (D < claim).triu(1).nonzero().tolist():
                    if bool(ok[i] and ok[j]):
                        ok[j if off[j] >= off[i] else i] = False
                if bool(ok.all()):
                    continue
                pts, support = self._root_points(heatmaps[b, :, child].detach().to(f64),
                                                 no_kept, cams, A, Ainv, f_hm, c)
                if pts.shape[0] == 0:
                    continue
                held = X[ok]
                for i in (~ok).nonzero(as_tuple=True)[0].tolist():
                    limb = (pts - Pa[i]).norm(dim=-1)
                    fits = (limb >= lo) & (limb <= hi)
                    if held.shape[0]:
                        fits &= torch.cdist(pts, held).min(-1).values >= claim
                    if not bool(fits.any()):
                        continue
                    rank = support[:, 0] * 1e6 - (limb - median).abs()
                    n = int(torch.where(fits, rank, rank.new_tensor(-float('inf'))).argmax())
                    held = torch.cat([held, pts[n:n + 1]])
                    if float((pts[n] - X[i]).norm()) < claim:
                        continue  # the views' point is where the joint is: a limb off range
                    p = int(people[i])
                    out[p, child] = pts[n]
                    moved[p, child] = True
                    views[p, child] = int(support[n, 0])
        if bool(moved.any()):
            rows = moved.any(-1).nonzero(as_tuple=True)[0]
            again = self.forward(out[rows], sample_index[rows], heatmaps, cameras, affines,
                                 image_sizes, input_size)
            m = moved[rows]
            X, nv = out[rows], views[rows]
            X[m] = again['poses'][m].to(f64)
            nv[m] = torch.where(again['refined'][m], again['num_views'][m], nv[m])
            out[rows], views[rows] = X, nv
            ref = ref | moved
        return dict(poses=out.to(poses.dtype), refined=ref, moved=moved, num_views=views)

    def _root_points(self, maps: Tensor, kept_joint: Tensor, cams: Camera, A: Tensor,
                     Ainv: Tensor, f_hm: Tensor, c: dict, is_max: Optional[Tensor] = None,
                     kept_px: Optional[Tensor] = None):
        """Triangulated points of one joint's unexplained peaks in one sample: (n, 3)
        world mm and (n, 2) support (agreeing views, total peak value). ``is_max`` (V, h,
        w) and ``kept_px`` (Q, V, 2) (the kept joints in heatmap px), when given, spare
        computing the maps' local maxima and the kept joints' projections again."""
        V, h, w = maps.shape
        dev, f64 = maps.device, maps.dtype
        if is_max is None:
            is_max = (maps >= neighbourhood_max(maps)) & (maps >= c['min_peak'])
        flat = torch.where(is_max, maps, maps.new_tensor(-1.0)).reshape(V, h * w)
        val, idx = flat.topk(min(self.max_peaks, h * w), dim=-1)              # (V, n)
        view = torch.arange(V, device=dev)[:, None].expand_as(idx)
        xy = torch.stack([idx % w, idx // w], -1).to(f64)                     # (V, n, 2)
        ok = val >= c['min_peak']
        if kept_joint.shape[0]:
            pk = self._kept_px(kept_joint, cams, A) if kept_px is None else kept_px
            d = (xy[None] - pk[:, :, None]).norm(dim=-1)                       # (Q, V, n)
            ok &= ~(d <= c['explain_px']).any(0)
        xy, val, view = xy[ok], val[ok], view[ok]                             # (R, ...)
        empty = (maps.new_zeros(0, 3), maps.new_zeros(0, 2))
        if view.unique().numel() < 2:
            return empty
        pix = ((xy - A[view, :, 2])[:, None] @ Ainv[view].transpose(-1, -2))[:, 0]
        o, d = (t[:, 0] for t in cams[view].pixel_to_ray(pix[:, None]))       # (R, 3)
        i, k = torch.triu_indices(len(view), len(view), 1, device=dev)
        pair = view[i] != view[k]
        i, k = i[pair], k[pair]
        X = solve_rays(torch.stack([o[i], o[k]], 1), torch.stack([d[i], d[k]], 1),
                       torch.ones(len(i), 2, dtype=f64, device=dev))          # (H, 3)
        err = px_off_ray(X[:, None], o[None], d[None], f_hm[view])            # (H, R)
        agree = torch.zeros(len(i), dtype=torch.long, device=dev)
        total = torch.zeros(len(i), dtype=f64, device=dev)
        for v in range(V):
            mv = view == v
            if not bool(mv.any()):
                continue
            e, a = err[:, mv].min(-1)
            good = e <= c['inlier_px']
            agree += good.long()
            total += torch.where(good, val[mv][a], total.new_zeros(()))
        seen = self._held(cams, X)               # (H, V) the views whose image holds it
        keep = (agree >= int(c['min_views'])) & \
            (agree >= c['min_agree'] * seen.sum(-1)) & torch.isfinite(X).all(-1)
        X, support = X[keep], torch.stack([agree[keep].to(f64), total[keep]], -1)
        return self._greedy(X, support, c['nms_distance'], with_support=True)

    @staticmethod
    def _kept_px(kept: Tensor, cams: Camera, A: Tensor) -> Tensor:
        """(Q, ..., 3) world mm → (Q, ..., V, 2) heatmap px in the (V,) ``cams`` (heatmap
        affines ``A`` (V, 2, 3))."""
        uv = cams.project(kept[..., None, None, :], min_depth=1.0)[..., 0, :]  # (..., V, 2)
        return (uv[..., None, :] @ A[..., :2].transpose(-1, -2))[..., 0, :] + A[..., 2]

    @staticmethod
    def _add_alone(roots: Tensor, support: Tensor, X: Tensor, S: Tensor, distance: float):
        """``roots`` (n, 3) and their ``support`` (n, 2) with the points ``X`` (m, 3)
        (support ``S``) that lie ``distance`` mm or more from every root."""
        if roots.shape[0] and X.shape[0]:
            alone = torch.cdist(X, roots).min(-1).values >= distance
            X, S = X[alone], S[alone]
        return torch.cat([roots, X]), torch.cat([support, S])

    def _cluster_roots(self, maps: Tensor, mine: Tensor, cams: Camera, A: Tensor, Ainv: Tensor,
                       f_hm: Tensor, c: dict, root_joints: Sequence[int], is_max: Tensor,
                       kept_px: Optional[Tensor]):
        """Roots of people whose hips two views do not show (``cluster_joints``): every
        other joint's unexplained peaks triangulated as the roots' are
        (:meth:`_root_points`), each point lowered by the joint's median height above the
        root in the CMU bank (:func:`~virtualpose_mm.datasets.datasets.virtual.posebank.
        joint_heights`); greedily (most views first) a point and the unclaimed points
        within ``cluster_distance`` mm of it on the floor plane make a root (their median)
        when they come from ``cluster_joints`` different joints or more.

        Args:
            maps: (V, K, h, w) one sample's heatmaps (float64). mine: (Q, K, 3) its kept
                people. cams, A, Ainv, f_hm, c: as :meth:`_root_points`.
            root_joints: the joints whose mean is the root (left out of the clusters; the
                bank's heights are measured from their mean).
            is_max: (V, K, h, w) the maps' local maxima (≥ ``min_peak``); kept_px: (Q, K,
                V, 2) the kept joints in heatmap px, or None without kept people.

        Returns:
            (n, 3) float64 world mm roots and (n, 2) support (the most agreeing views of a
            member, the number of joints).
        """
        from virtualpose_mm.datasets.datasets.virtual.posebank import joint_heights
        V, K = maps.shape[:2]
        heights = maps.new_tensor(joint_heights(c['joint_set'], tuple(root_joints)))
        if heights.numel() != K:
            raise ValueError(f"HeatmapTriangulation: complete joint_set {c['joint_set']!r} has "
                             f'{heights.numel()} joints, the heatmaps {K}')
        pts, views, joint = [], [], []
        for j in range(K):
            if j in root_joints or not bool(is_max[:, j].flatten(1).any(-1).sum() >= 2):
                continue
            X, S = self._root_points(maps[:, j], mine[:, j], cams, A, Ainv, f_hm, c,
                                     is_max=is_max[:, j],
                                     kept_px=None if kept_px is None else kept_px[:, j])
            pts.append(X - X.new_tensor([0.0, 0.0, 1.0]) * heights[j])
            views.append(S[:, 0])
            joint.append(torch.full((X.shape[0], ), j, dtype=torch.long, device=X.device))
        empty = (maps.new_zeros(0, 3), maps.new_zeros(0, 2))
        if not pts:
            return empty
        P, nv, jid = torch.cat(pts), torch.cat(views), torch.cat(joint)
        if P.shape[0] < c['cluster_joints']:
            return empty
        near = torch.cdist(P[:, :2], P[:, :2]) < c['cluster_distance']       # (n, n)
        free = torch.ones(P.shape[0], dtype=torch.bool, device=P.device)
        roots, support = [], []
        for n in nv.argsort(descending=True, stable=True).tolist():
            if not bool(free[n]):
                continue
            members = near[n] & free
            count = jid[members].unique().numel()
            if count >= c['cluster_joints']:
                roots.append(P[members].median(0).values)
                support.append(P.new_tensor([float(nv[members].max()), float(count)]))
                free &= ~members
        if not roots:
            return empty
        return torch.stack(roots), torch.stack(support)

    @staticmethod
    def _greedy(X: Tensor, support: Tensor, distance: float, with_support: bool = False):
        """Keep points in order of support (views, then peak value), each ``distance`` mm
        or more from those kept before it (memory linear in the number of points)."""
        if X.shape[0] == 0:
            return (X, support) if with_support else X
        sup = support.detach().cpu().double().numpy()
        order = np.lexsort((-sup[:, 1], -sup[:, 0]), axis=0)   # views, then peak value
        P = X.detach().cpu().double().numpy()
        near = np.zeros(len(P), dtype=bool)        # within ``distance`` of a kept point
        kept = []
        for n in order.tolist():
            if not near[n]:
                kept.append(n)
                near |= np.linalg.norm(P - P[n], axis=-1) < distance
        kept = torch.as_tensor(kept, dtype=torch.long, device=X.device)
        return (X[kept], support[kept]) if with_support else X[kept]

    @staticmethod
    def _pair(a, b, distance: float):
        """Midpoints of the two joints' points, paired nearest first, ``distance`` mm or
        less apart; support summed. Also returns the two (n_a,), (n_b,) bool masks of the
        points no pair used."""
        (Xa, sa), (Xb, sb) = a, b
        unused = [torch.ones(Xa.shape[0], dtype=torch.bool, device=Xa.device),
                  torch.ones(Xb.shape[0], dtype=torch.bool, device=Xb.device)]
        if Xa.shape[0] == 0 or Xb.shape[0] == 0:
            return Xa.new_zeros(0, 3), Xa.new_zeros(0, 2), unused
        D = torch.cdist(Xa, Xb)
        roots, support, used_a, used_b = [], [], set(), set()
        for flat in D.flatten().argsort().tolist():
            ia, ib = divmod(flat, Xb.shape[0])
            if float(D[ia, ib]) > distance:
                break
            if ia in used_a or ib in used_b:
                continue
            used_a.add(ia)
            used_b.add(ib)
            roots.append((Xa[ia] + Xb[ib]) / 2)
            support.append(sa[ia] + sb[ib])
        unused[0][sorted(used_a)] = False
        unused[1][sorted(used_b)] = False
        if not roots:
            return Xa.new_zeros(0, 3), Xa.new_zeros(0, 2), unused
        return torch.stack(roots), torch.stack(support), unused

    # ------------------------------------------------------------------ the whole step
    @torch.no_grad()
    def forward(self, poses: Tensor, sample_index: Tensor, heatmaps: Tensor, cameras: Camera,
                affines: Tensor, image_sizes: Tensor,
                input_size: Optional[Sequence[float]]) -> Dict[str, Tensor]:
        """Refine P people's joints.

        Args:
            poses: (P, K, 3) estimates, world mm.
            sample_index: (P,) the sample of the batch each person belongs to.
            heatmaps: (B, V, K, h, w) the views' heatmaps (the model's inputs / 2D outputs).
            cameras: :class:`Camera` of batch shape (B, V).
            affines: (B, V, 2, 3) original px → input px (→ heatmap px when ``input_size``
                is None).
            image_sizes: (B, V, 2) original (w, h).
            input_size: (w, h) of the network input.

        Returns:
            dict with ``poses`` (P, K, 3) refined (same dtype), ``refined`` (P, K) bool
            (the joint moved), ``num_views`` (P, K) (agreeing views; 0 where not refined).
        """
        P, K = poses.shape[:2]
        if P == 0:
            return dict(poses=poses.clone(), refined=poses.new_zeros(0, K, dtype=torch.bool),
                        num_views=poses.new_zeros(0, K, dtype=torch.long))
        B, V, Kh, h, w = heatmaps.shape
        if Kh != K:
            raise ValueError(f'HeatmapTriangulation: heatmaps have {Kh} joints, poses {K}')
        dev = poses.device
        f64 = torch.float64
        b = sample_index.to(dev).long()
        cams = cameras.to_tensor(device=dev, dtype=f64)[b]                    # (P, V)
        aff = affines.to(device=dev, dtype=f64)[b]
        sizes = image_sizes.to(device=dev, dtype=f64)[b]
        X0 = poses.detach().to(f64)
        sg = compute_sampling_grid(X0, cams, aff, sizes, (w, h), input_size=input_size,
                                   return_depth=True)
        inside = sg.inside                                                   # (P, V, K)
        A = heatmap_affines(aff, input_size, (w, h))                          # (P, V, 2, 3)
        # the projected estimate in heatmap px (the grid is clamped only outside the image)
        uv = cams.project(X0[:, None], min_depth=1.0)                         # (P, V, K, 2)
        hm_xy = uv @ A[..., :2].transpose(-1, -2) + A[..., None, :, 2]
        scale = A[..., :2].det().abs().sqrt()                                 # (P, V)
        f_hm = cams.f.mean(-1) * scale                                        # (P, V) px/unit
        depth = sg.depth.clamp(min=1.0)
        radius = (self.search_radius * f_hm[..., None] / depth).clamp(2.0, self.max_window)
        peaks = self.find_peaks(heatmaps, b, hm_xy, radius, inside)
        # heatmap px → original px → rays
        Ainv = torch.linalg.inv(A[..., :2])                                   # (P, V, 2, 2)
        pix = (peaks['xy'] - A[..., None, :, 2]) @ Ainv.transpose(-1, -2)
        origins, dirs = cams.pixel_to_ray(pix)                                # (P, V, K, 3)
        valid = peaks['valid']
        value = torch.where(valid, peaks['value'], peaks['value'].new_zeros(()))
        # move the view axis next to the coordinates: (P, K, V, ...)
        o, d = origins.transpose(1, 2), dirs.transpose(1, 2)
        val, ok = value.transpose(1, 2), valid.transpose(1, 2)
        fpx = f_hm[:, None, :].expand(P, K, V)

        def angular_px(X):
            """(P, K, [Q,] V) distance of each ray to X (P, K, [Q,] 3) in heatmap px of
            its view; rays that point away from X get +inf."""
            extra = X.dim() - 3
            oo, dd, ff = (t.reshape(t.shape[:2] + (1, ) * extra + t.shape[2:])
                          for t in (o, d, fpx))
            return px_off_ray(X[..., None, :], oo, dd, ff)                 # (..., V)

        # every pair of views at once: Q hypotheses per (person, joint)
        pa, pc = (torch.tensor(t, device=dev, dtype=torch.long)
                  for t in zip(*combinations(range(V), 2)))                  # (Q,), (Q,)
        both = ok[..., pa] & ok[..., pc]                                      # (P, K, Q)
        X = solve_rays(torch.stack([o[..., pa, :], o[..., pc, :]], -2),
                       torch.stack([d[..., pa, :], d[..., pc, :]], -2),
                       both[..., None].expand(P, K, pa.numel(), 2).to(f64))   # (P, K, Q, 3)
        inl = ok[:, :, None] & (angular_px(X) <= self.inlier_px)              # (P, K, Q, V)
        near = (X - X0[:, :, None]).norm(dim=-1)                              # (P, K, Q)
        q = torch.arange(pa.numel(), device=dev)
        good = both & inl[..., q, pa] & inl[..., q, pc] & (near <= self.max_shift) & \
            (inl.sum(-1) >= self.min_views)
        if self.select == 'support':
            # ties (equal support) go to the hypothesis nearest the estimate
            score = (val[:, :, None] * inl).sum(-1) - 1e-9 * near
        else:  # 'nearest'
            score = self.max_shift + 1.0 - near
        score = torch.where(good, score, score.new_tensor(-1.0))
        best_score, best = score.max(-1)                                      # (P, K)
        best_X = X.gather(2, best[..., None, None].expand(P, K, 1, 3))[:, :, 0]
        found = best_score > 0
        X = best_X
        for _ in range(2):
            inl = ok & (angular_px(X) <= self.inlier_px) & found[..., None]
            X = torch.where((inl.sum(-1) >= 2)[..., None],
                            solve_rays(o, d, val * inl), X)
        inl = ok & (angular_px(X) <= self.inlier_px) & found[..., None]
        n = inl.sum(-1)
        moved = found & (n >= self.min_views) & ((X - X0).norm(dim=-1) <= self.max_shift) & \
            torch.isfinite(X).all(-1)
        out = torch.where(moved[..., None], X, X0).to(poses.dtype)
        return dict(poses=out, refined=moved, num_views=torch.where(moved, n, n.new_zeros(())))
