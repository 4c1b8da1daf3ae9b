"""The one commit pipeline: every tool's edit reaches the document through here.

A tool (the Tools dock, the AI dock, the classifier, a recipe) hands in an
:class:`EditRequest`: a pure ``compute(ctx, base_pixels)`` and the recipe entry
that describes it. The pipeline keeps requests in order and runs one at a time
on the apply lane. When a request *starts* it captures its base state (the
image the user sees then, or a tool session's fixed base) and pins it; the
worker reads only that state and stores its result, pinned, without touching
the document. Back on the GUI thread one function, :meth:`CommitPipeline._landed`,
decides:

* the base is still what the user sees: the result is registered and pushed as
  one undo step (merging with the open tool session's step, if any);
* the user moved meanwhile (undo, a history jump): the request is run again on
  the image now shown (*rebased*), first in the queue; a request that cannot
  be recomputed (fixed pixels) is refused with one sentence;
* cancelled or superseded: nothing is kept.

So a queued edit always builds on the edit before it (the next request starts
only after the previous one has landed), no worker ever writes document state,
and nothing is committed onto an image other than the one it was computed from.
Every request ends in exactly one :attr:`EditRequest.outcome`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from editor.core.context import OpContext
from editor.core.document import INHERIT
from editor.core.image import check_image
from editor.core.selection import Patch, blend, check_mask
from editor.ui.commands import EditCommand
from editor.ui.richtext import count
from editor.workers.lanes import Job, Lane
from editor.workers.render import Rendered, render_state

if TYPE_CHECKING:
    from editor.ui.controller import Controller

log = logging.getLogger(__name__)

#: outcomes of a request
COMMITTED, CANCELLED, FAILED, REFUSED, SUPERSEDED = (
    "committed", "cancelled", "failed", "refused", "superseded")


@dataclass(eq=False)
class EditRequest:
    """One edit, captured as data when it is asked for.

    Parameters
    ----------
    title : str
        History entry and progress text.
    compute : callable
        ``compute(ctx, base) -> pixels``, a pure function of the base pixels
        (run on a worker; it must not read the live document). An edit inside
        the selection may return a :class:`~editor.core.selection.Patch` over
        ``base``: its box spares the store comparing the whole image.
    op, params, steps
        The recipe entry: one op with parameters, or several ``(op, params)``
        steps (a replayed recipe). ``op=None`` and no steps: not replayable.
    base : int, optional
        A fixed base state (a tool session's); default: the state shown when
        the request starts.
    merge_token : int, optional
        Merge with the open tool session's step carrying the same token.
    rebase : bool
        Re-run on the current image if the user moved while it ran; False for
        fixed pixels, which are refused instead.
    keep_pixels : bool
        Journal the result's pixels for crash recovery (expensive or
        non-replayable results), instead of replaying the step.
    selects : bool
        A selection step: ``compute(ctx, base)`` returns the new selection
        (a ``float32`` mask, or ``None`` for none) instead of pixels; the new
        state shares its base's pixels.

    Notes
    -----
    The base state's selection is captured with the base and handed to
    ``compute`` as ``ctx.selection``; registered ops confine themselves to it
    (:func:`editor.ops.registry.run_op`). A geometry op's result gets the
    selection moved with the image (:func:`~editor.ops.registry.transform_mask`);
    a compute that replays several steps sets ``ctx.selection_result`` to the
    selection it ends with.
    """

    title: str
    compute: Callable[[OpContext, np.ndarray], np.ndarray | Patch]
    op: str | None = None
    params: dict[str, Any] | None = None
    steps: list[tuple[str, dict[str, Any]]] | None = None
    base: int | None = None
    merge_token: int | None = None
    rebase: bool = True
    keep_pixels: bool = False
    selects: bool = False
    shows_progress: bool = True
    #: show the op's intermediate images on the canvas
    partial_preview: bool = False
    on_committed: Callable[[np.ndarray, dict], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_cancelled: Callable[[], None] | None = None
    on_partial: Callable[[Any], None] | None = None
    # -- filled in by the pipeline --
    outcome: str | None = None
    state_id: int | None = None
    rebased: int = 0
    superseded: bool = False
    job: Job | None = field(default=None, repr=False)

    @property
    def replayable(self) -> bool:
        return bool(self.op or self.steps)


@dataclass
class _Result:
    base: int
    sid: int | None  # stored pixels (None for a selection step)
    rendered: Rendered | None
    extras: dict
    pixels_file: str | None
    #: store id of the new selection, None for none, INHERIT for the base's
    mask: int | None | object = INHERIT
    #: the selection was moved or resized with the image
    moved_selection: bool = False


def op_compute(spec: Any, params: dict | None,
               ) -> Callable[[OpContext, np.ndarray], np.ndarray | Patch]:
    """``compute`` for a registered op (an ``OpSpec`` or its name) with fixed parameters."""
    params = dict(params or {})

    def compute(ctx: OpContext, image: np.ndarray) -> np.ndarray | Patch:
        from editor.ops import get_op, run_op_local  # the registry loads off the GUI thread

        return run_op_local(get_op(spec) if isinstance(spec, str) else spec, image, params,
                            ctx)

    return compute


class CommitPipeline:
    """Requests in, undo steps out (see the module docstring)."""

    def __init__(self, controller: Controller, lane: Lane) -> None:
        self.c = controller
        self.lane = lane
        self._queue: deque[EditRequest] = deque()
        self._running: EditRequest | None = None

    # -- API ----------------------------------------------------------------------
    def submit(self, req: EditRequest) -> EditRequest:
        """Queue ``req``; it starts once every earlier request has landed."""
        self._queue.append(req)
        self._pump()
        return req

    def pending(self) -> list[EditRequest]:
        """The running request (first) and the waiting ones."""
        return ([self._running] if self._running else []) + list(self._queue)

    def busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    def cancel_all(self) -> None:
        """Stop the running request and drop the waiting ones (each ends cancelled)."""
        waiting, self._queue = list(self._queue), deque()
        for req in waiting:
            self._end(req, CANCELLED)
        if self._running is not None and self._running.job is not None:
            self._running.job.cancel()

    def cancel(self, req: EditRequest) -> None:
        """The user cancels one request: it ends cancelled, the image stays as it is."""
        if req in self._queue:
            self._queue.remove(req)
            self._end(req, CANCELLED)
        elif req is self._running and req.job is not None:
            req.job.cancel()

    def supersede(self, req: EditRequest) -> None:
        """Drop ``req`` quietly: a newer request of the same tool session replaces it."""
        req.superseded = True
        if req in self._queue:
            self._queue.remove(req)
            self._end(req, SUPERSEDED)
        elif req is self._running and req.job is not None:
            req.job.cancel()

    # -- dispatch (GUI thread) ---------------------------------------------------------
    def _pump(self) -> None:
        while self._running is None and self._queue:
            req = self._queue.popleft()
            doc = self.c.document
            if doc is None:
                self._end(req, CANCELLED)
                continue
            if req.merge_token is not None and not self.c.tools.owns(req.merge_token):
                # its tool session ended (the image changed under it): a step of its own
                req.merge_token, req.base = None, None
            base = req.base if req.base is not None else doc.current_id
            if base not in doc.states:
                if not req.rebase:
                    self._refuse(req)
                    continue
                base = req.base = doc.current_id
            self._start(req, doc, base)

    def _start(self, req: EditRequest, doc, base: int) -> None:
        journal = self.c.journal
        folder = None
        if req.keep_pixels or not req.replayable:
            self.c.io.ensure_journal(doc)  # its pixels go there before the result returns
            folder = journal.folder
        doc.pin(base)  # a running job's input (pixels and selection) is never collected
        mask_id = doc.mask_id(base)
        base_histogram = self.c.histogram_of(base)
        partial = self._partial_sink(req)

        def work(ctx: OpContext) -> _Result:
            inner = ctx
            selection = None if mask_id is None else doc.store.get(mask_id)
            image = doc.get(base)
            if req.partial_preview:
                from editor.workers.render import preview_of

                def show(partial: np.ndarray) -> None:
                    if selection is not None and partial.shape == image.shape \
                            and partial.dtype == image.dtype:
                        partial = blend(image, partial, selection)  # as it will land
                    ctx.emit_partial(preview_of(partial))

                inner = OpContext(progress=ctx.report, cancel_event=ctx.cancel_event,
                                  partial=show)
            inner.selection = selection
            if req.selects:
                return self._selected(req, doc, base, inner, image, folder)
            out = req.compute(inner, image)
            ctx.check()
            box = None
            if isinstance(out, Patch):
                # an edit inside the selection: its box is where the state differs
                box = out.box if out.base is image else None
                out = out.array()
            check_image(out)
            mask, moved = self._selection_after(req, doc, inner, selection, out)
            # pinned until the GUI thread registers or drops it; a local change is kept
            # as a delta over the base
            sid = doc.store_pixels(out, base, box)
            try:
                box = doc.store.delta_box(sid)
                histogram = None
                if box is not None and base_histogram is not None:
                    # a local change: the base's histogram with the box's counts swapped,
                    # exact at the cost of the box instead of the whole image
                    y0, y1, x0, x1 = box
                    histogram = base_histogram.patched(image[y0:y1, x0:x1], out[y0:y1, x0:x1])
                rendered = render_state(sid, out, ctx, histogram)
                ctx.check()
                name = journal.write_pixels(sid, out, folder=folder) if folder else None
            except BaseException:
                self._discard(doc, sid, mask)  # cancelled (or failed) after storing
                raise
            return _Result(base, sid, rendered, dict(inner.extras), name, mask, moved)

        job = Job(work, req.title, shows_progress=req.shows_progress,
                  on_done=lambda r: self._landed(req, doc, base, r),
                  on_error=lambda msg: self._stopped(req, doc, base, FAILED, msg),
                  on_cancelled=lambda: self._stopped(req, doc, base, CANCELLED),
                  on_partial=partial)
        req.job = job
        self._running = req
        self.lane.submit(job)

    def _selected(self, req: EditRequest, doc, base: int, ctx: OpContext,
                  image: np.ndarray, folder) -> _Result:
        """Worker side of a selection step: store the new mask, no pixels.

        A mask that cannot be recomputed (painted) goes to the journal as the
        state's file (the state's id is its mask's).
        """
        mask = req.compute(ctx, image)
        ctx.check()
        mid = name = None
        if mask is not None:
            mask = check_mask(mask, image.shape)
            mid = doc.store_mask(mask, base)  # a local change: a delta over base's
            if folder:
                name = self.c.journal.write_pixels(mid, mask, folder=folder)
        return _Result(base, None, None, {}, name, mid)

    @staticmethod
    def _selection_after(req: EditRequest, doc, ctx: OpContext,
                         selection: np.ndarray | None, out: np.ndarray):
        """The selection of a result: the compute's own, moved with geometry, or kept."""
        after = getattr(ctx, "selection_result", INHERIT)
        moved = False
        if after is INHERIT and selection is not None and req.op and not req.steps:
            from editor.ops import get_op
            from editor.ops.registry import transform_mask

            spec = get_op(req.op)
            if spec.transforms:
                after, moved = transform_mask(spec, req.params, selection, ctx), True
        if after is INHERIT or after is None:
            return after, moved
        return doc.store_mask(check_mask(after, out.shape)), moved

    def _partial_sink(self, req: EditRequest):
        if not req.partial_preview and req.on_partial is None:
            return None

        def sink(value: Any) -> None:
            if req.partial_preview:
                self.c.show_preview(value)
            if req.on_partial is not None:
                req.on_partial(value)

        return sink

    # -- landing (GUI thread) --------------------------------------------------------------
    def _landed(self, req: EditRequest, doc, base: int, res: _Result) -> None:
        doc.unpin(base)
        self._running = None
        try:
            if doc is not self.c.document:  # closed or replaced meanwhile
                self._end(req, CANCELLED)
                return
            if req.superseded or req.job.cancelled:
                self._drop(doc, res)
                self._end(req, SUPERSEDED if req.superseded else CANCELLED)
                return
            if self._fits(req, doc, base):
                self._commit(req, doc, res)
                return
            self._drop(doc, res)
            if req.rebase:
                req.base, req.merge_token = None, None
                req.rebased += 1
                self.c.message.emit(f"{req.title}: the image changed while it ran, so it "
                                    "is being applied again to the image shown now.")
                self._queue.appendleft(req)
            else:
                self._refuse(req)
        finally:
            self.c.clear_partial_preview(req)
            self._pump()

    def _stopped(self, req: EditRequest, doc, base: int, outcome: str,
                 message: str = "") -> None:
        doc.unpin(base)
        self._running = None
        try:
            if req.superseded:
                outcome = SUPERSEDED
            self._end(req, outcome, message)
        finally:
            self.c.clear_partial_preview(req)
            self._pump()

    def _fits(self, req: EditRequest, doc, base: int) -> bool:
        if req.merge_token is None:
            return doc.current_id == base
        return self.c.tools.accepts(req.merge_token, base)

    def _commit(self, req: EditRequest, doc, res: _Result) -> None:
        c = self.c
        if req.selects:
            res.sid = doc.register_selection(res.mask, parent=res.base, title=req.title,
                                             op=req.op, params=req.params)
            shown = c.rendering_of(res.base)
            if shown is not None:
                c.remember_rendering(res.sid, replace(shown, state_id=res.sid), {})
        else:
            doc.register(res.sid, parent=res.base, title=req.title, op=req.op,
                         params=req.params, steps=req.steps, mask=res.mask)
            c.remember_rendering(res.sid, res.rendered, res.extras)
            if res.moved_selection:
                c.message.emit(f"{req.title} applies to the whole image; the selection "
                               "moved with it.")
        c.journal_commit(req, res.base, res.sid)
        req.state_id = res.sid
        c.push(EditCommand(c, res.base, res.sid, req.title, req.op, req.params,
                           req.merge_token))
        c.collect_garbage()
        if req.selects:
            self._end(req, COMMITTED, image=doc.selection(res.sid))
            return
        if res.extras:
            c.message.emit(_extras_sentence(req.title, res.extras))
        self._end(req, COMMITTED, image=doc.get(res.sid), extras=res.extras)

    def _drop(self, doc, res: _Result) -> None:
        self._discard(doc, res.sid, res.mask)

    def _discard(self, doc, *ids) -> None:
        """Free stored pixels and masks that will not become states (any thread)."""
        stored = [i for i in ids if isinstance(i, int)]  # not None/INHERIT
        for sid in stored:
            doc.discard(sid)
        self.c.journal.forget(stored)

    def _refuse(self, req: EditRequest) -> None:
        self._end(req, REFUSED, f"{req.title} was not applied: the image changed while it "
                                "ran; run it again.")

    def _end(self, req: EditRequest, outcome: str, message: str = "", *,
             image: np.ndarray | None = None, extras: dict | None = None) -> None:
        """Give ``req`` its one outcome and tell its tool and the status bar."""
        if req.outcome is not None:
            return
        req.outcome = outcome
        try:
            if outcome == COMMITTED:
                if req.on_committed is not None:
                    req.on_committed(image, extras or {})
            elif outcome in (FAILED, REFUSED):
                self.c.report_error(message)
                if req.on_error is not None:
                    req.on_error(message)
            elif outcome == CANCELLED:
                if req.shows_progress and self.c.document is not None:
                    self.c.message.emit(f"{req.title} cancelled; the image is unchanged.")
                if req.on_cancelled is not None:
                    req.on_cancelled()
        except Exception:  # noqa: BLE001  (a tool's callback must not break the queue)
            log.exception("callback of %s failed", req.title)
        self.c.request_finished(req)


def _extras_sentence(title: str, extras: dict) -> str:
    """``"Harris corners: 248 corners."``: what a step found besides its pixels.

    Things it found are an overlay (which describes itself) or lists of items
    (``points``: a list, or rows of coordinates); other side outputs (a class, a
    device, a heat map) are for the tool's own panel, not for a count.
    """
    described = [v.summary() for v in extras.values() if callable(getattr(v, "summary", None))]
    if described:  # an overlay says what it shows (its points are the same things)
        return f"{title}: {', '.join(described)}."
    parts = [count(len(v), key.rstrip("s")) for key, v in extras.items()
             if key != "notes" and (isinstance(v, list) or isinstance(v, np.ndarray)
                                    and v.ndim == 2 and v.shape[1] <= 4)]
    return f"{title}: {', '.join(parts)}." if parts else f"{title} done."
