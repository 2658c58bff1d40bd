"""VoxelPose's pose network: a cube around each proposal → V2V → soft-argmax joints."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule

from virtualpose_mm.registry import MODELS
from ..layers import SoftArgmax3D, VoxelProjector, voxel_grid, voxel_offsets
from ..utils.geometry_state import GeometryStateMixin
from .voxel_center_net import FastEvalV2V, _check_space, run_v2v

#: Auto cubes per call on the CPU in inference (:meth:`VoxelSinglePoseNet.cubes_per_call`):
#: as many cubes as hold this many voxels, at least one. Measured with the fast-eval V2V
#: (32 channels, 2 threads, 10 cubes): 20³ cubes 0.226 / 0.165 / 0.156 / 0.165 s at 1 / 2 /
#: 4 / 10 per call; 32³ and 40³ cubes within 10 % of each other at any count.
CPU_VOXELS_PER_CALL = 32 ** 3


def pack_by_sample(batch_index: torch.Tensor, num_samples: int
                   ) -> Tuple[torch.Tensor, int]:
    """Rank of each item among the items of its sample (stable), and the largest count.

    Args:
        batch_index: (P,) sample of each item.
        num_samples: B.

    Returns:
        rank (P,) long and ``max_count`` (int).
    """
    P = batch_index.numel()
    if P == 0:
        return batch_index.new_zeros(0), 0
    counts = torch.bincount(batch_index, minlength=num_samples)
    order = torch.argsort(batch_index, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(batch_index)
    rank[order] = torch.arange(P, device=batch_index.device) - starts[batch_index[order]]
    return rank, int(counts.max())


@MODELS.register_module()
class VoxelSinglePoseNet(GeometryStateMixin, BaseModule):
    """Regresses the K joints of one person from a cube centred on a proposal.

    All cubes of all samples are projected in one batched call (the cubes of a sample are
    concatenated, samples padded to the largest count) and, by default, go through the
    V2V network as ONE batch. ``groups`` lets the caller split the V2V calls (VoxelPose's
    slot-by-slot training, which reproduces the reference's BatchNorm statistics).

    Cubes are NOT clipped to the capture space: a cube around a proposal near the border
    extends beyond it, and its voxels are projected like any others (voxels that fall
    outside every image get 0).

    Args:
        cube_size: (3,) cube edge lengths in mm (VoxelPose: 2000 mm).
        cube_shape: (3,) voxels per axis (VoxelPose: 64³).
        v2v_net: config of the V2V backbone, K → K channels.
        beta: soft-argmax multiplier.
        loss: config of the joint loss (default L1 weighted by joint visibility).
        projector: kwargs of :class:`VoxelProjector`.
        max_cubes_per_call: the projection and the V2V net handle at most this many
            cubes per call (a memory / cache bound; results are identical in eval mode).
            Default None: chosen by device at run time (:meth:`cubes_per_call`): on the
            CPU in inference as many cubes as hold :data:`CPU_VOXELS_PER_CALL` (32³)
            voxels, at least one — ONE 64³ cube (10 cubes × 64³ × 32 channels is 335 MB
            per activation, far beyond the L3 cache: one cube per call is faster, see
            ``tools/analysis/benchmark_voxelpose.py``), four 20³ cubes (per cube, one
            call each costs the fast-eval V2V ~45 % more time than four per call here);
            all cubes in one call on a GPU and in training (the BatchNorm statistics are
            those of all pairs there, so training never splits the V2V batch unless this
            is set explicitly). A positive integer forces that many cubes per call
            everywhere; 0 forces all cubes in one call (the behaviour before the auto
            default).
        reference_soft_argmax: sum the soft-argmax like the reference, in float32 over
            absolute coordinates (loses up to ~1 mm); only to reproduce its numbers. The
            default sums offsets from the cube centre (float64-accurate to ~1e-3 mm).
        fast_eval: BatchNorm-folded, channels-last V2V copy for inference (see
            :class:`VoxelCenterNet`).
        fft_first_layer: with ``fast_eval``, the 7³ first convolution by FFT (opt-in).
        compile_v2v: with ``fast_eval``, ``torch.compile`` the inference copy (opt-in).
        winograd: with ``fast_eval`` on the CPU, 3×3×3 convolutions by Winograd
            (:class:`~virtualpose_mm.ops.WinogradConv3d`; on by default).
        cube_orientation: ``'world'`` (default; VoxelPose and the released VirtualPose):
            the cube's axes are the world axes. ``'view'`` (monocular only, V = 1; an
            addition of this package): each cube is turned about the world vertical (z,
            up) so that its +y axis points along the floor from the camera's centre to
            the cube's centre (its +x to the camera's right, z stays up). The V2V then
            always sees a person from the same side — the back-projected rays run along
            +y, up to the camera's pitch — instead of from every azimuth, which it would
            otherwise have to learn to handle one direction at a time. The joints are
            still the soft-argmax over the voxels' world positions, so the outputs stay
            in world mm either way. A camera straight above a cube centre gives heading
            0 (+y along world +y).
        init_cfg: mmengine init config.
    """

    def __init__(self, cube_size: Sequence[float], cube_shape: Sequence[int], v2v_net: dict,
                 beta: float = 100.0,
                 loss: dict = dict(type='L1Loss', use_target_weight=True),
                 projector: Optional[dict] = None, max_cubes_per_call: Optional[int] = None,
                 reference_soft_argmax: bool = False, fast_eval: bool = False,
                 fft_first_layer: bool = False, compile_v2v: bool = False,
                 winograd: bool = True, cube_orientation: str = 'world', init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if cube_orientation not in ('world', 'view'):
            raise ValueError("VoxelSinglePoseNet: cube_orientation must be 'world' or 'view', "
                             f'got {cube_orientation!r}')
        self.cube_orientation = cube_orientation
        self.cube_size = tuple(float(s) for s in _check_space('cube_size', cube_size))
        self.cube_shape = tuple(int(s) for s in _check_space('cube_shape', cube_shape))
        self.projector = VoxelProjector(**(projector or {}))
        self.v2v_net = MODELS.build(v2v_net)
        self.soft_argmax = SoftArgmax3D(beta, reference_reduction=reference_soft_argmax)
        self.loss_module = MODELS.build(loss)
        self.max_cubes_per_call = max_cubes_per_call
        self.fast_eval = bool(fast_eval)
        self._fast_v2v = FastEvalV2V(fft_first_layer, compile_v2v, winograd=winograd)

    # ------------------------------------------------------------------ state
    geometry_fields = ('cube_size', 'cube_shape')
    geometry_what = 'pose-net cube'

    def cubes_per_call(self, device, num_cubes: int, for_v2v: bool = False) -> int:
        """Cubes per projection / V2V call for ``num_cubes`` cubes on ``device``.

        ``max_cubes_per_call`` if set (0: all); else (auto) on a CPU as many cubes as hold
        :data:`CPU_VOXELS_PER_CALL` voxels (at least 1), and ``num_cubes`` (all) on other
        devices. The V2V batch is never split automatically in training mode (``for_v2v``
        and ``self.training``): its BatchNorm statistics depend on it."""
        if self.max_cubes_per_call is not None:
            n = int(self.max_cubes_per_call)
            return n if n > 0 else max(1, num_cubes)
        if for_v2v and self.training:
            return max(1, num_cubes)
        if torch.device(device).type != 'cpu':
            return max(1, num_cubes)
        voxels = self.cube_shape[0] * self.cube_shape[1] * self.cube_shape[2]
        return max(1, min(num_cubes, CPU_VOXELS_PER_CALL // voxels))

    # ------------------------------------------------------------------ forward parts
    def cube_grids(self, centers: torch.Tensor, batch_index: torch.Tensor, cameras
                   ) -> torch.Tensor:
        """Voxel centres of P cubes, (P, X·Y·Z, 3) float32 world mm: axis-aligned, or
        turned to face the camera with ``cube_orientation='view'`` (see the class).

        Args:
            centers: (P, 3) cube centres, mm. batch_index: (P,) sample of each cube.
            cameras: the samples' cameras, batch shape (B, V) (only read for ``'view'``).
        """
        if self.cube_orientation == 'world' or centers.shape[0] == 0:
            return voxel_grid(self.cube_size, centers.float(), self.cube_shape,
                              device=centers.device)
        if cameras.batch_shape[1] != 1:
            raise ValueError("VoxelSinglePoseNet: cube_orientation='view' is for one view "
                             f'per sample, the batch has {cameras.batch_shape[1]}')
        eye = cameras.center[:, 0].to(device=centers.device, dtype=torch.float64)  # (B, 3)
        d = centers[:, :2].double() - eye[batch_index, :2]                       # (P, 2)
        heading = torch.atan2(d[:, 1], d[:, 0])       # atan2(0, 0) = 0: +x forward
        fwd = torch.stack([heading.cos(), heading.sin()], -1)               # cube +y
        right = torch.stack([fwd[:, 1], -fwd[:, 0]], -1)                    # cube +x
        rot = torch.stack([right, fwd], 1).float()                          # (P, 2, 2)
        off = voxel_offsets(self.cube_size, self.cube_shape, device=centers.device)
        xy = off[None, :, :2] @ rot                # x·right + y·fwd in world (x, y)
        c = centers[:, None, :3].float()
        return torch.cat([xy + c[..., :2], off[None, :, 2:] + c[..., 2:]], -1)

    def project(self, heatmaps: torch.Tensor, centers: torch.Tensor,
                batch_index: torch.Tensor, cameras, affines: torch.Tensor,
                image_sizes: torch.Tensor, input_size=None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Input cubes of P proposals.

        Args:
            heatmaps: (B, V, K, H, W).
            centers: (P, 3) cube centres in mm.
            batch_index: (P,) sample of each cube.
            cameras, affines, image_sizes, input_size: the samples' views
                (batch shape (B, V); see :class:`VoxelProjector`).

        Returns:
            cubes (P, K, X, Y, Z) and their voxel centres (P, X·Y·Z, 3) float32 mm.
        """
        B, V, K = heatmaps.shape[:3]
        P = centers.shape[0]
        grids = self.cube_grids(centers.to(heatmaps.device), batch_index, cameras)
        if P == 0:
            return heatmaps.new_zeros(0, K, *self.cube_shape), grids
        step = self.cubes_per_call(heatmaps.device, P)
        # memory / cache bound: several calls of at most `step` cubes (grids built once)
        parts = [self._sample_cubes(heatmaps, grids[i:i + step], batch_index[i:i + step],
                                    cameras, affines, image_sizes, input_size)
                 for i in range(0, P, step)]
        return (parts[0] if len(parts) == 1 else torch.cat(parts)), grids

    def _sample_cubes(self, heatmaps, grids, batch_index, cameras, affines, image_sizes,
                      input_size) -> torch.Tensor:
        """(P, K, X, Y, Z) cubes sampled at the voxel centres ``grids`` (P, N, 3) mm, in
        one projector call."""
        B, K = heatmaps.shape[0], heatmaps.shape[2]
        P, N = grids.shape[:2]
        rank, C = pack_by_sample(batch_index, B)
        pts = grids.new_zeros(B, C, N, 3)
        pts[batch_index, rank] = grids
        vol = self.projector(heatmaps, pts.view(B, C * N, 3), cameras, affines,
                             image_sizes, input_size=input_size)             # (B, K, C·N)
        cubes = vol.view(B, K, C, N)[batch_index, :, rank]                  # (P, K, N)
        return cubes.reshape(P, K, *self.cube_shape).contiguous()

    def forward(self, cubes: torch.Tensor, grids: torch.Tensor,
                groups: Optional[List[torch.Tensor]] = None, return_volumes: bool = False):
        """V2V + soft-argmax.

        Args:
            cubes: (P, K, X, Y, Z) input cubes.
            grids: (P, X·Y·Z, 3) voxel centres (mm).
            groups: optional list of index tensors partitioning ``range(P)``; each group
                is one V2V call (BatchNorm statistics per group in training).
            return_volumes: also return the V2V outputs (P, K, X, Y, Z).

        Returns:
            (P, K, 3) joints in mm (and the volumes).
        """
        P = cubes.shape[0]
        if P == 0:
            out = cubes.new_zeros(0, cubes.shape[1], 3)
            return (out, cubes.new_zeros(cubes.shape)) if return_volumes else out
        if groups is None:
            step = self.cubes_per_call(cubes.device, P, for_v2v=True)
            groups = [torch.arange(i, min(i + step, P), device=cubes.device)
                      for i in range(0, P, step)]
        poses = cubes.new_zeros(P, cubes.shape[1], 3)
        volumes = cubes.new_zeros(cubes.shape) if return_volumes else None
        for g in groups:  # one call unless the caller asks for per-slot BatchNorm
            vol = run_v2v(self, cubes[g])
            poses = poses.index_copy(0, g, self.soft_argmax(vol, grids[g]))
            if return_volumes:
                volumes[g] = vol.detach()
        return (poses, volumes) if return_volumes else poses

    def loss(self, poses: torch.Tensor, targets: torch.Tensor,
             weights: torch.Tensor) -> torch.Tensor:
        """Joint loss of P matched proposals.

        Args:
            poses: (P, K, 3) mm. targets: (P, K, 3) mm. weights: (P, K) visibility.
        """
        return self.loss_module(poses, targets.to(poses), weights.to(poses))
