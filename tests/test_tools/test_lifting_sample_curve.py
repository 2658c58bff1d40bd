"""tools/analysis/lifting_sample_curve.py: poses split by clip group, people seen by
virtual cameras with the AGR's 2D noise, and a lifter that learns from them."""
import json
import sys

import numpy as np
import torch

from tests.helpers import REPO_ROOT

sys.path.insert(0, REPO_ROOT)
from tools.analysis import lifting_sample_curve as L  # noqa: E402


def test_split_poses_holds_out_whole_takes_centred():
    train, val = L.split_poses(0.15, 0)
    z = np.load(L.BUILTIN_POSE_BANKS['train'])
    assert len(train) + len(val) == len(z['coco17'])
    assert 0.05 < len(val) / (len(train) + len(val)) < 0.3
    root = (train[:, L.L_HIP] + train[:, L.R_HIP]) / 2
    assert root[:, :2].abs().max() < 1e-3 and root[:, 2].min() > 100   # x, y centred only
    # whole takes: no validation pose equals a training pose of another take either way,
    # and the takes of the two parts are disjoint
    takes = {c['clip_id']: c['take_id'] for c in json.loads(str(z['info']))['clips']}
    poses = z['coco17'].astype(np.float32)
    poses[..., :2] -= poses[:, [L.L_HIP, L.R_HIP]].mean(1)[:, None, :2]
    key = {p.tobytes(): takes[int(i)] for p, i in zip(poses, z['clip_id'])}
    val_takes = {key[p.numpy().tobytes()] for p in val}
    train_takes = {key[p.numpy().tobytes()] for p in train[::50]}
    assert val_takes and not (val_takes & train_takes)


def test_sample_people_projects_in_view_with_the_agr_noise():
    train, _ = L.split_poses(0.15, 0)
    X, uv, f, c, R = L.sample_people(train, 4000, torch.Generator().manual_seed(0))
    assert 1000 < len(X) < 4000                      # some people fall outside the image
    root_z = X[:, [L.L_HIP, L.R_HIP], 2].mean(1)
    assert root_z.min() > 1000
    eye = torch.eye(3).expand(len(R), 3, 3)
    assert torch.allclose(R @ R.transpose(1, 2), eye, atol=1e-5)
    assert (R[:, 1, 2] < 0).all()                    # the image's y points down the world's z
    exact = X[..., :2] / X[..., 2:] * f[:, None, None] + c[:, None]
    err = (uv - exact).norm(dim=-1)                  # px: the noise only
    assert 0.5 < float(err.median()) < 30.0


def test_run_learns_to_lift():
    args = L.parse_args(['--iters', '200', '--eval-every', '100', '--width', '64',
                         '--val-people', '2000'])
    curve = L.run(args)
    assert [it for it, _, _ in curve] == [100, 200]
    assert curve[-1][1] > 200 * 100                  # people seen (in view)
    first_eval = curve[0][2]
    assert curve[-1][2] < first_eval                 # still falling
    assert curve[-1][2] < 250.0                      # mm, from ~600 untrained
