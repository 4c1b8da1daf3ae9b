"""Image loading, saving and export (no Qt).

>>> import os, tempfile
>>> import numpy as np
>>> from editor.io import load_image, save_image
>>> tmp = tempfile.TemporaryDirectory()
>>> folder = tmp.name
>>> save_image(os.path.join(folder, "ramp.png"), np.arange(12, dtype=np.uint16).reshape(3, 4))
[]
>>> photo = load_image(os.path.join(folder, "ramp.png"))
>>> photo.pixels.dtype, photo.pixels.shape
(dtype('uint16'), (3, 4))
>>> save_image(os.path.join(folder, "copy.png"), photo.pixels, **photo.metadata())
[]
>>> tmp.cleanup()

See :mod:`editor.io.load` (reading, limits, orientation, integrity), :mod:`editor.io.save`
(export, atomic writes) and :mod:`editor.io.formats` (what each format holds).
"""

from editor.core.atomic import atomic_write, atomic_write_bytes, clean_orphan_parts
from editor.io.errors import ImageIOError, ImageTooLarge, LoadError, SaveError
from editor.io.formats import EXPORT_FORMATS, format_for_path
from editor.io.load import DEFAULT_MAX_PIXELS, ImageFile, load_image, read_info, verify_image
from editor.io.save import save_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EXPORT_FORMATS",
    "ImageFile",
    "ImageIOError",
    "ImageTooLarge",
    "LoadError",
    "SaveError",
    "atomic_write",
    "atomic_write_bytes",
    "clean_orphan_parts",
    "format_for_path",
    "load_image",
    "read_info",
    "save_image",
    "verify_image",
]
