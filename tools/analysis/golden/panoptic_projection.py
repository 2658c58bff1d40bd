"""Golden check of the Panoptic camera conversion and of our projection.

File: ``golden/voxelpose/panoptic_projection.pt`` (made with microsoft/voxelpose-pytorch; see
the golden README, section ``panoptic_projection.pt``). The cameras are rebuilt with OUR
loader (:func:`virtualpose_mm.geometry.load_panoptic_calibration`) from the calibration
file the golden file names, then compared with the reference's model cameras, and our
projection of ``points_world_mm`` with the reference projections.

Two reference details decide how the comparison is made:

* the reference projection (``cameras.project_pose`` and ``cameras_cpu.project_pose``)
  divides by ``depth + 1e-5`` mm (golden README, quirk 6). Our projection has no such
  term; to compare at float64 precision the checker adds the same 1e-5 mm to the camera
  depth before calling :meth:`Camera.camera_to_pixel`, and reports how far our plain
  projection is from the reference as a note;
* ``pixels_projectPoints_float64`` comes from the reference's ``transforms.projectPoints``,
  which has a tangential-distortion bug (quirk 4); it is only reported as a note.
"""
from __future__ import annotations

import os.path as osp

import numpy as np
import torch

from .core import F32_EPS, F64_EPS, GoldenReport, register_checker

#: Worst rounding noise measured for the rows compared by the rule of
#: :func:`.core.f32_ulps`, in units of ``eps · scale`` (eps of the precision the row
#: names; scale = max |reference|, pixels over the compared (camera, point) pairs).
#: Measured over OMP threads 1 and 2 and CPU kernels of three vector widths (AVX-512,
#: AVX2, SSE4.1); regenerate with ``python -m tools.analysis.golden.noise``.
#: The rows about the camera centre, depth and our loader's float64 pixels keep absolute
#: bounds: their differences are not rounding noise but the calibration's R being
#: orthonormal only to ~1e-10 (see below).
NOISE = {
    'R': 0,                        # float64
    't': 0.168,                    # float64
    'projection fn float64': 19.4,  # float64
    'pixels float32 vs float32': 15.8,
    'pixels float32 vs float64': 10.8,
}

#: The reference adds this to the camera depth (mm) before the perspective division.
REFERENCE_DEPTH_EPS_MM = 1e-5


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(
        x, dtype=np.float64)


def _project_like_reference(cam, X, eps: float = REFERENCE_DEPTH_EPS_MM):
    """Our projection with the reference's depth epsilon: (V, N, 3) world → (V, N, 2)."""
    Xc = cam.world_to_camera(X)
    if isinstance(Xc, torch.Tensor):
        Xc = torch.cat([Xc[..., :2], Xc[..., 2:] + eps], dim=-1)
    else:
        Xc = np.concatenate([Xc[..., :2], Xc[..., 2:] + eps], axis=-1)
    return cam.camera_to_pixel(Xc)


@register_checker('panoptic_projection',
                  match=lambda d, p: 'panoptic_cams' in d and 'points_world_mm' in d)
def check(data: dict, path: str, device: str = 'cpu') -> GoldenReport:
    from virtualpose_mm.geometry import (PANOPTIC_AXIS_SWAP, camera_from_reference_dict,
                                         load_panoptic_calibration, stack_cameras)

    report = GoldenReport('panoptic_projection', final_label='max projection error',
                          final_unit='px')
    shared = osp.dirname(osp.dirname(osp.dirname(osp.abspath(path))))
    calib = osp.join(shared, data['calibration_file'])
    if not osp.isfile(calib):
        raise FileNotFoundError(
            f'{path}: the calibration file it names, {data["calibration_file"]!r}, is not at '
            f'{calib} (expected relative to the shared data folder two levels above the '
            'golden file)')

    names = [str(n) for n in data['camera_names']]
    order = [tuple(int(v) for v in pn) for pn in data['camera_order']]
    requested = [tuple(int(v) for v in pn) for pn in data['cam_list_requested']]

    # view order: the reference walks the calibration file (quirk 5)
    file_order = list(load_panoptic_calibration(calib, requested, order='file'))
    report.add('view order (file order of cam_list)',
               sum(a != b for a, b in zip(file_order, names))
               + abs(len(file_order) - len(names)), 0,
               note=' '.join(file_order))
    cams = load_panoptic_calibration(calib, order, order='requested')
    if list(cams) != names:
        report.add('camera names in golden order', float('inf'), 0,
                   note=f'ours {list(cams)} vs {names}')
        report.final_value = float('inf')
        return report
    cam = stack_cameras(cams, source=calib)  # (V,) float64 numpy

    # conversion vs the reference: raw Panoptic cams (cm) and the model cameras (mm)
    report.compare('M axis swap', PANOPTIC_AXIS_SWAP, _np(data['M_axis_swap']), 0)
    pc = data['panoptic_cams']
    report.compare_fp('R = R_json·M vs panoptic_cams', cam.R,
                      np.stack([_np(c['R']) for c in pc]), NOISE['R'], eps=F64_EPS)
    report.compare_fp('t (cm) vs panoptic_cams', cam.t / 10.0,
                      np.stack([_np(c['t']).reshape(3) for c in pc]), NOISE['t'], eps=F64_EPS)
    K = np.stack([_np(c['K']) for c in pc])
    report.compare('f, c vs panoptic K', np.concatenate([cam.f, cam.c], -1),
                   np.stack([K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]], -1), 0)
    report.compare('dist vs distCoef', cam.dist, np.stack([_np(c['distCoef']) for c in pc]), 0)

    ref = camera_from_reference_dict(
        {k: torch.stack([torch.as_tensor(m[k]) for m in data['model_cams']])
         for k in ('R', 'T', 'fx', 'fy', 'cx', 'cy', 'k', 'p')},
        source=f'{path}: model_cams')
    report.compare_fp('R vs model_cams', cam.R, ref.R, NOISE['R'], eps=F64_EPS)
    report.compare('camera centre (mm) vs model_cams T', cam.center,
                   np.stack([_np(m['T']).reshape(3) for m in data['model_cams']]), 1e-6)
    report.compare('fx fy cx cy vs model_cams', np.concatenate([cam.f, cam.c], -1),
                   np.concatenate([ref.f, ref.c], -1), 0)
    report.compare('k1 k2 p1 p2 k3 vs model_cams k, p', cam.dist, ref.dist, 0)

    # projection
    X = _np(data['points_world_mm'])[None]  # (1, N, 3) broadcasts over the V cameras
    mask = data['inside_image_and_in_front'].cpu().numpy().astype(bool)  # (V, N)
    depth = cam.depth(X)
    report.compare('depth (mm) vs depth_mm', depth, _np(data['depth_mm']), 1e-6)
    uv64 = _project_like_reference(cam, X)
    ours_mask = cam.in_image(uv64) & (depth > 0)
    report.add('inside-image-and-in-front mask', int((ours_mask != mask).sum()), 0,
               note=f'{int(mask.sum())} of {mask.size} (camera, point) pairs compared')

    def err(uv, key):
        return np.abs(_np(uv) - _np(data[key]))[mask].max()

    def px_scale(key):
        return float(np.abs(_np(data[key]))[mask].max())

    # The projection function alone, on the reference's own model cameras: float64 exact.
    e_fn = err(_project_like_reference(ref, X), 'pixels_numpy_float64')
    report.add_fp('projection fn on model_cams vs pixels_numpy_float64', e_fn,
                  px_scale('pixels_numpy_float64'), NOISE['projection fn float64'],
                  note='our Camera built from model_cams, depth + 1e-5 mm as the reference',
                  eps=F64_EPS)
    # Our loader's cameras: t = 10·t_json exactly, while the reference goes through the
    # centre T = −Rᵀt and back (R·(X − T) = R·X + R·Rᵀ·t); the calibration's R is orthonormal
    # only to ~1e-10, which moves the camera by ≤ ~4e-7 mm (the centre row above) and the
    # pixels by a few 1e-6 px (most where the distortion polynomial is steep, r ≈ 2).
    e64 = err(uv64, 'pixels_numpy_float64')
    report.add('pixels float64 (our loader) vs pixels_numpy_float64', e64, 2e-5,
               note='depth + 1e-5 mm as the reference')
    dev = torch.device(device if (device != 'cuda' or torch.cuda.is_available()) else 'cpu')
    cam32 = cam.to_tensor(device=dev, dtype=torch.float32)
    X32 = torch.as_tensor(X, dtype=torch.float32, device=dev)
    uv32 = _project_like_reference(cam32, X32)
    e32 = err(uv32, 'pixels_torch_float32')
    report.add_fp(f'pixels float32 ({dev.type}) vs pixels_torch_float32', e32,
                  px_scale('pixels_torch_float32'), NOISE['pixels float32 vs float32'],
                  note='README: float32 differs from float64 by ≤ 1.9e-3 px', eps=F32_EPS)
    e32_64 = err(uv32, 'pixels_numpy_float64')
    report.add_fp(f'pixels float32 ({dev.type}) vs pixels_numpy_float64', e32_64,
                  px_scale('pixels_numpy_float64'), NOISE['pixels float32 vs float64'],
                  eps=F32_EPS)

    plain = cam.project(X)
    report.notes.append(
        f'note: our projection without the reference depth epsilon differs from '
        f'pixels_numpy_float64 by at most {err(plain, "pixels_numpy_float64"):.3g} px')
    report.notes.append(
        f'note: pixels_projectPoints_float64 (reference transforms.projectPoints, quirk 4: '
        f'tangential-distortion bug) differs from ours by at most '
        f'{err(uv64, "pixels_projectPoints_float64"):.3g} px; not used')
    report.final_value = float(max(e_fn, e64, e32, e32_64))
    return report


__all__ = ['check', 'REFERENCE_DEPTH_EPS_MM']
