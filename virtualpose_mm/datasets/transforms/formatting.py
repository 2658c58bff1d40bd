"""Packing frames into model inputs and a :class:`PoseDataSample`; the data-sample fields.

Data-sample fields
------------------

This table is the one place the fields are defined. A field MMPose 1.3.2 names means what
it means in MMPose (marked *MMPose*); the others are this package's (*package*). N = people
(one row each), K = joints, V = views; world frame z-up, millimetres (``DESIGN.md`` §2).
One pack transform, :class:`PackMultiViewPoseInputs`, packs both families (VoxelPose;
VirtualPose through its thin subclass
:class:`~virtualpose_mm.datasets.transforms.PackVirtualPoseInputs`, V = 1) with these names
and meanings.

``inputs`` (V, C, H, W) and the views in ``metainfo`` — the one layout every model reads
(:mod:`virtualpose_mm.models.utils.multiview`), whatever the dataset's camera format
(converted here, once, by :func:`pack_view_meta`):

=====================  ===========  ==========================================================
``cameras``            dict         float64 numpy, leading view axis: ``R`` (V, 3, 3) world →
                                    camera, ``t`` (V, 3) mm, ``f`` (V, 2), ``c`` (V, 2) px,
                                    ``dist`` (V, 5) (k1 k2 p1 p2 k3), ``image_size`` (V, 2)
                                    original (w, h) px. *package*
``affines``            (V, 2, 3)    float64 original image px → network input px. *package*
``input_size``         (2,)         (w, h) of the network input the affines map to (when the
                                    letterbox / AGR transform ran). *package*
``depth_norm_factor``  float        mm, VirtualPose's depth normalisation. *package*
=====================  ===========  ==========================================================

The data preprocessor stacks them once per batch into the ``ViewMeta`` the estimators read
(metainfo ``view_meta``). Monocular frames also keep ``camera`` (the single camera,
``Camera.to_dict()``) for the monocular metrics.

``pred_instances`` — written by the estimators
(``VolumetricPoseEstimator.add_pred_to_datasample``), numpy, one row per person found (no
padding rows; N may be 0):

======================  ==========  =========================================================
``keypoints``           (N, K, 3)   float32 3D joints, world mm. *MMPose* (what ``MPJPE`` and
                                    ``Pose3dLocalVisualizer`` read as the 3D prediction)
``keypoint_scores``     (N, K)      float32 per-joint confidence: the person's detection
                                    score for every joint (as the reference). *MMPose*
``bbox_scores``         (N,)        float32 detection confidence (the root proposal's
                                    score; the Panoptic AP ranking score). *MMPose*
``centers_3d``          (N, 3)      float32 the root proposal (the pose cube's centre),
                                    world mm. *package*
``keypoints_2d``        (N, K, 2)   optional, not written by the estimators: predicted
                                    image px, which ``MuPoTSPCKMetric`` uses for its
                                    identity matching when given. *package*
======================  ==========  =========================================================

``gt_instances`` — numpy, as MMPose packs them, one row per GT person (N may be 0):

==========================  ==========  =====================================================
``lifting_target``          (N, K, 3)   float32 GT joints, world mm. *MMPose* (the 3D GT that
                                        ``MPJPE`` and ``Pose3dLocalVisualizer`` read)
``lifting_target_visible``  (N, K)      float32 1 where the joint is annotated in 3D (the
                                        visibility metrics use). *MMPose*
``roots_3d``                (N, 3)      float32 GT roots, world mm (proposal matching and
                                        root targets). *package*
``ids``                     (N,) int64  the dataset's person id: Panoptic body id,
                                        Shelf/Campus actor index, MuCo/MuPoTS annotation id,
                                        pose-bank index for virtual scenes. *package*
``actor_ids``               (N,) int64  Shelf/Campus only: the index in the dataset's actor
                                        list (what ``ShelfCampusPCPMetric`` reads). *package*
``transformed_keypoints``   (N, K, 2)   float32 VirtualPose, when the AGR was rendered: the
                                        projected joints in network-input (canvas) px.
                                        *MMPose* (keypoints in input space)
``keypoints_visible``       (N, K)      float32 with ``transformed_keypoints``: 1 where the
                                        projected joint is in front of the camera and inside
                                        the canvas. *MMPose*
==========================  ==========  =====================================================

``gt_instance_labels`` — torch, the per-person loss targets, one row per GT person:

====================  ==========  ===========================================================
``keypoint_weights``  (N, K)      float32 weight of each joint in the pose loss. *MMPose*.
                                  VoxelPose: ``lifting_target_visible``; VirtualPose: 3D-
                                  visible AND projected into the canvas (the reference)
``root_depth``        (N,)        float64 VirtualPose: camera depth of the root, mm *package*
``root_ind``          (N,) int64  VirtualPose: flat AGR index (row·W + col) of the root
                                  pixel. *package*
``root_mask``         (N,)        float32 VirtualPose: 1 where the root is on the canvas (the
                                  depth loss uses only those). *package*
``agr_peaks``         (N, K, 4)   float64 VirtualPose, ``GenerateVirtualPoseAGR(heatmap_mode=
                                  'peaks')`` only: each joint's AGR Gaussian (centre x, y and
                                  σ in heatmap px, amplitude) in place of rendered heatmaps.
                                  *package*
====================  ==========  ===========================================================

``gt_fields`` — torch, the dense targets (present only when a transform made one). It is an
mmengine ``BaseDataElement``: MMPose's ``PixelData`` holds only 2- or 3-dim arrays sharing
one height × width, which a (X, Y, Z) volume next to (V, K, h, w) heatmaps are not.

=========================  ============  ====================================================
``root_heatmap_3d``        (X, Y, Z)     float32 root-net target on the capture-space grid
                                         (``GenerateRootTarget3D``). *package*
``heatmaps``               (V, K, h, w)  float32 2D heatmap targets of each view. *MMPose*
                                         (the heatmap target, with a view axis in front)
``keypoint_weights_2d``    (V, K)        float32 per-view joint weights of the 2D heatmap
                                         loss. *package*
=========================  ============  ====================================================

MMPose's ``MPJPE`` metric reads ``pred_instances.keypoints`` and
``gt_instances.lifting_target`` / ``lifting_target_visible`` and pairs prediction row i
with GT row i, pooled over samples: it scores our outputs only when every sample has as
many predictions as GT people, in the same order (it does no matching), and it also needs
metainfo ``target_img_path`` named like Human3.6M's files (``S1_Walking.54138969_000001.jpg``:
it derives an action name from it). Multi-person evaluation with matching is what this
package's metrics do (Panoptic AP / MPJPE, Shelf/Campus PCP, MuPoTS PCK).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement, InstanceData
from mmpose.structures import PoseDataSample

from ...geometry.camera import Camera
from ...models.utils.multiview import CAMERA_FIELDS, cameras_from_meta
from ...registry import TRANSFORMS

__all__ = ['PackMultiViewPoseInputs', 'pack_view_meta', 'pack_gt_people', 'pack_gt_fields',
           'VIEW_META_KEYS']

#: The metainfo keys of the views, written by :func:`pack_view_meta` (not by
#: ``meta_keys``).
VIEW_META_KEYS = ('cameras', 'affines', 'input_size', 'depth_norm_factor')

DEFAULT_META_KEYS = ('sample_idx', 'frame_id', 'sequence', 'dataset_name', 'num_views',
                     'view_names', 'img_paths', 'heatmap_size', 'num_actors', 'space_size',
                     'space_center', 'random_seed', 'num_people_requested')


def pack_view_meta(results: dict, what: str = 'the frame') -> dict:
    """The views of a frame → the canonical metainfo (module table): ``cameras`` (dict of
    float64 (V, ...) arrays), ``affines`` (V, 2, 3) float64 and, when the frame has them,
    ``input_size`` (2,) float64 and ``depth_norm_factor`` (float).

    Reads the multi-view keys ``cameras`` (a (V,) :class:`Camera`, a dict of (V, ...)
    arrays or a list of per-view cameras, voxelpose-pytorch dicts included), ``affines``
    (V, 2, 3) and ``image_sizes`` (V, 2), or the monocular keys ``camera`` (one camera, any
    of those forms), ``affine`` (2, 3) and ``image_size`` (2,) (V = 1). The image size
    defaults to the cameras' own.

    Raises:
        KeyError: no cameras or no affines (naming the transform that makes them).
        ValueError: counts or shapes that do not fit, naming the key.
    """
    if results.get('cameras') is not None:
        keys, mono = ('cameras', 'affines', 'image_sizes'), False
        cams = cameras_from_meta(results['cameras'], f"{what}['cameras']")
        hint = 'MultiViewLetterbox'
    elif results.get('camera') is not None:
        keys, mono = ('camera', 'affine', 'image_size'), True
        cams = cameras_from_meta([results['camera']], f"{what}['camera']")
        hint = 'GenerateVirtualPoseAGR'
    else:
        raise KeyError(f"{what} has no 'cameras' (multi-view) or 'camera' (monocular)")
    V = cams.batch_shape[0]
    if results.get(keys[1]) is None:
        raise KeyError(f'{what} has no {keys[1]!r} (original px → input px); add {hint} '
                       'to the pipeline')
    A = np.asarray(results[keys[1]], np.float64)
    want = (2, 3) if mono else (V, 2, 3)
    if A.shape != want:
        raise ValueError(f'{what}[{keys[1]!r}]: shape {A.shape}, expected {want}')
    sizes = results.get(keys[2])
    if sizes is None:
        if cams.image_size is None:
            raise KeyError(f'{what} has no {keys[2]!r} and its cameras carry no image size')
        sizes = cams.image_size
    sizes = np.asarray(sizes, np.float64)
    if sizes.shape != ((2, ) if mono else (V, 2)) and not (mono and sizes.shape == (1, 2)):
        raise ValueError(f'{what}[{keys[2]!r}]: shape {sizes.shape}, expected '
                         f'{(2, ) if mono else (V, 2)}')
    A, sizes = A.reshape(V, 2, 3), sizes.reshape(V, 2)
    cam = cams.to_dict()
    cam['image_size'] = sizes
    meta = dict(cameras={n: np.ascontiguousarray(cam[n], dtype=np.float64)
                         for n in CAMERA_FIELDS},
                affines=np.ascontiguousarray(A))
    if results.get('input_size') is not None:
        meta['input_size'] = np.asarray(results['input_size'], np.float64).reshape(2)
    if results.get('depth_norm_factor') is not None:
        meta['depth_norm_factor'] = float(results['depth_norm_factor'])
    return meta


def _people_array(results: dict, key: str, shape, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(results[key], dtype).reshape(shape))


def pack_gt_people(results: dict, weights: Optional[np.ndarray] = None,
                   default_root_index: Optional[int] = None):
    """The GT people of a frame → ``(gt_instances, gt_instance_labels)`` with the fields of
    the module table: ``lifting_target`` / ``lifting_target_visible`` from
    ``gt_keypoints_3d`` / ``gt_keypoints_3d_visible`` (default all visible), ``roots_3d``
    from ``gt_roots_3d`` (else joint ``default_root_index`` if given), ``ids`` from
    ``gt_ids``, and ``keypoint_weights`` = ``weights`` (default the visibility)."""
    X = np.asarray(results.get('gt_keypoints_3d', np.zeros((0, 0, 3))), np.float32)
    N = X.shape[0]
    K = X.shape[1] if X.ndim == 3 else 0
    X = np.ascontiguousarray(X.reshape(N, K, 3))
    vis = results.get('gt_keypoints_3d_visible')
    if vis is None or np.size(vis) == 0:
        vis = np.ones((N, K), np.float32)
    else:
        vis = np.ascontiguousarray(np.asarray(vis, np.float32).reshape(N, K, -1)[..., 0])
    gt = InstanceData()
    gt.lifting_target = X
    gt.lifting_target_visible = vis
    if 'gt_roots_3d' in results:
        gt.roots_3d = _people_array(results, 'gt_roots_3d', (N, 3), np.float32)
    elif default_root_index is not None and K:
        gt.roots_3d = np.ascontiguousarray(X[:, default_root_index])
    elif default_root_index is not None:
        gt.roots_3d = np.zeros((N, 3), np.float32)
    if 'gt_ids' in results:
        gt.ids = _people_array(results, 'gt_ids', (N, ), np.int64)
    labels = InstanceData()
    w = vis if weights is None else np.asarray(weights, np.float32).reshape(N, K)
    labels.keypoint_weights = torch.from_numpy(np.ascontiguousarray(w, np.float32))
    return gt, labels


def pack_gt_fields(results: dict) -> Optional[BaseDataElement]:
    """The dense targets of the frame → ``gt_fields`` (module table), or None if it has
    none: ``root_heatmap_3d`` from ``root_target_3d``, ``heatmaps`` from
    ``target_heatmaps`` and ``keypoint_weights_2d`` from ``target_heatmaps_weights``."""
    fields: Dict[str, torch.Tensor] = {}
    for key, name in (('root_target_3d', 'root_heatmap_3d'), ('target_heatmaps', 'heatmaps'),
                      ('target_heatmaps_weights', 'keypoint_weights_2d')):
        if results.get(key) is not None:
            fields[name] = torch.from_numpy(np.ascontiguousarray(
                np.asarray(results[key], np.float32)))
    return BaseDataElement(**fields) if fields else None


@TRANSFORMS.register_module()
class PackMultiViewPoseInputs(BaseTransform):
    """Pack a frame for the models: VoxelPose's multi-view frames, and (through the thin
    subclass :class:`~virtualpose_mm.datasets.transforms.PackVirtualPoseInputs`)
    VirtualPose's monocular ones, V = 1.

    Output ``dict(inputs=Tensor (V, C, H, W), data_samples=PoseDataSample)``:

    * ``inputs``: the letterboxed images (V, 3, ih, iw) uint8 (``inputs_key='img'``; the
      data preprocessor normalises them), the input heatmaps (V, K, H, W) float32
      (``inputs_key='input_heatmaps'``) or the AGR (1, K + 4, H, W) float32
      (``inputs_key='agr'``).
    * ``data_sample.metainfo``: the views in the canonical layout of the module table
      (:func:`pack_view_meta`: ``cameras`` dict of (V, ...) arrays, ``affines``
      (V, 2, 3), ``input_size``, ``depth_norm_factor``), plus the keys of ``meta_keys``
      present in the frame (``Camera`` objects as ``Camera.to_dict()``): by default
      ``sample_idx``, ``frame_id``, ``sequence``, ``dataset_name``, ``num_views``,
      ``view_names``, ``img_paths``, ``heatmap_size`` (2,) (W, H), ``num_actors``
      (Shelf/Campus), ``space_size``/``space_center``/``random_seed``/
      ``num_people_requested`` (virtual scenes).
    * ``data_sample.gt_instances`` (N people, N may be 0): ``lifting_target``,
      ``lifting_target_visible``, ``roots_3d`` (with :class:`GenerateRootTarget3D`),
      ``ids`` (from ``gt_ids``) and, for Shelf/Campus (``num_actors`` in the frame),
      ``actor_ids``; ``gt_instance_labels.keypoint_weights`` = the visibility
      (:meth:`pack_gt`; the subclass adds its fields).
    * ``data_sample.gt_fields`` (when a target transform ran): ``root_heatmap_3d`` (from
      ``root_target_3d``), ``heatmaps`` and ``keypoint_weights_2d`` (from
      ``target_heatmaps`` / ``target_heatmaps_weights``).

    Shapes, units and meanings: the table of :mod:`.formatting` (this module).

    Required Keys:

    - the ``inputs_key`` entry, cameras (or camera), affines (or affine), gt_keypoints_3d

    Args:
        inputs_key: ``'input_heatmaps'``, ``'img'`` or ``'agr'``.
        meta_keys: further frame keys copied into the metainfo when present.
    """

    #: the transforms that make each kind of input
    INPUT_HINTS = {'img': 'LoadMultiViewImages and MultiViewLetterbox',
                   'input_heatmaps': 'GenerateMultiViewHeatmaps',
                   'agr': 'GenerateVirtualPoseAGR'}

    def __init__(self, inputs_key: str = 'input_heatmaps',
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        if inputs_key not in self.INPUT_HINTS:
            raise ValueError(f'inputs_key must be one of {sorted(self.INPUT_HINTS)}, got '
                             f'{inputs_key!r}')
        self.inputs_key = inputs_key
        self.meta_keys = tuple(k for k in meta_keys if k not in VIEW_META_KEYS)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _inputs(self, results: dict) -> torch.Tensor:
        key = self.inputs_key
        if key not in results:
            raise KeyError(f'{self._name}: the frame has no {key!r}; add '
                           f'{self.INPUT_HINTS[key]} to the pipeline')
        x = results[key]
        if key == 'img':
            shapes = {np.shape(i) for i in x}
            if len(shapes) != 1:
                raise ValueError(f'{self._name}: views have different image shapes '
                                 f'{sorted(shapes)}; letterbox them to one input size first')
            arr = np.stack([np.asarray(i) for i in x])
            if arr.ndim == 3:
                arr = arr[..., None]
            return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
        arr = np.asarray(x, dtype=np.float32)
        if key == 'agr':  # one view
            arr = arr[None]
        return torch.from_numpy(np.ascontiguousarray(arr))

    def pack_gt(self, results: dict, ds: PoseDataSample) -> None:
        """``gt_instances`` and ``gt_instance_labels`` of the frame (module table)."""
        gt, labels = pack_gt_people(results)
        if 'num_actors' in results and 'ids' in gt:
            gt.actor_ids = gt.ids.copy()
        ds.gt_instances = gt
        ds.gt_instance_labels = labels

    def transform(self, results: dict) -> dict:
        inputs = self._inputs(results)
        view = pack_view_meta(results, what=f'{self._name}: the frame')
        V = view['affines'].shape[0]
        if inputs.shape[0] != V:
            raise ValueError(f'{self._name}: {inputs.shape[0]} input views but {V} cameras')
        meta = {}
        for k in self.meta_keys:
            if results.get(k) is None:
                continue
            v = results[k]
            meta[k] = v.to_dict() if isinstance(v, Camera) else v
        meta.update(view)
        ds = PoseDataSample(metainfo=meta)
        self.pack_gt(results, ds)
        fields = pack_gt_fields(results)
        if fields is not None:
            ds.gt_fields = fields
        return dict(inputs=inputs, data_samples=ds)

    def __repr__(self):
        return f'{self._name}(inputs_key={self.inputs_key!r}, meta_keys={self.meta_keys})'
