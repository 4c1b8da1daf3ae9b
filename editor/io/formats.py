"""Export formats and what each can hold.

One table, :data:`EXPORT_FORMATS`, drives :func:`editor.io.save_image`, the
export dialog (option widgets, file filters) and ``convolve apply``. Reading
is not limited to this table: anything Pillow opens can be loaded.

Examples
--------
>>> format_for_path("holiday.JPG")
'JPEG'
>>> EXPORT_FORMATS["PNG"]["bits16"]
True
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

#: Format name -> capabilities.
#:
#: ``extensions``: lower-case, the first is the default; ``options``: the
#: :func:`~editor.io.save_image` keywords that mean something for this format;
#: ``alpha``: whether transparency is kept (else composited on a background);
#: ``bits16``: whether 16-bit channels are kept (else converted to 8 bit);
#: ``metadata``: whether EXIF and ICC profiles can be embedded.
EXPORT_FORMATS: dict[str, dict[str, Any]] = {
    "PNG": {
        "title": "PNG",
        "extensions": [".png"],
        "options": ["strip_metadata"],
        "alpha": True,
        "bits16": True,
        "metadata": True,
    },
    "JPEG": {
        "title": "JPEG",
        "extensions": [".jpg", ".jpeg", ".jpe", ".jfif"],
        "options": ["quality", "progressive", "strip_metadata", "background"],
        "alpha": False,
        "bits16": False,
        "metadata": True,
    },
    "WEBP": {
        "title": "WebP",
        "extensions": [".webp"],
        "options": ["quality", "lossless", "strip_metadata"],
        "alpha": True,
        "bits16": False,
        "metadata": True,
    },
    "TIFF": {
        "title": "TIFF",
        "extensions": [".tif", ".tiff"],
        "options": ["strip_metadata"],
        "alpha": True,
        "bits16": True,
        "metadata": True,
    },
    "BMP": {
        "title": "BMP",
        "extensions": [".bmp"],
        "options": ["background"],
        # Pillow writes 32-bit BMPs but most readers (Pillow included) drop the
        # fourth channel, so alpha is composited rather than silently lost.
        "alpha": False,
        "bits16": False,
        "metadata": False,
    },
}

_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}


def normalize_format(name: str) -> str:
    """Canonical format name (``"jpg"`` -> ``"JPEG"``); ``ValueError`` if unknown."""
    key = name.strip().upper().lstrip(".")
    key = _ALIASES.get(key, key)
    if key not in EXPORT_FORMATS:
        raise ValueError(f"cannot export {name!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    return key


def format_for_path(path: str | PathLike[str]) -> str:
    """Export format chosen by the file extension.

    Raises
    ------
    ValueError
        The extension is missing or names no export format.
    """
    ext = Path(path).suffix.lower()
    for name, spec in EXPORT_FORMATS.items():
        if ext in spec["extensions"]:
            return name
    known = ", ".join(e for spec in EXPORT_FORMATS.values() for e in spec["extensions"][:1])
    if not ext:
        raise ValueError(f"{Path(path).name} has no extension; add one of {known}")
    raise ValueError(f"cannot export {ext} files; use one of {known}")


def open_extensions() -> list[str]:
    """Every extension Pillow can read (lower case, with the dot), sorted."""
    from PIL import Image

    return sorted({ext.lower() for ext in Image.registered_extensions()})


def open_filter() -> str:
    """File-dialog filter for opening images and Convolve projects (``.convolve``)."""
    common = [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"]
    rest = [e for e in open_extensions() if e not in common]
    pattern = " ".join(f"*{e}" for e in common + rest)
    return (f"Images and projects ({pattern} *.convolve);;Convolve projects (*.convolve);;"
            f"Images ({pattern});;All files (*)")


def save_filter() -> str:
    """File-dialog filter for exporting, one entry per format."""
    return ";;".join(
        f"{spec['title']} ({' '.join('*' + e for e in spec['extensions'])})"
        for spec in EXPORT_FORMATS.values()
    )
