"""What every ``convolve`` subcommand shares: exit codes, one-line messages, progress.

:mod:`editor.cli`, :mod:`editor.cli_ai` and :mod:`editor.cli_teach` all report the
same way through this module (no Qt here):

* progress goes to stderr as one updating line, and only on a terminal
  (:class:`Progress`), so pipes and logs get the result alone;
* an error is one line, ``convolve: error: <sentence>``, exit 1
  (:func:`fail`); a wrong command line exits 2 (:class:`UsageError`);
* Ctrl+C exits 130 wherever it lands (:func:`run_command`), after clearing the
  progress line, never with a traceback.

Examples
--------
>>> import argparse
>>> def hello(args):
...     return 0
>>> run_command(hello, argparse.Namespace())
0
>>> def broken(args):
...     raise UsageError("--top must be between 1 and 1000")
>>> run_command(broken, argparse.Namespace())    # prints the error on stderr
2
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

PROG = "convolve"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """The command line is wrong (exit code 2)."""


class Progress:
    """``progress(fraction, message)`` drawing one updating line on stderr.

    Draws only when ``stream`` is a terminal and ``quiet`` is false; otherwise
    it does nothing, so :attr:`callback` is None and ops skip reporting.
    The line is cleared by :meth:`clear`, by :func:`fail` and when a command
    ends through :func:`run_command`.

    Parameters
    ----------
    stream : file, optional
        Default ``sys.stderr`` (looked up when called, so tests can capture it).
    quiet : bool
        Never draw.
    """

    _shown: Progress | None = None  # the instance whose line is on the terminal

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.active = not quiet and bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = ""

    @property
    def callback(self) -> Callable[[float, str], None] | None:
        """This object when it draws, else None (for ``OpContext(progress=...)``)."""
        return self if self.active else None

    def __call__(self, fraction: float, message: str) -> None:
        if not self.active:
            return
        pct = max(0, min(100, int(fraction * 100)))
        line = f"{PROG}: {' '.join(str(message).split())[:60]} {pct:3d}%"
        if line != self._last:
            self._last = line
            Progress._shown = self
            self.stream.write(f"\r\033[K{line}")
            self.stream.flush()

    def clear(self) -> None:
        """Erase the progress line (before a result or an error is printed)."""
        if self._last:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._last = ""
        if Progress._shown is self:
            Progress._shown = None

    def context(self, **kwargs: Any):
        """An :class:`~editor.core.context.OpContext` reporting to this line."""
        from editor.core.context import OpContext

        return OpContext(progress=self.callback, **kwargs)


def clear_progress() -> None:
    """Erase whichever progress line is on the terminal."""
    if Progress._shown is not None:
        Progress._shown.clear()


def one_line(message: object) -> str:
    """``message`` with all whitespace runs (newlines included) made single spaces."""
    return " ".join(str(message).split()) or "failed"


def error(message: object) -> None:
    """Print ``convolve: error: <message>`` on stderr (one line)."""
    clear_progress()
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)


def warning(message: object) -> None:
    """Print ``convolve: warning: <message>`` on stderr (one line)."""
    clear_progress()
    print(f"{PROG}: warning: {one_line(message)}", file=sys.stderr)


def fail(message: object, code: int = EXIT_FAILURE) -> int:
    """Print the error line and return ``code`` (1 failure, 2 usage): ``return fail(...)``."""
    error(message)
    return code


def describe(e: BaseException) -> tuple[int, str]:
    """Exit code and one-line message for an exception that reached the top."""
    from editor.core.context import Cancelled, OpError
    from editor.core.recipe import RecipeError
    from editor.io.errors import ImageIOError
    from editor.ops.registry import ParamError

    if isinstance(e, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(e, (UsageError, ParamError, RecipeError)):
        return EXIT_USAGE, str(e)
    if isinstance(e, Cancelled):
        return EXIT_INTERRUPTED, "cancelled"
    if isinstance(e, (ImageIOError, OpError)):
        return EXIT_FAILURE, str(e)
    if isinstance(e, FileNotFoundError):
        return EXIT_FAILURE, f"{e.filename}: no such file"
    if isinstance(e, OSError):
        name = f"{e.filename}: " if e.filename else ""
        return EXIT_FAILURE, f"{name}{e.strerror or e}"
    if isinstance(e, MemoryError):
        return EXIT_FAILURE, "not enough memory"
    if isinstance(e, ImportError) and e.name:
        return EXIT_FAILURE, f"this command needs the {e.name} package (pip install {e.name})"
    if isinstance(e, RuntimeError):
        return EXIT_FAILURE, str(e)
    return EXIT_FAILURE, f"{type(e).__name__}: {e}"


def run_command(func: Callable[[Any], int | None], args: Any) -> int:
    """Run a subcommand: its exit code, or the code and one error line for what it raised.

    Ctrl+C (``KeyboardInterrupt``) gives 130 wherever it lands, including
    while the error of something else is being reported.
    """
    try:
        try:
            return int(func(args) or 0)
        except SystemExit as e:  # --help / --version
            return e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_USAGE)
        except BaseException as e:  # noqa: BLE001  (never a traceback)
            code, message = describe(e)
            error(message)
            return code
        finally:
            clear_progress()
    except KeyboardInterrupt:  # a second Ctrl+C while reporting
        return EXIT_INTERRUPTED
