"""The editing controller: one document, its undo stack, the lanes and the tools' API.

The controller owns the state the window shows (document, undo stack,
renderings, preview) and the signals that announce it; the work is split along
its seams:

* :class:`~editor.ui.pipeline.CommitPipeline`: every edit, from every tool, is
  an :class:`~editor.ui.pipeline.EditRequest` committed by one function;
* :class:`~editor.ui.tool_session.ToolSessions`: the Tools dock's open
  adjustment (live preview, merged commits);
* :class:`~editor.ui.document_io.DocumentIO`: open, export, the recovery
  journal and restore.

Thread rules: only the GUI thread changes the document (registers states,
switches the current one), the undo stack and the signals. Workers read the
states their job captured (pinned in the store while the job runs) and store
new pixels, pinned until the GUI thread registers or drops them, so no
collector can free a state a job or the history still needs.
"""

from __future__ import annotations

import atexit
import copy
import logging
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from editor.core.context import OpContext
from editor.core.document import Document
from editor.core.history import HistoryStore
from editor.core.recovery import LinearHistory, RecoveryJournal, Step
from editor.ui.commands import EditCommand
from editor.ui.document_io import SNAPSHOT_SECONDS, DocumentIO
from editor.ui.pipeline import CommitPipeline, EditRequest, op_compute
from editor.ui.tool_session import ToolSessions
from editor.workers.lanes import Job, Lane
from editor.workers.render import PROXIES, Rendered, ViewRequest, render_state

log = logging.getLogger(__name__)

#: renderings kept for instant undo/redo (each ~5.3 bytes per pixel with its pyramid)
DISPLAY_CACHE = 2
#: bytes of per-state histograms kept (a 16-bit one is 2 MB: 4 x 65,536 counts), newest kept
HISTOGRAM_CACHE_BYTES = 64 << 20


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
    requestFinished = Signal(object)  # an EditRequest got its outcome
    selectionChanged = Signal(object)  # the shown state's selection: float32 mask or None

    def __init__(self, parent: QObject | None = None, *, history_budget: int | None = None,
                 min_levels: int = 3, journal: RecoveryJournal | None = None,
                 snapshot_seconds: float = SNAPSHOT_SECONDS) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.history_budget = history_budget
        self.min_levels = min_levels
        self.undo_stack = QUndoStack(self)
        self.undo_stack.indexChanged.connect(self._index_changed)
        self.preview_lane = Lane("preview", latest_wins=True, parent=self)
        self.apply_lane = Lane("apply", latest_wins=False, parent=self)
        self.job_lane = Lane("jobs", latest_wins=False, parent=self)
        self._extra_lanes: list[Lane] = []
        for lane in (self.preview_lane, self.apply_lane, self.job_lane):
            self._track(lane)
        #: () -> ViewRequest, set by the canvas owner so previews match the view
        self.view_provider: Callable[[], ViewRequest] | None = None
        self.rendered: Rendered | None = None
        self.original: Rendered | None = None
        self.preview_result = None
        self.device_label = ""
        self.journal = journal if journal is not None else RecoveryJournal()
        self.pipeline = CommitPipeline(self, self.apply_lane)
        self.tools = ToolSessions(self)
        self.io = DocumentIO(self)
        self._display: OrderedDict[int, Rendered] = OrderedDict()
        self._extras: dict[int, dict] = {}
        #: exact histograms by state: small, and they spare undo a full-image count
        self._histograms: dict[int, Any] = {}
        self._busy: dict[int, Job] = {}
        # the document whose shown state is still to be settled (see _settle_shown)
        self._settle_due: Document | None = None
        self._pushing: int | None = None
        self._restoring = False
        self._partial_owner: EditRequest | None = None
        self._shown_mask: int | None = None  # store id of the selection on screen
        self._snapshot_timer = QTimer(self)
        self._snapshot_timer.setInterval(int(snapshot_seconds * 1000))
        self._snapshot_timer.timeout.connect(self.io.snapshot)
        self._snapshot_timer.start()
        self._shut = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        # a QThread destroyed while running aborts the process: stop lanes at exit
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref().shutdown())

    # -- state for panels ---------------------------------------------------------------
    @property
    def session(self):
        """The Tools dock's open adjustment (``None`` when no tool is open)."""
        return self.tools.session

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
        """True while a job with progress runs or waits (or a state's display is
        about to be rendered)."""
        return bool(self._busy) or self._settle_due is not None or self.pipeline.busy()

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

    # -- edits: everything goes through the pipeline ----------------------------------------
    def submit(self, req: EditRequest) -> EditRequest | None:
        """Queue an edit request (see :mod:`editor.ui.pipeline`)."""
        if self.document is None:
            self.message.emit("Open an image first.")
            return None
        return self.pipeline.submit(req)

    def apply_op(self, op_name: str, params: dict | None = None, title: str | None = None,
                 **callbacks: Any) -> EditRequest | None:
        """Run a registered op at full resolution on the image shown when it starts.

        ``callbacks`` are :class:`EditRequest` fields: ``on_committed(image,
        extras)``, ``on_error(msg)``, ``on_cancelled()``, ``on_partial(preview)``,
        ``partial_preview=True`` to show intermediate images on the canvas.
        """
        bound = self._bound_op(op_name, params, callbacks.get("on_error"))
        if bound is None:
            return None
        spec, params = bound
        heavy = spec.heavy or spec.ai
        return self.submit(EditRequest(title or spec.title, op_compute(spec, params),
                                       op=spec.name, params=params, keep_pixels=heavy,
                                       **callbacks))

    def _bound_op(self, op_name: str, params: dict | None,
                  on_error: Callable[[str], None] | None) -> tuple[Any, dict] | None:
        """``(spec, bound params)`` for a request, or None after telling the user why."""
        from editor.ops import get_op

        if self.document is None:
            self.message.emit("Open an image first.")
            return None
        try:
            spec = get_op(op_name)
            return spec, spec.bind(params)
        except (KeyError, ValueError) as e:
            msg = str(e).strip("'\"")
            msg = msg if msg.endswith(".") else msg + "."
            self.report_error(msg)
            if on_error:
                on_error(msg)
            return None

    # -- selections --------------------------------------------------------------------
    def selection(self) -> np.ndarray | None:
        """The current state's selection (``float32`` mask), or None."""
        return None if self.document is None else self.document.selection()

    def has_selection(self) -> bool:
        """Whether the current state has a selection, without reading its mask (a spilled
        12 MP mask is 48 MB from disk: not for enabling a menu item)."""
        return self.document is not None and self.document.mask_id() is not None

    def select(self, op_name: str, params: dict | None = None,
               title: str | None = None, **callbacks: Any) -> EditRequest | None:
        """Change the selection with a selection op: one undo step ("Ellipse Select")."""
        bound = self._bound_op(op_name, params, callbacks.get("on_error"))
        if bound is None:
            return None
        spec, params = bound

        def compute(ctx: OpContext, image: np.ndarray) -> np.ndarray | None:
            from editor.ops.registry import run_select

            return run_select(spec, image, params, ctx.selection, ctx)

        return self.submit(EditRequest(title or spec.title, compute, op=spec.name,
                                       params=params, selects=True, shows_progress=False,
                                       **callbacks))

    def set_selection(self, mask: np.ndarray | None, title: str, *, op: str | None = None,
                      params: dict | None = None, **callbacks: Any) -> EditRequest | None:
        """Make ``mask`` (painted, loaded, or None) the selection: one undo step.

        With ``op="select_mask"`` the mask is rounded to its 16-bit form and its
        SHA-256 recorded, so a saved recipe replays it exactly from its PNG.
        """
        fixed = None if mask is None else np.asarray(mask, np.float32)
        if op == "select_mask" and fixed is not None:
            from editor.core.selection import mask_sha256, quantize

            fixed = quantize(fixed)
            params = {**(params or {}), "sha256": mask_sha256(fixed)}
        # a painted mask cannot be recomputed: the journal keeps it
        painted = op is None or op == "select_mask"
        return self.submit(EditRequest(title, lambda _ctx, _img: fixed, op=op, params=params,
                                       selects=True, shows_progress=False,
                                       keep_pixels=painted, **callbacks))

    def commit_image(self, image: np.ndarray, title: str, *, base: int,
                     op: str | None = None, params: dict | None = None,
                     **callbacks: Any) -> EditRequest | None:
        """Commit pixels computed elsewhere from state ``base`` (refused if the image moved)."""
        return self.submit(EditRequest(title, lambda _ctx, _img: image, op=op, params=params,
                                       base=base, rebase=False, keep_pixels=True,
                                       shows_progress=False, **callbacks))

    def apply_recipe(self, recipe: Any, title: str = "Apply recipe") -> EditRequest | None:
        """Replay a loaded recipe on the current image as one undo step."""
        # mask files are named relative to the recipe: record where they are
        steps = [(s.op, recipe.resolved(s.op, dict(s.params))) for s in recipe.steps]
        return self.submit(EditRequest(title, lambda ctx, img: recipe.apply(img, ctx),
                                       steps=steps))

    def analyse(self, op_name: str, params: dict, title: str,
                on_done: Callable[[np.ndarray, dict], None],
                on_error: Callable[[str], None] | None = None,
                on_partial: Callable[[Any], None] | None = None) -> Job | None:
        """Run an op that reports (class scores, feature maps) without editing the image.

        The image is captured now; ``on_done(output, extras)`` runs on the GUI thread.
        """
        doc = self.document
        if doc is None:
            self.message.emit("Open an image first.")
            return None
        image = doc.image
        compute = op_compute(op_name, params)

        def work(ctx: OpContext):
            out = compute(ctx, image)  # whole-image: no selection is handed to it
            return out, dict(ctx.extras)

        return self.job_lane.submit(Job(work, title, shows_progress=True,
                                        on_done=lambda r: on_done(*r),
                                        on_error=on_error or self.report_error,
                                        on_partial=on_partial))

    def run_job(self, fn: Callable[[OpContext], Any], title: str,
                on_done: Callable[[Any], None], on_partial: Callable[[Any], None] | None = None,
                on_error: Callable[[str], None] | None = None) -> Job:
        """Run ``fn(ctx)`` on the job lane with progress and Cancel in the status bar.

        For work that does not edit the image (edits go through :meth:`submit`).
        """
        return self.job_lane.submit(Job(fn, title, shows_progress=True, on_done=on_done,
                                        on_partial=on_partial,
                                        on_error=on_error or self.report_error))

    def run_background(self, fn: Callable[[OpContext], Any],
                       on_done: Callable[[Any], None], title: str = "") -> Job:
        """Run ``fn`` on the job lane without progress UI (registry loading)."""
        return self.job_lane.submit(Job(fn, title, on_done=on_done))

    def make_lane(self, name: str, latest_wins: bool = False) -> Lane:
        """A private lane that :meth:`shutdown` stops with the others."""
        lane = Lane(name, latest_wins=latest_wins, parent=self)
        self._extra_lanes.append(lane)
        return lane

    def cancel_jobs(self) -> None:
        """Cancel the running edit and drop the waiting ones; stop other long jobs."""
        self.pipeline.cancel_all()
        self.job_lane.cancel_all()

    # -- undo -----------------------------------------------------------------------------------
    def undo(self) -> None:
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    # -- documents (see DocumentIO) ------------------------------------------------------------
    def open_path(self, path: str, on_done: Callable[[], None] | None = None) -> Job:
        """Open an image, or a ``.convolve`` project with its history."""
        if str(path).lower().endswith(".convolve"):
            return self.io.open_project(path, on_done)
        return self.io.open_path(path, on_done)

    def save_project(self, path: str, on_done: Callable[[str], None] | None = None,
                     on_error: Callable[[str], None] | None = None) -> Job | None:
        """Save the document and its whole history as a ``.convolve`` project."""
        return self.io.save_project(path, on_done, on_error)

    def history(self) -> LinearHistory:
        """The undo stack as a :class:`LinearHistory` (state ids and recipe entries)."""
        doc = self.document
        history = LinearHistory(doc.base_id if doc else 0)
        for i in range(self.undo_stack.count()):
            cmd = self.undo_stack.command(i)
            info = doc.states.get(cmd.after) if doc else None
            steps = list(info.steps) if info is not None else []
            history.commands.append(Step(cmd.before, cmd.after, cmd.text(), cmd.op,
                                         cmd.params, steps, None,
                                         info is not None and info.selects))
        history.index = self.undo_stack.index()
        return history

    def open_array(self, image: np.ndarray, path: str | None = None,
                   on_done: Callable[[], None] | None = None) -> Job:
        return self.io.open_array(image, path, on_done)

    def export(self, path: str, options: dict | None = None,
               on_done: Callable[[list[str]], None] | None = None) -> Job | None:
        return self.io.export(path, options, on_done)

    def restore(self, recovery: Any, on_done: Callable[[], None] | None = None,
                on_error: Callable[[str], None] | None = None) -> Job:
        """Rebuild a crashed session with its whole history (see :mod:`document_io`)."""
        return self.io.restore(recovery, on_done, on_error)

    def autosave_now(self, wait: bool = False) -> None:
        """Snapshot the current pixels for crash recovery now (the journal is always on)."""
        self.io.snapshot(wait=wait)

    def close_document(self) -> None:
        """Forget the document (the caller has asked about unsaved edits)."""
        self.cancel_jobs()
        self.tools.clear_preview()
        self.undo_stack.clear()
        if self.document is not None:
            self.document.close()
        self.document = None
        self.rendered = self.original = None
        self._display.clear()
        self._extras.clear()
        self._histograms.clear()
        PROXIES.clear()
        self.journal.clear()
        self.documentChanged.emit()
        self.histogramChanged.emit(None)
        self.imageChanged.emit()
        self.dirtyChanged.emit(False)

    def mark_saved(self) -> None:
        doc = self.document
        if doc is not None:
            doc.mark_saved()
            if self.journal.active:
                self.journal.saved(doc.current_id)
            self.dirtyChanged.emit(False)

    def recipe_json(self) -> str:
        """The current state's recipe as JSON (``convolve apply --recipe`` replays it)."""
        from editor.core.recipe import Recipe, RecipeStep

        steps = self.document.recipe_steps() if self.document else []
        return Recipe(steps=[RecipeStep(op, params) for op, params in steps]).to_json()

    def save_recipe(self, path: str) -> list[str]:
        """Write the current state's recipe to ``path``, painted masks as PNGs beside it.

        Returns the mask files written; raises ``OSError`` or ``ValueError``
        (one sentence) when it cannot.
        """
        from editor.core.recipe import Recipe
        from editor.io.masks import MASK_OP, save_recipe

        doc = self.document
        steps = doc.recipe_steps() if doc is not None else []
        masks = {}
        for info in doc.chain() if doc is not None else []:
            if info.op == MASK_OP and info.mask is not None and info.params:
                masks[str(info.params.get("sha256", ""))] = doc.store.get(info.mask)
        from editor.io import ImageIOError

        recipe = Recipe()
        for op, params in steps:
            recipe.append(op, params)
        try:
            return save_recipe(recipe, path, masks)
        except ImageIOError as e:  # a mask PNG could not be written
            raise ValueError(str(e)) from None

    # -- tool sessions (the tools dock; see ToolSessions) ------------------------------------------
    def begin_session(self, spec: Any) -> None:
        self.tools.begin(spec)

    def end_session(self) -> None:
        self.tools.end()

    def session_changed(self, params: dict) -> None:
        self.tools.changed(params)

    def session_committed(self, params: dict) -> None:
        self.tools.committed(params)

    def session_apply(self, params: dict) -> None:
        self.tools.apply(params)

    def session_reset(self) -> None:
        self.tools.reset()

    def session_cancel(self) -> None:
        """Stop jobs and drop the open adjustment."""
        self.cancel_jobs()
        self.tools.reset()

    def session_follow(self) -> dict | None:
        """Parameters the open tool's form shows after undo/redo/jump (see ToolSessions.follow)."""
        return self.tools.follow()

    def step_of(self, sid: int) -> tuple[str, dict] | None:
        """``(op, params)`` of the one recipe step that made state ``sid``, else None.

        None for the opened image, an edit without an op (a painted mask) and a
        replayed recipe of several steps.
        """
        info = self.document.states.get(sid) if self.document is not None else None
        if info is None or info.op is None or info.steps:
            return None
        return info.op, copy.deepcopy(info.params or {})

    def request_preview(self, spec: Any, params: dict, base_id: int | None = None) -> None:
        self.tools.request_preview(spec, params, base_id)

    def refresh_preview(self) -> None:
        self.tools.refresh_preview()

    def clear_preview(self) -> None:
        self.tools.clear_preview()

    # -- called by the pipeline, the tool sessions and document I/O (GUI thread) --------
    def new_store(self) -> HistoryStore:
        """A history store; the default budget bounds the whole process's memory."""
        # spilling in the background: an undo on the GUI thread that reads a state back
        # must not also write the states it pushes out (300 ms for four 12 MP files)
        return HistoryStore(self.history_budget, self.min_levels,
                            count_process=self.history_budget is None, spill_in_background=True)

    def install(self, doc: Document, rendered: Rendered) -> None:
        """Make ``doc`` the open document (the previous one is closed)."""
        self.cancel_jobs()
        self.tools.clear_preview()
        self.undo_stack.clear()
        if self.document is not None:
            self.document.close()
        self.journal.clear()
        PROXIES.clear()
        self._display.clear()
        self._extras.clear()
        self.document = doc
        self.rendered = rendered
        self.original = rendered if rendered.state_id == doc.base_id else None
        self._display[rendered.state_id] = rendered
        self._histograms = {rendered.state_id: rendered.histogram}
        self.tools.restart()
        self.documentChanged.emit()
        if self.original is not None:
            self.originalChanged.emit(rendered)
        else:
            base = doc.base_id
            self.preview_lane.submit(Job(lambda ctx: render_state(base, doc.original, ctx),
                                         "Display", on_done=self._original_rendered))
        self.renderedChanged.emit(rendered)
        self.histogramChanged.emit(rendered.histogram)
        self.extrasChanged.emit({})
        self.imageChanged.emit()
        self.dirtyChanged.emit(doc.dirty)
        self._shown_mask = -1  # whatever the new document selects is news
        self._announce_selection(doc, doc.current_id)

    def install_restored(self, doc: Document, rendered: Rendered, history: LinearHistory,
                         saved: bool = False) -> None:
        """Install a rebuilt document and its undo stack (a recovery, a project).

        Not journaled step by step: a recovery's journal is adopted whole, and a
        project's history goes into the journal with the first new edit.
        ``saved``: the current state is on disk (a project just opened).
        """
        self._restoring = True
        try:
            self.install(doc, rendered)
            doc.saved_id = doc.current_id if saved else None
            for step in history.commands:
                self.undo_stack.push(EditCommand(self, step.before, step.after, step.title,
                                                 step.op, step.params))
            self.undo_stack.setIndex(history.index)
        finally:
            self._restoring = False
        self.collect_garbage()
        self.dirtyChanged.emit(doc.dirty)

    def _original_rendered(self, rendered: Rendered) -> None:
        if self.document is not None and rendered.state_id == self.document.base_id:
            self.original = rendered
            self.originalChanged.emit(rendered)

    def push(self, command: EditCommand) -> None:
        """Push a committed step (its redo shows it)."""
        self._pushing = command.merge_token
        try:
            self.undo_stack.push(command)
        finally:
            self._pushing = None

    def rendering_of(self, sid: int) -> Rendered | None:
        """The cached display of state ``sid``, if any."""
        return self._display.get(sid)

    def histogram_of(self, sid: int) -> Any:
        """The exact histogram of state ``sid`` when one was computed, else None."""
        return self._histograms.get(sid)

    def remember_rendering(self, sid: int, rendered: Rendered, extras: dict) -> None:
        self._display[sid] = rendered
        self._histograms.pop(sid, None)  # re-inserted as the newest
        self._histograms[sid] = rendered.histogram
        # a per-state histogram only saves a recount: past the byte bound the oldest go
        sizes = [sum(c.nbytes for c in h.counts.values()) for h in self._histograms.values()]
        total = sum(sizes)
        for old_sid, size in zip(list(self._histograms), sizes, strict=True):
            if total <= HISTOGRAM_CACHE_BYTES or old_sid == sid:
                break
            del self._histograms[old_sid]
            total -= size
        self._extras[sid] = extras

    def journal_commit(self, req: EditRequest, before: int, after: int) -> None:
        if not self._restoring:
            self.io.journal_commit(req, before, after)

    def report_error(self, msg: str) -> None:
        """One sentence to the status bar (and to listeners of errors)."""
        if msg:
            self.message.emit(msg)
            self.errorOccurred.emit(msg)

    def request_finished(self, req: EditRequest) -> None:
        self.requestFinished.emit(req)

    def show_preview(self, result: Any) -> None:
        """Paint ``result`` (a PreviewResult) over the committed image."""
        self.preview_result = result
        self.previewChanged.emit(result)
        if result is not None:
            self.histogramChanged.emit(result.histogram)

    def hide_preview(self, show_histogram: bool = True) -> None:
        """Stop painting a preview; the committed image's histogram shows again."""
        if self.preview_result is not None:
            self.preview_result = None
            self.previewChanged.emit(None)
        if show_histogram and self.rendered is not None:
            self.histogramChanged.emit(self.rendered.histogram)

    def clear_partial_preview(self, req: EditRequest) -> None:
        """An op that showed intermediate images has ended: show the committed image."""
        if req.partial_preview:
            self.hide_preview()

    def _show_state(self, sid: int) -> None:
        """Make ``sid`` current and display it (called by undo commands)."""
        doc = self.document
        if doc is None:
            return
        doc.set_current(sid)
        doc.extras = self._extras.get(sid, {})
        self.tools.bump()
        self.hide_preview(show_histogram=False)  # the new state's histogram follows
        self.tools.state_shown(sid, self._pushing)
        if sid in self._display:
            self._display.move_to_end(sid)
            self._set_rendered(self._display[sid])
        # the rest once control is back in the event loop: a jump of many steps in the
        # History dock (QUndoStack.setIndex undoes them one by one) then renders and
        # reads the selection of only the state it lands on, not first of each state
        # passed on the way (work a lane would finish before starting the wanted one)
        if self._settle_due is None:
            QTimer.singleShot(0, self, self._settle_shown)
        self._settle_due = doc
        self.extrasChanged.emit(doc.extras)
        self.imageChanged.emit()
        self.dirtyChanged.emit(doc.dirty)

    def _settle_shown(self) -> None:
        """Show the selection of the state shown, and render it if not cached: once
        for all the steps :meth:`_show_state` took since control left the event loop."""
        doc, self._settle_due = self._settle_due, None
        if doc is None or self.document is not doc:
            return  # closed or replaced meanwhile: the new document shows itself
        sid = doc.current_id
        self._announce_selection(doc, sid)
        if self.rendered is not None and self.rendered.state_id == sid:
            return
        if sid in self._display:  # its rendering came in meanwhile (a commit's)
            self._set_rendered(self._display[sid])
            return
        hist = self._histograms.get(sid)

        def shown(result: Rendered) -> None:
            if self.document is doc and doc.current_id == sid:
                self._display[sid] = result
                while len(self._display) > DISPLAY_CACHE:
                    self._display.popitem(last=False)
                self._set_rendered(result)

        self._read_pinned(self.preview_lane, doc, sid, "Display",
                          lambda ctx: render_state(sid, doc.get(sid), ctx, hist), shown)

    def _announce_selection(self, doc: Document, sid: int) -> None:
        """Tell the canvas when the shown state's selection is another mask.

        A mask in RAM is sent at once; one on disk (or kept as a delta) is read on
        the job lane, and sent if its state is still the one shown.
        """
        mid = doc.mask_id(sid)
        if mid == self._shown_mask:
            return
        self._shown_mask = mid
        if mid is None or doc.store.in_memory(mid):
            self.selectionChanged.emit(doc.selection(sid))
            return

        def read(mask: np.ndarray) -> None:
            if self.document is doc and self._shown_mask == mid:
                self.selectionChanged.emit(mask)

        self._read_pinned(self.job_lane, doc, sid, "Selection",
                          lambda _ctx: doc.selection(sid), read)

    @staticmethod
    def _read_pinned(lane: Lane, doc: Document, sid: int, title: str,
                     work: Callable[[OpContext], Any], then: Callable[[Any], None]) -> None:
        """Run ``work`` on ``lane`` with state ``sid`` pinned (no collector frees it while
        it is read); ``then`` gets the result on the GUI thread."""
        doc.pin(sid)

        def done(result: Any) -> None:
            doc.unpin(sid)
            then(result)

        lane.submit(Job(work, title, on_done=done, on_error=lambda _m: doc.unpin(sid),
                        on_cancelled=lambda: doc.unpin(sid)))

    def _set_rendered(self, rendered: Rendered) -> None:
        self.rendered = rendered
        self.renderedChanged.emit(rendered)
        if self.preview_result is None:
            self.histogramChanged.emit(rendered.histogram)

    def _index_changed(self, _index: int) -> None:
        if self._restoring:
            return  # the restored stack is being rebuilt: every state is still wanted
        self.io.journal_move()
        self.collect_garbage()

    def collect_garbage(self) -> None:
        """Free states no undo command refers to (merged or dropped steps).

        Pinned states (a running job's input or output) survive in the store
        whatever this keep-set says.
        """
        doc = self.document
        if doc is None:
            return
        keep = {doc.base_id, doc.current_id}
        for i in range(self.undo_stack.count()):
            cmd = self.undo_stack.command(i)
            if isinstance(cmd, EditCommand):
                keep.update((cmd.before, cmd.after))
        gone = [s for s in doc.states if s not in keep]
        doc.retain_only(keep)
        if self.journal.active:
            self.journal.forget([s for s in gone if s not in doc.states])
        for table in (self._display, self._extras, self._histograms):
            for sid in [s for s in table if s not in keep]:
                del table[sid]
        while len(self._display) > DISPLAY_CACHE:
            self._display.popitem(last=False)

    # -- busy state (every lane's jobs with progress) ------------------------------------------
    def _track(self, lane: Lane) -> None:
        lane.jobStarted.connect(self._job_started)
        lane.jobProgress.connect(self._job_progress)
        lane.jobDone.connect(lambda job, _r: self._finish(job))
        lane.jobFailed.connect(lambda job, _m: self._finish(job))
        lane.jobCancelled.connect(self._finish)

    def _job_started(self, job: Job) -> None:
        if job.shows_progress:
            self._busy[job.id] = job
            self.busyChanged.emit(True, job.title)
            self.progressChanged.emit(0.0, job.title)

    def _job_progress(self, job: Job, fraction: float, msg: str) -> None:
        if job.id in self._busy:
            self.progressChanged.emit(fraction, msg or job.title)

    def _finish(self, job: Job) -> None:
        if self._busy.pop(job.id, None) is not None:
            title = next(iter(self._busy.values())).title if self._busy else ""
            self.busyChanged.emit(bool(self._busy), title)

    # -- shutdown ------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the lanes and remove the recovery session (a normal close)."""
        if self._shut:
            return
        self._shut = True
        # the window's actions may be gone before the stack: nothing may reach them now
        self.undo_stack.blockSignals(True)
        self._snapshot_timer.stop()
        self.pipeline.cancel_all()
        for lane in (self.preview_lane, self.apply_lane, self.job_lane, *self._extra_lanes):
            lane.stop()
        self.io.writer.wait(5)
        self.journal.clear()
        if self.document is not None:
            self.document.close()
            self.document = None
