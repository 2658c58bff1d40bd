"""Joint sets and conversions (``virtualpose_mm.datasets.joint_sets``)."""
import numpy as np
import pytest
import torch

from virtualpose_mm.datasets import joint_sets as js


def test_sets_are_consistent():
    for name, s in js.JOINT_SETS.items():
        assert js.get_joint_set(name) is s
        flip = s.flip_indices()
        assert sorted(flip) == list(range(s.num_joints))  # a permutation
        assert all(flip[flip[i]] == i for i in range(s.num_joints))  # an involution
        meta = js.to_mmpose_metainfo(s)
        assert len(meta['keypoint_info']) == s.num_joints
        assert len(meta['skeleton_info']) == len(s.skeleton)
        for i, info in meta['keypoint_info'].items():
            if info['swap']:
                assert s.joint_names[flip[i]] == info['swap']
    assert js.PANOPTIC15.root == 2 and js.VIRTUALPOSE17.root == 2 and js.MUPOTS17.root == 14
    with pytest.raises(ValueError, match='unknown joint set'):
        js.get_joint_set('h36m')


def test_virtualpose_mupots_orders():
    vp = js.VIRTUALPOSE17.joint_names
    mp = js.MUPOTS17.joint_names
    assert vp[:3] == ('neck', 'headtop', 'mid-hip') and vp[15:] == ('spine', 'head')
    assert mp[:2] == ('Head_top', 'Thorax') and mp[14] == 'Pelvis'
    x = np.arange(17 * 2, dtype=float).reshape(17, 2)
    m = js.virtualpose17_to_mupots17(x)
    np.testing.assert_array_equal(m[0], x[1])   # Head_top <- headtop
    np.testing.assert_array_equal(m[1], x[0])   # Thorax <- neck
    np.testing.assert_array_equal(m[2], x[9])   # R_Shoulder <- r-shoulder
    np.testing.assert_array_equal(m[14], x[2])  # Pelvis <- mid-hip
    np.testing.assert_array_equal(m[16], x[16])  # Head <- head
    np.testing.assert_array_equal(js.mupots17_to_virtualpose17(m), x)
    t = torch.randn(2, 3, 17, 3)
    assert torch.equal(js.mupots17_to_virtualpose17(js.virtualpose17_to_mupots17(t)), t)
    muco = np.random.default_rng(0).normal(size=(4, 21, 3))
    np.testing.assert_array_equal(js.muco21_to_virtualpose17(muco),
                                  js.mupots17_to_virtualpose17(muco[:, :17]))
    with pytest.raises(ValueError, match=r'\(\.\.\., 17, C\)'):
        js.virtualpose17_to_mupots17(np.zeros((15, 3)))


def test_mupots_tree_is_the_official_one():
    parents = js.MUPOTS17_PARENTS
    names = js.MUPOTS17.joint_names
    assert names[parents[names.index('Head_top')]] == 'Thorax'
    assert names[parents[names.index('Head')]] == 'Thorax'
    assert names[parents[names.index('Spine')]] == 'Pelvis'
    assert names[parents[names.index('Thorax')]] == 'Spine'
    # the traversal visits every joint but the root, each after its parent
    order = js.MUPOTS17_TRAVERSAL
    assert sorted(order) == [j for j in range(17) if j != 14]
    seen = {14}
    for j in order:
        assert parents[j] in seen
        seen.add(j)


def _coco_pose():
    rng = np.random.default_rng(1)
    return rng.uniform(-500, 500, (17, 3))


def test_coco_to_shelf14_body_and_campus_head():
    c = _coco_pose()
    s = js.coco17_to_shelf14(c, head='campus')
    assert s.shape == (14, 3)
    np.testing.assert_array_equal(s[:12], c[[16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9]])
    mid_ear = (c[3] + c[4]) / 2
    hb = ((c[5] + c[6]) / 2 + mid_ear) / 2
    np.testing.assert_allclose(s[12], hb)
    np.testing.assert_allclose(s[13], hb + 2 * (mid_ear - hb))


def test_coco_to_shelf14_shelf_head():
    c = np.zeros((17, 3))
    c[5], c[6] = [-200, 0, 1400], [200, 0, 1400]  # mid-shoulder (0, 0, 1400)
    c[0] = [0, 100, 1600]  # nose
    c[3], c[4] = [-80, 0, 1600], [80, 0, 1600]  # ears: mid (0, 0, 1600)
    s = js.coco17_to_shelf14(c, head='shelf')
    hb = np.array([0, 0, 1500.0])
    ht = np.array([0, 0, 1700.0])
    top = np.array([0, 75, 1400 + 1.5 * 200])  # m + (n - m) * (.75, .75, 1.5)
    bottom = np.array([0, 50, 1500.0])  # m + (n - m) * .5
    np.testing.assert_allclose(s[13], 0.75 * top + 0.25 * ht)
    np.testing.assert_allclose(s[12], 0.75 * bottom + 0.25 * hb)
    # batched numpy and torch agree
    batch = np.stack([c, _coco_pose()])
    np.testing.assert_allclose(js.coco17_to_shelf14(torch.from_numpy(batch)).numpy(),
                               js.coco17_to_shelf14(batch))
    with pytest.raises(ValueError, match="'shelf' or 'campus'"):
        js.coco17_to_shelf14(c, head='panoptic')


def test_coco17_conversions_with_visibility():
    rng = np.random.default_rng(0)
    coco = rng.normal(size=(3, 17, 3)) * 100
    vis = np.ones((3, 17), bool)
    vis[0, 6] = False                                  # right shoulder unseen → no neck
    vis[1, 3] = False                                  # left ear unseen → no head
    pan, pvis = js.coco17_to_panoptic15(coco, vis)
    np.testing.assert_array_equal(pan, js.coco17_to_panoptic15(coco))
    np.testing.assert_allclose(pan[:, 0], (coco[:, 5] + coco[:, 6]) / 2)
    np.testing.assert_allclose(pan[:, 2], (coco[:, 11] + coco[:, 12]) / 2)
    assert pvis.shape == (3, 15) and not pvis[0, 0] and not pvis[0, 9] and pvis[0, 3]
    assert pvis[1].all()                               # Panoptic-15 has no ears
    vp, vvis = js.coco17_to_virtualpose17(coco, vis)
    assert not vvis[0, 0] and not vvis[0, 15] and not vvis[1, 16] and not vvis[1, 1]
    np.testing.assert_allclose(js.root_of(vp, 'virtualpose17'), js.root_of(coco, 'coco17'))
    np.testing.assert_allclose(js.root_of(pan, 'panoptic15'), js.root_of(coco, 'coco17'))
    shelf = js.coco17_to_shelf14(coco)
    np.testing.assert_allclose(js.root_of(shelf, 'shelf14'), js.root_of(coco, 'coco17'))
    with pytest.raises(ValueError, match=r"coco17_to_virtualpose17: expected \(\.\.\., 17, 3\)"):
        js.coco17_to_virtualpose17(coco[:, :15])


def test_convert_joints_dispatches_every_known_conversion():
    rng = np.random.default_rng(1)
    coco = rng.normal(size=(2, 17, 3))
    vis = rng.random((2, 17)) > 0.2
    np.testing.assert_array_equal(js.convert_joints(coco, 'coco17', 'panoptic15'),
                                  js.coco17_to_panoptic15(coco))
    out, v = js.convert_joints(coco, 'coco17', 'virtualpose17', visible=vis)
    ref, rv = js.coco17_to_virtualpose17(coco, vis)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(v, rv)
    muco = rng.normal(size=(2, 21, 3))
    np.testing.assert_array_equal(js.convert_joints(muco, 'muco21', 'virtualpose17'),
                                  js.muco21_to_virtualpose17(muco))
    _, mv = js.convert_joints(muco, 'muco21', 'mupots17', visible=np.ones((2, 21), bool))
    assert mv.shape == (2, 17)
    vp = rng.normal(size=(17, 2))
    np.testing.assert_array_equal(
        js.convert_joints(js.convert_joints(vp, 'virtualpose17', 'mupots17'), 'mupots17',
                          'virtualpose17'), vp)
    assert js.convert_joints(vp, 'virtualpose17', 'virtualpose17') is vp
    # CMU Panoptic coco19 → Panoptic-15: the first 15 joints (eyes and ears dropped)
    p19 = rng.normal(size=(2, 19, 3))
    out, v = js.convert_joints(p19, 'panoptic19', 'panoptic15', visible=p19[..., 0] > 0)
    np.testing.assert_array_equal(out, p19[:, :15])
    np.testing.assert_array_equal(v, p19[:, :15, 0] > 0)
    assert js.PANOPTIC19.joint_names[:15] == js.PANOPTIC15.joint_names
    assert js.can_convert('coco17', 'virtualpose17')
    assert not js.can_convert('panoptic15', 'coco17')
    with pytest.raises(ValueError, match="no conversion from joint set 'panoptic15' to "
                                         "'coco17'"):
        js.convert_joints(np.zeros((15, 3)), 'panoptic15', 'coco17')
    with pytest.raises(ValueError, match=r'expected \(\.\.\., 17, C\)'):
        js.convert_joints(np.zeros((15, 3)), 'coco17', 'panoptic15')
    with pytest.raises(ValueError, match='has no root joint'):
        js.root_of(np.zeros((17, 3)), js.JointSet('none', ('a', 'b'), (), ()))


def test_conversions_live_in_joint_sets_and_the_old_paths_still_work():
    from virtualpose_mm.datasets import posebank, virtual_agr
    import virtualpose_mm.datasets as datasets
    from virtualpose_mm.datasets.datasets.virtual import posebank as new_posebank
    assert posebank is new_posebank      # an old module path is the module at its new path
    assert posebank.coco17_to_panoptic15 is js.coco17_to_panoptic15
    assert posebank.root_of is js.root_of
    assert virtual_agr.coco17_to_virtualpose17 is js.coco17_to_virtualpose17
    assert datasets.coco17_to_virtualpose17 is js.coco17_to_virtualpose17
    assert virtual_agr.HEADTOP_EXTENSION == js.HEADTOP_EXTENSION == 0.5
