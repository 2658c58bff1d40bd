"""MuPoTS prediction export (``.mat`` for the official MATLAB code) and the readers."""
import os

import numpy as np
import pytest
import scipy.io

from virtualpose_mm.evaluation.functional import (evaluate_mupots, load_mupots_predictions,
                                                  load_mupots_sequence,
                                                  mupots_frames_from_arrays)
from virtualpose_mm.evaluation.mupots_export import save_mupots_predictions


def test_round_trip_through_official_layout(tmp_path):
    rng = np.random.default_rng(0)
    preds = {
        'TS1_img_000000': (rng.normal(size=(2, 17, 2)), rng.normal(size=(2, 17, 3))),
        'TS1_img_000001': (rng.normal(size=(1, 17, 2)), rng.normal(size=(1, 17, 3))),
        'TS2_img_000004': (np.zeros((0, 17, 2)), np.zeros((0, 17, 3))),
    }
    paths = save_mupots_predictions(str(tmp_path), preds)
    assert os.path.basename(paths['2d']) == 'preds_2d_kpt_mupots.mat'
    assert sorted(os.listdir(tmp_path)) == ['preds_2d_kpt_mupots.mat',
                                            'preds_3d_kpt_mupots.mat']  # no temp files left
    # what MATLAB's load sees: one float64 variable per image, N×17×k, empty 0×17×k
    raw = scipy.io.loadmat(paths['3d'])
    assert raw['TS1_img_000001'].shape == (1, 17, 3)
    assert raw['TS1_img_000001'].dtype == np.float64
    assert raw['TS2_img_000004'].shape == (0, 17, 3)
    back = load_mupots_predictions(str(tmp_path))
    assert sorted(back) == sorted(preds)
    for k, (p2, p3) in preds.items():
        np.testing.assert_array_equal(back[k][0], p2)
        np.testing.assert_array_equal(back[k][1], p3)


def test_export_rejects_bad_input(tmp_path):
    ok = (np.zeros((1, 17, 2)), np.zeros((1, 17, 3)))
    with pytest.raises(ValueError, match='not an official MuPoTS image key'):
        save_mupots_predictions(str(tmp_path), {'TS1_img_1': ok})
    with pytest.raises(ValueError, match=r'\(N, 17, 3\)'):
        save_mupots_predictions(str(tmp_path), {'TS1_img_000000': (ok[0], np.zeros((1, 15, 3)))})
    with pytest.raises(ValueError, match='2 people in 2D but 1 in 3D'):
        save_mupots_predictions(str(tmp_path),
                                {'TS1_img_000000': (np.zeros((2, 17, 2)), ok[1])})
    assert not os.listdir(tmp_path)


def _write_sequence(folder, annot2, annot3, valid, occl):
    """Write an annot.mat / occlusion.mat pair in the real MuPoTS layout."""
    n_f, n_p = valid.shape
    dt = [('annot2', 'O'), ('annot3', 'O'), ('univ_annot3', 'O'), ('isValidFrame', 'O')]
    cell = np.empty((n_f, n_p), dtype=object)
    occ = np.empty((n_f, n_p), dtype=object)
    for f in range(n_f):
        for p in range(n_p):
            s = np.empty((1, 1), dtype=dt)
            s['annot2'][0, 0] = annot2[f, p].T
            s['annot3'][0, 0] = annot3[f, p].T
            s['univ_annot3'][0, 0] = annot3[f, p].T
            s['isValidFrame'][0, 0] = np.array([[float(valid[f, p])]])
            cell[f, p] = s
            occ[f, p] = occl[f, p][None]
    os.makedirs(folder, exist_ok=True)
    scipy.io.savemat(os.path.join(folder, 'annot.mat'), {'annotations': cell})
    scipy.io.savemat(os.path.join(folder, 'occlusion.mat'), {'occlusion_labels': occ})


def test_exported_predictions_evaluate_against_written_annotations(
        tmp_path, mupots_person, mupots_project):
    a = np.stack([np.stack([mupots_person([-700, 0, 4000 + 10 * f], 1),
                            mupots_person([700, 0, 4500], 2)]) for f in range(3)])
    valid = np.array([[True, True], [True, False], [False, False]])
    occl = np.zeros((3, 2, 17))
    occl[0, 0, :5] = 1
    _write_sequence(str(tmp_path / 'gt' / 'TS1'), mupots_project(a), a, valid, occl)
    seq = load_mupots_sequence(str(tmp_path / 'gt' / 'TS1'))
    assert seq['name'] == 'TS1'
    np.testing.assert_array_equal(seq['is_valid'], valid)
    np.testing.assert_allclose(seq['univ_annot3'], a)
    np.testing.assert_array_equal(seq['occlusion'], occl)
    # frame 0: both perfect (listed in reverse); frame 1: person 0 off by 300 mm in depth
    preds = {'TS1_img_000000': (mupots_project(a[0, ::-1]), a[0, ::-1]),
             'TS1_img_000001': (mupots_project(a[1, :1]), a[1, :1] + [0, 0, 300.0]),
             'TS1_img_000002': (np.zeros((0, 17, 2)), np.zeros((0, 17, 3)))}
    save_mupots_predictions(str(tmp_path / 'pred'), preds)
    loaded = load_mupots_predictions(str(tmp_path / 'pred'))
    frames = mupots_frames_from_arrays(
        seq['annot2'], seq['univ_annot3'], seq['is_valid'], seq['occlusion'],
        {int(k[-6:]): v for k, v in loaded.items()}, 'TS1')
    out = evaluate_mupots([frames])
    assert out['all_relative']['pck'][0, -1] == pytest.approx(100.0)
    assert out['all_absolute']['pck'][0, -1] == pytest.approx(200 / 3)
    assert out['all_absolute']['annotated_people'][0] == 3
    assert [list(m) if m is not None else None for m in out['all_absolute']['matching'][0]] == \
        [[1, 0], [0], None]
    # the occluded-joints table counts exactly the 5 labelled joints
    assert out['all_relative']['occluded_joints']['joint_count'][0] == 5
