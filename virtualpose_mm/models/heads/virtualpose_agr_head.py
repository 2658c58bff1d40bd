"""VirtualPose stage-1 head: SimpleBaseline deconvolutions → joint heatmaps + box map.

The reference (wkom/VirtualPose ``models/posedet_resnet.PoseDetResNet``) puts on top of a
ResNet the SimpleBaseline head (3 × [ConvTranspose2d 4×4 stride 2, no bias → BN → ReLU],
256 channels, then a 1×1 conv to K heatmaps: ``final_layer``) and, on the same 256-channel
feature, a box branch ``bbox`` = Conv3×3(256→256, bias) → ReLU → Conv1×1(256→4, bias). The
two outputs at 1/4 of the input resolution are the AGR that stage 2 reads: K joint
heatmaps and the box map (l, t, r, b), the distances in heatmap px from a pixel (trained
at each person's root pixel) to the sides of the person's box.

This head *is* MMPose's :class:`~mmpose.models.heads.HeatmapHead` (same modules, same
parameter names ``deconv_layers.*`` / ``final_layer.*``, same SimpleBaseline
initialisation: N(0, 0.001) convolutions, BN (1, 0)) plus the box branch ``box_branch.*``.
(The reference also builds a one-channel ``depth`` head that its stage-1 configs train with
weight 0; it is not built here, see the stage-1 converter.)

Losses (the reference's ``PerJointMSELoss`` and ``RegL1Loss``, weights of
``configs/coco/backbone_res152_mix_*.yaml`` and ``core/config.py``):

* ``loss_heatmap`` = ``heatmap_loss_weight`` (10000) · mean over (B, K, H, W) of
  w_bk·(pred − target)², w_bk = 1 where joint k is visible for any person of image b;
* ``loss_box`` = ``box_loss_weight`` (0.1) · Σ|pred − target| / (4·#roots + 1e-4), the
  box map read only at the GT root pixels (one per person whose root is visible).

Flip test (:meth:`flip_back`): the heatmaps of the mirrored image are mirrored back and their
left/right channels exchanged (``flip_pairs``); the box map is mirrored back and its l and r
channels exchanged. The reference averages the heatmaps only and keeps the box map of the
original image (``flip_box=False`` reproduces that); by default both are averaged.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmpose.models.heads import HeatmapHead
from torch import Tensor

from virtualpose_mm.registry import MODELS

#: VirtualPose-17 left/right pairs (the reference's ``flip_pairs``).
VP17_FLIP_PAIRS = ((3, 9), (4, 10), (5, 11), (6, 12), (7, 13), (8, 14))
#: Box channels (l, t, r, b) of a mirrored image: l ↔ r.
BOX_FLIP_INDEX = (2, 1, 0, 3)


@MODELS.register_module()
class VirtualPoseAGRHead(HeatmapHead):
    """Joint heatmaps and the box map of VirtualPose's AGR from a backbone feature.

    Args:
        in_channels: channels of the last backbone feature (ResNet-152: 2048).
        out_channels: K joints (17, VirtualPose-17).
        deconv_out_channels, deconv_kernel_sizes: the deconvolutions (3 × 256, 4×4).
        box_channels: channels of the box branch's 3×3 conv (256; 0: a single 1×1 conv).
        heatmap_loss_weight: weight of the heatmap MSE (reference 10000).
        box_loss_weight: weight of the box L1 (reference 0.1).
        flip_pairs: left/right joint pairs exchanged by :meth:`flip_back`.
        flip_box: average the box map too in flip test (False: the reference, the box
            map of the original image only).
        init_cfg: mmengine init config (default: HeatmapHead's SimpleBaseline init).

    Shapes:
        ``forward(feats)``: feats[-1] (B, C, h, w) → heatmaps (B, K, 8h, 8w) and box map
        (B, 4, 8h, 8w) heatmap px (with 3 deconvolutions; for a stride-32 backbone on a
        960×512 canvas: 240×128).
    """

    def __init__(self, in_channels: int = 2048, out_channels: int = 17,
                 deconv_out_channels: Sequence[int] = (256, 256, 256),
                 deconv_kernel_sizes: Sequence[int] = (4, 4, 4), box_channels: int = 256,
                 heatmap_loss_weight: float = 10000.0, box_loss_weight: float = 0.1,
                 flip_pairs: Sequence[Tuple[int, int]] = VP17_FLIP_PAIRS,
                 flip_box: bool = True, init_cfg: Optional[dict] = None):
        super().__init__(in_channels=in_channels, out_channels=out_channels,
                         deconv_out_channels=deconv_out_channels,
                         deconv_kernel_sizes=deconv_kernel_sizes,
                         final_layer=dict(kernel_size=1),
                         loss=dict(type='KeypointMSELoss', use_target_weight=True,
                                   loss_weight=float(heatmap_loss_weight)),
                         decoder=None, init_cfg=init_cfg)
        feat = deconv_out_channels[-1] if deconv_out_channels else in_channels
        if box_channels > 0:
            self.box_branch = nn.Sequential(
                nn.Conv2d(feat, box_channels, 3, padding=1, bias=True), nn.ReLU(inplace=True),
                nn.Conv2d(box_channels, 4, 1, bias=True))
        else:
            self.box_branch = nn.Sequential(nn.Conv2d(feat, 4, 1, bias=True))
        self.box_loss_weight = float(box_loss_weight)
        self.flip_box = bool(flip_box)
        idx = list(range(out_channels))
        for a, b in flip_pairs:
            if not (0 <= a < out_channels and 0 <= b < out_channels):
                raise ValueError(f'VirtualPoseAGRHead: flip pair {(a, b)} is outside the '
                                 f'{out_channels} joints')
            idx[a], idx[b] = b, a
        self.flip_index = tuple(idx)

    # ------------------------------------------------------------------ forward
    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """feats[-1] (B, C, h, w) → ``(heatmaps (B, K, H, W), box_map (B, 4, H, W))``."""
        x = feats[-1]
        x = self.conv_layers(self.deconv_layers(x))
        return self.final_layer(x), self.box_branch(x)

    def flip_back(self, heatmaps: Tensor, box_map: Tensor) -> Tuple[Tensor, Tensor]:
        """Outputs of a mirrored image → outputs in the original image's frame: mirrored
        along W, joint channels exchanged by ``flip_pairs``, box channels l ↔ r.
        (B, K, H, W), (B, 4, H, W) → same shapes."""
        heatmaps = torch.flip(heatmaps[:, list(self.flip_index)], dims=[-1])
        box_map = torch.flip(box_map[:, list(BOX_FLIP_INDEX)], dims=[-1])
        return heatmaps, box_map

    # ------------------------------------------------------------------ losses
    @staticmethod
    def _targets(batch_data_samples, K: int, hw: Tuple[int, int], device):
        """Stacked targets: heatmaps (B, K, H, W), joint weights (B, K), and per person
        (P people of the batch) the sample index (P,), root index (P,), root mask (P,),
        box target (P, 4)."""
        hms, weights, bidx, inds, masks, boxes = [], [], [], [], [], []
        for b, ds in enumerate(batch_data_samples):
            fields = ds.get('gt_fields', None)
            labels = ds.get('gt_instance_labels', None)
            missing = [k for k in ('heatmaps', ) if fields is None or k not in fields] + \
                [k for k in ('keypoint_weights', 'box_targets', 'root_ind', 'root_mask')
                 if labels is None or k not in labels]
            if missing:
                raise ValueError(f'data_samples[{b}]: missing targets {missing}; the '
                                 'stage-1 training pipeline makes them with '
                                 'GenerateAGRTargets before PackPoseInputs')
            hm = torch.as_tensor(fields.heatmaps, device=device, dtype=torch.float32)
            if tuple(hm.shape) != (K, ) + tuple(hw):
                raise ValueError(f'data_samples[{b}].gt_fields.heatmaps has shape '
                                 f'{tuple(hm.shape)}, the head outputs {(K, ) + tuple(hw)} '
                                 '(check heatmap_size of GenerateAGRTargets)')
            kw = torch.as_tensor(labels.keypoint_weights, device=device, dtype=torch.float32)
            kw = kw.reshape(-1, K)
            hms.append(hm)
            weights.append(kw.amax(0) if kw.shape[0] else kw.new_zeros(K))
            n = kw.shape[0]
            ind = torch.as_tensor(labels.root_ind, device=device, dtype=torch.long).reshape(n)
            if ((ind < 0) | (ind >= hw[0] * hw[1])).any():
                raise ValueError(f'data_samples[{b}].gt_instance_labels.root_ind: values '
                                 f'must index the {hw[0]}×{hw[1]} heatmap, got {ind.tolist()}')
            bidx.append(torch.full((n, ), b, dtype=torch.long, device=device))
            inds.append(ind)
            masks.append(torch.as_tensor(labels.root_mask, device=device,
                                         dtype=torch.float32).reshape(n))
            boxes.append(torch.as_tensor(labels.box_targets, device=device,
                                         dtype=torch.float32).reshape(n, 4))
        return (torch.stack(hms), torch.stack(weights), torch.cat(bidx), torch.cat(inds),
                torch.cat(masks), torch.cat(boxes))

    def loss_from_outputs(self, heatmaps: Tensor, box_map: Tensor,
                          batch_data_samples) -> Dict[str, Tensor]:
        """The losses of network outputs (B, K, H, W) and (B, 4, H, W) against the targets
        of ``batch_data_samples`` (module docstring)."""
        B, K, H, W = heatmaps.shape
        tgt, w, bidx, ind, mask, box_t = self._targets(batch_data_samples, K, (H, W),
                                                       heatmaps.device)
        loss_heatmap = self.loss_module(heatmaps, tgt, w)
        flat = box_map.flatten(2)                                      # (B, 4, H·W)
        pred = flat[bidx, :, ind]                                      # (P, 4)
        l1 = ((pred - box_t).abs() * mask[:, None]).sum()
        # + 0·sum keeps every box parameter in the graph when no root is visible (DDP)
        loss_box = l1 / (4 * mask.sum() + 1e-4) + 0 * box_map.sum()
        return dict(loss_heatmap=loss_heatmap, loss_box=self.box_loss_weight * loss_box)

    def loss(self, feats: Sequence[Tensor], batch_data_samples, train_cfg: dict = {}
             ) -> Dict[str, Tensor]:
        """Forward and :meth:`loss_from_outputs`."""
        heatmaps, box_map = self.forward(feats)
        return self.loss_from_outputs(heatmaps, box_map, batch_data_samples)

    def predict(self, feats, batch_data_samples, test_cfg: dict = {}):
        """``feats`` or ``[feats, feats_of_the_mirrored_images]`` (flip test) →
        ``(heatmaps, box_map)`` (averaged with :meth:`flip_back` for a pair)."""
        if isinstance(feats, list) and len(feats) == 2 and \
                isinstance(feats[0], (list, tuple)):
            hm, box = self.forward(feats[0])
            hm_f, box_f = self.flip_back(*self.forward(feats[1]))
            return self.merge_flip(hm, box, hm_f, box_f)
        return self.forward(feats)

    def merge_flip(self, heatmaps: Tensor, box_map: Tensor, heatmaps_flipped_back: Tensor,
                   box_flipped_back: Tensor) -> Tuple[Tensor, Tensor]:
        """Average the outputs of an image and of its mirror (already :meth:`flip_back`-ed);
        the box map only with ``flip_box``."""
        hm = (heatmaps + heatmaps_flipped_back) / 2
        box = (box_map + box_flipped_back) / 2 if self.flip_box else box_map
        return hm, box
