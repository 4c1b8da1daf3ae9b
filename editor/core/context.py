"""Progress, cancellation and side outputs for long operations.

Every operation takes an :class:`OpContext`. Loops call :meth:`OpContext.check`
(or :meth:`OpContext.report`, which checks too) so that Cancel is honoured at
the next iteration, and report progress as a fraction in ``[0, 1]``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np


class Cancelled(Exception):
    """Raised inside an operation when its context has been cancelled."""


class OpError(Exception):
    """An operation failed for a reason the user can act on (one sentence)."""


class OpContext:
    """Channel between a running operation and whoever runs it.

    Parameters
    ----------
    progress : callable, optional
        ``progress(fraction, message)`` called by :meth:`report`.
    cancel_event : threading.Event, optional
        Set it to ask the operation to stop; shared so a controller can
        cancel from another thread.
    preview_scale : float
        Ratio of the proxy size to the full image (1.0 at full resolution).
        Registered parameters with unit ``"px"`` are already scaled by it.
    partial : callable, optional
        ``partial(image)`` receives intermediate images (a dream after each
        octave, a style transfer every few iterations).
    selection : ndarray, optional
        The soft mask the edit is confined to (see :mod:`editor.core.selection`);
        ``None`` for the whole image. :func:`editor.ops.registry.run_op` honours it.

    Attributes
    ----------
    extras : dict
        Side outputs besides the image (corner lists, class scores), keyed by
        name; the CLI and the UI read them after the run.
    """

    def __init__(
        self,
        progress: Callable[[float, str], None] | None = None,
        cancel_event: threading.Event | None = None,
        preview_scale: float = 1.0,
        partial: Callable[[np.ndarray], None] | None = None,
        selection: np.ndarray | None = None,
    ) -> None:
        self._progress = progress
        self.cancel_event = cancel_event or threading.Event()
        self.preview_scale = float(preview_scale)
        self._partial = partial
        self.selection = selection
        self.extras: dict[str, Any] = {}

    @property
    def is_preview(self) -> bool:
        """True when running on a reduced proxy for live preview."""
        return self.preview_scale < 1.0

    def cancelled(self) -> bool:
        """Return True once cancellation has been requested."""
        return self.cancel_event.is_set()

    def cancel(self) -> None:
        """Ask the operation to stop at its next check."""
        self.cancel_event.set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation has been requested."""
        if self.cancel_event.is_set():
            raise Cancelled()

    def report(self, fraction: float, message: str = "") -> None:
        """Report progress in ``[0, 1]`` and honour a pending cancel."""
        self.check()
        if self._progress is not None:
            self._progress(min(max(float(fraction), 0.0), 1.0), message)

    def emit_partial(self, image: np.ndarray) -> None:
        """Hand an intermediate result to the caller, if it wants one."""
        if self._partial is not None:
            self._partial(image)


def null_context() -> OpContext:
    """A fresh context with no listeners (each call gets its own ``extras``)."""
    return OpContext()
