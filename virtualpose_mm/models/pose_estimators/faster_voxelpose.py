"""Faster-VoxelPose (Ye et al., ECCV 2022): real-time multi-view, multi-person 3D pose."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from virtualpose_mm.engine.config_checks import reject_unresolved
from virtualpose_mm.geometry.voxel_space import VoxelSpace
from virtualpose_mm.registry import MODELS
from virtualpose_mm.models.pose_estimators.base import MultiViewPoseEstimator

#: the reference behaviours (all off by default) and the head each one goes to
_REFERENCE_OPTIONS = {
    'reference_view_average': ('detector', 'joint_net'),
    'reference_bbox_index': ('detector', ),
    'reference_bbox_mask': ('detector', ),
    'reference_weight_net_init': ('joint_net', ),
    'reference_soft_argmax': ('joint_net', ),
}


@MODELS.register_module()
class FasterVoxelPose(MultiViewPoseEstimator):
    """Faster-VoxelPose estimator for MMPose 1.x (reference: AlvinYH/Faster-VoxelPose).

    Pipeline: (optional) 2D network per view → projection of the K joint heatmaps into the
    capture-space voxel grid → human detection net (:class:`FasterVoxelPoseDetector`: top
    view → 2D CNN centre heatmap + box size, 2D NMS + top-k, 1D CNN over each column →
    height; score = top-view value × height value) → joint localisation net
    (:class:`FasterVoxelPoseJointNet`: per proposal a cube of the space clipped to it and
    masked by the box, projected onto the xy, xz, yz planes → shared 2D CNN → per-plane
    soft-argmax → weight net fusing the two estimates of each coordinate).

    **Inputs and outputs** are those of :class:`VoxelPose` (same data-sample contract:
    ``inputs`` (B, V, C, H, W) — K-channel heatmaps, or images with ``backbone`` +
    ``head_2d`` — and the views read through :meth:`parse_meta`, i.e. metainfo
    ``view_meta`` stacked by the model's
    :class:`~virtualpose_mm.models.data_preprocessors.MultiViewDataPreprocessor` from the
    pack transform's ``cameras`` / ``affines`` / ``input_size``; for ``mode='loss'``
    ``gt_instances.lifting_target`` and optionally ``gt_instances.roots_3d`` and joint
    weights, fields as in :mod:`virtualpose_mm.datasets.transforms.formatting`; no
    ``gt_fields`` are needed: the detector makes its targets from the GT, see
    :meth:`FasterVoxelPoseDetector.make_targets`). ``predict`` sets ``pred_instances`` with
    ``keypoints`` (N, K, 3) float32 world mm, ``keypoint_scores`` (N, K) (the proposal
    score per joint), ``bbox_scores`` (N,) (the proposal score), ``centers_3d`` (N, 3),
    ``bbox_sizes`` (N, 2) (the top-view box, mm) and ``jln_scores`` (N,) (the JLN
    confidence: the mean over planes and joints of the largest soft-argmax probability);
    N = people found, no padding rows. ``loss`` returns ``loss_topview`` (MSE of the
    top-view heatmap), ``loss_height`` (MSE of the matched proposals' 1D heatmaps),
    ``loss_bbox`` (L1 of the box map at the GT root cells) and ``loss_joint`` (L1 per
    plane + ``fused`` · L1 of the fused joints, visibility weighted), plus ``loss_2d``
    with a trainable 2D network and 2D targets. ``tensor`` returns ``(poses (B, M, K, 3),
    proposals (B, M, 7), center_heatmap (B, X, Y))`` with proposals ``x, y, z, flag,
    score, box w, box d``.

    **Training.** Proposals are matched to the nearest GT root within
    ``detector.match_distance`` mm; a matched proposal whose box is too small gets its GT
    box (``detector.replace_small_boxes``, as the reference). The 1D net runs on all M
    columns (its BatchNorm statistics include the unmatched ones, as in the reference and
    at test time). All matched proposals of the batch go through the JLN's nets in ONE
    call. When no proposal matches, ``loss_joint`` (and ``loss_height``) is a zero
    connected to every parameter, so DDP sees all of them.

    **Reference behaviours kept behind options** (all default False, the sound behaviour;
    the golden checker turns them on):

    * ``reference_view_average``: the HDN volume and the JLN cubes are the plain mean of
      all V views (a view that does not see a voxel adds 0 — or, at the image border,
      the value at the clamped pixel). Default: the mean over the views that see the
      voxel, as VoxelPose (``projector.exclude_behind_camera`` then applies too).
    * ``reference_bbox_index``: the box target is read at the top-view cell
      ``floor(loc)`` of the root. Default: the nearest cell, where the heatmap peaks.
    * ``reference_bbox_mask``: the box loss also covers the first padding slot
      (``arange(M) <= num_person``: cell 0 against a (0, 0) box). Default: real people only.
    * ``reference_jln_per_sample``: the JLN nets run once per sample (training BatchNorm
      statistics per sample, running stats updated once per sample). Default: one call.
    * ``reference_jln_score``: the proposals' column 4 (hence ``bbox_scores`` /
      ``keypoint_scores``) of the people found is the JLN confidence — the reference writes
      it over the HDN score in place, through a ``.detach()`` alias. Default: the HDN
      detection score; the JLN confidence is ``pred_instances.jln_scores``.
    * ``reference_weight_net_init``: the weight net keeps PyTorch's default init (the
      reference never calls its ``_initialize_weights``). Default: N(0, 0.001²), as
      intended.
    * ``reference_soft_argmax``: the soft-argmax sums ``p · coordinate`` in float32 with
      absolute coordinates, as the reference. Default: relative coordinates (a few 1e-4 mm
      more accurate).
    * Numerics of the shared projection: ``projector.precision='reference'`` in both heads
      reproduces the reference's float32 camera projection bit for bit.

    No other reference flaw is reproduced: inputs are never modified in place (the
    reference overwrites its proposals' scores and, in training, box predictions), sampling
    grids are cached per rig by their exact camera parameters (the reference caches them
    per sequence name forever), a batch with no match gives a zero joint loss instead of
    no poses, and a top-k cell is decoded with the top view's y size (the reference
    divides by the x size; the same for its square 80×80 grids).

    **Speed.** All views of all samples are projected in one call; the whole-space grid
    and the JLN's fine grid are projected once per rig and cached; each cube samples only
    the voxels of its window, and the planes are the windows' maxima (no 64³ cube is
    materialised); all usable proposals go through the JLN nets in one call;
    ``fast_eval`` (both heads) runs inference through BatchNorm-folded, channels-last
    copies of the nets.

    Args:
        detector: config of :class:`FasterVoxelPoseDetector` (the capture space).
        joint_net: config of :class:`FasterVoxelPoseJointNet` (the cube); its
            ``space_size`` / ``space_center`` are taken from ``detector``.
        num_joints: K.
        backbone, head_2d, freeze_2d, image_size, num_views, root_joints, check_inputs:
            as :class:`VoxelPose`.
        reference_*: see above.
        refine: test-time refinement of the joints by triangulating the input heatmaps'
            peaks (config of :class:`~virtualpose_mm.models.layers.HeatmapTriangulation`),
            or None (default: the network's joints as they are).
        data_preprocessor: config of the
            :class:`~virtualpose_mm.models.data_preprocessors.MultiViewDataPreprocessor`
            (default: no normalisation); another type is an error.
        init_cfg: mmengine init config.
    """

    def __init__(self, detector: dict, joint_net: dict, num_joints: int,
                 backbone: Optional[dict] = None, head_2d: Optional[dict] = None,
                 freeze_2d: bool = True, image_size: Optional[Sequence[int]] = None,
                 num_views: Optional[int] = None, root_joints: Sequence[int] = (11, 12),
                 check_inputs: bool = True, reference_view_average: bool = False,
                 reference_bbox_index: bool = False, reference_bbox_mask: bool = False,
                 reference_jln_per_sample: bool = False, reference_jln_score: bool = False,
                 reference_weight_net_init: bool = False, reference_soft_argmax: bool = False,
                 refine: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        reject_unresolved(type(self).__name__, locals())
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self._init_2d(num_joints, backbone, head_2d, freeze_2d, image_size, num_views,
                      root_joints, check_inputs, refine)
        det = dict(detector)
        jn = dict(joint_net)
        det.setdefault('type', 'FasterVoxelPoseDetector')
        jn.setdefault('type', 'FasterVoxelPoseJointNet')
        opts = dict(reference_view_average=reference_view_average,
                    reference_bbox_index=reference_bbox_index,
                    reference_bbox_mask=reference_bbox_mask,
                    reference_weight_net_init=reference_weight_net_init,
                    reference_soft_argmax=reference_soft_argmax)
        heads = dict(detector=det, joint_net=jn)
        for name, where in _REFERENCE_OPTIONS.items():
            for h in where:
                if name in heads[h]:
                    raise ValueError(f'FasterVoxelPose: set {name} on the model, not in {h}')
                heads[h][name] = bool(opts[name])

        def inject(cfg, what, key, value):
            if key in cfg and cfg[key] is not None and \
                    [float(v) for v in cfg[key]] != [float(v) for v in value]:
                raise ValueError(f'FasterVoxelPose: {what}.{key} = {tuple(cfg[key])} differs '
                                 f'from {tuple(value)}; leave it unset, it follows the model')
            cfg[key] = tuple(value)

        for cfg, what in ((det, 'detector'), (jn, 'joint_net')):
            if cfg.get('num_joints', self.num_joints) != self.num_joints:
                raise ValueError(f'FasterVoxelPose: {what}.num_joints differs from '
                                 f'num_joints={self.num_joints}')
            cfg['num_joints'] = self.num_joints
        for key in ('space_size', 'space_center'):
            if key not in det:
                raise ValueError(f'FasterVoxelPose: detector.{key} (the capture space) is '
                                 'required')
            inject(jn, 'joint_net', key, det[key])
        if 'cube_size' not in jn:
            raise ValueError('FasterVoxelPose: joint_net.cube_size is required')
        inject(det, 'detector', 'bbox_unit', tuple(jn['cube_size'])[:2])
        self.detector = MODELS.build(det)
        self.joint_net = MODELS.build(jn)
        self.reference_jln_per_sample = bool(reference_jln_per_sample)
        self.reference_jln_score = bool(reference_jln_score)
        for name, v in opts.items():
            setattr(self, name, bool(v))

    # ------------------------------------------------------------------ the forward
    def run(self, inputs, data_samples, gt: Optional[Dict[str, Tensor]] = None,
            return_intermediates: bool = False) -> Dict[str, Tensor]:
        """The whole forward; returns every intermediate the modes need.

        Args:
            inputs: (B, V, C, H, W).
            data_samples: B data samples with ``view_meta`` (the data preprocessor's).
            gt: :meth:`parse_gt` output to match proposals to GT (training), or None to
                threshold the scores (inference).
            return_intermediates: also return the volume's JLN debugging values
                (``planes``, ``windows``, ``jln`` with the plane-net outputs, the first
                pair's full cube, cube sums).

        Returns:
            dict with ``heatmaps`` (B, V, K, h, w), ``volume`` (B, K, X, Y, Z), ``det``
            (the detector's outputs), ``targets`` (training), ``proposals`` (B, M, 7)
            (column 4: see ``reference_jln_score``), ``poses`` (B, M, K, 3) and
            ``plane_poses`` (3, B, M, K, 2) (detached, 0 for unused slots),
            ``jln_scores`` (B, M), ``pair_index`` (P, 2) (sample, slot) of the proposals
            sent to the JLN and ``jln`` (its outputs per pair, with gradients).
        """
        inputs = self._inputs(inputs)
        B, V = inputs.shape[:2]
        meta = self.parse_meta(data_samples, V)
        input_size = self._input_size(inputs, meta)
        heatmaps = self.extract_heatmaps(inputs)
        K = self.num_joints
        if heatmaps.shape[2] != K:
            raise ValueError(f'FasterVoxelPose: the heatmaps have {heatmaps.shape[2]} joints, '
                             f'the model expects {K}')
        volume = self.detector.project(heatmaps, meta.cameras, meta.affines, meta.image_sizes,
                                       input_size=input_size, keys=meta.keys)
        targets = self.detector.make_targets(gt) if gt is not None else None
        det = self.detector(volume, gt=gt, targets=targets)
        props = det['proposals']
        M = props.shape[1]
        used = props[..., 3] >= 0
        b_idx, m_idx = used.nonzero(as_tuple=True)
        rows = props[b_idx, m_idx].detach()
        planes = self.joint_net.project_planes(
            heatmaps, rows, b_idx, meta, input_size=input_size,
            keep_cube=0 if (return_intermediates and b_idx.numel()) else None,
            debug=return_intermediates)
        groups = None
        if self.reference_jln_per_sample and b_idx.numel():
            groups = [(b_idx == b).nonzero(as_tuple=True)[0] for b in b_idx.unique().tolist()]
        jln = self.joint_net(planes['planes'], planes['offset'], groups=groups)
        poses = heatmaps.new_zeros(B, M, K, 3)
        poses[b_idx, m_idx] = jln['poses'].detach().to(poses.dtype)
        plane_poses = heatmaps.new_zeros(3, B, M, K, 2)
        plane_poses[:, b_idx, m_idx] = jln['plane_poses'].detach().to(poses.dtype)
        jln_scores = heatmaps.new_zeros(B, M)
        jln_scores[b_idx, m_idx] = jln['confidence'].detach().to(poses.dtype)
        proposals = props.detach().clone()
        if self.reference_jln_score:
            proposals[b_idx, m_idx, 4] = jln_scores[b_idx, m_idx]
        result = dict(heatmaps=heatmaps, volume=volume, det=det, targets=targets,
                      proposals=proposals, poses=poses, plane_poses=plane_poses,
                      jln_scores=jln_scores, pair_index=torch.stack([b_idx, m_idx], -1),
                      jln=jln, root_volume=det['center_hm'][:, 0])
        if return_intermediates:
            result['planes'] = planes
        return result

    # ------------------------------------------------------------------ losses
    def compute_losses(self, result: Dict, gt: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The four losses of a :meth:`run` with GT (see the class docstring)."""
        losses = self.detector.loss(result['det'], result['targets'])
        b_idx, m_idx = result['pair_index'].unbind(-1)
        if b_idx.numel():
            g_idx = result['det']['proposals'][b_idx, m_idx, 3].long()
            losses['loss_joint'] = self.joint_net.loss(
                result['jln'], gt['joints'][b_idx, g_idx], gt['weights'][b_idx, g_idx])
        else:  # keep every JLN parameter in the graph (DDP), with a zero value
            params = [p for p in self.joint_net.parameters() if p.requires_grad]
            zero = result['det']['center_hm'].new_zeros(())
            losses['loss_joint'] = sum((p.sum() * 0.0 for p in params), zero)
        return losses

    def loss(self, inputs, data_samples) -> Dict[str, Tensor]:
        """Training losses (see the class docstring)."""
        inputs = self._inputs(inputs)
        gt = self.parse_gt(data_samples, inputs.device)
        result = self.run(inputs, data_samples, gt=gt)
        losses = self.compute_losses(result, gt)
        return self.add_loss_2d(losses, result['heatmaps'], data_samples)

    # ------------------------------------------------------------------ inference
    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'tensor':
            r = self.run(inputs, data_samples)
            return r['poses'], r['proposals'], r['root_volume']
        return super().forward(inputs, data_samples, mode)  # loss / predict / error

    @property
    def root_space(self):
        """The detector's space (``root_volume`` is its top-view heatmap; voxel centres as
        :meth:`FasterVoxelPoseDetector.axes`)."""
        d = self.detector
        return VoxelSpace(d.space_size, d.space_center, d.space_shape)

    def completion_row(self, result: Dict, b: int, root: Tensor) -> Tensor:
        """The base row (score: the top-view heatmap at the root's cell) with the box the
        detector's box head predicts in that cell."""
        row = super().completion_row(result, b, root)
        ix, iy = self.root_voxel(root)[:2]
        row[5:7] = result['det']['center_size'][b, :, ix, iy].detach().to(row.dtype)
        return row

    def completion_poses(self, result: Dict, proposals: Tensor, meta, input_size) -> Tensor:
        """The joint net's poses for the usable rows of ``proposals``."""
        heatmaps = result['heatmaps']
        b_idx, m_idx = (proposals[..., 3] >= 0).nonzero(as_tuple=True)
        planes = self.joint_net.project_planes(heatmaps, proposals[b_idx, m_idx], b_idx, meta,
                                               input_size=input_size)
        jln = self.joint_net(planes['planes'], planes['offset'])
        poses = heatmaps.new_zeros(proposals.shape[:2] + (self.num_joints, 3))
        poses[b_idx, m_idx] = jln['poses'].detach().to(poses.dtype)
        return poses

    @property
    def score_threshold(self) -> float:
        """The test-time detection score threshold (``detector.threshold``)."""
        return self.detector.threshold

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        self.detector.threshold = float(value)

    def add_pred_to_datasample(self, result: Dict, data_samples):
        data_samples = super().add_pred_to_datasample(result, data_samples)
        props = result['proposals'].detach().cpu().numpy().astype(np.float32)
        jln = result['jln_scores'].detach().cpu().numpy().astype(np.float32)
        unit = np.asarray(self.detector.bbox_unit, dtype=np.float32)
        for b, ds in enumerate(data_samples):
            keep = props[b, :, 3] >= 0
            n = int(keep.sum())
            ds.pred_instances.jln_scores = np.ascontiguousarray(jln[b, keep].reshape(n))
            ds.pred_instances.bbox_sizes = np.ascontiguousarray(
                (props[b, keep, 5:7] * unit).reshape(n, 2))
        return data_samples
