"""One registry of operations, each declared once with typed parameter specs.

An operation is a plain function ``op(image, *, param=default, ..., ctx)``
whose parameters are annotated with :class:`Range`, :class:`Kind`,
:class:`Label` or a ``Literal`` of choices (declared in
:mod:`editor.ops.params`, where each parameter kind is one :class:`ParamKind`
object). :func:`register_op` reads the signature and the numpydoc
``Parameters`` section into an :class:`OpSpec`; that one record drives the dock
form, the command line, ``docs/ops.md`` and the contract test.

Examples
--------
>>> from typing import Annotated
>>> @register_op("demo_gain", title="Gain", category="Demo")
... def demo_gain(image, *, gain: Annotated[float, Range(0.0, 4.0)] = 1.0,
...               ctx=None):
...     '''Multiply pixel values.
...
...     Parameters
...     ----------
...     gain : float
...         Factor applied to every pixel.
...     '''
...     return image
>>> get_op("demo_gain").params[0].description
'Factor applied to every pixel.'
>>> unregister_op("demo_gain")
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.image import check_image, merge_alpha, split_alpha
from editor.core.selection import (
    Patch,
    bbox,
    blend_over,
    check_mask,
    is_full,
    mask_to_image,
    soft_runs,
)
from editor.ops.overlays import confine_extras
from editor.ops.params import (  # noqa: F401  (re-exported: ops declare with these)
    PARAM_KINDS,
    Kind,
    Label,
    Param,
    ParamError,
    ParamKind,
    Range,
    default_step,
    param_kind,
    register_kind,
)


@dataclass
class OpSpec:
    """Everything the editor knows about one registered operation.

    Attributes
    ----------
    alpha : {"passthrough", "process"}
        ``"passthrough"``: the function sees only colour channels and alpha is
        put back untouched. ``"process"``: the function gets all channels
        (geometry ops move alpha with the pixels).
    keeps_shape : bool
        False for ops that change the size (resize, crop, rotate with expand).
    heavy : bool
        Shown with progress and run off the preview proxy only on demand.
    ai : bool
        Needs torch and model weights (imported lazily).
    preview : bool
        Whether live preview is useful (False for very slow AI ops).
    margin : int, callable or None
        How far (full-resolution pixels) the op reads around a pixel it writes:
        a number, or ``margin(params, dtype)`` of the bound parameters and the
        image's dtype (see :meth:`OpSpec.margin_for`). Under a
        selection the op then runs on the selection's bounding box grown by
        the margin instead of the whole image. ``None``: the result anywhere
        depends on the whole image (histograms, FFT, corners), so it runs on
        all of it and the selection only confines the writing.
    uses_mask : bool
        The function takes ``mask=`` (the selection as ``float32`` in
        ``[0, 1]``, or ``None`` without one): fills, inpainting.
    selects : bool
        A selection op: ``func(image, *, ..., ctx)`` returns the new selection
        mask (``ctx.selection`` holds the current one) instead of pixels; run
        by :func:`run_select`, not listed by :func:`all_ops`.
    """

    name: str
    title: str
    category: str
    func: Callable[..., np.ndarray]
    summary: str = ""
    doc: str = ""
    alpha: str = "passthrough"
    keeps_shape: bool = True
    heavy: bool = False
    ai: bool = False
    preview: bool = True
    margin: Callable[..., float] | float | None = None
    uses_mask: bool = False
    selects: bool = False
    #: the function as registered, whose signature ``params`` reads when first asked
    #: (by then a test may have swapped ``func`` for a stand-in)
    registered: Callable[..., np.ndarray] | None = field(default=None, repr=False,
                                                         compare=False)

    @functools.cached_property
    def params(self) -> list[Param]:
        """The user's parameters, read from the function's signature and numpydoc.

        Read on first use, not at registration: reading all of them took half of
        the time importing the registry costs, which every ``convolve apply``
        pays for the one op it runs."""
        return _params_from_signature(self.registered or self.func, self.doc,
                                      self.uses_mask)

    @property
    def transforms(self) -> bool:
        """Moves pixels around (geometry): runs on the whole image, and the
        selection is moved with it (:func:`transform_mask`)."""
        return self.category == "Geometry" or not self.keeps_shape

    def margin_for(self, bound: dict[str, Any], dtype: np.dtype | None = None) -> int | None:
        """The op's :attr:`margin` for bound parameters (``None``: whole image).

        A margin function is also given the image's ``dtype`` (``None`` when
        unknown: its answer must then hold for every depth), so an op whose reach
        depends on it (a Gaussian's tail is longer at 16 bits) reads no more around
        a selection than it needs.
        """
        m = self.margin(bound, dtype) if callable(self.margin) else self.margin
        return None if m is None else int(np.ceil(m))

    def param(self, name: str) -> Param:
        """The declared parameter called ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise ParamError(f"{self.name} has no parameter {name!r}; it takes "
                         f"{', '.join(p.name for p in self.params) or 'no parameters'}")

    def defaults(self) -> dict[str, Any]:
        """Default value of every parameter."""
        return {p.name: p.default for p in self.params}

    def bind(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate ``params`` and fill in defaults; raise :class:`ParamError`."""
        params = dict(params or {})
        out = {}
        for p in self.params:
            value = params.pop(p.name, p.default)
            try:
                out[p.name] = p.validate(value)
            except ParamError as e:
                raise ParamError(f"{self.name}: {e}") from None
        if params:
            unknown = ", ".join(sorted(params))
            raise ParamError(f"{self.name}: unknown parameter {unknown}; it takes "
                             f"{', '.join(p.name for p in self.params) or 'no parameters'}")
        return out

    def parse_args(self, pairs: Sequence[str]) -> dict[str, Any]:
        """Parse ``key=value`` strings from the command line."""
        out = {}
        for pair in pairs:
            if "=" not in pair:
                raise ParamError(f"{self.name}: expected key=value, got {pair!r}")
            key, text = pair.split("=", 1)
            try:
                out[key] = self.param(key.strip()).parse(text)
            except ParamError as e:
                raise ParamError(f"{self.name}: {e}") from None
        return out

    def __call__(self, image: np.ndarray, ctx: OpContext | None = None,
                 **params: Any) -> np.ndarray:
        return run_op(self, image, params, ctx)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "category": self.category,
                "summary": self.summary, "alpha": self.alpha,
                "keeps_shape": self.keeps_shape, "heavy": self.heavy, "ai": self.ai,
                "params": [p.to_json() for p in self.params]}


_REGISTRY: dict[str, OpSpec] = {}


def register_op(name: str, *, title: str, category: str, alpha: str = "passthrough",
                keeps_shape: bool = True, heavy: bool = False, ai: bool = False,
                preview: bool = True, margin: Callable | float | None = None,
                uses_mask: bool = False, selects: bool = False) -> Callable:
    """Decorator that registers an operation function under ``name``."""

    def decorate(func: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"operation {name!r} registered twice")
        doc = inspect.getdoc(func) or ""
        spec = OpSpec(name=name, title=title, category=category, func=func, registered=func,
                      summary=doc.split("\n")[0],
                      doc=doc, alpha=alpha, keeps_shape=keeps_shape, heavy=heavy, ai=ai,
                      preview=preview, margin=margin, uses_mask=uses_mask, selects=selects)
        _REGISTRY[name] = spec
        func.spec = spec
        return func

    return decorate


def unregister_op(name: str) -> None:
    """Remove an operation (tests and plug-in reloads)."""
    _REGISTRY.pop(name, None)


def get_op(name: str) -> OpSpec:
    """Look an operation up by name; ``KeyError`` with a helpful message if absent."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = [n for n in _REGISTRY if n.startswith(name[:3])]
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `convolve ops`"
        raise KeyError(f"unknown operation {name!r}{hint}") from None


def all_ops(selects: bool = False) -> list[OpSpec]:
    """Every registered image operation, by category then title.

    With ``selects`` the selection ops are listed instead.
    """
    _load_all()
    return sorted((s for s in _REGISTRY.values() if s.selects == selects),
                  key=lambda s: (s.category, s.title))


def categories() -> list[str]:
    """Category names in display order."""
    order = ["Color", "Tone", "Geometry", "Filters", "Edges", "Noise", "Frequency",
             "Features", "AI"]
    seen = sorted({s.category for s in all_ops()},  # image ops only
                  key=lambda c: (order.index(c) if c in order else len(order), c))
    return seen


def _load_all() -> None:
    import editor.ops  # noqa: F401  (importing the package registers every op)


def run_op(spec: OpSpec, image: np.ndarray, params: dict[str, Any] | None = None,
           ctx: OpContext | None = None) -> np.ndarray:
    """Validate parameters, apply the alpha policy and run the operation.

    Parameters
    ----------
    spec : OpSpec
        The operation.
    image : ndarray
        Input image (see :mod:`editor.core.image`); never modified.
    params : dict, optional
        Parameter values; missing ones take their defaults.
    ctx : OpContext, optional
        Progress, cancel and preview scale. Pixel-unit parameters are
        multiplied by ``ctx.preview_scale`` so a proxy preview looks like the
        full-resolution result.

    Returns
    -------
    ndarray
        A new image of the same dtype.
    """
    out = run_op_local(spec, image, params, ctx)
    return out.array() if isinstance(out, Patch) else out


def run_op_local(spec: OpSpec, image: np.ndarray, params: dict[str, Any] | None = None,
                 ctx: OpContext | None = None) -> np.ndarray | Patch:
    """:func:`run_op`, with an edit confined to a selection's box returned as a
    :class:`~editor.core.selection.Patch` over ``image`` instead of a whole new image.

    A local edit then costs its box, not a copy of the whole image; the commit
    pipeline stores the patch as the new state's delta. Parameters as :func:`run_op`.
    """
    check_image(image)
    ctx = ctx or null_context()
    bound = _bind_scaled(spec, params, ctx)
    ctx.check()  # a job cancelled while it waited in a queue never starts
    mask = ctx.selection
    if mask is None or spec.transforms or spec.selects:
        # geometry runs on the whole image; the caller moves the selection along
        return _run_bound(spec, image, bound, ctx, None)
    if not (isinstance(mask, np.ndarray) and mask.dtype == np.float32
            and mask.shape == image.shape[:2]):
        # a float32 mask of the right size was made by check_mask (selection ops, the
        # pipeline, --mask): reading 12 MP twice more per op to check it again is waste
        mask = check_mask(mask, image.shape)
    h, w = image.shape[:2]
    inner = bbox(mask)  # one pass over the mask tells empty, full-box and where
    if inner is None:
        raise OpError("The selection is empty: select an area first, or use Select ▸ All.")
    if inner == (0, h, 0, w) and is_full(mask) and not spec.uses_mask:
        return _run_bound(spec, image, bound, ctx, None)
    margin = spec.margin_for(bound, image.dtype)
    y0, y1, x0, x1 = (0, h, 0, w) if margin is None else (
        max(0, inner[0] - margin), min(h, inner[1] + margin),
        max(0, inner[2] - margin), min(w, inner[3] + margin))
    outer, own = ctx.extras, {}
    if (y0, y1, x0, x1) != (0, h, 0, w):
        # a local op: run on the selection's box plus what the op reads around it
        sub = OpContext(progress=ctx.report, cancel_event=ctx.cancel_event,
                        preview_scale=ctx.preview_scale, partial=None,
                        selection=mask[y0:y1, x0:x1])
        sub.extras = own
        done = _run_bound(spec, image[y0:y1, x0:x1], bound, sub, sub.selection)
    else:
        ctx.extras = own
        try:
            done = _run_bound(spec, image, bound, ctx, mask)
        finally:
            ctx.extras = outer
    # what it found (corners) is reported where it was allowed to look
    outer.update(confine_extras(own, mask, (x0, y0)))
    iy0, iy1, ix0, ix1 = inner
    pixels = done[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
    if np.may_share_memory(pixels, image):  # an op that hands its input back unchanged
        pixels = pixels.copy()
    return Patch(image, inner, blend_over(image[iy0:iy1, ix0:ix1], pixels,
                                          mask[iy0:iy1, ix0:ix1], soft_runs(mask, inner)))


def _bind_scaled(spec: OpSpec, params: dict[str, Any] | None, ctx: OpContext) -> dict[str, Any]:
    """Bound parameters, pixel units scaled to a preview proxy."""
    bound = spec.bind(params)
    if ctx.preview_scale != 1.0:
        for p in spec.params:
            if p.unit == "px" and bound[p.name] is not None:
                v = bound[p.name] * ctx.preview_scale
                if p.kind == "int":
                    # round, but never below the parameter's own minimum: a 3 px radius
                    # on a 1/8 proxy is still the smallest legal radius, and a 0 px
                    # shift stays 0 (not 1)
                    v = round(v) if p.lo is None else max(int(p.lo), round(v))
                bound[p.name] = v
    return bound


def _run_bound(spec: OpSpec, image: np.ndarray, bound: dict[str, Any], ctx: OpContext,
               mask: np.ndarray | None) -> np.ndarray:
    """The op's function under its alpha policy, with bound parameters."""
    extra = {"mask": mask} if spec.uses_mask else {}
    if spec.alpha == "passthrough":
        color, alpha = split_alpha(image)
        out = spec.func(color, ctx=ctx, **bound, **extra)
        if alpha is not None:
            if out.shape[:2] != alpha.shape:
                raise RuntimeError(f"{spec.name} changed the size but passes alpha through")
            out = merge_alpha(out, alpha)
    else:
        out = spec.func(image, ctx=ctx, **bound, **extra)
    if out.dtype != image.dtype:
        out = out.astype(image.dtype)
    return out


def run_select(spec: OpSpec, image: np.ndarray, params: dict[str, Any] | None = None,
               selection: np.ndarray | None = None,
               ctx: OpContext | None = None) -> np.ndarray | None:
    """Run a selection op: the new selection made from ``selection`` on ``image``.

    Parameters
    ----------
    spec : OpSpec
        A selection op (``spec.selects``).
    image : ndarray
        The image the selection is made on (a magic wand reads it).
    params : dict, optional
        Parameter values.
    selection : ndarray, optional
        The current selection (``None``: none).
    ctx : OpContext, optional
        Progress and cancel.

    Returns
    -------
    ndarray or None
        The new ``float32`` mask, or ``None`` for *no selection*.
    """
    if not spec.selects:
        raise ValueError(f"{spec.name} is not a selection op")
    check_image(image)
    base = ctx or null_context()
    bound = spec.bind(params)
    base.check()
    sub = OpContext(progress=base.report, cancel_event=base.cancel_event,
                    selection=None if selection is None else check_mask(selection, image.shape))
    out = spec.func(image, ctx=sub, **bound)
    return None if out is None else check_mask(out, image.shape)


def transform_mask(spec: OpSpec, params: dict[str, Any] | None, mask: np.ndarray | None,
                   ctx: OpContext | None = None) -> np.ndarray | None:
    """The selection after a geometry op: the same op run on the mask.

    The mask is run as a 16-bit grayscale image with black (unselected) fill,
    so a rotation's new corners are outside the selection. Shape-keeping
    non-geometry ops leave the selection as it is.
    """
    if mask is None or not spec.transforms:
        return mask
    fill = {p.name: (0, 0, 0) for p in spec.params if p.kind == "color"}  # black: outside
    params = {**(params or {}), **fill}
    sub = OpContext(cancel_event=(ctx or null_context()).cancel_event,
                    preview_scale=(ctx or null_context()).preview_scale)
    gray = mask_to_image(mask)
    out = _run_bound(spec, gray, _bind_scaled(spec, params, sub), sub, None)
    if out.ndim == 3:
        out = out[..., 0]
    return check_mask(out, out.shape)


# -- signature reading ------------------------------------------------------

def _params_from_signature(func: Callable, doc: str, uses_mask: bool = False) -> list[Param]:
    hints = typing.get_type_hints(func, include_extras=True)
    descriptions = _numpydoc_params(doc)
    params = []
    # ctx, and the selection mask of a mask-taking op, come from run_op, not the user
    given = ("ctx", "mask") if uses_mask else ("ctx",)
    for name, p in inspect.signature(func).parameters.items():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or name in given:
            continue
        if uses_mask and name == "mask":
            continue  # the selection, passed by run_op, is not a user parameter
        if p.default is inspect.Parameter.empty:
            raise TypeError(f"{func.__name__}: parameter {name} needs a default")
        params.append(_param_from_hint(name, hints.get(name, type(p.default)), p.default,
                                       descriptions.get(name, "")))
    return params


def _param_from_hint(name: str, hint: Any, default: Any, description: str) -> Param:
    meta: list[Any] = []
    if typing.get_origin(hint) is typing.Annotated:
        hint, *meta = typing.get_args(hint)
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    rng = next((m for m in meta if isinstance(m, Range)), None)
    kind_meta = next((m for m in meta if isinstance(m, Kind)), None)
    label = next((m.text for m in meta if isinstance(m, Label)), "")
    common = dict(name=name, default=default, description=description, optional=optional,
                  label=label)
    if kind_meta is not None:
        return Param(kind=kind_meta.kind, hint=kind_meta.hint,
                     lo=rng.lo if rng else None, hi=rng.hi if rng else None, **common)
    if typing.get_origin(hint) is Literal:
        return Param(kind="choice", choices=typing.get_args(hint), **common)
    if hint is bool:
        return Param(kind="bool", **common)
    if hint in (int, float):
        kind = "int" if hint is int else "float"
        if rng is None:
            return Param(kind=kind, **common)
        ui = rng.ui or (rng.lo, rng.hi)
        # a log slider has no fixed step: its resolution follows the value
        step = rng.step or (None if rng.scale == "log" else
                            default_step(ui[0], ui[1], kind == "int", rng.unit))
        return Param(kind=kind, lo=rng.lo, hi=rng.hi, ui_lo=ui[0], ui_hi=ui[1],
                     unit=rng.unit, step=step, scale=rng.scale, **common)
    if hint is str:
        return Param(kind="text", **common)
    raise TypeError(f"parameter {name}: unsupported annotation {hint!r}")


def _numpydoc_params(doc: str) -> dict[str, str]:
    """Map parameter names to their numpydoc descriptions (first paragraph)."""
    m = re.search(r"^Parameters\n-+\n(.*?)(?:^\S[^\n]*\n-+\n|\Z)", doc, re.S | re.M)
    if not m:
        return {}
    out: dict[str, str] = {}
    current: list[str] | None = None
    for line in m.group(1).splitlines():
        if line and not line[0].isspace():
            names = line.split(":")[0]
            current = []
            for n in names.split(","):
                out[n.strip()] = ""
            keys = [n.strip() for n in names.split(",")]
        elif current is not None and line.strip():
            for k in keys:
                out[k] = (out[k] + " " + line.strip()).strip()
    return out
