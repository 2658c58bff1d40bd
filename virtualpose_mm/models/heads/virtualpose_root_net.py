"""VirtualPose root estimation network (REN).

AGR → depth estimator (DE) → people decoded from the root heatmap (peak, box, depth) →
depth-gated, box-masked projection of the joint heatmaps into the capture space → V2V
root volume → 3D NMS proposals. Reference: wkom/VirtualPose
``models/root_estimation_net.py`` (``RootEstimationNet``, ``FilterLayer``).

Shared with VoxelPose: the V2V network (MMPose ``V2VNet``), the proposal layer (3D NMS,
top-k, voxel index → world, GT matching). Differences: the projection is single-view and
gated per decoded person (:func:`.projection.depth_gated_projection`), and the proposal
NMS uses a 5×5×5 max-pool (VoxelPose: 3).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from mmengine.model import BaseModule

from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.models.heads.voxel_center_net import FastEvalV2V, run_v2v
from virtualpose_mm.models.layers.projection import (heatmap_affines, heatmap_rays,
                                                     voxel_grid)
from virtualpose_mm.models.layers.proposal import ProposalLayer
from virtualpose_mm.models.utils.geometry_state import GeometryStateMixin
from virtualpose_mm.registry import MODELS
from virtualpose_mm.codecs.voxel_root_codec import VoxelRootCodec
from virtualpose_mm.models.layers.root_decode import decode_root_detections
from virtualpose_mm.models.layers.depth_gated_projection import depth_gated_projection

# joints of the 17-joint MuCo order the DE sees: neck, headtop, mid-hip, shoulders, hips,
# knees (reference ``RootEstimationNet.depth_joints``)
DEFAULT_DEPTH_JOINTS = (0, 1, 2, 3, 6, 7, 9, 12, 13)


@MODELS.register_module()
class VirtualPoseRootNet(GeometryStateMixin, BaseModule):
    """REN: decoded people + depth-gated projection → root volume → proposals.

    Args:
        num_joints: K, AGR joint heatmaps.
        root_index: the root joint (17-joint order: 2, mid-hip).
        depth_joints: heatmap channels fed to the DE.
        depth_net: config of the DE (:class:`VirtualPoseDepthNet`); ``in_channels`` is set
            from ``depth_joints``.
        v2v_net: config of the root V2V (K → 1); default MMPose ``V2VNet``.
        space_size: (3,) capture space in mm. space_center: (3,) mm.
        space_shape: (3,) voxels of the root volume (reference 80×80×24).
        max_people: decoded people and proposals per sample (reference 10).
        det_score_thr: a decoded root peak below it is not a person (reference 0.1).
        det_nms_kernel: 2D max-pool NMS of the root heatmap (3).
        peak_offset: added to the decoded integer peak (0.0 sound, 0.5 reference; see
            :mod:`.decode`).
        sort_by_depth: reference far → near order of the decoded people (:mod:`.decode`).
        depth_sigma: σ of the depth gate in mm (200).
        nms_kernel: 3D max-pool NMS of the root volume (reference 5).
        threshold: a proposal is a person when its score exceeds it (reference 0.3).
        subvoxel: refine the proposals' peaks to sub-voxel positions (parabola per axis,
            :func:`~virtualpose_mm.models.layers.proposal.refine_peaks`; an addition of
            this package, default False: the reference's voxel centres). The person's
            depth is the proposal's, so with 200 mm voxels the centres alone leave up to
            100 mm per axis of quantisation in it. Whether it helps depends on the trained
            root volume's shape near its peaks: measure it on tuning frames first (it
            helps the camera-facing config's checkpoint and hurts that of
            ``virtualpose_virtualcam_cpu.py``, whose config keeps it off).
        match_distance: GT matching radius in mm (reference ``MATCHED_THRESHOLD`` 500).
        target_sigma: σ in mm of the 3D Gaussian of the space's codec (200; the root
            targets are made by the transform ``GenerateRootTarget3D``).
        projection_precision: arithmetic of the camera projection: ``'float64'``
            (default), ``'float32'``, or ``'reference'`` (float32 in the reference's order
            of operations, to reproduce its volumes bit for bit; see
            :func:`~virtualpose_mm.models.layers.projection.compute_sampling_grid`).
        completion: people found in the image whom the root volume missed (an addition
            of this package; default None: off, the reference). ``dict(radius=R,
            min_score=S)``: at test time (:meth:`complete_proposals`), every decoded root
            peak with a score ≥ S that no person (flag ≥ 0) projects within R heatmap px
            of becomes a person at the depth estimator's depth on that peak's ray, in a
            free proposal slot, scored ``threshold`` × its peak score (below every
            proposal of the volume); peaks whose depth is under 100 mm are skipped. On
            the CPU configs' tuning frames nearly every person the volume missed had such
            a peak (30 of 31), at a depth the volume had not confirmed.
        fast_eval: in eval mode without gradients (inference, or a frozen root net in
            training), run the root V2V through a BatchNorm-folded, channels-last copy
            (:class:`~virtualpose_mm.models.heads.voxel_center_net.FastEvalV2V`; outputs
            equal the plain net's to ~1e-6 relative). Default False (the plain net).
        fft_first_layer: with ``fast_eval``, the V2V's 7³ first convolution by FFT
            (opt-in; as :class:`~virtualpose_mm.models.heads.voxel_center_net.VoxelCenterNet`).
        winograd: with ``fast_eval`` on the CPU, the 3×3×3 convolutions by Winograd
            (:class:`~virtualpose_mm.ops.WinogradConv3d`; on by default where the kernel
            builds).
    """

    def __init__(self, num_joints: int = 17, root_index: int = 2,
                 depth_joints: Sequence[int] = DEFAULT_DEPTH_JOINTS,
                 depth_net: Optional[dict] = None, v2v_net: Optional[dict] = None,
                 space_size: Sequence[float] = (8000., 8000., 2400.),
                 space_center: Sequence[float] = (0., 0., 1100.),
                 space_shape: Sequence[int] = (80, 80, 24), max_people: int = 10,
                 det_score_thr: float = 0.1, det_nms_kernel: int = 3,
                 peak_offset: float = 0.0, sort_by_depth: bool = False,
                 depth_sigma: float = 200.0, nms_kernel: int = 5, threshold: float = 0.3,
                 match_distance: float = 500.0, target_sigma: float = 200.0,
                 projection_precision: str = 'float64', subvoxel: bool = False,
                 completion: Optional[dict] = None, fast_eval: bool = False,
                 fft_first_layer: bool = False, winograd: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.fast_eval = bool(fast_eval)
        self._fast_v2v = FastEvalV2V(fft_first_layer, winograd=winograd)
        self.completion = None
        if completion is not None:
            comp = dict(completion)
            unknown = set(comp) - {'radius', 'min_score'}
            if unknown:
                raise ValueError(f'VirtualPoseRootNet: unknown completion keys {sorted(unknown)}'
                                 ' (radius, min_score)')
            self.completion = dict(radius=float(comp.get('radius', 5.0)),
                                   min_score=float(comp.get('min_score', 0.3)))
            if self.completion['radius'] < 0:
                raise ValueError('VirtualPoseRootNet: completion.radius must be ≥ 0, got '
                                 f'{self.completion["radius"]}')
        self.num_joints = int(num_joints)
        self.root_index = int(root_index)
        self.depth_joints = tuple(int(j) for j in depth_joints)
        bad = [j for j in self.depth_joints + (self.root_index, ) if not 0 <= j < num_joints]
        if bad:
            raise ValueError(f'VirtualPoseRootNet: joint indices {bad} are outside the '
                             f'{num_joints} heatmap channels')
        cfg = dict(type='VirtualPoseDepthNet')
        cfg.update(depth_net or {})
        cfg['in_channels'] = len(self.depth_joints)
        self.depth_net = MODELS.build(cfg)
        cfg = dict(type='V2VNet', input_channels=self.num_joints, output_channels=1)
        cfg.update(v2v_net or {})
        self.v2v_net = MODELS.build(cfg)
        space_size, space_center, space_shape = (tuple(v) for v in
                                                 (space_size, space_center, space_shape))
        if not len(space_size) == len(space_center) == len(space_shape) == 3:
            raise ValueError('VirtualPoseRootNet: space_size, space_center and space_shape '
                             'need 3 values (x, y, z)')
        if any(int(s) < 2 for s in space_shape):
            raise ValueError(f'VirtualPoseRootNet: space_shape needs ≥ 2 voxels per axis, '
                             f'got {space_shape}')
        # the space's codec: peak decoding (root targets: GenerateRootTarget3D)
        self.codec = VoxelRootCodec(space_size, space_center, space_shape,
                                    sigma=float(target_sigma))
        self.proposal_layer = ProposalLayer(space_size, space_center, space_shape,
                                            max_num=max_people, nms_kernel=nms_kernel,
                                            threshold=threshold, match_distance=match_distance,
                                            codec=self.codec, subvoxel=subvoxel)
        self.det_score_thr = float(det_score_thr)
        self.det_nms_kernel = int(det_nms_kernel)
        self.peak_offset = float(peak_offset)
        self.sort_by_depth = bool(sort_by_depth)
        self.depth_sigma = float(depth_sigma)
        self.target_sigma = float(target_sigma)
        if projection_precision not in ('float64', 'float32', 'reference'):
            raise ValueError('VirtualPoseRootNet: projection_precision must be float64, '
                             f'float32 or reference, got {projection_precision!r}')
        self.projection_precision = projection_precision

    # the space lives in the proposal layer (one source of truth)
    @property
    def space_size(self):
        return self.proposal_layer.space_size

    @property
    def space_center(self):
        return self.proposal_layer.space_center

    @property
    def space_shape(self):
        return self.proposal_layer.space_shape

    @property
    def max_people(self) -> int:
        return self.proposal_layer.max_num

    # ------------------------------------------------------------------ state
    geometry_fields = ('space_size', 'space_center', 'space_shape')
    geometry_what = 'capture space of the VirtualPose root net'

    # ------------------------------------------------------------------ forward
    def space_points(self, device=None) -> torch.Tensor:
        """(X·Y·Z, 3) voxel centres of the capture space, world mm (x slowest)."""
        return voxel_grid(self.space_size, self.space_center, self.space_shape, device=device)

    def forward(self, heatmaps: torch.Tensor, box_map: torch.Tensor, cameras: Camera,
                affines: torch.Tensor, image_sizes: torch.Tensor,
                depth_norm_factor: torch.Tensor, input_size=None) -> Dict[str, torch.Tensor]:
        """
        Args:
            heatmaps: (B, K, H, W) AGR joint heatmaps.
            box_map: (B, 4, H, W) AGR box map (l, t, r, b, heatmap px).
            cameras: torch cameras of batch shape (B, 1).
            affines: (B, 1, 2, 3) original image px → network input px.
            image_sizes: (B, 1, 2) original image (w, h).
            depth_norm_factor: (B,) mm per unit of the DE output.
            input_size: (w, h) of the network input the affines map to (heatmap px are
                input px × heatmap size / input size); None if the affines map to heatmap
                px.

        Returns:
            dict:

            * ``depth_map`` (B, 1, H, W): DE output (normalised depth);
            * ``det``: :func:`.decode.decode_root_detections` output (P = ``max_people``);
            * ``depths_mm`` (B, P) float64: decoded depths × ``depth_norm_factor`` (mm;
              meaningless where ``det['valid']`` is False);
            * ``ren_input`` (B, K, X, Y, Z): the projected volume;
            * ``root_volume`` (B, X, Y, Z): V2V output (no activation).
        """
        B = heatmaps.shape[0]
        depth_map = self.depth_net(heatmaps[:, list(self.depth_joints)])
        det = decode_root_detections(heatmaps[:, self.root_index], box_map, depth_map,
                                     self.max_people, score_thr=self.det_score_thr,
                                     nms_kernel=self.det_nms_kernel,
                                     peak_offset=self.peak_offset,
                                     sort_by_depth=self.sort_by_depth)
        dnf = depth_norm_factor.to(device=heatmaps.device)
        depths_mm = det['depths'].double() * dnf.double()[:, None]
        # the gate works in the heatmaps' dtype (depth · factor rounded as the reference)
        gate_depths = det['depths'] * dnf.to(det['depths'].dtype)[:, None]
        ren_input, _ = depth_gated_projection(
            heatmaps, self.space_points(heatmaps.device), cameras, affines, image_sizes,
            det['bboxes'], gate_depths, det['valid'], input_size=input_size,
            sigma=self.depth_sigma, precision=self.projection_precision)
        ren_input = ren_input.view(B, self.num_joints, *self.space_shape)
        root_volume = run_v2v(self, ren_input)[:, 0]
        return dict(depth_map=depth_map, det=det, depths_mm=depths_mm, ren_input=ren_input,
                    root_volume=root_volume)

    def complete_proposals(self, proposals: torch.Tensor, ren: Dict[str, torch.Tensor],
                           cameras: Camera, affines: torch.Tensor, input_size,
                           heatmap_size) -> torch.Tensor:
        """Add the decoded people the root volume missed (``completion``; a no-op when it
        is None).

        Args:
            proposals: (B, M, 5) score-flagged proposals (:meth:`get_proposals` without GT).
            ren: :meth:`forward`'s output (``det``, ``depths_mm``).
            cameras: the samples' cameras, batch shape (B, 1).
            affines: (B, 1, 2, 3) original image px → network input px.
            input_size: (w, h) the affines map to (None: heatmap px).
            heatmap_size: (W, H) of the AGR.

        Returns:
            (B, M, 5): a copy with, in free slots (flag < 0), ``x, y, z`` world mm of each
            added person's root (its peak's ray at the depth estimator's depth), flag 0 and
            score ``threshold`` × its peak score. Peaks are taken in the decoder's order
            (by score unless ``sort_by_depth``); one within ``radius`` of a person already
            kept (added ones included) is not added.
        """
        if self.completion is None:
            return proposals
        out = proposals.clone()
        det = ren['det']
        radius, min_score = self.completion['radius'], self.completion['min_score']
        cam = cameras.to_tensor(device=proposals.device, dtype=torch.float64)[:, 0]
        A = heatmap_affines(affines.to(device=proposals.device, dtype=torch.float64)[:, 0],
                            input_size, heatmap_size)                       # (B, 2, 3)
        xys = det['xys'].to(torch.float64)                                   # (B, P, 2)
        rays = heatmap_rays(xys, A, cam)                                      # (B, P, 2)
        kept_px = cam.camera_to_pixel(cam.world_to_camera(proposals[..., :3].double()),
                                      min_depth=1.0)
        kept_px = kept_px @ A[:, :, :2].transpose(-1, -2) + A[:, None, :, 2]  # (B, M, 2)
        threshold = float(self.proposal_layer.threshold)
        for b in range(out.shape[0]):
            kept = [kept_px[b, m] for m in range(out.shape[1]) if out[b, m, 3] >= 0]
            free = [m for m in range(out.shape[1]) if out[b, m, 3] < 0]
            for p in range(xys.shape[1]):
                if not free:
                    break
                score = float(det['scores'][b, p])
                if not bool(det['valid'][b, p]) or score < min_score:
                    continue
                if kept and float(torch.stack(kept).sub(xys[b, p]).norm(dim=-1).min()) \
                        <= radius:
                    continue
                z = ren['depths_mm'][b, p].double()
                if not float(z) > 100.0:       # no depth (an untrained or failing DE)
                    continue
                X = cam[b:b + 1].camera_to_world(
                    torch.cat([rays[b, p] * z, z[None]])[None, None])[0, 0]
                m = free.pop(0)
                out[b, m, :3] = X.to(out.dtype)
                out[b, m, 3] = 0
                out[b, m, 4] = threshold * score
                kept.append(xys[b, p])
        return out

    def get_proposals(self, root_volume: torch.Tensor, gt_roots=None, gt_counts=None
                      ) -> torch.Tensor:
        """(B, X, Y, Z) → (B, M, 5) proposals ``x, y, z (mm), flag, score``; the flag is the
        matched GT index (or −1) when GT roots are given, else 0 / −1 by the threshold."""
        return self.proposal_layer(root_volume, gt_roots, gt_counts)
