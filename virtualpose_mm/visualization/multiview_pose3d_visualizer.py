"""A registered visualizer for multi-view, multi-person 3D poses (VoxelPose / VirtualPose).

MMPose 1.x's :class:`~mmpose.visualization.Pose3dLocalVisualizer` draws one person per
figure in a camera-centred frame; :class:`MultiviewPose3dVisualizer` draws a whole frame of
this package: every person in one world plot (z up, mm) with the capture space and the
cameras, and, per view, the 3D predictions projected into that view's image next to the 2D
detections. It reads the data-sample fields of
:mod:`virtualpose_mm.datasets.transforms.formatting` and projects with
:class:`~virtualpose_mm.geometry.camera.Camera` (nothing here re-implements projection).

In a config::

    visualizer = dict(type='MultiviewPose3dVisualizer', name='visualizer',
                      vis_backends=[dict(type='LocalVisBackend')])

Direct use::

    vis = VISUALIZERS.build(dict(type='MultiviewPose3dVisualizer', name='mv'))
    vis.set_dataset_meta(dataset.metainfo)
    img = vis.add_datasample('frame', data_sample, cameras=cams,
                             visualize_single_view=True, out_file='frame.png')
    out = vis.add_datasample('frame', data_sample, cameras=cams, return_views=True)
    out['world'], out['views'][0]   # the world panel, view 0 at its native resolution
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmengine.visualization import Visualizer

from ..datasets.joint_sets import COCO17, get_joint_set
from ..engine.fileio import atomic_write_bytes
from ..geometry.camera import Camera
from ..registry import VISUALIZERS

__all__ = ['MultiviewPose3dVisualizer', 'PERSON_PALETTE', 'COCO17_SKELETON']

#: One RGB colour per person (person i gets ``PERSON_PALETTE[i % len]``), chosen to be
#: distinct from each other, from the GT grey and from the white 2D detections.
PERSON_PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40),
    (128, 0, 0), (0, 0, 128))
#: The COCO-17 limbs (joint index pairs), used when the dataset meta has no skeleton.
COCO17_SKELETON: Tuple[Tuple[int, int], ...] = tuple(COCO17.skeleton)

Color = Tuple[int, int, int]


def _np(x, dtype=np.float64) -> np.ndarray:
    """numpy copy of an array / tensor / sequence."""
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _rgb01(color: Color) -> Tuple[float, float, float]:
    return tuple(float(c) / 255.0 for c in color)


class _Skeleton:
    """Limbs of a K-joint set: ``links`` (L, 2) int, ``num_joints`` K or None (unknown:
    any K above the largest index fits), ``source`` for error messages."""

    def __init__(self, links, num_joints: Optional[int], source: str):
        arr = np.asarray(links, dtype=np.int64).reshape(-1, 2)
        if arr.size and arr.min() < 0:
            raise ValueError(f'{source}: negative joint index in the skeleton links')
        if num_joints is not None and arr.size and arr.max() >= num_joints:
            raise ValueError(f'{source}: skeleton link uses joint {int(arr.max())}, but the '
                             f'meta has {num_joints} joints')
        self.links = arr
        self.num_joints = num_joints
        self.source = source

    def fits(self, K: int) -> bool:
        if self.num_joints is not None:
            return self.num_joints == K
        return not self.links.size or int(self.links.max()) < K

    def describe(self) -> str:
        k = '?' if self.num_joints is None else self.num_joints
        return f'{self.source} ({k} joints)'


@VISUALIZERS.register_module()
class MultiviewPose3dVisualizer(Visualizer):
    """Draw a multi-view frame: all people in one world plot, and per view the 3D poses
    projected into the image beside the 2D detections.

    Units and frames follow ``DESIGN.md`` §2: world z up, millimetres; cameras
    :class:`~virtualpose_mm.geometry.camera.Camera` (``R`` world → camera, ``t`` mm, the
    centre ``−R⁻¹t``); images RGB uint8, (H, W, 3), in original pixels.

    Colours: person ``i`` (row ``i`` of ``pred_instances``) is drawn in
    ``palette[i % len(palette)]`` in every panel; GT in ``gt_color`` (dashed in the world
    plot, thinner lines in the views); 2D detections in ``det2d_color`` (thin lines and crosses).

    Args:
        name: instance name (mmengine ``ManagerMixin``). Defaults to ``'visualizer'``.
        vis_backends: mmengine visualization backends (used by :meth:`add_datasample` when
            no ``out_file`` is given).
        save_dir: root directory of the backends.
        world_size: (w, h) pixels of the world panel. Defaults to (640, 640).
        palette: RGB colours of the people. Defaults to :data:`PERSON_PALETTE`.
        gt_color: RGB colour of GT poses. Defaults to grey (128, 128, 128).
        det2d_color: RGB colour of the 2D detections in the view panels. Defaults to white.
        blank_color: RGB background of a view without an image. Defaults to black.
        line_width: skeleton line width: pixels in the views, points in the world plot.
        radius: joint radius in pixels (views).
        elev, azim: view angles of the 3D plot in degrees (matplotlib ``view_init``).
        camera_axis_length: length in mm of the segment along each camera's optical axis
            in the world plot; None: 15 % of the plotted extent.
        score_thr: people whose ``bbox_scores`` is below it are not drawn (their colour
            index is kept); None draws every row.
        det2d_score_thr: 2D detection joints with a score (third column) not above it are
            not drawn.
        min_depth: joints closer than this (mm, camera depth) — behind the camera — are
            not projected.
        fig_save_cfg, fig_show_cfg: mmengine ``Visualizer`` figure settings.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 world_size: Tuple[int, int] = (640, 640),
                 palette: Optional[Sequence[Color]] = None,
                 gt_color: Color = (128, 128, 128),
                 det2d_color: Color = (255, 255, 255),
                 blank_color: Color = (0, 0, 0),
                 line_width: int = 3,
                 radius: int = 4,
                 elev: float = 20.0,
                 azim: float = -60.0,
                 camera_axis_length: Optional[float] = None,
                 score_thr: Optional[float] = None,
                 det2d_score_thr: float = 0.0,
                 min_depth: float = 1.0,
                 fig_save_cfg=dict(frameon=False),
                 fig_show_cfg=dict(frameon=False)):
        super().__init__(name=name, vis_backends=vis_backends, save_dir=save_dir,
                         fig_save_cfg=fig_save_cfg, fig_show_cfg=fig_show_cfg)
        self.world_size = (int(world_size[0]), int(world_size[1]))
        self.palette = tuple(tuple(int(c) for c in col) for col in (palette or PERSON_PALETTE))
        if not self.palette:
            raise ValueError('MultiviewPose3dVisualizer: palette is empty')
        self.gt_color = tuple(int(c) for c in gt_color)
        self.det2d_color = tuple(int(c) for c in det2d_color)
        self.blank_color = tuple(int(c) for c in blank_color)
        self.line_width = int(line_width)
        self.radius = int(radius)
        self.elev = float(elev)
        self.azim = float(azim)
        self.camera_axis_length = camera_axis_length
        self.score_thr = score_thr
        self.det2d_score_thr = float(det2d_score_thr)
        self.min_depth = float(min_depth)
        self._skeleton: Optional[_Skeleton] = None
        self._gt_skeleton: Optional[_Skeleton] = None

    # ------------------------------------------------------------------ dataset meta
    @property
    def dataset_meta(self) -> Optional[dict]:
        """The dataset metainfo last given to :meth:`set_dataset_meta`."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        # mmengine's loops assign ``runner.visualizer.dataset_meta``: parse it the same way
        self.set_dataset_meta(dataset_meta)

    def set_dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        """Take the skeleton from MMPose dataset metainfo.

        Args:
            dataset_meta: parsed MMPose metainfo (``parse_pose_metainfo``; a raw
                ``dataset_info`` with ``keypoint_info`` is parsed here): ``skeleton_links``
                (L pairs of joint indices), ``num_keypoints`` or ``keypoint_id2name`` (K),
                and optionally this package's ``gt_joint_set`` (the joint set of
                ``gt_instances`` when it differs from the predictions', as Shelf/Campus
                ``'shelf14'``). None or a meta without ``skeleton_links``: the COCO-17
                skeleton is used for K = 17 poses, any other K is an error at drawing.
        """
        self._dataset_meta = dataset_meta
        self._skeleton = None
        self._gt_skeleton = None
        if not dataset_meta:
            return
        meta = dict(dataset_meta)
        if 'skeleton_links' not in meta and 'keypoint_info' in meta:
            from mmpose.datasets.datasets.utils import parse_pose_metainfo
            meta = parse_pose_metainfo(meta)
        name = meta.get('dataset_name', '<dataset meta>')
        K = meta.get('num_keypoints')
        if K is None and meta.get('keypoint_id2name'):
            K = len(meta['keypoint_id2name'])
        links = meta.get('skeleton_links')
        if links is not None and len(links):
            self._skeleton = _Skeleton(links, None if K is None else int(K),
                                       f'dataset meta {name!r} skeleton_links')
        gt_set = meta.get('gt_joint_set')
        if gt_set:
            js = get_joint_set(gt_set)
            self._gt_skeleton = _Skeleton(js.skeleton, js.num_joints,
                                          f'dataset meta {name!r} gt_joint_set {js.name!r}')

    def _skeleton_for(self, K: int, what: str) -> np.ndarray:
        """(L, 2) limbs for poses of K joints, or a ValueError that says what to fix."""
        known = [s for s in (self._skeleton, self._gt_skeleton) if s is not None]
        for s in known:
            if s.fits(K):
                return s.links
        if not known and K == 17:
            return np.asarray(COCO17_SKELETON, np.int64)
        if known:
            raise ValueError(f'MultiviewPose3dVisualizer: {what} has K = {K} joints, but the '
                             f'skeleton is {" / ".join(s.describe() for s in known)}; call '
                             'set_dataset_meta() with the metainfo of the joint set of these '
                             'poses')
        raise ValueError(f'MultiviewPose3dVisualizer: {what} has K = {K} joints and no '
                         'skeleton is set (the COCO-17 fallback applies to K = 17 only); '
                         'call set_dataset_meta() with metainfo that has skeleton_links')

    # ------------------------------------------------------------------ inputs
    def _color(self, i: int) -> Color:
        return self.palette[i % len(self.palette)]

    @staticmethod
    def _poses(data_sample, group: str, field: str, vis_field: Optional[str]):
        """(N, K, 3) float64 and (N, K) bool of ``data_sample.<group>.<field>``; empty if
        absent."""
        inst = data_sample.get(group, None) if hasattr(data_sample, 'get') else None
        if inst is None or field not in inst:
            return np.zeros((0, 0, 3)), np.zeros((0, 0), bool)
        X = _np(inst.get(field))
        if X.size == 0:
            return np.zeros((0, X.shape[1] if X.ndim == 3 else 0, 3)), np.zeros((0, 0), bool)
        if X.ndim != 3 or X.shape[-1] != 3:
            raise ValueError(f'data_sample.{group}.{field}: expected (N, K, 3) world mm, '
                             f'got shape {tuple(X.shape)}')
        ok = np.isfinite(X).all(-1)
        if vis_field is not None and vis_field in inst:
            v = _np(inst.get(vis_field))
            ok &= v.reshape(X.shape[:2] + (-1, ))[..., 0] > 0
        return X, ok

    def _people(self, data_sample, draw_gt: bool):
        """Predictions (N, K, 3), their joint mask (N, K), the drawn row indices, the limbs;
        the same for GT (or empty)."""
        P, pok = self._poses(data_sample, 'pred_instances', 'keypoints', None)
        rows = list(range(len(P)))
        inst = data_sample.get('pred_instances', None)
        if (self.score_thr is not None and inst is not None and 'bbox_scores' in inst
                and len(P)):
            s = _np(inst.bbox_scores).reshape(-1)
            rows = [i for i in rows if s[i] >= self.score_thr]
        plinks = self._skeleton_for(P.shape[1], 'pred_instances.keypoints') if len(P) \
            else np.zeros((0, 2), np.int64)
        G, gok = (self._poses(data_sample, 'gt_instances', 'lifting_target',
                              'lifting_target_visible') if draw_gt else
                  (np.zeros((0, 0, 3)), np.zeros((0, 0), bool)))
        glinks = self._skeleton_for(G.shape[1], 'gt_instances.lifting_target') if len(G) \
            else np.zeros((0, 2), np.int64)
        return (P, pok, rows, plinks), (G, gok, glinks)

    @staticmethod
    def _cameras(cameras, camera_names=None, metainfo=None):
        """Normalise ``cameras`` to a (V,) numpy :class:`Camera` and V names."""
        from ..models.utils.multiview import cameras_from_meta
        names = None
        if isinstance(cameras, Camera):
            cam = cameras.numpy()
            if cam.batch_shape == ():
                cam = Camera.stack([cam])
        elif isinstance(cameras, Mapping) and cameras and all(
                isinstance(c, Camera) for c in cameras.values()):
            names = [str(k) for k in cameras.keys()]  # load_cameras(): name -> Camera
            cam = Camera.stack([c.numpy() for c in cameras.values()], source='cameras')
        else:
            cam = cameras_from_meta(cameras, 'cameras')
        if len(cam.batch_shape) != 1:
            raise ValueError(f'cameras: expected a batch of V cameras, got batch shape '
                             f'{cam.batch_shape}')
        V = cam.batch_shape[0]
        if camera_names is not None:
            names = [str(n) for n in camera_names]
        elif names is None and metainfo and metainfo.get('view_names') is not None \
                and len(metainfo['view_names']) == V:
            names = [str(n) for n in metainfo['view_names']]
        if names is None:
            names = [str(v) for v in range(V)]
        if len(names) != V:
            raise ValueError(f'camera_names: {len(names)} names for {V} cameras')
        return cam, names

    # ------------------------------------------------------------------ world panel
    def draw_world(self, data_sample, cameras=None, camera_names: Optional[Sequence[str]] = None,
                   draw_gt: bool = True, space_size: Optional[Sequence[float]] = None,
                   space_center: Optional[Sequence[float]] = None,
                   title: Optional[str] = None) -> np.ndarray:
        """The world plot of a frame.

        Args:
            data_sample: :class:`~mmpose.structures.PoseDataSample` with
                ``pred_instances.keypoints`` (N, K, 3) world mm (numpy or torch) and, when
                ``draw_gt``, optionally ``gt_instances.lifting_target`` (G, K', 3) world mm
                with ``lifting_target_visible`` (G, K').
            cameras: the V cameras (see :meth:`add_datasample`), or None (not drawn).
            camera_names: V labels; default the metainfo ``view_names`` or the indices.
            draw_gt: draw the GT people (dashed, ``gt_color``).
            space_size, space_center: (3,) mm, the capture-space box; default the
                metainfo keys of the same names; not drawn if neither is there.
            title: figure title.

        Returns:
            np.ndarray: (h, w, 3) uint8 RGB, ``world_size``.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        meta = data_sample.metainfo if hasattr(data_sample, 'metainfo') else {}
        (P, pok, rows, plinks), (G, gok, glinks) = self._people(data_sample, draw_gt)
        space_size, space_center = self._space(space_size, space_center, meta)

        w, h = self.world_size
        dpi = 100
        fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_subplot(projection='3d')
        fig.subplots_adjust(left=0, right=1, bottom=0, top=0.95 if title else 1)
        extent_pts = []

        def limbs(X, ok, links):  # (2, 3) segments of the limbs with both joints drawn
            return [np.stack([X[a], X[b]]) for a, b in links if ok[a] and ok[b]]

        for g in range(len(G)):
            segs = limbs(G[g], gok[g], glinks)
            if segs:
                ax.add_collection3d(Line3DCollection(
                    segs, colors=[_rgb01(self.gt_color)], linewidths=max(1, self.line_width - 1),
                    linestyles='dashed'))
            extent_pts.append(G[g][gok[g]])
        for i in rows:
            color = _rgb01(self._color(i))
            segs = limbs(P[i], pok[i], plinks)
            if segs:
                ax.add_collection3d(Line3DCollection(segs, colors=[color],
                                                     linewidths=self.line_width))
            J = P[i][pok[i]]
            if len(J):
                ax.scatter(J[:, 0], J[:, 1], J[:, 2], color=[color], s=self.radius ** 2,
                           depthshade=False, edgecolors=[color])
            extent_pts.append(J)
        if space_size is not None:
            corners = self._box_corners(space_size, space_center)
            ax.add_collection3d(Line3DCollection(
                [corners[[a, b]] for a, b in self._BOX_EDGES], colors=[(0.55, 0.55, 0.85)],
                linewidths=1))
            extent_pts.append(corners)
        cam = names = None
        if cameras is not None:
            cam, names = self._cameras(cameras, camera_names, meta)
            extent_pts.append(cam.center)

        pts = np.concatenate([p.reshape(-1, 3) for p in extent_pts]) if extent_pts else \
            np.zeros((0, 3))
        pts = pts[np.isfinite(pts).all(-1)]
        if len(pts):
            lo, hi = pts.min(0), pts.max(0)
        else:
            lo, hi = np.array([-1000., -1000., 0.]), np.array([1000., 1000., 2000.])
        mid, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 500.0) * 1.05

        if cam is not None:
            L = self.camera_axis_length or 0.15 * 2 * half
            C = cam.center
            axis = np.linalg.solve(cam.R, np.broadcast_to([0., 0., 1.], C.shape)[..., None])[..., 0]
            axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
            ax.add_collection3d(Line3DCollection([np.stack([c, c + L * a])
                                                  for c, a in zip(C, axis)],
                                                 colors=[(0.0, 0.0, 0.0)], linewidths=1.5))
            ax.scatter(C[:, 0], C[:, 1], C[:, 2], color=[(0.0, 0.0, 0.0)], marker='^', s=30,
                       depthshade=False)
            for c, n in zip(C, names):
                ax.text(c[0], c[1], c[2], f' {n}', color=(0.0, 0.0, 0.0), fontsize=8)

        ax.set_xlim(mid[0] - half, mid[0] + half)
        ax.set_ylim(mid[1] - half, mid[1] + half)
        ax.set_zlim(mid[2] - half, mid[2] + half)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel('x (mm)', fontsize=8)
        ax.set_ylabel('y (mm)', fontsize=8)
        ax.set_zlabel('z (mm)', fontsize=8)
        ax.tick_params(labelsize=6)
        ax.view_init(elev=self.elev, azim=self.azim)
        if title:
            fig.suptitle(title, fontsize=10)
        canvas.draw()
        img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        if img.shape[:2] != (h, w):  # rounding of figsize × dpi
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        return img

    _BOX_EDGES = ((0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4),
                  (0, 4), (1, 5), (2, 6), (3, 7))

    @staticmethod
    def _box_corners(size, center) -> np.ndarray:
        s = _np(size).reshape(3) / 2
        c = _np(center).reshape(3)
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
        return c + signs * s

    @staticmethod
    def _space(space_size, space_center, meta):
        if space_size is None and meta is not None and meta.get('space_size') is not None:
            space_size = meta.get('space_size')
            if space_center is None:
                space_center = meta.get('space_center')
        if space_size is None:
            return None, None
        if space_center is None:
            raise ValueError('space_size is given without space_center (both (3,) mm)')
        size, center = _np(space_size).reshape(-1), _np(space_center).reshape(-1)
        if size.shape != (3, ) or center.shape != (3, ):
            raise ValueError(f'space_size / space_center must be (3,) mm, got '
                             f'{size.shape} / {center.shape}')
        return size, center

    # ------------------------------------------------------------------ view panels
    def _project(self, cam: Camera, X: np.ndarray, ok: np.ndarray):
        """Pixels (N, K, 2) of world joints X (N, K, 3) through one camera, and the mask
        of the joints that are drawable (finite, in front of the camera)."""
        if X.size == 0:
            return np.zeros(X.shape[:-1] + (2, )), np.zeros(X.shape[:-1], bool)
        flat = np.where(np.isfinite(X), X, 0.0).reshape(-1, 3)  # masked by ``ok``
        with np.errstate(all='ignore'):  # z = 0 divides by zero; masked below
            z = cam.depth(flat)
            uv = cam.project(flat)
        valid = ok.reshape(-1) & np.isfinite(z) & (z > self.min_depth) & \
            np.isfinite(uv).all(-1) & (np.abs(uv) < 1e6).all(-1)
        return uv.reshape(X.shape[:-1] + (2, )), valid.reshape(X.shape[:-1])

    def _draw_skeleton(self, img, uv, ok, links, color, thickness, radius, marker=False):
        S = 4  # cv2 fixed-point bits: sub-pixel positions
        pts = np.round(np.where(ok[:, None], uv, 0) * (1 << S)).astype(np.int64)
        for a, b in links:
            if ok[a] and ok[b]:
                cv2.line(img, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color,
                         thickness, cv2.LINE_AA, S)
        for k in np.flatnonzero(ok):
            if marker:
                p = tuple(int(round(float(c))) for c in uv[k])
                cv2.drawMarker(img, p, color, cv2.MARKER_CROSS, 2 * radius + 1, 1)
            elif radius > 0:
                cv2.circle(img, tuple(map(int, pts[k])), radius << S, color, -1, cv2.LINE_AA, S)

    def _canvas(self, v: int, cam: Camera, images, meta) -> np.ndarray:
        img = None if images is None else images[v]
        if img is not None:
            img = np.asarray(img)
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, -1)
            if img.ndim != 3 or img.shape[-1] not in (3, 4):
                raise ValueError(f'images[{v}]: expected (H, W, 3) RGB uint8, got shape '
                                 f'{img.shape}')
            return np.ascontiguousarray(img[..., :3].astype(np.uint8))
        size = cam.image_size[v] if cam.image_size is not None else None
        if size is None and meta is not None and meta.get('image_sizes') is not None:
            size = _np(meta['image_sizes'])[v]
        if size is None:
            raise ValueError(f'view {v}: no image and the camera has no image_size; pass '
                             'images or cameras with image_size (w, h)')
        w, h = (int(round(float(s))) for s in np.asarray(size).reshape(2))
        return np.full((h, w, 3), self.blank_color, np.uint8)

    def draw_views(self, data_sample, cameras, images: Optional[Sequence] = None,
                   keypoints_2d: Optional[Sequence] = None, draw_gt: bool = True
                   ) -> List[np.ndarray]:
        """One picture per view: the 3D poses projected into that view's image.

        Args:
            data_sample: as in :meth:`add_datasample`.
            cameras: the V cameras (see :meth:`add_datasample`).
            images: V images (H, W, 3) uint8 RGB in original pixels, or None (or None
                entries): a ``blank_color`` canvas of the camera's ``image_size`` (w, h)
                (else the metainfo ``image_sizes``).
            keypoints_2d: per view, the 2D detections (M, K, 2) px or (M, K, 3) with a
                score column (joints scoring ≤ ``det2d_score_thr`` are skipped); drawn as
                thin ``det2d_color`` lines and crosses. None (or a None entry): none.
            draw_gt: project the GT people too (``gt_color``, no joint dots).

        Returns:
            list of V (H, W, 3) uint8 RGB images at the views' resolution: GT (grey,
            ``line_width`` − 1) under the predictions (person colours, ``line_width``,
            joints of ``radius``) under the 2D detections. Joints behind the camera
            (depth ≤ ``min_depth``) or with non-finite coordinates are not drawn, nor the
            limbs that touch them.
        """
        meta = data_sample.metainfo if hasattr(data_sample, 'metainfo') else {}
        cam, _ = self._cameras(cameras, None, meta)
        V = cam.batch_shape[0]
        for what, seq in (('images', images), ('keypoints_2d', keypoints_2d)):
            if seq is not None and len(seq) != V:
                raise ValueError(f'{what}: {len(seq)} entries for {V} cameras')
        (P, pok, rows, plinks), (G, gok, glinks) = self._people(data_sample, draw_gt)
        out = []
        for v in range(V):
            c = cam[v]
            img = self._canvas(v, cam, images, meta)
            if len(G):
                uv, ok = self._project(c, G, gok)
                for g in range(len(G)):
                    self._draw_skeleton(img, uv[g], ok[g], glinks, self.gt_color,
                                        max(1, self.line_width - 1), 0)
            if len(P):
                uv, ok = self._project(c, P, pok)
                for i in rows:
                    self._draw_skeleton(img, uv[i], ok[i], plinks, self._color(i),
                                        self.line_width, self.radius)
            kp = None if keypoints_2d is None else keypoints_2d[v]
            if kp is not None and np.size(kp):
                self._draw_detections(img, _np(kp), v)
            out.append(img)
        return out

    def _draw_detections(self, img: np.ndarray, kp: np.ndarray, v: int) -> None:
        if kp.ndim != 3 or kp.shape[-1] not in (2, 3):
            raise ValueError(f'keypoints_2d[{v}]: expected (M, K, 2) or (M, K, 3) px, got '
                             f'shape {kp.shape}')
        links = self._skeleton_for(kp.shape[1], f'keypoints_2d[{v}]')
        xy = kp[..., :2]
        with np.errstate(invalid='ignore'):
            ok = np.isfinite(xy).all(-1) & (np.abs(xy) < 1e6).all(-1)
            if kp.shape[-1] == 3:
                ok &= kp[..., 2] > self.det2d_score_thr
        for m in range(len(kp)):
            self._draw_skeleton(img, xy[m], ok[m], links, self.det2d_color, 1,
                                max(2, self.radius), marker=True)

    # ------------------------------------------------------------------ layout
    def _compose(self, world: np.ndarray, views: List[np.ndarray], names: List[str]):
        """The world panel with the views in a grid to its right (each letterboxed into a
        cell; white background, the view name in the cell's corner)."""
        if not views:
            return world
        H = world.shape[0]
        V = len(views)
        ncols = int(math.ceil(math.sqrt(V)))
        nrows = int(math.ceil(V / ncols))
        ch = H // nrows
        aspect = max(im.shape[1] / im.shape[0] for im in views)
        cw = max(1, int(round(ch * aspect)))
        grid = np.full((H, ncols * cw, 3), 255, np.uint8)
        for v, im in enumerate(views):
            r, c = divmod(v, ncols)
            s = min((cw - 4) / im.shape[1], (ch - 4) / im.shape[0])  # 2 px gaps
            nw, nh = max(1, int(im.shape[1] * s)), max(1, int(im.shape[0] * s))
            small = cv2.resize(im, (nw, nh), interpolation=cv2.INTER_AREA)
            y0 = r * ch + (ch - nh) // 2
            x0 = c * cw + (cw - nw) // 2
            grid[y0:y0 + nh, x0:x0 + nw] = small
            cv2.putText(grid, names[v], (x0 + 4, y0 + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 0), 1, cv2.LINE_AA)
        return np.concatenate([world, grid], axis=1)

    # ------------------------------------------------------------------ the entry point
    def add_datasample(self,
                       name: str,
                       data_sample,
                       cameras=None,
                       images: Optional[Sequence[Optional[np.ndarray]]] = None,
                       keypoints_2d: Optional[Sequence[Optional[np.ndarray]]] = None,
                       draw_gt: bool = True,
                       visualize_single_view: bool = False,
                       space_size: Optional[Sequence[float]] = None,
                       space_center: Optional[Sequence[float]] = None,
                       camera_names: Optional[Sequence[str]] = None,
                       out_file: Optional[str] = None,
                       show: bool = False,
                       wait_time: float = 0.,
                       step: int = 0,
                       return_views: bool = False
                       ) -> Union[np.ndarray, Dict[str, object]]:
        """Draw a frame; save it, show it or hand it to the backends.

        Args:
            name: image identifier (backends, window title).
            data_sample: :class:`~mmpose.structures.PoseDataSample`:
                ``pred_instances.keypoints`` (N, K, 3) world mm (numpy or torch; N may be
                0), ``pred_instances.bbox_scores`` (N,) (for ``score_thr``); optionally
                ``gt_instances.lifting_target`` (G, K', 3) world mm and
                ``lifting_target_visible`` (G, K'); metainfo ``cameras``, ``view_names``,
                ``image_sizes`` (V, 2), ``space_size`` / ``space_center`` (3,) mm are used
                when the arguments are not given.
            cameras: the V cameras: a :class:`~virtualpose_mm.geometry.camera.Camera` of
                batch shape (V,) or (), a list of single cameras, the name → Camera dict of
                :func:`~virtualpose_mm.geometry.camera_io.load_cameras` (names from its
                keys), or the metainfo form (``Camera.to_dict()``). None: the metainfo
                ``cameras`` if any, else no camera is drawn and no view panel.
            images: V RGB uint8 (H, W, 3) images in original pixels (None entries: blank).
            keypoints_2d: per view (M, K, 2) or (M, K, 3) 2D detections in original pixels.
            draw_gt: draw GT people (dashed grey in the world plot, grey in the views).
            visualize_single_view: add one panel per view to the figure (needs cameras).
            space_size, space_center: (3,) mm capture space drawn as a box.
            camera_names: V labels (default: the dict keys, metainfo ``view_names`` or the
                view indices).
            out_file: write the figure there as PNG, atomically (then nothing goes to the
                backends).
            show: display the figure (mmengine ``Visualizer.show``).
            wait_time: seconds to show it.
            step: global step for the backends.
            return_views: return a dict instead of the figure (below).

        Returns:
            np.ndarray: (h, w, 3) uint8 RGB of the whole figure: the world panel
            (``world_size``), followed on the right by the grid of view panels when
            ``visualize_single_view``. With ``return_views=True``, a dict: ``'figure'``
            (that array), ``'world'`` (the world panel) and ``'views'`` (list of V
            images at their native resolution, as :meth:`draw_views`; ``[]`` without
            cameras), for saving one picture per view.
        """
        meta = data_sample.metainfo if hasattr(data_sample, 'metainfo') else {}
        if cameras is None and meta.get('cameras') is not None:
            cameras = meta['cameras']
        names = None
        if cameras is not None:
            cameras, names = self._cameras(cameras, camera_names, meta)
        elif visualize_single_view:
            raise ValueError('visualize_single_view=True needs cameras (argument or '
                             'metainfo key)')
        world = self.draw_world(data_sample, cameras, names, draw_gt=draw_gt,
                                space_size=space_size, space_center=space_center)
        views: List[np.ndarray] = []
        if cameras is not None and (visualize_single_view or return_views):
            views = self.draw_views(data_sample, cameras, images=images,
                                    keypoints_2d=keypoints_2d, draw_gt=draw_gt)
        figure = self._compose(world, views if visualize_single_view else [], names or [])

        if show:
            self.show(figure, win_name=name, wait_time=wait_time)
        if out_file is not None:
            ok, buf = cv2.imencode('.png', np.ascontiguousarray(figure[..., ::-1]))
            if not ok:  # pragma: no cover
                raise RuntimeError(f'{out_file}: PNG encoding failed')
            atomic_write_bytes(out_file, buf.tobytes())
        else:
            self.add_image(name, figure, step)
        if return_views:
            return dict(figure=figure, world=world, views=views)
        return figure
