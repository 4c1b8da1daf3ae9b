"""Parameter declarations and parameter kinds, each kind an object registered once.

An op declares its parameters with annotations (:class:`Range`, :class:`Kind`,
:class:`Label`, a ``Literal`` of choices); the registry turns each into a
:class:`Param`. How a value of a given *kind* is read from text, checked,
written back as text and described lives in one :class:`ParamKind` object per
kind, registered in :data:`PARAM_KINDS` (magicgui's type map does the same for
widgets). The command line, recipes, ``docs/ops.md`` and the forms all go
through these objects; the forms keep one widget table keyed by the same kind
names (:mod:`editor.ui.forms.fields`), the only Qt part.

Examples
--------
>>> p = Param("fill", "color", (0, 0, 0))
>>> p.parse("#ff8000")
(255, 128, 0)
>>> p.format((255, 128, 0))
'255,128,0'
>>> Param("tv_weight", "float", 0.0).label
'TV weight'
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "PARAM_KINDS",
    "Kind",
    "Label",
    "Param",
    "ParamError",
    "ParamKind",
    "Range",
    "SliderScale",
    "default_label",
    "default_step",
    "param_kind",
    "register_kind",
]


class ParamError(ValueError):
    """A parameter value is missing, malformed or out of range."""


# -- declarations (annotations on an op's signature) ------------------------------

@dataclass(frozen=True)
class Range:
    """Numeric parameter bounds.

    Parameters
    ----------
    lo, hi : float
        Hard range: values outside are rejected before any work starts.
    ui : tuple of float, optional
        Slider range in the form (defaults to the hard range).
    unit : str
        Display unit. ``"px"`` marks a length in pixels, scaled for previews.
    step : float, optional
        The parameter's resolution: one slider or arrow-key step. Defaults to
        :func:`default_step` (1 for ints; for floats a power of ten of at most
        1/100 of the slider range).
    scale : {"linear", "log"}
        How the slider maps to values. ``"log"`` (GEGL's ``ui_gamma`` idea, for
        parameters spanning decades) gives every decade of the slider range the
        same length, so the middle of the slider is the geometric middle; the
        spin box beside it still holds the exact value. Needs a slider range
        above zero.
    """

    lo: float
    hi: float
    ui: tuple[float, float] | None = None
    unit: str = ""
    step: float | None = None
    scale: str = "linear"

    def __post_init__(self) -> None:
        if self.scale not in ("linear", "log"):
            raise TypeError(f"Range scale must be 'linear' or 'log', not {self.scale!r}")
        lo = (self.ui or (self.lo, self.hi))[0]
        if self.scale == "log" and not lo > 0:
            raise TypeError("a log-scale Range needs a slider range above zero")


@dataclass(frozen=True)
class Kind:
    """Annotation naming a non-numeric parameter kind that needs its own parser.

    ``kind`` is the name of a registered :class:`ParamKind`: ``"path"`` (a
    file), ``"color"`` (``(r, g, b)`` in 0..255), ``"points"`` (``[(x, y),
    ...]``), ``"stroke"`` (a brush path in image pixels), ``"matrix"`` (flat
    floats, 2x3 or 3x3), ``"kernel"`` (rows of floats), ``"text"``. ``hint`` tells
    the user how to write a value.
    """

    kind: str
    hint: str = ""

    def __post_init__(self) -> None:
        param_kind(self.kind)  # an unknown kind fails where it is declared


@dataclass(frozen=True)
class Label:
    """Annotation giving a parameter its display label (form, CLI help, docs).

    Without it the label comes from the name (:func:`default_label`).
    """

    text: str


#: Words shown in capitals (or exactly as given) when a label is made from a name.
ACRONYMS = {"tv": "TV", "fft": "FFT", "clahe": "CLAHE", "id": "ID", "rgb": "RGB",
            "rgba": "RGBA", "hsv": "HSV", "hog": "HOG", "dct": "DCT", "icc": "ICC",
            "exif": "EXIF", "dpi": "DPI", "vgg": "VGG", "cnn": "CNN", "fgsm": "FGSM",
            "px": "px", "dx": "dx", "dy": "dy", "sx": "sx", "sy": "sy", "k": "k"}


def default_label(name: str) -> str:
    """A display label made from a parameter name, acronyms kept.

    Examples
    --------
    >>> default_label("tv_weight"), default_label("clip_limit"), default_label("fft_size")
    ('TV weight', 'Clip limit', 'FFT size')
    """
    words = [w for w in name.split("_") if w]
    out = [ACRONYMS.get(w.lower(), w.lower()) for w in words]
    if out and words[0].lower() not in ACRONYMS:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


# -- slider mapping (Qt-free, so it can be tested without a window) ----------------

#: Finest default step by unit: no slider needs hundredths of a degree or of a pixel.
UNIT_STEP_MAX = {"°": 0.1, "px": 1.0}


def default_step(lo: float, hi: float, integer: bool = False, unit: str = "") -> float:
    """The step of a numeric parameter that declares none.

    1 for an integer; for a float the largest power of ten that is at most 1/100
    of the slider range ``lo..hi``, and no coarser than 0.1 for an angle
    (``unit="°"``) or 1 for a length in pixels: one slider step then moves the
    value by at most a hundredth of its range, in round numbers.

    Examples
    --------
    >>> default_step(0.0, 1.0), default_step(0, 20, unit="px"), default_step(-180, 180, unit="°")
    (0.01, 0.1, 0.1)
    >>> default_step(0, 100_000, unit="px"), default_step(1, 9, integer=True)
    (1.0, 1)
    """
    if integer:
        return 1
    span = float(hi) - float(lo)
    if not (span > 0 and math.isfinite(span)):
        return 0.01
    step = 10.0 ** math.floor(math.log10(span / 100))
    return min(step, UNIT_STEP_MAX.get(unit, step))

#: Slider positions per decade of a log-scale slider.
LOG_STEPS_PER_DECADE = 100
#: Most positions a linear slider gets (finer steps are left to the spin box).
LINEAR_STEPS_MAX = 10_000


@dataclass(frozen=True)
class SliderScale:
    """Map a numeric parameter's slider range onto integer positions ``0..steps``.

    Examples
    --------
    >>> s = SliderScale(0.001, 1.0, log=True)
    >>> s.value(s.steps // 2)
    0.0316
    >>> s.position(0.0316) == s.steps // 2
    True
    """

    lo: float
    hi: float
    log: bool = False
    integer: bool = False
    step: float | None = None
    steps: int = field(init=False)

    def __post_init__(self) -> None:
        if self.log:
            n = round(LOG_STEPS_PER_DECADE * math.log10(self.hi / self.lo))
        else:
            step = self.step or default_step(self.lo, self.hi, self.integer)
            n = round((self.hi - self.lo) / step)
        object.__setattr__(self, "steps", int(min(LINEAR_STEPS_MAX, max(1, n))))

    def fraction(self, value: float) -> float:
        """Where ``value`` sits along the slider, 0..1 (clamped to the slider range)."""
        if self.hi <= self.lo:
            return 0.0
        v = min(max(float(value), self.lo), self.hi)
        if self.log:
            return math.log(v / self.lo) / math.log(self.hi / self.lo)
        return (v - self.lo) / (self.hi - self.lo)

    def position(self, value: float) -> int:
        """The slider position showing ``value``."""
        return round(self.fraction(value) * self.steps)

    def value(self, position: int) -> float | int:
        """The value at slider ``position``, snapped to the parameter's resolution.

        A log slider keeps three significant digits (the step of one position is
        about 2.3 % of the value); a linear one snaps to ``step``.
        """
        t = min(max(position, 0), self.steps) / self.steps
        if self.log:
            v = self.lo * (self.hi / self.lo) ** t
            return int(round(v)) if self.integer else float(f"{v:.3g}")
        v = self.lo + (self.hi - self.lo) * min(max(position, 0), self.steps) / self.steps
        if self.integer:
            return int(round(v))
        step = self.step or default_step(self.lo, self.hi)
        # twelve significant digits: 0.3, not 0.30000000000000004, in forms and recipes
        return float(f"{round(v / step) * step:.12g}")


# -- parameter kinds ------------------------------------------------------------------

class ParamKind:
    """How one kind of parameter value is read, checked, written and described.

    Subclasses set :attr:`name` and override what differs; instances are
    registered once with :func:`register_kind`. ``parse`` raises ``ValueError``
    for text it cannot read (the :class:`Param` turns it into one sentence);
    ``validate`` raises :class:`ParamError`.
    """

    name: ClassVar[str] = ""
    #: True for kinds with a numeric range (slider and spin box).
    numeric: ClassVar[bool] = False
    #: How to write a value, shown as a placeholder when the param has no hint.
    syntax: ClassVar[str] = ""
    #: Text used in example commands when the default is empty (a path must name a file).
    example: ClassVar[str | None] = None

    def parse(self, param: Param, text: str) -> Any:
        """Value of ``text`` (already stripped); ``ValueError`` if unreadable."""
        return text

    def validate(self, param: Param, value: Any) -> Any:
        """``value`` normalised to this kind, or :class:`ParamError`."""
        return value

    def format(self, param: Param, value: Any, spaced: bool = False) -> str:
        """Text that :meth:`parse` reads back to ``value`` (command line, docs).

        ``spaced``: a space after each separator, for a line edit people read.
        """
        return str(value)

    def describe(self, param: Param) -> str:
        """Short type name for tables and help (``float``, ``int or auto``)."""
        return self.name + (" or auto" if param.optional else "")

    def __repr__(self) -> str:
        return f"<ParamKind {self.name}>"


#: Every parameter kind by name; the forms' widget table uses the same names.
PARAM_KINDS: dict[str, ParamKind] = {}


def register_kind(kind: ParamKind) -> ParamKind:
    """Add ``kind`` to :data:`PARAM_KINDS` (once per name)."""
    if not kind.name or kind.name in PARAM_KINDS:
        raise ValueError(f"parameter kind {kind.name!r} is unnamed or registered twice")
    PARAM_KINDS[kind.name] = kind
    return kind


def param_kind(name: str) -> ParamKind:
    """The registered kind called ``name``; ``TypeError`` (a declaration error) if none."""
    try:
        return PARAM_KINDS[name]
    except KeyError:
        raise TypeError(f"unknown parameter kind {name!r}; known: "
                        f"{', '.join(PARAM_KINDS)}") from None


class _Number(ParamKind):
    numeric = True
    integer = False

    def validate(self, param: Param, value: Any) -> Any:
        name = param.name
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ParamError(f"{name} must be a number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ParamError(f"{name} must be a finite number, got {value!r}")
        if self.integer:
            if not v.is_integer():
                raise ParamError(f"{name} must be a whole number, got {value!r}")
            v = int(v)
        if (param.lo is not None and v < param.lo) or (param.hi is not None and v > param.hi):
            raise ParamError(f"{name} must be between {_fmt(param.lo)} and {_fmt(param.hi)}, "
                             f"got {_fmt(v)}")
        return v


class FloatKind(_Number):
    name = "float"

    def parse(self, param: Param, text: str) -> Any:
        return float(text)

    def format(self, param: Param, value: Any, spaced: bool = False) -> str:
        v = float(value)
        return f"{v:g}" if v == float(f"{v:g}") else repr(value)


class IntKind(_Number):
    name = "int"
    integer = True

    def parse(self, param: Param, text: str) -> Any:
        # "2.5" stays a float so validate() can say "whole number" rather than "cannot read"
        return int(float(text)) if float(text).is_integer() else float(text)


class BoolKind(ParamKind):
    name = "bool"
    syntax = "true or false"

    def parse(self, param: Param, text: str) -> Any:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)

    def validate(self, param: Param, value: Any) -> Any:
        if not isinstance(value, (bool, np.bool_)):
            raise ParamError(f"{param.name} must be true or false, got {value!r}")
        return bool(value)

    def format(self, param: Param, value: Any, spaced: bool = False) -> str:
        return "true" if value else "false"


class ChoiceKind(ParamKind):
    name = "choice"

    def parse(self, param: Param, text: str) -> Any:
        for c in param.choices:
            if str(c) == text:
                return c
        return text  # validate() says what is allowed

    def validate(self, param: Param, value: Any) -> Any:
        if value not in param.choices:
            allowed = ", ".join(str(c) for c in param.choices)
            raise ParamError(f"{param.name} must be one of {allowed}, got {value!r}")
        return value


class TextKind(ParamKind):
    name = "text"
    syntax = "text"
    example = "text"

    def validate(self, param: Param, value: Any) -> Any:
        if not isinstance(value, str):
            raise ParamError(f"{param.name} must be text, got {value!r}")
        return value


class PathKind(TextKind):
    name = "path"
    syntax = "a file"
    example = "reference.png"


class ColorKind(ParamKind):
    name = "color"
    syntax = "r,g,b in 0..255 or #rrggbb"
    _NAMED: ClassVar[dict[str, tuple[int, int, int]]] = {
        "white": (255, 255, 255), "black": (0, 0, 0), "gray": (128, 128, 128)}

    def parse(self, param: Param, text: str) -> Any:
        if text.startswith("#") and len(text) == 7:
            return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))
        if text.lower() in self._NAMED:
            return self._NAMED[text.lower()]
        vals = [int(v) for v in _split(text.replace(":", ","))]
        if len(vals) != 3:
            raise ValueError(text)
        return tuple(vals)

    def validate(self, param: Param, value: Any) -> Any:
        try:
            rgb = tuple(int(c) for c in value)
        except (TypeError, ValueError):
            raise ParamError(f"{param.name} must be a colour (r, g, b), got {value!r}") from None
        if len(rgb) != 3 or any(c < 0 or c > 255 for c in rgb):
            raise ParamError(f"{param.name} must be three values 0..255, got {value!r}")
        return rgb

    def format(self, param: Param, value: Any, spaced: bool = False) -> str:
        return ",".join(str(int(c)) for c in value)


class PointsKind(ParamKind):
    name = "points"
    syntax = "x:y pairs, e.g. 0:0,255:255"

    def parse(self, param: Param, text: str) -> Any:
        return [tuple(float(v) for v in p.split(":")) for p in _split(text)]

    def validate(self, param: Param, value: Any) -> Any:
        try:
            pts = [(float(p[0]), float(p[1])) for p in value]
        except (TypeError, ValueError, IndexError):
            raise ParamError(f"{param.name} must be a list of x:y pairs, got {value!r}") \
                from None
        if param.lo is not None and any(not (param.lo <= c <= param.hi) for p in pts for c in p):
            raise ParamError(f"{param.name} coordinates must be between {_fmt(param.lo)} "
                             f"and {_fmt(param.hi)}")
        return pts

    def format(self, param: Param, value: Any, spaced: bool = False) -> str:
        return _sep(",", spaced).join(":".join(_num(c) for c in p) for p in value)


class StrokeKind(PointsKind):
    """A brush stroke's path in image pixels (may be empty: no stroke, no change)."""

    name = "stroke"
    syntax = "x:y pairs in image pixels, e.g. 100:120,180:130"
    example = "100:120,180:130,260:110"

    def validate(self, param: Param, value: Any) -> Any:
        pts = super().validate(param, value)
        if not all(math.isfinite(c) for p in pts for c in p):
            raise ParamError(f"{param.name} must be finite x:y pairs")
        return pts


class MatrixKind(ParamKind):
    name = "matrix"
    syntax = "6 or 9 numbers, row-major"

    def parse(self, param: Param, text: str) -> Any:
        return [float(v) for v in _split(text.replace(";", ","))]

    def validate(self, param: Param, value: Any) -> Any:
        try:
            m = [float(v) for v in np.asarray(value, dtype=float).ravel()]
        except (TypeError, ValueError):
            raise ParamError(f"{param.name} must be 6 or 9 numbers, got {value!r}") from None
        if len(m) not in (6, 9) or not all(math.isfinite(v) for v in m):
            raise ParamError(f"{param.name} must be 6 (2x3) or 9 (3x3) finite numbers")
        return m

    def format(self, param: Param, value: Any, spaced: bool = False) -> str:
        return _sep(",", spaced).join(_num(v) for v in value)


class KernelKind(ParamKind):
    name = "kernel"
    syntax = "rows separated by ';', e.g. 1,2,1;2,4,2;1,2,1"

    def parse(self, param: Param, text: str) -> Any:
        if text.startswith("["):
            return json.loads(text)
        return [[float(v) for v in _split(row)] for row in text.split(";")]

    def validate(self, param: Param, value: Any) -> Any:
        try:
            k = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ParamError(f"{param.name} must be rows of numbers, got {value!r}") from None
        if k.ndim != 2 or not (1 <= k.shape[0] <= 31 and 1 <= k.shape[1] <= 31) \
                or not np.all(np.isfinite(k)):
            raise ParamError(f"{param.name} must be a rectangular grid of up to 31x31 numbers")
        return k.tolist()

    def format(self, param: Param, value: Any, spaced: bool = False) -> str:
        return _sep(";", spaced).join(_sep(",", spaced).join(_num(v) for v in row)
                                      for row in value)


for _kind in (FloatKind(), IntKind(), BoolKind(), ChoiceKind(), PathKind(), ColorKind(),
              PointsKind(), StrokeKind(), MatrixKind(), KernelKind(), TextKind()):
    register_kind(_kind)


# -- the declared parameter -------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """A declared parameter of an operation.

    ``kind`` names its :class:`ParamKind` (see :attr:`type`); ``label`` is the
    display label (made from the name when not declared); ``scale`` is the
    slider mapping of a numeric parameter (``"linear"`` or ``"log"``).
    """

    name: str
    kind: str
    default: Any
    lo: float | None = None
    hi: float | None = None
    ui_lo: float | None = None
    ui_hi: float | None = None
    unit: str = ""
    step: float | None = None
    choices: tuple[Any, ...] = ()
    description: str = ""
    hint: str = ""
    optional: bool = False  # ``None`` is accepted (e.g. "auto")
    label: str = ""
    scale: str = "linear"

    def __post_init__(self) -> None:
        param_kind(self.kind)
        if not self.label:
            object.__setattr__(self, "label", default_label(self.name))

    @property
    def type(self) -> ParamKind:
        """The :class:`ParamKind` object that reads, checks and writes this parameter."""
        return PARAM_KINDS[self.kind]

    def parse(self, text: str) -> Any:
        """Turn command-line text into a value of this parameter's kind."""
        t = text.strip()
        if self.optional and t.lower() in ("", "none", "auto"):
            return None
        try:
            return self.type.parse(self, t)
        except (ValueError, json.JSONDecodeError):
            hint = f" ({self.hint})" if self.hint else ""
            raise ParamError(f"{self.name}: cannot read {text!r} as {self.kind}{hint}") \
                from None

    def validate(self, value: Any) -> Any:
        """Return the value normalised to this kind, or raise :class:`ParamError`."""
        if value is None and self.optional:
            return None
        return self.type.validate(self, value)

    def format(self, value: Any, spaced: bool = False) -> str:
        """Text for ``value`` that :meth:`parse` reads back to the same value.

        ``spaced`` puts a space after separators (``1, 2; 3, 4``) for a line edit.
        """
        return "auto" if value is None else self.type.format(self, value, spaced)

    def describe(self) -> str:
        """Short type name (``float``, ``choice``, ``int or auto``)."""
        return self.type.describe(self)

    def slider(self) -> SliderScale:
        """Slider mapping of a numeric parameter (over its UI range)."""
        lo = self.lo if self.lo is not None else -1e9
        hi = self.hi if self.hi is not None else 1e9
        ui_lo = self.ui_lo if self.ui_lo is not None else lo
        ui_hi = self.ui_hi if self.ui_hi is not None else hi
        step = self.step
        if step is None and self.scale != "log":
            step = default_step(ui_lo, ui_hi, self.kind == "int", self.unit)
        return SliderScale(ui_lo, ui_hi, log=self.scale == "log", integer=self.kind == "int",
                           step=step)

    def to_json(self) -> dict[str, Any]:
        """Plain-dict description (for ``convolve ops --json`` and docs)."""
        d = {"name": self.name, "kind": self.kind, "default": _jsonable(self.default),
             "label": self.label}
        for key in ("lo", "hi", "ui_lo", "ui_hi", "unit", "step", "description", "hint"):
            val = getattr(self, key)
            if val not in (None, ""):
                d[key] = val
        if self.scale != "linear":
            d["scale"] = self.scale
        if self.choices:
            d["choices"] = list(self.choices)
        if self.optional:
            d["optional"] = True
        return d


def _split(text: str) -> list[str]:
    return [t for t in re.split(r"[,\s]+", text.strip()) if t]


def _sep(sep: str, spaced: bool) -> str:
    return sep + " " if spaced else sep


def _num(v: Any) -> str:
    return f"{float(v):g}"


def _fmt(v: float | None) -> str:
    if v is None:
        return "?"
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return list(v)
    return v
