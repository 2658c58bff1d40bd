"""Image loading refuses truncated and corrupt files, naming them."""
import re

import cv2
import numpy as np
import pytest

from virtualpose_mm.datasets.transforms import LoadMultiViewImages
from virtualpose_mm.datasets.transforms.loading import read_image


def _image(h=64, w=96):
    rng = np.random.default_rng(0)
    img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (5, 5), 1.5)


@pytest.fixture(params=[('.jpg', []), ('.jpg', [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
                        ('.png', [])], ids=['jpeg', 'progressive-jpeg', 'png'])
def image_file(request, tmp_path):
    ext, flags = request.param
    path = tmp_path / f'view0{ext}'
    assert cv2.imwrite(str(path), _image(), flags)
    return path


def _load(path):
    t = LoadMultiViewImages()
    return t(dict(img_paths=[str(path)], image_sizes=np.array([[96.0, 64.0]])))


def test_valid_image_loads_as_imread(image_file):
    out = _load(image_file)
    ref = cv2.imread(str(image_file), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    np.testing.assert_array_equal(out['img'][0], ref)
    np.testing.assert_array_equal(out['ori_shapes'], [[64, 96]])
    np.testing.assert_array_equal(read_image(str(image_file), to_rgb=True), ref[..., ::-1])


def test_truncated_image_is_an_error_naming_the_file(image_file, tmp_path):
    data = image_file.read_bytes()
    cut = tmp_path / f'cut{image_file.suffix}'
    cut.write_bytes(data[:int(len(data) * 0.7)])  # the last 30 % missing
    kind = 'JPEG' if image_file.suffix == '.jpg' else 'PNG'
    with pytest.raises(ValueError, match=re.escape(str(cut)) + f': truncated {kind}'):
        _load(cut)
    # cut just before the end marker too: a few bytes missing are still missing
    cut.write_bytes(data[:-3])
    with pytest.raises(ValueError, match=re.escape(str(cut)) + f': truncated {kind}'):
        _load(cut)


def test_garbage_and_empty_files_are_errors_naming_the_file(tmp_path):
    bad = tmp_path / 'garbage.jpg'
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes())
    with pytest.raises(ValueError, match=re.escape(str(bad)) + ': not a readable image'):
        _load(bad)
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match=re.escape(str(empty)) + ': not a readable image'):
        _load(empty)
    # a JPEG header followed by garbage
    hdr = tmp_path / 'header_only.jpg'
    hdr.write_bytes(b'\xff\xd8\xff\xe0' + bytes(200))
    with pytest.raises(ValueError, match=re.escape(str(hdr))):
        _load(hdr)


def test_jpeg_with_bytes_after_its_end_marker_still_loads(tmp_path):
    """Some cameras append data after FFD9; decoders ignore it, so do we."""
    path = tmp_path / 'trailing.jpg'
    assert cv2.imwrite(str(path), _image())
    ref = cv2.imread(str(path))
    path.write_bytes(path.read_bytes() + b'\x00' * 16 + b'extra')
    np.testing.assert_array_equal(_load(path)['img'][0], ref)
