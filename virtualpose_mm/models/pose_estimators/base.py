"""What the voxel-space estimators share: the data preprocessor and the reading of the batch
(:meth:`VolumetricPoseEstimator.parse_meta`), the mode dispatch, GT reading, the root-volume
targets, the pose net over the proposals and its loss, the packing of predictions into
``pred_instances`` (all three models), and the 2D front end of the calibrated multi-view
models (:class:`MultiViewPoseEstimator`: VoxelPose, Faster-VoxelPose)."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor, nn

from virtualpose_mm.geometry.voxel_space import VoxelSpace
from virtualpose_mm.models.data_preprocessors.multiview import MultiViewDataPreprocessor
from virtualpose_mm.models.utils.int8_weights import dequantize_load_hook
from virtualpose_mm.models.utils.multiview import ViewMeta


def as_tensor(x, device=None, dtype=torch.float32) -> Tensor:
    """A detached tensor of ``dtype`` on ``device`` from a tensor, array or list."""
    if isinstance(x, Tensor):
        return x.detach().to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), device=device, dtype=dtype)


#: Data-sample fields under their names before the MMPose field convention → where they
#: live now (the table of :mod:`virtualpose_mm.datasets.transforms.formatting`).
RENAMED_FIELDS = {
    'gt_instances.keypoints_3d': 'gt_instances.lifting_target',
    'gt_instances.keypoints_3d_visible': 'gt_instances.lifting_target_visible (visibility) '
                                         'or gt_instance_labels.keypoint_weights (loss '
                                         'weights)',
    'gt_instances.keypoints_3d_eval_visible': 'gt_instances.lifting_target_visible',
    'gt_instances.root_depth': 'gt_instance_labels.root_depth',
    'gt_instances.root_ind': 'gt_instance_labels.root_ind',
    'gt_instances.root_mask': 'gt_instance_labels.root_mask',
    'gt_root_heatmap_3d': 'gt_fields.root_heatmap_3d',
    'gt_heatmaps_2d': 'gt_fields.heatmaps',
    'gt_heatmap_weights_2d': 'gt_fields.keypoint_weights_2d',
}


def reject_renamed_fields(ds, b: int) -> None:
    """Raise if data sample ``b`` carries a field under its old name (it would otherwise be
    ignored without a word)."""
    for old, new in RENAMED_FIELDS.items():
        parent, _, name = old.rpartition('.')
        holder = ds.get(parent, None) if parent else ds
        if holder is not None and name in holder:
            raise ValueError(f'data_samples[{b}].{old} is no longer read: it is now {new}')


def build_data_preprocessor(cfg, owner: str) -> MultiViewDataPreprocessor:
    """The estimators' data preprocessor: :class:`MultiViewDataPreprocessor` (default
    settings when ``cfg`` is None), built from a config dict or given as a module."""
    if cfg is None:
        return MultiViewDataPreprocessor()
    if isinstance(cfg, dict):
        from virtualpose_mm.registry import MODELS
        cfg = MODELS.build(dict(cfg))
    if not isinstance(cfg, MultiViewDataPreprocessor):
        raise TypeError(f'{owner}: data_preprocessor must be a MultiViewDataPreprocessor (it '
                        'stacks the cameras and affines of the batch that the model reads), '
                        f'got {type(cfg).__name__}')
    return cfg


class VolumetricPoseEstimator(BaseModel):
    """Base of the voxel-space estimators.

    **The batch.** ``inputs`` are (B, V, C, H, W) (V = 1 for a monocular model) and every
    data sample carries metainfo ``view_meta``: the :class:`ViewMeta` of the batch that the
    data preprocessor (always a :class:`MultiViewDataPreprocessor`, part of the model)
    stacks once from the pack transform's canonical layout
    (:mod:`virtualpose_mm.models.utils.multiview`). :meth:`parse_meta` is the one way to
    read it; nothing here reads camera formats.

    A subclass provides ``self.root_net`` (with ``space_shape``), ``self.pose_net``
    (:class:`~virtualpose_mm.models.heads.VoxelSinglePoseNet`), ``self.num_joints`` and the
    methods ``run(inputs, data_samples)`` → dict with ``poses`` (B, M, K, 3) world mm,
    ``proposals`` (B, M, 5) = (x, y, z, flag, score) and ``root_volume`` (B, X, Y, Z),
    ``loss(inputs, data_samples)`` and ``predict(inputs, data_samples)``.
    """

    def __init__(self, data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=build_data_preprocessor(
            data_preprocessor, type(self).__name__), init_cfg=init_cfg)
        self._frozen_modules: Tuple[str, ...] = ()
        # checkpoints with int8-stored weights load as float (models/utils/int8_weights.py)
        self.register_load_state_dict_pre_hook(dequantize_load_hook)

    # ------------------------------------------------------------------ freezing
    def freeze(self, *names: str) -> None:
        """Freeze the submodules ``names`` (attribute names): their parameters stop
        requiring gradients and :meth:`train` keeps them in eval mode, so their BatchNorm
        statistics do not move either. The one freezing mechanism of the estimators
        (``freeze_2d`` of the multi-view ones, ``frozen`` of VirtualPose)."""
        for name in names:
            module = getattr(self, name, None)
            if not isinstance(module, nn.Module):
                raise ValueError(f'{type(self).__name__}: cannot freeze {name!r}: no such '
                                 'submodule')
            module.requires_grad_(False)
            if name not in self._frozen_modules:
                self._frozen_modules += (name, )

    def train(self, mode: bool = True):
        """``nn.Module.train``; the submodules frozen by :meth:`freeze` stay in eval mode."""
        super().train(mode)
        if mode:
            for name in self._frozen_modules:
                getattr(self, name).eval()
        return self

    # ------------------------------------------------------------------ the batch
    def _inputs(self, inputs) -> Tensor:
        """The (B, V, C, H, W) inputs tensor of the data preprocessor, checked."""
        if not isinstance(inputs, Tensor) or inputs.dim() != 5:
            raise ValueError(f'{type(self).__name__}: inputs must be a (B, V, C, H, W) tensor '
                             '(the data preprocessor stacks the frames), got '
                             f'{getattr(inputs, "shape", type(inputs).__name__)}')
        return inputs

    def parse_meta(self, data_samples, num_views: Optional[int] = None) -> ViewMeta:
        """The :class:`ViewMeta` of the batch (cameras (B, V), affines (B, V, 2, 3), image
        sizes (B, V, 2), input size, rig keys, depth normalisation), as the data
        preprocessor stacked it. ``num_views`` (the inputs' V) is checked against the
        model's ``num_views`` attribute (if set) and against the batch's cameras."""
        name = type(self).__name__
        want = getattr(self, 'num_views', None)
        if want is not None and num_views is not None and num_views != want:
            raise ValueError(f'{name}: the inputs have {num_views} views, the model is '
                             f'configured for num_views={want}')
        if data_samples is None or not len(data_samples):
            raise ValueError(f'{name} needs data_samples with the views of each frame '
                             '(cameras and affines, packed by PackMultiViewPoseInputs / '
                             'PackVirtualPoseInputs)')
        vm = None
        for b, ds in enumerate(data_samples):
            v = ds.metainfo.get('view_meta')
            if not isinstance(v, ViewMeta):
                raise ValueError(
                    f'data_samples[{b}].metainfo has no view_meta: the batch did not go '
                    f'through the model\'s data preprocessor (MultiViewDataPreprocessor), '
                    'which stacks the cameras and affines of the pack transform. Call '
                    '`data = model.data_preprocessor(dict(inputs=..., data_samples=...))` and '
                    '`model(**data, mode=...)`, or train_step / val_step / test_step')
            if vm is not None and v is not vm:
                raise ValueError(f'data_samples[{b}]: its view_meta is from another batch '
                                 'than data_samples[0]\'s; run the data preprocessor on this '
                                 'batch')
            vm = v
        if vm.batch_size != len(data_samples):
            raise ValueError(f'{name}: {len(data_samples)} data samples, but their view_meta '
                             f'was stacked for a batch of {vm.batch_size}; run the data '
                             'preprocessor on this batch')
        if num_views is not None and vm.num_views != num_views:
            raise ValueError(f"{name}: the inputs have {num_views} views, the cameras of the "
                             f"batch (metainfo 'cameras') {vm.num_views}")
        return vm

    def default_roots(self, joints: Tensor) -> Tensor:
        """(G, K, 3) GT joints → (G, 3) GT roots when ``gt_instances.roots_3d`` is not
        given."""
        raise NotImplementedError

    def read_gt_instance(self, ds, b: int, device) -> Optional[Tuple[Tensor, Tensor, Tensor]]:
        """One sample's GT for training: roots (G, 3) mm, joints (G, K, 3) mm and joint
        weights (G, K) — ``gt_instances.roots_3d`` (default :meth:`default_roots`),
        ``gt_instances.lifting_target`` and ``gt_instance_labels.keypoint_weights``
        (default ``gt_instances.lifting_target_visible``, else 1); fields as in the table
        of :mod:`virtualpose_mm.datasets.transforms.formatting`. None if the sample has no
        ``gt_instances.lifting_target``. Bad shapes, non-finite values and fields under
        their pre-MMPose-convention names raise."""
        K = self.num_joints
        src = f'data_samples[{b}].gt_instances'
        reject_renamed_fields(ds, b)
        gi = ds.get('gt_instances', None)
        if gi is None or 'lifting_target' not in gi:
            return None
        kp = as_tensor(gi.lifting_target, device)
        kp = kp.reshape(0, K, 3) if kp.numel() == 0 else kp
        if kp.dim() != 3 or tuple(kp.shape[1:]) != (K, 3):
            raise ValueError(f'{src}.lifting_target: shape {tuple(kp.shape)}, expected '
                             f'(G, {K}, 3)')
        G = kp.shape[0]
        labels = ds.get('gt_instance_labels', None)
        if labels is not None and 'keypoint_weights' in labels:
            w, name = labels.keypoint_weights, 'gt_instance_labels.keypoint_weights'
        elif 'lifting_target_visible' in gi:
            w, name = gi.lifting_target_visible, 'gt_instances.lifting_target_visible'
        else:
            w, name = None, ''
        if w is None:
            w = torch.ones(G, K, device=device)
        else:
            w = as_tensor(w, device)
            if w.numel() != G * K:
                raise ValueError(f'data_samples[{b}].{name}: shape '
                                 f'{tuple(w.shape)}, expected ({G}, {K})')
            w = w.reshape(G, K)
        if 'roots_3d' in gi:
            r = as_tensor(gi.roots_3d, device).reshape(G, 3)
        else:
            r = self.default_roots(kp) if G else kp.new_zeros(0, 3)
        if not (torch.isfinite(kp).all() and torch.isfinite(r).all()):
            raise ValueError(f'{src}: lifting_target / roots_3d contain NaN or Inf')
        return r, kp, w

    def missing_gt_error(self, b: int) -> ValueError:
        return ValueError(f'data_samples[{b}].gt_instances: training needs lifting_target '
                          f'(G, {self.num_joints}, 3) in world mm')

    def parse_gt(self, data_samples, device, require: bool = True) -> Optional[Dict]:
        """Padded GT of the batch (:meth:`read_gt_instance` per sample, :meth:`pad_gt`):
        ``roots`` (B, G, 3), ``counts`` (B,), ``joints`` (B, G, K, 3), ``weights``
        (B, G, K), ``roots_list``. A sample without ``gt_instances.lifting_target`` is an
        error, or, when ``require`` is False, makes the result None."""
        per = []
        for b, ds in enumerate(data_samples):
            gt = self.read_gt_instance(ds, b, device)
            if gt is None:
                if not require:
                    return None
                raise self.missing_gt_error(b)
            per.append(gt)
        return self.pad_gt([p[0] for p in per], [p[1] for p in per], [p[2] for p in per],
                           device)

    def pad_gt(self, roots: List[Tensor], joints: List[Tensor], weights: List[Tensor],
               device) -> Dict:
        """Per-sample GT → padded ``roots`` (B, G, 3), ``counts`` (B,), ``joints``
        (B, G, K, 3), ``weights`` (B, G, K) and ``roots_list`` (G = max(G_b, 1))."""
        K = self.num_joints
        counts = torch.tensor([r.shape[0] for r in roots], device=device)
        G = max(int(counts.max()) if len(counts) else 0, 1)
        B = len(roots)
        pr = torch.zeros(B, G, 3, device=device)
        pj = torch.zeros(B, G, K, 3, device=device)
        pw = torch.zeros(B, G, K, device=device)
        for b in range(B):
            n = roots[b].shape[0]
            pr[b, :n], pj[b, :n], pw[b, :n] = roots[b], joints[b], weights[b]
        return dict(roots=pr, counts=counts, joints=pj, weights=pw, roots_list=list(roots))

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            r = self.run(inputs, data_samples)
            return r['poses'], r['proposals'], r['root_volume']
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, predict and tensor')

    def root_targets(self, data_samples, device) -> Tensor:
        """(B, X, Y, Z) root targets: each sample's ``gt_fields.root_heatmap_3d``, made by
        the transform :class:`~virtualpose_mm.datasets.transforms.GenerateRootTarget3D`
        (the codec :class:`~virtualpose_mm.codecs.VoxelRootCodec`, the one producer of
        root targets)."""
        shape = tuple(self.root_net.space_shape)
        out = []
        for b, ds in enumerate(data_samples):
            fields = ds.get('gt_fields', None)
            t = None if fields is None else fields.get('root_heatmap_3d', None)
            if t is None:
                raise ValueError(
                    f'data_samples[{b}].gt_fields.root_heatmap_3d: missing; training needs '
                    'the root target, which the transform GenerateRootTarget3D (with the '
                    f'root net\'s space, space_shape={shape}) makes before the pack '
                    'transform')
            t = as_tensor(t, device)
            if tuple(t.shape) != shape:
                raise ValueError(f'data_samples[{b}].gt_fields.root_heatmap_3d: shape '
                                 f'{tuple(t.shape)}, the root volume is {shape}')
            out.append(t)
        return torch.stack(out)

    # ------------------------------------------------------------------ the pose net
    def run_pose_net(self, heatmaps: Tensor, proposals: Tensor, meta: ViewMeta, input_size,
                     per_slot: bool = False, return_intermediates: bool = False) -> Dict:
        """The pose net on every usable proposal (flag ≥ 0).

        Args:
            heatmaps: (B, V, K, h, w) joint heatmaps.
            proposals: (B, M, 5) ``x, y, z, flag, score``.
            meta: the batch's :class:`ViewMeta`.
            input_size: (w, h) of the network input the affines map to.
            per_slot: slot-major order and one pose-net call per proposal slot (the
                reference's BatchNorm statistics); else one call on all pairs.
            return_intermediates: also return the cubes and the pose-net volumes.

        Returns:
            dict: ``poses`` (B, M, K, 3) (detached, 0 for unused slots), ``pair_index``
            (P, 2) (sample, slot), ``pair_poses`` (P, K, 3) (with gradients),
            ``pose_grids`` (P, N, 3), and with ``return_intermediates`` ``pose_cubes`` and
            ``pose_volumes`` (P, K, x, y, z).
        """
        used = proposals[..., 3] >= 0                                         # (B, M)
        if per_slot:  # slot-major order, as the reference loops over slots
            m_idx, b_idx = used.t().nonzero(as_tuple=True)
        else:
            b_idx, m_idx = used.nonzero(as_tuple=True)
        pose_cubes, grids = self.pose_net.project(
            heatmaps, proposals[b_idx, m_idx, :3], b_idx, meta.cameras, meta.affines,
            meta.image_sizes, input_size=input_size)
        groups = None
        if per_slot and m_idx.numel():
            groups = [(m_idx == n).nonzero(as_tuple=True)[0] for n in m_idx.unique()]
        out = self.pose_net(pose_cubes, grids, groups=groups,
                            return_volumes=return_intermediates)
        pair_poses, pose_volumes = out if return_intermediates else (out, None)
        B, M = proposals.shape[:2]
        poses = heatmaps.new_zeros(B, M, self.num_joints, 3)
        poses[b_idx, m_idx] = pair_poses.detach().to(poses.dtype)
        result = dict(poses=poses, pair_index=torch.stack([b_idx, m_idx], -1),
                      pair_poses=pair_poses, pose_grids=grids)
        if return_intermediates:
            result.update(pose_cubes=pose_cubes, pose_volumes=pose_volumes)
        return result

    def pose_loss(self, result: Dict, gt: Dict) -> Tensor:
        """The pose-net loss over the GT-matched pairs of :meth:`run_pose_net` (the flag of
        a training proposal is its GT index); without pairs a zero connected to every
        pose-net parameter (DDP sees all of them)."""
        b_idx, m_idx = result['pair_index'].unbind(-1)
        if b_idx.numel():
            g_idx = result['proposals'][b_idx, m_idx, 3].long()
            return self.pose_net.loss(result['pair_poses'], gt['joints'][b_idx, g_idx],
                                      gt['weights'][b_idx, g_idx])
        params = [p for p in self.pose_net.parameters() if p.requires_grad]
        return sum((p.sum() * 0.0 for p in params), result['root_volume'].new_zeros(()))

    def add_pred_to_datasample(self, result: Dict, data_samples):
        """Valid proposals (flag ≥ 0) become ``pred_instances`` (numpy; N = people found,
        no padding rows): ``keypoints`` (N, K, 3) float32 world mm, ``keypoint_scores``
        (N, K) (the proposal score for every joint, as the reference), ``bbox_scores`` (N,)
        (the proposal score: detection confidence), ``centers_3d`` (N, 3) mm (the
        proposal) and, with a ``refine`` layer, ``keypoints_refined`` (N, K) bool; the
        table of :mod:`virtualpose_mm.datasets.transforms.formatting`."""
        poses = result['poses'].detach().cpu().numpy().astype(np.float32)
        props = result['proposals'].detach().cpu().numpy().astype(np.float32)
        refined = result.get('refined')
        refined = None if refined is None else refined.cpu().numpy().astype(bool)
        K = self.num_joints
        for b, ds in enumerate(data_samples):
            keep = props[b, :, 3] >= 0
            n = int(keep.sum())
            inst = InstanceData()
            inst.keypoints = np.ascontiguousarray(poses[b, keep].reshape(n, K, 3))
            score = np.ascontiguousarray(props[b, keep, 4].reshape(n))
            inst.bbox_scores = score
            inst.keypoint_scores = np.repeat(score[:, None], K, axis=1).reshape(n, K)
            inst.centers_3d = np.ascontiguousarray(props[b, keep, :3].reshape(n, 3))
            if refined is not None:
                inst.keypoints_refined = np.ascontiguousarray(refined[b, keep].reshape(n, K))
            ds.pred_instances = inst
        return data_samples


class MultiViewPoseEstimator(VolumetricPoseEstimator):
    """Base of the calibrated multi-view estimators (VoxelPose, Faster-VoxelPose): what
    they share in front of their voxel nets.

    **Inputs.** Either per-view heatmaps (B, V, K, h, w) (``backbone``/``head_2d`` None),
    or images (B, V, 3, H, W) through an MMPose 2D network (``backbone`` + ``head_2d``,
    frozen with ``freeze_2d``; trained with its own ``loss_module`` on ``gt_fields.heatmaps``
    otherwise). The network input size the affines map to is the images' size, or the
    metainfo's ``input_size``, or the model's ``image_size`` for heatmap inputs.

    **GT roots** default to the mean of the ``root_joints`` (mid-hip for COCO-17).

    **Refinement** (``refine``, off by default): at test time the predicted joints can be
    moved to the robust triangulation of the input heatmaps' peaks near them
    (:class:`~virtualpose_mm.models.layers.HeatmapTriangulation`); ``pred_instances``
    then also has ``keypoints_refined`` (N, K) bool.
    """

    def _init_2d(self, num_joints: int, backbone: Optional[dict], head_2d: Optional[dict],
                 freeze_2d: bool, image_size, num_views: Optional[int],
                 root_joints, check_inputs: bool, refine: Optional[dict] = None) -> None:
        """Set the attributes of the class docstring (call in ``__init__``)."""
        from virtualpose_mm.registry import MODELS
        name = type(self).__name__
        if refine is not None and not isinstance(refine, dict):
            raise ValueError(f'{name}: refine must be a config dict (e.g. '
                             f"dict(type='HeatmapTriangulation')) or None, got {refine!r}")
        self.refiner = None
        if refine is not None:
            cfg = dict(refine)
            cfg.setdefault('type', 'HeatmapTriangulation')
            self.refiner = MODELS.build(cfg)
        if (backbone is None) != (head_2d is None):
            raise ValueError(f'{name}: give both backbone and head_2d (image input) or '
                             'neither (heatmap input)')
        self.num_joints = int(num_joints)
        self.backbone = MODELS.build(backbone) if backbone is not None else None
        self.head_2d = MODELS.build(head_2d) if head_2d is not None else None
        self.freeze_2d = bool(freeze_2d)
        self.image_size = None if image_size is None else tuple(float(v) for v in image_size)
        self.num_views = num_views
        self.root_joints = tuple(int(j) for j in root_joints)
        self.check_inputs = bool(check_inputs)
        if self.freeze_2d and self.backbone is not None:
            self.freeze('backbone', 'head_2d')

    @property
    def with_2d(self) -> bool:
        """Whether the model runs its own 2D network on images."""
        return self.backbone is not None

    def refine_poses(self, result: Dict, inputs: Tensor, data_samples) -> Dict:
        """Apply the ``refine`` layer (test time) to the poses of a :meth:`run` result.

        Replaces ``result['poses']`` (B, M, K, 3) by the refined poses of the usable
        proposals (flag ≥ 0) and adds ``refined`` (B, M, K) bool (the joints that moved);
        without a ``refine`` layer the result is returned unchanged (no ``refined`` key).
        """
        if self.refiner is None:
            return result
        meta = self.parse_meta(data_samples, result['heatmaps'].shape[1])
        input_size = self._input_size(inputs, meta)
        used = result['proposals'][..., 3] >= 0
        b_idx, m_idx = used.nonzero(as_tuple=True)
        out = self.refiner(result['poses'][b_idx, m_idx], b_idx, result['heatmaps'].detach(),
                           meta.cameras, meta.affines, meta.image_sizes, input_size)
        poses = result['poses'].clone()
        poses[b_idx, m_idx] = out['poses']
        refined = torch.zeros(poses.shape[:3], dtype=torch.bool, device=poses.device)
        refined[b_idx, m_idx] = out['refined']
        result = dict(result)
        result.update(poses=poses, refined=refined)
        if self.refiner.rescue is not None:
            # detection ran at rescue.min_score (predict): below the model's own threshold
            # only the people the views confirm stay
            proposals = result['proposals'].clone()
            low = proposals[b_idx, m_idx, 4] <= self.score_threshold
            keep = self.refiner.confirmed(out, b_idx, low, out['poses'][~low], b_idx[~low],
                                          scores=proposals[b_idx, m_idx, 4])
            drop = low & ~keep
            proposals[b_idx[drop], m_idx[drop], 3] = -1.0
            result['proposals'] = proposals
        return result

    # ------------------------------------------------------------------ completion
    @property
    def root_space(self) -> VoxelSpace:
        """The capture space of the root volume ``result['root_volume']``."""
        raise NotImplementedError

    def root_voxel(self, root: Tensor) -> List[int]:
        """The voxel (ix, iy, iz) of :attr:`root_space` nearest ``root`` (3,) mm."""
        space = self.root_space
        index = np.round(space.world_to_index(root.detach().double().cpu().numpy()))
        return np.clip(index, 0, np.asarray(space.shape) - 1).astype(int).tolist()

    def completion_row(self, result: Dict, b: int, root: Tensor) -> Tensor:
        """A proposal row (x, y, z, flag 0, score, …) for a root found by
        ``refine.complete``: the root, and as score the root volume's value in its voxel
        (column) — the detector's own confidence there (subclasses add their columns)."""
        vol = result['root_volume'][b]
        score = vol[tuple(self.root_voxel(root)[:vol.dim()])]
        row = result['proposals'].new_zeros(result['proposals'].shape[-1])
        row[:3] = root.to(row.dtype)
        row[4] = score.to(row.dtype)
        return row

    def completion_poses(self, result: Dict, proposals: Tensor, meta, input_size) -> Tensor:
        """(B, M, K, 3) the pose network's poses for the usable rows of ``proposals``
        (flag ≥ 0)."""
        return self.run_pose_net(result['heatmaps'], proposals, meta, input_size)['poses']

    @torch.no_grad()
    def complete_people(self, result: Dict, inputs: Tensor, data_samples) -> Dict:
        """``refine.complete`` (test time): people no proposal holds, found from the root
        joints' heatmap peaks (:meth:`HeatmapTriangulation.find_roots`), estimated by the
        pose network at those roots, refined, and kept in free proposal slots (flag −1;
        at most ``max_people`` per sample) when the views confirm them (``complete``'s
        ``min_views`` / ``min_joints``) and they duplicate no kept person."""
        props = result['proposals']
        heatmaps = result['heatmaps'].detach()
        meta = self.parse_meta(data_samples, heatmaps.shape[1])
        input_size = self._input_size(inputs, meta)
        used = props[..., 3] >= 0
        b_idx, m_idx = used.nonzero(as_tuple=True)
        kept = result['poses'][b_idx, m_idx]
        space = self.root_space
        roots = self.refiner.find_roots(heatmaps, kept, b_idx, meta.cameras, meta.affines,
                                        meta.image_sizes, input_size, self.root_joints,
                                        bounds=torch.from_numpy(np.stack([space.first,
                                                                          space.last])))
        extra = props.new_zeros(props.shape)
        extra[..., 3] = -1.0
        for b, r in enumerate(roots):
            free = (~used[b]).nonzero(as_tuple=True)[0].tolist()
            for root, m in zip(r, free):
                extra[b, m] = self.completion_row(result, b, root)
        new = extra[..., 3] >= 0
        if not bool(new.any()):
            return result
        nb, nm = new.nonzero(as_tuple=True)
        poses = self.completion_poses(result, extra, meta, input_size)[nb, nm]
        out = self.refiner(poses, nb, heatmaps, meta.cameras, meta.affines, meta.image_sizes,
                           input_size)
        if self.refiner.skeleton is not None:
            # the pose net's limbs of a person it did not detect are often far off: the
            # skeleton step re-places them (with the kept people holding their joints)
            # before the views confirm the person
            k_ref = result.get('refined')
            k_ref = (torch.ones(kept.shape[:2], dtype=torch.bool, device=kept.device)
                     if k_ref is None else k_ref[b_idx, m_idx])
            n_kept = kept.shape[0]
            sk = self.refiner.resolve_skeleton(
                torch.cat([kept, out['poses'].to(kept.dtype)]),
                torch.cat([k_ref, out['refined']]), torch.cat([b_idx, nb]), heatmaps,
                meta.cameras, meta.affines, meta.image_sizes, input_size, self.root_joints,
                num_views=torch.cat([torch.zeros(k_ref.shape, dtype=torch.long,
                                                 device=kept.device),       # (not used)
                                     out['num_views']]))
            out = dict(poses=sk['poses'][n_kept:], refined=sk['refined'][n_kept:],
                       num_views=sk['num_views'][n_kept:])
        held = self.refiner.views_holding(out['poses'], nb, meta.cameras)
        keep = self.refiner.confirmed(out, nb, torch.ones_like(nb, dtype=torch.bool), kept,
                                      b_idx, rule=self.refiner.complete, held=held,
                                      root_joints=self.root_joints)
        kb, km = nb[keep], nm[keep]
        result = dict(result)
        proposals, all_poses = props.clone(), result['poses'].clone()
        refined = result.get('refined')
        refined = (torch.zeros(all_poses.shape[:3], dtype=torch.bool, device=all_poses.device)
                   if refined is None else refined.clone())
        proposals[kb, km] = extra[kb, km]
        all_poses[kb, km] = out['poses'][keep].to(all_poses.dtype)
        refined[kb, km] = out['refined'][keep]
        result.update(proposals=proposals, poses=all_poses, refined=refined)
        return result

    def resolve_skeleton(self, result: Dict, inputs: Tensor, data_samples) -> Dict:
        """``refine.skeleton`` (test time): the kept people's joints that break the
        skeleton or that two people share are re-placed on points the views agree on
        (:meth:`HeatmapTriangulation.resolve_skeleton`); ``result['refined']`` marks them."""
        used = result['proposals'][..., 3] >= 0
        if not bool(used.any()):
            return result
        heatmaps = result['heatmaps'].detach()
        meta = self.parse_meta(data_samples, heatmaps.shape[1])
        b_idx, m_idx = used.nonzero(as_tuple=True)
        poses = result['poses']
        refined = result.get('refined')
        refined = (torch.zeros(poses.shape[:3], dtype=torch.bool, device=poses.device)
                   if refined is None else refined)
        out = self.refiner.resolve_skeleton(poses[b_idx, m_idx], refined[b_idx, m_idx], b_idx,
                                            heatmaps, meta.cameras, meta.affines,
                                            meta.image_sizes, self._input_size(inputs, meta),
                                            self.root_joints)
        result = dict(result)
        poses, refined = poses.clone(), refined.clone()
        poses[b_idx, m_idx] = out['poses'].to(poses.dtype)
        refined[b_idx, m_idx] = out['refined']
        result.update(poses=poses, refined=refined)
        return result

    @property
    def score_threshold(self) -> float:
        """The detection score threshold of the model (subclasses: where it lives)."""
        raise NotImplementedError

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        raise NotImplementedError

    def predict(self, inputs, data_samples):
        """Inference; fills ``pred_instances`` of each data sample (see the class
        docstring). With a ``refine`` layer that has ``rescue``, the detection runs at
        ``rescue.min_score`` and :meth:`refine_poses` applies the model's threshold."""
        inputs = self._inputs(inputs)
        rescue = None if self.refiner is None else self.refiner.rescue
        if rescue is not None and rescue['min_score'] < self.score_threshold:
            threshold = self.score_threshold
            self.score_threshold = rescue['min_score']
            try:
                result = self.run(inputs, data_samples)
            finally:
                self.score_threshold = threshold
        else:
            result = self.run(inputs, data_samples)
        result = self.refine_poses(result, inputs, data_samples)
        if self.refiner is not None and self.refiner.complete is not None:
            result = self.complete_people(result, inputs, data_samples)
        if self.refiner is not None and self.refiner.skeleton is not None:
            result = self.resolve_skeleton(result, inputs, data_samples)
        return self.add_pred_to_datasample(result, data_samples)

    def default_roots(self, joints: Tensor) -> Tensor:
        """Mean of the ``root_joints`` (mid-hip for COCO)."""
        return joints[:, list(self.root_joints)].mean(1)

    def extract_heatmaps(self, inputs: Tensor) -> Tensor:
        """(B, V, C, H, W) images or heatmaps → (B, V, K, h, w) heatmaps (inputs checked
        for their channel count and NaN / Inf with ``check_inputs``)."""
        name = type(self).__name__
        B, V, C, H, W = inputs.shape
        if self.check_inputs:
            want = 3 if self.with_2d else self.num_joints
            if C != want:
                kind = 'images (3 channels)' if self.with_2d else \
                    f'heatmaps ({self.num_joints} joint channels)'
                raise ValueError(f'{name}: inputs have {C} channels per view, the model '
                                 f'expects {kind}')
            finite = torch.isfinite(inputs).flatten(2).all(-1)               # (B, V)
            if not bool(finite.all()):
                bad = [tuple(i) for i in (~finite).nonzero().tolist()]
                raise ValueError(f'{name}: inputs contain NaN or Inf values in '
                                 f'(sample, view) {bad[:8]}')
        if not self.with_2d:
            return inputs
        x = inputs.reshape(B * V, C, H, W)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_2d):
            hm = self.head_2d.forward(self.backbone(x))
        return hm.reshape(B, V, *hm.shape[1:])

    def _input_size(self, inputs: Tensor, meta: ViewMeta) -> Tuple[float, float]:
        """The network input size (w, h) the batch's affines map to."""
        name = type(self).__name__
        if self.with_2d:
            size = (float(inputs.shape[-1]), float(inputs.shape[-2]))
            if meta.input_size is not None and tuple(meta.input_size) != size:
                raise ValueError(f'{name}: metainfo input_size {meta.input_size} differs '
                                 f'from the images\' size {size}')
            return size
        if meta.input_size is not None:
            return tuple(meta.input_size)
        if self.image_size is None:
            raise ValueError(f'{name}: heatmap inputs need the network input size the '
                             'affines map to: set image_size in the model config or '
                             'input_size in the metainfo')
        return self.image_size

    def add_loss_2d(self, losses: Dict[str, Tensor], heatmaps: Tensor,
                    data_samples) -> Dict[str, Tensor]:
        """Add ``loss_2d`` (the 2D head's ``loss_module``) for a trainable 2D network
        when every sample has ``gt_fields.heatmaps`` (and optionally
        ``gt_fields.keypoint_weights_2d``)."""
        if not self.with_2d or self.freeze_2d:
            return losses
        fields = [ds.get('gt_fields', None) for ds in data_samples]
        targets = [None if f is None else f.get('heatmaps', None) for f in fields]
        if any(t is None for t in targets):
            return losses
        B, V, K, h, w = heatmaps.shape
        tgt = torch.stack([as_tensor(t, heatmaps.device) for t in targets])
        wts = [f.get('keypoint_weights_2d', None) for f in fields]
        wt = None if any(x is None for x in wts) else \
            torch.stack([as_tensor(x, heatmaps.device) for x in wts]).reshape(B * V, K)
        losses['loss_2d'] = self.head_2d.loss_module(
            heatmaps.reshape(B * V, K, h, w), tgt.reshape(B * V, K, h, w), wt)
        return losses
