"""VirtualPose stage 1: the AGR network, a letterboxed image → joint heatmaps + box map.

Reference: wkom/VirtualPose ``models/posedet_resnet.PoseDetResNet`` (the ``backbone`` of
``MultiPersonPoseNet``), trained by ``configs/coco/backbone_res152_mix_{muco,panoptic}.yaml``
with ``TRAIN.SCHEME = ['backbone']``.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.structures import PixelData
from mmpose.models.pose_estimators.base import BasePoseEstimator
from torch import Tensor

from virtualpose_mm.registry import MODELS


@MODELS.register_module()
class VirtualPoseAGRNet(BasePoseEstimator):
    """The AGR network of VirtualPose (stage 1) as an MMPose pose estimator.

    ``backbone`` (MMPose's registered ``ResNet``, depth 152 in the published configs,
    ``out_indices=(3, )``) → no neck → ``head``
    (:class:`~virtualpose_mm.models.heads.VirtualPoseAGRHead`). A 960×512 canvas gives
    240×128 maps (stride 4).

    **Inputs** (``forward(inputs, data_samples, mode)``, after MMPose's
    ``PoseDataPreprocessor``, which normalises with the ImageNet mean/std):
    ``inputs`` (B, 3, H, W) float, the letterboxed canvases
    (:class:`~virtualpose_mm.datasets.transforms.LetterboxImage`); for ``mode='loss'``
    ``data_samples`` carry the targets of
    :class:`~virtualpose_mm.datasets.transforms.GenerateAGRTargets`.

    **Outputs**:

    * ``loss``: ``loss_heatmap``, ``loss_box`` (see the head);
    * ``predict``: the data samples with ``pred_fields.heatmaps`` (K, H/4, W/4) and
      ``pred_fields.box_map`` (4, H/4, W/4) (heatmap px), flip-tested when
      ``test_cfg.flip_test``;
    * ``tensor``: ``(heatmaps, box_map)`` of the plain forward (no flip test);
    * :meth:`predict_agr`: ``(heatmaps, box_map)`` for another model to consume.

    ``train_cfg``: ``flip_train`` (bool, default False; the reference's ``TRAIN.FLIP``:
    with probability 0.5 per batch the images are mirrored, the outputs mirrored back with
    :meth:`VirtualPoseAGRHead.flip_back`, and the loss taken against the unmirrored
    targets). ``test_cfg``: ``flip_test`` (bool, default False; the reference's
    ``TEST.FLIP``, True in its configs).

    ``simplebaseline_checkpoint`` (optional path): after the regular initialisation,
    :meth:`init_weights` loads SimpleBaselines' ``PoseResNet`` weights (backbone,
    deconvolutions and, for the same joint count, the final layer — the reference's
    ``NETWORK.PRETRAINED_BACKBONE``, ``pose_resnet_152_384x288.pth.tar``) through
    :func:`~virtualpose_mm.models.utils.virtualpose_stage1_converter.load_simplebaseline_checkpoint`
    (strict: a checkpoint of another network is an error listing the keys).
    """

    def __init__(self, backbone: dict, head: dict, neck: Optional[dict] = None,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg=None,
                 metainfo: Optional[dict] = None,
                 simplebaseline_checkpoint: Optional[str] = None):
        super().__init__(backbone=backbone, neck=neck, head=head, train_cfg=train_cfg,
                         test_cfg=test_cfg, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg, metainfo=metainfo)
        unknown = set(self.train_cfg) - {'flip_train'}
        unknown |= {f'test_cfg.{k}' for k in set(self.test_cfg) - {'flip_test'}}
        if unknown:
            raise ValueError(f'VirtualPoseAGRNet: unknown options {sorted(unknown)} '
                             '(train_cfg takes flip_train, test_cfg takes flip_test)')
        self.simplebaseline_checkpoint = simplebaseline_checkpoint

    def init_weights(self):
        """The modules' initialisation, then the SimpleBaselines weights if given."""
        super().init_weights()
        if self.simplebaseline_checkpoint:
            from virtualpose_mm.models.utils.virtualpose_stage1_converter import \
                load_simplebaseline_checkpoint
            info = load_simplebaseline_checkpoint(self, self.simplebaseline_checkpoint)
            print_log(f'VirtualPoseAGRNet: initialised from {self.simplebaseline_checkpoint} '
                      f'(final layer {"loaded" if info["final_layer"] else "not loaded"}; '
                      f'{len(info["kept_init"])} tensors keep their initialisation)',
                      logger='current')

    # ------------------------------------------------------------------ network
    def _check_images(self, images) -> Tensor:
        if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError('VirtualPoseAGRNet: images must be a (B, 3, H, W) tensor, got '
                             f'{getattr(images, "shape", type(images).__name__)}')
        if images.shape[-1] % 32 or images.shape[-2] % 32:
            raise ValueError(f'VirtualPoseAGRNet: H and W must be multiples of 32 (the '
                             f'backbone stride), got {tuple(images.shape[-2:])}')
        return images

    def _forward(self, inputs: Tensor, data_samples=None) -> Tuple[Tensor, Tensor]:
        """(B, 3, H, W) → ``(heatmaps (B, K, H/4, W/4), box_map (B, 4, H/4, W/4))``."""
        return self.head.forward(self.extract_feat(self._check_images(inputs)))

    def predict_agr(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        """The AGR of normalised, letterboxed images.

        Args:
            images: (B, 3, H, W) float, H and W multiples of 32 (960×512 canvases in the
                published setting), normalised as the data preprocessor does.

        Returns:
            ``(heatmaps (B, K, H/4, W/4), box_map (B, 4, H/4, W/4))``: joint heatmaps
            (≈ [0, 1]) and box distances (l, t, r, b) in heatmap px. With
            ``test_cfg.flip_test`` the outputs of the mirrored images are mirrored back and
            averaged (the box map too unless the head's ``flip_box`` is False).
        """
        images = self._check_images(images)
        if not self.test_cfg.get('flip_test', False):
            return self._forward(images)
        B = images.shape[0]
        hm, box = self._forward(torch.cat([images, torch.flip(images, dims=[-1])]))
        hm_f, box_f = self.head.flip_back(hm[B:], box[B:])
        return self.head.merge_flip(hm[:B], box[:B], hm_f, box_f)

    # ------------------------------------------------------------------ modes
    def loss(self, inputs: Tensor, data_samples) -> Dict[str, Tensor]:
        """Training losses (``loss_heatmap``, ``loss_box``)."""
        inputs = self._check_images(inputs)
        flip = self.train_cfg.get('flip_train', False) and bool(torch.rand(()) < 0.5)
        if flip:
            hm, box = self.head.flip_back(*self._forward(torch.flip(inputs, dims=[-1])))
        else:
            hm, box = self._forward(inputs)
        return self.head.loss_from_outputs(hm, box, data_samples)

    def predict(self, inputs: Tensor, data_samples):
        """Fill ``pred_fields`` (``heatmaps``, ``box_map``) of every data sample."""
        hm, box = self.predict_agr(inputs)
        for b, ds in enumerate(data_samples):
            ds.pred_fields = PixelData(heatmaps=hm[b].detach(), box_map=box[b].detach())
        return data_samples
