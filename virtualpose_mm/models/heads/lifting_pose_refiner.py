"""One-view pose refinement by lifting: 2D joints read off the heatmaps → MLP → 3D offsets.

An addition of this package to VirtualPose's stage 2 (the released model ends at the pose
net). One view cannot show where along its camera ray a joint lies, so the pose net's cube
of back-projected heatmaps leaves each joint's depth to what its V2V has learnt of human
poses; a small 3D grid (CPU-sized: 20³ over 2 m) learns that prior slowly and coarsely. A
lifting network (Martinez et al., ICCV 2017: an MLP from 2D joints to 3D) learns it from
the joints' coordinates directly. :class:`LiftingPoseRefiner` puts one after the pose net:
it reads each joint's 2D position off the AGR heatmap next to where the pose net's joint
projects, and an MLP turns those 2D joints, the pose net's own root-relative pose and the
camera's view of the vertical into a correction of the root-relative pose and of the
person's depth. The depth correction moves the person along the root's camera ray (its
image position stays): the 2D joints scaled to metres at the root net's depth give the
person an apparent size, which the MLP compares with the sizes of the people it was
trained on (a prior of the training poses: people of another size get their depth
scaled by their size ratio).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from virtualpose_mm.registry import MODELS
from ..layers.projection import (heatmap_affines, heatmap_rays, item_cameras,
                                 world_to_heatmap)


class _ResidualBlock(nn.Module):
    """``x + (Linear → LayerNorm → ReLU → Dropout) × 2`` (Martinez et al.'s block with
    LayerNorm in place of BatchNorm: a training batch may hold a single person)."""

    def __init__(self, channels: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(channels, channels), nn.LayerNorm(channels), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(channels, channels), nn.LayerNorm(channels), nn.ReLU(inplace=True),
            nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.layers(x)


def window_offsets(radius: int, device=None) -> Tensor:
    """(S, 2) integer (dx, dy) offsets of a (2·radius + 1)² window, row-major."""
    r = torch.arange(-radius, radius + 1, device=device)
    dy, dx = torch.meshgrid(r, r, indexing='ij')
    return torch.stack([dx.reshape(-1), dy.reshape(-1)], -1)


class PeakHeatmaps:
    """Multi-person joint heatmaps given by their Gaussians, evaluated only where read.

    The values are those :func:`~virtualpose_mm.structures.render_gaussian_heatmaps`
    renders (``legacy_peak_offset=False``): per joint the maximum over the sample's people
    of ``a · exp(−((x − cx)² + (y − cy)²) / 2σ²)``, each Gaussian cut to the pixels
    within ``truncate·σ`` of its centre per axis, clipped to [0, 1], as float32. Made from
    ``GenerateVirtualPoseAGR(heatmap_mode='peaks')``'s ``gt_agr_peaks``, it lets
    :func:`heatmap_keypoints` read a virtual frame's AGR without the AGR being rendered
    (the refiner reads a few dozen pixels per joint of the 15,360 of a map).

    Args:
        peaks: (B, G, K, 4) per sample, person and joint: centre x, y (heatmap px, pixel
            index convention), σ (px) and amplitude; rows of people ≥ ``counts[b]`` are
            ignored, as are joints with a non-finite centre or σ ≤ 0.
        counts: (B, ) people per sample.
        heatmap_size: (W, H).
        truncate: the Gaussian's half-width in σ (the renderer's 3).

    Attributes:
        shape: ``(B, K, H, W)``, as the rendered heatmaps'.
    """

    def __init__(self, peaks: Tensor, counts: Tensor, heatmap_size, truncate: float = 3.0):
        if peaks.dim() != 4 or peaks.shape[-1] != 4:
            raise ValueError('PeakHeatmaps: peaks must be (B, G, K, 4) (x, y, sigma, '
                             f'amplitude), got {tuple(peaks.shape)}')
        B, G, K = peaks.shape[:3]
        self.peaks = peaks.to(torch.float64)
        self.device = peaks.device
        W, H = int(heatmap_size[0]), int(heatmap_size[1])
        self.shape = torch.Size((B, K, H, W))
        used = torch.arange(G, device=peaks.device)[None] < counts.to(peaks.device)[:, None]
        p = self.peaks
        self.valid = used[..., None] & torch.isfinite(p[..., :2]).all(-1) & (p[..., 2] > 0)
        self.truncate = float(truncate)

    def windows(self, batch_index: Tensor, centres: Tensor, radius: int) -> Tensor:
        """Values in square windows (the layout of :func:`window_offsets`).

        Args:
            batch_index: (P, ) sample of each item.
            centres: (P, K, 2) long (x, y) px.
            radius: half-width of the windows, px.

        Returns:
            (P, K, S) float32, S = (2·radius + 1)²; pixels off the map hold what the
            Gaussians give there (the caller masks them).
        """
        p = self.peaks[batch_index].transpose(1, 2)                       # (P, K, G, 4)
        ok = self.valid[batch_index].transpose(1, 2)                      # (P, K, G)
        P, K, G = ok.shape
        n = 2 * radius + 1
        if G == 0:
            return p.new_zeros(P, K, n * n, dtype=torch.float32)
        r = torch.arange(-radius, radius + 1, device=p.device, dtype=torch.float64)
        s = torch.where(ok, p[..., 2], torch.ones_like(p[..., 2]))[:, :, None]   # (P,K,1,G)
        t = self.truncate * s

        def axis(c, centre):                 # (P, K, n, G): the Gaussian along one axis
            c = torch.nan_to_num(c)[:, :, None]
            x = (centre.to(torch.float64)[:, :, None] + r)[..., None]      # (P, K, n, 1)
            return torch.exp(-(x - c) ** 2 / (2 * s * s)) * \
                ((x >= torch.ceil(c - t)) & (x < torch.floor(c + t) + 1))

        gx = axis(p[..., 0], centres[..., 0]) * (p[..., 3] * ok)[:, :, None]
        gy = axis(p[..., 1], centres[..., 1])
        # rows (y) outer, columns (x) inner; the renderer's gy · gx · a in that order
        g = (gy[:, :, :, None] * gx[:, :, None]).amax(-1)                  # (P, K, n, n)
        return g.clamp(0, 1).float().reshape(P, K, n * n)


def gather_windows(heatmaps, batch_index: Tensor, centres: Tensor, radius: int):
    """Heatmap values in a square window around integer centres (zero off the map).

    Args:
        heatmaps: (B, K, H, W) tensor, or a :class:`PeakHeatmaps`.
        batch_index: (P, ) map of each item.
        centres: (P, K, 2) long (x, y) heatmap px.
        radius: half-width of the window in px.

    Returns:
        ``(values (P, K, S), coords (P, K, S, 2) long, inside (P, K, S) bool)``,
        S = (2·radius + 1)².
    """
    B, K, H, W = heatmaps.shape
    coords = centres[:, :, None, :] + window_offsets(radius, heatmaps.device)    # (P,K,S,2)
    inside = (coords[..., 0] >= 0) & (coords[..., 0] < W) & \
        (coords[..., 1] >= 0) & (coords[..., 1] < H)
    if isinstance(heatmaps, PeakHeatmaps):
        return heatmaps.windows(batch_index, centres, radius) * inside, coords, inside
    flat = (coords[..., 1].clamp(0, H - 1) * W + coords[..., 0].clamp(0, W - 1))
    k_idx = torch.arange(K, device=heatmaps.device)[None, :, None]
    values = heatmaps.reshape(B, K, H * W)[batch_index[:, None, None], k_idx, flat]
    return values * inside, coords, inside


def exclusive_choice(score: Tensor, coords: Tensor, batch_index: Tensor,
                     max_rounds: int = 16) -> Tensor:
    """Each item's best candidate peak per joint, a peak going to one item only.

    Rounds: every (item, joint) picks its best-scoring remaining candidate; of the items
    that picked the same peak (same sample, joint and pixel) the highest score keeps it and
    the others drop it from their candidates; until no two items share a peak (or
    ``max_rounds``: remaining shared picks stay shared).

    Args:
        score: (P, K, S) candidate scores (0: not a candidate).
        coords: (P, K, S, 2) long (x, y) of the candidates.
        batch_index: (P, ) sample of each item.

    Returns:
        (P, K, S) the scores with each item's lost candidates set to 0.
    """
    P, K, S = score.shape
    score = score.clone()
    if P < 2:
        return score
    x, y = coords[..., 0], coords[..., 1]
    span = int(max(x.max(), y.max()) - min(x.min(), y.min())) + 1
    lo = int(min(x.min(), y.min()))
    k_idx = torch.arange(K, device=score.device)[None, :]
    for _ in range(max_rounds):
        best = score.argmax(-1)                                               # (P, K)
        s_best = torch.gather(score, 2, best[..., None])[..., 0]
        xy = torch.gather(coords, 2, best[..., None, None].expand(-1, -1, 1, 2))[:, :, 0]
        key = ((batch_index[:, None] * K + k_idx) * span + (xy[..., 1] - lo)) * span + \
            (xy[..., 0] - lo)                                                 # (P, K)
        live = s_best > 0
        key = torch.where(live, key, torch.full_like(key, -1))
        flat_key, flat_s = key.reshape(-1), s_best.reshape(-1)
        uniq, inv = torch.unique(flat_key, return_inverse=True)
        top = torch.full((len(uniq), ), -1.0, dtype=flat_s.dtype, device=flat_s.device)
        top = top.scatter_reduce(0, inv, flat_s, reduce='amax')
        # the first item with the top score keeps a tie
        order = torch.arange(len(flat_s), device=flat_s.device)
        is_top = flat_s >= top[inv]
        first = torch.full((len(uniq), ), len(flat_s), dtype=torch.long, device=flat_s.device)
        first = first.scatter_reduce(0, inv, torch.where(is_top, order, len(flat_s)),
                                     reduce='amin')
        lost = (order != first[inv]) & (flat_key >= 0)
        if not lost.any():
            break
        lost = lost.view(P, K)
        drop = torch.zeros_like(score, dtype=torch.bool)
        drop.scatter_(2, best[..., None], lost[..., None])
        score = score.masked_fill(drop, 0)
    return score


def heatmap_keypoints(heatmaps: Tensor, guess: Tensor, search_radius: int = 4,
                      eps: float = 1e-6, batch_index: Optional[Tensor] = None,
                      exclusive: bool = False):
    """Each joint's 2D position on its heatmap near a guess.

    1. Among the local maxima (3 × 3) of the joint's heatmap within ``search_radius`` of
       the guess, the one with the highest value × ``exp(−d² / (2 (search_radius / 2)²))``
       (d its distance to the guess: the heatmaps hold several people, and of two peaks
       the one nearer the guess wins unless it is much weaker).
    2. Sub-pixel position: per axis, the vertex of the parabola through the logarithms of
       the peak and its two neighbours (exact for a Gaussian, as DARK's Taylor step,
       Zhang et al., CVPR 2020), clamped to ±0.5 px; 0 where a neighbour is off the map
       or the log values are not concave.

    Args:
        heatmaps: (B, K, H, W) heatmaps, values ≥ 0, or a :class:`PeakHeatmaps`.
        guess: (P, K, 2) float (x, y) heatmap px (pixel-index convention: pixel i covers
            [i − 0.5, i + 0.5)).
        search_radius: px.
        eps: heatmap values below it count as empty.
        batch_index: (P, ) the heatmaps of each item (default ``arange(P)``: B = P).
        exclusive: a peak goes to one item only (:func:`exclusive_choice`: of the items of
            one sample whose best candidate for a joint is the same peak, the one with the
            highest score, i.e. the nearest guess, keeps it; the others take their next
            candidate or find nothing). Off (default), each item reads its joints on its
            own, and two overlapping people can both read the nearer one's joint.

    Returns:
        ``(keypoints (P, K, 2) float heatmap px, confidence (P, K))``: confidence is the
        heatmap value at the peak (0 where the search window holds no peak; then the
        keypoint is the guess).
    """
    B, K, H, W = heatmaps.shape
    P = guess.shape[0]
    if batch_index is None:
        batch_index = torch.arange(P, device=heatmaps.device)
    finite = torch.isfinite(guess).all(-1, keepdim=True)
    g = torch.where(finite, guess, guess.new_zeros(()))
    if P == 0:
        return guess.clone(), guess.new_zeros(P, K)
    centre = torch.stack([g[..., 0].round().clamp(-1e6, 1e6),
                          g[..., 1].round().clamp(-1e6, 1e6)], -1).long()
    # local maxima (3 × 3) of the window only: the window and a one-pixel rim are read
    # once and go through the max-pool (zero off the map, which a value > eps beats as
    # max_pool2d's padding would), not the whole map
    n = 2 * search_radius + 3
    rim, rim_coords, _ = gather_windows(heatmaps, batch_index, centre, search_radius + 1)
    pooled = torch.nn.functional.max_pool2d(rim.reshape(P * K, 1, n, n), 3, 1, 1)

    def inner(x):                                  # (P, K, n², ...) → (P, K, (n − 2)², ...)
        x = x.reshape(P, K, n, n, *x.shape[3:])[:, :, 1:-1, 1:-1]
        return x.reshape(P, K, (n - 2) ** 2, *x.shape[4:])

    values, coords = inner(rim), inner(rim_coords)
    peaks = (values >= inner(pooled.view(P, K, n * n))) & (values > eps)
    d2 = ((coords.to(g.dtype) - g[:, :, None]) ** 2).sum(-1)                  # (P, K, S)
    s2 = max(search_radius / 2.0, 0.5) ** 2
    score = values.to(g.dtype) * peaks.to(g.dtype) * torch.exp(-d2 / (2 * s2))
    if exclusive:
        score = exclusive_choice(score, coords, batch_index)
    best = score.argmax(-1)                                                   # (P, K)
    found = torch.gather(score, 2, best[..., None])[..., 0] > 0
    conf = torch.gather(values, 2, best[..., None])[..., 0].to(g.dtype) * found
    peak = torch.gather(coords, 2, best[..., None, None].expand(-1, -1, 1, 2))[:, :, 0]
    # log-parabola per axis through the peak and its neighbours
    nb, _, inside = gather_windows(heatmaps, batch_index, peak, 1)            # (P, K, 9)
    L = torch.log(nb.to(g.dtype).clamp_min(1e-12))
    offsets = []
    for lo, hi in ((3, 5), (1, 7)):          # (left, right) and (up, down) of the centre 4
        den = L[..., lo] - 2 * L[..., 4] + L[..., hi]
        ok = (den < -1e-9) & inside[..., lo] & inside[..., hi] & \
            (nb[..., lo] > eps) & (nb[..., hi] > eps)
        off = 0.5 * (L[..., lo] - L[..., hi]) / torch.where(ok, den, -torch.ones_like(den))
        offsets.append(torch.where(ok, off.clamp(-0.5, 0.5), torch.zeros_like(off)))
    kpt = peak.to(g.dtype) + torch.stack(offsets, -1)
    ok = found[..., None] & finite
    return torch.where(ok, kpt, guess), conf * ok[..., 0]


@MODELS.register_module()
class LiftingPoseRefiner(BaseModule):
    """Refines one-view 3D poses with a lifting MLP (module docstring).

    Per person (P people of B one-view samples):

    1. the pose net's joints (world mm) go to the camera frame and are projected into the
       AGR heatmaps (camera, then the letterbox affine scaled to heatmap px);
    2. each joint's 2D position is read off its own heatmap near that projection
       (:func:`heatmap_keypoints`: the peak within ``search_radius``, nearer ones
       preferred, at sub-pixel precision) with a confidence (the peak value), and turned
       back
       into a normalised camera ray (inverse affine, the camera's undistortion);
    3. features, per joint: the 2D offset from the root joint's ray scaled by the root's
       camera depth (m: the joint's lateral offset were it at the root's depth), with
       ``use_pose_net_pose`` the pose net's root-relative joint in the camera frame (m),
       and the confidence; per person: the world's up axis in the camera frame, the root's
       ray (x/z, y/z) and the root's camera depth (10 m units);
    4. an MLP (``num_blocks`` residual blocks of ``hidden_channels``, LayerNorm, ReLU,
       dropout) maps them to a (K, 3) correction in the camera frame (m) and, with
       ``refine_depth``, a log depth scale ``log s`` (its last layer starts at zero). The
       correction is added to a base root-relative pose: the pose net's with
       ``use_pose_net_pose`` (so an untrained refiner returns the pose net's poses),
       else the lateral offsets of step 3 at the root's depth (a flat figure facing the
       camera: the MLP lifts it). The refined pose is ``s`` × the pose net's root joint
       (camera frame: the root slides along its ray) plus the corrected root-relative
       pose (the root joint's correction is 0), back in world mm.

    With ``use_pose_net_pose=False`` the pose net only says where to look for each joint
    and how deep the root is: the refiner is then a lifting network on the heatmaps' 2D
    joints, and it can be trained without running the root and pose nets at all
    (:class:`~virtualpose_mm.models.pose_estimators.VirtualPose` ``refiner_train_inputs``).
    Its errors and the pose net's are then two estimates from different networks, and
    the test-time blend ``pose_net_weight`` (root-relative pose: ``w`` × the pose net's +
    (1 − w) × the refiner's) and ``depth_weight`` (the depth scale applied as ``s^w``)
    can average them (tune them on frames other than the test frames; 0 and 1, the
    defaults, are the refiner alone). They change nothing in training.

    ``flip_test`` (eval mode only): the MLP also runs on the mirrored person (camera x
    negated in every feature, left and right joints swapped by ``joint_set``'s flip
    pairs), and its mirrored-back correction and depth scale are averaged with the
    direct ones, as MMPose's flip test does for heatmaps.

    Args:
        num_joints: K.
        root_index: the root joint (VirtualPose: 2, mid-hip).
        hidden_channels: width of the MLP.
        num_blocks: residual blocks.
        dropout: dropout probability in the blocks.
        search_radius: half-width (heatmap px) of the window searched for each joint's
            peak around the pose net's projection.
        up_axis: the world's vertical (the package's world frame is z up, ``DESIGN.md``
            §2).
        min_depth: mm; camera depths are clamped to it before the projection.
        use_pose_net_pose: feed the pose net's root-relative pose to the MLP and correct it
            (step 4); False lifts the heatmaps' 2D joints alone.
        refine_depth: also correct the person's depth (step 4); False keeps the pose net's
            root joint.
        max_log_scale: bound of ``|log s|`` (tanh-limited; 0.5: a factor ≤ 1.65).
        pose_net_weight: test-time weight of the pose net's root-relative pose (above).
        depth_weight: test-time exponent of the depth scale (above).
        flip_test: average with the mirrored person at test time (above).
        joint_set: the joint set whose flip pairs ``flip_test`` swaps (default
            ``'virtualpose17'``, VirtualPose's).
        loss: config of the pose loss; it compares root-relative poses (each minus its own
            root joint). Default MMPose's ``MPJPELoss`` with joint weights.
        depth_loss_weight: weight of the depth loss (L1 of the root's camera depth, mm)
            added to the pose loss when ``refine_depth``.
        mask_unfound_joints: a joint with no heatmap peak in its search window (confidence
            0: off the image, or nothing near the guess) gets a zero lateral offset in the
            features instead of its guess's (step 3), so the MLP infers it from the other
            joints rather than trusting the pose net's projection (in training, with
            ``refiner_train_inputs``, a perturbed GT one, much nearer the truth than the
            pose net's at test time). Changes the features: train with it.
        read_passes: test-time passes (eval mode; training always makes one): pass
            ``n + 1`` reads the heatmaps near pass ``n``'s refined pose (after the blend,
            on the pose net's root) instead of the pose net's, where a joint the pose net
            put far off finds its own peak rather than a neighbour's; the last pass's pose
            and depth scale are returned. 1 (default): the pose net's guesses only.
        test_search_radius: ``search_radius`` in eval mode (default None: the same as in
            training), a test-time option like the blend.
        exclusive_peaks: in eval mode, read the joints of the people of one sample together,
            each heatmap peak going to one person only (:func:`heatmap_keypoints`
            ``exclusive``): where two people overlap, the one whose guess is farther from a
            peak takes its own next peak (or none) instead of the other's joint. A test-time
            option (default False).
        train_exclusive_peaks: the same in training mode (default False).
        init_cfg: mmengine init config.

    Inputs of :meth:`forward`: ``poses`` (P, K, 3) world mm, ``batch_index`` (P,) sample of
    each, ``heatmaps`` (B, K, H, W) the samples' AGR heatmaps, ``cameras`` batch shape
    (B, 1) (or (B, )), ``affines`` (B, 1, 2, 3) (or (B, 2, 3)) original px → canvas px,
    ``input_size`` (w, h) of the canvas.
    """

    def __init__(self, num_joints: int = 17, root_index: int = 2, hidden_channels: int = 1024,
                 num_blocks: int = 2, dropout: float = 0.1, search_radius: int = 4,
                 up_axis: Sequence[float] = (0.0, 0.0, 1.0),
                 min_depth: float = 100.0, use_pose_net_pose: bool = True,
                 refine_depth: bool = True,
                 max_log_scale: float = 0.5, pose_net_weight: float = 0.0,
                 depth_weight: float = 1.0, flip_test: bool = False,
                 joint_set: str = 'virtualpose17', loss: Optional[dict] = None,
                 depth_loss_weight: float = 1.0, mask_unfound_joints: bool = False,
                 read_passes: int = 1, test_search_radius: Optional[int] = None,
                 exclusive_peaks: bool = False, train_exclusive_peaks: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_joints = int(num_joints)
        self.root_index = int(root_index)
        if not 0 <= self.root_index < self.num_joints:
            raise ValueError(f'LiftingPoseRefiner: root_index {root_index} is not a joint of '
                             f'{num_joints}')
        if search_radius < 0:
            raise ValueError('LiftingPoseRefiner: search_radius must be ≥ 0, got '
                             f'{search_radius}')
        self.search_radius = int(search_radius)
        self.test_search_radius = None if test_search_radius is None else int(test_search_radius)
        if self.test_search_radius is not None and self.test_search_radius < 0:
            raise ValueError('LiftingPoseRefiner: test_search_radius must be ≥ 0, got '
                             f'{test_search_radius}')
        self.min_depth = float(min_depth)
        up = torch.as_tensor(up_axis, dtype=torch.float64).reshape(3)
        if not float(up.norm()) > 0:
            raise ValueError(f'LiftingPoseRefiner: up_axis must be a non-zero vector, got '
                             f'{up_axis}')
        self.register_buffer('up_axis', up / up.norm(), persistent=False)
        self.use_pose_net_pose = bool(use_pose_net_pose)
        self.refine_depth = bool(refine_depth)
        self.max_log_scale = float(max_log_scale)
        self.pose_net_weight = float(pose_net_weight)
        self.depth_weight = float(depth_weight)
        if not (0.0 <= self.pose_net_weight <= 1.0 and 0.0 <= self.depth_weight <= 1.0):
            raise ValueError('LiftingPoseRefiner: pose_net_weight and depth_weight must lie '
                             f'in [0, 1], got {pose_net_weight}, {depth_weight}')
        self.depth_loss_weight = float(depth_loss_weight)
        self.mask_unfound_joints = bool(mask_unfound_joints)
        self.read_passes = int(read_passes)
        if self.read_passes < 1:
            raise ValueError(f'LiftingPoseRefiner: read_passes must be ≥ 1, got {read_passes}')
        if self.read_passes > 1 and self.use_pose_net_pose:
            raise ValueError('LiftingPoseRefiner: read_passes > 1 needs use_pose_net_pose=False '
                             "(a refiner that corrects the pose net's pose has one to correct)")
        self.flip_test = bool(flip_test)
        self.exclusive_peaks = bool(exclusive_peaks)
        self.train_exclusive_peaks = bool(train_exclusive_peaks)
        K = self.num_joints
        self.flip_indices = None
        if self.flip_test:
            from virtualpose_mm.datasets.joint_sets import get_joint_set
            js = get_joint_set(joint_set)
            if js.num_joints != K:
                raise ValueError(f'LiftingPoseRefiner: joint_set {js.name!r} has '
                                 f'{js.num_joints} joints, the refiner {K}')
            self.flip_indices = js.flip_indices()
        in_channels = (6 if self.use_pose_net_pose else 3) * K + 6
        self.input_layer = nn.Sequential(nn.Linear(in_channels, hidden_channels),
                                         nn.LayerNorm(hidden_channels), nn.ReLU(inplace=True),
                                         nn.Dropout(dropout))
        self.blocks = nn.Sequential(*[_ResidualBlock(hidden_channels, dropout)
                                      for _ in range(int(num_blocks))])
        self.output_layer = nn.Linear(hidden_channels, 3 * K + int(self.refine_depth))
        nn.init.zeros_(self.output_layer.weight)
        nn.init.zeros_(self.output_layer.bias)
        self.loss_module = MODELS.build(loss or dict(type='MPJPELoss', use_target_weight=True))

    # ------------------------------------------------------------------ geometry
    @staticmethod
    def _per_item(cameras, affines: Tensor, batch_index: Tensor, device):
        A = affines.to(device=device, dtype=torch.float64)
        if A.dim() == 4:
            A = A[:, 0]
        return item_cameras(cameras, batch_index, device), A[batch_index]

    def features(self, poses: Tensor, batch_index: Tensor, heatmaps: Tensor, cameras,
                 affines: Tensor, input_size) -> Dict[str, Tensor]:
        """Steps 1–3 of the class docstring.

        Returns:
            dict: ``features`` (P, 6K + 6) float32 ((P, 3K + 6) without
            ``use_pose_net_pose``), ``camera_poses`` (P, K, 3) float64 camera mm of the
            pose net's joints, ``lateral`` (P, K, 2) float64 mm (step 3),
            ``keypoints_2d`` (P, K, 2) heatmap px,
            ``confidence`` (P, K), and ``camera`` (the items' cameras, batch shape (P, )).
        """
        r = self.root_index
        device = poses.device
        cam, A = self._per_item(cameras, affines, batch_index, device)
        H, W = heatmaps.shape[-2:]
        A_hm = heatmap_affines(A, input_size, (W, H))                          # (P, 2, 3)
        Xc, guess = world_to_heatmap(poses, cam, A_hm, self.min_depth)    # (P, K, 3 / 2)
        radius = self.search_radius if self.training or self.test_search_radius is None \
            else self.test_search_radius
        kpt, conf = heatmap_keypoints(heatmaps, guess, radius, batch_index=batch_index,
                                      exclusive=self.train_exclusive_peaks if self.training
                                      else self.exclusive_peaks)
        xy = heatmap_rays(kpt, A_hm, cam)                                       # (P, K, 2)
        z_root = Xc[:, r, 2].clamp_min(self.min_depth)                          # (P, )
        lateral = (xy - xy[:, r:r + 1]) * z_root[:, None, None] / 1000.0
        if self.mask_unfound_joints:
            lateral = lateral * (conf > 0)[..., None].to(lateral)
        rel = (Xc - Xc[:, r:r + 1]) / 1000.0
        up = cam.R @ self.up_axis.to(cam.R)                                     # (P, 3)
        parts = [lateral.flatten(1)] + ([rel.flatten(1)] if self.use_pose_net_pose else [])
        feats = torch.cat(parts + [conf, up, xy[:, r], z_root[:, None] / 10000.0], -1)
        return dict(features=feats.float(), camera_poses=Xc, lateral=lateral * 1000.0,
                    keypoints_2d=kpt, confidence=conf, camera=cam)

    def forward(self, poses: Tensor, batch_index: Tensor, heatmaps: Tensor, cameras,
                affines: Tensor, input_size) -> Dict[str, Tensor]:
        """Refine P poses (class docstring).

        Returns:
            dict: ``poses`` (P, K, 3) world mm in the dtype of ``poses`` (with gradients
            to the refiner), ``keypoints_2d`` (P, K, 2) heatmap px and ``confidence``
            (P, K) (the 2D joints read off the heatmaps).
        """
        K = self.num_joints
        if poses.dim() != 3 or poses.shape[1:] != (K, 3):
            raise ValueError(f'LiftingPoseRefiner: poses must be (P, {K}, 3), got '
                             f'{tuple(poses.shape)}')
        if isinstance(heatmaps, Tensor) and heatmaps.dim() == 5:
            heatmaps = heatmaps[:, 0]
        if heatmaps.shape[1] != K:
            raise ValueError(f'LiftingPoseRefiner: {heatmaps.shape[1]} heatmaps for {K} '
                             'joints')
        P = poses.shape[0]
        if P == 0:
            return dict(poses=poses.clone(), keypoints_2d=poses.new_zeros(0, K, 2),
                        confidence=poses.new_zeros(0, K))
        poses = poses.detach()
        blend = not self.training
        passes = self.read_passes if blend else 1
        guess = poses
        for p in range(passes):
            f = self.features(guess, batch_index, heatmaps, cameras, affines, input_size)
            if p == 0:
                Xc = f['camera_poses']                # the pose net's joints, camera mm
                root = Xc[:, self.root_index:self.root_index + 1]
            rel, scale = self._lift(f, blend)
            if blend and self.pose_net_weight and not self.use_pose_net_pose:
                rel = self.pose_net_weight * (Xc - root) + (1.0 - self.pose_net_weight) * rel
            if p + 1 < passes:            # the next pass reads the heatmaps near this pose
                guess = f['camera'].camera_to_world(root + rel).to(poses.dtype)
        world = f['camera'].camera_to_world(scale * root + rel)
        return dict(poses=world.to(poses.dtype), keypoints_2d=f['keypoints_2d'].to(poses.dtype),
                    confidence=f['confidence'].to(poses.dtype),
                    depth_scale=scale.view(P).to(poses.dtype))

    def _lift(self, f: Dict[str, Tensor], blend: bool):
        """Step 4 on the features ``f`` of :meth:`features`: ``(rel, scale)``, the
        refined root-relative pose (P, K, 3) camera mm (before the test-time blend with the
        pose net's) and the depth scale (P, 1, 1) (``depth_weight`` applied when
        ``blend``)."""
        K = self.num_joints
        P = f['features'].shape[0]
        out = self.mlp(f['features']).to(torch.float64)
        if self.flip_test and not self.training:
            out = 0.5 * (out + self._mirror_output(
                self.mlp(self._mirror_features(f['features'])).to(torch.float64)))
        delta = out[:, :3 * K].view(P, K, 3) * 1000.0
        keep = torch.ones(K, 1, dtype=delta.dtype, device=delta.device)
        keep[self.root_index] = 0.0                       # the root joint does not move
        Xc = f['camera_poses']
        root = Xc[:, self.root_index:self.root_index + 1]
        scale = torch.ones_like(root[..., :1])
        if self.refine_depth:
            log_s = self.max_log_scale * torch.tanh(out[:, 3 * K:] / self.max_log_scale)
            if blend:
                log_s = log_s * self.depth_weight
            scale = torch.exp(log_s)[:, None]                                    # (P, 1, 1)
        if self.use_pose_net_pose:
            base = Xc - root
        else:
            base = torch.cat([f['lateral'], torch.zeros_like(f['lateral'][..., :1])], -1)
        return (base + delta) * keep, scale

    def mlp(self, features: Tensor) -> Tensor:
        """(P, C) features → (P, 3K [+ 1]) correction (m) [and log depth scale]."""
        return self.output_layer(self.blocks(self.input_layer(features)))

    def _mirror_features(self, feats: Tensor) -> Tensor:
        """The features of the person mirrored in the camera's x (joints swapped)."""
        K, idx = self.num_joints, self.flip_indices
        parts, i = [], 0
        for width in ((2, 3) if self.use_pose_net_pose else (2, )):
            block = feats[:, i:i + width * K].view(-1, K, width)[:, idx].clone()
            block[..., 0] = -block[..., 0]
            parts.append(block.flatten(1))
            i += width * K
        conf = feats[:, i:i + K][:, idx]
        rest = feats[:, i + K:].clone()                 # up (3), root ray (2), depth (1)
        rest[:, 0] = -rest[:, 0]
        rest[:, 3] = -rest[:, 3]
        return torch.cat(parts + [conf, rest], -1)

    def _mirror_output(self, out: Tensor) -> Tensor:
        """A correction of the mirrored person mirrored back."""
        K = self.num_joints
        delta = out[:, :3 * K].view(-1, K, 3)[:, self.flip_indices].clone()
        delta[..., 0] = -delta[..., 0]
        return torch.cat([delta.flatten(1), out[:, 3 * K:]], -1)

    def loss(self, poses: Tensor, targets: Tensor, weights: Tensor, cameras=None,
             batch_index: Optional[Tensor] = None) -> Tensor:
        """Loss of P refined poses (mm): the root-relative pose loss, plus with
        ``refine_depth`` ``depth_loss_weight`` × the mean absolute error of the root's
        camera depth (needs ``cameras`` and ``batch_index`` as in :meth:`forward`).

        Args:
            poses: (P, K, 3) refined, world mm. targets: (P, K, 3) GT world mm.
            weights: (P, K) joint weights (visibility).
        """
        r = self.root_index
        targets = targets.to(poses)
        loss = self.loss_module(poses - poses[:, r:r + 1], targets - targets[:, r:r + 1],
                                weights.to(poses)[..., None])
        if self.refine_depth and self.depth_loss_weight:
            if cameras is None or batch_index is None:
                raise ValueError('LiftingPoseRefiner.loss: refine_depth needs the cameras '
                                 'and batch_index of the poses')
            cam = item_cameras(cameras, batch_index, poses.device)
            z = cam.depth(torch.stack([poses[:, r], targets[:, r]], 1).double())   # (P, 2)
            loss = loss + self.depth_loss_weight * (z[:, 0] - z[:, 1]).abs().mean().to(loss)
        return loss


def widen_refiner_state_dict(state: Dict[str, Tensor], prefix: str, factor: int,
                             generator: Optional[torch.Generator] = None,
                             source: str = 'state dict') -> Dict[str, Tensor]:
    """The weights of a :class:`LiftingPoseRefiner` made ``factor`` × wider, computing the
    same function (Net2Net's "wider" operation, Chen et al., ICLR 2016).

    Every hidden unit of the MLP (its ``hidden_channels``: the input layer's, and every
    linear layer's of the residual blocks) becomes ``factor`` copies. A copy has its unit's
    incoming weights, bias and LayerNorm parameters, so the copies' activations equal the
    unit's; the unit's outgoing weights are split among its copies in random shares that
    sum to 1 (each share ∝ U(0.5, 1.5)), so every next layer, the residual sums and the
    output are unchanged. LayerNorm sees each value ``factor`` times: its mean and
    (biased) variance, hence the normalised values, are unchanged too. The unequal shares
    give the copies different gradients, so training separates them (with dropout, which
    masks them independently). The widened refiner starts where the narrow one ended and
    has the wider one's capacity to train further.

    Args:
        state: a model state dict holding the refiner's weights under ``prefix``
            (e.g. ``'refiner.'``); other keys are returned unchanged.
        prefix: the refiner's key prefix.
        factor: integer ≥ 2 (an integer so that LayerNorm's statistics stay exact).
        generator: for the shares (default: torch's global generator).
        source: name of the state dict's file, for error messages.

    Returns:
        A new state dict: the refiner's tensors widened (float32), the rest as given.
        Build the model with ``hidden_channels`` × ``factor`` to load it.
    """
    factor = int(factor)
    if factor < 2:
        raise ValueError(f'widen_refiner_state_dict: factor must be an integer ≥ 2, got '
                         f'{factor}')
    keys = [k for k in state if k.startswith(prefix)]
    if not keys:
        raise KeyError(f'{source}: no weights under {prefix!r}')
    need = [f'{prefix}input_layer.0.weight', f'{prefix}output_layer.weight']
    missing = [k for k in need if k not in state]
    if missing:
        raise KeyError(f'{source}: {prefix!r} is not a LiftingPoseRefiner; missing '
                       f'{missing}')
    H = state[f'{prefix}input_layer.0.weight'].shape[0]
    # out_features of each linear layer, in order: the next linear layer splits its inputs
    linears = [f'{prefix}input_layer.0']
    b = 0
    while f'{prefix}blocks.{b}.layers.0.weight' in state:
        linears += [f'{prefix}blocks.{b}.layers.0', f'{prefix}blocks.{b}.layers.4']
        b += 1
    norms = [f'{prefix}input_layer.1'] + [
        f'{prefix}blocks.{i}.layers.{j}' for i in range(b) for j in (1, 5)]
    expected = {f'{m}.{p}' for m in linears + norms + [f'{prefix}output_layer']
                for p in ('weight', 'bias')}
    unexpected = sorted(set(keys) - expected)
    missing = sorted(expected - set(keys))
    if unexpected or missing:
        raise KeyError(f'{source}: the weights under {prefix!r} are not a LiftingPoseRefiner '
                       f'of {b} blocks: unexpected {unexpected}, missing {missing}')

    def tensor(key):                 # a hidden layer's: H rows (its units)
        t = state[key].float()
        if t.shape[0] != H:
            raise ValueError(f'{source}: {key} has shape {tuple(t.shape)}, expected '
                             f'{H} rows (hidden_channels of {prefix!r})')
        return t

    def shares():
        s = torch.rand(factor, H, generator=generator) + 0.5
        return (s / s.sum(0, keepdim=True)).reshape(factor * H)       # copy-major

    out = dict(state)
    for i, m in enumerate(linears):
        w, bias = tensor(f'{m}.weight'), tensor(f'{m}.bias')
        if i > 0:                                 # its inputs are widened units: split
            w = torch.cat([w] * factor, 1) * shares()[None]
        out[f'{m}.weight'] = torch.cat([w] * factor, 0).contiguous()
        out[f'{m}.bias'] = torch.cat([bias] * factor, 0)
    for m in norms:
        for p in ('weight', 'bias'):
            out[f'{m}.{p}'] = torch.cat([tensor(f'{m}.{p}')] * factor, 0)
    w = state[f'{prefix}output_layer.weight'].float()
    if w.shape[1] != H:
        raise ValueError(f'{source}: {prefix}output_layer.weight has shape '
                         f'{tuple(w.shape)}, expected {H} columns')
    out[f'{prefix}output_layer.weight'] = (torch.cat([w] * factor, 1)
                                           * shares()[None]).contiguous()
    out[f'{prefix}output_layer.bias'] = state[f'{prefix}output_layer.bias'].float()
    return out
