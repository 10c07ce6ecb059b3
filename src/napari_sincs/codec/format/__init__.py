"""The file format: container, header, quantised weight blobs, image residuals (docs/format.md)."""
