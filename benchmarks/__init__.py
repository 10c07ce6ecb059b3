"""Benchmarks of napari-sincs; results go to docs/ (run `python -m benchmarks --help`)."""
