"""QThread processing lanes (QtCore only).

A :class:`Lane` is one worker thread that runs jobs ``fn(ctx) -> result``
with an :class:`~editor.core.context.OpContext` for progress and cancel, and
reports back through Qt signals, which Qt queues to the GUI thread because the
receivers live there. Two policies:

* ``latest_wins=True`` (the preview lane): at most one job waits; submitting
  a new one replaces the waiting job and asks the running one to stop. The
  caller still drops stale results by generation, because a job that does not
  check its context finishes anyway.
* ``latest_wins=False`` (the apply lane): jobs run in order, each with progress
  and Cancel.

A job that raises leaves nothing behind: the lane reports one sentence
(:func:`user_message`) and logs the traceback.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from editor.core.context import Cancelled, OpContext, OpError

log = logging.getLogger(__name__)
_ids = itertools.count(1)


def user_message(exc: BaseException, title: str = "") -> str:
    """One sentence for the status bar; details go to the log."""
    what = f"{title} failed" if title else "The operation failed"
    if isinstance(exc, OpError):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = f"{what}: not enough memory for an image this size"
    elif isinstance(exc, ValueError) and str(exc):  # ParamError, LoadError... are ValueErrors
        text = str(exc)
    else:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = f"{what}: {detail}"
    text = text.strip()
    if len(text) > 240:
        text = text[:237] + "..."
    return text if text.endswith((".", "!", "?")) else text + "."


class Job:
    """One unit of work for a lane; also the handle the caller cancels.

    The callbacks are typed slots, called on the thread that owns the lane (the
    GUI thread) in this order: ``on_started`` once, ``on_progress`` and
    ``on_partial`` any number of times, then exactly one of ``on_done(result)``,
    ``on_error(message)`` or ``on_cancelled()``. A caller that needs no answer
    passes none.

    Attributes
    ----------
    id : int
        Unique, increasing.
    ctx : OpContext
        Created by the lane when the job starts (``None`` before).
    shows_progress : bool
        The job is long enough to show progress and Cancel in the status bar.
    """

    def __init__(self, fn: Callable[[OpContext], Any], title: str = "", *,
                 on_done: Callable[[Any], None] | None = None,
                 on_error: Callable[[str], None] | None = None,
                 on_partial: Callable[[Any], None] | None = None,
                 on_progress: Callable[[float, str], None] | None = None,
                 on_cancelled: Callable[[], None] | None = None,
                 on_started: Callable[[], None] | None = None,
                 shows_progress: bool = False, preview_scale: float = 1.0) -> None:
        self.id = next(_ids)
        self.fn = fn
        self.title = title
        self.preview_scale = preview_scale
        self.shows_progress = shows_progress
        self.on_done = on_done
        self.on_error = on_error
        self.on_partial = on_partial
        self.on_progress = on_progress
        self.on_cancelled = on_cancelled
        self.on_started = on_started
        self.cancel_event = threading.Event()
        self.ctx: OpContext | None = None
        #: set once the job's one final callback has been delivered
        self.finished = False

    def cancel(self) -> None:
        """Ask the job to stop (before it starts, or at its next ctx check)."""
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.title!r})"


class Lane(QThread):
    """A worker thread running :class:`Job` objects (see module docstring)."""

    jobStarted = Signal(object)  # Job
    jobProgress = Signal(object, float, str)  # Job, fraction, message
    jobPartial = Signal(object, object)  # Job, intermediate result
    jobDone = Signal(object, object)  # Job, result
    jobFailed = Signal(object, str)  # Job, one-sentence message
    jobCancelled = Signal(object)  # Job

    #: minimum seconds between progress signals, so a tight loop cannot flood the GUI
    PROGRESS_INTERVAL = 0.04

    def __init__(self, name: str, latest_wins: bool, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.latest_wins = latest_wins
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._running: Job | None = None
        self._stopping = False
        # The lane object lives on the GUI thread, so these connections are queued
        # there: every callback of a job runs on the GUI thread, in signal order.
        self.jobStarted.connect(self._deliver_started)
        self.jobProgress.connect(self._deliver_progress)
        self.jobPartial.connect(self._deliver_partial)
        self.jobDone.connect(self._deliver_done)
        self.jobFailed.connect(self._deliver_failed)
        self.jobCancelled.connect(self._deliver_cancelled)

    # -- GUI-thread API --------------------------------------------------------
    def submit(self, job: Job) -> Job:
        """Queue ``job`` (replacing the waiting one on a latest-wins lane)."""
        with self._cond:
            if self.latest_wins:
                for old in self._queue:
                    old.cancel()
                    self.jobCancelled.emit(old)
                self._queue.clear()
                if self._running is not None:
                    self._running.cancel()
            self._queue.append(job)
            self._cond.notify()
        if not self.isRunning():
            self.start()
        return job

    def cancel_all(self) -> None:
        """Cancel the running job and drop every waiting one."""
        with self._cond:
            for job in self._queue:
                job.cancel()
                self.jobCancelled.emit(job)
            self._queue.clear()
            if self._running is not None:
                self._running.cancel()

    def busy(self) -> bool:
        """True while a job runs or waits."""
        with self._cond:
            return self._running is not None or bool(self._queue)

    def running_job(self) -> Job | None:
        with self._cond:
            return self._running

    def stop(self, timeout_ms: int = 5000) -> None:
        """Cancel everything and end the thread (window closing)."""
        self.cancel_all()
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.wait(timeout_ms)

    # -- callbacks (GUI thread) ----------------------------------------------------
    @staticmethod
    def _call(job: Job, name: str, *args: Any) -> None:
        cb = getattr(job, name)
        if cb is None:
            return
        try:
            cb(*args)
        except Exception:  # noqa: BLE001  (one panel's callback must not kill the app)
            log.exception("%s of %s failed", name, job.title or "job")

    def _deliver_started(self, job: Job) -> None:
        self._call(job, "on_started")

    def _deliver_progress(self, job: Job, fraction: float, message: str) -> None:
        self._call(job, "on_progress", fraction, message)

    def _deliver_partial(self, job: Job, value: Any) -> None:
        if not job.finished:
            self._call(job, "on_partial", value)

    def _final(self, job: Job, name: str, *args: Any) -> None:
        if job.finished:  # a job cancelled while waiting is reported once only
            return
        job.finished = True
        self._call(job, name, *args)

    def _deliver_done(self, job: Job, result: Any) -> None:
        self._final(job, "on_done", result)

    def _deliver_failed(self, job: Job, message: str) -> None:
        self._final(job, "on_error", message)

    def _deliver_cancelled(self, job: Job) -> None:
        self._final(job, "on_cancelled")

    # -- worker thread -----------------------------------------------------------
    def run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._queue.popleft()
                self._running = job
            try:
                self._run_job(job)
            finally:
                with self._cond:
                    self._running = None

    def _run_job(self, job: Job) -> None:
        if job.cancelled:
            self.jobCancelled.emit(job)
            return
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            if now - last[0] >= self.PROGRESS_INTERVAL or fraction >= 1.0:
                last[0] = now
                self.jobProgress.emit(job, fraction, message)

        job.ctx = OpContext(progress=progress, cancel_event=job.cancel_event,
                            preview_scale=job.preview_scale,
                            partial=lambda image: self.jobPartial.emit(job, image))
        self.jobStarted.emit(job)
        try:
            # a job that returns has finished; a cancel arriving now is the
            # caller's to honour (it may have to release what the job stored)
            result = job.fn(job.ctx)
        except Cancelled:
            self.jobCancelled.emit(job)
        except BaseException as exc:  # noqa: BLE001  (a job must never kill the lane)
            log.error("%s failed:\n%s", job.title or "job", traceback.format_exc())
            self.jobFailed.emit(job, user_message(exc, job.title))
        else:
            self.jobDone.emit(job, result)
