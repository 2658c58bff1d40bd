"""VoxelPose (Tu et al., ECCV 2020): multi-view, multi-person 3D pose in world space."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

from torch import Tensor

from virtualpose_mm.engine.config_checks import reject_unresolved
from virtualpose_mm.registry import MODELS
from virtualpose_mm.models.pose_estimators.base import MultiViewPoseEstimator


@MODELS.register_module()
class VoxelPose(MultiViewPoseEstimator):
    """VoxelPose estimator for MMPose 1.x.

    Pipeline: (optional) 2D network per view → projection of the K joint heatmaps into the
    capture-space voxel grid → root net (V2V, K → 1) → 3D NMS + top-k proposals → for every
    usable proposal a cube (e.g. 2000 mm, 64³) around it → pose net (V2V, K → K) →
    soft-argmax joints in world mm.

    **Inputs** (``forward(inputs, data_samples, mode)``, after the data preprocessor
    :class:`~virtualpose_mm.models.data_preprocessors.MultiViewDataPreprocessor`, which is
    part of the model):

    * ``inputs``: (B, V, C, H, W). With a 2D network (``backbone`` + ``head_2d``) these
      are images (C = 3, normalised); without, they are the K-channel 2D heatmaps
      themselves (Shelf/Campus style).
    * ``data_samples``: B :class:`PoseDataSample` packed by ``PackMultiViewPoseInputs``;
      the model reads their views only through metainfo ``view_meta``, the batch's
      :class:`~virtualpose_mm.models.utils.multiview.ViewMeta` stacked by the data
      preprocessor from the canonical metainfo ``cameras`` (dict of (V, ...) arrays),
      ``affines`` (V, 2, 3) and ``input_size`` (see :meth:`parse_meta`). For heatmap
      inputs ``input_size`` defaults to ``image_size`` of the model; the heatmaps are the
      input scaled by ``heatmap size / input size`` per axis.

      For ``mode='loss'`` also (fields as in the table of
      :mod:`virtualpose_mm.datasets.transforms.formatting`)

      - ``gt_instances.lifting_target``: (G, K, 3) world mm;
      - ``gt_instance_labels.keypoint_weights`` (optional): (G, K) joint weights of the
        pose loss; default ``gt_instances.lifting_target_visible``, else 1;
      - ``gt_instances.roots_3d`` (optional): (G, 3) mm; default the mean of
        ``root_joints``;
      - ``gt_fields.root_heatmap_3d``: (X, Y, Z) root target, made by
        ``GenerateRootTarget3D`` (a missing one is an error naming it);
      - with ``freeze_2d=False`` and a 2D net, optionally ``gt_fields.heatmaps``
        (V, K, h, w) and ``gt_fields.keypoint_weights_2d`` (V, K) for a 2D heatmap loss
        (``loss_2d``).

    **Outputs.** ``predict`` sets ``data_sample.pred_instances`` (numpy) with
    ``keypoints`` (N, K, 3) float32 world mm, ``keypoint_scores`` (N, K) (the proposal
    score per joint, as the reference), ``bbox_scores`` (N,) (the proposal score:
    detection confidence) and ``centers_3d`` (N, 3) (the proposal centre), N = people
    found, no padding rows — MMPose's 3D names, so its ``Pose3dLocalVisualizer`` draws
    them. ``loss`` returns ``loss_center`` (root volume vs target) and
    ``loss_pose`` (weighted L1 over proposals matched to a GT root within
    ``root_net.match_distance`` mm). ``tensor`` returns ``(poses (B, M, K, 3),
    proposals (B, M, 5), root_volume (B, X, Y, Z))`` with proposals
    ``x, y, z, flag (≥ 0 person), score``.

    **Training.** Proposals are matched to GT roots; the pose net is trained on every
    matched proposal regardless of its score (as the reference). By default all matched
    (sample, proposal) pairs go through the pose net as ONE batch, so its BatchNorm
    statistics are those of all pairs. ``prn_train_per_slot=True`` instead runs the pose
    net once per proposal slot on that slot's matched samples, exactly like the reference
    (its BatchNorm statistics and running-stat updates, one per called slot); eval-mode
    results do not depend on this option. When no proposal matches in a batch, ``loss_pose``
    is a zero connected to every pose-net parameter, so DDP sees all of them.

    **Inputs that are wrong or unusual.** A camera count that differs from the inputs'
    views (or from ``num_views``), missing ``cameras`` / ``affines`` (the data
    preprocessor reports them), a batch that did not go through the data preprocessor,
    NaN or Inf inputs, and a channel count that does not fit the model raise a
    ``ValueError`` naming the sample and field. Negative heatmap values are accepted (raw
    network outputs): the projected volume is clamped to [0, 1] as in the reference, so a
    view contributes nothing where its heatmap is ≤ 0. A proposal near the border of the
    space gets a full cube that extends beyond the space (not clipped); voxels outside all
    images are 0. A frame without people gives N = 0 predictions (arrays of shape
    (0, K, 3), (0, K), (0,)) and, in training, a zero pose loss.

    **Reference behaviours kept behind options** (defaults are the sound ones; the golden
    checker turns them on): ``projector.exclude_behind_camera=False`` lets a point behind
    a camera count for that view through its mirrored projection (the reference does;
    it changes Shelf's root volume), ``projector.precision='reference'`` reproduces the
    reference's float32 projection bit for bit, ``pose_net.reference_soft_argmax=True``
    its float32 soft-argmax sum (up to ~1 mm off a float64 sum), and
    ``prn_train_per_slot=True`` its per-slot BatchNorm.

    Args:
        root_net: config of :class:`VoxelCenterNet` (capture space, root V2V).
        pose_net: config of :class:`VoxelSinglePoseNet` (cube, pose V2V, soft-argmax).
        num_joints: K.
        backbone: optional 2D backbone config (e.g. ``dict(type='ResNet', depth=50)``).
        head_2d: optional 2D heatmap head config (e.g. ``HeatmapHead``); with ``backbone``.
        freeze_2d: keep the 2D network frozen (eval mode, no gradients).
        image_size: (w, h) network input size; required for heatmap inputs unless the
            metainfo has ``input_size``.
        num_views: if set, every frame must have this many views.
        root_joints: joints whose mean is the GT root when ``gt_instances.roots_3d`` is
            not given
            (COCO: 11, 12 = hips; Panoptic-15: 2 = mid-hip).
        prn_train_per_slot: reference slot-by-slot pose-net training (see above).
        check_inputs: reject NaN/Inf inputs and wrong channel counts with clear errors.
        refine: test-time refinement of the joints by triangulating the input heatmaps'
            peaks (config of :class:`~virtualpose_mm.models.layers.HeatmapTriangulation`,
            e.g. ``dict(type='HeatmapTriangulation')``), or None (default: the network's
            joints as they are).
        data_preprocessor: config of the
            :class:`~virtualpose_mm.models.data_preprocessors.MultiViewDataPreprocessor`
            (default: no normalisation); another type is an error.
        init_cfg: mmengine init config.
    """

    def __init__(self, root_net: dict, pose_net: dict, num_joints: int,
                 backbone: Optional[dict] = None, head_2d: Optional[dict] = None,
                 freeze_2d: bool = True, image_size: Optional[Sequence[int]] = None,
                 num_views: Optional[int] = None, root_joints: Sequence[int] = (11, 12),
                 prn_train_per_slot: bool = False, check_inputs: bool = True,
                 refine: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        reject_unresolved(type(self).__name__, locals())
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self._init_2d(num_joints, backbone, head_2d, freeze_2d, image_size, num_views,
                      root_joints, check_inputs, refine)
        self.root_net = MODELS.build(root_net)
        self.pose_net = MODELS.build(pose_net)
        self.prn_train_per_slot = bool(prn_train_per_slot)

    # ------------------------------------------------------------------ the forward
    def run(self, inputs, data_samples, gt: Optional[Dict[str, Tensor]] = None,
            per_slot: bool = False, return_intermediates: bool = False) -> Dict[str, Tensor]:
        """The whole forward; returns every intermediate the modes need.

        Args:
            inputs: (B, V, C, H, W).
            data_samples: B data samples with ``view_meta`` (the data preprocessor's).
            gt: the output of :meth:`parse_gt` (base class) to match proposals to GT (training), or
                None to threshold the scores (inference).
            per_slot: run the pose net once per proposal slot (reference BatchNorm).
            return_intermediates: also return the input cubes and the pose-net volumes.

        Returns:
            dict with ``heatmaps`` (B, V, K, h, w), ``root_volume`` (B, X, Y, Z),
            ``proposals`` (B, M, 5), ``poses`` (B, M, K, 3) (detached, 0 for unused
            slots), ``pair_index`` (P, 2) (sample, slot) of the used proposals,
            ``pair_poses`` (P, K, 3) (with gradients), ``pose_grids`` (P, N, 3), and with
            ``return_intermediates`` ``root_cubes`` (B, K, X, Y, Z), ``pose_cubes`` (P, K,
            x, y, z), ``pose_volumes`` (P, K, x, y, z).
        """
        inputs = self._inputs(inputs)
        meta = self.parse_meta(data_samples, inputs.shape[1])
        input_size = self._input_size(inputs, meta)
        heatmaps = self.extract_heatmaps(inputs)
        if heatmaps.shape[2] != self.num_joints:
            raise ValueError(f'VoxelPose: the heatmaps have {heatmaps.shape[2]} joints, the '
                             f'model expects {self.num_joints}')
        cubes = self.root_net.project(heatmaps, meta.cameras, meta.affines, meta.image_sizes,
                                      input_size=input_size, sample_keys=meta.keys)
        root_volume = self.root_net(cubes)
        if gt is not None:
            proposals = self.root_net.get_proposals(root_volume, gt['roots'], gt['counts'])
        else:
            proposals = self.root_net.get_proposals(root_volume)
        result = dict(heatmaps=heatmaps, root_volume=root_volume, proposals=proposals)
        result.update(self.run_pose_net(heatmaps, proposals, meta, input_size,
                                        per_slot=per_slot,
                                        return_intermediates=return_intermediates))
        if return_intermediates:
            result['root_cubes'] = cubes
        return result

    # ------------------------------------------------------------------ losses
    def compute_losses(self, result: Dict[str, Tensor], data_samples, gt) -> Dict[str, Tensor]:
        targets = self.root_targets(data_samples, result['root_volume'].device)
        return dict(loss_center=self.root_net.loss(result['root_volume'], targets),
                    loss_pose=self.pose_loss(result, gt))

    def loss(self, inputs, data_samples) -> Dict[str, Tensor]:
        """Training losses (see the class docstring)."""
        inputs = self._inputs(inputs)
        gt = self.parse_gt(data_samples, inputs.device)
        result = self.run(inputs, data_samples, gt=gt,
                          per_slot=self.prn_train_per_slot and self.training)
        losses = self.compute_losses(result, data_samples, gt)
        return self.add_loss_2d(losses, result['heatmaps'], data_samples)

    # ------------------------------------------------------------------ inference
    @property
    def root_space(self):
        """The root net's space (that of ``root_volume``)."""
        return self.root_net.codec.space

    @property
    def score_threshold(self) -> float:
        """The test-time detection score threshold (``root_net.proposal_layer.threshold``)."""
        return self.root_net.proposal_layer.threshold

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        self.root_net.proposal_layer.threshold = float(value)
