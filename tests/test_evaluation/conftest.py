"""Small constructed scenes shared by the evaluation tests."""
import numpy as np
import pytest

# A standing person in the official MuPoTS-17 order, camera frame (x right, y down,
# z forward), mm, relative to the pelvis.
_MUPOTS_BASE = np.array([
    [0, -720, 0],     # 0 Head_top
    [0, -480, 0],     # 1 Thorax
    [-180, -470, 0],  # 2 R_Shoulder
    [-210, -200, 10],  # 3 R_Elbow
    [-230, 50, 40],   # 4 R_Wrist
    [180, -470, 0],   # 5 L_Shoulder
    [210, -200, 10],  # 6 L_Elbow
    [230, 50, 40],    # 7 L_Wrist
    [-100, 0, 0],     # 8 R_Hip
    [-110, 420, 20],  # 9 R_Knee
    [-120, 830, 0],   # 10 R_Ankle
    [100, 0, 0],      # 11 L_Hip
    [110, 420, 20],   # 12 L_Knee
    [120, 830, 0],    # 13 L_Ankle
    [0, 0, 0],        # 14 Pelvis
    [0, -220, 0],     # 15 Spine
    [0, -600, 20],    # 16 Head
], dtype=np.float64)

FX, FY, CX, CY = 1500.0, 1500.0, 1024.0, 1024.0


def project(x):
    """(..., 17, 3) camera mm → (..., 17, 2) pixels with the test intrinsics."""
    return np.stack([FX * x[..., 0] / x[..., 2] + CX, FY * x[..., 1] / x[..., 2] + CY], -1)


@pytest.fixture
def mupots_person():
    """``make(pelvis_xyz, seed=None)`` → (17, 3) camera-frame pose (mm), MuPoTS order;
    a seed adds ±30 mm of joint jitter so that poses differ."""

    def make(pelvis, seed=None):
        pose = _MUPOTS_BASE.copy()
        if seed is not None:
            pose = pose + np.random.default_rng(seed).uniform(-30, 30, pose.shape)
            pose[14] = 0
        return pose + np.asarray(pelvis, dtype=np.float64)

    return make


@pytest.fixture
def mupots_project():
    return project
