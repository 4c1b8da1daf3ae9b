"""Errors raised by :mod:`editor.io`: one line each, naming the file and the reason."""

from __future__ import annotations


class ImageIOError(Exception):
    """Base of load and save failures; ``str(e)`` is a one-line user message."""


class LoadError(ImageIOError):
    """A file could not be opened as an image (``"<file name>: <reason>"``)."""


class SaveError(ImageIOError):
    """An image could not be written; an existing file at the target is untouched."""


class ImageTooLarge(LoadError):
    """The header claims more pixels than the limit in force; nothing was decoded."""
