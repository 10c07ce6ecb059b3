"""The napari face of napari-sincs: reader, writer, widgets, menu commands, sample data.

Everything here calls the same public functions as the CLI; nothing reaches into training.
"""
