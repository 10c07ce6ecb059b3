"""Decoding: regions and pyramid levels of a file, evaluated exactly, with bounded caches."""
