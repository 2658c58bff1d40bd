"""The joint sets of the package, as data, and the conversions between them.

Every joint set is a :class:`JointSet`: joint names in index order, the skeleton (pairs of
joint indices, used for drawing and for limb metrics), the left/right flip pairs and the
root joint. The sets:

* ``PANOPTIC15``: CMU Panoptic 15 joints as used by VoxelPose (0 neck, 1 nose, 2 mid-hip
  (root), 3–5 left arm, 6–8 left leg, 9–11 right arm, 12–14 right leg).
* ``COCO17``: the COCO keypoints (VoxelPose's Shelf/Campus models predict these).
* ``VIRTUALPOSE17``: the 17-joint MuCo/MuPoTS order used *inside* VirtualPose
  (0 neck, 1 head-top, 2 mid-hip (root), 3 l-shoulder, 4 l-elbow, 5 l-wrist, 6 l-hip,
  7 l-knee, 8 l-ankle, 9 r-shoulder, 10 r-elbow, 11 r-wrist, 12 r-hip, 13 r-knee,
  14 r-ankle, 15 spine, 16 head).
* ``MUPOTS17``: the official MuPoTS-3D / MPI-INF-3DHP evaluation order (0 Head_top,
  1 Thorax, 2 R_Shoulder, …, 14 Pelvis (root), 15 Spine, 16 Head), the order of
  ``annot.mat`` and of ``preds_*_kpt_mupots.mat``.
* ``MUCO21``: MuCo-3DHP as distributed with 3DMPPE PoseNet: ``MUPOTS17`` plus R_Hand,
  L_Hand, R_Toe, L_Toe.
* ``SHELF14``: the 14-joint Shelf/Campus evaluation set (``actorsGT.mat`` order).
* ``PANOPTIC19``: CMU Panoptic's ``coco19`` annotation (Panoptic-15 + eyes and ears).

Every conversion between the sets lives here: ``coco17_to_panoptic15``,
``coco17_to_virtualpose17`` (both make the joints COCO lacks and, given the visibility,
their visibility), ``coco17_to_shelf14``, ``virtualpose17_to_mupots17`` /
``mupots17_to_virtualpose17``, ``muco21_to_mupots17`` / ``muco21_to_virtualpose17``,
``panoptic19_to_panoptic15``, the 2D-target conversions ``coco17_to_virtualpose17_2d`` /
``coco17_to_panoptic15_2d`` (nothing guessed: a joint COCO cannot give is invisible), plus
``root_of`` (the mid-hip of any set) and :func:`convert_joints` (any known source → target
by name, the table :data:`CONVERSIONS`). They work on arrays of any leading shape with the
joint axis second to last (``(..., K, C)``) and never modify their input; the index
selections and ``coco17_to_shelf14`` take numpy or torch, the COCO-17 constructions numpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

__all__ = [
    'JointSet', 'PANOPTIC15', 'PANOPTIC19', 'COCO17', 'VIRTUALPOSE17', 'MUPOTS17', 'MUCO21',
    'SHELF14', 'JOINT_SETS', 'get_joint_set', 'to_mmpose_metainfo',
    'COCO17_TO_SHELF14_BODY', 'SHELF14_PCP_LIMBS', 'SHELF14_BONE_GROUPS',
    'MUPOTS17_PARENTS', 'MUPOTS17_TRAVERSAL', 'MUPOTS17_MATCHING_JOINTS',
    'MUPOTS17_PCK_GROUPS', 'VIRTUALPOSE17_TO_MUPOTS17', 'MUPOTS17_TO_VIRTUALPOSE17',
    'coco17_to_shelf14', 'virtualpose17_to_mupots17', 'mupots17_to_virtualpose17',
    'muco21_to_mupots17', 'muco21_to_virtualpose17', 'panoptic19_to_panoptic15',
    'take_joints',
    'HEADTOP_EXTENSION', 'coco17_to_panoptic15', 'coco17_to_virtualpose17', 'root_of',
    'CONVERSIONS', 'can_convert', 'convert_joints',
]


@dataclass(frozen=True)
class JointSet:
    """One joint set.

    Attributes:
        name: short identifier (``'panoptic15'``, ``'coco17'``, ...).
        joint_names: the K joint names in index order.
        skeleton: pairs ``(a, b)`` of joint indices (limbs to draw).
        flip_pairs: pairs ``(left, right)`` of joint indices swapped by a horizontal flip.
        root: index of the root joint (pelvis / mid-hip), or -1 if the set has none.
    """
    name: str
    joint_names: Tuple[str, ...]
    skeleton: Tuple[Tuple[int, int], ...]
    flip_pairs: Tuple[Tuple[int, int], ...]
    root: int = -1
    upper_body: Tuple[int, ...] = field(default=())

    def __post_init__(self):
        k = len(self.joint_names)
        for a, b in self.skeleton + self.flip_pairs:
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f'joint set {self.name!r}: pair ({a}, {b}) out of range 0..{k-1}')
        if self.root >= k:
            raise ValueError(f'joint set {self.name!r}: root {self.root} out of range')

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, name: str) -> int:
        """Index of a joint by name (``ValueError`` naming the set if unknown)."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise ValueError(f'joint set {self.name!r} has no joint {name!r}; '
                             f'joints: {list(self.joint_names)}') from None

    def flip_indices(self) -> List[int]:
        """For each joint the index of its mirror joint (itself for centre joints)."""
        idx = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            idx[a], idx[b] = b, a
        return idx


PANOPTIC15 = JointSet(
    name='panoptic15',
    joint_names=('neck', 'nose', 'mid-hip', 'l-shoulder', 'l-elbow', 'l-wrist', 'l-hip',
                 'l-knee', 'l-ankle', 'r-shoulder', 'r-elbow', 'r-wrist', 'r-hip', 'r-knee',
                 'r-ankle'),
    skeleton=((0, 1), (0, 2), (0, 3), (3, 4), (4, 5), (0, 9), (9, 10), (10, 11), (2, 6),
              (2, 12), (6, 7), (7, 8), (12, 13), (13, 14)),
    flip_pairs=((3, 9), (4, 10), (5, 11), (6, 12), (7, 13), (8, 14)),
    root=2,
    upper_body=(0, 1, 3, 4, 5, 9, 10, 11),
)

#: CMU Panoptic's ``coco19`` annotation (``hdPose3d_stage1_coco19``, ``bodies[].joints19``):
#: Panoptic-15 followed by the eyes and ears. Read by the Panoptic dataset and converted
#: at once to Panoptic-15 (:func:`panoptic19_to_panoptic15`).
PANOPTIC19 = JointSet(
    name='panoptic19',
    joint_names=PANOPTIC15.joint_names + ('l-eye', 'l-ear', 'r-eye', 'r-ear'),
    skeleton=PANOPTIC15.skeleton + ((1, 15), (15, 16), (1, 17), (17, 18)),
    flip_pairs=PANOPTIC15.flip_pairs + ((15, 17), (16, 18)),
    root=2,
    upper_body=PANOPTIC15.upper_body + (15, 16, 17, 18),
)

COCO17 = JointSet(
    name='coco17',
    joint_names=('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
                 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
                 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
                 'right_ankle'),
    skeleton=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
              (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
              (3, 5), (4, 6)),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    root=-1,  # the root of a COCO pose is the mid-hip, the mean of joints 11 and 12
    upper_body=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
)

VIRTUALPOSE17 = JointSet(
    name='virtualpose17',
    joint_names=('neck', 'headtop', 'mid-hip', 'l-shoulder', 'l-elbow', 'l-wrist', 'l-hip',
                 'l-knee', 'l-ankle', 'r-shoulder', 'r-elbow', 'r-wrist', 'r-hip', 'r-knee',
                 'r-ankle', 'spine', 'head'),
    # the reference draws the 14 Panoptic-style limbs (joint 1 is the head top here);
    # spine and head centre are joined to the trunk so that every joint is drawn
    skeleton=((0, 1), (0, 2), (0, 3), (3, 4), (4, 5), (0, 9), (9, 10), (10, 11), (2, 6),
              (2, 12), (6, 7), (7, 8), (12, 13), (13, 14), (2, 15), (0, 16)),
    flip_pairs=((3, 9), (4, 10), (5, 11), (6, 12), (7, 13), (8, 14)),
    root=2,
    upper_body=(0, 1, 3, 4, 5, 9, 10, 11, 16),
)

MUPOTS17 = JointSet(
    name='mupots17',
    joint_names=('Head_top', 'Thorax', 'R_Shoulder', 'R_Elbow', 'R_Wrist', 'L_Shoulder',
                 'L_Elbow', 'L_Wrist', 'R_Hip', 'R_Knee', 'R_Ankle', 'L_Hip', 'L_Knee',
                 'L_Ankle', 'Pelvis', 'Spine', 'Head'),
    # the official bone tree (child, parent), see MUPOTS17_PARENTS
    skeleton=((15, 14), (1, 15), (0, 1), (16, 1), (2, 1), (3, 2), (4, 3), (5, 1), (6, 5),
              (7, 6), (8, 14), (9, 8), (10, 9), (11, 14), (12, 11), (13, 12)),
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13)),
    root=14,
    upper_body=(0, 1, 2, 3, 4, 5, 6, 7, 16),
)

MUCO21 = JointSet(
    name='muco21',
    joint_names=MUPOTS17.joint_names + ('R_Hand', 'L_Hand', 'R_Toe', 'L_Toe'),
    skeleton=MUPOTS17.skeleton + ((17, 4), (18, 7), (19, 10), (20, 13)),
    flip_pairs=MUPOTS17.flip_pairs + ((17, 18), (19, 20)),
    root=14,
    upper_body=MUPOTS17.upper_body + (17, 18),
)

SHELF14 = JointSet(
    name='shelf14',
    joint_names=('Right-Ankle', 'Right-Knee', 'Right-Hip', 'Left-Hip', 'Left-Knee',
                 'Left-Ankle', 'Right-Wrist', 'Right-Elbow', 'Right-Shoulder', 'Left-Shoulder',
                 'Left-Elbow', 'Left-Wrist', 'Bottom-Head', 'Top-Head'),
    skeleton=((0, 1), (1, 2), (3, 4), (4, 5), (2, 3), (6, 7), (7, 8), (9, 10), (10, 11),
              (2, 8), (3, 9), (8, 12), (9, 12), (12, 13)),
    flip_pairs=((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)),
    root=-1,  # the root of a Shelf pose is the mid-hip, the mean of joints 2 and 3
    upper_body=(6, 7, 8, 9, 10, 11, 12, 13),
)

JOINT_SETS: Dict[str, JointSet] = {
    s.name: s for s in (PANOPTIC15, PANOPTIC19, COCO17, VIRTUALPOSE17, MUPOTS17, MUCO21,
                        SHELF14)
}


def get_joint_set(name) -> JointSet:
    """A joint set by name (or the set itself)."""
    if isinstance(name, JointSet):
        return name
    try:
        return JOINT_SETS[str(name).lower()]
    except KeyError:
        raise ValueError(f'unknown joint set {name!r}; known: {sorted(JOINT_SETS)}') from None


def to_mmpose_metainfo(joint_set, dataset_name: str = None) -> dict:
    """An MMPose-style ``dataset_info`` dict for ``joint_set``.

    The result can be fed to ``mmpose.datasets.datasets.utils.parse_pose_metainfo``
    (``keypoint_info`` with ``name``/``id``/``color``/``type``/``swap``, ``skeleton_info``,
    ``joint_weights`` and ``sigmas``; weights 1 and sigmas 0.05 where a set defines none).
    """
    js = get_joint_set(joint_set)
    flip = js.flip_indices()
    palette = {'left': [0, 255, 0], 'right': [255, 128, 0], 'centre': [51, 153, 255]}

    def side(i):
        if flip[i] == i:
            return 'centre'
        # the lower index of a pair is 'left' only if its name says so
        name = js.joint_names[i].lower()
        return 'left' if name.startswith(('l-', 'l_', 'left')) else 'right'

    keypoint_info = {
        i: dict(name=n, id=i, color=palette[side(i)],
                type='upper' if i in js.upper_body else 'lower',
                swap=js.joint_names[flip[i]] if flip[i] != i else '')
        for i, n in enumerate(js.joint_names)
    }
    skeleton_info = {
        k: dict(link=(js.joint_names[a], js.joint_names[b]), id=k,
                color=palette[side(a)] if side(a) == side(b) else palette['centre'])
        for k, (a, b) in enumerate(js.skeleton)
    }
    return dict(dataset_name=dataset_name or js.name, keypoint_info=keypoint_info,
                skeleton_info=skeleton_info, joint_weights=[1.0] * js.num_joints,
                sigmas=[0.05] * js.num_joints)


# ----------------------------------------------------------------------------- Shelf/Campus
#: Shelf-14 joints 0..11 taken from COCO-17 (r-ankle, r-knee, r-hip, l-hip, l-knee, l-ankle,
#: r-wrist, r-elbow, r-shoulder, l-shoulder, l-elbow, l-wrist); 12/13 (head) are synthesised.
COCO17_TO_SHELF14_BODY = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9)

#: The 9 limbs of the Shelf/Campus PCP (the 10th part, "torso", is mid-hip → joint 12).
SHELF14_PCP_LIMBS = ((0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11),
                     (12, 13))

#: PCP bone groups: indices into the 10 parts (the 9 limbs above, then the torso).
SHELF14_BONE_GROUPS = (('Head', (8, )), ('Torso', (9, )), ('Upper arms', (5, 6)),
                       ('Lower arms', (4, 7)), ('Upper legs', (1, 2)), ('Lower legs', (0, 3)))


def _lib(x):
    try:
        import torch
        if isinstance(x, torch.Tensor):
            return torch
    except ImportError:  # pragma: no cover
        pass
    return np


def coco17_to_shelf14(coco, head: str = 'shelf'):
    """COCO-17 poses → Shelf-14 poses (the VoxelPose ``coco2shelf3D`` / ``coco2campus3D``).

    Args:
        coco: (..., 17, 3) COCO joints (any unit; numpy or torch, float).
        head: ``'shelf'`` or ``'campus'``: how joints 12 (bottom head) and 13 (top head),
            which COCO lacks, are made. With ``mid_ear`` the ear midpoint and ``hb =
            (mid_shoulder + mid_ear) / 2``, ``ht = hb + 2 (mid_ear − hb)``:

            * ``'campus'``: ``s12 = hb``, ``s13 = ht``;
            * ``'shelf'``: start from the mid-shoulder ``m`` and the nose ``n``:
              ``s13 = m + (n − m)·(0.75, 0.75, 1.5)``, ``s12 = m + (n − m)·0.5``, then
              ``s13 = 0.75·s13 + 0.25·ht`` and ``s12 = 0.75·s12 + 0.25·hb``. The 1.5 acts
              on the third (vertical, z-up) axis.

    Returns:
        (..., 14, 3) Shelf-order joints, float64 for numpy input.
    """
    xp = _lib(coco)
    if coco.shape[-2:] != (17, 3):
        raise ValueError(f'coco17_to_shelf14: expected (..., 17, 3) COCO joints, '
                         f'got shape {tuple(coco.shape)}')
    if head not in ('shelf', 'campus'):
        raise ValueError(f"coco17_to_shelf14: head must be 'shelf' or 'campus', got {head!r}")
    if xp is np:
        coco = np.asarray(coco, dtype=np.float64)
    body = coco[..., list(COCO17_TO_SHELF14_BODY), :]
    mid_sho = (coco[..., 5, :] + coco[..., 6, :]) / 2
    head_center = (coco[..., 3, :] + coco[..., 4, :]) / 2
    head_bottom = (mid_sho + head_center) / 2
    head_top = head_bottom + (head_center - head_bottom) * 2
    if head == 'campus':
        s12, s13 = head_bottom, head_top
    else:
        nose = coco[..., 0, :]
        m = (body[..., 8, :] + body[..., 9, :]) / 2
        scale = xp.asarray([0.75, 0.75, 1.5]) if xp is np else \
            xp.tensor([0.75, 0.75, 1.5], dtype=coco.dtype, device=coco.device)
        s13 = m + (nose - m) * scale
        s12 = m + (nose - m) * 0.5
        alpha = 0.75
        s13 = s13 * alpha + head_top * (1 - alpha)
        s12 = s12 * alpha + head_bottom * (1 - alpha)
    if xp is np:
        return np.concatenate([body, s12[..., None, :], s13[..., None, :]], axis=-2)
    return xp.cat([body, s12[..., None, :], s13[..., None, :]], dim=-2)


# ----------------------------------------------------------------------------- MuPoTS
#: Official bone parents (``o1`` of ``mpii_get_joints('relevant')``, 0-based). The root
#: (Pelvis, 14) is its own parent. Head_top and Head both hang off the Thorax.
MUPOTS17_PARENTS = (1, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, 14, 14, 1)
#: Official ``safe_traversal_order(2:end)`` (0-based): the order in which bones are rescaled.
MUPOTS17_TRAVERSAL = (15, 1, 0, 16, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
#: Joints used for the 2D identity matching (Thorax … L_Ankle, official ``2:14``).
MUPOTS17_MATCHING_JOINTS = tuple(range(1, 14))
#: PCK/AUC joint groups (14 scored joints).
MUPOTS17_PCK_GROUPS = (('Head', (0, )), ('Neck', (1, )), ('Shou', (2, 5)), ('Elbow', (3, 6)),
                       ('Wrist', (4, 7)), ('Hip', (8, 11)), ('Knee', (9, 12)),
                       ('Ankle', (10, 13)))


def _name_map(src: JointSet, dst: JointSet, alias: Dict[str, str]) -> Tuple[int, ...]:
    """``out[j] = src.index(alias[dst.joint_names[j]])`` for every joint of ``dst``."""
    return tuple(src.index(alias[n]) for n in dst.joint_names)


_MUPOTS_TO_VP_NAME = {
    'Head_top': 'headtop', 'Thorax': 'neck', 'R_Shoulder': 'r-shoulder', 'R_Elbow': 'r-elbow',
    'R_Wrist': 'r-wrist', 'L_Shoulder': 'l-shoulder', 'L_Elbow': 'l-elbow',
    'L_Wrist': 'l-wrist', 'R_Hip': 'r-hip', 'R_Knee': 'r-knee', 'R_Ankle': 'r-ankle',
    'L_Hip': 'l-hip', 'L_Knee': 'l-knee', 'L_Ankle': 'l-ankle', 'Pelvis': 'mid-hip',
    'Spine': 'spine', 'Head': 'head',
}
#: ``mupots = virtualpose[..., VIRTUALPOSE17_TO_MUPOTS17, :]``
VIRTUALPOSE17_TO_MUPOTS17 = _name_map(VIRTUALPOSE17, MUPOTS17, _MUPOTS_TO_VP_NAME)
#: ``virtualpose = mupots[..., MUPOTS17_TO_VIRTUALPOSE17, :]``
MUPOTS17_TO_VIRTUALPOSE17 = _name_map(MUPOTS17, VIRTUALPOSE17,
                                      {v: k for k, v in _MUPOTS_TO_VP_NAME.items()})


def take_joints(x, index: Sequence[int], num_src: int, what: str = 'joints'):
    """``x[..., index, :]`` after checking that the joint axis has ``num_src`` entries."""
    if x.ndim < 2 or x.shape[-2] != num_src:
        raise ValueError(f'{what}: expected (..., {num_src}, C) joints, got shape '
                         f'{tuple(x.shape)}')
    return x[..., list(index), :]


def virtualpose17_to_mupots17(x):
    """(..., 17, C) internal VirtualPose order → (..., 17, C) official MuPoTS order."""
    return take_joints(x, VIRTUALPOSE17_TO_MUPOTS17, 17, 'virtualpose17_to_mupots17')


def mupots17_to_virtualpose17(x):
    """(..., 17, C) official MuPoTS order → (..., 17, C) internal VirtualPose order."""
    return take_joints(x, MUPOTS17_TO_VIRTUALPOSE17, 17, 'mupots17_to_virtualpose17')


def muco21_to_mupots17(x):
    """(..., 21, C) MuCo-3DHP (PoseNet release) → (..., 17, C) MuPoTS order (drops hands
    and toes)."""
    return take_joints(x, tuple(range(17)), 21, 'muco21_to_mupots17')


def muco21_to_virtualpose17(x):
    """(..., 21, C) MuCo-3DHP (PoseNet release) → (..., 17, C) internal VirtualPose order."""
    return mupots17_to_virtualpose17(muco21_to_mupots17(x))


# ----------------------------------------------------------------------------- CMU Panoptic
def panoptic19_to_panoptic15(x):
    """(..., 19, C) CMU Panoptic ``coco19`` → (..., 15, C) Panoptic-15 (drops the eyes and
    ears)."""
    return take_joints(x, tuple(range(15)), 19, 'panoptic19_to_panoptic15')


# ----------------------------------------------------------------------------- from COCO-17
#: Head top = head centre + this × (head centre − neck) (:func:`coco17_to_virtualpose17`).
HEADTOP_EXTENSION = 0.5


def coco17_to_panoptic15(coco, visible=None):
    """(..., 17, C) COCO-17 → (..., 15, C) Panoptic-15.

    The neck is the mid-shoulder and the mid-hip the mean of the two hips (how the CMU bank
    defines them); the other 13 joints are taken as they are.

    Args:
        coco: (..., 17, C) COCO-17 joints.
        visible: optional (..., 17) bool; a made joint is visible when both its sources are.

    Returns:
        the (..., 15, C) joints, and the (..., 15) visibility when ``visible`` is given.
    """
    coco = np.asarray(coco)
    if coco.shape[-2] != 17:
        raise ValueError(f'coco17_to_panoptic15: expected (..., 17, C), got {coco.shape}')
    neck = (coco[..., 5, :] + coco[..., 6, :]) / 2
    midhip = (coco[..., 11, :] + coco[..., 12, :]) / 2
    take = [0, 5, 7, 9, 11, 13, 15, 6, 8, 10, 12, 14, 16]  # nose, left arm/leg, right arm/leg
    rest = coco[..., take, :]
    out = np.concatenate([neck[..., None, :], rest[..., :1, :], midhip[..., None, :],
                          rest[..., 1:, :]], axis=-2)
    if visible is None:
        return out
    vis = np.asarray(visible, dtype=bool)
    vneck = vis[..., 5] & vis[..., 6]
    vhip = vis[..., 11] & vis[..., 12]
    return out, np.concatenate([vneck[..., None], vis[..., :1], vhip[..., None],
                                vis[..., take[1:]]], axis=-1)


def coco17_to_virtualpose17(coco, visible=None, headtop_extension: float = HEADTOP_EXTENSION):
    """(..., 17, 3) COCO-17 → (..., 17, 3) VirtualPose-17 (internal MuCo order).

    COCO has no neck, pelvis, spine, head centre or head top; they are made from its joints
    (the rule the golden VirtualPose test vectors were built with; the reference's own
    ``coco.py`` leaves spine / head / head top undefined):

    * neck = mean of the shoulders; mid-hip (root) = mean of the hips;
    * spine = mean of neck and mid-hip;
    * head = mean of nose, eyes and ears;
    * head top = head + ``headtop_extension`` · (head − neck);
    * shoulders, elbows, wrists, hips, knees and ankles are taken as they are.

    Args:
        coco: (..., 17, 3) COCO-17 joints.
        visible: optional (..., 17) bool; a made joint is visible when all its sources are.

    Returns:
        the (..., 17, 3) joints, and the (..., 17) visibility when ``visible`` is given.
    """
    c = np.asarray(coco, dtype=np.float64)
    if c.shape[-2:] != (17, 3):
        raise ValueError(f'coco17_to_virtualpose17: expected (..., 17, 3), got {c.shape}')
    neck = (c[..., 5, :] + c[..., 6, :]) / 2
    hip = (c[..., 11, :] + c[..., 12, :]) / 2
    head = c[..., 0:5, :].mean(-2)
    top = head + headtop_extension * (head - neck)
    spine = (neck + hip) / 2
    # VirtualPose-17: neck, headtop, mid-hip, l-sho, l-elb, l-wri, l-hip, l-knee, l-ank,
    # r-sho, r-elb, r-wri, r-hip, r-knee, r-ank, spine, head
    order = [neck, top, hip] + [c[..., k, :] for k in (5, 7, 9, 11, 13, 15, 6, 8, 10, 12,
                                                       14, 16)] + [spine, head]
    out = np.stack(order, axis=-2)
    if visible is None:
        return out
    v = np.asarray(visible, dtype=bool)
    vneck = v[..., 5] & v[..., 6]
    vhip = v[..., 11] & v[..., 12]
    vhead = v[..., 0:5].all(-1)
    vis = [vneck, vhead & vneck, vhip] + [v[..., k] for k in (5, 7, 9, 11, 13, 15, 6, 8,
                                                              10, 12, 14, 16)] + \
        [vneck & vhip, vhead]
    return out, np.stack(vis, axis=-1)


# ----------------------------------------------------------------------------- any → any
def root_of(poses, joint_set):
    """(..., K, 3) → (..., 3) root (mid-hip) of poses in ``joint_set`` (COCO-17 and
    Shelf-14, which have no mid-hip joint: the mean of the two hips)."""
    js = get_joint_set(joint_set)
    if js.name == 'coco17':
        return (poses[..., 11, :] + poses[..., 12, :]) / 2
    if js.name == 'shelf14':
        return (poses[..., 2, :] + poses[..., 3, :]) / 2
    if js.root < 0:
        raise ValueError(f'joint set {js.name!r} has no root joint')
    return poses[..., js.root, :]


def _select(index):
    def conv(x, visible=None):
        out = x[..., list(index), :]
        if visible is None:
            return out
        return out, np.asarray(visible)[..., list(index)]
    return conv


#: ``(source, target) → f(joints, visible=None)`` for every conversion between the sets
#: (:func:`convert_joints`). Shelf-14 is left out: its head joints depend on the dataset
#: (:func:`coco17_to_shelf14` ``head=``) and it carries no visibility.
CONVERSIONS = {
    ('coco17', 'panoptic15'): coco17_to_panoptic15,
    ('coco17', 'virtualpose17'): coco17_to_virtualpose17,
    ('virtualpose17', 'mupots17'): _select(VIRTUALPOSE17_TO_MUPOTS17),
    ('mupots17', 'virtualpose17'): _select(MUPOTS17_TO_VIRTUALPOSE17),
    ('muco21', 'mupots17'): _select(tuple(range(17))),
    ('muco21', 'virtualpose17'): _select(tuple(MUPOTS17_TO_VIRTUALPOSE17)),
    ('panoptic19', 'panoptic15'): _select(tuple(range(15))),
}


def can_convert(src, dst) -> bool:
    """Whether :func:`convert_joints` converts ``src`` joints to ``dst``."""
    src, dst = get_joint_set(src).name, get_joint_set(dst).name
    return src == dst or (src, dst) in CONVERSIONS


def convert_joints(x, src, dst, visible=None):
    """(..., K_src, C) joints in set ``src`` → (..., K_dst, C) in set ``dst`` (and the
    (..., K_dst) visibility when ``visible`` (..., K_src) is given; a joint made from
    several is visible when all of them are).

    Raises:
        ValueError naming both sets when no conversion is known, or when the joint axis
        does not have ``K_src`` entries.
    """
    s, d = get_joint_set(src), get_joint_set(dst)
    if x.ndim < 2 or x.shape[-2] != s.num_joints:
        raise ValueError(f'convert_joints {s.name} → {d.name}: expected (..., '
                         f'{s.num_joints}, C) joints, got shape {tuple(x.shape)}')
    if s.name == d.name:
        return x if visible is None else (x, visible)
    try:
        f = CONVERSIONS[(s.name, d.name)]
    except KeyError:
        known = sorted(f'{a} → {b}' for a, b in CONVERSIONS)
        raise ValueError(f'no conversion from joint set {s.name!r} to {d.name!r}; known: '
                         f'{known}') from None
    return f(x) if visible is None else f(x, visible)


# ----------------------------------------------------------------------------- 2D targets
def coco17_to_virtualpose17_2d(coco, visible):
    """(..., 17, C) COCO-17 keypoints → (..., 17, C) VirtualPose-17 for *2D training targets*
    (VirtualPose stage 1, the reference's ``dataset/coco.py``).

    Unlike :func:`coco17_to_virtualpose17` nothing is guessed: only the joints COCO can
    give are made, the rest are marked invisible (target weight 0):

    * neck = mean of the shoulders, mid-hip (root) = mean of the hips, each visible when
      both sources are;
    * shoulders, elbows, wrists, hips, knees and ankles are taken as they are;
    * head top, spine and head are zeros and invisible (COCO has no such joint; the
      reference leaves them out of the loss the same way).

    Args:
        coco: (..., 17, C) COCO-17 keypoints (numpy; any unit, C ≥ 1).
        visible: (..., 17) visibility (bool or COCO's 0/1/2; > 0 is visible).

    Returns:
        ``(joints, visible)``: (..., 17, C) float64 in the VirtualPose-17 order and
        (..., 17) bool.
    """
    c = np.asarray(coco, dtype=np.float64)
    if c.ndim < 2 or c.shape[-2] != 17:
        raise ValueError(f'coco17_to_virtualpose17_2d: expected (..., 17, C) COCO keypoints, '
                         f'got shape {c.shape}')
    v = np.asarray(visible)
    if v.shape != c.shape[:-1]:
        raise ValueError(f'coco17_to_virtualpose17_2d: visibility shape {v.shape} does not '
                         f'match the keypoints {c.shape[:-1]}')
    v = v > 0
    zero = np.zeros_like(c[..., 0, :])
    neck = (c[..., 5, :] + c[..., 6, :]) / 2
    hip = (c[..., 11, :] + c[..., 12, :]) / 2
    limbs = (5, 7, 9, 11, 13, 15, 6, 8, 10, 12, 14, 16)
    out = np.stack([neck, zero, hip] + [c[..., k, :] for k in limbs] + [zero, zero], axis=-2)
    off = np.zeros(v.shape[:-1], bool)
    vis = np.stack([v[..., 5] & v[..., 6], off, v[..., 11] & v[..., 12]] +
                   [v[..., k] for k in limbs] + [off, off], axis=-1)
    return out, vis


def coco17_to_panoptic15_2d(coco, visible):
    """(..., 17, C) COCO-17 keypoints → (..., 15, C) Panoptic-15 for *2D training targets*
    (VirtualPose stage 1 on COCO + CMU Panoptic, the reference's ``dataset/coco.py`` with
    ``NUM_JOINTS: 15``).

    The rule of :func:`coco17_to_virtualpose17_2d`, by joint name:

    * neck = mean of the shoulders, mid-hip (root) = mean of the hips, each visible when
      both sources are;
    * nose, shoulders, elbows, wrists, hips, knees and ankles are taken as they are;
    * a Panoptic-15 joint COCO cannot give would be zeros and invisible (target weight
      0): Panoptic-15 has none, every one of its joints is a COCO joint or made from two.

    Deviation from the reference: wkom/VirtualPose names Panoptic joint 1 ``'headtop'``
    (its ``JOINTS_DEF_PANOPTIC``) and so leaves it out of the COCO targets; in the
    Panoptic annotation (``coco19`` / HMOR, the ``PANOPTIC15`` order) joint 1 is the nose,
    which COCO annotates, so here it is trained from COCO's nose.

    Args:
        coco: (..., 17, C) COCO-17 keypoints (numpy; any unit, C ≥ 1).
        visible: (..., 17) visibility (bool or COCO's 0/1/2; > 0 is visible).

    Returns:
        ``(joints, visible)``: (..., 15, C) float64 in the Panoptic-15 order and (..., 15)
        bool.
    """
    c = np.asarray(coco, dtype=np.float64)
    if c.ndim < 2 or c.shape[-2] != 17:
        raise ValueError(f'coco17_to_panoptic15_2d: expected (..., 17, C) COCO keypoints, '
                         f'got shape {c.shape}')
    v = np.asarray(visible)
    if v.shape != c.shape[:-1]:
        raise ValueError(f'coco17_to_panoptic15_2d: visibility shape {v.shape} does not '
                         f'match the keypoints {c.shape[:-1]}')
    out, vis = coco17_to_panoptic15(c, v > 0)
    return np.asarray(out, np.float64), np.asarray(vis, bool)


__all__ += ['coco17_to_virtualpose17_2d', 'coco17_to_panoptic15_2d']
