"""The editing controller: one document, its undo stack and the worker lanes.

Everything that changes pixels goes through here, so the main window, the
tools dock and other panels (AI tools, the teachable classifier) share one
path: jobs run on :class:`~editor.workers.lanes.Lane` threads, results come
back on the GUI thread, and every committed edit is one ``QUndoStack`` step
holding state ids of the Qt-free :class:`~editor.core.history.HistoryStore`.

Thread rules: ``document.current_id``, the undo stack and every signal are
touched on the GUI thread only; workers read states from the store (which is
locked) and add new ones, paying for spills to disk off the GUI thread.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from editor.core.autosave import Autosave
from editor.core.context import OpContext, OpError
from editor.core.document import Document
from editor.core.history import HistoryStore
from editor.ui.commands import EditCommand
from editor.workers.lanes import Job, Lane
from editor.workers.render import PROXIES, Rendered, ViewRequest, preview, render_state

log = logging.getLogger(__name__)
_tokens = itertools.count(1)

#: renderings kept for instant undo/redo (each ~5.3 bytes per pixel with its pyramid)
DISPLAY_CACHE = 2
#: seconds between autosaves while there are unsaved edits (the brief asks for <= 60)
AUTOSAVE_SECONDS = 30


@dataclass
class Session:
    """One open adjustment with a tool: all its commits merge into one undo step."""

    spec: Any
    base_id: int | None
    token: int = field(default_factory=lambda: next(_tokens))
    has_step: bool = False
    committed: dict | None = None
    latest: dict | None = None
    job: Job | None = None
    close_after: bool = False


def _loader():
    """``editor.io.load_image`` and ``LoadError`` (the package may still be growing)."""
    try:
        from editor.io import LoadError, load_image
    except ImportError:
        from editor.io.errors import LoadError
        from editor.io.load import load_image
    return load_image, LoadError


class Controller(QObject):
    """Document, undo stack and lanes behind the main window (see module doc)."""

    documentChanged = Signal()  # a document was opened or closed
    imageChanged = Signal()  # the current state changed (edit, undo, redo, jump)
    renderedChanged = Signal(object)  # Rendered of the current state
    originalChanged = Signal(object)  # Rendered of the opened image ("before")
    previewChanged = Signal(object)  # PreviewResult, or None when cleared
    histogramChanged = Signal(object)  # Histogram shown now (preview or committed)
    busyChanged = Signal(bool, str)  # a long job started/ended, its title
    progressChanged = Signal(float, str)
    message = Signal(str)  # one sentence for the status bar
    errorOccurred = Signal(str)  # one sentence; also sent as message
    extrasChanged = Signal(dict)  # side outputs of the op that made the current state
    deviceLabelChanged = Signal(str)
    dirtyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, history_budget: int | None = None,
                 min_levels: int = 3, autosave: Autosave | None = None,
                 autosave_seconds: float = AUTOSAVE_SECONDS) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.history_budget = history_budget
        self.min_levels = min_levels
        self.undo_stack = QUndoStack(self)
        self.undo_stack.indexChanged.connect(lambda _i: self._collect_garbage())
        self.preview_lane = Lane("preview", latest_wins=True, parent=self)
        self.apply_lane = Lane("apply", latest_wins=False, parent=self)
        self.job_lane = Lane("jobs", latest_wins=False, parent=self)
        for lane in (self.preview_lane, self.apply_lane, self.job_lane):
            lane.jobStarted.connect(self._job_started)
            lane.jobProgress.connect(self._job_progress)
            lane.jobPartial.connect(self._job_partial)
            lane.jobDone.connect(self._job_done)
            lane.jobFailed.connect(self._job_failed)
            lane.jobCancelled.connect(self._job_cancelled)
        #: () -> ViewRequest, set by the canvas owner so previews match the view
        self.view_provider: Callable[[], ViewRequest] | None = None
        self.rendered: Rendered | None = None
        self.original: Rendered | None = None
        self.preview_result = None
        self.session: Session | None = None
        self.device_label = ""
        self._gen = 0
        self._display: OrderedDict[int, Rendered] = OrderedDict()
        self._extras: dict[int, dict] = {}
        #: exact histograms by state: small, and they spare undo a full-image count
        self._histograms: dict[int, Any] = {}
        self._busy: dict[int, Job] = {}
        self._tip: int | None = None  # state the next queued commit builds on
        self._seen_max = 0  # newest state id whose job result the GUI has handled
        self._tip_lock = threading.Lock()
        self.autosave = autosave if autosave is not None else Autosave()
        self._autosave_thread: threading.Thread | None = None
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(int(autosave_seconds * 1000))
        self._autosave_timer.timeout.connect(self.autosave_now)
        self._autosave_timer.start()
        self._shut = False
        self._extra_lanes: list[Lane] = []
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        # a QThread destroyed while running aborts the process: stop lanes at exit
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref().shutdown())

    # -- public API for panels ------------------------------------------------------
    def current_image(self) -> np.ndarray | None:
        """Pixels of the current state (read-only), or ``None`` with no document."""
        return None if self.document is None else self.document.image

    def has_document(self) -> bool:
        return self.document is not None

    def set_device_label(self, text: str) -> None:
        """Text for the compute-device slot of the status bar (e.g. ``"CUDA: H100"``)."""
        self.device_label = text
        self.deviceLabelChanged.emit(text)

    def busy(self) -> bool:
        """True while a job with progress runs or waits."""
        return bool(self._busy)

    def run_job(self, fn: Callable[[OpContext], Any], title: str,
                on_done: Callable[[Any], None], on_partial: Callable[[Any], None] | None = None,
                on_error: Callable[[str], None] | None = None) -> Job:
        """Run ``fn(ctx)`` on a worker lane with progress and Cancel in the status bar.

        The callbacks run on the GUI thread; a failure calls ``on_error`` with one
        sentence (or shows it in the status bar when there is no ``on_error``).
        """
        job = Job(fn, title=title, data={"progress": True, "on_done": on_done,
                                         "on_partial": on_partial, "on_error": on_error})
        return self.job_lane.submit(job)

    def apply_op(self, op_name: str, params: dict | None = None,
                 title: str | None = None) -> Job | None:
        """Run a registered op at full resolution on the apply lane: one undo step."""
        from editor.ops import get_op, run_op

        if self.document is None:
            self.message.emit("Open an image first.")
            return None
        spec = get_op(op_name)
        params = dict(params or {})
        return self._commit_job(lambda ctx, img: run_op(spec, img, params, ctx),
                                title or spec.title, op=spec.name, params=params)

    def commit_image(self, image: np.ndarray, title: str, op: str | None = None,
                     params: dict | None = None) -> Job | None:
        """Push ``image`` as a new undo step (rendered off the GUI thread)."""
        if self.document is None:
            return None
        return self._commit_job(lambda ctx, _img: image, title, op=op, params=params,
                                progress=False)

    def cancel_jobs(self) -> None:
        """Cancel the running apply/AI jobs and drop the waiting ones."""
        self.apply_lane.cancel_all()
        self.job_lane.cancel_all()

    def pixel_at(self, x: int, y: int) -> tuple | None:
        """Value of the current image at full-resolution ``(x, y)``."""
        doc = self.document
        if doc is None:
            return None
        img = doc.image
        if not (0 <= y < img.shape[0] and 0 <= x < img.shape[1]):
            return None
        v = img[y, x]
        return tuple(int(c) for c in np.atleast_1d(v))

    # -- documents --------------------------------------------------------------
    def open_path(self, path: str, on_done: Callable[[], None] | None = None) -> Job:
        """Load ``path`` off the GUI thread; on failure the open document stays."""

        def work(ctx: OpContext):
            load_image, LoadError = _loader()
            ctx.report(0.05, "Reading")
            try:
                f = load_image(path)
            except LoadError as e:
                raise OpError(str(e)) from None
            ctx.report(0.6, "Preparing")
            doc = Document.from_file(f, store=self._new_store())
            return doc, render_state(doc.base_id, doc.original, ctx)

        def done(result):
            self._install(*result)
            self.message.emit(f"Opened {self.document.name} "
                              f"({self._describe(self.document.image)}).")
            if on_done:
                on_done()

        from pathlib import Path

        return self._submit(self.apply_lane, work, f"Open {Path(path).name}", done,
                            on_error=self._error)

    def open_array(self, image: np.ndarray, path: str | None = None,
                   recipe_prefix: list | None = None, dirty: bool = False,
                   on_done: Callable[[], None] | None = None) -> Job:
        """Open pixels already in memory (a recovery, a test image)."""

        def work(ctx: OpContext):
            doc = Document(image, path=path, store=self._new_store())
            return doc, render_state(doc.base_id, doc.original, ctx)

        def done(result):
            doc, rendered = result
            doc.recipe_prefix = list(recipe_prefix or [])
            if dirty:
                doc.saved_id = None
            self._install(doc, rendered)
            if on_done:
                on_done()

        return self._submit(self.apply_lane, work, "Open image", done, on_error=self._error)

    def close_document(self) -> None:
        """Forget the document (the caller has asked about unsaved edits)."""
        self.cancel_jobs()
        self._bump_preview()
        self.undo_stack.clear()
        if self.document is not None:
            self.document.close()
        self.document = None
        self.rendered = self.original = None
        self._display.clear()
        self._extras.clear()
        self._histograms.clear()
        PROXIES.clear()
        self.autosave.clear()
        self.documentChanged.emit()
        self.histogramChanged.emit(None)
        self.imageChanged.emit()
        self.dirtyChanged.emit(False)

    def mark_saved(self) -> None:
        if self.document is not None:
            self.document.mark_saved()
            self.autosave.clear()
            self.dirtyChanged.emit(False)

    def export(self, path: str, options: dict | None = None,
               on_done: Callable[[list[str]], None] | None = None) -> Job | None:
        """Save the current image to ``path`` on a worker (atomic; warnings reported)."""
        doc = self.document
        if doc is None:
            return None
        image, opts = doc.image, dict(options or {})
        opts.setdefault("exif", doc.exif)
        opts.setdefault("icc_profile", doc.icc_profile)

        def work(ctx: OpContext):
            from editor.io import SaveError, save_image

            ctx.report(0.1, "Encoding")
            try:
                return save_image(path, image, **opts)
            except SaveError as e:
                raise OpError(str(e)) from None

        def done(warnings):
            if self.document is doc and doc.current_id == sid:
                self.mark_saved()
            from pathlib import Path

            note = f" ({'; '.join(warnings)})" if warnings else ""
            self.message.emit(f"Exported {Path(path).name}{note}.")
            if on_done:
                on_done(list(warnings or []))

        sid = doc.current_id
        return self._submit(self.job_lane, work, "Export", done, on_error=self._error)

    def recipe_json(self) -> str:
        """The current state's recipe as JSON (helper A's Recipe format when present)."""
        doc = self.document
        steps = doc.recipe_steps() if doc else []
        try:
            from editor.core.recipe import Recipe, RecipeStep

            return Recipe(steps=[RecipeStep(op, params) for op, params in steps]).to_json()
        except ImportError:  # recipe module not there yet: same shape, plain JSON
            from editor import __version__

            return json.dumps({"convolve_version": __version__,
                               "steps": [{"op": o, "params": p} for o, p in steps]}, indent=2)

    def apply_recipe(self, recipe: Any, title: str = "Apply recipe") -> Job | None:
        """Replay a loaded recipe on the current image as one undo step."""
        if self.document is None:
            return None
        steps = [(s.op, dict(s.params)) for s in recipe.steps]
        return self._commit_job(lambda ctx, img: recipe.apply(img, ctx), title,
                                op=None, params=None, recipe_steps=steps)

    # -- undo -----------------------------------------------------------------------
    def undo(self) -> None:
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    # -- tool sessions (the tools dock) -------------------------------------------------
    def begin_session(self, spec: Any) -> None:
        """Start adjusting with ``spec``; commits merge until Apply or another tool."""
        self.clear_preview()
        self.session = Session(spec, self.document.current_id if self.document else None)

    def end_session(self) -> None:
        self.clear_preview()
        self.session = None

    def session_changed(self, params: dict) -> None:
        """Live preview of the open adjustment (throttled by the form)."""
        s = self.session
        if s is None or self.document is None:
            return
        s.latest = dict(params)
        if s.spec.preview:
            self.request_preview(s.spec, params, base_id=s.base_id)

    def session_committed(self, params: dict) -> None:
        """Slider released: light ops commit at full resolution (merged undo step)."""
        s = self.session
        if s is None or self.document is None:
            return
        s.latest = dict(params)
        if s.spec.heavy or s.spec.ai or not s.spec.params:
            return  # these wait for Apply
        if s.has_step and params == s.committed:
            return
        if params == s.spec.defaults() and s.job is None:
            if s.has_step:
                self.undo_stack.undo()  # back to the base: no step for a no-op
            self.clear_preview()
            return
        self._session_commit(params)

    def session_apply(self, params: dict) -> None:
        """Apply: commit (if not yet) and close the adjustment."""
        s = self.session
        if s is None or self.document is None:
            if self.document is None:
                self.message.emit("Open an image first.")
            return
        if s.has_step and params == s.committed and s.job is None:
            self._restart_session()
        else:
            self._session_commit(dict(params), close_after=True)

    def session_reset(self) -> None:
        """Drop the open adjustment's step (the form shows defaults again)."""
        s = self.session
        if s is not None and s.job is not None:
            s.job.cancel()
        if s is not None and s.has_step:
            self.undo_stack.undo()
        self.clear_preview()

    def session_cancel(self) -> None:
        """Stop jobs and drop the open adjustment."""
        self.cancel_jobs()
        self.session_reset()

    # -- preview ---------------------------------------------------------------------
    def request_preview(self, spec: Any, params: dict, base_id: int | None = None) -> None:
        """Run ``spec`` on a viewport-sized proxy; stale results are dropped."""
        doc = self.document
        if doc is None:
            return
        base_id = doc.current_id if base_id is None else base_id
        base = doc.get(base_id)
        view = self._view_request(base.shape)
        gen = self._bump_preview(clear=False)
        params = dict(params)
        job = Job(lambda ctx: preview(ctx, spec, params, base_id, base, view),
                  title=f"Preview {spec.title}", data={"gen": gen, "kind": "preview"})
        self.preview_lane.submit(job)

    def refresh_preview(self) -> None:
        """Re-run the open adjustment's preview (the view moved or zoomed)."""
        s = self.session
        if s is not None and s.latest is not None and self.preview_result is not None \
                and s.spec.preview:
            self.request_preview(s.spec, s.latest, base_id=s.base_id)

    def make_lane(self, name: str, latest_wins: bool = False) -> Lane:
        """A private lane that :meth:`shutdown` stops with the others."""
        lane = Lane(name, latest_wins=latest_wins, parent=self)
        self._extra_lanes.append(lane)
        return lane

    def run_background(self, fn: Callable[[OpContext], Any],
                       on_done: Callable[[Any], None], title: str = "") -> Job:
        """Run ``fn`` on the job lane without progress UI (registry loading)."""
        return self._submit(self.job_lane, fn, title, on_done, progress=False)

    def clear_preview(self) -> None:
        self._bump_preview()
        if self.rendered is not None:
            self.histogramChanged.emit(self.rendered.histogram)

    # -- internals --------------------------------------------------------------------
    def _view_request(self, shape) -> ViewRequest:
        if self.view_provider is not None:
            v = self.view_provider()
            if v is not None:
                return v
        h, w = shape[:2]
        zoom = min(1.0, 1200 / max(h, w))
        return ViewRequest((0, 0, w, h), zoom, (int(w * zoom), int(h * zoom)))

    def _bump_preview(self, clear: bool = True) -> int:
        self._gen += 1
        if clear and self.preview_result is not None:
            self.preview_result = None
            self.previewChanged.emit(None)
        return self._gen

    def _new_store(self) -> HistoryStore:
        return HistoryStore(self.history_budget, self.min_levels)

    def _describe(self, image: np.ndarray) -> str:
        ch = {2: "gray"}.get(image.ndim) or {3: "RGB", 4: "RGBA"}[image.shape[2]]
        bits = 16 if image.dtype == np.uint16 else 8
        return f"{image.shape[1]}×{image.shape[0]}, {ch}, {bits}-bit"

    def _install(self, doc: Document, rendered: Rendered) -> None:
        self.cancel_jobs()
        self._bump_preview()
        self.undo_stack.clear()
        if self.document is not None:
            self.document.close()
        self.autosave.clear()
        PROXIES.clear()
        self._display.clear()
        self._extras.clear()
        self.document = doc
        self._tip = doc.current_id
        self._seen_max = doc.current_id
        self.rendered = self.original = rendered
        self._display[rendered.state_id] = rendered
        self._histograms = {rendered.state_id: rendered.histogram}
        if self.session is not None:
            self.session = Session(self.session.spec, doc.current_id)
        self.documentChanged.emit()
        self.originalChanged.emit(rendered)
        self.renderedChanged.emit(rendered)
        self.histogramChanged.emit(rendered.histogram)
        self.extrasChanged.emit({})
        self.imageChanged.emit()
        self.dirtyChanged.emit(doc.dirty)

    def _restart_session(self) -> None:
        s = self.session
        if s is not None:
            self.session = Session(s.spec, self.document.current_id if self.document else None)

    def _session_commit(self, params: dict, close_after: bool = False) -> None:
        from editor.ops import run_op

        s = self.session
        if s.job is not None:
            s.job.cancel()
        spec, token = s.spec, s.token
        s.committed = dict(params)
        s.close_after = s.close_after or close_after
        s.job = self._commit_job(lambda ctx, img: run_op(spec, img, params, ctx), spec.title,
                                 op=spec.name, params=dict(params), base_id=s.base_id,
                                 merge_token=token, progress=spec.heavy or spec.ai)

    def _commit_job(self, make: Callable[[OpContext, np.ndarray], np.ndarray], title: str, *,
                    op: str | None, params: dict | None, base_id: int | None = None,
                    merge_token: int | None = None, progress: bool = True,
                    recipe_steps: list | None = None) -> Job:
        doc = self.document
        fixed_base = base_id

        def work(ctx: OpContext):
            # a queued commit builds on what the commit before it produced
            with self._tip_lock:
                base = fixed_base if fixed_base is not None else self._tip
            out = make(ctx, doc.get(base))
            ctx.check()
            rendered = render_state(0, out, ctx)
            ctx.check()
            sid = doc.add_state(out, parent=base, title=title, op=op, params=params,
                                steps=recipe_steps)
            rendered.state_id = sid
            if fixed_base is None:
                with self._tip_lock:
                    self._tip = sid
            return base, sid, rendered, dict(ctx.extras)

        def done(result):
            base, sid, rendered, extras = result
            s = self.session
            if merge_token is not None:
                ok = (s is not None and s.token == merge_token and self.document is doc
                      and (doc.current_id == base or s.has_step))
            else:
                ok = self.document is doc and doc.current_id == base
            if s is not None and s.job is job:
                s.job = None
            if job.cancelled:
                ok = False
            if not ok:
                self._seen_max = max(self._seen_max, sid)
                doc.store.release(sid)
                doc.states.pop(sid, None)
                if job.cancelled:
                    self.message.emit(f"{title} cancelled; the image is unchanged.")
                elif self.document is doc:
                    self.message.emit(f"{title} was discarded: the image changed meanwhile.")
                return
            self._seen_max = max(self._seen_max, sid)
            self._display[sid] = rendered
            self._histograms[sid] = rendered.histogram
            self._extras[sid] = extras
            self._pushing = merge_token
            try:
                self.undo_stack.push(EditCommand(self, base, sid, title, op, params, merge_token))
            finally:
                self._pushing = None
            self._collect_garbage()
            if extras:
                self.message.emit(self._extras_sentence(title, extras))
            if s is not None and s.token == merge_token and s.close_after:
                self._restart_session()

        def failed(msg):
            s = self.session
            if s is not None and s.job is job:
                s.job = None
            self._error(msg)

        job = self._submit(self.apply_lane, work, title, done, on_error=failed,
                           progress=progress)
        return job

    _pushing: int | None = None

    def _extras_sentence(self, title: str, extras: dict) -> str:
        parts = []
        for key, value in extras.items():
            try:
                parts.append(f"{len(value)} {key}")
            except TypeError:
                parts.append(key)
        return f"{title}: {', '.join(parts)}."

    def _show_state(self, sid: int) -> None:
        """Make ``sid`` current and display it (called by undo commands)."""
        doc = self.document
        if doc is None:
            return
        doc.set_current(sid)
        with self._tip_lock:
            self._tip = sid
        doc.extras = self._extras.get(sid, {})
        self._bump_preview()
        s = self.session
        if s is not None:
            if sid == s.base_id:
                s.has_step = False
            elif self._pushing is not None and self._pushing == s.token:
                s.has_step = True
            else:  # the image changed under the tool: adjust from here
                self.session = Session(s.spec, sid)
        if sid in self._display:
            self._display.move_to_end(sid)
            self._set_rendered(self._display[sid])
        else:
            hist = self._histograms.get(sid)
            job = Job(lambda ctx: render_state(sid, doc.get(sid), ctx, hist), title="Display",
                      data={"kind": "render", "state": sid})
            self.preview_lane.submit(job)
        self.extrasChanged.emit(doc.extras)
        self.imageChanged.emit()
        self.dirtyChanged.emit(doc.dirty)
        s = self.session
        if s is not None and s.latest is not None and s.spec.preview and s.job is None \
                and s.latest != (s.committed if s.has_step else s.spec.defaults()):
            # still dragging after a commit landed: keep the preview current
            self.request_preview(s.spec, s.latest, base_id=s.base_id)

    def _set_rendered(self, rendered: Rendered) -> None:
        self.rendered = rendered
        self.renderedChanged.emit(rendered)
        if self.preview_result is None:
            self.histogramChanged.emit(rendered.histogram)

    def _collect_garbage(self) -> None:
        """Free states no undo command refers to (merged or discarded steps)."""
        doc = self.document
        if doc is None:
            return
        keep = {doc.base_id, doc.current_id}
        for i in range(self.undo_stack.count()):
            cmd = self.undo_stack.command(i)
            if isinstance(cmd, EditCommand):
                keep.update((cmd.before, cmd.after))
        # states a worker has stored but whose result the GUI has not taken yet
        keep.update(s for s in list(doc.states) if s > self._seen_max)
        doc.retain_only(keep)
        for sid in [s for s in self._display if s not in keep]:
            del self._display[sid]
        while len(self._display) > DISPLAY_CACHE:
            self._display.popitem(last=False)
        for table in (self._extras, self._histograms):
            for sid in [s for s in table if s not in keep]:
                del table[sid]

    def _submit(self, lane: Lane, fn, title: str, on_done, *, on_error=None, on_partial=None,
                progress: bool = True) -> Job:
        job = Job(fn, title=title, data={"progress": progress, "on_done": on_done,
                                         "on_error": on_error, "on_partial": on_partial,
                                         "kind": "commit" if lane is self.apply_lane else "job"})
        return lane.submit(job)

    def _error(self, msg: str) -> None:
        self.message.emit(msg)
        self.errorOccurred.emit(msg)

    # lane signal handlers (GUI thread) ------------------------------------------------
    def _job_started(self, job: Job) -> None:
        if job.data.get("progress"):
            self._busy[job.id] = job
            self.busyChanged.emit(True, job.title)
            self.progressChanged.emit(0.0, job.title)

    def _job_progress(self, job: Job, fraction: float, msg: str) -> None:
        if job.id in self._busy:
            self.progressChanged.emit(fraction, msg or job.title)

    def _job_partial(self, job: Job, value: Any) -> None:
        cb = job.data.get("on_partial")
        if cb is not None:
            cb(value)

    def _finish(self, job: Job) -> None:
        if self._busy.pop(job.id, None) is not None:
            title = next(iter(self._busy.values())).title if self._busy else ""
            self.busyChanged.emit(bool(self._busy), title)

    def _job_done(self, job: Job, result: Any) -> None:
        self._finish(job)
        kind = job.data.get("kind")
        if kind == "preview":
            if job.data["gen"] != self._gen or self.document is None:
                return  # stale: the params or the image moved on
            self.preview_result = result
            self.previewChanged.emit(result)
            self.histogramChanged.emit(result.histogram)
            return
        if kind == "render":
            if self.document is not None and job.data["state"] == self.document.current_id:
                self._display[result.state_id] = result
                while len(self._display) > DISPLAY_CACHE:
                    self._display.popitem(last=False)
                self._set_rendered(result)
            return
        cb = job.data.get("on_done")
        if cb is not None:
            try:
                cb(result)
            except Exception as e:  # noqa: BLE001  (a panel's callback must not kill the app)
                log.exception("callback of %s failed", job.title)
                self._error(f"{job.title} failed after finishing: {e}.")

    def _job_failed(self, job: Job, msg: str) -> None:
        self._finish(job)
        if job.data.get("kind") == "preview":
            if job.data["gen"] == self._gen:
                self.message.emit(msg)
            return
        cb = job.data.get("on_error")
        (cb or self._error)(msg)

    def _job_cancelled(self, job: Job) -> None:
        self._finish(job)
        if job.data.get("progress"):
            self.message.emit(f"{job.title} cancelled; the image is unchanged.")

    # -- autosave ------------------------------------------------------------------------
    def autosave_now(self, wait: bool = False) -> None:
        """Write the recovery copy if there are unsaved edits (in a background thread)."""
        doc = self.document
        if doc is None or not doc.dirty:
            if self._autosave_thread is None or not self._autosave_thread.is_alive():
                self.autosave.clear()
            return
        if self._autosave_thread is not None and self._autosave_thread.is_alive():
            return
        image, steps = doc.image, doc.recipe_steps()
        source, replayable = doc.path, doc.replayable()

        def write():
            try:
                self.autosave.write(image, steps=steps, source=source, replayable=replayable)
            except OSError as e:
                log.warning("autosave failed: %s", e)

        self._autosave_thread = threading.Thread(target=write, name="autosave", daemon=True)
        self._autosave_thread.start()
        if wait:
            self._autosave_thread.join()

    def shutdown(self) -> None:
        """Stop the lanes and clear the recovery copy (a normal close)."""
        if self._shut:
            return
        self._shut = True
        self._autosave_timer.stop()
        for lane in (self.preview_lane, self.apply_lane, self.job_lane, *self._extra_lanes):
            lane.stop()
        if self._autosave_thread is not None:
            self._autosave_thread.join(5)
        self.autosave.clear()
        if self.document is not None:
            self.document.close()
            self.document = None
