"""virtualpose_mm.datasets: importing this package registers its classes."""
