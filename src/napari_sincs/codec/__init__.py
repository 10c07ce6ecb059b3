"""The SINCS codec core: pure numpy/torch, no Qt and no napari."""
