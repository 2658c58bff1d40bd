"""VirtualPose transforms: render the AGR of a monocular frame and pack it for the model.

A monocular frame (virtual or real, :mod:`virtualpose_mm.datasets.datasets.base.mono_base`)
goes through

``GenerateVirtualPoseAGR`` → ``GenerateRootTarget3D`` → ``PackVirtualPoseInputs``

and comes out as ``dict(inputs=(1, K + 4, 128, 240) AGR, data_samples=PoseDataSample)`` in
the layout every model reads (the multi-view one with V = 1,
:mod:`~virtualpose_mm.datasets.transforms.formatting`).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpose.structures import PoseDataSample

from ...geometry.camera import Camera
from ...registry import TRANSFORMS
from ...structures.heatmaps import render_gaussian_heatmaps
from ...structures.targets import render_agr
from ..joint_sets import get_joint_set
from .formatting import PackMultiViewPoseInputs, pack_gt_people
from .multiview import apply_affine, frame_rng, letterbox_affine

__all__ = ['GenerateVirtualPoseAGR', 'PackVirtualPoseInputs', 'reference_agr_noise',
           'depth_norm_factor', 'render_agr_from_image_points']


def reference_agr_noise(joint_set: str = 'virtualpose17') -> dict:
    """The training noise of the reference AGR (``SynJointsDataset.generate_input_heatmap``
    with ``HEATMAP.NOISE``), as a ``noise`` config of :class:`GenerateVirtualPoseAGR`:

    * every joint's Gaussian centre moves by N(0, (σ/4)²) heatmap px per axis;
    * every joint's peak is scaled by 0.9 + N(0, 0.03²) with probability 0.8 (else 1);
    * then dropped by a factor: elbows × 0.7 and wrists × 0.5 with probability 0.35,
      spine and head × 0.7 with probability 0.35, every other joint × 0.7 with
      probability 0.25.

    The reference does not jitter σ (``sigma_jitter`` 0).
    """
    js = get_joint_set(joint_set)
    drops = [dict(joints=('l-elbow', 'r-elbow'), prob=0.35, factor=0.7),
             dict(joints=('l-wrist', 'r-wrist'), prob=0.35, factor=0.5)]
    if 'spine' in js.joint_names:
        drops.append(dict(joints=('spine', 'head'), prob=0.35, factor=0.7))
    return dict(position_std=0.25, sigma_jitter=0.0, amplitude_prob=0.8, amplitude_mean=0.9,
                amplitude_std=0.03, drops=drops, default_drop=dict(prob=0.25, factor=0.7))


def depth_norm_factor(f, affine) -> float:
    """VirtualPose's depth normalisation: the focal length in canvas px,
    ``sqrt(fx·fy / ((200·s_x)(200·s_y)) · W·H)`` of the reference, which for a letterbox
    (uniform scale k, ``200·s = canvas / k``) equals ``sqrt(fx·fy·|det A|)``, A the 2×2
    part of the affine. The depth estimator regresses depth / this factor."""
    A = np.asarray(affine, dtype=np.float64)[:2, :2]
    return float(np.sqrt(float(f[0]) * float(f[1]) * abs(np.linalg.det(A))))


def render_agr_from_image_points(keypoints, image_size: Sequence[float],
                                 input_size: Sequence[int] = (960, 512),
                                 heatmap_size: Sequence[int] = (240, 128), root_index: int = 2,
                                 base_sigma: float = 3.0,
                                 bbox_extension: Sequence[float] = (0.25, 0.12),
                                 box_radius: int = 15, legacy_peak_offset: bool = False,
                                 legacy_box_paint: bool = False,
                                 paint_offcanvas_roots: bool = False,
                                 render_heatmaps: bool = True,
                                 sigma_ref_size: float = 96.0):
    """The one AGR rendering of VirtualPose from 2D joints in ORIGINAL image pixels, shared
    by :class:`GenerateVirtualPoseAGR` (virtual / real frames: the projected 3D joints) and
    :class:`~virtualpose_mm.datasets.transforms.RenderAGRFromKeypoints` (a 2D model's
    keypoints), so both produce the same AGR for the same 2D points.

    The letterbox affine ``A = letterbox_affine(image_size, input_size)`` maps the joints
    to canvas px, and :func:`~virtualpose_mm.structures.render_agr` renders the heatmaps
    (person-size σ), the box map and the detection targets at ``heatmap_size``.

    Args:
        keypoints: (N, K, 2) original image px (N may be 0).
        image_size: original (w, h).
        the others: as :class:`GenerateVirtualPoseAGR`.

    Returns:
        ``(A (2, 3) float64, canvas (N, K, 2) float64 canvas px, render_agr's dict)``.
    """
    A = letterbox_affine(image_size, input_size)
    canvas = apply_affine(keypoints, A)
    agr = render_agr(canvas, image_size=input_size, heatmap_size=heatmap_size,
                     root_index=root_index, base_sigma=base_sigma,
                     bbox_extension=bbox_extension, box_radius=box_radius,
                     legacy_peak_offset=legacy_peak_offset, legacy_box_paint=legacy_box_paint,
                     paint_offcanvas_roots=paint_offcanvas_roots,
                     render_heatmaps=render_heatmaps, sigma_ref_size=sigma_ref_size)
    return A, canvas, agr


@TRANSFORMS.register_module()
class GenerateVirtualPoseAGR(BaseTransform):
    """Render VirtualPose's AGR (K heatmaps + 4-channel box map) from the frame's 3D people.

    The people are projected with the frame's camera (distortion included), letterboxed to
    the canvas (``input_size``, 960×512; affine of
    :func:`~virtualpose_mm.datasets.transforms.letterbox_affine`, the reference's
    ``get_affine_transform(center=(w/2, h/2), scale=get_scale(...), rot=0)``) and rendered
    at ``heatmap_size`` (240×128, stride 4) by :func:`~virtualpose_mm.structures.render_agr`
    (person-size σ, boxes grown by ``bbox_extension``, box map painted around each root;
    the reference quirks are its ``legacy_*`` / ``paint_offcanvas_roots`` options, off by
    default).

    **Training noise** (``noise``; None = off, and then the AGR is exactly
    ``render_agr``'s): a dict with the knobs below, ``True`` for the reference's values
    (:func:`reference_agr_noise`). Only the heatmaps are noisy; the box map and every
    target come from the exact projections.

    * ``position_std``: each joint's Gaussian centre moves by N(0, (position_std·σ)²)
      heatmap px per axis (σ of its person);
    * ``sigma_jitter``: each person's σ is multiplied by ``1 + sigma_jitter·N(0, 1)``
      (clipped to ≥ 0.25 of it);
    * ``amplitude_prob``, ``amplitude_mean``, ``amplitude_std``: with probability
      ``amplitude_prob`` a joint's peak is ``amplitude_mean + amplitude_std·N(0, 1)``,
      else 1;
    * ``drops``: list of ``dict(joints=(names...), prob, factor)``: those joints' peaks are
      multiplied by ``factor`` with probability ``prob``; ``default_drop``
      (``dict(prob, factor)``) applies to every joint not listed.

    Random numbers come from :func:`~virtualpose_mm.datasets.transforms.frame_rng` (a pure
    function of the frame's ``random_seed`` for virtual scenes).

    ``heatmap_mode='peaks'`` (an addition of this package, for training a model part that
    reads the joint heatmaps only at a few pixels, such as
    :class:`~virtualpose_mm.models.heads.LiftingPoseRefiner` with
    ``VirtualPose(refiner_train_inputs=dict(heatmap_peaks=True))``): the heatmaps are not
    rendered (their channels of ``agr`` are zero) and each joint's Gaussian is given
    instead as ``gt_agr_peaks`` (N, K, 4): centre x, y (heatmap px), σ (heatmap px) and
    peak amplitude, the same noise drawn from the same random numbers, so
    :class:`~virtualpose_mm.models.heads.PeakHeatmaps` gives the values the rendered
    heatmaps would hold wherever they are read. Rendering is most of this transform's
    cost. Needs ``legacy_peak_offset=False``.

    Required Keys:

    - camera (:class:`Camera` or a ``Camera.to_dict()`` dict; single camera)
    - image_size (2,) original (w, h) (optional: default the camera's)
    - gt_keypoints_3d (N, K, 3) world mm
    - gt_keypoints_3d_visible (N, K) (optional, default all)
    - random_seed (optional)

    Added Keys:

    - affine (2, 3) float64: original px → canvas px
    - input_size (2,) int64 (canvas w, h); heatmap_size (2,) int64 (W, H)
    - agr (K + 4, H, W) float32: heatmaps then the box map (l, t, r, b heatmap px)
    - gt_keypoints_2d (N, K, 2) float64 canvas px; gt_keypoints_2d_in_canvas (N, K) bool
      (inside the canvas and in front of the camera)
    - gt_keypoints_3d_weights (N, K) float32: 3D-visible AND in the canvas (the pose-loss
      weights of the reference)
    - gt_root_depth (N,) float64 mm (camera depth of the root); gt_root_ind (N,) int64
      (flat AGR index row·W + col of the root pixel); gt_root_mask (N,) float32 (root on
      the canvas)
    - gt_bboxes_hm (N, 4) float32 person boxes (x1, y1, x2, y2) heatmap px
    - agr_sigma (N,) float64 heatmap px
    - gt_agr_peaks (N, K, 4) float64 (``heatmap_mode='peaks'`` only)
    - depth_norm_factor (float, mm): :func:`depth_norm_factor`
    - image_size (2,) (set from the camera when it was absent)

    Args:
        input_size: canvas (w, h) (960, 512).
        heatmap_size: AGR (W, H) (240, 128).
        joint_set: joint set of ``gt_keypoints_3d`` (names for ``noise.drops``).
        root_index: the root joint (2 in both VirtualPose sets).
        base_sigma: σ of a person of the reference size, heatmap px (3).
        sigma_ref_size: the reference size, heatmap px (96): σ = base_sigma·√2·s /
            sigma_ref_size for a person of extent s in [sigma_ref_size/2,
            2·sigma_ref_size], clipped outside
            (:func:`~virtualpose_mm.structures.heatmaps.adaptive_sigma`). The defaults are
            the reference's at 240×128; a config at another heatmap size scales both
            (1.5 and 48 at 120×64) to keep the reference's σ — and so its training noise,
            which is a fraction of σ — relative to the image.
        bbox_extension: box growth per side, fraction of (width, height).
        box_radius: half-width of the painted box-map square, heatmap px (15).
        noise: None / False (off), True (reference values) or a dict (above).
        legacy_peak_offset, legacy_box_paint, paint_offcanvas_roots: reference quirks of
            :func:`~virtualpose_mm.structures.render_agr` (default False: sound).
        min_depth: mm; joints closer to the camera plane are not in the canvas.
        heatmap_mode: ``'render'`` (default) or ``'peaks'`` (above).
    """

    def __init__(self, input_size: Sequence[int] = (960, 512),
                 heatmap_size: Sequence[int] = (240, 128), joint_set: str = 'virtualpose17',
                 root_index: int = 2, base_sigma: float = 3.0,
                 bbox_extension: Sequence[float] = (0.25, 0.12), box_radius: int = 15,
                 noise: Union[None, bool, dict] = None, legacy_peak_offset: bool = False,
                 legacy_box_paint: bool = False, paint_offcanvas_roots: bool = False,
                 min_depth: float = 1.0, heatmap_mode: str = 'render',
                 sigma_ref_size: float = 96.0):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        if self.input_size[0] * self.heatmap_size[1] != self.input_size[1] * \
                self.heatmap_size[0]:
            raise ValueError(f'input_size {self.input_size} and heatmap_size '
                             f'{self.heatmap_size} must have one stride for x and y')
        self.joint_set = get_joint_set(joint_set)
        self.root_index = int(root_index)
        if not 0 <= self.root_index < self.joint_set.num_joints:
            raise ValueError(f'root_index {root_index} is outside the '
                             f'{self.joint_set.num_joints} joints of {self.joint_set.name}')
        self.base_sigma = float(base_sigma)
        self.sigma_ref_size = float(sigma_ref_size)
        if not (self.base_sigma > 0 and self.sigma_ref_size > 0):
            raise ValueError('GenerateVirtualPoseAGR: base_sigma and sigma_ref_size must be '
                             f'> 0, got {base_sigma} and {sigma_ref_size}')
        self.bbox_extension = tuple(float(v) for v in bbox_extension)
        self.box_radius = int(box_radius)
        self.legacy_peak_offset = bool(legacy_peak_offset)
        self.legacy_box_paint = bool(legacy_box_paint)
        self.paint_offcanvas_roots = bool(paint_offcanvas_roots)
        self.min_depth = float(min_depth)
        self.noise = self._parse_noise(noise)
        if heatmap_mode not in ('render', 'peaks'):
            raise ValueError("GenerateVirtualPoseAGR: heatmap_mode must be 'render' or "
                             f"'peaks', got {heatmap_mode!r}")
        if heatmap_mode == 'peaks' and self.legacy_peak_offset:
            raise ValueError("GenerateVirtualPoseAGR: heatmap_mode='peaks' gives each "
                             'Gaussian by its true centre; legacy_peak_offset moves it to '
                             'integer pixels, so the two do not go together')
        self.heatmap_mode = heatmap_mode

    def render_kwargs(self) -> dict:
        """The rendering settings, as keyword arguments of
        :func:`render_agr_from_image_points` (what a ``RenderAGRFromKeypoints`` must get
        to render the same AGR)."""
        return dict(input_size=self.input_size, heatmap_size=self.heatmap_size,
                    root_index=self.root_index, base_sigma=self.base_sigma,
                    bbox_extension=self.bbox_extension, box_radius=self.box_radius,
                    legacy_peak_offset=self.legacy_peak_offset,
                    legacy_box_paint=self.legacy_box_paint,
                    paint_offcanvas_roots=self.paint_offcanvas_roots,
                    sigma_ref_size=self.sigma_ref_size)

    def _parse_noise(self, noise) -> Optional[dict]:
        if noise is None or noise is False:
            return None
        cfg = reference_agr_noise(self.joint_set.name)
        if noise is not True:
            if not isinstance(noise, dict):
                raise TypeError(f'noise must be None, True or a dict, got {type(noise).__name__}')
            unknown = set(noise) - set(cfg)
            if unknown:
                raise ValueError(f'GenerateVirtualPoseAGR: unknown noise keys {sorted(unknown)}'
                                 f'; known: {sorted(cfg)}')
            cfg.update(noise)
        K = self.joint_set.num_joints
        prob = np.full(K, float(cfg['default_drop']['prob']))
        factor = np.full(K, float(cfg['default_drop']['factor']))
        for d in cfg['drops']:
            for name in d['joints']:
                j = self.joint_set.index(name) if isinstance(name, str) else int(name)
                prob[j], factor[j] = float(d['prob']), float(d['factor'])
        for k in ('position_std', 'sigma_jitter', 'amplitude_std'):
            if float(cfg[k]) < 0:
                raise ValueError(f'noise.{k} must be ≥ 0, got {cfg[k]}')
        if not 0 <= float(cfg['amplitude_prob']) <= 1 or ((prob < 0) | (prob > 1)).any():
            raise ValueError('noise probabilities must lie in [0, 1]')
        cfg['_drop_prob'], cfg['_drop_factor'] = prob, factor
        return cfg

    @staticmethod
    def _camera(results: dict) -> Camera:
        cam = results.get('camera')
        if cam is None:
            raise KeyError('GenerateVirtualPoseAGR: the frame has no camera')
        if isinstance(cam, dict):
            cam = Camera.from_dict(cam, source='frame camera')
        cam = cam.numpy()
        if cam.batch_shape:
            raise ValueError(f'{cam.source}: GenerateVirtualPoseAGR needs one camera, got '
                             f'batch shape {cam.batch_shape}')
        return cam

    def _noisy_peaks(self, rng, joints_hm, sigma):
        """The training noise: ``(centres (N, K, 2) heatmap px, σ (N,), amplitudes (N, K))``
        of the joints' Gaussians."""
        n = self.noise
        N, K = joints_hm.shape[:2]
        sig = sigma * np.clip(1 + n['sigma_jitter'] * rng.standard_normal(N), 0.25, None)
        pos = joints_hm + (rng.standard_normal((N, K, 2)) * n['position_std']
                           * sigma[:, None, None])
        amp = np.where(rng.random((N, K)) < n['amplitude_prob'],
                       n['amplitude_mean'] + n['amplitude_std'] * rng.standard_normal((N, K)),
                       1.0)
        amp = amp * np.where(rng.random((N, K)) < n['_drop_prob'], n['_drop_factor'], 1.0)
        return pos, sig, amp

    def transform(self, results: dict) -> dict:
        cam = self._camera(results)
        size = results.get('image_size')
        if size is None:
            size = cam.image_size
        if size is None or np.size(size) != 2:
            raise ValueError(f'{cam.source}: the frame needs image_size (w, h), got {size!r}')
        size = np.asarray(size, dtype=np.float64).reshape(2)
        X = np.asarray(results['gt_keypoints_3d'], dtype=np.float64)
        K = self.joint_set.num_joints
        if X.size == 0:
            X = X.reshape(0, K, 3)
        if X.ndim != 3 or X.shape[1:] != (K, 3):
            raise ValueError(f'GenerateVirtualPoseAGR: gt_keypoints_3d has shape {X.shape}, '
                             f'expected (N, {K}, 3) for joint set {self.joint_set.name}')
        N = X.shape[0]
        vis3d = results.get('gt_keypoints_3d_visible')
        vis3d = np.ones((N, K), bool) if vis3d is None else \
            np.asarray(vis3d).astype(bool).reshape(N, K, -1)[..., 0]
        W, H = self.heatmap_size
        if N:
            depth = cam.depth(X.reshape(-1, 3)).reshape(N, K)
            uv = cam.project(X.reshape(-1, 3), min_depth=self.min_depth).reshape(N, K, 2)
        else:
            depth, uv = np.zeros((0, K)), np.zeros((0, K, 2))
        noisy = self.noise is not None and N > 0
        peaks = self.heatmap_mode == 'peaks'
        # the clean heatmaps are rendered only when they are the output
        A, canvas, agr = render_agr_from_image_points(
            uv, size, render_heatmaps=not (noisy or peaks), **self.render_kwargs())
        iw, ih = self.input_size
        in_canvas = (canvas[..., 0] >= 0) & (canvas[..., 1] >= 0) & (canvas[..., 0] < iw) & \
            (canvas[..., 1] < ih) & (depth > self.min_depth)
        heatmaps = agr['heatmaps']
        centres, sig, amp = canvas * (W / iw), agr['sigma'], np.ones((N, K))
        if noisy:
            rng = frame_rng(results, type(self).__name__)
            centres, sig, amp = self._noisy_peaks(rng, centres, sig)
        if peaks:
            heatmaps = np.zeros((K, H, W), np.float32)
            results['gt_agr_peaks'] = np.concatenate(
                [centres, np.broadcast_to(sig[:, None, None], (N, K, 1)), amp[..., None]], -1)
        elif noisy:
            heatmaps = render_gaussian_heatmaps(centres, self.heatmap_size, sig,
                                                amplitudes=amp,
                                                legacy_peak_offset=self.legacy_peak_offset)
        root_in_front = depth[:, self.root_index] > self.min_depth if N else np.zeros(0, bool)
        results['affine'] = A
        results['image_size'] = size
        results['input_size'] = np.array(self.input_size, dtype=np.int64)
        results['heatmap_size'] = np.array(self.heatmap_size, dtype=np.int64)
        results['agr'] = np.concatenate([heatmaps, agr['box_map']], 0).astype(np.float32)
        results['gt_keypoints_2d'] = canvas
        results['gt_keypoints_2d_in_canvas'] = in_canvas
        results['gt_keypoints_3d_weights'] = (vis3d & in_canvas).astype(np.float32)
        results['gt_root_depth'] = depth[:, self.root_index].astype(np.float64) if N else \
            np.zeros(0)
        results['gt_root_ind'] = np.where(root_in_front, agr['ind'], 0).astype(np.int64)
        results['gt_root_mask'] = (agr['reg_mask'] * root_in_front).astype(np.float32)
        results['gt_bboxes_hm'] = agr['bbox_hm']
        results['agr_sigma'] = agr['sigma']
        results['depth_norm_factor'] = depth_norm_factor(cam.f, A)
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(input_size={self.input_size}, heatmap_size='
                f'{self.heatmap_size}, joint_set={self.joint_set.name!r}, noise='
                f'{self.noise is not None}, legacy_peak_offset={self.legacy_peak_offset}, '
                f'legacy_box_paint={self.legacy_box_paint}, '
                f'heatmap_mode={self.heatmap_mode!r})')


DEFAULT_META_KEYS = ('sample_idx', 'frame_id', 'seq_name', 'dataset_name', 'img_path',
                     'img_id', 'camera', 'camera_name', 'heatmap_size', 'random_seed',
                     'num_people_requested', 'camera_params', 'camera_tries',
                     'num_invalid_people', 'ground_center_shift')


@TRANSFORMS.register_module()
class PackVirtualPoseInputs(PackMultiViewPoseInputs):
    """:class:`PackMultiViewPoseInputs` for a monocular frame of
    :class:`~virtualpose_mm.models.pose_estimators.VirtualPose` (``inputs_key='agr'``, V = 1),
    or of the assembled
    :class:`~virtualpose_mm.models.pose_estimators.VirtualPoseImageEstimator`
    (``inputs_key='img'``: the letterboxed image), with VirtualPose's GT fields.

    Output ``dict(inputs=Tensor, data_samples=PoseDataSample)``; ``inputs``: (1, K + 4, H, W)
    float32 AGR (``'agr'``) or (1, 3, ih, iw) uint8 letterboxed image, BGR as read
    (``'img'``; the model's data preprocessor normalises it):

    * ``metainfo``: the views in the canonical layout of every model (``cameras`` dict of
      (1, ...) arrays from the frame's ``camera``, ``image_size``; ``affines`` (1, 2, 3)
      from ``affine``; ``input_size`` (2,) canvas (960, 512); ``depth_norm_factor``
      (float, mm)), plus the keys of ``meta_keys`` present: ``camera`` (the single camera,
      ``Camera.to_dict()``: what the monocular metrics read), ``heatmap_size`` (2,)
      (240, 128), ``seq_name``, ``frame_id``, ``sample_idx``, ``dataset_name``,
      ``img_path`` / ``img_id`` (real frames), ``random_seed`` / ``num_people_requested``
      / ``camera_params`` / ``camera_tries`` (virtual scenes), ``camera_name`` (Panoptic),
      ``num_invalid_people`` / ``ground_center_shift`` (MuPoTS).
    * ``gt_instances`` (G people, G may be 0): ``lifting_target``,
      ``lifting_target_visible`` (the 3D annotation visibility), ``roots_3d``
      (``gt_roots_3d`` of ``GenerateRootTarget3D``, else joint ``root_index``), ``ids``
      (``gt_ids``) and, when the AGR transform ran, ``transformed_keypoints`` (canvas px)
      and ``keypoints_visible`` (in front of the camera and inside the canvas).
    * ``gt_instance_labels``: ``keypoint_weights`` (the pose-loss weights: 3D-visible AND
      in the canvas, ``gt_keypoints_3d_weights``; the visibility when the AGR transform did
      not run) and, when the AGR transform ran, the depth-loss targets ``root_depth``,
      ``root_ind``, ``root_mask`` (and with its ``heatmap_mode='peaks'`` the Gaussians
      ``agr_peaks``).
    * ``gt_fields.root_heatmap_3d`` (from ``root_target_3d``).

    Shapes, units and meanings: the table of
    :mod:`virtualpose_mm.datasets.transforms.formatting`, the same for both families.

    Required Keys:

    - agr (``inputs_key='agr'``: (K + 4, H, W), e.g. from ``GenerateVirtualPoseAGR``) or
      img (``inputs_key='img'``: one (ih, iw, 3) uint8 image, from ``LoadImage`` and
      ``LetterboxImage``)
    - camera, affine
    - gt_keypoints_3d (optional: training and evaluation)

    Args:
        meta_keys: further frame keys copied into the metainfo when present.
        root_index: root joint used when ``gt_roots_3d`` is absent.
        inputs_key: ``'agr'`` (default) or ``'img'``.
    """

    INPUT_HINTS = {'agr': 'GenerateVirtualPoseAGR', 'img': 'LoadImage and LetterboxImage'}

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS, root_index: int = 2,
                 inputs_key: str = 'agr'):
        super().__init__(inputs_key=inputs_key, meta_keys=meta_keys)
        self.root_index = int(root_index)

    def _inputs(self, results: dict) -> torch.Tensor:
        if self.inputs_key != 'img' or 'img' not in results:
            return super()._inputs(results)
        img = np.asarray(results['img'])
        if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
            raise ValueError(f"{self._name}: results['img'] must be one (H, W, 3) uint8 "
                             f'image (monocular), got {img.dtype} of shape {img.shape}')
        return super()._inputs(dict(img=[img]))

    def pack_gt(self, results: dict, ds: PoseDataSample) -> None:
        gt, labels = pack_gt_people(results, weights=results.get('gt_keypoints_3d_weights'),
                                    default_root_index=self.root_index)
        N, K = gt.lifting_target.shape[:2]
        if all(k in results for k in ('gt_root_depth', 'gt_root_ind', 'gt_root_mask')):
            for key, dtype in (('root_depth', torch.float64), ('root_ind', torch.int64),
                               ('root_mask', torch.float32)):
                labels.set_field(torch.as_tensor(np.asarray(results['gt_' + key]),
                                                 dtype=dtype).reshape(N), key)
        if 'gt_agr_peaks' in results:
            labels.agr_peaks = torch.as_tensor(np.asarray(results['gt_agr_peaks']),
                                               dtype=torch.float64).reshape(N, K, 4)
        if 'gt_keypoints_2d' in results:
            gt.transformed_keypoints = np.ascontiguousarray(np.asarray(
                results['gt_keypoints_2d'], np.float32).reshape(N, K, 2))
            gt.keypoints_visible = np.ascontiguousarray(np.asarray(
                results['gt_keypoints_2d_in_canvas'], np.float32).reshape(N, K))
        ds.gt_instances = gt
        ds.gt_instance_labels = labels

    def __repr__(self):
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
