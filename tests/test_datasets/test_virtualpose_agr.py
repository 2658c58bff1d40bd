"""VirtualPose virtual scenes, AGR rendering and packing (VirtualPoseSceneDataset,
GenerateVirtualPoseAGR, PackVirtualPoseInputs)."""
import numpy as np
import pytest
import torch

import virtualpose_mm  # noqa: F401
from virtualpose_mm.datasets import DatasetError, VirtualPoseSceneDataset
from virtualpose_mm.datasets.transforms import GenerateVirtualPoseAGR
from virtualpose_mm.datasets.joint_sets import coco17_to_virtualpose17
from virtualpose_mm.structures import render_agr

SPACE = dict(space_size=(8000.0, 8000.0, 2400.0), space_center=(0.0, 0.0, 1100.0),
             space_shape=(40, 40, 12))


def _pipeline(noise=None, **kw):
    return [dict(type='GenerateVirtualPoseAGR', noise=noise, **kw),
            dict(type='GenerateRootTarget3D', root_joints=2, **SPACE),
            dict(type='PackVirtualPoseInputs')]


def _dataset(**kw):
    kw.setdefault('num_samples', 12)
    kw.setdefault('pipeline', _pipeline())
    return VirtualPoseSceneDataset(**kw)


def test_every_sample_has_a_person_in_view_and_respects_the_placement():
    ds = _dataset(num_samples=25, num_people=(1, 5), min_spacing=700.0)
    area = ds.placement_area
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        cam, X = info['camera'], info['gt_keypoints_3d']
        assert 1 <= len(X) <= info['num_people_requested'] <= 5
        roots = X[:, 2]
        depth = cam.depth(roots)
        uv = cam.project(roots)
        w, h = cam.image_size
        inside = (depth >= 1000) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & \
            (uv[:, 1] < h)
        assert inside.all(), i       # person_in_view=True: every placed root is in view
        assert ((roots[:, 0] >= area[0, 0]) & (roots[:, 0] <= area[0, 1]) &
                (roots[:, 1] >= area[1, 0]) & (roots[:, 1] <= area[1, 1])).all()
        d = np.linalg.norm(roots[:, None, :2] - roots[None, :, :2], axis=-1)
        assert (d[~np.eye(len(roots), dtype=bool)] >= 700.0).all()
        # heights are the bank's (its floor is z = 0), only turned and moved on the floor
        bank = ds.bank.poses[info['gt_ids']]
        np.testing.assert_allclose(X[..., 2], bank[..., 2])
        np.testing.assert_allclose(np.linalg.norm(X[:, 1, :2] - X[:, 2, :2], axis=-1),
                                   np.linalg.norm(bank[:, 1, :2] - bank[:, 2, :2], axis=-1))


def test_frames_are_deterministic_under_seed_and_index():
    a = _dataset(seed=3, pipeline=_pipeline(noise=True))
    b = _dataset(seed=3, pipeline=_pipeline(noise=True))
    c = _dataset(seed=4, pipeline=_pipeline(noise=True))
    for i in (0, 5):
        pa, pb = a[i], b[i]
        torch.testing.assert_close(pa['inputs'], pb['inputs'], rtol=0, atol=0)
        np.testing.assert_array_equal(pa['data_samples'].gt_instances.lifting_target,
                                      pb['data_samples'].gt_instances.lifting_target)
        # the same index again (another epoch / worker) gives the same frame
        torch.testing.assert_close(a[i]['inputs'], pa['inputs'], rtol=0, atol=0)
    assert not torch.equal(a[0]['inputs'], c[0]['inputs'])


def test_agr_peaks_at_the_projections_in_sound_mode():
    ds = _dataset(num_people=(1, 1), num_samples=6)
    checked = 0
    for i in range(len(ds)):
        out = ds[i]
        agr = out['inputs'][0].numpy()               # (1, K + 4, H, W): one view
        gt = out['data_samples'].gt_instances
        kp = gt.transformed_keypoints[0] / 4.0      # canvas px → heatmap px
        for k in range(17):
            x, y = kp[k]
            if not (3 <= x <= 236 and 3 <= y <= 124):
                continue
            hm = agr[k]
            r, c = np.unravel_index(np.argmax(hm), hm.shape)
            assert (c, r) == (int(np.floor(x + 0.5)), int(np.floor(y + 0.5))), (i, k)

            # sub-pixel: a Gaussian's log is a parabola, whose vertex is the projection
            def vertex(a, b, c_):
                la, lb, lc = np.log([a, b, c_])
                return (la - lc) / (2 * (la - 2 * lb + lc))
            cx = c + vertex(hm[r, c - 1], hm[r, c], hm[r, c + 1])
            cy = r + vertex(hm[r - 1, c], hm[r, c], hm[r + 1, c])
            assert abs(cx - x) < 2e-3 and abs(cy - y) < 2e-3, (i, k, cx, x, cy, y)
            checked += 1
    assert checked > 40


def test_noise_off_is_exactly_render_agr_and_noise_changes_only_the_heatmaps():
    exact = _dataset(num_samples=3)
    noisy = _dataset(num_samples=3, pipeline=_pipeline(noise=True))
    for i in range(3):
        e, n = exact[i], noisy[i]
        kp = e['data_samples'].gt_instances.transformed_keypoints.astype(np.float64)
        # the packed 2D joints are float32; re-render from the unrounded projection
        info = exact.get_data_info(i)
        r = GenerateVirtualPoseAGR()(info)
        np.testing.assert_allclose(r['gt_keypoints_2d'], kp, atol=1e-3)
        ref = render_agr(r['gt_keypoints_2d'])
        np.testing.assert_array_equal(e['inputs'][0].numpy(), ref['agr'])
        diff = np.abs(n['inputs'][0].numpy() - e['inputs'][0].numpy())
        assert diff[:17].max() > 0.05          # heatmaps are noisy
        assert diff[17:].max() == 0            # the box map is not
        for key in ('root_ind', 'root_depth', 'root_mask', 'keypoint_weights'):
            torch.testing.assert_close(getattr(n['data_samples'].gt_instance_labels, key),
                                       getattr(e['data_samples'].gt_instance_labels, key))


def test_sigma_scaled_with_the_heatmap_is_the_reference_sigma_relative_to_the_image():
    """base_sigma and sigma_ref_size halved with a half-size heatmap give each person the
    σ of the full-size AGR, halved (the same σ relative to the image) for every extent,
    including the small people whose σ the unscaled rule clips to 2.12 heatmap px; the
    training noise (a fraction of σ) shrinks with it."""
    ds = _dataset(num_samples=6, num_people=(3, 5))
    full = GenerateVirtualPoseAGR()
    half = GenerateVirtualPoseAGR(input_size=(480, 256), heatmap_size=(120, 64),
                                  base_sigma=1.5, sigma_ref_size=48.0)
    unscaled = GenerateVirtualPoseAGR(input_size=(480, 256), heatmap_size=(120, 64))
    half_noisy = GenerateVirtualPoseAGR(input_size=(480, 256), heatmap_size=(120, 64),
                                        base_sigma=1.5, sigma_ref_size=48.0, noise=True,
                                        heatmap_mode='peaks')
    unscaled_noisy = GenerateVirtualPoseAGR(input_size=(480, 256), heatmap_size=(120, 64),
                                            noise=True, heatmap_mode='peaks')
    n_small = 0
    moved_half, moved_unscaled = [], []
    for i in range(6):
        f, h, u = (t(ds.get_data_info(i)) for t in (full, half, unscaled))
        np.testing.assert_allclose(h['agr_sigma'], f['agr_sigma'] / 2, rtol=1e-12)
        small = f['agr_sigma'] < 4.24      # extent < 96 px at 240x128: clipped unscaled
        n_small += int(small.sum())
        np.testing.assert_allclose(u['agr_sigma'][small], 3 * np.sqrt(2) / 2)
        assert (h['agr_sigma'][small] < u['agr_sigma'][small]).all()
        # the box map and the targets do not depend on σ
        np.testing.assert_array_equal(h['agr'][17:], u['agr'][17:])
        np.testing.assert_array_equal(h['gt_root_ind'], u['gt_root_ind'])
        hn, un = half_noisy(ds.get_data_info(i)), unscaled_noisy(ds.get_data_info(i))
        moved_half.append((hn['gt_agr_peaks'][..., :2] - h['gt_keypoints_2d'] / 4)
                          / h['agr_sigma'][:, None, None])
        moved_unscaled.append((un['gt_agr_peaks'][..., :2] - u['gt_keypoints_2d'] / 4)
                              / u['agr_sigma'][:, None, None])
    assert n_small >= 10
    # the same random numbers: the displacement is the same fraction of each one's σ
    np.testing.assert_allclose(np.concatenate(moved_half).ravel(),
                               np.concatenate(moved_unscaled).ravel(), atol=1e-9)
    with pytest.raises(ValueError, match='sigma_ref_size'):
        GenerateVirtualPoseAGR(sigma_ref_size=0)


def test_amplitude_drop_knob_scales_the_peaks():
    noise = dict(position_std=0.0, sigma_jitter=0.0, amplitude_prob=0.0, drops=[],
                 default_drop=dict(prob=1.0, factor=0.5))
    exact = _dataset(num_samples=2)
    half = _dataset(num_samples=2, pipeline=_pipeline(noise=noise))
    for i in range(2):
        e, h = exact[i]['inputs'][0].numpy(), half[i]['inputs'][0].numpy()
        np.testing.assert_allclose(h[:17], 0.5 * e[:17], atol=1e-6)
        np.testing.assert_array_equal(h[17:], e[17:])
    wrists_only = dict(noise, drops=[dict(joints=('l-wrist', 'r-wrist'), prob=1.0,
                                          factor=0.0)],
                       default_drop=dict(prob=0.0, factor=1.0))
    w = _dataset(num_samples=1, pipeline=_pipeline(noise=wrists_only))[0]['inputs'][0].numpy()
    e = exact[0]['inputs'][0].numpy()
    assert w[[5, 11]].max() == 0
    np.testing.assert_allclose(np.delete(w[:17], [5, 11], 0), np.delete(e[:17], [5, 11], 0),
                               atol=1e-6)
    with pytest.raises(ValueError, match='unknown noise keys'):
        GenerateVirtualPoseAGR(noise=dict(sigma=1))
    with pytest.raises(ValueError, match='no joint'):
        GenerateVirtualPoseAGR(noise=dict(drops=[dict(joints=('nose', ), prob=1,
                                                      factor=0)]))


def test_targets_and_packed_contract():
    ds = _dataset(num_samples=2)
    info = ds.get_data_info(1)
    out = ds[1]
    s = out['data_samples']
    meta, gt, labels = s.metainfo, s.gt_instances, s.gt_instance_labels
    assert out['inputs'].shape == (1, 21, 128, 240) and out['inputs'].dtype == torch.float32
    for k in ('cameras', 'affines', 'input_size', 'heatmap_size', 'depth_norm_factor',
              'camera', 'seq_name', 'frame_id', 'sample_idx', 'random_seed'):
        assert k in meta, k
    assert 'affine' not in meta and 'image_size' not in meta     # one layout: V = 1
    cam = info['camera']
    np.testing.assert_allclose(meta['camera']['R'], cam.R)       # kept for the metrics
    for key, shape in (('R', (1, 3, 3)), ('t', (1, 3)), ('f', (1, 2)), ('c', (1, 2)),
                       ('dist', (1, 5)), ('image_size', (1, 2))):
        assert meta['cameras'][key].shape == shape and meta['cameras'][key].dtype == np.float64
    np.testing.assert_allclose(meta['cameras']['R'][0], cam.R)
    np.testing.assert_allclose(meta['cameras']['image_size'][0], cam.image_size)
    assert meta['affines'].shape == (1, 2, 3)
    A = np.asarray(meta['affines'][0])
    w, h = cam.image_size
    k = min(960 / w, 512 / h)
    np.testing.assert_allclose(A, [[k, 0, (960 - k * w) / 2], [0, k, (512 - k * h) / 2]])
    assert meta['depth_norm_factor'] == pytest.approx(np.sqrt(cam.f[0] * cam.f[1]) * k)
    X = info['gt_keypoints_3d']
    np.testing.assert_allclose(gt.lifting_target, X, atol=1e-3)
    np.testing.assert_allclose(gt.roots_3d, X[:, 2], atol=1e-3)
    np.testing.assert_allclose(labels.root_depth.numpy(), cam.depth(X[:, 2]), rtol=1e-12)
    canvas = (cam.project(X[:, 2]) @ A[:, :2].T + A[:, 2]) / 4
    pix = np.floor(canvas + 0.5).astype(int)
    np.testing.assert_array_equal(labels.root_ind.numpy(), pix[:, 1] * 240 + pix[:, 0])
    assert labels.root_mask.numpy().tolist() == [1.0] * len(X)
    assert labels.root_depth.dtype == torch.float64 and labels.root_ind.dtype == torch.int64
    # the 3D root target peaks at the voxel nearest each root
    tgt = s.gt_fields.root_heatmap_3d.numpy()
    assert tgt.shape == (40, 40, 12)
    axes = [np.linspace(-4000, 4000, 40), np.linspace(-4000, 4000, 40),
            np.linspace(-100, 2300, 12)]
    for r in X[:, 2]:
        idx = tuple(int(np.argmin(np.abs(a - v))) for a, v in zip(axes, r))
        assert tgt[idx] > 0.5


def test_the_estimator_reads_what_the_transforms_packed():
    """The batch goes through the model's data preprocessor (MultiViewDataPreprocessor,
    V = 1) and the estimator reads the packed views and depth-loss targets as they are (no
    second producer); without ``depth_norm_factor`` in the metainfo its default is the
    transform's formula."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from virtualpose_mm.registry import MODELS
    init_default_scope('mmpose')
    cfg = Config.fromfile('configs/virtualpose/virtualpose_tiny_cpu.py')
    model = MODELS.build(cfg.model)
    ds = _dataset(num_samples=3)
    data = model.data_preprocessor(pseudo_collate([ds[i] for i in range(3)]))
    samples = data['data_samples']
    assert tuple(data['inputs'].shape) == (3, 1, 21, 128, 240)
    meta = model.parse_meta(samples)
    for b, s in enumerate(samples):
        for key in ('R', 't', 'f', 'c', 'dist', 'image_size'):
            np.testing.assert_array_equal(getattr(meta.cameras, key)[b].numpy(),
                                          s.metainfo['cameras'][key])
        np.testing.assert_array_equal(meta.affines[b].numpy(), s.metainfo['affines'])
    assert meta.input_size == (960.0, 512.0)
    dnf = torch.tensor([s.metainfo['depth_norm_factor'] for s in samples], dtype=torch.float64)
    torch.testing.assert_close(meta.depth_norm_factor, dnf, rtol=0, atol=0)
    gt = model.parse_gt(samples, torch.device('cpu'), heatmap_size=(240, 128))
    for b, s in enumerate(samples):
        n, labels = len(s.gt_instances), s.gt_instance_labels
        torch.testing.assert_close(gt['root_ind'][b, :n], labels.root_ind)
        torch.testing.assert_close(gt['root_depth'][b, :n], labels.root_depth)
        torch.testing.assert_close(gt['root_mask'][b, :n], labels.root_mask)
    # the default depth normalisation (no depth_norm_factor): the same numbers
    frames = [ds[i] for i in range(3)]
    for f in frames:
        del f['data_samples'].depth_norm_factor
    samples = model.data_preprocessor(pseudo_collate(frames))['data_samples']
    torch.testing.assert_close(model.parse_meta(samples).depth_norm_factor, dnf, rtol=1e-12,
                               atol=0)


def test_cameras_that_see_nobody_give_a_clear_error():
    away = dict(type='FixedCameraSampler',
                calibration=dict(R=np.diag([1.0, -1.0, -1.0]), t=[0.0, 0.0, -20000.0],
                                 f=[1000.0, 1000.0], c=[960.0, 540.0],
                                 image_size=[1920, 1080]))   # 20 m up, looking at the sky
    ds = _dataset(cameras=away, max_camera_tries=3)
    with pytest.raises(DatasetError, match='none of 3 cameras'):
        ds.get_data_info(0)


def test_coco17_to_virtualpose17_rules():
    coco = np.random.default_rng(0).normal(size=(2, 17, 3)) * 100
    vp, vis = coco17_to_virtualpose17(coco, np.ones((2, 17), bool))
    neck = (coco[:, 5] + coco[:, 6]) / 2
    hip = (coco[:, 11] + coco[:, 12]) / 2
    head = coco[:, :5].mean(1)
    np.testing.assert_allclose(vp[:, 0], neck)
    np.testing.assert_allclose(vp[:, 2], hip)
    np.testing.assert_allclose(vp[:, 15], (neck + hip) / 2)
    np.testing.assert_allclose(vp[:, 16], head)
    np.testing.assert_allclose(vp[:, 1], head + 0.5 * (head - neck))
    np.testing.assert_allclose(vp[:, 3], coco[:, 5])      # l-shoulder
    np.testing.assert_allclose(vp[:, 14], coco[:, 16])    # r-ankle
    v = np.ones((1, 17), bool)
    v[0, 3] = False                                        # left ear unseen
    assert not coco17_to_virtualpose17(coco[:1], v)[1][0, 16]
    assert coco17_to_virtualpose17(coco[:1], v)[1][0, 2]


def test_panoptic15_scenes_from_the_builtin_bank():
    ds = _dataset(joint_set='panoptic15', num_samples=2,
                  pipeline=_pipeline(noise=True, joint_set='panoptic15'))
    out = ds[0]
    assert out['inputs'].shape == (1, 19, 128, 240)
    assert out['data_samples'].gt_instances.lifting_target.shape[1:] == (15, 3)


def test_golden_reference_agr_is_reproduced_with_the_legacy_options(shared_data):
    """The reference's own AGR of the golden stage-2 case (MuPoTS TS1 camera, 3 + 4 people)
    from its 3D joints, with every AGR quirk switched on."""
    from virtualpose_mm.geometry.camera_io import camera_from_reference_dict
    d = torch.load(shared_data / 'golden' / 'virtualpose' / 'stage2_mupots_small.pt')
    m, g = d['meta'], d['gt']
    cams = camera_from_reference_dict(m['camera'], image_size=(2048, 2048))
    t = GenerateVirtualPoseAGR(legacy_peak_offset=True, legacy_box_paint=True,
                               paint_offcanvas_roots=True)
    for b in range(2):
        n = int(g['num_person'][b])
        r = t(dict(camera=cams[b], gt_keypoints_3d=g['joints_3d'][b, :n].numpy()))
        np.testing.assert_allclose(r['agr'], d['input_AGR'][b].numpy(), atol=1e-5)
        assert r['depth_norm_factor'] == pytest.approx(float(m['depth_norm_factor'][b]),
                                                       rel=1e-6)
        np.testing.assert_array_equal(r['gt_root_ind'], m['ind'][b, :n].numpy())
        np.testing.assert_allclose(r['gt_root_depth'], m['depth'][b, :n, 0].numpy(),
                                   atol=1e-3)
        np.testing.assert_array_equal(r['gt_keypoints_3d_weights'],
                                      g['joints_3d_vis'][b, :n, :, 0].numpy())


def test_peaks_mode_gives_the_gaussians_that_render_mode_draws():
    """``heatmap_mode='peaks'``: no heatmaps rendered; each joint's noisy Gaussian (centre,
    σ, amplitude, from the same random numbers) rendered by the renderer is exactly the
    render mode's AGR; the box map and every other field are the same."""
    from virtualpose_mm.structures.heatmaps import render_gaussian_heatmaps
    for noise in (True, None):
        rendered = _dataset(num_samples=4, num_people=(1, 5), seed=11,
                            pipeline=_pipeline(noise=noise))
        peaks = _dataset(num_samples=4, num_people=(1, 5), seed=11,
                         pipeline=_pipeline(noise=noise, heatmap_mode='peaks'))
        for i in range(4):
            r, p = rendered[i], peaks[i]
            hm = r['inputs'][0, :17].numpy()
            assert hm.max() > 0.5
            assert p['inputs'][0, :17].abs().max() == 0             # nothing rendered
            torch.testing.assert_close(p['inputs'][0, 17:], r['inputs'][0, 17:], rtol=0,
                                       atol=0)
            pk = p['data_samples'].gt_instance_labels.agr_peaks.numpy()
            N = len(r['data_samples'].gt_instances.lifting_target)
            assert pk.shape == (N, 17, 4)
            # σ: one per person
            np.testing.assert_array_equal(pk[..., 2], pk[:, :1, 2].repeat(17, 1))
            again = render_gaussian_heatmaps(pk[..., :2], (240, 128), pk[:, 0, 2],
                                             amplitudes=pk[..., 3])
            np.testing.assert_array_equal(again, hm)
            kp = r['data_samples'].gt_instances.transformed_keypoints / 4.0
            offset = np.abs(pk[..., :2] - kp)
            if noise:
                assert offset.max() > 0.1 and (pk[..., 3] < 1).any()
            else:
                assert offset.max() < 1e-3 and (pk[..., 3] == 1).all()
            for key in ('root_ind', 'root_depth', 'root_mask', 'keypoint_weights'):
                torch.testing.assert_close(getattr(p['data_samples'].gt_instance_labels, key),
                                           getattr(r['data_samples'].gt_instance_labels, key))
    with pytest.raises(ValueError, match="heatmap_mode must be 'render' or 'peaks'"):
        GenerateVirtualPoseAGR(heatmap_mode='gaussians')
    with pytest.raises(ValueError, match='legacy_peak_offset'):
        GenerateVirtualPoseAGR(heatmap_mode='peaks', legacy_peak_offset=True)
