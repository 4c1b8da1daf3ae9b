"""Training settings, declared once: the table of bounds, :class:`TrainConfig` and
:class:`AugmentConfig`.

:data:`SETTINGS` lists every training parameter with its type, bounds, default,
label and help. Everything else is built from it: the dataclasses' defaults,
:meth:`TrainConfig.validate`, the Classifier window's widgets
(:mod:`editor.ui.teach.train_panel`) and the ``convolve train`` flags
(:mod:`editor.cli_teach`). So a bound is changed in one place, and an
out-of-range value is refused everywhere with the same sentence.

Examples
--------
>>> setting("epochs").message()
'Epochs must be a whole number between 1 and 1000.'
>>> TrainConfig.from_values({"epochs": 5, "augment.flip": 0.0}).augment.flip
0.0
>>> TrainConfig(learning_rate=2.0).validate()
Traceback (most recent call last):
...
editor.core.context.OpError: Learning rate must be between 0.00001 and 1.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from editor.core.context import OpError

#: the backbones a user can pick ("auto": EfficientNet-Lite0 when installed)
BACKBONES = ("auto", "efficientnet_lite0", "efficientnet_lite2", "small_cnn")


@dataclass(frozen=True)
class Setting:
    """One training parameter: what it is, its bounds and how it is shown.

    Parameters
    ----------
    name : str
        Field of :class:`TrainConfig`; ``"augment.X"`` for a field of its
        :class:`AugmentConfig`.
    kind : type
        ``int``, ``float``, ``bool`` or ``str`` (one of ``choices``).
    lo, hi : float, optional
        Inclusive bounds of a number.
    default
        The value when none is given.
    label : str
        Capitalised name, the start of every message about it.
    help : str
        One phrase for tooltips and ``--help``.
    choices : tuple of str
        The allowed values of a ``str`` setting.
    flag : str
        The ``convolve train`` option (default ``--name-with-hyphens``).
    suffix : str
        Unit shown after the number in the window.
    decimals, step : int, float
        Digits the window shows for a ``float``, and its arrow-key step.
    group : str
        ``"training"`` or ``"augmentation"`` (the window's sections).
    special : str
        What the window shows at ``lo`` instead of the number (e.g. "none").
    """

    name: str
    kind: type
    lo: float | None
    hi: float | None
    default: Any
    label: str
    help: str
    choices: tuple[str, ...] = ()
    flag: str = ""
    suffix: str = ""
    decimals: int = 2
    step: float = 0.05
    group: str = "training"
    special: str = ""

    @property
    def option(self) -> str:
        """The command-line option, e.g. ``--batch-size``."""
        return self.flag or "--" + self.name.replace("augment.", "augment-").replace("_", "-")

    @property
    def dest(self) -> str:
        """The attribute name argparse stores the option under."""
        return self.name.replace(".", "_")

    def message(self) -> str:
        """The one sentence that refuses a value outside the bounds."""
        if self.kind is bool:
            return f"{self.label} must be on or off."
        if self.kind is str:
            return f"{self.label} must be one of {', '.join(self.choices)}."
        what = "a whole number between" if self.kind is int else "between"
        return f"{self.label} must be {what} {_num(self.lo)} and {_num(self.hi)}."

    def check(self, value: Any) -> Any:
        """``value`` as this setting's type, or :class:`OpError` with :meth:`message`."""
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            raise OpError(self.message())
        if self.kind is str:
            if value in self.choices:
                return value
            raise OpError(self.message())
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            raise OpError(self.message())
        if self.kind is int and value != int(value):
            raise OpError(self.message())
        value = self.kind(value)
        if not self.lo <= value <= self.hi:
            raise OpError(self.message())
        return value

    def parse(self, text: str) -> Any:
        """A typed value from text (the command line); :class:`OpError` if it is not one."""
        if self.kind is str:
            return self.check(text.strip())
        if self.kind is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise OpError(self.message())
        try:
            value = float(text)
        except ValueError:
            raise OpError(self.message()) from None
        return self.check(int(value) if self.kind is int and value.is_integer() else value)

    def describe(self) -> str:
        """``--help`` text: the phrase, the bounds and the default."""
        if self.kind is bool:
            return self.help
        if self.kind is str:
            return f"{self.help} ({', '.join(self.choices)}; default {self.default})"
        return f"{self.help} ({_num(self.lo)} to {_num(self.hi)}, default {_num(self.default)})"


def _num(x: float | None) -> str:
    """A bound as people write it: 0.00001, not 1e-05."""
    if x is None:
        return "?"
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.10f}".rstrip("0")


#: Every training parameter, in the order the window shows them.
SETTINGS: tuple[Setting, ...] = (
    Setting("epochs", int, 1, 1000, 30, "Epochs", "passes over the training images"),
    Setting("batch_size", int, 1, 1024, 16, "Batch size", "images per training step"),
    Setting("learning_rate", float, 1e-5, 1.0, 1e-3, "Learning rate",
            "step size of the optimiser", flag="--lr", decimals=5, step=0.0005),
    Setting("test_fraction", float, 0.0, 0.5, 0.15, "Test fraction",
            "held-out share of each class, scored after training"),
    Setting("seed", int, 0, 2**31 - 1, 0, "Seed",
            "fixes the split, the augmentation, the initial weights and the batch order"),
    Setting("hidden", int, 0, 1024, 0, "Hidden units",
            "hidden units of the head; 0 is logistic regression", special="none (linear)"),
    Setting("weight_decay", float, 0.0, 0.1, 1e-4, "Weight decay",
            "L2 penalty on the weights", decimals=5, step=0.0001),
    Setting("backbone", str, None, None, "auto", "Backbone",
            "feature network; auto uses EfficientNet-Lite0 when it is installed; "
            "efficientnet_lite2 is larger and slower",
            choices=BACKBONES),
    Setting("fine_tune", bool, None, None, False, "Fine-tune",
            "also train the last block of EfficientNet-Lite0"),
    Setting("augment_copies", int, 0, 20, 0, "Augmented copies",
            "augmented copies of each training image", flag="--augment",
            group="augmentation", suffix=" per image"),
    Setting("augment.flip", float, 0.0, 1.0, 0.5, "Mirror probability",
            "chance of a horizontal mirror", group="augmentation"),
    Setting("augment.rotate", float, 0.0, 45.0, 12.0, "Rotation",
            "largest rotation either way, in degrees", group="augmentation", suffix="°",
            decimals=1, step=1.0),
    Setting("augment.brightness", float, 0.0, 1.0, 0.2, "Brightness change",
            "largest brightness shift", group="augmentation"),
    Setting("augment.contrast", float, 0.0, 1.0, 0.2, "Contrast change",
            "largest contrast change", group="augmentation"),
    Setting("augment.crop", float, 0.3, 1.0, 0.8, "Smallest crop",
            "smallest side of the random crop as a share of the image; 1 is no crop",
            group="augmentation"),
    Setting("augment.blur", float, 0.0, 1.0, 0.3, "Blur probability",
            "chance of a light Gaussian blur", group="augmentation"),
    Setting("augment.noise", float, 0.0, 1.0, 0.3, "Noise probability",
            "chance of light noise", group="augmentation"),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The :class:`Setting` called ``name`` (``"augment.flip"`` for augmentation)."""
    return _BY_NAME[name]


def _default(name: str) -> Any:
    return _BY_NAME[name].default


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to draw and how strong; a probability of 0 turns one off."""

    flip: float = _default("augment.flip")
    rotate: float = _default("augment.rotate")
    brightness: float = _default("augment.brightness")
    contrast: float = _default("augment.contrast")
    crop: float = _default("augment.crop")
    blur: float = _default("augment.blur")
    noise: float = _default("augment.noise")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    """Training settings (the Train panel's Settings tab); bounds in :data:`SETTINGS`."""

    epochs: int = _default("epochs")
    batch_size: int = _default("batch_size")
    learning_rate: float = _default("learning_rate")
    test_fraction: float = _default("test_fraction")
    seed: int = _default("seed")
    hidden: int = _default("hidden")
    backbone: str = _default("backbone")
    fine_tune: bool = _default("fine_tune")
    augment_copies: int = _default("augment_copies")
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    weight_decay: float = _default("weight_decay")

    def value(self, name: str) -> Any:
        """The value of setting ``name`` (``"augment.flip"`` reads the augmentation)."""
        obj, _, attr = name.rpartition(".")
        return getattr(self.augment if obj else self, attr)

    def values(self) -> dict[str, Any]:
        """Every setting by name, as :meth:`from_values` takes them."""
        return {s.name: self.value(s.name) for s in SETTINGS}

    def validate(self) -> None:
        """Raise :class:`OpError` with the setting's one sentence if a value is out of bounds."""
        for s in SETTINGS:
            s.check(self.value(s.name))

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A validated config from ``{setting name: value}``; missing names take defaults."""
        unknown = set(values) - set(_BY_NAME)
        if unknown:
            raise OpError(f"Unknown training setting {sorted(unknown)[0]!r}.")
        checked = {name: _BY_NAME[name].check(v) for name, v in values.items()}
        aug = {k.split(".", 1)[1]: v for k, v in checked.items() if k.startswith("augment.")}
        top = {k: v for k, v in checked.items() if not k.startswith("augment.")}
        return cls(**top, augment=AugmentConfig(**aug))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = self.augment.to_json()
        return d
