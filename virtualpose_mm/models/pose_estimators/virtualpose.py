"""VirtualPose (Su et al., ECCV 2022), stage 2: one camera, multi-person, absolute 3D.

Input is the abstract geometry representation (AGR) of a frame — K joint heatmaps and a
4-channel box map at heatmap resolution — produced by a stage-1 2D network or, for
training, rendered from virtual scenes (:func:`virtualpose_mm.structures.render_agr`).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

from virtualpose_mm.registry import MODELS
from virtualpose_mm.models.utils.loss_weights import merge_loss_weights
from virtualpose_mm.models.utils.multiview import ViewMeta
from virtualpose_mm.models.pose_estimators.base import VolumetricPoseEstimator
from virtualpose_mm.models.pose_estimators.base import as_tensor as _t
from virtualpose_mm.models.layers.projection import (heatmap_affines, item_cameras,
                                                     world_to_heatmap)
from virtualpose_mm.models.losses.virtualpose_losses import root_depth_l1, root_volume_mse


@MODELS.register_module()
class VirtualPose(VolumetricPoseEstimator):
    """VirtualPose stage 2 for MMPose 1.x: AGR → absolute 3D poses of every person.

    Pipeline: root net (:class:`VirtualPoseRootNet`: depth estimator → people decoded from
    the root heatmap with their box and depth → depth-gated, box-masked projection → V2V
    root volume → 3D NMS proposals) → pose net (VoxelPose's
    :class:`~virtualpose_mm.models.heads.VoxelSinglePoseNet` with one view: a cube around
    each proposal → V2V → soft-argmax joints in world mm).

    **Inputs** (``forward(inputs, data_samples, mode)``, after the data preprocessor
    :class:`~virtualpose_mm.models.data_preprocessors.MultiViewDataPreprocessor`, part of
    the model; it does not normalise floating inputs):

    * ``inputs``: (B, 1, K + 4, H, W) AGR — the multi-view layout with V = 1: K joint
      heatmaps in [0, 1], then the box map (l, t, r, b) in heatmap px.
    * ``data_samples``: B ``PoseDataSample`` packed by ``PackVirtualPoseInputs``; the model
      reads the view only through metainfo ``view_meta`` (:meth:`parse_meta`), stacked by
      the data preprocessor from the canonical metainfo (the same as VoxelPose's, V = 1):

      - ``cameras``: dict of (1, ...) arrays in the package convention (``DESIGN.md`` §2:
        ``R`` world→camera, ``t``, ``f``, ``c``, ``dist`` (k1 k2 p1 p2 k3),
        ``image_size`` (w, h) of the original image — voxels projecting outside it are
        ignored);
      - ``affines``: (1, 2, 3) original image px → network input (canvas) px, a letterbox
        without rotation;
      - ``input_size`` (optional): (w, h) of the canvas (default the model's
        ``input_size``, 960×512); AGR px = canvas px × AGR size / canvas size (stride 4);
      - ``depth_norm_factor`` (optional, mm): the DE regresses depth / this factor;
        default ``sqrt(fx · fy · |det A|)`` with A the 2×2 part of the affine (the focal
        length in canvas px; the reference's ``sqrt(fx·fy/(200 s_x · 200 s_y) · W·H)``).

      For ``mode='loss'`` (and for ``gt_proposal_filter``), per GT person (G may be 0;
      fields as in the table of :mod:`virtualpose_mm.datasets.transforms.formatting`):

      - ``gt_instances.lifting_target`` (G, K, 3) world mm;
      - ``gt_instance_labels.keypoint_weights`` (optional) (G, K) joint weights of the
        pose loss (reference: 3D visible and inside the canvas); default
        ``gt_instances.lifting_target_visible``, else 1;
      - ``gt_instances.roots_3d`` (optional) (G, 3) mm, default joint ``root_index``;
      - ``gt_instance_labels.root_depth`` (G,) mm camera depth of the root, ``root_ind``
        (G,) flat AGR index (row·W + col) of the root pixel and ``root_mask`` (G,) (1
        where the root is on the canvas), made by ``GenerateVirtualPoseAGR``
        (training only; missing ones are an error naming it);
      - ``gt_fields.root_heatmap_3d``: (X, Y, Z) root target, made by
        ``GenerateRootTarget3D`` (training only; a missing one is an error naming it).

    **Outputs.** ``predict`` fills ``pred_instances`` (numpy): ``keypoints`` (N, K, 3)
    float32 world mm, ``keypoint_scores`` (N, K) (the proposal score per joint),
    ``bbox_scores`` (N,) (detection confidence), ``centers_3d`` (N, 3) proposal centres;
    N = people found, no padding rows. ``loss``
    returns ``loss_depth`` (DE, L1 mm), ``loss_root`` (root volume MSE) and ``loss_pose``
    (joint L1 mm over proposals matched to a GT root) and, with a ``refiner``,
    ``loss_refine`` (the refiner's loss, mm), weighted by
    ``loss_weights``.
    ``tensor`` returns ``(poses (B, M, K, 3), proposals (B, M, 5), root_volume)``,
    proposals ``x, y, z, flag (≥ 0 person), score``.

    **Training.** Proposals are matched to the nearest GT root within
    ``root_net.match_distance`` mm and the pose net trains on every matched proposal. By
    default all matched (sample, proposal) pairs go through the pose net as ONE batch;
    ``pen_train_per_slot=True`` runs it once per proposal slot as the reference does
    (BatchNorm statistics and running-stat updates per slot); eval results do not depend on
    it. Without matched pairs ``loss_pose`` is a zero connected to every pose-net parameter.

    ``train_cubes_at_gt_depth=True`` (an addition of this package; default False, the
    reference): in training, each matched proposal is moved along its camera ray to the
    camera depth of its GT root before the pose net's cube is cut around it. One view
    cannot show where along the ray the cube sits (the back-projected heatmaps are the same
    along it), so with the proposal's own depth error the absolute pose loss holds an
    offset the pose net cannot see, which on CPU-sized training swamps the root-relative
    signal; moved cubes leave the lateral (visible) part of the root net's error in the
    loss and nothing else. Inference is unchanged: the cube sits at the proposal, and the
    person's depth is the root net's.

    ``refiner`` (an addition of this package; default None): a one-view pose refiner run
    after the pose net on every person, e.g.
    :class:`~virtualpose_mm.models.heads.LiftingPoseRefiner` (2D joints read off the AGR
    heatmaps → lifting MLP → corrected root-relative pose and depth). Its input
    poses are detached from the pose net (it refines a given pose net's output; no gradient
    flows back). In training it runs on the GT-matched proposals and adds ``loss_refine``
    (mm); ``poses`` and ``pred_instances.keypoints`` are the refined poses.
    Train it on the cubes inference sees: with ``train_cubes_at_gt_depth`` the pose net's
    training cubes sit at the GT depth, which inference never has, so a config that trains
    the refiner sets it False.

    ``depth_refiner`` (an addition of this package; default None; needs a ``refiner``): a
    second refiner of the same kind, trained separately as another config's ``refiner``
    (``tools/misc/publish_model.py --graft`` puts its weights into the checkpoint under
    ``depth_refiner.``), that only gives each person's depth: at test time it runs on the
    same poses and heatmaps as ``refiner``, and each person's refined pose is moved along
    the root's camera ray to the depth of the depth refiner's root (the pose relative to
    its root stays the refiner's). It lets a refiner that is better at the depth (e.g. one
    trained with ``mask_unfound_joints``) and one that is better at the pose work
    together. It is never trained here: its parameters do not require gradients, it stays
    in eval mode and it is not run in training.

    ``refiner_train_inputs`` (default None: the refiner trains on the pose net's poses of
    the GT-matched proposals, the whole forward running): ``dict(joint_std=..,
    depth_log_std=.., outlier_prob=.., outlier_log_std=..)`` trains it on GT poses
    perturbed in their place — every joint moved by N(0, joint_std²) mm per axis, then the
    whole person scaled about the camera centre by exp(N(0, σ²)) (same image position,
    another depth), σ = depth_log_std, or outlier_log_std for a share outlier_prob of the
    people (a root net's depth errors have a long tail: people found on the right ray at
    the wrong depth, whom the refiner can put back by their apparent size); with
    ``unseen_joint_std`` (mm, default 0) a joint the AGR does not show (its GT projection
    off the heatmaps, or weight 0) is moved by N(0, unseen_joint_std²) more per axis, as
    the pose net's guesses of such joints are worse than of the others (no peak corrects
    them; the refiner is to learn to trust them less; for the refsigma refiner it did
    worse, ``checkpoints/README.md``) — without running
    the root and pose nets, which must both be frozen; the heatmaps are the sample's AGR
    as always. A refiner that reads the pose net's pose as a feature would learn from the
    perturbation instead of the pose net, so this needs ``use_pose_net_pose=False`` (the
    poses then only say where to look for each joint and how deep the root is). One
    iteration costs the AGR and the refiner only (two CPU threads, CPU-sized config:
    ~300 people a second, 0.55 s for 64 frames, against ~11 through the whole forward,
    1.8 s for 8 frames), which is what a lifting network needs: many people. With
    ``heatmap_peaks=True`` in the dict the refiner reads the heatmaps from the samples'
    ``gt_instance_labels.agr_peaks`` (``GenerateVirtualPoseAGR(heatmap_mode='peaks')``:
    the AGR's Gaussians, evaluated only at the pixels read, by
    :class:`~virtualpose_mm.models.heads.PeakHeatmaps`) instead of the rendered ones: the
    same values, without the rendering that was most of an iteration's cost (64 frames of
    3–8 people: 0.27 s instead of 0.66 s, ~1,300 people a second).

    ``test_depth_range`` (an addition of this package; default None): ``(min, max)`` mm; at
    test time (without ``gt_proposal_filter``'s GT) a person whose final root lies at a
    camera depth outside it is dropped (its proposal flagged −1). Virtual training scenes
    have no person nearer than their ``min_root_depth`` (1 m) nor beyond the capture space,
    and on real detections a one-view model may put a false or partial detection centimetres
    from the lens; the range states what the model was trained for.

    At test time, ``root_net.completion`` (default None) adds the people the root volume
    missed but the root heatmap shows, at the depth estimator's depth
    (:meth:`VirtualPoseRootNet.complete_proposals`).

    ``frozen`` (an addition of this package; default ``()``): any of ``'root_net'``,
    ``'pose_net'``, ``'refiner'`` (not all the model's trainable networks) trains the
    others of a trained model and keeps these as they are (their parameters do not require
    gradients, they stay in eval mode so their BatchNorm statistics do not move, and their
    losses are not computed). A frozen pose net is not run in training at all when nothing
    after it trains (``loss_pose`` is absent), so training the root net alone costs the root
    net only; a frozen root net, and a frozen pose net that runs because a refiner after it
    trains, run without gradients (with ``fast_eval``, through their V2V nets' inference
    copies). Inference is unchanged.

    **Reference quirk options** (defaults are the sound behaviour):

    * ``gt_proposal_filter`` (False): the released VirtualPose evaluation flags proposals
      by GT matching whenever GT roots are in the metadata, at test time too, so false
      positives far from every GT root are discarded (and matched proposals are kept
      whatever their score). ``True`` reproduces it in ``predict`` when the data samples
      carry GT; by default test-time proposals are persons iff their score exceeds
      ``root_net.threshold``.
    * the decoding options ``root_net.peak_offset`` (0.5 in the reference) and
      ``root_net.sort_by_depth`` (far → near in the reference), see
      :mod:`virtualpose_mm.models.layers.root_decode`;
    * the DE flip augmentation ``root_net.depth_net.flip_swap_channels`` (the reference
      does not swap left/right channels), see :class:`VirtualPoseDepthNet`;
    * the AGR rendering quirks, see :mod:`virtualpose_mm.structures.targets`.

    Args:
        root_net: config of :class:`VirtualPoseRootNet`.
        pose_net: config of :class:`VoxelSinglePoseNet` (VirtualPose: 2000 mm, 64³ cube).
        num_joints: K (17, the MuCo/MuPoTS order of VirtualPose).
        root_index: root joint (2, mid-hip).
        input_size: (w, h) of the canvas the affines map to (960, 512).
        loss_weights: weights of ``depth``, ``root``, ``pose`` (reference 0.1, 1000, 1) and
            ``refine`` (1).
        gt_proposal_filter: see above.
        pen_train_per_slot: see above.
        train_cubes_at_gt_depth: see above.
        refiner: config of the pose refiner (see above; ``num_joints`` and ``root_index``
            default to the model's), or None.
        refiner_train_inputs: see above.
        depth_refiner: config of the depth refiner (see above; ``num_joints`` and
            ``root_index`` default to the model's), or None.
        test_depth_range: see above.
        frozen: see above.
        check_inputs: reject wrong channel counts and NaN/Inf inputs with clear errors.
        data_preprocessor: config of the
            :class:`~virtualpose_mm.models.data_preprocessors.MultiViewDataPreprocessor`
            (default: no normalisation); another type is an error.
        init_cfg: mmengine init config.
    """

    def __init__(self, root_net: dict, pose_net: dict, num_joints: int = 17,
                 root_index: int = 2, input_size: Sequence[float] = (960, 512),
                 loss_weights: Optional[dict] = None, gt_proposal_filter: bool = False,
                 pen_train_per_slot: bool = False, train_cubes_at_gt_depth: bool = False,
                 frozen: Sequence[str] = (), check_inputs: bool = True,
                 refiner: Optional[dict] = None, refiner_train_inputs: Optional[dict] = None,
                 depth_refiner: Optional[dict] = None,
                 test_depth_range: Optional[Sequence[float]] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.num_joints = int(num_joints)
        self.root_index = int(root_index)
        root_net = dict(root_net)
        root_net.setdefault('type', 'VirtualPoseRootNet')
        root_net.setdefault('num_joints', self.num_joints)
        root_net.setdefault('root_index', self.root_index)
        self.root_net = MODELS.build(root_net)
        pose_net = dict(pose_net)
        pose_net.setdefault('type', 'VoxelSinglePoseNet')
        self.pose_net = MODELS.build(pose_net)
        self.refiner = None
        if refiner is not None:
            refiner = dict(refiner)
            refiner.setdefault('num_joints', self.num_joints)
            refiner.setdefault('root_index', self.root_index)
            self.refiner = MODELS.build(refiner)
        self.depth_refiner = None
        if depth_refiner is not None:
            if self.refiner is None:
                raise ValueError('VirtualPose: depth_refiner needs a refiner (it only moves '
                                 "the refiner's poses to its own depth)")
            depth_refiner = dict(depth_refiner)
            depth_refiner.setdefault('num_joints', self.num_joints)
            depth_refiner.setdefault('root_index', self.root_index)
            self.depth_refiner = MODELS.build(depth_refiner)
        self.test_depth_range = None
        if test_depth_range is not None:
            lo, hi = (float(v) for v in test_depth_range)
            if not 0 <= lo < hi:
                raise ValueError('VirtualPose: test_depth_range must be (min, max) camera '
                                 f'depths in mm with 0 ≤ min < max, got {test_depth_range}')
            self.test_depth_range = (lo, hi)
        self.input_size = tuple(float(v) for v in input_size)
        self.loss_weights = merge_loss_weights(
            'VirtualPose', dict(depth=0.1, root=1000.0, pose=1.0, refine=1.0), loss_weights)
        self.gt_proposal_filter = bool(gt_proposal_filter)
        self.pen_train_per_slot = bool(pen_train_per_slot)
        self.train_cubes_at_gt_depth = bool(train_cubes_at_gt_depth)
        if isinstance(frozen, str):
            frozen = (frozen, )
        self.frozen = tuple(frozen)
        nets = ('root_net', 'pose_net') + (('refiner', ) if self.refiner is not None else ())
        bad = [f for f in self.frozen if f not in nets]
        if bad or set(self.frozen) >= set(nets):
            raise ValueError(f'VirtualPose: frozen may hold some of {nets} (not all: that '
                             f'leaves nothing to train), got {frozen!r}')
        self.freeze(*self.frozen)
        if self.depth_refiner is not None:
            self.freeze('depth_refiner')
        self.check_inputs = bool(check_inputs)
        self.refiner_train_inputs = None
        self.refiner_heatmap_peaks = False
        if refiner_train_inputs is not None:
            rti = dict(refiner_train_inputs)
            self.refiner_heatmap_peaks = bool(rti.pop('heatmap_peaks', False))
            keys = ('joint_std', 'depth_log_std', 'outlier_prob', 'outlier_log_std',
                    'unseen_joint_std')
            unknown = set(rti) - set(keys)
            if unknown:
                raise ValueError(f'VirtualPose: unknown refiner_train_inputs keys {sorted(unknown)}'
                                 f' ({", ".join(keys)}, heatmap_peaks)')
            self.refiner_train_inputs = {k: float(rti.get(k, 0.0)) for k in keys}
            if self.refiner_train_inputs['outlier_prob'] > 1:
                raise ValueError('VirtualPose: refiner_train_inputs.outlier_prob must lie in '
                                 f'[0, 1], got {rti["outlier_prob"]}')
            if self.refiner is None or getattr(self.refiner, 'use_pose_net_pose', True):
                raise ValueError('VirtualPose: refiner_train_inputs needs a refiner with '
                                 'use_pose_net_pose=False (it trains on perturbed GT poses, '
                                 'not on the pose net\'s)')
            if not {'root_net', 'pose_net'} <= set(self.frozen) or 'refiner' in self.frozen:
                raise ValueError("VirtualPose: refiner_train_inputs trains the refiner alone: "
                                 "frozen must be ('root_net', 'pose_net')")
            if min(self.refiner_train_inputs.values()) < 0:
                raise ValueError('VirtualPose: refiner_train_inputs values must be ≥ 0, got '
                                 f'{self.refiner_train_inputs}')

    # ------------------------------------------------------------------ inputs
    def _inputs(self, inputs) -> Tensor:
        """(B, 1, K + 4, H, W) float AGRs, checked."""
        if not isinstance(inputs, Tensor) or inputs.dim() != 5 or inputs.shape[1] != 1:
            raise ValueError('VirtualPose: inputs must be a (B, 1, K + 4, H, W) tensor of AGRs '
                             '(one view; the data preprocessor stacks the frames), got '
                             f'{getattr(inputs, "shape", type(inputs).__name__)}')
        if self.check_inputs:
            want = self.num_joints + 4
            if inputs.shape[2] != want:
                raise ValueError(f'VirtualPose: the AGR has {inputs.shape[2]} channels, the '
                                 f'model expects {want} ({self.num_joints} joint heatmaps + '
                                 '4 box-map channels)')
            finite = torch.isfinite(inputs).flatten(1).all(-1)
            if not bool(finite.all()):
                bad = (~finite).nonzero().flatten().tolist()
                raise ValueError(f'VirtualPose: the AGRs of samples {bad[:8]} contain NaN or '
                                 'Inf values')
        return inputs.float()

    def parse_meta(self, data_samples, num_views: Optional[int] = 1) -> ViewMeta:
        """The batch's :class:`ViewMeta` (base class; one view), with ``input_size``
        (default the model's) and ``depth_norm_factor`` (B,) (default
        ``sqrt(fx · fy · |det A|)``) always set."""
        vm = super().parse_meta(data_samples, num_views)
        if vm.num_views != 1:
            raise ValueError(f'VirtualPose is monocular: the batch has {vm.num_views} views '
                             'per frame')
        dnf = vm.depth_norm_factor
        if dnf is None:
            A = vm.affines[:, 0, :, :2]
            f = vm.cameras.f[:, 0]
            dnf = torch.sqrt(f[:, 0] * f[:, 1] * torch.det(A).abs())
            if not (torch.isfinite(dnf).all() and (dnf > 0).all()):
                raise ValueError('VirtualPose: the depth normalisation sqrt(fx·fy·|det A|) '
                                 f'is not a positive number for every sample: {dnf.tolist()}')
        return vm._replace(input_size=vm.input_size or self.input_size,
                           depth_norm_factor=dnf)

    def parse_gt(self, data_samples, device, heatmap_size=None,
                 require: bool = True) -> Optional[Dict[str, Tensor]]:
        """Padded GT of the batch (base class: ``roots`` (B, G, 3), ``counts`` (B,),
        ``joints`` (B, G, K, 3), ``weights`` (B, G, K), ``roots_list``), and with
        ``heatmap_size`` (W, H) (training) the depth-loss targets ``root_depth`` (B, G) mm,
        ``root_ind`` (B, G) long, ``root_mask`` (B, G) from ``gt_instance_labels`` (made by
        ``GenerateVirtualPoseAGR``). Returns None when ``require`` is False and a sample
        has no ``gt_instances.lifting_target``."""
        out = super().parse_gt(data_samples, device, require=require)
        if out is None or heatmap_size is None:
            return out
        W, H = heatmap_size
        B, G = out['roots'].shape[:2]
        out.update(root_depth=torch.zeros(B, G, dtype=torch.float64, device=device),
                   root_ind=torch.zeros(B, G, dtype=torch.long, device=device),
                   root_mask=torch.zeros(B, G, device=device))
        for b, ds in enumerate(data_samples):
            n = int(out['counts'][b])
            gl = ds.get('gt_instance_labels', None)
            src = f'data_samples[{b}].gt_instance_labels'
            missing = [k for k in ('root_depth', 'root_ind', 'root_mask')
                       if gl is None or k not in gl]
            if missing:
                raise ValueError(f'{src}: missing {missing}; training needs the depth-loss '
                                 'targets, which the transform GenerateVirtualPoseAGR makes '
                                 'before PackVirtualPoseInputs')
            ind = _t(gl.root_ind, device, torch.long).reshape(n)
            if ((ind < 0) | (ind >= W * H)).any():
                raise ValueError(f'{src}.root_ind: values must index the {H}×{W} AGR, got '
                                 f'{ind.tolist()}')
            out['root_depth'][b, :n] = _t(gl.root_depth, device, torch.float64).reshape(n)
            out['root_ind'][b, :n] = ind
            out['root_mask'][b, :n] = _t(gl.root_mask, device).reshape(n)
        return out

    def default_roots(self, joints: Tensor) -> Tensor:
        """The ``root_index`` joint (mid-hip)."""
        return joints[:, self.root_index]

    # ------------------------------------------------------------------ the forward
    def run(self, inputs, data_samples=None, gt: Optional[Dict[str, Tensor]] = None,
            per_slot: bool = False, return_intermediates: bool = False,
            meta: Optional[ViewMeta] = None, with_pose: bool = True) -> Dict:
        """The whole forward; returns every intermediate the modes need.

        Args:
            inputs: (B, 1, K + 4, H, W) AGR.
            data_samples: B data samples with ``view_meta`` (the data preprocessor's).
            gt: :meth:`parse_gt` output to flag proposals by GT matching (training, or
                ``gt_proposal_filter``), or None to flag them by score.
            per_slot: run the pose net once per proposal slot (reference BatchNorm).
            return_intermediates: also return the pose-net cubes and volumes.
            meta: :meth:`parse_meta` output, if already parsed (then ``data_samples`` is
                not read).
            with_pose: run the pose net (False: the result has the root-net outputs and
                ``proposals`` only; training with a frozen pose net).

        Returns:
            dict: ``meta`` (:meth:`parse_meta`), the root-net outputs (``depth_map``,
            ``det``, ``depths_mm``, ``ren_input``, ``root_volume``), ``proposals``
            (B, M, 5), ``poses`` (B, M, K, 3) (detached, 0 for unused slots),
            ``pair_index`` (P, 2) (sample, slot) of the proposals the pose net ran on,
            ``pair_poses`` (P, K, 3) (with gradients), ``pose_grids`` (P, N, 3), and with
            ``return_intermediates`` ``pose_cubes`` and ``pose_volumes`` (P, K, x, y, z).
        """
        inputs = self._inputs(inputs)
        K = self.num_joints
        if meta is None:
            meta = self.parse_meta(data_samples, inputs.shape[1])
        heatmaps = inputs[:, :, :K]                                     # (B, 1, K, H, W)
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and 'root_net' not in self.frozen):
            ren = self.root_net(heatmaps[:, 0], inputs[:, 0, K:K + 4], meta.cameras,
                                meta.affines, meta.image_sizes, meta.depth_norm_factor,
                                input_size=meta.input_size)
        if gt is not None:
            proposals = self.root_net.get_proposals(ren['root_volume'], gt['roots'],
                                                    gt['counts'])
        else:
            proposals = self.root_net.get_proposals(ren['root_volume'])
            proposals = self.root_net.complete_proposals(
                proposals, ren, meta.cameras, meta.affines, meta.input_size,
                (inputs.shape[-1], inputs.shape[-2]))
        result = dict(meta=meta, proposals=proposals, **ren)
        if not with_pose:
            return result
        if gt is not None and self.training and self.train_cubes_at_gt_depth:
            proposals = self.proposals_at_gt_depth(proposals, gt['roots'], meta.cameras)
        # a frozen pose net runs without gradients (as a frozen root net; its V2V then
        # takes the fast inference copy, ``fast_eval``)
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and 'pose_net' not in self.frozen):
            result.update(self.run_pose_net(heatmaps, proposals, meta, meta.input_size,
                                            per_slot=per_slot,
                                            return_intermediates=return_intermediates))
        if self.refiner is not None:
            b_idx, m_idx = result['pair_index'].unbind(-1)
            with torch.set_grad_enabled(torch.is_grad_enabled()
                                        and 'refiner' not in self.frozen):
                ref = self.refiner(result['pair_poses'].detach(), b_idx, heatmaps,
                                   meta.cameras, meta.affines, meta.input_size)
            refined = ref['poses'].detach()
            if self.depth_refiner is not None and not self.training and len(refined):
                with torch.no_grad():
                    dref = self.depth_refiner(result['pair_poses'].detach(), b_idx, heatmaps,
                                              meta.cameras, meta.affines, meta.input_size)
                r = self.root_index
                refined = refined + (dref['poses'][:, r:r + 1] - refined[:, r:r + 1])
            poses = result['poses'].clone()
            poses[b_idx, m_idx] = refined.to(poses.dtype)
            result.update(unrefined_poses=result['poses'], poses=poses,
                          refined_pair_poses=ref['poses'])
        if self.test_depth_range is not None and not self.training and gt is None:
            result['proposals'] = self.drop_out_of_depth_range(result, meta)
        return result

    def drop_out_of_depth_range(self, result: Dict, meta: ViewMeta) -> Tensor:
        """``test_depth_range``: the proposals with the people whose final root (joint
        ``root_index`` of ``poses``) lies at a camera depth outside ``(min, max)`` mm
        flagged −1 (not people); the others unchanged."""
        proposals = result['proposals'].clone()
        b_idx, m_idx = result['pair_index'].unbind(-1)
        if not len(b_idx):
            return proposals
        cam = item_cameras(meta.cameras, b_idx, proposals.device)
        root = result['poses'][b_idx, m_idx, self.root_index].to(torch.float64)
        z = cam.depth(root[:, None])[:, 0]                                        # (P, )
        lo, hi = self.test_depth_range
        out = (z < lo) | (z > hi)
        proposals[b_idx[out], m_idx[out], 3] = -1.0
        return proposals

    @staticmethod
    def proposals_at_gt_depth(proposals: Tensor, gt_roots: Tensor, cameras) -> Tensor:
        """Matched proposals moved along their camera ray to their GT root's depth.

        Args:
            proposals: (B, M, 5) ``x, y, z, flag, score``; ``flag`` ≥ 0 is the matched GT
                index (training).
            gt_roots: (B, G, 3) GT roots, world mm.
            cameras: the samples' cameras, batch shape (B, 1).

        Returns:
            (B, M, 5): a copy where each matched proposal p becomes ``C + (z_g / z_p)(p − C)``
            (C the camera centre, z the camera depth, g its GT root), so it keeps its
            image position and gets the GT root's depth; other rows are unchanged.
        """
        out = proposals.clone()
        flag = proposals[..., 3].long()
        b_idx, m_idx = (flag >= 0).nonzero(as_tuple=True)
        if b_idx.numel() == 0:
            return out
        cam = item_cameras(cameras, b_idx, proposals.device)
        eye = cam.center                                                   # (n, 3)
        p = proposals[b_idx, m_idx, :3].double()
        g = gt_roots[b_idx, flag[b_idx, m_idx]].double()
        zp = cam.depth(p[:, None])[:, 0]                                   # (n, )
        zg = cam.depth(g[:, None])[:, 0]
        scale = torch.where(zp > 1.0, zg / zp.clamp_min(1.0), torch.ones_like(zp))
        out[b_idx, m_idx, :3] = (eye + scale[:, None] * (p - eye)).to(out)
        return out

    # ------------------------------------------------------------------ losses
    def compute_raw_losses(self, result: Dict, data_samples, gt) -> Dict[str, Tensor]:
        """Unweighted losses: ``depth`` (mm, float64), ``root`` (MSE), ``pose`` (mm);
        those of a ``frozen`` network are left out."""
        device = result['root_volume'].device
        out = {}
        if 'root_net' not in self.frozen:
            out['depth'] = root_depth_l1(result['depth_map'], result['meta'].depth_norm_factor,
                                         gt['root_ind'], gt['root_mask'], gt['root_depth'])
            out['root'] = root_volume_mse(result['root_volume'],
                                          self.root_targets(data_samples, device))
        if 'pose_net' not in self.frozen:
            out['pose'] = self.pose_loss(result, gt)
        if self.refiner is not None and 'refiner' not in self.frozen:
            out['refine'] = self.refine_loss(result, gt)
        return out

    def refine_loss(self, result: Dict, gt: Dict) -> Tensor:
        """The refiner's loss over the GT-matched pairs (mm); without pairs
        a zero connected to every refiner parameter (DDP sees all of them)."""
        b_idx, m_idx = result['pair_index'].unbind(-1)
        if b_idx.numel():
            g_idx = result['proposals'][b_idx, m_idx, 3].long()
            return self.refiner.loss(result['refined_pair_poses'], gt['joints'][b_idx, g_idx],
                                     gt['weights'][b_idx, g_idx], result['meta'].cameras,
                                     b_idx)
        params = [p for p in self.refiner.parameters() if p.requires_grad]
        return sum((p.sum() * 0.0 for p in params), result['root_volume'].new_zeros(()))

    def loss(self, inputs, data_samples) -> Dict[str, Tensor]:
        """Training losses (see the class docstring)."""
        if self.refiner_train_inputs is not None:
            return dict(loss_refine=self.loss_weights['refine']
                        * self.refiner_loss_on_gt(inputs, data_samples))
        result = self.loss_forward(inputs, data_samples)
        raw = self.compute_raw_losses(result, data_samples, result['gt'])
        w = self.loss_weights
        out = {}
        if 'depth' in raw:
            out.update(loss_depth=(w['depth'] * raw['depth']).float(),
                       loss_root=w['root'] * raw['root'])
        if 'pose' in raw:
            out['loss_pose'] = w['pose'] * raw['pose']
        if 'refine' in raw:
            out['loss_refine'] = w['refine'] * raw['refine']
        return out

    def refiner_loss_on_gt(self, inputs, data_samples) -> Tensor:
        """The refiner's loss on perturbed GT poses (``refiner_train_inputs``, class
        docstring); every GT person of the batch is one item."""
        inputs = self._inputs(inputs)
        meta = self.parse_meta(data_samples, inputs.shape[1])
        gt = self.parse_gt(data_samples, inputs.device)
        G = gt['joints'].shape[1]
        used = torch.arange(G, device=inputs.device)[None] < gt['counts'][:, None]
        b_idx, g_idx = used.nonzero(as_tuple=True)
        joints = gt['joints'][b_idx, g_idx].double()                         # (P, K, 3)
        opts = self.refiner_train_inputs
        noisy = joints + torch.randn_like(joints) * opts['joint_std']
        cam = item_cameras(meta.cameras, b_idx, inputs.device)
        if opts['unseen_joint_std'] > 0:
            unseen = self.joints_off_heatmaps(joints, b_idx, meta, inputs.shape[-1],
                                              inputs.shape[-2]) | \
                (gt['weights'][b_idx, g_idx] <= 0)
            noisy = noisy + torch.randn_like(joints) * opts['unseen_joint_std'] * \
                unseen[..., None].to(joints)
        eye = cam.center[:, None]                                            # (P, 1, 3)
        sigma = torch.full((len(b_idx), 1, 1), opts['depth_log_std'], dtype=joints.dtype,
                           device=joints.device)
        if opts['outlier_prob'] > 0:
            out = torch.rand(sigma.shape, device=sigma.device) < opts['outlier_prob']
            sigma = torch.where(out, torch.full_like(sigma, opts['outlier_log_std']), sigma)
        scale = torch.exp(torch.randn_like(sigma) * sigma)
        noisy = eye + scale * (noisy - eye)
        heatmaps = inputs[:, :, :self.num_joints]
        if self.refiner_heatmap_peaks:
            heatmaps = self.heatmap_peaks(data_samples, gt['counts'],
                                          (inputs.shape[-1], inputs.shape[-2]))
        ref = self.refiner(noisy.float(), b_idx, heatmaps, meta.cameras, meta.affines,
                           meta.input_size)
        if not len(b_idx):
            params = [p for p in self.refiner.parameters() if p.requires_grad]
            return sum((p.sum() * 0.0 for p in params), inputs.new_zeros(()))
        return self.refiner.loss(ref['poses'], joints.float(), gt['weights'][b_idx, g_idx],
                                 meta.cameras, b_idx)

    @staticmethod
    def joints_off_heatmaps(joints: Tensor, b_idx: Tensor, meta: ViewMeta, width: int,
                            height: int) -> Tensor:
        """(P, K) bool: the joints (P, K, 3) world mm of the samples ``b_idx`` that project
        outside their sample's heatmaps (``width`` × ``height`` px, pixel-index convention)
        or lie less than 1 mm in front of the camera."""
        cam = item_cameras(meta.cameras, b_idx, joints.device)
        A = meta.affines.to(device=joints.device, dtype=torch.float64)[b_idx, 0]
        A_hm = heatmap_affines(A, meta.input_size, (width, height))
        Xc, hm = world_to_heatmap(joints, cam, A_hm, min_depth=1.0)
        inside = (hm[..., 0] >= -0.5) & (hm[..., 0] < width - 0.5) & \
            (hm[..., 1] >= -0.5) & (hm[..., 1] < height - 0.5) & (Xc[..., 2] >= 1.0)
        return ~inside

    def heatmap_peaks(self, data_samples, counts: Tensor, heatmap_size):
        """The batch's AGR heatmaps as a :class:`PeakHeatmaps` from each sample's
        ``gt_instance_labels.agr_peaks`` (G, K, 4) (``refiner_train_inputs.heatmap_peaks``).
        """
        from virtualpose_mm.models.heads.lifting_pose_refiner import PeakHeatmaps
        K = self.num_joints
        device = counts.device
        G = int(counts.max()) if len(counts) else 0
        peaks = torch.zeros(len(data_samples), G, K, 4, dtype=torch.float64, device=device)
        for b, ds in enumerate(data_samples):
            gl = ds.get('gt_instance_labels', None)
            if gl is None or 'agr_peaks' not in gl:
                raise ValueError(f'data_samples[{b}].gt_instance_labels: missing agr_peaks; '
                                 'refiner_train_inputs.heatmap_peaks needs '
                                 "GenerateVirtualPoseAGR(heatmap_mode='peaks') in the "
                                 'training pipeline')
            n = int(counts[b])
            p = _t(gl.agr_peaks, device, torch.float64)
            if p.shape != (n, K, 4):
                raise ValueError(f'data_samples[{b}].gt_instance_labels.agr_peaks: shape '
                                 f'{tuple(p.shape)}, expected ({n}, {K}, 4)')
            peaks[b, :n] = p
        return PeakHeatmaps(peaks, counts, heatmap_size)

    def loss_forward(self, inputs, data_samples, return_intermediates: bool = False) -> Dict:
        """The training forward (GT-matched proposals); the result also holds ``gt``."""
        inputs = self._inputs(inputs)
        meta = self.parse_meta(data_samples, inputs.shape[1])
        gt = self.parse_gt(data_samples, inputs.device,
                           heatmap_size=(inputs.shape[-1], inputs.shape[-2]))
        trains_after_pose = self.refiner is not None and 'refiner' not in self.frozen
        with_pose = not (self.training and 'pose_net' in self.frozen) or trains_after_pose \
            or return_intermediates
        result = self.run(inputs, gt=gt, per_slot=self.pen_train_per_slot and self.training,
                          return_intermediates=return_intermediates, meta=meta,
                          with_pose=with_pose)
        result['gt'] = gt
        return result

    # ------------------------------------------------------------------ inference
    def predict_forward(self, inputs, data_samples, return_intermediates: bool = False
                        ) -> Dict:
        """The inference forward (score-flagged proposals, or GT-flagged with
        ``gt_proposal_filter`` when the samples carry GT)."""
        inputs = self._inputs(inputs)
        meta = self.parse_meta(data_samples, inputs.shape[1])
        gt = None
        if self.gt_proposal_filter:
            gt = self.parse_gt(data_samples, inputs.device, require=False)
        return self.run(inputs, gt=gt, return_intermediates=return_intermediates, meta=meta)

    def predict(self, inputs, data_samples):
        """Inference; fills ``pred_instances`` of each data sample (class docstring)."""
        return self.add_pred_to_datasample(self.predict_forward(inputs, data_samples),
                                           data_samples)
