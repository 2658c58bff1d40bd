"""Synthetic multi-view scenes for the VoxelPose tests and ``benchmark_voxelpose.py``.

A ring of cameras looking at the capture space, standing COCO-17 people placed at random,
and per-view 2D Gaussian heatmaps rendered at their projected joints, packed by the pack
transform (``PackMultiViewPoseInputs``: the canonical ``cameras`` / ``affines`` /
``input_size`` metainfo and ``gt_instances``; optionally the root target of
``GenerateRootTarget3D``). Run the batch through ``model.data_preprocessor`` before the
model.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from virtualpose_mm.datasets.transforms.multiview import letterbox_affine  # noqa: F401
from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.structures.heatmaps import render_gaussian_heatmaps

# a standing person, COCO-17 order, mm, mid-hip at the origin's vertical, feet at z = 0
_COCO_TEMPLATE = np.array([
    [0, 60, 1600], [-35, 80, 1640], [35, 80, 1640], [-80, 40, 1620], [80, 40, 1620],
    [-190, 0, 1420], [190, 0, 1420], [-250, 20, 1150], [250, 20, 1150],
    [-280, 60, 900], [280, 60, 900], [-110, 0, 950], [110, 0, 950],
    [-120, 30, 500], [120, 30, 500], [-120, 0, 80], [120, 0, 80]], dtype=np.float64)


def look_at(position: Sequence[float],
            target: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """World→camera ``R`` and ``t`` of a camera at ``position`` looking at ``target``
    (z up in the world, y down in the image)."""
    p = np.asarray(position, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - p
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ p


def ring_rig(num_views: int, target: Sequence[float], radius: float = 6000.0,
             height: float = 2300.0, image_size: Sequence[int] = (1032, 776),
             focal: float = 1000.0, dist: Optional[Sequence[float]] = None) -> Camera:
    """``num_views`` cameras evenly spaced on a horizontal circle around ``target``."""
    Rs, ts = [], []
    for i in range(num_views):
        a = 2 * np.pi * i / num_views + 0.3
        pos = [target[0] + radius * np.cos(a), target[1] + radius * np.sin(a), height]
        R, t = look_at(pos, target)
        Rs.append(R)
        ts.append(t)
    w, h = image_size
    V = num_views
    return Camera(np.stack(Rs), np.stack(ts), np.full((V, 2), focal),
                  np.tile([w / 2.0, h / 2.0], (V, 1)),
                  np.tile(np.asarray(dist if dist is not None else np.zeros(5)), (V, 1)),
                  np.tile([float(w), float(h)], (V, 1)), source='ring_rig')


def random_people(num: int, center: Sequence[float], spread: float = 2500.0,
                  rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """(num, 17, 3) standing people (mm) at random positions and headings, ≥ 700 mm
    apart, within ``center ± spread`` in x and y."""
    rng = rng or np.random.default_rng(0)
    out, roots = [], []
    while len(out) < num:
        xy = np.asarray(center[:2], dtype=np.float64) + rng.uniform(-spread, spread, 2)
        if any(np.linalg.norm(xy - r) < 700 for r in roots):
            continue
        a = rng.uniform(-np.pi, np.pi)
        Rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        out.append(_COCO_TEMPLATE @ Rz.T + np.array([xy[0], xy[1], 0.0]))
        roots.append(xy)
    return np.stack(out) if out else np.zeros((0, 17, 3))


def render_heatmaps(joints: np.ndarray, cameras: Camera, affines: np.ndarray,
                    input_size: Sequence[float], heatmap_size: Sequence[int],
                    sigma: float = 2.0, amplitude: float = 1.0) -> np.ndarray:
    """(V, K, h, w) float32 heatmaps: a Gaussian (std ``sigma`` heatmap px) at each joint
    that lies in front of the camera, max over people, clipped to [0, 1] (the shared
    renderer :func:`~virtualpose_mm.structures.heatmaps.render_gaussian_heatmaps`)."""
    V = cameras.batch_shape[0]
    G, K = joints.shape[:2]
    w, h = (int(v) for v in heatmap_size)
    out = np.zeros((V, K, h, w), dtype=np.float32)
    if G == 0:
        return out
    pts = np.broadcast_to(joints.reshape(1, -1, 3), (V, G * K, 3))
    uv = cameras.project(pts)                                                 # (V, G·K, 2)
    in_front = cameras.depth(pts).reshape(V, G, K) > 0
    A = np.asarray(affines, dtype=np.float64)
    inp = uv @ np.swapaxes(A[:, :, :2], 1, 2) + A[:, None, :, 2]
    hm = (inp * np.array([w / float(input_size[0]), h / float(input_size[1])])).reshape(
        V, G, K, 2)
    for v in range(V):
        out[v] = render_gaussian_heatmaps(hm[v], (w, h), sigma, visible=in_front[v],
                                          amplitudes=np.full((G, K), amplitude))
    return out


def make_batch(num_frames: int = 1, num_views: int = 5, people: Sequence[int] = (3, ),
               space_center: Sequence[float] = (450.0, -320.0, 800.0),
               input_size: Sequence[int] = (800, 608), heatmap_size: Sequence[int] = (200, 152),
               image_size: Sequence[int] = (1032, 776), spread: float = 2500.0,
               seed: int = 0, sigma: float = 2.0, camera_format: str = 'dict',
               root_target: Optional[dict] = None) -> Tuple[torch.Tensor, List]:
    """Heatmap inputs (B, V, 17, h, w) and data samples packed by
    ``PackMultiViewPoseInputs`` (not yet through the data preprocessor).

    Args:
        people: number of people per frame (cycled over frames).
        camera_format: how the frame gives its cameras to the pack transform, which
            converts every form into the canonical arrays: ``'dict'``
            (``Camera.to_dict()``), ``'camera'`` (a Camera) or ``'list'`` (V per-view
            dicts).
        root_target: arguments of ``GenerateRootTarget3D`` (``space_size``,
            ``space_center``, ``space_shape``, ...) to add the root target (training);
            None: no target.
    """
    from virtualpose_mm.datasets.transforms import (GenerateRootTarget3D,
                                                    PackMultiViewPoseInputs)
    rng = np.random.default_rng(seed)
    cams = ring_rig(num_views, [space_center[0], space_center[1], 900.0],
                    image_size=image_size)
    A = np.stack([letterbox_affine(image_size, input_size)] * num_views)
    sizes = np.tile(np.asarray(image_size, dtype=np.float64), (num_views, 1))
    target = None if root_target is None else GenerateRootTarget3D(**root_target)
    pack = PackMultiViewPoseInputs(inputs_key='input_heatmaps')
    inputs, samples = [], []
    for b in range(num_frames):
        G = people[b % len(people)]
        joints = random_people(G, space_center, spread, rng)
        if camera_format == 'camera':
            cam_meta = cams
        elif camera_format == 'list':
            cam_meta = [cams[v].to_dict() for v in range(num_views)]
        else:
            cam_meta = cams.to_dict()
        frame = dict(input_heatmaps=render_heatmaps(joints, cams, A, input_size,
                                                    heatmap_size, sigma),
                     cameras=cam_meta, affines=A.copy(), image_sizes=sizes.copy(),
                     input_size=np.asarray(input_size, dtype=np.float64),
                     gt_keypoints_3d=joints, gt_keypoints_3d_visible=np.ones(joints.shape[:2]))
        if target is not None:
            frame = target(frame)
        packed = pack(frame)
        inputs.append(packed['inputs'])
        samples.append(packed['data_samples'])
    return torch.stack(inputs), samples
