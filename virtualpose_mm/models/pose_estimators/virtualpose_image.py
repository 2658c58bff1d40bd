"""VirtualPose assembled for inference from an image: stage 1 (AGR network) → stage 2.

Reference: wkom/VirtualPose ``models/multi_person_posenet.MultiPersonPoseNet`` at test time
(``backbone`` → ``REN`` → ``PEN`` on one letterboxed image). The two stages are trained
separately (``VirtualPoseAGRNet`` on images, ``VirtualPose`` on rendered AGRs); this model
only chains the trained networks.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from mmengine.model import BaseModel
from torch import Tensor

from virtualpose_mm.registry import MODELS
from virtualpose_mm.models.pose_estimators.base import build_data_preprocessor

#: The normalisation of VirtualPose's stage 1 (ImageNet mean / std, RGB), the default
#: data preprocessor of :class:`VirtualPoseImageEstimator`.
IMAGENET_PREPROCESSOR = dict(type='MultiViewDataPreprocessor',
                             mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                             bgr_to_rgb=True)

#: The configs the two stages are trained with.
TRAINING_CONFIGS = ('stage 1: configs/virtualpose/virtualpose-stage1_res152_coco-muco_960x512.py '
                    'or virtualpose-stage1_res152_coco-panoptic_960x512.py (VirtualPoseAGRNet), '
                    'stage 2: configs/virtualpose/virtualpose_virtualcam_muco-mupots.py or '
                    'virtualpose_virtualcam_panoptic.py (VirtualPose)')


def _normalisation(cfg) -> dict:
    """The normalisation a data preprocessor config or module states: a dict with the
    keys it gives of ``mean`` / ``std`` (float lists; None: no normalisation) and
    ``bgr_to_rgb`` (bool)."""
    if cfg is None:
        return {}
    if isinstance(cfg, torch.nn.Module):
        norm = getattr(cfg, '_norm', hasattr(cfg, 'mean'))
        return dict(mean=cfg.mean.flatten().tolist() if norm else None,
                    std=cfg.std.flatten().tolist() if norm else None,
                    bgr_to_rgb=bool(getattr(cfg, 'bgr_to_rgb', False)))
    out = {k: [float(v) for v in cfg[k]] if cfg[k] is not None else None
           for k in ('mean', 'std') if k in cfg}
    if 'bgr_to_rgb' in cfg:
        out['bgr_to_rgb'] = bool(cfg['bgr_to_rgb'])
    return out


def _same(a, b) -> bool:
    if isinstance(a, bool) or a is None or b is None:
        return a == b
    return len(a) == len(b) and all(abs(x - y) <= 1e-6 * max(1.0, abs(y))
                                    for x, y in zip(a, b))


@MODELS.register_module()
class VirtualPoseImageEstimator(BaseModel):
    """VirtualPose from one image: the AGR network (stage 1) and the root / pose nets
    (stage 2) as one model, for inference.

    ``agr_net`` (:class:`~virtualpose_mm.models.pose_estimators.VirtualPoseAGRNet`) turns
    the normalised, letterboxed image into the AGR — K joint heatmaps and the 4-channel
    box map at a quarter of the canvas — and ``stage2``
    (:class:`~virtualpose_mm.models.pose_estimators.VirtualPose`) turns the AGR into the
    absolute 3D poses of every person, exactly as it does for an AGR rendered from 2D
    keypoints (``stage2.predict_forward`` + ``stage2.add_pred_to_datasample``).

    **Inputs** (``forward(inputs, data_samples, mode)``, after the data preprocessor
    :class:`~virtualpose_mm.models.data_preprocessors.MultiViewDataPreprocessor`, part of
    the model; by default ImageNet mean / std after BGR → RGB, stage 1's normalisation):

    * ``inputs``: (B, 1, 3, H, W) letterboxed images — the multi-view layout with V = 1 —
      packed as uint8 BGR by ``PackVirtualPoseInputs(inputs_key='img')`` after
      ``LoadImage`` and ``LetterboxImage(input_size=stage2.input_size)``; H and W
      multiples of 32, (W, H) = stage 2's ``input_size`` (960×512 released).
    * ``data_samples``: B ``PoseDataSample`` whose metainfo holds the view in the
      canonical layout (stacked by the data preprocessor into ``view_meta``):
      ``cameras`` (from the frame's ``camera``: R, t world → camera, f, c px, dist,
      ``image_size`` (w, h) of the original image), ``affines`` (1, 2, 3) original px →
      canvas px (``LetterboxImage``'s ``affine``), ``input_size`` (2,) canvas (w, h)
      (``LetterboxImage``'s), and optionally ``depth_norm_factor`` (mm; default
      ``sqrt(fx·fy·|det A|)``). A camera without extrinsics gets the assumed level one of
      :func:`~virtualpose_mm.apis.inference_monocular` when run through that API.

    **Outputs.**

    * ``predict``: the data samples with ``pred_instances`` exactly as stage 2 makes them:
      ``keypoints`` (N, K, 3) float32 world mm, ``keypoint_scores`` (N, K),
      ``bbox_scores`` (N,), ``centers_3d`` (N, 3) mm;
    * ``tensor``: ``(agr (B, 1, K + 4, H/4, W/4), poses (B, M, K, 3) mm, proposals
      (B, M, 5), root_volume (B, X, Y, Z))``: the AGR fed to stage 2, then stage 2's
      tensor outputs;
    * ``loss``: not available — the stages are trained separately (stage-1 config →
      ``VirtualPoseAGRNet``, stage-2 config → ``VirtualPose``); a ``RuntimeError`` says so.

    **State dict**: ``agr_net.*`` (the keys of a ``VirtualPoseAGRNet``: ``backbone.*``,
    ``head.*``) and ``stage2.*`` (the keys of a ``VirtualPose``: ``root_net.*``,
    ``pose_net.*``). Official full checkpoints (wkom/VirtualPose ``MultiPersonPoseNet``:
    ``backbone.*`` + ``REN.*`` + ``PEN.*``) and separate stage-1 / stage-2 checkpoints load
    with :func:`~virtualpose_mm.models.utils.virtualpose_image_converter.
    load_virtualpose_image_checkpoint` (``init_model`` does it on the fly).

    Args:
        agr_net: config of the :class:`VirtualPoseAGRNet` (type defaults to it). Its own
            ``data_preprocessor`` is not used by this model; when it states a ``mean``,
            ``std`` or ``bgr_to_rgb`` that differs from this model's, construction fails
            (the network would see images normalised unlike in its training).
        stage2: config of the :class:`VirtualPose` (type defaults to it).
        data_preprocessor: config of the :class:`MultiViewDataPreprocessor` (default
            :data:`IMAGENET_PREPROCESSOR`).
        init_cfg: mmengine init config.

    Raises:
        ValueError: mismatched normalisation, or a stage-1 heatmap count that is not
            stage 2's ``num_joints``.
    """

    def __init__(self, agr_net: dict, stage2: dict, data_preprocessor: Optional[dict] = None,
                 init_cfg=None):
        if data_preprocessor is None:
            data_preprocessor = dict(IMAGENET_PREPROCESSOR)
        super().__init__(data_preprocessor=build_data_preprocessor(
            data_preprocessor, type(self).__name__), init_cfg=init_cfg)
        agr_net, stage2 = dict(agr_net), dict(stage2)
        agr_net.setdefault('type', 'VirtualPoseAGRNet')
        stage2.setdefault('type', 'VirtualPose')
        self._check_normalisation(agr_net.get('data_preprocessor'))
        self.agr_net = MODELS.build(agr_net)
        self.stage2 = MODELS.build(stage2)
        for name, part in (('agr_net', self.agr_net), ('stage2', self.stage2)):
            for method in (('predict_agr', ) if name == 'agr_net' else
                           ('predict_forward', 'add_pred_to_datasample')):
                if not callable(getattr(part, method, None)):
                    raise TypeError(f'VirtualPoseImageEstimator: {name} is a '
                                    f'{type(part).__name__}, which has no {method}(); '
                                    'expected a ' + ('VirtualPoseAGRNet' if name == 'agr_net'
                                                     else 'VirtualPose'))
        K1 = getattr(getattr(self.agr_net, 'head', None), 'out_channels', None)
        if K1 is not None and int(K1) != self.stage2.num_joints:
            raise ValueError(f'VirtualPoseImageEstimator: agr_net.head.out_channels={K1} '
                             f'joint heatmaps, but stage2.num_joints='
                             f'{self.stage2.num_joints}: the stages must use one joint set')

    def _check_normalisation(self, agr_pre) -> None:
        """The stage-1 config's normalisation must be this model's."""
        want = _normalisation(agr_pre)
        have = _normalisation(self.data_preprocessor)
        diff = [k for k in want if not _same(want[k], have[k])]
        if diff:
            raise ValueError(
                'VirtualPoseImageEstimator: agr_net.data_preprocessor normalises images '
                'unlike the model\'s data_preprocessor (' + ', '.join(
                    f'{k}: agr_net {want[k]} vs model {have[k]}' for k in diff) +
                '); the model\'s data_preprocessor normalises the images stage 1 sees, so '
                'give it the stage-1 training values')

    # ------------------------------------------------------------------ attributes
    @property
    def num_joints(self) -> int:
        """K, stage 2's joint count."""
        return self.stage2.num_joints

    # ------------------------------------------------------------------ the forward
    def _images(self, inputs) -> Tensor:
        """(B, 1, 3, H, W) normalised images → (B, 3, H, W), checked."""
        if not isinstance(inputs, Tensor) or inputs.dim() != 5 or inputs.shape[1] != 1 or \
                inputs.shape[2] != 3:
            raise ValueError('VirtualPoseImageEstimator: inputs must be a (B, 1, 3, H, W) '
                             'tensor of letterboxed images (one view; packed by '
                             "PackVirtualPoseInputs(inputs_key='img')), got "
                             f'{getattr(inputs, "shape", type(inputs).__name__)}')
        return inputs[:, 0].float()

    def compute_agr(self, inputs: Tensor) -> Tensor:
        """Stage 1: (B, 1, 3, H, W) normalised images → (B, 1, K + 4, H/4, W/4) AGR (K
        heatmaps in ≈ [0, 1], then the box map (l, t, r, b) in heatmap px), checked
        against stage 2's canvas (``input_size`` / 4)."""
        heatmaps, box_map = self.agr_net.predict_agr(self._images(inputs))
        want = tuple(int(v) // 4 for v in self.stage2.input_size)              # (w, h)
        got = (int(heatmaps.shape[-1]), int(heatmaps.shape[-2]))
        if got != want:
            raise ValueError(f'VirtualPoseImageEstimator: stage 1 made a {got[0]}×{got[1]} '
                             f'AGR from {inputs.shape[-1]}×{inputs.shape[-2]} images; stage 2 '
                             f'reads {want[0]}×{want[1]} (stage2.input_size '
                             f'{tuple(int(v) for v in self.stage2.input_size)} / 4): '
                             'letterbox the images to stage 2\'s input_size')
        return torch.cat([heatmaps, box_map], 1)[:, None]

    def _check_canvas(self, inputs: Tensor, data_samples) -> None:
        size = (float(inputs.shape[-1]), float(inputs.shape[-2]))
        for b, ds in enumerate(data_samples or ()):
            s = ds.metainfo.get('input_size')
            s = None if s is None else tuple(float(v) for v in torch.as_tensor(s).flatten())
            if s is not None and s != size:
                raise ValueError(f'VirtualPoseImageEstimator: data_samples[{b}].metainfo '
                                 f'input_size {s} is not the images\' size {size}')

    def predict_forward(self, inputs: Tensor, data_samples) -> Dict:
        """Stage 1, then ``stage2.predict_forward`` on its AGR.

        Args:
            inputs: (B, 1, 3, H, W) normalised letterboxed images.
            data_samples: B data samples with ``view_meta`` (the data preprocessor's).

        Returns:
            stage 2's result dict (``poses``, ``proposals``, ``det``, ``depths_mm``, ...,
            see :meth:`VirtualPose.run`) with ``agr`` (B, 1, K + 4, H/4, W/4) added.
        """
        self._check_canvas(inputs, data_samples)
        agr = self.compute_agr(inputs)
        result = self.stage2.predict_forward(agr, data_samples)
        result['agr'] = agr
        return result

    def add_pred_to_datasample(self, result: Dict, data_samples):
        """Stage 2's ``pred_instances`` (see the class docstring)."""
        return self.stage2.add_pred_to_datasample(result, data_samples)

    def predict(self, inputs: Tensor, data_samples):
        """Inference; fills ``pred_instances`` of each data sample."""
        return self.add_pred_to_datasample(self.predict_forward(inputs, data_samples),
                                           data_samples)

    def loss(self, inputs, data_samples):
        raise RuntimeError('VirtualPoseImageEstimator is an inference model: the stages of '
                           'VirtualPose are trained separately, stage 1 with a '
                           'VirtualPoseAGRNet config and stage 2 with a VirtualPose config '
                           f'({TRAINING_CONFIGS}); assemble the trained checkpoints here')

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            self._check_canvas(inputs, data_samples)
            agr = self.compute_agr(inputs)
            return (agr, ) + tuple(self.stage2(agr, data_samples, mode='tensor'))
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, predict and tensor')
