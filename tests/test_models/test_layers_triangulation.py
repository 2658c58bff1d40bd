"""HeatmapTriangulation: the test-time refinement of joints by triangulating heatmap peaks
(``virtualpose_mm/models/layers/triangulation.py``) and its use by the multi-view models."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

import virtualpose_mm  # noqa: F401
from virtualpose_mm.datasets.transforms.multiview import letterbox_affine
from virtualpose_mm.models.layers import HeatmapTriangulation, solve_rays
from virtualpose_mm.models.layers.projection import heatmap_affines
from virtualpose_mm.registry import MODELS
from tools.analysis.voxelpose_synthetic import random_people, render_heatmaps, ring_rig

IMG, INP, HM = (1032, 776), (512, 384), (128, 96)
CENTER = (450.0, -320.0, 800.0)


def scene(people=3, seed=0, dist=None):
    """5-camera ring, ``people`` standing people, exact Gaussian heatmaps (σ 2 px)."""
    cams = ring_rig(5, [CENTER[0], CENTER[1], 900.0], image_size=IMG, dist=dist)
    A = np.stack([letterbox_affine(IMG, INP)] * 5)
    joints = random_people(people, CENTER, 2000.0, np.random.default_rng(seed))
    hm = render_heatmaps(joints, cams, A, INP, HM, sigma=2.0)
    return dict(joints=joints, heatmaps=torch.from_numpy(hm)[None],
                cameras=cams.to_tensor(dtype=torch.float64)[None],
                affines=torch.from_numpy(A)[None],
                image_sizes=torch.tensor([IMG] * 5, dtype=torch.float64)[None])


def refine(layer, s, estimates):
    P = estimates.shape[0]
    return layer(torch.as_tensor(estimates, dtype=torch.float32), torch.zeros(P, dtype=torch.long),
                 s['heatmaps'], s['cameras'], s['affines'], s['image_sizes'], INP)


def offsets(shape, length, seed):
    """Random directions of a fixed length (mm)."""
    d = np.random.default_rng(seed).normal(size=shape + (3, ))
    return d / np.linalg.norm(d, axis=-1, keepdims=True) * length


def patch_run_with_estimates(model, gts, nobody_from_slot=None, seen=None):
    """Replace the network's poses by GT people 300 mm off (random weights would put them
    anywhere): slot m of sample b gets person m mod G_b, or nobody (3 m up) from slot
    ``nobody_from_slot`` on. Returns {sample: [used slots]}; ``seen['threshold']`` records
    the score threshold the model ran with."""
    run, used = model.run, {}

    def run_with_estimates(inputs, data_samples, **kw):
        if seen is not None:
            seen['threshold'] = model.score_threshold
        r = run(inputs, data_samples, **kw)
        poses = r['poses'].clone()
        for b, m in (r['proposals'][..., 3] >= 0).nonzero().tolist():
            used.setdefault(b, []).append(m)
            g = gts[b][m % len(gts[b])]
            if nobody_from_slot is not None and m >= nobody_from_slot:
                g = g + np.array([0, 0, 3000.0])
            poses[b, m] = torch.as_tensor(g + offsets(g.shape[:1], 300.0, 10 * b + m))
        r['poses'] = poses
        return r

    model.run = run_with_estimates
    return used


def test_solve_rays_recovers_the_common_point_and_ignores_zero_weights():
    rng = np.random.default_rng(1)
    X = torch.tensor([300.0, -200.0, 1100.0], dtype=torch.float64)
    o = torch.from_numpy(rng.uniform(-5000, 5000, (4, 3)))
    d = X - o
    d = d / d.norm(dim=-1, keepdim=True)
    np.testing.assert_allclose(solve_rays(o, d, torch.ones(4, dtype=torch.float64)), X,
                               atol=1e-6)
    # a fifth, wrong ray with weight 0 changes nothing; with weight 1 it moves the point
    o5 = torch.cat([o, torch.tensor([[0.0, 0.0, 0.0]], dtype=torch.float64)])
    d5 = torch.cat([d, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)])
    w = torch.tensor([1.0, 1, 1, 1, 0], dtype=torch.float64)
    np.testing.assert_allclose(solve_rays(o5, d5, w), X, atol=1e-6)
    assert (solve_rays(o5, d5, torch.ones(5, dtype=torch.float64)) - X).norm() > 100


@pytest.mark.parametrize('dist', [None, (-0.2, 0.05, 0.001, -0.001, 0.0)])
def test_misplaced_joints_return_to_where_the_views_agree(dist):
    s = scene(dist=dist)
    gt = s['joints']                                                  # (3, 17, 3)
    # half of the joints 350 mm off (the network's failure), the others 40 mm off
    err = np.where(np.arange(17)[None, :, None] % 2 == 0, 350.0, 40.0)
    est = gt + offsets(gt.shape[:2], 1.0, 0) * err
    out = refine(HeatmapTriangulation(), s, est)
    after = np.linalg.norm(out['poses'].numpy() - gt, axis=-1)
    assert out['poses'].dtype == torch.float32
    assert out['refined'].all()
    # exact Gaussian peaks: sub-pixel parabola + triangulation are exact up to rounding
    assert after.max() < 2.0, after.max()
    assert (out['num_views'] >= 2).all() and (out['num_views'] <= 5).all()


def test_without_undistortion_the_refinement_would_be_off():
    """The layer must undo the lens distortion: triangulating the distorted pixels as if
    they were undistorted puts the joints tens of mm away."""
    dist = (-0.2, 0.05, 0.001, -0.001, 0.0)
    s = scene(dist=dist)
    est = s['joints'] + offsets(s['joints'].shape[:2], 100.0, 3)
    s_wrong = dict(s, cameras=ring_rig(5, [CENTER[0], CENTER[1], 900.0], image_size=IMG)
                   .to_tensor(dtype=torch.float64)[None])
    good = refine(HeatmapTriangulation(), s, est)['poses'].numpy()
    wrong = refine(HeatmapTriangulation(inlier_px=50.0), s_wrong, est)['poses'].numpy()
    assert np.linalg.norm(good - s['joints'], axis=-1).max() < 2.0
    assert np.linalg.norm(wrong - s['joints'], axis=-1).mean() > 10.0


def test_joints_without_agreeing_views_keep_the_estimate():
    s = scene(people=1, seed=4)
    gt = s['joints']
    est = gt + offsets(gt.shape[:2], 200.0, 5)
    hm = s['heatmaps'].clone()
    hm[0, 1:, 9] = 0          # left wrist: only view 0 has it
    hm[0, 2:, 10] = 0         # right wrist: views 0 and 1
    hm[0, :, 0] = 0.05        # nose: flat, below min_peak everywhere
    s = dict(s, heatmaps=hm)
    out = refine(HeatmapTriangulation(), s, est)
    p, moved = out['poses'].numpy(), out['refined'].numpy()[0]
    for k in (9, 0):
        assert not moved[k]
        np.testing.assert_array_equal(p[0, k], est[0, k].astype(np.float32))
    assert moved[10] and out['num_views'][0, 10] == 2
    assert np.linalg.norm(p[0, 10] - gt[0, 10]) < 2.0
    # min_views=3: two views are not enough any more
    out3 = refine(HeatmapTriangulation(min_views=3), s, est)
    assert not out3['refined'][0, 10]
    assert out3['refined'][0, 5]          # a shoulder all five views see
    # an estimate farther than the search radius and max_shift stays where it is
    far = est.copy()
    far[0, 5] = gt[0, 5] + np.array([1500.0, 0.0, 0.0])
    out_far = refine(HeatmapTriangulation(), s, far)
    assert not out_far['refined'][0, 5]
    np.testing.assert_array_equal(out_far['poses'][0, 5].numpy(), far[0, 5].astype(np.float32))


def test_a_wrong_peak_in_one_view_is_outvoted():
    """A view whose heatmap has the joint somewhere else (another person, a detector
    error) is an outlier: the other views' consensus wins and that view is not counted."""
    s = scene(people=1, seed=6)
    gt = s['joints']
    est = gt + offsets(gt.shape[:2], 150.0, 7)
    cams = ring_rig(5, [CENTER[0], CENTER[1], 900.0], image_size=IMG)
    A = np.stack([letterbox_affine(IMG, INP)] * 5)
    moved = gt.copy()
    moved[0, 5] += np.array([0.0, 0.0, 250.0])      # left shoulder 25 cm higher ...
    fake = render_heatmaps(moved, cams, A, INP, HM, sigma=2.0)
    hm = s['heatmaps'].clone()
    hm[0, 2, 5] = torch.from_numpy(fake[2, 5])     # ... in view 2 only
    out = refine(HeatmapTriangulation(), dict(s, heatmaps=hm), est)
    assert out['refined'][0, 5] and out['num_views'][0, 5] == 4
    assert np.linalg.norm(out['poses'][0, 5].numpy() - gt[0, 5]) < 2.0


def test_batches_people_of_different_samples_and_empty_input():
    s0, s1 = scene(people=2, seed=8), scene(people=1, seed=9)
    both = {k: torch.cat([s0[k], s1[k]]) for k in ('heatmaps', 'affines', 'image_sizes')}
    cams = s0['cameras']
    from virtualpose_mm.geometry.camera import Camera
    cams2 = Camera.stack([cams[0], s1['cameras'][0]])
    gt = np.concatenate([s0['joints'], s1['joints']])
    est = gt + offsets(gt.shape[:2], 300.0, 10)
    layer = HeatmapTriangulation()
    out = layer(torch.as_tensor(est, dtype=torch.float32), torch.tensor([0, 0, 1]),
                both['heatmaps'], cams2, both['affines'], both['image_sizes'], INP)
    assert np.linalg.norm(out['poses'].numpy() - gt, axis=-1).max() < 2.0
    # the third person looked up in sample 0's heatmaps finds nothing of it (moves < all)
    wrong = layer(torch.as_tensor(est, dtype=torch.float32), torch.tensor([0, 0, 0]),
                  both['heatmaps'], cams2, both['affines'], both['image_sizes'], INP)
    assert np.linalg.norm(wrong['poses'][2].numpy() - gt[2], axis=-1).max() > 100
    empty = layer(torch.zeros(0, 17, 3), torch.zeros(0, dtype=torch.long), both['heatmaps'],
                  cams2, both['affines'], both['image_sizes'], INP)
    assert empty['poses'].shape == (0, 17, 3) and empty['refined'].shape == (0, 17)


def test_bad_options_are_rejected():
    for kw in (dict(min_views=1), dict(max_window=1), dict(inlier_px=0.0),
               dict(search_radius=-1.0)):
        with pytest.raises(ValueError):
            HeatmapTriangulation(**kw)
    s = scene(people=1)
    with pytest.raises(ValueError, match='heatmaps have 17 joints, poses 15'):
        refine(HeatmapTriangulation(), s, np.zeros((1, 15, 3)))


# ----------------------------------------------------------------------------- the models
def tiny_model_cfg(kind):
    """(test module with ``batch`` / ``INP``, tiny model config) of a multi-view model."""
    if kind == 'FasterVoxelPose':
        from tests.test_models import test_faster_voxelpose as t
        return t, t.tiny_cfg()
    from tests.test_models import test_voxelpose as t
    return t, Config.fromfile(t.TINY).model.to_dict()


def tiny_model_with_batch(kind, **refine):
    """A tiny multi-view model in eval mode with ``HeatmapTriangulation(**refine)``, its test
    batch ``(x, ds)`` and the batch's GT people (float64 world mm)."""
    t, cfg = tiny_model_cfg(kind)
    torch.manual_seed(0)
    model = MODELS.build(dict(cfg, refine=dict(type='HeatmapTriangulation', **refine)))
    x, ds = t.batch()
    model.eval()
    return model, x, ds, [np.asarray(d.gt_instances.lifting_target, dtype=np.float64)
                          for d in ds]


@pytest.mark.parametrize('kind', ['FasterVoxelPose', 'VoxelPose'])
def test_models_apply_the_refinement_in_predict_only(kind):
    t, cfg = tiny_model_cfg(kind)
    torch.manual_seed(0)
    model = MODELS.build(dict(cfg, refine=dict(type='HeatmapTriangulation')))
    assert isinstance(model.refiner, HeatmapTriangulation)
    assert not any('refiner' in k for k in model.state_dict())   # no parameters of its own
    x, ds = t.batch()
    t._with_people(model, x, ds)
    model.eval()
    gts = [np.asarray(d.gt_instances.lifting_target, dtype=np.float64) for d in ds]
    used = patch_run_with_estimates(model, gts)
    with torch.no_grad():
        # (predict fills pred_instances of the given samples: keep a copy of each result)
        refined = [d.pred_instances.clone() for d in model.predict(x, ds)]
        refiner, model.refiner = model.refiner, None
        plain = [d.pred_instances.clone() for d in model.predict(x, ds)]
        model.refiner = refiner
    assert 'keypoints_refined' not in plain[0]
    meta = model.parse_meta(ds, 5)
    errors = []
    for b in range(len(ds)):
        p, q = refined[b], plain[b]
        assert len(p) == len(q) >= 1
        assert p.keypoints_refined.shape == p.keypoint_scores.shape
        ms = sorted(set(used[b]))
        g = np.stack([gts[b][m % len(gts[b])] for m in ms])
        np.testing.assert_allclose(np.linalg.norm(q.keypoints - g, axis=-1), 300.0, rtol=1e-4)
        # predict gives exactly what the layer gives on the network's (here: replaced) poses
        direct = refiner(torch.as_tensor(q.keypoints), torch.full((len(q), ), b), x,
                         meta.cameras, meta.affines, meta.image_sizes, t.INP)
        np.testing.assert_array_equal(p.keypoints, direct['poses'].numpy())
        np.testing.assert_array_equal(p.keypoints_refined, direct['refined'].numpy())
        np.testing.assert_array_equal(p.keypoints[~p.keypoints_refined],
                                      q.keypoints[~p.keypoints_refined])
        errors.append(np.linalg.norm(p.keypoints - g, axis=-1).ravel())
    # (these test heatmaps are coarse, 64 x 48, and people overlap in some views: most
    # joints come back to within a few mm, a few are pulled by a neighbour's peak)
    errors = np.concatenate(errors)
    assert np.median(errors) < 2.0 and errors.mean() < 60.0, (np.median(errors), errors.mean())
    with pytest.raises(ValueError, match='refine must be a config dict'):
        MODELS.build(dict(cfg, refine='HeatmapTriangulation'))


def test_nearest_peaks_keep_a_person_apart_from_a_close_neighbour():
    """Two people 0.8 m apart, the neighbour's joints twice as strong: the nearest local
    maxima ('nearest', the default) find the person's own joints; the highest values in
    a 1 m disc ('highest') are the neighbour's."""
    cams = ring_rig(5, [CENTER[0], CENTER[1], 900.0], image_size=IMG)
    A = np.stack([letterbox_affine(IMG, INP)] * 5)
    a = random_people(1, CENTER, 10.0, np.random.default_rng(11))
    b = a + np.array([800.0, 0.0, 0.0])
    hm = np.maximum(render_heatmaps(a, cams, A, INP, HM, amplitude=0.5),
                    render_heatmaps(b, cams, A, INP, HM, amplitude=1.0))
    s = dict(joints=a, heatmaps=torch.from_numpy(hm)[None],
             cameras=cams.to_tensor(dtype=torch.float64)[None], affines=torch.from_numpy(A)[None],
             image_sizes=torch.tensor([IMG] * 5, dtype=torch.float64)[None])
    est = a + offsets(a.shape[:2], 100.0, 12)
    near = refine(HeatmapTriangulation(search_radius=1000.0, max_shift=1000.0), s, est)
    high = refine(HeatmapTriangulation(search_radius=1000.0, max_shift=1000.0,
                                       view_peak='highest', select='support'), s, est)
    err_near = np.linalg.norm(near['poses'].numpy() - a, axis=-1)
    err_high = np.linalg.norm(high['poses'].numpy() - a, axis=-1)
    assert near['refined'].all() and err_near.max() < 2.0
    # most joints jump to the neighbour (800 mm away)
    assert (np.abs(err_high - 800.0) < 5.0).mean() > 0.5
    with pytest.raises(ValueError, match='view_peak'):
        HeatmapTriangulation(view_peak='max')
    with pytest.raises(ValueError, match='select'):
        HeatmapTriangulation(select='best')


def test_neighbourhood_max_equals_max_pool():
    from virtualpose_mm.models.layers.triangulation import neighbourhood_max
    x = torch.randn(2, 7, 9, 11)
    ref = torch.nn.functional.max_pool2d(x.reshape(14, 1, 9, 11), 3, stride=1, padding=1)
    torch.testing.assert_close(neighbourhood_max(x), ref.reshape(2, 7, 9, 11), rtol=0, atol=0)


def test_rescue_keeps_only_confirmed_distinct_people():
    layer = HeatmapTriangulation(rescue=dict(min_score=0.03, min_views=3, min_joints=0.5))
    nv = torch.zeros(4, 17, dtype=torch.long)
    nv[0, :10] = 3          # 10/17 joints from 3 views: confirmed
    nv[1, :8] = 5           # 8/17: not enough
    nv[2, :] = 4            # confirmed, but a duplicate of the kept person of its sample
    nv[3, :] = 4            # confirmed; the kept person near it is in another sample
    poses = torch.zeros(4, 17, 3)
    poses[0] += 3000.0
    poses[2] += 100.0       # 100 mm from the kept person (0, 0, 0) of sample 0
    poses[3] += 100.0
    sample = torch.tensor([0, 0, 0, 1])
    low = torch.tensor([True, True, True, True])
    kept = torch.zeros(1, 17, 3)
    out = layer.confirmed(dict(poses=poses, num_views=nv), sample, low, kept,
                          torch.tensor([0]))
    assert out.tolist() == [True, False, False, True]
    # two confirmed low-score people 100 mm apart: only the higher-scored one stays
    pair = dict(poses=torch.stack([poses[0], poses[0] + 100.0]),
                num_views=torch.full((2, 17), 4, dtype=torch.long))
    two = torch.tensor([0, 0])
    both_low = torch.tensor([True, True])
    for scores, want in (([0.05, 0.1], [False, True]), ([0.1, 0.05], [True, False])):
        got = layer.confirmed(pair, two, both_low, torch.zeros(0, 17, 3),
                              torch.zeros(0, dtype=torch.long), scores=torch.tensor(scores))
        assert got.tolist() == want
    # people above the threshold are never "rescued" (they are kept on their score)
    assert not layer.confirmed(dict(poses=poses, num_views=nv), sample, ~low, kept,
                               torch.tensor([0])).any()
    assert not HeatmapTriangulation().confirmed(dict(poses=poses, num_views=nv), sample,
                                                low, kept, torch.tensor([0])).any()
    for bad in (dict(min_score=0.03), dict(min_score=0.03, min_views=1, min_joints=0.5),
                dict(min_score=0.03, min_views=3, min_joints=0.0)):
        with pytest.raises(ValueError, match='rescue'):
            HeatmapTriangulation(rescue=bad)


def test_predict_with_rescue_detects_lower_and_keeps_the_confirmed():
    from tests.test_models import test_faster_voxelpose as t
    torch.manual_seed(0)
    rescue = dict(min_score=-1.0, min_views=3, min_joints=0.5)
    model = MODELS.build(dict(t.tiny_cfg(), refine=dict(type='HeatmapTriangulation',
                                                        rescue=rescue)))
    x, ds = t.batch()
    t._with_people(model, x, ds, k=1)            # one person per frame on its score
    threshold = model.score_threshold
    model.eval()
    gts = [np.asarray(d.gt_instances.lifting_target, dtype=np.float64) for d in ds]
    seen = {}
    # slots 0 and 1: two GT people 300 mm off; slot 2 on: nobody
    patch_run_with_estimates(model, gts, nobody_from_slot=2, seen=seen)
    with torch.no_grad():
        out = [d.pred_instances.clone() for d in model.predict(x, ds)]
    assert seen['threshold'] == -1.0 and model.score_threshold == threshold
    for b in range(len(ds)):
        # the person kept on its score and the second GT person (confirmed by the views);
        # the proposals placed on nobody are dropped
        assert len(out[b]) == 2
        assert (out[b].bbox_scores > threshold).sum() == 1
        for i in range(2):
            g = gts[b][i % len(gts[b])]
            assert np.median(np.linalg.norm(out[b].keypoints[i] - g, axis=-1)) < 5.0


# ----------------------------------------------------------------------------- complete
#: roots from the hips' pairs only
PAIRS = dict(unpaired_roots=False, cluster_joints=0)


def find_roots(layer, s, kept, bounds=None):
    kept = torch.as_tensor(np.asarray(kept, dtype=np.float64).reshape(-1, 17, 3))
    return layer.find_roots(s['heatmaps'], kept, torch.zeros(len(kept), dtype=torch.long),
                            s['cameras'], s['affines'], s['image_sizes'], INP, (11, 12),
                            bounds=bounds)[0].numpy()


def test_find_roots_returns_exactly_the_people_no_kept_person_explains():
    s = scene(people=4, seed=3)
    J = s['joints']
    roots = J[:, [11, 12]].mean(1)
    layer = HeatmapTriangulation(complete=PAIRS)
    for missing in range(4):
        found = find_roots(layer, s, np.delete(J, missing, 0))
        assert found.shape == (1, 3)
        # integer peak positions: within a few cm of the mid-hip
        assert np.linalg.norm(found[0] - roots[missing]) < 60.0, (found, roots[missing])
    assert find_roots(layer, s, J).shape == (0, 3)
    everyone = find_roots(layer, s, np.zeros((0, 17, 3)))
    assert everyone.shape == (4, 3)
    # rays of two views through two different people meet in many places, where the other
    # views see nobody: without min_agree those points become extra roots
    assert len(find_roots(HeatmapTriangulation(complete=dict(PAIRS, min_agree=0.0)), s,
                          np.zeros((0, 17, 3)))) > 4
    d = np.linalg.norm(everyone[:, None] - roots[None], axis=-1)
    assert (d.min(0) < 60.0).all() and (d.min(1) < 60.0).all()
    # a kept estimate 350 mm off its person leaves that person's peaks unexplained: the
    # root found there is dropped when a kept root is within min_distance (400 mm)
    near = J.copy()
    near[0] += np.array([350.0, 0.0, 0.0])
    assert find_roots(layer, s, near).shape == (0, 3)
    loose = find_roots(HeatmapTriangulation(complete=dict(PAIRS, min_distance=300.0)), s,
                       near)
    assert loose.shape == (1, 3) and np.linalg.norm(loose[0] - roots[0]) < 60.0
    # bounds that exclude the missing person leave nothing
    lo = torch.tensor([-1e5, -1e5, 0.0], dtype=torch.float64)
    hi = torch.tensor([1e5, 1e5, 100.0], dtype=torch.float64)       # roots are ~0.9 m up
    assert find_roots(layer, s, J[1:], bounds=torch.stack([lo, hi])).shape == (0, 3)


def test_find_roots_needs_min_views_agreeing_views_of_both_hips():
    s = scene(people=2, seed=4)
    J = s['joints']
    for v in (0, 1, 2):               # person 1's hips seen by views 3 and 4 only
        s['heatmaps'][0, v, 11:13] = 0.0
    # (no clusters of the other joints: all five views see them)
    three = HeatmapTriangulation(complete=dict(min_views=3, min_agree=0.0, cluster_joints=0))
    two = HeatmapTriangulation(complete=dict(min_views=2, min_agree=0.0, cluster_joints=0))
    assert find_roots(three, s, J[:1]).shape == (0, 3)
    found = find_roots(two, s, J[:1])
    assert found.shape == (1, 3)
    assert np.linalg.norm(found[0] - J[1, [11, 12]].mean(0)) < 60.0
    # all five images hold the person and three of them show nobody there: 2 of 5 views
    # agree, fewer than min_agree = 0.5 of them (the default), so no root
    assert find_roots(HeatmapTriangulation(complete=dict(cluster_joints=0)), s,
                      J[:1]).shape == (0, 3)
    assert find_roots(HeatmapTriangulation(complete=dict(min_agree=0.4, cluster_joints=0)), s,
                      J[:1]).shape == (1, 3)
    # one hip only (the other hip's maps empty in every view): no pair, so no root unless
    # an unpaired hip is a root by itself (the default), then on that hip
    s = scene(people=2, seed=4)
    s['heatmaps'][0, :, 12] = 0.0
    assert find_roots(HeatmapTriangulation(complete=dict(PAIRS, min_views=3, min_agree=0.0)),
                      s, J[:1]).shape == (0, 3)
    found = find_roots(three, s, J[:1])
    assert found.shape == (1, 3) and np.linalg.norm(found[0] - J[1, 11]) < 60.0, found
    with pytest.raises(ValueError, match='complete must be None or a dict'):
        HeatmapTriangulation(complete=dict(min_view=3))
    with pytest.raises(ValueError, match='complete needs min_views >= 2'):
        HeatmapTriangulation(complete=dict(min_views=1))
    with pytest.raises(ValueError, match='0 <= min_agree <= 1'):
        HeatmapTriangulation(complete=dict(min_agree=1.5))
    with pytest.raises(ValueError, match="min_joints_of 'held' or 'all'"):
        HeatmapTriangulation(complete=dict(min_joints_of='some'))
    with pytest.raises(ValueError, match='0 <= min_held <= 1'):
        HeatmapTriangulation(complete=dict(min_held=2.0))


def test_an_unpaired_hip_is_a_root_only_away_from_every_pair():
    """A person at the edge of the views: its left hip seen by one view only (the others'
    left-hip maps are empty there), its right hip by all five."""
    s = scene(people=3, seed=5)
    J = s['joints']
    hm = s['heatmaps'][0]
    # empty person 2's left hip in views 1-4 (a 9 x 9 px square around its projection)
    Ah = heatmap_affines(s['affines'][0], INP, HM)                       # (5, 2, 3)
    uv = s['cameras'][0].project(torch.as_tensor(J[2, 11]).expand(5, 1, 3),
                                 min_depth=1.0)[:, 0]                    # (5, 2) image px
    px = (Ah[:, :, :2] @ uv[..., None])[..., 0] + Ah[:, :, 2]            # (5, 2) heatmap px
    for v in range(1, 5):
        x, y = (int(round(float(t))) for t in px[v])
        assert 0 <= x < HM[0] and 0 <= y < HM[1] and float(hm[v, 11, y, x]) > 0.5
        hm[v, 11, max(y - 4, 0):y + 5, max(x - 4, 0):x + 5] = 0.0
    paired = find_roots(HeatmapTriangulation(complete=PAIRS), s, J[:2])
    assert paired.shape == (0, 3)
    found = find_roots(HeatmapTriangulation(complete=dict(cluster_joints=0)), s, J[:2])
    assert found.shape == (1, 3)
    assert np.linalg.norm(found[0] - J[2, 12]) < 60.0, (found, J[2, 12])
    # nobody kept: two pairs and person 2's right hip, one root per person; the other
    # unpaired points are ghosts where two views' rays through different people meet
    # (metres from anyone: the completion's confirmation of the pose rejects them)
    everyone = find_roots(HeatmapTriangulation(complete=dict(cluster_joints=0)), s,
                          np.zeros((0, 17, 3)))
    d = np.linalg.norm(everyone[:, None] - J[:, [11, 12]].mean(1)[None], axis=-1)
    assert ((d < 150.0).sum(0) == 1).all(), d
    assert (d.min(1)[d.min(1) >= 150.0] > 1000.0).all(), d
    pairs = find_roots(HeatmapTriangulation(complete=PAIRS), s,
                       np.zeros((0, 17, 3)))
    assert len(pairs) == 2 and len(everyone) > 3


def test_a_person_whose_hips_no_two_views_show_is_found_from_the_other_joints():
    s = scene(people=3, seed=7)
    J = s['joints']
    hm = s['heatmaps'][0]
    Ah = heatmap_affines(s['affines'][0], INP, HM)
    for j in (11, 12):               # person 2's hips: shown by view 0 only
        uv = s['cameras'][0].project(torch.as_tensor(J[2, j]).expand(5, 1, 3),
                                     min_depth=1.0)[:, 0]
        px = (Ah[:, :, :2] @ uv[..., None])[..., 0] + Ah[:, :, 2]
        for v in range(1, 5):
            x, y = (int(round(float(t))) for t in px[v])
            hm[v, j, max(y - 4, 0):y + 5, max(x - 4, 0):x + 5] = 0.0
    assert find_roots(HeatmapTriangulation(complete=dict(cluster_joints=0)), s,
                      J[:2]).shape == (0, 3)
    found = find_roots(HeatmapTriangulation(complete=dict()), s, J[:2])
    assert found.shape == (1, 3)
    # the median of the 15 other joints, each lowered by its median height above the
    # mid-hip in the CMU bank: near the mid-hip of a standing person
    root = J[2, [11, 12]].mean(0)
    assert np.linalg.norm(found[0, :2] - root[:2]) < 150.0, (found, root)
    assert abs(found[0, 2] - root[2]) < 250.0, (found, root)
    # 15 joints agree there: a cluster needs cluster_joints of them, not more than 15
    assert find_roots(HeatmapTriangulation(complete=dict(cluster_joints=16)), s,
                      J[:2]).shape == (0, 3)
    with pytest.raises(ValueError, match='cluster_joints >= 0'):
        HeatmapTriangulation(complete=dict(cluster_joints=-1))
    with pytest.raises(ValueError, match="complete joint_set 'shelf14'"):
        HeatmapTriangulation(complete=dict(joint_set='shelf14'))


def test_views_holding_and_the_confirmation_among_held_joints():
    s = scene(people=1, seed=6)
    layer = HeatmapTriangulation(complete=dict())
    cams = s['cameras']                                                   # (1, 5)
    pose = torch.as_tensor(s['joints'][:1])                              # (1, 17, 3)
    held = layer.views_holding(pose, torch.zeros(1, dtype=torch.long), cams)
    assert held.shape == (1, 17) and (held == 5).all()      # everyone sees the centre
    # a joint 40 m up lies outside every image; one 30 m away behind camera 0 only: in
    # front of some cameras and inside at most their images
    far = pose.clone()
    far[0, 0, 2] += 40000.0
    c0 = cams[0, 0]
    centre0 = -(c0.R.transpose(-1, -2) @ c0.t.reshape(3, 1)).reshape(3)
    far[0, 1] = centre0 + (centre0 - torch.as_tensor(CENTER, dtype=torch.float64)) * 10
    held = layer.views_holding(far, torch.zeros(1, dtype=torch.long), cams)
    assert held[0, 0] == 0 and held[0, 1] < 5 and (held[0, 2:] == 5).all()
    # the confirmation: 6 of 17 joints held by two or more views, all triangulated
    P, K = 2, 17
    num_views = torch.zeros(P, K, dtype=torch.long)
    num_views[:, :6] = 3
    hv = torch.ones(P, K, dtype=torch.long)
    hv[:, :6] = 3
    hv[1, 4:6] = 1                   # person 1: only 4 joints held (< min_held 0.3 of 17)
    num_views[1, 4:6] = 0
    refined = dict(poses=torch.stack([pose[0], pose[0] + 3000.0]).float(),
                   num_views=num_views)
    low = torch.ones(P, dtype=torch.bool)
    none = torch.zeros(0, K, 3)
    kw = dict(kept_poses=none, kept_index=torch.zeros(0, dtype=torch.long))
    idx = torch.zeros(P, dtype=torch.long)
    ok = layer.confirmed(refined, idx, low, rule=layer.complete, held=hv, **kw)
    assert ok.tolist() == [True, False]
    # among all joints 6 / 17 < min_joints 0.5: nobody
    ok = layer.confirmed(refined, idx, low, rule=dict(layer.complete, min_joints_of='all'),
                         held=hv, **kw)
    assert ok.tolist() == [False, False]
    # held joints not triangulated do not count: 2 of person 0's 6 -> 4 / 6 still >= 0.5,
    # 4 of them -> 2 / 6 < 0.5
    for n_off, want in ((2, True), (4, False)):
        nv = num_views.clone()
        nv[0, :n_off] = 1
        ok = layer.confirmed(dict(refined, num_views=nv), idx, low, rule=layer.complete,
                             held=hv, **kw)
        assert ok.tolist() == [want, False]
    with pytest.raises(ValueError, match="min_joints_of='held' needs held"):
        layer.confirmed(refined, idx, low, rule=layer.complete, **kw)


@pytest.mark.parametrize('kind,skeleton', [('FasterVoxelPose', None), ('VoxelPose', None),
                                           ('FasterVoxelPose', dict())])
def test_predict_completes_the_people_no_proposal_holds(kind, skeleton):
    model, x, ds, gts = tiny_model_with_batch(kind, complete=dict(), skeleton=skeleton)
    run, rows = model.run, []

    def run_with_one_person(inputs, data_samples, **kw):
        """The detector holds person 0 of each frame only (slot 0, 300 mm off)."""
        r = run(inputs, data_samples, **kw)
        r['proposals'][..., 3] = -1.0
        r['proposals'][:, 0, 3] = 0.0
        for b in range(len(gts)):
            g = gts[b][0]
            r['poses'][b, 0] = torch.as_tensor(g + offsets(g.shape[:1], 300.0, b))
        r['root_volume'] = torch.rand_like(r['root_volume'])
        return r

    def poses_of_nearest_person(result, proposals, meta, input_size):
        """The pose network, replaced: the GT person nearest each new root, 300 mm off
        (random weights would put the joints anywhere)."""
        poses = torch.zeros(proposals.shape[:2] + (17, 3), dtype=torch.float32)
        for b, m in (proposals[..., 3] >= 0).nonzero().tolist():
            rows.append((b, proposals[b, m].clone(), result['root_volume'][b].clone()))
            root = proposals[b, m, :3].double().numpy()
            g = gts[b][np.linalg.norm(gts[b][:, [11, 12]].mean(1) - root, axis=-1).argmin()]
            poses[b, m] = torch.as_tensor(g + offsets(g.shape[:1], 300.0, 7 + b + m))
        return poses

    model.run = run_with_one_person
    model.completion_poses = poses_of_nearest_person
    with torch.no_grad():
        out = [d.pred_instances.clone() for d in model.predict(x, ds)]
        complete, model.refiner.complete = model.refiner.complete, None
        plain = [d.pred_instances.clone() for d in model.predict(x, ds)]
        model.refiner.complete = complete
        if skeleton is not None:
            # the same people; the skeleton step only moves joints onto their own GT joint
            # (here it gives back an eye the refinement put 0.46 m off on these coarse
            # 64 x 48 heatmaps)
            model.refiner.skeleton, n_rows = None, len(rows)
            without = [d.pred_instances.clone() for d in model.predict(x, ds)]
            model.refiner.skeleton = skeleton
            del rows[n_rows:]                  # the rows of the first predict are checked
            gained = 0.0
            for b, (p, q) in enumerate(zip(out, without)):
                assert len(p) == len(q)
                err_p = np.linalg.norm(p.keypoints[:, None] - gts[b][None], axis=-1).min(1)
                err_q = np.linalg.norm(q.keypoints[:, None] - gts[b][None], axis=-1).min(1)
                assert (err_p <= err_q + 1.0).all()
                gained += (err_q - err_p).sum()
            assert gained > 100.0
    assert [len(p) for p in plain] == [1, 1]
    for b in range(len(ds)):
        roots = gts[b][:, [11, 12]].mean(1)
        # every GT person once, refined back onto the views' peaks
        assert len(out[b]) == len(gts[b]) == 1 + sum(r[0] == b for r in rows)
        err = np.linalg.norm(out[b].keypoints[:, None] - gts[b][None], axis=-1)  # (P, G, K)
        match = np.median(err, -1)
        assert sorted(match.argmin(1).tolist()) == list(range(len(gts[b])))
        assert (match.min(1) < 10.0).all(), match
        new = np.arange(len(out[b])) != 0              # slot 0: the detector's person
        # the new people's centres: their roots triangulated from integer peaks of these
        # coarse 64 x 48 heatmaps (a pixel spans ~80 mm at 4 m); score: the root volume
        d = np.linalg.norm(out[b].centers_3d[new][:, None] - roots[None], axis=-1)
        assert (d.min(1) < 150.0).all(), d
    for b, row, vol in rows:
        mod = model.detector if kind == 'FasterVoxelPose' else model.root_net
        size, center, shape = (np.asarray(a, dtype=np.float64)
                               for a in (mod.space_size, mod.space_center, mod.space_shape))
        idx = np.clip(np.round((row[:3].double().numpy() - center + size / 2) / size *
                               (shape - 1)), 0, shape - 1).astype(int)
        assert float(row[4]) == float(vol[tuple(idx[:vol.dim()])])


def test_predict_does_not_complete_a_person_onto_a_kept_persons_hips():
    """The pose net's person at a new root whose hips the refinement puts on a kept
    person's hip peaks (its other joints elsewhere) is a duplicate: not kept."""
    model, x, ds, gts = tiny_model_with_batch('FasterVoxelPose', complete=dict())
    assert all(len(g) >= 2 for g in gts)
    run = model.run

    def run_with_one_person(inputs, data_samples, **kw):
        r = run(inputs, data_samples, **kw)
        r['proposals'][..., 3] = -1.0
        r['proposals'][:, 0, 3] = 0.0
        for b in range(len(gts)):
            r['poses'][b, 0] = torch.as_tensor(gts[b][0])
        return r

    def poses(hips_of):
        def completion_poses(result, proposals, meta, input_size):
            out = torch.zeros(proposals.shape[:2] + (17, 3), dtype=torch.float32)
            for b, m in (proposals[..., 3] >= 0).nonzero().tolist():
                root = proposals[b, m, :3].double().numpy()
                i = np.linalg.norm(gts[b][:, [11, 12]].mean(1) - root, axis=-1).argmin()
                g = gts[b][i].copy()
                if hips_of is not None:
                    g[[11, 12]] = gts[b][hips_of][[11, 12]]
                out[b, m] = torch.as_tensor(g)
            return out
        return completion_poses

    model.run = run_with_one_person
    with torch.no_grad():
        model.completion_poses = poses(None)
        whole = [len(d.pred_instances) for d in model.predict(x, ds)]
        model.completion_poses = poses(0)      # every new person on person 0's hips
        dup = [d.pred_instances for d in model.predict(x, ds)]
    assert whole == [len(g) for g in gts]
    assert [len(p) for p in dup] == [1] * len(gts)
    for b, p in enumerate(dup):         # the kept person (refined on the coarse maps)
        assert np.linalg.norm(p.keypoints[0] - gts[b][0], axis=-1).max() < 10.0


def resolve(layer, s, poses, refined):
    P = poses.shape[0]
    return layer.resolve_skeleton(torch.as_tensor(poses), torch.as_tensor(refined),
                                  torch.zeros(P, dtype=torch.long), s['heatmaps'],
                                  s['cameras'], s['affines'], s['image_sizes'], INP, (11, 12))


def test_skeleton_replaces_the_joints_that_break_a_limb_or_that_two_people_share():
    s = scene(people=4, seed=3)
    J = s['joints']
    layer = HeatmapTriangulation(skeleton=dict())
    est = J.copy()
    ref = np.ones(J.shape[:2], dtype=bool)
    # person 0's left ankle refined onto person 1's (a neighbour's peak), person 2's right
    # wrist 0.9 m off and not refined, person 3's left leg folded 0.7 m up (not refined)
    est[0, 15] = J[1, 15]
    est[2, 10] += np.array([600.0, -300.0, 600.0])
    ref[2, 10] = False
    est[3, [13, 15]] += np.array([0.0, 300.0, 630.0])
    ref[3, [13, 15]] = False
    out = resolve(layer, s, est, ref)
    bad = {(0, 15), (2, 10), (3, 13), (3, 15)}
    moved = {tuple(i) for i in out['moved'].nonzero().tolist()}
    assert moved == bad
    err = np.linalg.norm(out['poses'].numpy() - J, axis=-1)
    assert max(err[p, k] for p, k in bad) < 10.0, err
    keep = np.ones(J.shape[:2], dtype=bool)
    for p, k in bad:
        keep[p, k] = False
    np.testing.assert_array_equal(out['poses'].numpy()[keep], est[keep])
    assert out['refined'].all()
    assert min(int(out['num_views'][p, k]) for p, k in bad) >= 2
    # the refinement alone keeps the neighbour's ankle (the nearest peak is that one)
    before = refine(HeatmapTriangulation(), s, est)['poses'].numpy()
    assert np.linalg.norm(before[0, 15] - J[1, 15]) < 10.0
    # a joint the views do not show stays where it is (nothing to move it to)
    s['heatmaps'][0, :, 10] = 0.0
    out = resolve(layer, s, est, ref)
    assert not out['moved'][2, 10] and np.allclose(out['poses'][2, 10].numpy(), est[2, 10])
    # limb lengths from the CMU bank (train split), breadth-first from the hips
    order = layer.bone_order((11, 12), 17)
    assert [c for c, *_ in order][:4] == [13, 5, 14, 6] and len(order) == 15
    knee_ankle = [o for o in order if o[:2] == (15, 13)][0]
    assert 260 < knee_ankle[2] < 280 and 690 < knee_ankle[3] < 710 and 430 < knee_ankle[4] < 450
    with pytest.raises(ValueError, match='skeleton must be None or a dict'):
        HeatmapTriangulation(skeleton=dict(bone=1.5))
    with pytest.raises(ValueError, match='bone_scale >= 1'):
        HeatmapTriangulation(skeleton=dict(bone_scale=0.5))
    with pytest.raises(ValueError, match="joint_set 'shelf14': the builtin CMU pose bank"):
        HeatmapTriangulation(skeleton=dict(joint_set='shelf14'))
    with pytest.raises(ValueError, match="skeleton joint_set 'panoptic15' has 15 joints"):
        HeatmapTriangulation(skeleton=dict(joint_set='panoptic15')).bone_order((11, 12), 17)


@pytest.mark.parametrize('kind', ['FasterVoxelPose', 'VoxelPose'])
def test_predict_gives_back_a_joint_the_refinement_put_on_a_neighbour(kind):
    model, x, ds, gts = tiny_model_with_batch(kind, skeleton=dict())
    run = model.run

    def run_with_gt(inputs, data_samples, **kw):
        """Slot m holds GT person m exactly; person 0's left ankle sits on person 1's."""
        r = run(inputs, data_samples, **kw)
        r['proposals'][..., 3] = -1.0
        for b in range(len(gts)):
            for m, g in enumerate(gts[b]):
                r['proposals'][b, m, 3] = 0.0
                r['proposals'][b, m, 4] = 1.0
                r['poses'][b, m] = torch.as_tensor(g)
            r['poses'][b, 0, 15] = torch.as_tensor(gts[b][1, 15])
        return r

    model.run = run_with_gt
    with torch.no_grad():
        out = [d.pred_instances.clone() for d in model.predict(x, ds)]
        skeleton, model.refiner.skeleton = model.refiner.skeleton, None
        plain = [d.pred_instances.clone() for d in model.predict(x, ds)]
        model.refiner.skeleton = skeleton
    for b in range(len(ds)):
        g = gts[b]
        assert len(out[b]) == len(plain[b]) == len(g)
        order = np.linalg.norm(out[b].keypoints[:, None] - g[None], axis=-1).mean(-1).argmin(0)
        p, q = out[b].keypoints[order], plain[b].keypoints[order]
        # the refinement alone keeps the neighbour's ankle; the skeleton step gives it back
        # (coarse 64 x 48 test heatmaps: within a few cm)
        assert np.linalg.norm(q[0, 15] - g[1, 15]) < 40.0
        assert np.linalg.norm(p[0, 15] - g[0, 15]) < 40.0
        assert out[b].keypoints_refined[order][0, 15]
        # the other joints: as the refinement left them, or moved onto their own GT joint
        changed = np.linalg.norm(p - q, axis=-1) > 1e-3
        changed[0, 15] = False
        assert (np.linalg.norm(p - g, axis=-1)[changed] < 40.0).all()
