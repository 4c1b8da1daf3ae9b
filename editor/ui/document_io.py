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
from editor.core.rebuild import rebuild_document
from editor.core.recovery import ORIGINAL, Recovery
from editor.ui.richtext import count
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
        doc.pin(sid)  # the exported state stays until the file is written

        def work(ctx: OpContext):
            from editor.io import SaveError, save_image

            ctx.report(0.1, "Encoding")
            try:
                return save_image(path, image, **opts)
            except SaveError as e:
                raise OpError(str(e)) from None

        def done(warnings) -> None:
            doc.unpin(sid)
            if c.document is doc and doc.current_id == sid:
                c.mark_saved()
            note = f" ({'; '.join(warnings)})" if warnings else ""
            c.message.emit(f"Exported {Path(path).name}{note}.")
            if on_done:
                on_done(list(warnings or []))

        def failed(msg: str) -> None:
            doc.unpin(sid)
            c.report_error(msg)

        return c.job_lane.submit(Job(work, "Export", on_done=done, on_error=failed,
                                     on_cancelled=lambda: doc.unpin(sid),
                                     shows_progress=True))

    # -- journal ------------------------------------------------------------------------------
    def journal_commit(self, req: Any, before: int, after: int) -> None:
        """Append the step just committed (before it is pushed onto the undo stack)."""
        journal = self.c.journal
        self.ensure_journal(self.c.document)
        journal.commit(before=before, after=after, title=req.title, op=req.op,
                       params=req.params, steps=req.steps, merge=req.merge_token,
                       selects=req.selects)

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
                pixels = stored_array(doc, sid)
            except KeyError:
                return
            if pixels is not None:
                journal.write_pixels(sid, pixels, folder=folder, **how)

        self.writer.put(write)

    def ensure_journal(self, doc: Document) -> None:
        """First edit of a document: open its session and copy the original off-thread.

        A document that already has a history (opened from a project) starts its
        journal with that history and the pixels a replay needs, so a crash after
        the next edit still restores every step.
        """
        c, journal = self.c, self.c.journal
        if journal.active:
            return
        journal.open_document(base=doc.base_id, source=doc.path, info=doc.info)
        self._write_later(doc, doc.base_id, name=ORIGINAL)
        history = c.history()
        for step in history.commands:
            journal.commit(before=step.before, after=step.after, title=step.title, op=step.op,
                           params=step.params, steps=step.steps, selects=step.selects)
        if history.commands:
            journal.move(index=history.index, current=history.current)
            for sid in self.states_to_store(doc, history) - {doc.current_id}:
                self._write_later(doc, sid)

    @staticmethod
    def states_to_store(doc: Document, history) -> set[int]:
        """States whose pixels a saved session keeps: the current one, and those a
        replay cannot (no op) or should not (heavy and AI ops) recompute."""
        from editor.ops import get_op

        keep = {doc.current_id}
        for step in history.commands:
            info = doc.states.get(step.after)
            if info is None:
                continue
            if not (info.op or info.steps) or info.op == "select_mask":
                keep.add(step.after)  # nothing to replay (a painted mask: its file may go)
                continue
            try:
                specs = [get_op(op) for op, _ in info.recipe()]
            except KeyError:
                keep.add(step.after)  # an op that is gone cannot be replayed
                continue
            if any(spec.heavy or spec.ai for spec in specs):
                keep.add(step.after)
        return keep

    # -- projects ----------------------------------------------------------------------------
    def save_project(self, path: str, on_done: Callable[[str], None] | None = None,
                     on_error: Callable[[str], None] | None = None) -> Job | None:
        """Write the document with its whole history to a ``.convolve`` file (off-thread)."""
        c = self.c
        doc = c.document
        if doc is None:
            return None
        history = c.history()
        sids = self.states_to_store(doc, history) | {doc.base_id}
        for sid in sids:
            doc.pin(sid)  # the states being written stay until they are
        current = doc.current_id

        def work(ctx: OpContext):
            from editor.io import SaveError
            from editor.io.project import save_project

            try:
                return str(save_project(
                    path, original=doc.get(doc.base_id), history=history,
                    pixels=stored_arrays(doc, sids - {doc.base_id}),
                    source=doc.path, format=doc.format, info=doc.info, exif=doc.exif,
                    icc_profile=doc.icc_profile, ctx=ctx))
            except SaveError as e:
                raise OpError(str(e)) from None

        def unpin() -> None:
            for sid in sids:
                doc.unpin(sid)

        def done(written: str) -> None:
            unpin()
            if c.document is doc:
                doc.project_path = written
                if doc.current_id == current:
                    c.mark_saved()
                c.dirtyChanged.emit(doc.dirty)  # the title names the project now
            c.message.emit(f"Saved {Path(written).name} with its history "
                           f"({count(len(history.commands), 'step')}).")
            if on_done:
                on_done(written)

        def failed(msg: str) -> None:
            unpin()
            c.report_error(msg)
            if on_error:
                on_error(msg)

        return c.job_lane.submit(Job(work, f"Save {Path(path).name}", on_done=done,
                                     on_error=failed, on_cancelled=unpin,
                                     shows_progress=True))

    def open_project(self, path: str, on_done: Callable[[], None] | None = None) -> Job:
        """Open a ``.convolve`` project with its whole history (undo works at once)."""
        c = self.c

        def work(ctx: OpContext):
            from editor.io.project import load_project

            ctx.report(0.02, "Reading the project")
            project = load_project(path)
            doc, restored, _ids = rebuild_document(
                project.history, project.original(), project.pixels, path=project.source,
                info=project.info, format=project.format, exif=project.exif,
                icc_profile=project.icc_profile, store=c.new_store(), ctx=ctx,
                title=Path(path).name)
            doc.project_path = str(path)
            return doc, render_state(doc.current_id, doc.image, ctx), restored

        def done(result) -> None:
            doc, rendered, restored = result
            c.install_restored(doc, rendered, restored, saved=True)
            c.message.emit(f"Opened {Path(path).name} with its history "
                           f"({count(len(restored.commands), 'step')}).")
            if on_done:
                on_done()

        return c.job_lane.submit(Job(work, f"Open {Path(path).name}", on_done=done,
                                     on_error=c.report_error, shows_progress=True))

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

            def saved(sid: int) -> np.ndarray | None:
                name = plan.pixels.get(sid)
                return None if name is None else rec.load_pixels(name)

            doc, restored, id_map = rebuild_document(
                plan.history, self._original_of(rec, plan), saved, path=rec.source,
                info=rec.info, store=c.new_store(), ctx=ctx, title=rec.title)
            return doc, render_state(doc.current_id, doc.image, ctx), restored, id_map

        def done(result) -> None:
            doc, rendered, restored, id_map = result
            c.install_restored(doc, rendered, restored)
            c.journal.adopt(rec, base=doc.base_id, history=restored, id_map=id_map)
            c.message.emit(f"Restored {rec.title} with its history "
                           f"({count(len(restored.commands), 'step')}).")
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


def stored_array(doc: Document, sid: int) -> np.ndarray | None:
    """What a saved session keeps of state ``sid``: its pixels, or, for a selection
    step (which shares its parent's pixels), its mask (``None``: nothing selected)."""
    info = doc.states.get(sid)
    if info is not None and info.selects:
        return doc.selection(sid)
    return doc.get(sid)


def stored_arrays(doc: Document, sids) -> dict[int, np.ndarray]:
    """:func:`stored_array` of each of ``sids`` that has one."""
    out = {}
    for sid in sids:
        array = stored_array(doc, sid)
        if array is not None:
            out[sid] = array
    return out


def _describe(image: np.ndarray) -> str:
    ch = {2: "gray"}.get(image.ndim) or {3: "RGB", 4: "RGBA"}[image.shape[2]]
    bits = 16 if image.dtype == np.uint16 else 8
    return f"{image.shape[1]}×{image.shape[0]}, {ch}, {bits}-bit"
