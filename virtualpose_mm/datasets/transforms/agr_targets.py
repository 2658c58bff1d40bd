"""VirtualPose stage 1 (the AGR network): letterbox an image and make its 2D targets.

A real image of a 2D dataset (MMPose's ``CocoDataset`` in ``data_mode='bottomup'``: all
people of an image) or of a 3D dataset with a camera (``MuCo3DHPDataset``,
``PanopticMonoDataset``) goes through

``LoadImage`` → ``LetterboxImage`` → ``GenerateAGRTargets`` → ``PackPoseInputs``

and comes out as ``inputs`` (3, ih, iw) uint8 (the letterboxed canvas, 960×512 in the
published setting) and a ``PoseDataSample`` with ``gt_fields.heatmaps`` (K, H, W) and the
per-person box targets in ``gt_instance_labels`` (``keypoint_weights``, ``box_targets``,
``root_ind``, ``root_mask``), what :class:`~virtualpose_mm.models.heads.VirtualPoseAGRHead`
reads (reference: wkom/VirtualPose ``JointsDataset.__getitem__`` /
``generate_target_heatmap``, ``dataset/coco.py``, ``dataset/muco.py``,
``dataset/panoptic.py``).
"""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.datasets.transforms import PackPoseInputs

from ...geometry.camera import Camera
from ...registry import TRANSFORMS
from ...structures.heatmaps import adaptive_sigma, render_gaussian_heatmaps, root_pixel
from ..joint_sets import (coco17_to_panoptic15_2d, coco17_to_virtualpose17_2d, convert_joints,
                          get_joint_set)
from .multiview import apply_affine, letterbox_affine

__all__ = ['LetterboxImage', 'GenerateAGRTargets', 'AGR_LABEL_MAPPING']

#: ``PackPoseInputs`` label table with the AGR box targets (set into the results by
#: :class:`GenerateAGRTargets`, so MMPose's packer needs no change).
AGR_LABEL_MAPPING = dict(PackPoseInputs.label_mapping_table, box_targets='box_targets',
                         root_ind='root_ind', root_mask='root_mask')

#: 2D joint-set conversions for targets (nothing guessed; see joint_sets.py).
_CONVERT_2D = {('coco17', 'virtualpose17'): coco17_to_virtualpose17_2d,
               ('coco17', 'panoptic15'): coco17_to_panoptic15_2d}


@TRANSFORMS.register_module()
class LetterboxImage(BaseTransform):
    """Letterbox one image into the network canvas and record the affine.

    The affine is :func:`~virtualpose_mm.datasets.transforms.letterbox_affine` (uniform
    scale, centred, no rotation; the reference's ``get_affine_transform(center=(w/2, h/2),
    scale=get_scale((w, h), image_size), rot=0)``); the image is warped with it (bilinear,
    zero padding). Keypoints are not touched: :class:`GenerateAGRTargets` maps them with
    the recorded affine.

    Required Keys:

    - img (h, w, 3)

    Modified Keys:

    - img (ih, iw, 3), img_shape (ih, iw)

    Added Keys:

    - affine (2, 3) float64: original px → canvas px
    - input_size (2,) int64: canvas (iw, ih)
    - image_size (2,) float64: original (w, h)

    Args:
        input_size: canvas (iw, ih) (960, 512).
    """

    def __init__(self, input_size: Sequence[int] = (960, 512)):
        if len(input_size) != 2 or min(input_size) <= 0:
            raise ValueError(f'LetterboxImage: input_size must be (w, h) > 0, got {input_size}')
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError('LetterboxImage: the results have no img (put LoadImage before it)')
        img = results['img']
        h, w = img.shape[:2]
        A = letterbox_affine((w, h), self.input_size)
        iw, ih = self.input_size
        results['img'] = cv2.warpAffine(img, A, (iw, ih), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        results['img_shape'] = (ih, iw)
        results['affine'] = A
        results['input_size'] = np.array(self.input_size, dtype=np.int64)
        results['image_size'] = np.array([w, h], dtype=np.float64)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(input_size={self.input_size})'


@TRANSFORMS.register_module()
class GenerateAGRTargets(BaseTransform):
    """The stage-1 targets of every person of a letterboxed image.

    Keypoints (original px) come from ``keypoints`` / ``keypoints_visible`` (2D datasets,
    ``source='keypoints'``) or are projected from ``gt_keypoints_3d`` with the frame's
    ``camera`` (``source='keypoints_3d'``; visible = 3D-visible and in front of the
    camera), are converted to ``joint_set`` (COCO-17 → VirtualPose-17 by
    :func:`~virtualpose_mm.datasets.joint_sets.coco17_to_virtualpose17_2d`: neck and mid-hip
    from the shoulders and hips, head top / spine / head invisible; COCO-17 → Panoptic-15
    by :func:`~virtualpose_mm.datasets.joint_sets.coco17_to_panoptic15_2d`: neck and mid-hip
    made the same way, the other 13 by name) and mapped into the canvas with ``affine``.
    A joint is *visible* when it is annotated and inside ``[0, iw) × [0, ih)`` of the
    canvas (the reference's test) and, with ``inside_image``, inside the original image
    ``[0, w − 1] × [0, h − 1]`` too (the reference's Panoptic ``_get_db`` test: without
    it a joint projected just beside the image is a target on the letterbox padding).

    Targets (heatmap px = canvas px / stride, the pixel-index convention of
    :mod:`virtualpose_mm.structures.heatmaps`):

    * ``heatmaps``: one Gaussian per visible joint and person, merged by maximum, σ from the
      person's size (:func:`~virtualpose_mm.structures.heatmaps.adaptive_sigma` over its
      visible joints: ``σ = 3·√(2·clip(s², 48², 192²))/96``, s the larger extent in heatmap
      px; the reference's ``SIGMA_SCALE``);
    * ``keypoint_weights`` (N, K): 1 for a visible joint; the head's heatmap loss weighs
      joint k of an image by the maximum over its people (the reference's
      ``target_weight``: 1 where the joint is visible for any person);
    * ``box_targets`` (N, 4): (l, t, r, b) = (root − x1, root − y1, x2 − root, y2 − root) /
      stride in heatmap px, the box map values at the root pixel; the box is the person's
      visible joints grown by ``bbox_extension`` and clipped to the canvas
      (``bbox_source='keypoints'``, the reference's MuCo boxes) or the annotated box
      (``bbox_source='annotation'``: ``bbox`` (N, 4) x1 y1 x2 y2 original px, scaled by
      ``bbox_padding`` about its centre, the reference's COCO ``process_bbox``, mapped into
      the canvas and, with ``clip_boxes``, clipped to it);
    * ``root_ind`` (N,): flat index row·W + col of the root pixel (nearest pixel; the
      reference's truncation ``int(x / stride)`` with ``legacy_root_pixel``), 0 where
      ``root_mask`` is 0; ``root_mask`` (N,): 1 where the root joint is visible.

    Deviation from the reference (sound default): the reference trains the box of a COCO
    person whose hips are unannotated at the (meaningless) pixel its zero coordinates map
    to; here such a person has ``root_mask`` 0. With ``legacy_peak_offset`` the heatmap
    peaks are placed as the reference renders them (see :mod:`~virtualpose_mm.structures.
    heatmaps`).

    Required Keys:

    - affine (2, 3) (from :class:`LetterboxImage`)
    - image_size (2,) original (w, h) px (from :class:`LetterboxImage`), for
      ``inside_image``
    - ``source='keypoints'``: keypoints (N, K_src, 2) original px, keypoints_visible
      (N, K_src) (or (N, K_src, 1)); bbox (N, 4) for ``bbox_source='annotation'``
    - ``source='keypoints_3d'``: camera (:class:`Camera` or its dict), gt_keypoints_3d
      (N, K_src, 3) world mm, gt_keypoints_3d_visible (N, K_src) (optional)

    Modified Keys:

    - keypoints (N, K, 2) float32: original px, in ``joint_set`` (set for both sources)
    - keypoints_visible (N, K) float32: visible as above

    Added Keys:

    - heatmaps (K, H, W) float32 in [0, 1]
    - keypoint_weights (N, K) float32
    - box_targets (N, 4) float32 heatmap px; root_ind (N,) int64; root_mask (N,) float32
    - transformed_keypoints (N, K, 2) float32 canvas px
    - agr_sigma (N,) float64 heatmap px
    - heatmap_size (2,) int64 (W, H)
    - label_mapping_table: ``PackPoseInputs``'s table plus the box targets
      (:data:`AGR_LABEL_MAPPING`)

    Args:
        input_size: canvas (iw, ih) (960, 512); must match the affine's canvas.
        heatmap_size: (W, H) (240, 128); one stride for x and y.
        joint_set: joint set of the targets (``'virtualpose17'``).
        source_joint_set: joint set of the keypoints (default ``joint_set``; ``'coco17'``
            for COCO).
        source: ``'keypoints'`` or ``'keypoints_3d'`` (above).
        root_index: root joint of ``joint_set`` (2, mid-hip).
        base_sigma: σ of a person of the reference size, heatmap px (3).
        bbox_source: ``'keypoints'`` or ``'annotation'``.
        bbox_extension: box growth per side, fraction of (width, height) (0.25, 0.12).
        bbox_padding: scale of annotated boxes about their centre (1.25).
        clip_boxes: clip annotated boxes to the canvas (keypoint boxes always are).
        legacy_peak_offset: reference heatmap peak placement (default False).
        legacy_root_pixel: reference root pixel ``int(x / stride)`` (default False).
        min_depth: mm; projected joints closer to the camera plane are invisible.
        inside_image: a joint is visible only inside the original image too (above;
            default False: COCO's and MuCo's reference targets; True: the reference's
            Panoptic).
    """

    def __init__(self, input_size: Sequence[int] = (960, 512),
                 heatmap_size: Sequence[int] = (240, 128), joint_set: str = 'virtualpose17',
                 source_joint_set: Optional[str] = None, source: str = 'keypoints',
                 root_index: int = 2, base_sigma: float = 3.0, bbox_source: str = 'keypoints',
                 bbox_extension: Sequence[float] = (0.25, 0.12), bbox_padding: float = 1.25,
                 clip_boxes: bool = True, legacy_peak_offset: bool = False,
                 legacy_root_pixel: bool = False, min_depth: float = 1.0,
                 inside_image: bool = False):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        if self.input_size[0] * self.heatmap_size[1] != self.input_size[1] * \
                self.heatmap_size[0]:
            raise ValueError(f'GenerateAGRTargets: input_size {self.input_size} and '
                             f'heatmap_size {self.heatmap_size} must have one stride for x '
                             'and y')
        self.stride = self.input_size[0] / self.heatmap_size[0]
        self.joint_set = get_joint_set(joint_set)
        self.source_joint_set = get_joint_set(source_joint_set or joint_set)
        js, ss = self.joint_set.name, self.source_joint_set.name
        if ss != js and (ss, js) not in _CONVERT_2D:
            convert_joints(np.zeros((1, self.source_joint_set.num_joints, 2)), ss, js)
        if source not in ('keypoints', 'keypoints_3d'):
            raise ValueError(f"GenerateAGRTargets: source must be 'keypoints' or "
                             f"'keypoints_3d', got {source!r}")
        self.source = source
        if bbox_source not in ('keypoints', 'annotation'):
            raise ValueError(f"GenerateAGRTargets: bbox_source must be 'keypoints' or "
                             f"'annotation', got {bbox_source!r}")
        if bbox_source == 'annotation' and source != 'keypoints':
            raise ValueError("GenerateAGRTargets: bbox_source='annotation' needs "
                             "source='keypoints' (annotated boxes of a 2D dataset)")
        self.bbox_source = bbox_source
        self.root_index = int(root_index)
        if not 0 <= self.root_index < self.joint_set.num_joints:
            raise ValueError(f'GenerateAGRTargets: root_index {root_index} is outside the '
                             f'{self.joint_set.num_joints} joints of {js}')
        self.base_sigma = float(base_sigma)
        self.bbox_extension = tuple(float(v) for v in bbox_extension)
        self.bbox_padding = float(bbox_padding)
        self.clip_boxes = bool(clip_boxes)
        self.legacy_peak_offset = bool(legacy_peak_offset)
        self.legacy_root_pixel = bool(legacy_root_pixel)
        self.min_depth = float(min_depth)
        self.inside_image = bool(inside_image)

    # ------------------------------------------------------------------ inputs
    def _keypoints_2d(self, results: dict):
        """(N, K_src, 2) original px and (N, K_src) bool visibility."""
        Ks = self.source_joint_set.num_joints
        if self.source == 'keypoints':
            if 'keypoints' not in results:
                raise KeyError("GenerateAGRTargets(source='keypoints'): the results have no "
                               'keypoints (N, K, 2)')
            kp = np.asarray(results['keypoints'], dtype=np.float64)
            if kp.size == 0:
                kp = kp.reshape(0, Ks, 2)
            vis = results.get('keypoints_visible')
            vis = np.ones(kp.shape[:2], bool) if vis is None else np.asarray(vis)
            if vis.ndim == 3:
                vis = vis[..., 0]
            if kp.ndim != 3 or kp.shape[1:] != (Ks, 2) or vis.shape != kp.shape[:2]:
                raise ValueError(f'GenerateAGRTargets: keypoints {kp.shape} / '
                                 f'keypoints_visible {vis.shape} do not fit (N, {Ks}, 2) / '
                                 f'(N, {Ks}) of joint set {self.source_joint_set.name}')
            return kp, vis > 0
        cam = results.get('camera')
        if cam is None:
            raise KeyError("GenerateAGRTargets(source='keypoints_3d'): the frame has no camera")
        if isinstance(cam, dict):
            cam = Camera.from_dict(cam, source='frame camera')
        cam = cam.numpy()
        X = np.asarray(results['gt_keypoints_3d'], dtype=np.float64)
        if X.size == 0:
            X = X.reshape(0, Ks, 3)
        if X.ndim != 3 or X.shape[1:] != (Ks, 3):
            raise ValueError(f'GenerateAGRTargets: gt_keypoints_3d has shape {X.shape}, '
                             f'expected (N, {Ks}, 3) for joint set '
                             f'{self.source_joint_set.name}')
        N = X.shape[0]
        vis = results.get('gt_keypoints_3d_visible')
        vis = np.ones((N, Ks), bool) if vis is None else \
            np.asarray(vis).astype(bool).reshape(N, Ks, -1)[..., 0]
        if N == 0:
            return np.zeros((0, Ks, 2)), vis
        depth = cam.depth(X.reshape(-1, 3)).reshape(N, Ks)
        uv = cam.project(X.reshape(-1, 3), min_depth=self.min_depth).reshape(N, Ks, 2)
        return uv, vis & (depth > self.min_depth) & np.isfinite(uv).all(-1)

    def _convert(self, kp, vis):
        ss, js = self.source_joint_set.name, self.joint_set.name
        if ss == js:
            return kp, vis
        if (ss, js) in _CONVERT_2D:
            return _CONVERT_2D[(ss, js)](kp, vis)
        out, v = convert_joints(kp, ss, js, visible=vis)
        return np.asarray(out, np.float64), np.asarray(v, bool)

    def _boxes(self, results, canvas, vis, A) -> np.ndarray:
        """(N, 4) x1 y1 x2 y2 canvas px."""
        iw, ih = self.input_size
        N = canvas.shape[0]
        if self.bbox_source == 'annotation':
            if 'bbox' not in results:
                raise KeyError("GenerateAGRTargets(bbox_source='annotation'): the results "
                               'have no bbox (N, 4)')
            b = np.asarray(results['bbox'], dtype=np.float64).reshape(-1, 4)
            if b.shape[0] != N:
                raise ValueError(f'GenerateAGRTargets: {b.shape[0]} boxes for {N} people')
            c, half = (b[:, :2] + b[:, 2:]) / 2, (b[:, 2:] - b[:, :2]) / 2 * self.bbox_padding
            b = apply_affine(np.stack([c - half, c + half], 1), A).reshape(N, 4)
            if self.clip_boxes:
                b = np.clip(b, 0, [iw, ih, iw, ih])
            return b
        out = np.zeros((N, 4))
        ext = np.asarray(self.bbox_extension)
        for p in range(N):  # a handful of people
            if not vis[p].any():
                continue
            pts = canvas[p, vis[p]]
            mn, mx = pts.min(0), pts.max(0)
            e = (mx - mn) * ext
            out[p] = np.concatenate([np.clip(mn - e, 0, [iw, ih]), np.clip(mx + e, 0, [iw, ih])])
        return out

    # ------------------------------------------------------------------ transform
    def transform(self, results: dict) -> dict:
        if 'affine' not in results:
            raise KeyError('GenerateAGRTargets: the results have no affine (put '
                           'LetterboxImage before it)')
        A = np.asarray(results['affine'], dtype=np.float64).reshape(2, 3)
        if 'input_size' in results and tuple(int(v) for v in np.ravel(
                results['input_size'])) != self.input_size:
            raise ValueError(f'GenerateAGRTargets: the canvas is '
                             f'{tuple(np.ravel(results["input_size"]))}, the transform was '
                             f'configured for input_size {self.input_size}')
        kp, vis = self._convert(*self._keypoints_2d(results))
        N, K = kp.shape[0], self.joint_set.num_joints
        iw, ih = self.input_size
        W, H = self.heatmap_size
        st = self.stride
        canvas = apply_affine(kp, A) if N else np.zeros((0, K, 2))
        inside = (canvas[..., 0] >= 0) & (canvas[..., 1] >= 0) & (canvas[..., 0] < iw) & \
            (canvas[..., 1] < ih) & np.isfinite(canvas).all(-1)
        vis = vis & inside
        if self.inside_image and N:
            if 'image_size' not in results:
                raise KeyError('GenerateAGRTargets(inside_image=True): the results have no '
                               'image_size (w, h) of the original image (put LetterboxImage '
                               'before it)')
            w, h = np.asarray(results['image_size'], dtype=np.float64).reshape(2)
            vis = vis & (kp[..., 0] >= 0) & (kp[..., 1] >= 0) & (kp[..., 0] <= w - 1) & \
                (kp[..., 1] <= h - 1)

        joints_hm = canvas / st
        if N:
            sigma, _ = adaptive_sigma(joints_hm, base_sigma=self.base_sigma, visible=vis)
            heatmaps = render_gaussian_heatmaps(joints_hm, (W, H), sigma, visible=vis,
                                                legacy_peak_offset=self.legacy_peak_offset)
        else:
            sigma, heatmaps = np.zeros(0), np.zeros((K, H, W), np.float32)

        boxes = self._boxes(results, canvas, vis, A)
        mask = vis[:, self.root_index] if N else np.zeros(0, bool)
        roots = canvas[:, self.root_index] if N else np.zeros((0, 2))
        wh = np.concatenate([roots - boxes[:, :2], boxes[:, 2:] - roots], -1) / st
        wh = np.where(mask[:, None], np.nan_to_num(wh), 0.0)
        pix = root_pixel(np.nan_to_num(roots), st, legacy_truncation=self.legacy_root_pixel)
        col, row = np.clip(pix[:, 0], 0, W - 1), np.clip(pix[:, 1], 0, H - 1)
        ind = np.where(mask, row * W + col, 0)

        results['keypoints'] = kp.astype(np.float32)
        results['keypoints_visible'] = vis.astype(np.float32)
        results['transformed_keypoints'] = canvas.astype(np.float32)
        results['heatmaps'] = heatmaps.astype(np.float32)
        results['keypoint_weights'] = vis.astype(np.float32)
        results['box_targets'] = wh.astype(np.float32)
        results['root_ind'] = ind.astype(np.int64)
        results['root_mask'] = mask.astype(np.float32)
        results['agr_sigma'] = sigma
        results['heatmap_size'] = np.array(self.heatmap_size, dtype=np.int64)
        results['label_mapping_table'] = dict(AGR_LABEL_MAPPING)
        if self.bbox_source == 'keypoints' and 'bbox' in results and \
                np.asarray(results['bbox']).reshape(-1, 4).shape[0] != N:
            results.pop('bbox')  # would not match the people in the packed instances
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(input_size={self.input_size}, heatmap_size='
                f'{self.heatmap_size}, joint_set={self.joint_set.name!r}, source_joint_set='
                f'{self.source_joint_set.name!r}, source={self.source!r}, bbox_source='
                f'{self.bbox_source!r}, inside_image={self.inside_image})')
