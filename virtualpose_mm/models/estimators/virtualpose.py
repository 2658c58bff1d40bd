"""VirtualPose (Su et al., ECCV 2022), stage 2: one camera, multi-person, absolute 3D.

Input is the abstract geometry representation (AGR) of a frame — K joint heatmaps and a
4-channel box map at heatmap resolution — produced by a stage-1 2D network or, for
training, rendered from virtual scenes (:func:`virtualpose_mm.structures.render_agr`).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from virtualpose_mm.registry import MODELS
from ..utils.multiview import ViewMeta, parse_view_meta
from .base import VolumetricPoseEstimator
from .base import as_tensor as _t
from ..virtualpose.losses import root_depth_l1, root_volume_mse



def _np(x) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


@MODELS.register_module()
class VirtualPose(VolumetricPoseEstimator):
    """VirtualPose stage 2 for MMPose 1.x: AGR → absolute 3D poses of every person.

    Pipeline: root net (:class:`VirtualPoseRootNet`: depth estimator → people decoded from
    the root heatmap with their box and depth → depth-gated, box-masked projection → V2V
    root volume → 3D NMS proposals) → pose net (VoxelPose's
    :class:`~virtualpose_mm.models.heads.VoxelSinglePoseNet` with one view: a cube around
    each proposal → V2V → soft-argmax joints in world mm).

    **Inputs** (``forward(inputs, data_samples, mode)``):

    * ``inputs``: (B, K + 4, H, W) AGR (K joint heatmaps in [0, 1], then the box map
      (l, t, r, b) in heatmap px), or a list of B (K + 4, H, W) tensors. Use a data
      preprocessor that does not normalise (e.g. ``dict(type='BaseDataPreprocessor')``).
    * ``data_samples``: B ``PoseDataSample``; ``metainfo`` holds

      - ``camera``: the frame's camera in the package convention (``DESIGN.md`` §2: R
        world→camera, t, f, c, optional dist (k1 k2 p1 p2 k3) and image_size) as a
        :class:`Camera`, a ``Camera.to_dict()`` dict, or a reference dict (``R``,
        ``T`` = centre, ``fx fy cx cy``, ``k``, ``p``); ``cameras`` with one view (the
        multi-view layout of :mod:`virtualpose_mm.models.utils.multiview`) is accepted too;
      - ``affine``: (2, 3) original image px → network input (canvas) px, a letterbox
        without rotation (or ``affines`` (1, 2, 3));
      - ``image_size``: (w, h) of the original image (or ``image_sizes`` (1, 2); default
        the camera's image_size) — voxels projecting outside it are ignored;
      - ``input_size`` (optional): (w, h) of the canvas (default the model's
        ``input_size``, 960×512); AGR px = canvas px × AGR size / canvas size (stride 4);
      - ``depth_norm_factor`` (optional, mm): the DE regresses depth / this factor;
        default ``sqrt(fx · fy · |det A|)`` with A the 2×2 part of ``affine`` (the focal
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
        where the root is on the canvas), as
        :func:`~virtualpose_mm.structures.render_agr` returns them (``ind``,
        ``reg_mask``); if absent they are computed from the roots, the camera and the
        affine (nearest AGR pixel);
      - ``gt_fields.root_heatmap_3d`` (optional): (X, Y, Z) root target; default a 3D
        Gaussian (σ ``root_net.target_sigma``) at the roots.

    **Outputs.** ``predict`` fills ``pred_instances`` (numpy): ``keypoints`` (N, K, 3)
    float32 world mm, ``keypoint_scores`` (N, K) (the proposal score per joint),
    ``bbox_scores`` (N,) (detection confidence), ``centers_3d`` (N, 3) proposal centres;
    N = people found, no padding rows. ``loss``
    returns ``loss_depth`` (DE, L1 mm), ``loss_root`` (root volume MSE) and ``loss_pose``
    (joint L1 mm over proposals matched to a GT root), weighted by ``loss_weights``.
    ``tensor`` returns ``(poses (B, M, K, 3), proposals (B, M, 5), root_volume)``,
    proposals ``x, y, z, flag (≥ 0 person), score``.

    **Training.** Proposals are matched to the nearest GT root within
    ``root_net.match_distance`` mm and the pose net trains on every matched proposal. By
    default all matched (sample, proposal) pairs go through the pose net as ONE batch;
    ``pen_train_per_slot=True`` runs it once per proposal slot as the reference does
    (BatchNorm statistics and running-stat updates per slot); eval results do not depend on
    it. Without matched pairs ``loss_pose`` is a zero connected to every pose-net parameter.

    **Reference quirk options** (defaults are the sound behaviour):

    * ``gt_proposal_filter`` (False): the released VirtualPose evaluation flags proposals
      by GT matching whenever GT roots are in the metadata, at test time too, so false
      positives far from every GT root are discarded (and matched proposals are kept
      whatever their score). ``True`` reproduces it in ``predict`` when the data samples
      carry GT; by default test-time proposals are persons iff their score exceeds
      ``root_net.threshold``.
    * the decoding options ``root_net.peak_offset`` (0.5 in the reference) and
      ``root_net.sort_by_depth`` (far → near in the reference), see
      :mod:`virtualpose_mm.models.virtualpose.decode`;
    * the DE flip augmentation ``root_net.depth_net.flip_swap_channels`` (the reference
      does not swap left/right channels), see :class:`VirtualPoseDepthNet`;
    * the AGR rendering quirks, see :mod:`virtualpose_mm.structures.targets`.

    Args:
        root_net: config of :class:`VirtualPoseRootNet`.
        pose_net: config of :class:`VoxelSinglePoseNet` (VirtualPose: 2000 mm, 64³ cube).
        num_joints: K (17, the MuCo/MuPoTS order of VirtualPose).
        root_index: root joint (2, mid-hip).
        input_size: (w, h) of the canvas the affines map to (960, 512).
        loss_weights: weights of ``depth``, ``root``, ``pose`` (reference 0.1, 1000, 1).
        gt_proposal_filter: see above.
        pen_train_per_slot: see above.
        check_inputs: reject wrong channel counts and NaN/Inf inputs with clear errors.
        data_preprocessor, init_cfg: mmengine.
    """

    def __init__(self, root_net: dict, pose_net: dict, num_joints: int = 17,
                 root_index: int = 2, input_size: Sequence[float] = (960, 512),
                 loss_weights: Optional[dict] = None, gt_proposal_filter: bool = False,
                 pen_train_per_slot: bool = False, check_inputs: bool = True,
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
        self.input_size = tuple(float(v) for v in input_size)
        w = dict(depth=0.1, root=1000.0, pose=1.0)
        unknown = set(loss_weights or {}) - set(w)
        if unknown:
            raise ValueError(f'VirtualPose: unknown loss_weights {sorted(unknown)}; '
                             f'expected some of {sorted(w)}')
        w.update(loss_weights or {})
        self.loss_weights = w
        self.gt_proposal_filter = bool(gt_proposal_filter)
        self.pen_train_per_slot = bool(pen_train_per_slot)
        self.check_inputs = bool(check_inputs)

    # ------------------------------------------------------------------ inputs
    def _stack_inputs(self, inputs) -> Tensor:
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) != 1:
                raise ValueError('VirtualPose: the AGRs of a batch must have one shape, got '
                                 f'{sorted(shapes)}')
            inputs = torch.stack(list(inputs))
        if not isinstance(inputs, Tensor) or inputs.dim() != 4:
            raise ValueError('VirtualPose: inputs must be (B, K + 4, H, W) AGRs (or a list of '
                             f'(K + 4, H, W)), got {getattr(inputs, "shape", type(inputs))}')
        if self.check_inputs:
            want = self.num_joints + 4
            if inputs.shape[1] != want:
                raise ValueError(f'VirtualPose: the AGR has {inputs.shape[1]} channels, the '
                                 f'model expects {want} ({self.num_joints} joint heatmaps + '
                                 '4 box-map channels)')
            finite = torch.isfinite(inputs).flatten(1).all(-1)
            if not bool(finite.all()):
                bad = (~finite).nonzero().flatten().tolist()
                raise ValueError(f'VirtualPose: the AGRs of samples {bad[:8]} contain NaN or '
                                 'Inf values')
        return inputs.float()

    def parse_meta(self, data_samples, device) -> Dict:
        """Cameras (B, 1), affines (B, 1, 2, 3), image sizes (B, 1, 2), input size and
        depth normalisation factors (B,) of a batch (see the class docstring)."""
        if data_samples is None:
            raise ValueError('VirtualPose needs data_samples with the camera and the affine '
                             'in their metainfo')
        metas = []
        for b, ds in enumerate(data_samples):
            meta = ds.metainfo
            src = f'data_samples[{b}].metainfo'
            m = {}
            if 'cameras' in meta:
                m['cameras'] = meta['cameras']
            elif 'camera' in meta:
                m['cameras'] = [meta['camera']]
            else:
                raise ValueError(f'{src}: missing key \'camera\' (the frame\'s camera)')
            if 'affines' in meta:
                m['affines'] = meta['affines']
            elif 'affine' in meta:
                m['affines'] = _np(meta['affine'])[None]
            else:
                raise ValueError(f'{src}: missing key \'affine\' ((2, 3) original image px → '
                                 'network input px)')
            if meta.get('image_sizes') is not None:
                m['image_sizes'] = meta['image_sizes']
            elif meta.get('image_size') is not None:
                m['image_sizes'] = _np(meta['image_size']).reshape(1, 2)
            m['input_size'] = meta.get('input_size', self.input_size)
            metas.append(m)
        vm: ViewMeta = parse_view_meta(metas, 1, device=device)
        dnf = []
        for b, ds in enumerate(data_samples):
            meta = ds.metainfo
            if meta.get('depth_norm_factor') is not None:
                v = float(np.asarray(_np(meta['depth_norm_factor'])).reshape(-1)[0])
            else:
                A = vm.affines[b, 0, :, :2]
                f = vm.cameras.f[b, 0]
                v = float(torch.sqrt(f[0] * f[1] * torch.det(A).abs()))
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f'data_samples[{b}].metainfo: depth_norm_factor must be a '
                                 f'positive number, got {v}')
            dnf.append(v)
        return dict(cameras=vm.cameras, affines=vm.affines, image_sizes=vm.image_sizes,
                    input_size=vm.input_size or self.input_size,
                    depth_norm_factor=torch.tensor(dnf, dtype=torch.float64, device=device))

    def parse_gt(self, data_samples, meta: Dict, heatmap_size, device,
                 require: bool = True) -> Optional[Dict[str, Tensor]]:
        """Padded GT of the batch: ``roots`` (B, G, 3), ``counts`` (B,), ``joints``
        (B, G, K, 3), ``weights`` (B, G, K), ``roots_list``, and the depth-loss targets
        ``root_depth`` (B, G) mm, ``root_ind`` (B, G) long, ``root_mask`` (B, G). Returns
        None when ``require`` is False and a sample has no ``gt_instances.lifting_target``."""
        W, H = heatmap_size
        per = []
        for b, ds in enumerate(data_samples):
            read = self.read_gt_instance(ds, b, device)
            if read is None:
                if not require:
                    return None
                raise self.missing_gt_error(b)
            r, kp, w = read
            gl, G = ds.get('gt_instance_labels', None), kp.shape[0]
            src = f'data_samples[{b}].gt_instance_labels'
            have = [gl is not None and k in gl for k in ('root_depth', 'root_ind',
                                                        'root_mask')]
            if all(have):
                dep = _t(gl.root_depth, device, torch.float64).reshape(G)
                ind = _t(gl.root_ind, device, torch.long).reshape(G)
                msk = _t(gl.root_mask, device).reshape(G)
            elif any(have):
                raise ValueError(f'{src}: give all of root_depth, root_ind and root_mask, or '
                                 'none (then they are computed from the roots)')
            else:
                dep, ind, msk = self._root_pixel_targets(r, meta, b, (W, H))
            if ((ind < 0) | (ind >= W * H)).any():
                raise ValueError(f'{src}.root_ind: values must index the {H}×{W} AGR, got '
                                 f'{ind.tolist()}')
            per.append((r, kp, w, dep, ind, msk))
        out = self.pad_gt([p[0] for p in per], [p[1] for p in per], [p[2] for p in per],
                          device)
        B, G = out['roots'].shape[:2]
        out.update(root_depth=torch.zeros(B, G, dtype=torch.float64, device=device),
                   root_ind=torch.zeros(B, G, dtype=torch.long, device=device),
                   root_mask=torch.zeros(B, G, device=device))
        for b, (r, _, _, dep, ind, msk) in enumerate(per):
            n = r.shape[0]
            out['root_depth'][b, :n], out['root_ind'][b, :n] = dep, ind
            out['root_mask'][b, :n] = msk
        return out

    def default_roots(self, joints: Tensor) -> Tensor:
        """The ``root_index`` joint (mid-hip)."""
        return joints[:, self.root_index]

    def _root_pixel_targets(self, roots: Tensor, meta: Dict, b: int, heatmap_size):
        """Depth-loss targets of GT roots (G, 3) from the camera and the affine: camera
        depth (mm), the nearest AGR pixel's flat index, and whether the root is on the
        canvas (and in front of the camera)."""
        W, H = heatmap_size
        cam = meta['cameras'][b, 0]
        X = roots.double()[None]                                              # (1, G, 3)
        z = cam.world_to_camera(X)[0, :, 2]
        uv = cam.project(X)[0]                                                # (G, 2)
        A = meta['affines'][b, 0].double()
        canvas = uv @ A[:, :2].T + A[:, 2]
        iw, ih = meta['input_size']
        hm = canvas * canvas.new_tensor([W / iw, H / ih])
        pix = torch.floor(hm + 0.5).long()
        on = (canvas[:, 0] >= 0) & (canvas[:, 1] >= 0) & (canvas[:, 0] < iw) & \
            (canvas[:, 1] < ih) & (z > 0)
        px = pix[:, 0].clamp(0, W - 1)
        py = pix[:, 1].clamp(0, H - 1)
        ind = torch.where(on, py * W + px, torch.zeros_like(px))
        return z, ind, on.float()

    # ------------------------------------------------------------------ the forward
    def run(self, inputs, data_samples=None, gt: Optional[Dict[str, Tensor]] = None,
            per_slot: bool = False, return_intermediates: bool = False,
            meta: Optional[Dict] = None) -> Dict:
        """The whole forward; returns every intermediate the modes need.

        Args:
            inputs: (B, K + 4, H, W) AGR or a list of (K + 4, H, W).
            data_samples: B data samples with the metainfo of the class docstring.
            gt: :meth:`parse_gt` output to flag proposals by GT matching (training, or
                ``gt_proposal_filter``), or None to flag them by score.
            per_slot: run the pose net once per proposal slot (reference BatchNorm).
            return_intermediates: also return the pose-net cubes and volumes.
            meta: :meth:`parse_meta` output, if already parsed (then ``data_samples`` is
                not read).

        Returns:
            dict: ``meta`` (:meth:`parse_meta`), the root-net outputs (``depth_map``,
            ``det``, ``depths_mm``, ``ren_input``, ``root_volume``), ``proposals``
            (B, M, 5), ``poses`` (B, M, K, 3) (detached, 0 for unused slots),
            ``pair_index`` (P, 2) (sample, slot) of the proposals the pose net ran on,
            ``pair_poses`` (P, K, 3) (with gradients), ``pose_grids`` (P, N, 3), and with
            ``return_intermediates`` ``pose_cubes`` and ``pose_volumes`` (P, K, x, y, z).
        """
        inputs = self._stack_inputs(inputs)
        B, _, H, W = inputs.shape
        K = self.num_joints
        if meta is None:
            meta = self.parse_meta(data_samples, inputs.device)
        heatmaps, box_map = inputs[:, :K], inputs[:, K:K + 4]
        ren = self.root_net(heatmaps, box_map, meta['cameras'], meta['affines'],
                            meta['image_sizes'], meta['depth_norm_factor'],
                            input_size=meta['input_size'])
        if gt is not None:
            proposals = self.root_net.get_proposals(ren['root_volume'], gt['roots'],
                                                    gt['counts'])
        else:
            proposals = self.root_net.get_proposals(ren['root_volume'])
        used = proposals[..., 3] >= 0                                         # (B, M)
        if per_slot:  # slot-major order, as the reference loops over slots
            m_idx, b_idx = used.t().nonzero(as_tuple=True)
        else:
            b_idx, m_idx = used.nonzero(as_tuple=True)
        pose_cubes, grids = self.pose_net.project(
            heatmaps[:, None], proposals[b_idx, m_idx, :3], b_idx, meta['cameras'],
            meta['affines'], meta['image_sizes'], input_size=meta['input_size'])
        groups = None
        if per_slot and m_idx.numel():
            groups = [(m_idx == n).nonzero(as_tuple=True)[0] for n in m_idx.unique()]
        out = self.pose_net(pose_cubes, grids, groups=groups,
                            return_volumes=return_intermediates)
        pair_poses, pose_volumes = out if return_intermediates else (out, None)
        poses = heatmaps.new_zeros(B, proposals.shape[1], K, 3)
        poses[b_idx, m_idx] = pair_poses.detach().to(poses.dtype)
        result = dict(meta=meta, proposals=proposals, poses=poses,
                      pair_index=torch.stack([b_idx, m_idx], -1), pair_poses=pair_poses,
                      pose_grids=grids, **ren)
        if return_intermediates:
            result.update(pose_cubes=pose_cubes, pose_volumes=pose_volumes)
        return result

    # ------------------------------------------------------------------ losses
    def compute_raw_losses(self, result: Dict, data_samples, gt) -> Dict[str, Tensor]:
        """Unweighted losses: ``depth`` (mm, float64), ``root`` (MSE), ``pose`` (mm)."""
        device = result['root_volume'].device
        raw = dict()
        raw['depth'] = root_depth_l1(result['depth_map'], result['meta']['depth_norm_factor'],
                                     gt['root_ind'], gt['root_mask'], gt['root_depth'])
        raw['root'] = root_volume_mse(result['root_volume'],
                                      self.root_targets(data_samples, gt, device))
        b_idx, m_idx = result['pair_index'].unbind(-1)
        if b_idx.numel():
            g_idx = result['proposals'][b_idx, m_idx, 3].long()
            raw['pose'] = self.pose_net.loss(result['pair_poses'], gt['joints'][b_idx, g_idx],
                                   gt['weights'][b_idx, g_idx])
        else:  # keep every pose-net parameter in the graph (DDP), with a zero value
            params = [p for p in self.pose_net.parameters() if p.requires_grad]
            raw['pose'] = sum((p.sum() * 0.0 for p in params),
                              result['root_volume'].new_zeros(()))
        return raw

    def loss(self, inputs, data_samples) -> Dict[str, Tensor]:
        """Training losses (see the class docstring)."""
        result = self.loss_forward(inputs, data_samples)
        raw = self.compute_raw_losses(result, data_samples, result['gt'])
        w = self.loss_weights
        return dict(loss_depth=(w['depth'] * raw['depth']).float(),
                    loss_root=w['root'] * raw['root'], loss_pose=w['pose'] * raw['pose'])

    def loss_forward(self, inputs, data_samples, return_intermediates: bool = False) -> Dict:
        """The training forward (GT-matched proposals); the result also holds ``gt``."""
        inputs = self._stack_inputs(inputs)
        meta = self.parse_meta(data_samples, inputs.device)
        gt = self.parse_gt(data_samples, meta, (inputs.shape[-1], inputs.shape[-2]),
                           inputs.device)
        result = self.run(inputs, gt=gt, per_slot=self.pen_train_per_slot and self.training,
                          return_intermediates=return_intermediates, meta=meta)
        result['gt'] = gt
        return result

    # ------------------------------------------------------------------ inference
    def predict_forward(self, inputs, data_samples, return_intermediates: bool = False
                        ) -> Dict:
        """The inference forward (score-flagged proposals, or GT-flagged with
        ``gt_proposal_filter`` when the samples carry GT)."""
        inputs = self._stack_inputs(inputs)
        meta = self.parse_meta(data_samples, inputs.device)
        gt = None
        if self.gt_proposal_filter:
            gt = self.parse_gt(data_samples, meta, (inputs.shape[-1], inputs.shape[-2]),
                               inputs.device, require=False)
        return self.run(inputs, gt=gt, return_intermediates=return_intermediates, meta=meta)

    def predict(self, inputs, data_samples):
        """Inference; fills ``pred_instances`` of each data sample (class docstring)."""
        return self.add_pred_to_datasample(self.predict_forward(inputs, data_samples),
                                           data_samples)
