"""Readers of the published formats for VirtualPose: MuCo-3DHP, MuPoTS-3D (json +
cameras.pkl), CMU Panoptic monocular (HMOR pickles merged with the calibration).

The fixtures are written in tmp_path in each format, from known world-frame people and
cameras, so every reader must give back exactly those people and cameras."""
import json
import pickle
import shutil
import sys

import numpy as np
import pytest

import virtualpose_mm  # noqa: F401
from virtualpose_mm.datasets import (DatasetError, MuCo3DHPDataset, MuPoTS3DDataset,
                                     PanopticMonoDataset, VirtualPoseSceneDataset)
from virtualpose_mm.datasets.joint_sets import virtualpose17_to_mupots17
from virtualpose_mm.datasets.datasets.monocular.panoptic_mono import convert_hmor, panoptic_activity
from virtualpose_mm.datasets.datasets.virtual.virtual_agr import load_virtualpose_pose_bank
from virtualpose_mm.datasets.datasets.virtual.virtual_cameras import FixedCameraSampler
from virtualpose_mm.geometry.camera import Camera
from virtualpose_mm.geometry.camera_io import (load_mupots_extrinsics,
                                               load_panoptic_calibration,
                                               panoptic_joints_to_world)
from tests.fixtures.dataset_files import _people, make_muco


# ----------------------------------------------------------------------------- MuCo-3DHP
def test_muco_reader_gives_back_the_world_people_and_cameras(tmp_path):
    truth = make_muco(tmp_path / 'MuCo-3DHP.json')
    ds = MuCo3DHPDataset(data_root=str(tmp_path), ann_file='MuCo-3DHP.json')
    assert len(ds) == 3
    for i, (cam, X) in enumerate(truth):
        info = ds.get_data_info(i)
        np.testing.assert_allclose(info['gt_keypoints_3d'], X, atol=1e-6)
        np.testing.assert_allclose(info['camera'].R, cam.R, atol=1e-12)
        np.testing.assert_allclose(info['camera'].t, cam.t, atol=1e-9)
        np.testing.assert_allclose(info['image_size'], [2048, 2048])
        assert info['img_path'].endswith(f'images/augmented_set/{i}_00000{i}.jpg')
        assert info['gt_keypoints_3d_visible'].all()
        assert info['seq_name'] == 'augmented_set' and info['frame_id'] == 10 + i


def test_muco_as_pose_source_and_camera_source(tmp_path):
    truth = make_muco(tmp_path / 'MuCo-3DHP.json')
    path = str(tmp_path / 'MuCo-3DHP.json')
    bank = load_virtualpose_pose_bank(path, 'virtualpose17', muco_floor='ankle')
    all_people = np.concatenate([X for _, X in truth])
    assert len(bank) == len(all_people)
    np.testing.assert_allclose(bank.poses[..., [8, 14], 2].min(1), 80.0)    # on the floor
    np.testing.assert_allclose(bank.poses[..., :2], all_people[..., :2], atol=1e-6)
    world = load_virtualpose_pose_bank(path, 'virtualpose17', muco_floor='world')
    np.testing.assert_allclose(world.poses, all_people, atol=1e-6)
    with pytest.raises(DatasetError, match='no nose'):
        load_virtualpose_pose_bank(path, 'panoptic15')
    sampler = FixedCameraSampler(path, choice='cycle')
    cam, p = sampler.sample(None, index=1)
    np.testing.assert_allclose(cam.R, truth[1][0].R, atol=1e-12)
    assert p['name'] == '11'
    # the released MuCo setting: MuCo cameras + MuCo poses, 2 people each
    ds = VirtualPoseSceneDataset(pose_bank=path, muco_floor='world', num_samples=3,
                                 cameras=dict(type='FixedCameraSampler', calibration=path,
                                              choice='cycle'),
                                 num_people=(2, 2), replace=False, person_in_view=False,
                                 placement_area=((-2000, 2000), (-2000, 2000)))
    info = ds.get_data_info(2)
    np.testing.assert_allclose(info['camera'].R, truth[2][0].R, atol=1e-12)
    assert 1 <= len(info['gt_keypoints_3d']) <= 2


def test_muco_bad_files_name_the_file_and_field(tmp_path):
    make_muco(tmp_path / 'MuCo-3DHP.json', n_images=2)
    data = json.loads((tmp_path / 'MuCo-3DHP.json').read_text())
    bad = dict(data, annotations=[dict(a) for a in data['annotations']])
    del bad['annotations'][1]['keypoints_cam']
    (tmp_path / 'a.json').write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"a\.json: annotations\[1\]: missing field "
                                           r"'keypoints_cam'"):
        MuCo3DHPDataset(ann_file=str(tmp_path / 'a.json'))
    bad = dict(data, annotations=[dict(a) for a in data['annotations']])
    bad['annotations'][0]['image_id'] = 999
    (tmp_path / 'b.json').write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"b\.json: annotations\[0\]: field 'image_id' = "
                                           '999 names no image'):
        MuCo3DHPDataset(ann_file=str(tmp_path / 'b.json'))
    bad = dict(data, images=[dict(i) for i in data['images']])
    bad['images'][1]['R'] = [1, 2, 3]
    (tmp_path / 'c.json').write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"c\.json: images\[1\].*'R'"):
        MuCo3DHPDataset(ann_file=str(tmp_path / 'c.json'))
    (tmp_path / 'd.json').write_text('{"images": []')
    with pytest.raises(DatasetError, match=r'd\.json: not a readable json'):
        MuCo3DHPDataset(ann_file=str(tmp_path / 'd.json'))
    with pytest.raises(DatasetError, match="MuCo3DHPDataset: MuCo-3DHP has no nose joint, so "
                                           "it cannot provide joint set 'panoptic15'"):
        MuCo3DHPDataset(ann_file=str(tmp_path / 'MuCo-3DHP.json'), joint_set='panoptic15')


# ----------------------------------------------------------------------------- MuPoTS-3D
def make_mupots(root, test_data, seed=0):
    """TS1 (a det −1 camera in cameras.pkl) with 2 frames, TS2 with 1 frame; in TS1 frame 1
    person 2 is invalid."""
    shutil.copy(test_data / 'mupots' / 'cameras.pkl', root / 'cameras.pkl')
    extr = load_mupots_extrinsics(root / 'cameras.pkl')
    images, anns, truth = [], [], {}
    spec = [('TS1', 0, (2048, 2048), [1497.7, 1497.1, 1024.7, 1051.4], 2),
            ('TS1', 1, (2048, 2048), [1497.7, 1497.1, 1024.7, 1051.4], 3),
            ('TS2', 0, (1920, 1080), [1400.0, 1401.0, 960.0, 540.0], 2)]
    for k, (seq, frame, size, intr, n) in enumerate(spec):
        e = extr[seq]
        cam = Camera(e['R'], e['t'].reshape(3), intr[:2], intr[2:], None, size)
        X = _people(cam, n, seed + k)
        Xc = cam.world_to_camera(X.reshape(-1, 3)).reshape(X.shape)
        uv = cam.project(X.reshape(-1, 3)).reshape(X.shape[:2] + (2, ))
        images.append(dict(id=k, file_name=f'{seq}/img_{frame:06d}.jpg', width=size[0],
                           height=size[1], intrinsic=intr))
        valid = [True] * n
        if n == 3:
            valid[2] = False
        for p in range(n):
            anns.append(dict(id=len(anns), image_id=k,
                             keypoints_cam=virtualpose17_to_mupots17(Xc[p]).tolist(),
                             keypoints_img=virtualpose17_to_mupots17(uv[p]).tolist(),
                             is_valid=int(valid[p]), bbox=[0, 0, 1, 1]))
        truth[(seq, frame)] = (cam, X[np.array(valid)])
    (root / 'MuPoTS-3D.json').write_text(json.dumps(dict(images=images, annotations=anns)))
    return truth


def test_mupots_reader_world_is_the_ground_frame_by_default(tmp_path, test_data):
    truth = make_mupots(tmp_path, test_data)
    ds = MuPoTS3DDataset(data_root=str(tmp_path))
    assert ds.ground_center_on_gt is False
    import inspect
    assert inspect.signature(MuPoTS3DDataset).parameters['ground_center_on_gt'].default \
        is False
    assert len(ds) == 3
    for i in range(3):
        info = ds.get_data_info(i)
        cam, X = truth[(info['seq_name'], info['frame_id'])]
        np.testing.assert_allclose(info['gt_keypoints_3d'], X, atol=1e-6)
        np.testing.assert_allclose(info['camera'].t, cam.t)
        assert info['ground_center_shift'] is None
        # the ground frame: the camera is 0.5–3 m above the floor, the people on it
        assert 500 < info['camera'].center[2] < 3000
        assert abs(info['gt_keypoints_3d'][:, :, 2].min()) < 200
    info = ds.get_data_info(1)
    assert (info['seq_name'], info['frame_id'], info['num_invalid_people']) == ('TS1', 1, 1)
    assert len(info['gt_keypoints_3d']) == 2
    assert info['img_path'].endswith('images/TS1/img_000001.jpg')


def test_mupots_ground_centring_on_gt_is_opt_in(tmp_path, test_data):
    make_mupots(tmp_path, test_data)
    plain = MuPoTS3DDataset(data_root=str(tmp_path))
    leak = MuPoTS3DDataset(data_root=str(tmp_path), ground_center_on_gt=True)
    for i in range(3):
        a, b = plain.get_data_info(i), leak.get_data_info(i)
        roots = b['gt_keypoints_3d'][:, 2]
        np.testing.assert_allclose(roots[:, :2].mean(0), 0.0, atol=1e-6)
        np.testing.assert_allclose(b['gt_keypoints_3d'][..., 2], a['gt_keypoints_3d'][..., 2]
                                   + 50.0, atol=1e-6)
        # the same pixels: only the world frame moved
        Xa, Xb = a['gt_keypoints_3d'].reshape(-1, 3), b['gt_keypoints_3d'].reshape(-1, 3)
        np.testing.assert_allclose(b['camera'].project(Xb), a['camera'].project(Xa), atol=1e-6)
        assert b['ground_center_shift'] is not None


def test_mupots_bad_files_name_the_file_and_field(tmp_path, test_data):
    make_mupots(tmp_path, test_data)
    data = json.loads((tmp_path / 'MuPoTS-3D.json').read_text())
    bad = json.loads(json.dumps(data))
    bad['images'][2]['file_name'] = 'TS99/img_000000.jpg'
    (tmp_path / 'a.json').write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"a\.json: images\[2\]: sequence TS99 .*"
                                           r'cameras\.pkl'):
        MuPoTS3DDataset(data_root=str(tmp_path), ann_file='a.json')
    bad = json.loads(json.dumps(data))
    del bad['annotations'][3]['is_valid']
    (tmp_path / 'b.json').write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"b\.json: annotations\[3\]: missing field "
                                           "'is_valid'"):
        MuPoTS3DDataset(data_root=str(tmp_path), ann_file='b.json')
    bad = json.loads(json.dumps(data))
    bad['annotations'][0]['keypoints_cam'] = bad['annotations'][0]['keypoints_cam'][:16]
    (tmp_path / 'c.json').write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"c\.json: annotations\[0\]: field "
                                           r"'keypoints_cam' has shape \(16, 3\)"):
        MuPoTS3DDataset(data_root=str(tmp_path), ann_file='c.json')
    bad = json.loads(json.dumps(data))
    del bad['images'][0]['intrinsic']
    (tmp_path / 'd.json').write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"d\.json: images\[0\]: missing field "
                                           "'intrinsic'"):
        MuPoTS3DDataset(data_root=str(tmp_path), ann_file='d.json')
    with pytest.raises(DatasetError, match=r'nope\.pkl: camera file not found'):
        MuPoTS3DDataset(data_root=str(tmp_path), camera_file='nope.pkl')


def test_mupots_samples_feed_the_mupots_metric(tmp_path, test_data):
    """Packed MuPoTS samples carry what MuPoTSPCKMetric reads (seq_name, frame_id, camera),
    and a perfect prediction in the world frame comes back as the json's camera-frame GT."""
    from virtualpose_mm.evaluation.metrics import MuPoTSPCKMetric
    make_mupots(tmp_path, test_data)
    ds = MuPoTS3DDataset(data_root=str(tmp_path), pipeline=[
        dict(type='GenerateVirtualPoseAGR'), dict(type='PackVirtualPoseInputs')])
    data = json.loads((tmp_path / 'MuPoTS-3D.json').read_text())
    metric = MuPoTSPCKMetric()
    samples = []
    for i in range(len(ds)):
        s = ds[i]['data_samples']
        from mmengine.structures import InstanceData
        pred = InstanceData()
        pred.keypoints = s.gt_instances.lifting_target.astype(np.float64)
        pred.bbox_scores = np.ones(len(pred.keypoints))
        s.pred_instances = pred
        valid = [a for a in data['annotations'] if a['image_id'] == i and a['is_valid']]
        s.gt_instances.mupots_annot2 = np.array([a['keypoints_img'] for a in valid])
        s.gt_instances.mupots_univ_annot3 = np.array([a['keypoints_cam'] for a in valid])
        samples.append(s.to_dict())
    metric.process({}, samples)
    for r, s in zip(metric.results, samples):
        np.testing.assert_allclose(r['pred_3d'], r['gt_3d'], atol=0.05)
        np.testing.assert_allclose(r['pred_2d'], r['gt_2d'], atol=1e-3)
    assert metric.compute_metrics(metric.results)['all_absolute/PCK'] == pytest.approx(100)


# ----------------------------------------------------------------------------- Panoptic
def make_hmor(tmp_path, test_data):
    """HMOR clean_{train,valid}.pkl for 160906_band1 (cameras 00_03, 00_12) from the
    Panoptic body3DScene fixtures, and the Panoptic root with the calibration."""
    src = test_data / 'panoptic_body3d' / '160906_band1'
    root = tmp_path / 'data'
    (root / '160906_band1').mkdir(parents=True)
    calib = root / '160906_band1' / 'calibration_160906_band1.json'
    shutil.copy(src / 'calibration_160906_band1.json', calib)
    cams = load_panoptic_calibration(calib, cameras=['00_03', '00_12'])
    K = {c['name']: c['K'] for c in json.loads(calib.read_text())['cameras']}
    splits, truth = {}, {}
    for split, frame in (('train', '00000168'), ('valid', '00000169')):
        body = json.loads((src / 'hdPose3d_stage1_coco19' /
                           f'body3DScene_{frame}.json').read_text())
        X, V = [], []
        for b in body['bodies']:
            j, conf = panoptic_joints_to_world(b['joints19'])
            X.append(j[:15])
            V.append(conf[:15] > 0.1)
        X, V = np.stack(X), np.stack(V)
        terms = []
        for name, cam in cams.items():
            Xc = cam.world_to_camera(X.reshape(-1, 3)).reshape(X.shape) / 10.0   # cm
            terms.append(dict(image_name=f'160906_band1/hdImgs/{name}/{name}_{frame}.jpg',
                              joints_3d_cam=Xc, joints_3d_vis=np.repeat(V[..., None], 3, -1),
                              intrinsics=np.array(K[name])))
            truth[(split, name)] = (cam, X, V)
        with open(tmp_path / f'clean_{split}.pkl', 'wb') as f:
            pickle.dump(terms, f)
        splits[split] = str(tmp_path / f'clean_{split}.pkl')
    return splits, root, truth


def test_hmor_conversion_and_panoptic_mono_reader(tmp_path, test_data):
    splits, root, truth = make_hmor(tmp_path, test_data)
    sys.path.insert(0, str(test_data.parents[1]))
    from tools.dataset_converters.panoptic_mono_hmor import main
    out = tmp_path / 'panoptic_mono_hmor.pkl'
    main([str(tmp_path), str(root), '--out', str(out)])
    for split in ('train', 'valid'):
        ds = PanopticMonoDataset(ann_file=str(out), split=split, data_root=str(tmp_path),
                                 img_prefix='data')
        assert len(ds) == 2
        for i in range(2):
            info = ds.get_data_info(i)
            cam, X, V = truth[(split, info['camera_name'])]
            np.testing.assert_allclose(info['gt_keypoints_3d'], X, atol=1e-6)
            np.testing.assert_array_equal(info['gt_keypoints_3d_visible'], V)
            np.testing.assert_allclose(info['camera'].R, cam.R)
            np.testing.assert_allclose(info['camera'].dist, cam.dist)
            assert info['seq_name'] == '160906_band1'
            assert info['img_path'].endswith(f'data/160906_band1/hdImgs/{info["camera_name"]}/'
                                             f'{info["camera_name"]}_{info["frame_id"]:08d}.jpg')
    nodist = PanopticMonoDataset(ann_file=str(out), split='valid', use_distortion=False,
                                 cameras=['00_12'])
    assert len(nodist) == 1 and not nodist.get_data_info(0)['camera'].dist.any()
    assert panoptic_activity('160422_haggling1') == 'haggling'
    assert panoptic_activity('160906_pizza1') == 'pizza'


def test_hmor_intrinsics_override_and_bad_files(tmp_path, test_data):
    splits, root, truth = make_hmor(tmp_path, test_data)
    terms = pickle.load(open(splits['train'], 'rb'))
    terms[0]['intrinsics'] = terms[0]['intrinsics'] * np.array([[1.01, 1, 1], [1, 1.01, 1],
                                                               [1, 1, 1]])
    p = tmp_path / 'k.pkl'
    pickle.dump(terms, open(p, 'wb'))
    data = convert_hmor({'train': str(p)}, str(root), intrinsics='hmor')
    cam = data['cameras']['160906_band1/00_03']
    np.testing.assert_allclose(cam['f'][0], truth[('train', '00_03')][0].f[0] * 1.01)
    data = convert_hmor({'train': str(p)}, str(root), intrinsics='calibration')
    np.testing.assert_allclose(data['cameras']['160906_band1/00_03']['f'],
                               truth[('train', '00_03')][0].f)

    def bad(mutate, match, panoptic_root=root):
        t = pickle.load(open(splits['train'], 'rb'))
        mutate(t)
        q = tmp_path / 'bad.pkl'
        pickle.dump(t, open(q, 'wb'))
        with pytest.raises(DatasetError, match=match):
            convert_hmor({'train': str(q)}, str(panoptic_root))

    bad(lambda t: t[1].pop('image_name'), r"bad\.pkl: \[1\]: missing field 'image_name'")
    bad(lambda t: t[0].update(joints_3d_cam=np.zeros((2, 14, 3))),
        r"bad\.pkl: \[0\]: field 'joints_3d_cam' has shape \(2, 14, 3\)")
    bad(lambda t: t[0].update(image_name='160906_band1/hdImgs/00_99/00_99_00000168.jpg'),
        r"00_99")
    bad(lambda t: t[0].update(image_name='x.jpg'), r"field 'image_name' = 'x\.jpg'")
    bad(lambda t: None, r'no calibration for sequence', panoptic_root=tmp_path / 'nowhere')
    with open(tmp_path / 'wrong.pkl', 'wb') as f:
        pickle.dump([1, 2], f)
    with pytest.raises(DatasetError, match=r"wrong\.pkl: field 'format'"):
        PanopticMonoDataset(ann_file=str(tmp_path / 'wrong.pkl'))
