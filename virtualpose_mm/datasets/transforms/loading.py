"""Loading the images of all views of a frame."""
from __future__ import annotations

import os.path as osp
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS

__all__ = ['LoadMultiViewImages', 'read_image']

_JPEG_SOI = b'\xff\xd8\xff'
_JPEG_SOS = b'\xff\xda'
_JPEG_EOI = b'\xff\xd9'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_IEND = b'IEND\xaeB`\x82'  # the IEND chunk type and its (constant) CRC


def _incomplete(data: bytes) -> Optional[str]:
    """Why ``data`` (a JPEG or PNG file) is cut short, or None.

    OpenCV does not say: ``cv2.imread`` of a truncated JPEG prints "Premature end of JPEG
    file" to stderr and returns the image with the missing part grey, and what it does for
    a truncated PNG differs between versions. So the structure is checked first:

    * JPEG: the end-of-image marker ``FFD9`` must follow the last start-of-scan ``FFDA``.
      Inside entropy-coded data every ``FF`` byte is stuffed (``FF00``) or a restart marker,
      so neither marker occurs there by chance; a cut file has no ``FFD9`` after its last
      scan (an EXIF thumbnail's own markers come before the image's first scan; trailing
      bytes after ``FFD9`` are tolerated, as decoders do). A file that ends in ``FFD9``
      is accepted at once: cut inside a marker segment, it has no scan of the image
      left and the decoder refuses it.
    * PNG: the ``IEND`` chunk (type and its fixed CRC) must be present.

    Cost: a two-byte comparison for a complete JPEG, one ``rfind`` for a PNG, two for a
    JPEG with bytes after its end marker; well under a millisecond for a full-HD image,
    against ~10 ms to decode it.
    """
    if data.startswith(_JPEG_SOI):
        if data.endswith(_JPEG_EOI):  # the usual complete file: nothing to search
            return None
        sos = data.rfind(_JPEG_SOS)
        if sos < 0:
            return 'truncated or corrupt JPEG: no start-of-scan marker (FFDA), no image data'
        if data.rfind(_JPEG_EOI) < sos:
            return ('truncated JPEG: no end-of-image marker (FFD9) after the last scan, the '
                    f'file ends early ({len(data)} bytes); an interrupted download or '
                    'extraction? Extract or download the image again')
    elif data.startswith(_PNG_SIGNATURE):
        if data.rfind(_PNG_IEND) < 0:
            return ('truncated PNG: no IEND chunk, the file ends early '
                    f'({len(data)} bytes); an interrupted download or extraction? Extract or '
                    'write the image again')
    return None


def read_image(path: str, to_rgb: bool = False) -> np.ndarray:
    """Read an image as OpenCV's ``imread`` (colour, EXIF orientation ignored, BGR unless
    ``to_rgb``), refusing a truncated or corrupt file with a ValueError naming it.

    The bytes are read once, checked by :func:`_incomplete` (JPEG and PNG) and decoded with
    ``cv2.imdecode`` (the decoder ``cv2.imread`` uses, so the pixels are the same).
    """
    with open(path, 'rb') as f:
        data = f.read()
    problem = _incomplete(data)
    if problem:
        raise ValueError(f'{path}: {problem}')
    img = None
    if data:
        img = cv2.imdecode(np.frombuffer(data, np.uint8),
                           cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ValueError(f'{path}: not a readable image (empty, corrupt, or not an image '
                         f'format OpenCV decodes; {len(data)} bytes)')
    if to_rgb:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


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

    A truncated JPEG or PNG (an interrupted download or extraction) or a corrupt file
    raises a ValueError naming it (:func:`read_image`); ``cv2.imread`` alone would return a
    partly grey image for a truncated JPEG.

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
            img = read_image(path, to_rgb=self.to_rgb)  # refuses truncated / corrupt files
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
