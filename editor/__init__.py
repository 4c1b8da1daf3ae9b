"""Convolve: a desktop image editor from classical filters to convolutional networks."""

__version__ = "0.1.0"
