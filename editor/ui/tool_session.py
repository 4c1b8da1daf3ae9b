"""The open adjustment of the Tools dock: live preview and merged commits.

While a tool's form is open, slider moves preview on a viewport-sized proxy
(latest wins), and each release commits at full resolution through the commit
pipeline with the session's fixed base and merge token, so any number of
releases is one undo step (GIMP's and Photoshop's adjustment dialogs).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from editor.ui.pipeline import EditRequest, op_compute
from editor.workers.lanes import Job
from editor.workers.render import ViewRequest, preview

if TYPE_CHECKING:
    from editor.ui.controller import Controller

_tokens = itertools.count(1)


def _same(spec: Any, a: dict | None, b: dict | None) -> bool:
    """Equal as the op sees them (a form's list and a default tuple are the same matrix)."""
    if a is None or b is None:
        return a is b
    try:
        return spec.bind(a) == spec.bind(b)
    except ValueError:
        return a == b


@dataclass
class Session:
    """One open adjustment with a tool: all its commits merge into one undo step."""

    spec: Any
    base_id: int | None
    token: int = field(default_factory=lambda: next(_tokens))
    #: the session's step is on the undo stack and shown
    has_step: bool = False
    committed: dict | None = None
    latest: dict | None = None
    request: EditRequest | None = None
    close_after: bool = False


class ToolSessions:
    """Begin, preview, commit, apply, reset and cancel the open adjustment."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller
        self.session: Session | None = None
        self._gen = 0
        #: an undo, redo or history jump moved the document under the open tool
        self._moved = False

    # -- the pipeline asks ----------------------------------------------------------
    def owns(self, token: int) -> bool:
        """True while the session with ``token`` is the open one."""
        return self.session is not None and self.session.token == token

    def accepts(self, token: int, base: int) -> bool:
        """Can a result of session ``token`` computed from ``base`` land now?"""
        s, doc = self.session, self.c.document
        if s is None or s.token != token or doc is None or base != s.base_id:
            return False
        return doc.current_id == base or s.has_step

    # -- the tools dock asks ----------------------------------------------------------------
    def begin(self, spec: Any) -> None:
        """Start adjusting with ``spec``; commits merge until Apply or another tool."""
        self.clear_preview()
        doc = self.c.document
        self.session = Session(spec, doc.current_id if doc else None)
        self._moved = False

    def end(self) -> None:
        self.clear_preview()
        self.session = None

    def changed(self, params: dict) -> None:
        """Live preview of the open adjustment (throttled by the form)."""
        s = self.session
        if s is None or self.c.document is None:
            return
        s.latest = dict(params)
        if s.spec.preview:
            self.request_preview(s.spec, params, base_id=s.base_id)

    def committed(self, params: dict) -> None:
        """Slider released: light ops commit at full resolution (merged undo step)."""
        s = self.session
        if s is None or self.c.document is None:
            return
        s.latest = dict(params)
        if s.spec.heavy or s.spec.ai or not s.spec.params:
            return  # these wait for Apply
        if s.has_step and _same(s.spec, params, s.committed):
            return
        if _same(s.spec, params, s.spec.defaults()) and s.request is None:
            if s.has_step:
                self.c.undo()  # back to the base: no step for a no-op
            self.clear_preview()
            return
        self._commit(params)

    def apply(self, params: dict) -> None:
        """Apply: commit (if not yet) and close the adjustment."""
        s = self.session
        if s is None or self.c.document is None:
            if self.c.document is None:
                self.c.message.emit("Open an image first.")
            return
        if s.has_step and params == s.committed and s.request is None:
            self.restart()
        else:
            self._commit(dict(params), close_after=True)

    def reset(self) -> None:
        """Drop the open adjustment's step (the form shows defaults again)."""
        s = self.session
        if s is not None and s.request is not None:
            self.c.pipeline.supersede(s.request)
            s.request = None
        if s is not None and s.has_step:
            self.c.undo()
        self.clear_preview()

    def restart(self) -> None:
        """Go on adjusting from the image shown now (a new undo step next time)."""
        s, doc = self.session, self.c.document
        if s is not None:
            self.session = Session(s.spec, doc.current_id if doc else None)

    def state_shown(self, sid: int, pushing: int | None) -> None:
        """The document switched to ``sid`` (``pushing``: the token of the step pushed)."""
        s = self.session
        if s is None:
            return
        self._moved = self._moved or pushing is None  # see follow()
        if sid == s.base_id:
            s.has_step = False
        elif pushing is not None and pushing == s.token:
            s.has_step = True
        else:  # the image changed under the tool: adjust from here
            self.session = Session(s.spec, sid)
            return
        landing = s.request is None or s.request.state_id is not None  # no commit in flight
        if s.latest is not None and s.spec.preview and landing \
                and s.latest != (s.committed if s.has_step else s.spec.defaults()):
            # still dragging after a commit landed: keep the preview current
            self.request_preview(s.spec, s.latest, base_id=s.base_id)

    # -- forms follow the document (issue 13) --------------------------------------------------
    def follow(self) -> dict | None:
        """After undo, redo or a history jump: re-open the step shown, say what the form shows.

        Called once the document has settled (the Tools dock waits for the end of a
        jump). When the current state was made by the open tool in an adjustment
        session (its undo command has a merge token), that step is *re-opened*: the
        session's base becomes the state the step started from and its commits merge
        into that command, so the form can show the step's values and moving them
        edits the step instead of stacking a second one on top. Otherwise the
        session starts afresh from the state shown and the form shows the defaults.

        Returns the parameters the form should show, or None when the document has
        not moved under the tool since the last call (its own commits landing).
        """
        s, doc = self.session, self.c.document
        moved, self._moved = self._moved, False
        if s is None or doc is None or not moved:
            return None
        sid = doc.current_id
        step = self.c.step_of(sid)
        stack = self.c.undo_stack
        cmd = stack.command(stack.index() - 1) if stack.index() > 0 else None
        if step is not None and step[0] == s.spec.name and cmd is not None \
                and getattr(cmd, "after", None) == sid and cmd.merge_token is not None:
            params = step[1]
            self.session = Session(s.spec, cmd.before, token=cmd.merge_token, has_step=True,
                                   committed=dict(params), latest=dict(params))
        else:
            params = s.spec.defaults()
            if s.base_id != sid or s.has_step or s.request is not None:
                self.session = Session(s.spec, sid)
            else:
                s.latest = None
        self.clear_preview()  # a preview of the values the form showed before is stale
        return dict(params)

    # -- preview --------------------------------------------------------------------------------
    def request_preview(self, spec: Any, params: dict, base_id: int | None = None) -> None:
        """Run ``spec`` on a viewport-sized proxy; stale results are dropped."""
        c = self.c
        doc = c.document
        if doc is None:
            return
        base_id = doc.current_id if base_id is None else base_id
        if not doc.has(base_id):
            return
        base = doc.get(base_id)
        selection = doc.selection(base_id)
        view = self._view_request(base.shape)
        gen = self.bump()
        params = dict(params)

        def done(result) -> None:
            if gen == self._gen and c.document is doc:  # else stale: params or image moved on
                c.show_preview(result)

        def failed(msg: str) -> None:
            if gen == self._gen:
                c.message.emit(msg)

        c.preview_lane.submit(Job(lambda ctx: preview(ctx, spec, params, base_id, base, view,
                                                    selection),
                                  f"Preview {spec.title}", on_done=done, on_error=failed))

    def refresh_preview(self) -> None:
        """Re-run the open adjustment's preview (the view moved or zoomed)."""
        s = self.session
        if s is not None and s.latest is not None and self.c.preview_result is not None \
                and s.spec.preview:
            self.request_preview(s.spec, s.latest, base_id=s.base_id)

    def bump(self) -> int:
        """A new preview generation: results of earlier ones are dropped."""
        self._gen += 1
        return self._gen

    def clear_preview(self) -> None:
        self.bump()
        self.c.hide_preview()

    # -- internals ------------------------------------------------------------------------------
    def _view_request(self, shape) -> ViewRequest:
        provider = self.c.view_provider
        if provider is not None:
            v = provider()
            if v is not None:
                return v
        h, w = shape[:2]
        zoom = min(1.0, 1200 / max(h, w))
        return ViewRequest((0, 0, w, h), zoom, (int(w * zoom), int(h * zoom)))

    def _commit(self, params: dict, close_after: bool = False) -> None:
        s = self.session
        if s.request is not None:
            self.c.pipeline.supersede(s.request)
        spec, token = s.spec, s.token
        s.committed = dict(params)
        s.close_after = s.close_after or close_after

        def landed(_image, _extras) -> None:
            cur = self.session
            if cur is not None and cur.token == token:
                cur.request = None
                if cur.close_after:
                    self.restart()

        def ended(*_args) -> None:
            cur = self.session
            if cur is not None and cur.request is req:
                cur.request = None

        req = EditRequest(spec.title, op_compute(spec, params), op=spec.name,
                          params=dict(params), base=s.base_id, merge_token=token,
                          shows_progress=spec.heavy or spec.ai,
                          keep_pixels=spec.heavy or spec.ai,
                          on_committed=landed, on_error=ended, on_cancelled=ended)
        s.request = req
        self.c.pipeline.submit(req)
