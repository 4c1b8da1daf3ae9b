"""Image loading, saving and export (no Qt).

>>> from editor.io import load_image, save_image          # doctest: +SKIP
>>> photo = load_image("holiday.jpg")                     # doctest: +SKIP
>>> save_image("holiday.png", photo.pixels, **photo.metadata())   # doctest: +SKIP
[]

See :mod:`editor.io.load` (reading, limits, orientation, integrity), :mod:`editor.io.save`
(export, atomic writes) and :mod:`editor.io.formats` (what each format holds).
"""

from editor.io.atomic import atomic_write, atomic_write_bytes, clean_orphan_parts
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
