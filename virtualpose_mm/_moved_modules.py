"""Module paths of releases before the MMPose folder layout (2026-12), kept importable.

``virtualpose_mm.datasets.posebank`` is now ``virtualpose_mm.datasets.datasets.virtual.
posebank``, ``virtualpose_mm.models.estimators`` is ``virtualpose_mm.models.pose_estimators``,
and so on (:data:`MOVED_MODULES`). Code that imports an old path gets the module at its new
path (the same module object, so registries and ``isinstance`` are unaffected); the old paths
are not used anywhere in the package.
"""
import importlib
import sys

#: old dotted path → new dotted path (relative to ``virtualpose_mm``)
MOVED_MODULES = {
    'datasets.mview_base': 'datasets.datasets.base.mview_base',
    'datasets.mono_base': 'datasets.datasets.base.mono_base',
    'datasets.panoptic': 'datasets.datasets.multiview.panoptic',
    'datasets.shelf_campus': 'datasets.datasets.multiview.shelf_campus',
    'datasets.muco': 'datasets.datasets.monocular.muco',
    'datasets.mupots': 'datasets.datasets.monocular.mupots',
    'datasets.panoptic_mono': 'datasets.datasets.monocular.panoptic_mono',
    'datasets.virtual_core': 'datasets.datasets.virtual.virtual_core',
    'datasets.virtual_scene': 'datasets.datasets.virtual.virtual_scene',
    'datasets.virtual_cameras': 'datasets.datasets.virtual.virtual_cameras',
    'datasets.virtual_agr': 'datasets.datasets.virtual.virtual_agr',
    'datasets.posebank': 'datasets.datasets.virtual.posebank',
    'models.estimators': 'models.pose_estimators',
    'models.estimators.base': 'models.pose_estimators.base',
    'models.estimators.voxelpose': 'models.pose_estimators.voxelpose',
    'models.estimators.faster_voxelpose': 'models.pose_estimators.faster_voxelpose',
    'models.estimators.virtualpose': 'models.pose_estimators.virtualpose',
    'models.virtualpose.root_net': 'models.heads.virtualpose_root_net',
    'models.virtualpose.depth_net': 'models.backbones.virtualpose_depth_net',
    'models.virtualpose.decode': 'models.layers.root_decode',
    'models.virtualpose.projection': 'models.layers.depth_gated_projection',
    'models.virtualpose.losses': 'models.losses.virtualpose_losses',
}


def install(package: str = 'virtualpose_mm') -> None:
    """Make every old path of :data:`MOVED_MODULES` import the module at its new path
    (``sys.modules`` entries and parent-package attributes)."""
    for old, new in MOVED_MODULES.items():
        module = importlib.import_module(f'{package}.{new}')
        sys.modules[f'{package}.{old}'] = module
        parent, _, name = f'{package}.{old}'.rpartition('.')
        if parent not in sys.modules:          # models.virtualpose: no new module of its own
            import types
            holder = types.ModuleType(parent, f'Old path of {package} modules; see '
                                              f'{__name__}.MOVED_MODULES.')
            sys.modules[parent] = holder
            gp, _, pname = parent.rpartition('.')
            setattr(sys.modules[gp], pname, holder)
        setattr(sys.modules[parent], name, module)
