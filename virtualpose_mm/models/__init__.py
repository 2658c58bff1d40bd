"""virtualpose_mm.models: importing this package registers its classes."""
