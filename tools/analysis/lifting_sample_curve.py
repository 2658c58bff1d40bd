"""How a lifting MLP's error on unseen motions falls with the number of people it trains on.

A standalone experiment behind
``configs/virtualpose/virtualpose_virtualcam-viewcube-lift-long_cpu.py`` (why its refiner
was trained on more people): people of the shipped CMU train bank
(``virtualpose_mm/data/cmu_mocap_train_poses.npz``), split by clip group into training
and validation poses (``--val-share`` of the groups, seeded), each seen by its own
virtual camera drawn as the CPU VirtualPose configs draw them (heading all round, 2.5-6 m
from the centre, 0.5-3 m high, pitch 0-35°, focal 1000-1800 px, principal point within
±6 % of the image centre, the three image sizes; the person anywhere within ±3 m, turned
at random, its root in the image at ≥ 1 m depth), the 2D joints moved by the AGR's
training noise (N(0, (σ/4)²) per axis in heatmap px, σ the person-size Gaussian of the
480×256 canvas), and the true root depth given (the training input perturbed by 3 %).
The MLP is Martinez et al.'s (BatchNorm residual blocks) on the features of
:class:`~virtualpose_mm.models.heads.LiftingPoseRefiner` without its confidences and depth
(lateral offsets at the root's depth, the world's up axis in the camera frame, the root's
ray). Prints the validation MPJPE (root-relative, mm) every ``--eval-every`` iterations.

Not the package's training path (no heatmaps are rendered, so millions of people take
minutes): it measures the trend, not the refiner's figures.

    python tools/analysis/lifting_sample_curve.py --iters 20000 --width 256
    # --clips ../shared/data/posebank/clips.json groups by the bank's split groups
    # (the salsa partners of a take together) instead of by take
"""
import argparse
import json
import time

import numpy as np
import torch

from virtualpose_mm.datasets.datasets.virtual.posebank import BUILTIN_POSE_BANKS

IMAGE_SIZES = ((1032, 776), (1920, 1080), (2048, 2048))
CANVAS = (480, 256)
STRIDE = 4
L_HIP, R_HIP = 11, 12          # COCO-17; the root is their midpoint


def split_poses(val_share: float, seed: int, clips_json=None):
    """(train, val) float32 (N, 17, 3) poses, mid-hip at x = y = 0, by clip group."""
    z = np.load(BUILTIN_POSE_BANKS['train'])
    poses, clip_id = z['coco17'].astype(np.float32), z['clip_id']
    clips = json.loads(str(z['info']))['clips']
    group = {c['clip_id']: c['take_id'] for c in clips}
    if clips_json:
        group = {c['clip_id']: c['split_group'] for c in json.load(open(clips_json))['clips']}
    groups_of = np.array([group[int(i)] for i in clip_id])
    groups = np.unique(groups_of)
    np.random.RandomState(seed).shuffle(groups)
    val = np.isin(groups_of, groups[:int(val_share * len(groups))])
    root = poses[:, [L_HIP, R_HIP]].mean(1)
    poses[..., :2] -= root[:, None, :2]
    return torch.from_numpy(poses[~val]), torch.from_numpy(poses[val])


def _rot_z(angle):
    c, s = torch.cos(angle), torch.sin(angle)
    R = torch.zeros(len(angle), 3, 3)
    R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1], R[:, 2, 2] = c, -s, s, c, 1
    return R


def sample_people(bank, n, gen):
    """n people seen by their own cameras: camera-frame joints (mm), noisy 2D (px), focal,
    principal point and world-to-camera rotation of those whose root is in view."""
    P = bank[torch.randint(len(bank), (n, ), generator=gen)]
    P = P @ _rot_z(torch.rand(n, generator=gen) * 2 * np.pi).transpose(1, 2)
    P[..., :2] += torch.rand(n, 1, 2, generator=gen) * 6000 - 3000
    az = torch.rand(n, generator=gen) * 2 * np.pi
    dist = 2500 + torch.rand(n, generator=gen) * 3500
    centre = torch.stack([dist * torch.cos(az), dist * torch.sin(az),
                          500 + torch.rand(n, generator=gen) * 2500], -1)
    pitch = torch.deg2rad(torch.rand(n, generator=gen) * 35)
    ahead = -torch.stack([torch.cos(az), torch.sin(az)], -1)
    fwd = torch.cat([ahead * torch.cos(pitch)[:, None], -torch.sin(pitch)[:, None]], -1)
    right = torch.cross(fwd, torch.tensor([0.0, 0.0, 1.0]).expand(n, 3), dim=-1)
    right = right / right.norm(dim=-1, keepdim=True)
    R = torch.stack([right, torch.cross(fwd, right, dim=-1), fwd], 1)   # x right, y down
    Xc = (P - centre[:, None]) @ R.transpose(1, 2)
    f = 1000 + torch.rand(n, generator=gen) * 800
    size = torch.tensor(IMAGE_SIZES, dtype=torch.float32)[
        torch.randint(len(IMAGE_SIZES), (n, ), generator=gen)]
    c = size / 2 * (1 + (torch.rand(n, 2, generator=gen) - 0.5) * 0.12)
    uv = Xc[..., :2] / Xc[..., 2:].clamp(min=100) * f[:, None, None] + c[:, None]
    root_uv, root_z = uv[:, [L_HIP, R_HIP]].mean(1), Xc[:, [L_HIP, R_HIP], 2].mean(1)
    ok = (root_z > 1000) & (Xc[..., 2].min(1).values > 300) & \
        (root_uv > 0).all(-1) & (root_uv < size).all(-1)
    k = torch.minimum(CANVAS[0] / size[:, 0], CANVAS[1] / size[:, 1])   # letterbox scale
    hm = uv * (k / STRIDE)[:, None, None]
    extent = (hm.amax(1) - hm.amin(1)).amax(-1)
    sigma = 3 * torch.sqrt(2 * extent.clamp(48, 192) ** 2) / 96          # heatmap px
    noise_px = 0.25 * sigma * STRIDE / k                                  # image px
    uv = uv + torch.randn(uv.shape, generator=gen) * noise_px[:, None, None]
    return Xc[ok], uv[ok], f[ok], c[ok], R[ok]


def features(uv, f, c, R, root_z):
    xy = (uv - c[:, None]) / f[:, None, None]
    root_xy = xy[:, [L_HIP, R_HIP]].mean(1)
    lateral = (xy - root_xy[:, None]) * root_z[:, None, None] / 1000.0
    return torch.cat([lateral.flatten(1), R[:, :, 2], root_xy], -1)


def root_relative(Xc):
    root = Xc[:, [L_HIP, R_HIP]].mean(1)
    return Xc - root[:, None], root[:, 2]


class _Block(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(width, width), torch.nn.BatchNorm1d(width), torch.nn.ReLU(),
            torch.nn.Dropout(0.1),
            torch.nn.Linear(width, width), torch.nn.BatchNorm1d(width), torch.nn.ReLU(),
            torch.nn.Dropout(0.1))

    def forward(self, x):
        return x + self.layers(x)


def run(args):
    torch.manual_seed(args.seed)
    train, val = split_poses(args.val_share, args.seed, args.clips)
    print(f'poses: {len(train)} training, {len(val)} validation', flush=True)
    net = torch.nn.Sequential(
        torch.nn.Linear(17 * 2 + 5, args.width), torch.nn.BatchNorm1d(args.width),
        torch.nn.ReLU(), *[_Block(args.width) for _ in range(args.blocks)],
        torch.nn.Linear(args.width, 17 * 3))
    opt = torch.optim.Adam(net.parameters(), args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.iters)
    Xv, uvv, fv, cv, Rv = sample_people(val, args.val_people,
                                        torch.Generator().manual_seed(args.seed + 1))
    Yv, zv = root_relative(Xv)
    gen = torch.Generator().manual_seed(args.seed + 2)
    seen, t0, curve = 0, time.time(), []
    for it in range(1, args.iters + 1):
        X, uv, f, c, R = sample_people(train, args.batch, gen)
        Y, z = root_relative(X)
        z_in = z * (1 + args.depth_noise * torch.randn(z.shape, generator=gen))
        pred = net(features(uv, f, c, R, z_in)).view(-1, 17, 3) * 1000.0
        loss = (pred - Y).norm(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        seen += len(X)
        if it % args.eval_every == 0 or it == args.iters:
            net.eval()
            with torch.no_grad():
                pv = net(features(uvv, fv, cv, Rv, zv)).view(-1, 17, 3) * 1000.0
                err = float((pv - Yv).norm(dim=-1).mean())
            net.train()
            curve.append((it, seen, err))
            print(f'iter {it}: {seen / 1e6:.2f} M people, validation MPJPE {err:.1f} mm '
                  f'(training batch {loss.item():.1f}), {time.time() - t0:.0f} s', flush=True)
    return curve


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--iters', type=int, default=20000)
    p.add_argument('--batch', type=int, default=256, help='people drawn per iteration')
    p.add_argument('--width', type=int, default=256)
    p.add_argument('--blocks', type=int, default=2)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--depth-noise', type=float, default=0.03,
                   help='relative noise of the root depth given in training')
    p.add_argument('--val-share', type=float, default=0.15)
    p.add_argument('--val-people', type=int, default=20000)
    p.add_argument('--eval-every', type=int, default=500)
    p.add_argument('--clips', default=None,
                   help="the bank's clips.json: group clips by its split_group")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    return p.parse_args(argv)


if __name__ == '__main__':
    a = parse_args()
    torch.set_num_threads(a.threads)
    run(a)
