"""virtualpose_mm: multi-person 3D pose estimation (VoxelPose, VirtualPose) for MMPose 1.x.

``import virtualpose_mm`` registers every class of the package into MMPose's registries
(scope ``mmpose``). In a config::

    custom_imports = dict(imports=['virtualpose_mm'], allow_failed_imports=False)
"""
from .version import __version__  # noqa: F401

from . import engine  # noqa: F401,E402  (compatibility fixes first)
from . import geometry  # noqa: F401,E402
from . import structures  # noqa: F401,E402
from . import codecs  # noqa: F401,E402
from . import models  # noqa: F401,E402
from . import datasets  # noqa: F401,E402
from . import evaluation  # noqa: F401,E402
from . import visualization  # noqa: F401,E402

from ._moved_modules import install as _install_moved_modules  # noqa: E402

_install_moved_modules()  # old module paths (before MMPose's folder layout) stay importable
