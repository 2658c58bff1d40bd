"""virtualpose_mm.evaluation: importing this package registers its classes."""
