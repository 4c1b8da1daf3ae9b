"""Uncaught exceptions: one sentence for the user, the traceback in a log file."""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

log = logging.getLogger("editor")


def log_path() -> Path:
    """``$CONVOLVE_LOG_DIR/convolve.log`` (default ``$XDG_CACHE_HOME/convolve``)."""
    folder = os.environ.get("CONVOLVE_LOG_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "convolve")
    return Path(folder) / "convolve.log"


def setup_logging() -> Path | None:
    """Send warnings and errors of the ``editor`` loggers to the log file."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2,
                                      encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not any(isinstance(h, RotatingFileHandler) for h in log.handlers):
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    return path


def sentence_for(exc: BaseException) -> str:
    """The one line a user sees for an unexpected error."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"Something went wrong ({what[:160]}); details are in {log_path()}."


def install_excepthook(show: Callable[[str], None]) -> None:
    """Route uncaught exceptions (GUI and worker threads) to ``show`` and the log."""

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("uncaught exception:\n%s", "".join(traceback.format_exception(exc_type, exc,
                                                                                  tb)))
        try:
            show(sentence_for(exc))
        except Exception:  # noqa: BLE001  (never raise from the hook)
            pass

    def thread_hook(args) -> None:
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook
