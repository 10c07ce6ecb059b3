"""Training: fitting chains of groups (weight transfer), samplers, output-layer refits, dask
workers."""
