from .camera import Camera, CameraError  # noqa: F401
