"""virtualpose_mm.models: importing this package registers its classes."""
from . import layers  # noqa: F401
from . import heads  # noqa: F401
from . import estimators  # noqa: F401
from . import utils  # noqa: F401
from . import virtualpose  # noqa: F401,E402  (VirtualPose stage 2 + its estimator)
from . import data_preprocessors  # noqa: F401,E402
