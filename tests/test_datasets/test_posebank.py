"""Pose banks: the shipped compact CMU bank, the VoxelPose pkl, the full CMU npz, errors."""
import json
import pickle

import numpy as np
import pytest

from virtualpose_mm.datasets.joint_sets import coco17_to_panoptic15, coco17_to_virtualpose17
from virtualpose_mm.datasets.datasets.virtual.posebank import (BUILTIN_POSE_BANK,
                                                               BUILTIN_POSE_BANKS, PoseBank,
                                                               PoseBankError, convert_bank,
                                                               load_pose_bank)


def test_builtin_bank():
    bank = load_pose_bank('builtin')
    assert len(bank) == 14183 and bank.joint_set == 'coco17'
    assert bank.poses.dtype == np.float64 and bank.visible.all()
    # z up, floor at 0: ankles 50–80 mm above the floor on a typical pose
    ank = np.median(bank.poses[:, 15:17, 2])
    assert 30 < ank < 120
    assert np.median(bank.poses[:, 0, 2] - ank) > 1200  # nose far above the ankles
    pan = load_pose_bank('builtin', joint_set='panoptic15')
    np.testing.assert_allclose(pan.poses[:, 0], (bank.poses[:, 5] + bank.poses[:, 6]) / 2)
    np.testing.assert_allclose(pan.poses[:, 2], (bank.poses[:, 11] + bank.poses[:, 12]) / 2)
    np.testing.assert_array_equal(pan.poses[:, 14], bank.poses[:, 16])  # r-ankle
    np.testing.assert_array_equal(pan.poses[:, 8], bank.poses[:, 15])   # l-ankle
    info = str(np.load(BUILTIN_POSE_BANK)['info'])
    assert 'mocap.cs.cmu.edu' in info and 'NSF EIA-0196217' in info


def test_builtin_test_split_is_held_out():
    train = load_pose_bank('builtin', split='train')
    test = load_pose_bank('builtin', split='test')
    assert len(test) == 2675 and test.visible.all()
    # whole takes are held out: no clip of the test split is in the train split
    info_tr = json.loads(str(np.load(BUILTIN_POSE_BANKS['train'])['info']))
    info_te = json.loads(str(np.load(BUILTIN_POSE_BANKS['test'])['info']))
    takes_tr = {c['path'] for c in info_tr['clips']}
    takes_te = {c['path'] for c in info_te['clips']}
    assert len(takes_te) == 34 and not takes_tr & takes_te
    assert info_te['split'] == 'test' and 'NSF EIA-0196217' in info_te['attribution']
    # no pose of the test split appears in the train split
    tr = {p.tobytes() for p in np.round(train.poses).astype(np.int16)}
    assert not any(p.tobytes() in tr for p in np.round(test.poses).astype(np.int16))
    both = load_pose_bank('builtin', split='all')
    assert len(both) == len(train) + len(test)
    np.testing.assert_array_equal(both.poses[len(train):], test.poses)
    with pytest.raises(ValueError, match='split'):
        load_pose_bank('builtin', split='val')


def test_banks_in_any_joint_set_a_conversion_reaches():
    bank = load_pose_bank('builtin')
    vp = load_pose_bank('builtin', joint_set='virtualpose17')
    assert vp.joint_set == 'virtualpose17' and len(vp) == len(bank)
    np.testing.assert_array_equal(vp.poses, coco17_to_virtualpose17(bank.poses))
    np.testing.assert_array_equal(vp.clip_id, bank.clip_id)
    conv = convert_bank(bank, 'virtualpose17')
    np.testing.assert_array_equal(conv.poses, vp.poses)
    assert conv.source.endswith('(COCO-17 → VirtualPose-17)')
    assert convert_bank(vp, 'virtualpose17') is vp
    small = PoseBank(bank.poses[:3], joint_set='coco17')
    np.testing.assert_array_equal(convert_bank(small, 'panoptic15').poses,
                                  coco17_to_panoptic15(small.poses))
    with pytest.raises(PoseBankError, match="joint set 'virtualpose17' cannot be converted to "
                                            "'coco17'"):
        convert_bank(vp, 'coco17')
    with pytest.raises(PoseBankError, match="cannot provide joint set 'mupots17'"):
        load_pose_bank('builtin', joint_set='mupots17')


def test_builtin_bank_is_the_train_split_of_the_cmu_bank(shared_data):
    full = shared_data / 'posebank' / 'cmu_mocap_poses.npz'
    train = load_pose_bank(str(full), split='train')
    test = load_pose_bank(str(full), split='test')
    assert (len(train), len(test)) == (14183, 2675)
    ours = load_pose_bank('builtin')
    assert np.abs(ours.poses - train.poses).max() <= 0.5  # int16 mm rounding
    np.testing.assert_array_equal(ours.clip_id, train.clip_id)
    # the derived Panoptic-15 is the bank's own Panoptic-15
    d = np.load(full)
    ours15 = load_pose_bank('builtin', joint_set='panoptic15')
    assert np.abs(ours15.poses - d['panoptic15'][d['split'] == 0]).max() <= 0.5 + 1e-3
    assert len(load_pose_bank(str(full), split='all')) == 16858


def test_voxelpose_pkl_bank(test_data):
    path = test_data / 'mview' / 'panoptic_training_pose.pkl'
    raw = pickle.load(open(path, 'rb'))
    bank = load_pose_bank(str(path))
    assert len(bank) == 3
    np.testing.assert_array_equal(bank.poses[1], raw[1]['pose'])
    np.testing.assert_array_equal(bank.visible, np.stack([r['vis'][:, 0] for r in raw]))
    pan = load_pose_bank(str(path), joint_set='panoptic15')
    np.testing.assert_allclose(pan.poses, coco17_to_panoptic15(bank.poses))
    with pytest.raises(PoseBankError, match="a VoxelPose .pkl pose bank is a training bank"):
        load_pose_bank(str(path), split='test')
    with pytest.raises(PoseBankError, match="weighting='clip' needs clip ids"):
        bank.sampling_weights('clip')


def test_bad_banks_fail_clearly(tmp_path):
    good = load_pose_bank('builtin').poses[:20]
    p = tmp_path / 'metres.npz'
    np.savez(p, coco17=good / 1000.0)
    with pytest.raises(PoseBankError, match=r'metres\.npz: the median vertical \(z\) extent'):
        load_pose_bank(str(p), split='all')
    p = tmp_path / 'yup.npz'
    np.savez(p, coco17=good[..., [0, 2, 1]])
    with pytest.raises(PoseBankError, match='millimetres with z pointing up'):
        load_pose_bank(str(p), split='all')
    p = tmp_path / 'nosplit.npz'
    np.savez(p, coco17=good)
    with pytest.raises(PoseBankError, match="split='train' requested but the file has no "
                                            "field 'split'"):
        load_pose_bank(str(p))
    p = tmp_path / 'shape.npz'
    np.savez(p, coco17=good[:, :15])
    with pytest.raises(PoseBankError, match=r"field 'coco17' has shape \(20, 15, 3\)"):
        load_pose_bank(str(p), split='all')
    p = tmp_path / 'bad.pkl'
    pickle.dump([{'pose': good[0], 'vis': np.ones((17, 3), bool)}, {'vis': 1}], open(p, 'wb'))
    with pytest.raises(PoseBankError, match=r"bad\.pkl: entry \[1\] has no field 'pose'"):
        load_pose_bank(str(p))
    with pytest.raises(FileNotFoundError, match='pose bank not found'):
        load_pose_bank(str(tmp_path / 'none.pkl'))
    p = tmp_path / 'only15.npz'
    np.savez(p, panoptic15=coco17_to_panoptic15(good))
    with pytest.raises(PoseBankError, match="cannot provide joint set 'coco17'"):
        load_pose_bank(str(p), split='all')
