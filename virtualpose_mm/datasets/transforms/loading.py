"""Loading the images of all views of a frame."""
from __future__ import annotations

import os.path as osp
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS

__all__ = ['LoadMultiViewImages']


@TRANSFORMS.register_module()
class LoadMultiViewImages(BaseTransform):
    """Read the image of every view.

    Required Keys:

    - img_paths (list of V str)
    - image_sizes (V, 2) (optional): the calibration's (w, h) of each view, checked
      against the image

    Added Keys:

    - img (list of V (H, W, 3) uint8 arrays)
    - ori_shapes (V, 2) int: (h, w) of each image as read

    Args:
        to_rgb: return RGB instead of OpenCV's BGR.
        check_size: refuse an image whose size differs from ``image_sizes`` (the cameras
            are calibrated for that size; projecting into another size is silently wrong).
    """

    def __init__(self, to_rgb: bool = False, check_size: bool = True):
        self.to_rgb = to_rgb
        self.check_size = check_size

    def transform(self, results: dict) -> Optional[dict]:
        paths = results.get('img_paths')
        if not paths:
            raise KeyError('LoadMultiViewImages: the frame has no img_paths (virtual scenes '
                           'have no images; leave this transform out of their pipeline)')
        sizes = results.get('image_sizes')
        imgs, shapes = [], []
        for v, path in enumerate(paths):
            if not osp.isfile(path):
                folder = osp.dirname(path)
                what = 'image folder' if not osp.isdir(folder) else 'image'
                seq = results.get('sequence')
                where = f'view {v} of frame {results.get("frame_id")}' + \
                    (f', sequence {seq}' if seq else '')
                raise FileNotFoundError(f'{path}: {what} not found ({where})')
            img = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
            if img is None:
                raise ValueError(f'{path}: not a readable image')
            if self.to_rgb:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            h, w = img.shape[:2]
            if self.check_size and sizes is not None:
                ew, eh = (float(x) for x in np.asarray(sizes)[v])
                if (w, h) != (ew, eh):
                    raise ValueError(f'{path}: image is {w}×{h} but the calibration of view '
                                     f'{v} is for {int(ew)}×{int(eh)}')
            imgs.append(img)
            shapes.append((h, w))
        results['img'] = imgs
        results['ori_shapes'] = np.asarray(shapes, dtype=np.int64)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(to_rgb={self.to_rgb}, check_size={self.check_size})'
