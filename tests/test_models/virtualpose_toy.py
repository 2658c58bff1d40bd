"""A small VirtualPose scene for the tests: one camera, synthetic 17-joint people, AGRs
rendered with :func:`virtualpose_mm.structures.render_agr`."""
import numpy as np
import torch

from virtualpose_mm.geometry.camera import Camera

IMAGE_SIZE = (512, 256)      # original image (w, h)
INPUT_SIZE = (256, 128)      # canvas
HEATMAP_SIZE = (64, 32)      # AGR (stride 4)
AFFINE = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])   # image px → canvas px

# 17-joint MuCo order offsets from the mid-hip root (x, y, z) in mm, a person standing
_OFFSETS = np.array([
    [0, 0, 500],      # neck
    [0, 0, 780],      # headtop
    [0, 0, 0],        # mid-hip (root)
    [-180, 0, 480],   # l-shoulder
    [-260, 0, 220],   # l-elbow
    [-300, 0, -20],   # l-wrist
    [-100, 0, 0],     # l-hip
    [-110, 0, -430],  # l-knee
    [-120, 0, -830],  # l-ankle
    [180, 0, 480], [260, 0, 220], [300, 0, -20],   # right arm
    [100, 0, 0], [110, 0, -430], [120, 0, -830],   # right leg
    [0, 0, 250],      # spine
    [0, 0, 640],      # head
], dtype=np.float64)


def camera() -> Camera:
    """Camera at (0, −5000, 1000) mm looking along +y (world z up)."""
    R = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    return Camera.from_center(R, [0.0, -5000.0, 1000.0], [300.0, 300.0], [256.0, 128.0],
                              image_size=IMAGE_SIZE)


def person(root_xy, root_z=900.0) -> np.ndarray:
    """(17, 3) world mm joints of a standing person with its root at (x, y, root_z)."""
    return _OFFSETS + np.array([root_xy[0], root_xy[1], root_z])


def canvas_joints(joints_3d: np.ndarray, cam: Camera = None) -> np.ndarray:
    """(P, 17, 3) world mm → (P, 17, 2) canvas px."""
    cam = camera() if cam is None else cam
    uv = cam.project(joints_3d.reshape(-1, 3)).reshape(*joints_3d.shape[:2], 2)
    return uv @ AFFINE[:, :2].T + AFFINE[:, 2]


def model_config(**overrides) -> dict:
    cfg = dict(
        type='VirtualPose', num_joints=17, input_size=INPUT_SIZE,
        root_net=dict(space_size=(4000., 4000., 2000.), space_center=(0., 0., 1000.),
                      space_shape=(16, 16, 8), max_people=4),
        pose_net=dict(type='VoxelSinglePoseNet', cube_size=(2000., 2000., 2000.),
                      cube_shape=(8, 8, 8),
                      v2v_net=dict(type='V2VNet', input_channels=17, output_channels=17)))
    cfg.update(overrides)
    return cfg


#: the capture space of :func:`model_config` (root targets)
SPACE = dict(space_size=(4000., 4000., 2000.), space_center=(0., 0., 1000.),
             space_shape=(16, 16, 8))


def frame(people_3d: np.ndarray, with_gt: bool = True, cam: Camera = None):
    """``(inputs (1, 17 + 4, 32, 64), PoseDataSample)`` of a frame through the transforms
    (``GenerateVirtualPoseAGR``: AGR and depth-loss targets; ``GenerateRootTarget3D``; the
    pack ``PackVirtualPoseInputs``: the canonical view layout). ``with_gt=False`` drops the
    GT fields."""
    from virtualpose_mm.datasets.transforms import (GenerateRootTarget3D,
                                                    GenerateVirtualPoseAGR,
                                                    PackVirtualPoseInputs)
    r = dict(camera=camera() if cam is None else cam, image_size=np.asarray(IMAGE_SIZE, np.float64),
             gt_keypoints_3d=people_3d, gt_keypoints_3d_visible=np.ones(people_3d.shape[:2]))
    r = GenerateVirtualPoseAGR(input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE)(r)
    r = GenerateRootTarget3D(**SPACE, root_joints=2)(r)
    out = PackVirtualPoseInputs()(r)
    ds = out['data_samples']
    if not with_gt:
        for key in ('gt_instances', 'gt_instance_labels', 'gt_fields'):
            delattr(ds, key)
    return out['inputs'], ds


def batch(model, people: list, with_gt: bool = True, cam: Camera = None):
    """A batch of :func:`frame` s through the model's data preprocessor: inputs
    (B, 1, 21, 32, 64) and data samples with ``view_meta``."""
    frames = [frame(p, with_gt, cam) for p in people]
    data = model.data_preprocessor(dict(inputs=[f[0] for f in frames],
                                        data_samples=[f[1] for f in frames]))
    return data['inputs'], data['data_samples']


def agr(people_3d: np.ndarray) -> torch.Tensor:
    """(17 + 4, 32, 64) AGR of the people (sound rendering)."""
    from virtualpose_mm.structures import render_agr
    r = render_agr(canvas_joints(people_3d), image_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE)
    return torch.from_numpy(r['agr'])


def gt_root_proposals(roots_per_sample, max_people: int) -> torch.Tensor:
    """(B, max_people, 5) proposals ``x, y, z, flag, score`` placed at the given GT roots
    (flag 0, score 1; the other rows flag −1), to run a pose net on known roots."""
    props = torch.zeros(len(roots_per_sample), max_people, 5)
    props[..., 3] = -1
    for b, roots in enumerate(roots_per_sample):
        n = min(len(roots), max_people)
        props[b, :n, :3] = torch.as_tensor(np.asarray(roots)[:n], dtype=torch.float32)
        props[b, :n, 3] = 0
        props[b, :n, 4] = 1
    return props
