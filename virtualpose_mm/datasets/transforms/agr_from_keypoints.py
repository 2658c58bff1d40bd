"""VirtualPose's AGR from the output of any MMPose 2D pose model (one image).

Stage 2 of VirtualPose (:class:`~virtualpose_mm.models.pose_estimators.VirtualPose`) reads
the abstract geometry representation (AGR): K joint heatmaps + a 4-channel box map. It is
trained on AGRs rendered from projected virtual people by
:class:`~virtualpose_mm.datasets.transforms.GenerateVirtualPoseAGR`. This transform renders
the AGR of a real image from 2D keypoints detected in it (e.g. an MMPose COCO-17 model),
through the SAME function (:func:`~virtualpose_mm.datasets.transforms.virtualpose_agr.
render_agr_from_image_points`: letterbox affine, person-size σ, boxes from the joints grown
by ``bbox_extension``, box map painted around each root), so that detections are rendered
exactly as the training data were.

Pipeline for inference: ``RenderAGRFromKeypoints`` → ``PackVirtualPoseInputs``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures.heatmaps import paint_box_map, render_gaussian_heatmaps, root_pixel
from ..joint_sets import coco17_to_virtualpose17, get_joint_set
from .multiview import apply_affine, letterbox_affine
from .virtualpose_agr import depth_norm_factor, render_agr_from_image_points

__all__ = ['RenderAGRFromKeypoints', 'COCO17_SOURCES_OF_VIRTUALPOSE17',
           'coco17_scores_to_virtualpose17', 'MAX_ABS_PX']

#: Keypoints farther than this from the image origin (px) are invalid (not rendered).
MAX_ABS_PX = 1e6

#: For each VirtualPose-17 joint, the COCO-17 joints :func:`coco17_to_virtualpose17`
#: makes it from (neck: shoulders; head top: nose, eyes, ears and shoulders; mid-hip: hips;
#: spine: shoulders and hips; head: nose, eyes, ears; the limbs: themselves).
COCO17_SOURCES_OF_VIRTUALPOSE17 = (
    (5, 6), (0, 1, 2, 3, 4, 5, 6), (11, 12), (5, ), (7, ), (9, ), (11, ), (13, ), (15, ),
    (6, ), (8, ), (10, ), (12, ), (14, ), (16, ), (5, 6, 11, 12), (0, 1, 2, 3, 4))


def coco17_scores_to_virtualpose17(scores) -> np.ndarray:
    """(..., 17) COCO-17 joint scores → (..., 17) VirtualPose-17 scores: a made joint gets
    the lowest score of the COCO joints it is made from (it is only as good as its worst
    source)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.shape[-1] != 17:
        raise ValueError(f'coco17_scores_to_virtualpose17: expected (..., 17), got {s.shape}')
    return np.stack([s[..., list(src)].min(-1) for src in COCO17_SOURCES_OF_VIRTUALPOSE17],
                    -1)


@TRANSFORMS.register_module()
class RenderAGRFromKeypoints(BaseTransform):
    """Render the VirtualPose AGR of one image from per-person 2D keypoints.

    **Rendering.** Keypoints in original image px go through
    :func:`~virtualpose_mm.datasets.transforms.virtualpose_agr.render_agr_from_image_points`,
    the function :class:`GenerateVirtualPoseAGR` renders virtual training scenes with: the
    letterbox affine of the image size to the canvas (``input_size``), σ from the person's
    extent (``base_sigma``, :func:`~virtualpose_mm.structures.heatmaps.adaptive_sigma`),
    boxes = the joints' extent grown by ``bbox_extension`` and clipped to the canvas, the
    box map (l, t, r, b heatmap px from the root to the box sides) painted in a
    ``box_radius`` square around each root pixel. With every joint valid and
    ``score_as_amplitude=False`` (the defaults, all scores ≥ 0) the AGR equals
    ``GenerateVirtualPoseAGR``'s for the same 2D points and settings, bit for bit
    (``GenerateVirtualPoseAGR.render_kwargs()`` gives the settings to copy).

    **Joint sets.** ``input_joint_set='coco17'`` (MMPose's COCO body models): the keypoints
    are converted to VirtualPose-17 by :func:`~virtualpose_mm.datasets.joint_sets.
    coco17_to_virtualpose17` (neck, mid-hip, spine, head, head top made from COCO joints);
    scores of made joints are the minimum of their sources'
    (:func:`coco17_scores_to_virtualpose17`); a made joint is valid when all its sources
    are. ``'virtualpose17'``: taken as they are. The number of joints must match the set.

    **Scores.** A joint is *valid* when its coordinates are finite (and below
    ``MAX_ABS_PX`` = 1e6 px in magnitude: a broken 2D model's output) and its score is
    ``≥ score_thr`` (default 0: every detected joint, as the virtual training data render
    every joint, occluded ones included). Invalid joints are not rendered and do not count
    for σ and the box (the σ and box of the person's valid joints; implemented by moving
    invalid joints to the mean of the valid ones, inside their extent, for
    :func:`render_agr`, and re-rendering the heatmaps without them). A person whose root
    joint (``root_index``, mid-hip) is invalid is left out (stage 2 finds people by their
    root peak; painting its box would only corrupt its neighbours'). ``score_as_amplitude``
    (default False: peaks 1, as the training data): each joint's Gaussian peak is its score
    clipped to [0, 1].

    **Boxes** (optional ``bboxes`` (N, 4) x1 y1 x2 y2 original px, e.g. a person
    detector's): by default they are NOT used: the box map is made from the joints, as in
    training. ``bbox_source='input'`` paints the given boxes (mapped to the canvas, clipped
    to it) into the box map instead.

    Required Keys:

    - keypoints (N, K_in, 2) float, original image px (N may be 0); a (N, K_in, 3) array is
      read as (x, y, score)
    - keypoint_scores (N, K_in) (optional, default 1; or the third column)
    - bboxes (N, 4) (optional; only with ``bbox_source='input'``)
    - image_size (2,) (w, h) original px; else ``ori_shape`` (h, w), the ``img``'s shape or
      the ``camera``'s image size
    - camera (optional): :class:`Camera` or ``Camera.to_dict()``, for
      ``depth_norm_factor``

    Modified Keys:

    - image_size (set when absent)

    Added Keys:

    - affine (2, 3) float64: original px → canvas px
    - input_size (2,) int64 (canvas w, h); heatmap_size (2,) int64 (W, H)
    - agr (K + 4, H, W) float32: heatmaps then the box map
    - agr_keypoints (N', K, 2) float64: the rendered people's joints in the model's joint set,
      original px (NaN where invalid); agr_keypoints_visible (N', K) bool (valid);
      agr_keypoint_scores (N', K) float64; agr_person_index (N',) int64 (their rows in the
      input)
    - agr_sigma (N',) float64 heatmap px; agr_bboxes_hm (N', 4) float32 boxes painted,
      heatmap px
    - depth_norm_factor (float, mm; only with a camera): as ``GenerateVirtualPoseAGR``

    Args:
        input_size, heatmap_size, root_index, base_sigma, bbox_extension, box_radius,
            legacy_peak_offset, legacy_box_paint, paint_offcanvas_roots, sigma_ref_size:
            the rendering settings, as :class:`GenerateVirtualPoseAGR` (same defaults).
        input_joint_set: ``'coco17'`` (default) or ``'virtualpose17'``.
        joint_set: the model's joint set (``'virtualpose17'``).
        score_thr: joints scoring below it are invalid (default 0).
        score_as_amplitude: Gaussian peak = score (default False: 1).
        bbox_source: ``'keypoints'`` (default) or ``'input'``.
    """

    def __init__(self, input_size: Sequence[int] = (960, 512),
                 heatmap_size: Sequence[int] = (240, 128), root_index: int = 2,
                 base_sigma: float = 3.0, bbox_extension: Sequence[float] = (0.25, 0.12),
                 box_radius: int = 15, legacy_peak_offset: bool = False,
                 legacy_box_paint: bool = False, paint_offcanvas_roots: bool = False,
                 input_joint_set: str = 'coco17', joint_set: str = 'virtualpose17',
                 score_thr: float = 0.0, score_as_amplitude: bool = False,
                 bbox_source: str = 'keypoints', sigma_ref_size: float = 96.0):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        if self.input_size[0] * self.heatmap_size[1] != self.input_size[1] * \
                self.heatmap_size[0]:
            raise ValueError(f'RenderAGRFromKeypoints: input_size {self.input_size} and '
                             f'heatmap_size {self.heatmap_size} must have one stride for x '
                             'and y')
        self.joint_set = get_joint_set(joint_set)
        if input_joint_set not in ('coco17', self.joint_set.name):
            raise ValueError(f"RenderAGRFromKeypoints: input_joint_set must be 'coco17' or "
                             f"{self.joint_set.name!r}, got {input_joint_set!r}")
        if input_joint_set == 'coco17' and self.joint_set.name != 'virtualpose17':
            raise ValueError('RenderAGRFromKeypoints: COCO-17 keypoints convert to '
                             f"'virtualpose17' only, not {self.joint_set.name!r}")
        self.input_joint_set = input_joint_set
        self.root_index = int(root_index)
        if not 0 <= self.root_index < self.joint_set.num_joints:
            raise ValueError(f'root_index {root_index} is outside the '
                             f'{self.joint_set.num_joints} joints of {self.joint_set.name}')
        self.base_sigma = float(base_sigma)
        self.sigma_ref_size = float(sigma_ref_size)
        if not (self.base_sigma > 0 and self.sigma_ref_size > 0):
            raise ValueError('RenderAGRFromKeypoints: base_sigma and sigma_ref_size must be '
                             f'> 0, got {base_sigma} and {sigma_ref_size}')
        self.bbox_extension = tuple(float(v) for v in bbox_extension)
        self.box_radius = int(box_radius)
        self.legacy_peak_offset = bool(legacy_peak_offset)
        self.legacy_box_paint = bool(legacy_box_paint)
        self.paint_offcanvas_roots = bool(paint_offcanvas_roots)
        self.score_thr = float(score_thr)
        self.score_as_amplitude = bool(score_as_amplitude)
        if bbox_source not in ('keypoints', 'input'):
            raise ValueError("RenderAGRFromKeypoints: bbox_source must be 'keypoints' or "
                             f"'input', got {bbox_source!r}")
        self.bbox_source = bbox_source

    def render_kwargs(self) -> dict:
        """Keyword arguments of ``render_agr_from_image_points``."""
        return dict(input_size=self.input_size, heatmap_size=self.heatmap_size,
                    root_index=self.root_index, base_sigma=self.base_sigma,
                    bbox_extension=self.bbox_extension, box_radius=self.box_radius,
                    legacy_peak_offset=self.legacy_peak_offset,
                    legacy_box_paint=self.legacy_box_paint,
                    paint_offcanvas_roots=self.paint_offcanvas_roots,
                    sigma_ref_size=self.sigma_ref_size)

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _image_size(results: dict) -> np.ndarray:
        size = results.get('image_size')
        if size is None and results.get('ori_shape') is not None:
            h, w = results['ori_shape'][:2]
            size = (w, h)
        if size is None and results.get('img') is not None:
            h, w = np.asarray(results['img']).shape[:2]
            size = (w, h)
        if size is None and results.get('camera') is not None:
            cam = results['camera']
            size = cam.get('image_size') if isinstance(cam, dict) else cam.image_size
        if size is None or np.size(size) != 2:
            raise ValueError('RenderAGRFromKeypoints: the image size (w, h) is unknown: give '
                             'image_size, ori_shape, img or a camera with image_size')
        size = np.asarray(size, dtype=np.float64).reshape(2)
        if not (np.isfinite(size).all() and (size > 0).all()):
            raise ValueError(f'RenderAGRFromKeypoints: image_size must be positive, got '
                             f'{size.tolist()}')
        return size

    def _keypoints(self, results: dict):
        if 'keypoints' not in results:
            raise KeyError("RenderAGRFromKeypoints: the results have no 'keypoints' "
                           '(N, K, 2) image px')
        k = np.asarray(results['keypoints'], dtype=np.float64)
        Kin = 17 if self.input_joint_set == 'coco17' else self.joint_set.num_joints
        if k.size == 0:
            k = k.reshape(0, Kin, 2)
        s = results.get('keypoint_scores')
        if k.ndim == 3 and k.shape[-1] == 3:
            if s is None:
                s = k[..., 2]
            k = k[..., :2]
        if k.ndim != 3 or k.shape[1:] != (Kin, 2):
            raise ValueError(f'RenderAGRFromKeypoints: keypoints of shape {k.shape}; expected '
                             f'(N, {Kin}, 2) ({self.input_joint_set} joints, x y in image '
                             'px)')
        N = k.shape[0]
        s = np.ones((N, Kin)) if s is None else np.asarray(s, dtype=np.float64)
        if s.size == 0 and N == 0:
            s = s.reshape(0, Kin)
        if s.shape != (N, Kin):
            raise ValueError(f'RenderAGRFromKeypoints: keypoint_scores of shape {s.shape}, '
                             f'expected {(N, Kin)}')
        return k, s

    # ------------------------------------------------------------------ transform
    def transform(self, results: dict) -> dict:
        size = self._image_size(results)
        k, s = self._keypoints(results)
        N = k.shape[0]
        K = self.joint_set.num_joints
        with np.errstate(invalid='ignore'):
            valid = np.isfinite(k).all(-1) & (np.abs(k) < MAX_ABS_PX).all(-1) & \
                np.isfinite(s) & (s >= self.score_thr)
        if self.input_joint_set == 'coco17':
            k3 = np.concatenate([np.where(valid[..., None], k, 0.0), np.zeros((N, 17, 1))],
                                -1)
            j3, valid = coco17_to_virtualpose17(k3, visible=valid)
            j = j3[..., :2].reshape(N, K, 2)
            valid = np.asarray(valid, bool).reshape(N, K)
            sc = coco17_scores_to_virtualpose17(np.where(np.isfinite(s), s, 0.0)).reshape(N, K)
        else:
            j, sc = k.copy(), s.copy()
        keep = valid[:, self.root_index] if N else np.zeros(0, bool)
        index = np.flatnonzero(keep).astype(np.int64)
        j, valid, sc = j[keep], valid[keep], sc[keep]
        P = len(index)
        # invalid joints → the mean of the person's valid joints: inside their extent, so
        # σ (extent) and the box (min / max) are those of the valid joints only
        if P:
            mean = (np.where(valid[..., None], j, 0.0).sum(1) /
                    valid.sum(1, keepdims=True))
            filled = np.where(valid[..., None], j, mean[:, None])
        else:
            filled = np.zeros((0, K, 2))
        W, H = self.heatmap_size
        if P:
            A, canvas, agr = render_agr_from_image_points(filled, size, **self.render_kwargs())
        else:  # nobody: an empty AGR (render_agr needs at least one person)
            A = letterbox_affine(size, self.input_size)
            canvas = np.zeros((0, K, 2))
            agr = dict(heatmaps=np.zeros((K, H, W), np.float32),
                       box_map=np.zeros((4, H, W), np.float32),
                       bbox_hm=np.zeros((0, 4), np.float32), sigma=np.zeros(0))
        heatmaps, box_map, boxes_hm = agr['heatmaps'], agr['box_map'], agr['bbox_hm']
        if P and (not valid.all() or self.score_as_amplitude):
            stride = np.asarray(self.input_size, np.float64) / np.asarray(self.heatmap_size,
                                                                          np.float64)
            amp = np.clip(sc, 0.0, 1.0) if self.score_as_amplitude else None
            heatmaps = render_gaussian_heatmaps(canvas / stride, self.heatmap_size,
                                                agr['sigma'], visible=valid, amplitudes=amp,
                                                legacy_peak_offset=self.legacy_peak_offset)
        if self.bbox_source == 'input' and P:
            box_map, boxes_hm = self._input_boxes(results, keep, A, canvas, N)
        results['image_size'] = size
        results['affine'] = A
        results['input_size'] = np.array(self.input_size, dtype=np.int64)
        results['heatmap_size'] = np.array(self.heatmap_size, dtype=np.int64)
        results['agr'] = np.concatenate([heatmaps, box_map], 0).astype(np.float32)
        results['agr_keypoints'] = np.where(valid[..., None], j, np.nan)
        results['agr_keypoints_visible'] = valid
        results['agr_keypoint_scores'] = sc
        results['agr_person_index'] = index
        results['agr_sigma'] = agr['sigma']
        results['agr_bboxes_hm'] = np.asarray(boxes_hm, np.float32)
        cam = results.get('camera')
        if cam is not None:
            f = cam['f'] if isinstance(cam, dict) else cam.numpy().f
            results['depth_norm_factor'] = depth_norm_factor(np.asarray(f).reshape(2), A)
        return results

    def _input_boxes(self, results: dict, keep: np.ndarray, A: np.ndarray,
                     canvas: np.ndarray, N: int):
        """The box map painted from the given boxes (``bbox_source='input'``)."""
        if results.get('bboxes') is None:
            raise KeyError("RenderAGRFromKeypoints: bbox_source='input' needs 'bboxes' "
                           '(N, 4) x1 y1 x2 y2 image px')
        b = np.asarray(results['bboxes'], dtype=np.float64)
        if b.shape != (N, 4) or not np.isfinite(b).all():
            raise ValueError(f'RenderAGRFromKeypoints: bboxes of shape {b.shape} (or not '
                             f'finite); expected ({N}, 4) x1 y1 x2 y2 image px')
        b = b[keep]
        corners = apply_affine(b.reshape(-1, 2, 2), A)
        lim = np.asarray(self.input_size, np.float64)
        boxes = np.concatenate([np.clip(corners[:, 0], 0, lim), np.clip(corners[:, 1], 0, lim)],
                               -1)
        st = self.input_size[0] / self.heatmap_size[0]
        roots = canvas[:, self.root_index]
        wh = np.stack([roots[:, 0] - boxes[:, 0], roots[:, 1] - boxes[:, 1],
                       boxes[:, 2] - roots[:, 0], boxes[:, 3] - roots[:, 1]], -1) / st
        on_canvas = (roots[:, 0] >= 0) & (roots[:, 1] >= 0) & (roots[:, 0] < lim[0]) & \
            (roots[:, 1] < lim[1])
        pix = root_pixel(roots, st, legacy_truncation=self.legacy_box_paint)
        box_map = paint_box_map(pix, wh, self.heatmap_size, radius=self.box_radius,
                                legacy_exclusive_end=self.legacy_box_paint,
                                paint=None if self.paint_offcanvas_roots else on_canvas)
        return box_map, boxes / st

    def __repr__(self):
        return (f'{self.__class__.__name__}(input_size={self.input_size}, heatmap_size='
                f'{self.heatmap_size}, input_joint_set={self.input_joint_set!r}, score_thr='
                f'{self.score_thr}, score_as_amplitude={self.score_as_amplitude}, '
                f'bbox_source={self.bbox_source!r})')
