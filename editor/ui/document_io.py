"""Document I/O behind the controller: open, export, the recovery journal, restore.

Opening and exporting run on the job lane (a failure leaves the open document
as it was). Crash recovery has two halves: every committed step is journaled
the moment it lands (:class:`~editor.core.recovery.RecoveryJournal`, a small
flushed append), and pixels are snapshotted in the background (the original
at the first edit, the current state at most every
:data:`SNAPSHOT_SECONDS`), so a kill loses no committed edit and a restore
replays little. :meth:`DocumentIO.restore` rebuilds the whole undo history of
a crashed session.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from editor.core.context import OpContext, OpError
from editor.core.document import Document
from editor.core.recovery import ORIGINAL, LinearHistory, Recovery, Step
from editor.workers.lanes import Job
from editor.workers.render import render_state

if TYPE_CHECKING:
    from editor.ui.controller import Controller

log = logging.getLogger(__name__)

#: seconds between snapshots of the current state while there are unsaved edits
SNAPSHOT_SECONDS = 30


def _loader():
    from editor.io import LoadError, load_image

    return load_image, LoadError


class PixelWriter:
    """One background thread that writes recovery pixels in order (never the GUI)."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def put(self, task: Callable[[], None]) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="recovery-writer",
                                            daemon=True)
            self._thread.start()
        self._queue.put(task)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every queued write is done (tests, shutdown)."""
        done = threading.Event()
        self.put(done.set)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            try:
                task()
            except Exception:  # noqa: BLE001  (a failed snapshot must not stop the next)
                log.exception("recovery write failed")


class DocumentIO:
    """Open, export, journal and restore for one controller."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller
        self.writer = PixelWriter()

    # -- open ---------------------------------------------------------------------------
    def open_path(self, path: str, on_done: Callable[[], None] | None = None) -> Job:
        """Load ``path`` off the GUI thread; on failure the open document stays."""
        c = self.c

        def work(ctx: OpContext):
            load_image, LoadError = _loader()
            ctx.report(0.05, "Reading")
            try:
                f = load_image(path)
            except LoadError as e:
                raise OpError(str(e)) from None
            ctx.report(0.6, "Preparing")
            doc = Document.from_file(f, store=c.new_store())
            return doc, render_state(doc.base_id, doc.original, ctx)

        def done(result) -> None:
            c.install(*result)
            c.message.emit(f"Opened {c.document.name} ({_describe(c.document.image)}).")
            if on_done:
                on_done()

        return c.job_lane.submit(Job(work, f"Open {Path(path).name}", on_done=done,
                                     on_error=c.report_error, shows_progress=True))

    def open_array(self, image: np.ndarray, path: str | None = None,
                   on_done: Callable[[], None] | None = None) -> Job:
        """Open pixels already in memory (a test image, a generated one)."""
        c = self.c

        def work(ctx: OpContext):
            doc = Document(image, path=path, store=c.new_store())
            return doc, render_state(doc.base_id, doc.original, ctx)

        def done(result) -> None:
            c.install(*result)
            if on_done:
                on_done()

        return c.job_lane.submit(Job(work, "Open image", on_done=done,
                                     on_error=c.report_error, shows_progress=True))

    # -- export -------------------------------------------------------------------------------
    def export(self, path: str, options: dict | None = None,
               on_done: Callable[[list[str]], None] | None = None) -> Job | None:
        """Save the current image to ``path`` on a worker (atomic; warnings reported)."""
        c = self.c
        doc = c.document
        if doc is None:
            return None
        sid = doc.current_id
        image, opts = doc.image, dict(options or {})
        opts.setdefault("exif", doc.exif)
        opts.setdefault("icc_profile", doc.icc_profile)
        doc.store.pin(sid)  # the exported state stays until the file is written

        def work(ctx: OpContext):
            from editor.io import SaveError, save_image

            ctx.report(0.1, "Encoding")
            try:
                return save_image(path, image, **opts)
            except SaveError as e:
                raise OpError(str(e)) from None

        def done(warnings) -> None:
            doc.store.unpin(sid)
            if c.document is doc and doc.current_id == sid:
                c.mark_saved()
            note = f" ({'; '.join(warnings)})" if warnings else ""
            c.message.emit(f"Exported {Path(path).name}{note}.")
            if on_done:
                on_done(list(warnings or []))

        def failed(msg: str) -> None:
            doc.store.unpin(sid)
            c.report_error(msg)

        return c.job_lane.submit(Job(work, "Export", on_done=done, on_error=failed,
                                     on_cancelled=lambda: doc.store.unpin(sid),
                                     shows_progress=True))

    # -- journal ------------------------------------------------------------------------------
    def journal_commit(self, req: Any, before: int, after: int) -> None:
        """Append the step just committed (before it is pushed onto the undo stack)."""
        journal = self.c.journal
        self.ensure_journal(self.c.document)
        journal.commit(before=before, after=after, title=req.title, op=req.op,
                       params=req.params, steps=req.steps, merge=req.merge_token)

    def journal_move(self) -> None:
        c = self.c
        if c.journal.active and c.document is not None:
            c.journal.move(index=c.undo_stack.index(), current=c.document.current_id)

    def snapshot(self, wait: bool = False) -> None:
        """Write the current state's pixels in the background if the journal lacks them."""
        c, journal = self.c, self.c.journal
        doc = c.document
        if doc is not None and journal.active and doc.dirty \
                and doc.current_id not in journal.pixels:
            self._write_later(doc, doc.current_id, periodic=True)
        if wait:
            self.writer.wait()

    def _write_later(self, doc: Document, sid: int, **how) -> None:
        """Queue a pixel write; the pixels are read on the writer thread (a state spilled
        to disk is not reloaded on the GUI thread), and a state freed meanwhile is skipped."""
        journal, folder = self.c.journal, self.c.journal.folder

        def write() -> None:
            try:
                pixels = doc.get(sid)
            except KeyError:
                return
            journal.write_pixels(sid, pixels, folder=folder, **how)

        self.writer.put(write)

    def ensure_journal(self, doc: Document) -> None:
        """First edit of a document: open its session and copy the original off-thread."""
        journal = self.c.journal
        if journal.active:
            return
        journal.open_document(base=doc.base_id, source=doc.path, info=doc.info)
        self._write_later(doc, doc.base_id, name=ORIGINAL)

    # -- restore -----------------------------------------------------------------------------
    def restore(self, rec: Recovery, on_done: Callable[[], None] | None = None,
                on_error: Callable[[str], None] | None = None) -> Job:
        """Rebuild a crashed session's document and full undo history (off the GUI thread).

        States come from the session's pixel files where it kept them, else by
        replaying their recipe on the state before (ops are deterministic).
        """
        c = self.c

        def work(ctx: OpContext):
            plan = rec.plan()
            history = plan.history
            original = self._original_of(rec, plan)
            doc = Document(original, path=rec.source, info=rec.info, store=c.new_store())
            id_map = {history.base: doc.base_id}
            restored = LinearHistory(doc.base_id)
            n = len(history.commands)
            for i, step in enumerate(history.commands):
                ctx.check()
                ctx.report(i / max(1, n), f"Restoring {step.title} ({i + 1} of {n})")
                before = id_map[step.before]
                if step.after in plan.pixels:
                    pixels = rec.load_pixels(plan.pixels[step.after])
                elif step.recipe():
                    pixels = _replay(step.recipe(), doc.get(before), ctx)
                else:
                    raise OpError(f"Step {i + 1} ({step.title}) of {rec.title} cannot be "
                                  "restored: its pixels were not saved.")
                sid = doc.add_state(pixels, parent=before, title=step.title, op=step.op,
                                    params=step.params, steps=step.steps)
                id_map[step.after] = sid
                restored.commands.append(Step(before, sid, step.title, step.op, step.params,
                                              step.steps, None))
            restored.set_index(history.index)
            doc.set_current(restored.current)
            return doc, render_state(doc.current_id, doc.image, ctx), restored, id_map

        def done(result) -> None:
            doc, rendered, restored, id_map = result
            c.install_restored(doc, rendered, restored)
            c.journal.adopt(rec, base=doc.base_id, history=restored, id_map=id_map)
            c.message.emit(f"Restored {rec.title} with its history "
                           f"({len(restored.commands)} steps).")
            if on_done:
                on_done()

        def failed(msg: str) -> None:
            rec.release()  # offered again at the next start
            c.report_error(msg)
            if on_error:
                on_error(msg)

        return c.job_lane.submit(Job(work, f"Restore {rec.title}", on_done=done,
                                     on_error=failed, on_cancelled=rec.release,
                                     shows_progress=True))

    @staticmethod
    def _original_of(rec: Recovery, plan) -> np.ndarray:
        name = plan.pixels.get(plan.history.base)
        if name is not None:
            return rec.load_pixels(name)
        if rec.source and rec.source_unchanged():
            load_image, LoadError = _loader()
            try:
                return load_image(rec.source).pixels
            except LoadError as e:
                raise OpError(str(e)) from None
        raise OpError(f"The original of {rec.title} has changed or gone since the crash, "
                      "and its copy was not saved.")


def _replay(steps: list[tuple[str, dict]], image: np.ndarray, ctx: OpContext) -> np.ndarray:
    from editor.ops import get_op, run_op

    for op, params in steps:
        image = run_op(get_op(op), image, params, OpContext(cancel_event=ctx.cancel_event))
    return image


def _describe(image: np.ndarray) -> str:
    ch = {2: "gray"}.get(image.ndim) or {3: "RGB", 4: "RGBA"}[image.shape[2]]
    bits = 16 if image.dtype == np.uint16 else 8
    return f"{image.shape[1]}×{image.shape[0]}, {ch}, {bits}-bit"
