"""Shared fixtures: real photographs from ../shared/images, or scikit-image's copies.

The suite must pass on a clean clone with no ../shared beside it, so every
photo has a fallback in scikit-image's bundled data (a test dependency).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SHARED_IMAGES = ROOT.parent / "shared" / "images"

# shared file -> scikit-image loader name used when ../shared is absent
_FALLBACK = {
    "astronaut.png": "astronaut",
    "chelsea.png": "chelsea",
    "coffee.png": "coffee",
    "rocket.jpg": "rocket",
    "china.jpg": "astronaut",
    "flower.jpg": "coffee",
    "grace_hopper.jpg": "astronaut",
    "scream.jpg": "chelsea",
}
PHOTO_NAMES = tuple(_FALLBACK)


def photo_path(name: str, tmp_dir: Path | None = None) -> Path:
    """Path of a real photo: the shared copy, else scikit-image's file written to ``tmp_dir``."""
    shared = SHARED_IMAGES / name
    if shared.exists():
        return shared
    import skimage.data
    from PIL import Image

    target = (tmp_dir or Path(os.environ.get("TMPDIR", "/tmp"))) / f"fallback_{name}"
    if not target.exists():
        Image.fromarray(getattr(skimage.data, _FALLBACK[name])()).save(target)
    return target


def load_photo(name: str) -> np.ndarray:
    """A real RGB uint8 photo by its shared name (see ``PHOTO_NAMES``)."""
    from PIL import Image

    shared = SHARED_IMAGES / name
    if shared.exists():
        with Image.open(shared) as im:
            return np.asarray(im.convert("RGB")).copy()
    import skimage.data

    return np.ascontiguousarray(getattr(skimage.data, _FALLBACK[name])()[..., :3])


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_photo("astronaut.png")


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    return load_photo("chelsea.png")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return load_photo("coffee.png")


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Every shared photo by name."""
    return {n: load_photo(n) for n in PHOTO_NAMES}


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical arrays)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


# -- helpers shared by the operation tests -------------------------------------------


def run(name: str, image: np.ndarray, **params) -> np.ndarray:
    """Run the registered operation ``name`` with keyword parameters."""
    from editor.ops import get_op

    return get_op(name)(image, **params)


def rounded(values, top: int = 255) -> np.ndarray:
    """Reference values rounded half up and clipped to ``[0, top]``, as uint8 or uint16."""
    dtype = np.uint8 if top == 255 else np.uint16
    return np.clip(np.floor(np.asarray(values, np.float64) + 0.5), 0, top).astype(dtype)


def abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b|`` without the wrap-around of unsigned subtraction."""
    return np.abs(np.asarray(a).astype(np.int64) - np.asarray(b).astype(np.int64))


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    """Largest absolute difference between two images, in levels."""
    return int(abs_diff(a, b).max())


class Reports(list):
    """``(fraction, message)`` pairs an operation reported, in order."""

    @property
    def fractions(self) -> list[float]:
        return [f for f, _ in self]

    @property
    def messages(self) -> list[str]:
        return [m for _, m in self]


def dynamo_after(code: str) -> tuple[list[str], list[str]]:
    """Run ``code`` in a fresh interpreter: its printed lines, and which of
    ``torch._dynamo`` and ``triton`` it imported (a torch optimizer object imports
    both: 2.7 s, and triton's LLVM crashes in a Qt process that loaded Mesa's)."""
    import ast
    import subprocess
    import sys

    probe = "\nimport sys\nprint(sorted(m for m in ('torch._dynamo', 'triton') " \
            "if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code + probe], capture_output=True,
                         text=True, check=True)
    lines = out.stdout.strip().split("\n")
    return lines[:-1], ast.literal_eval(lines[-1])


def reporting_context(cancel_when=None, **kwargs):
    """An ``OpContext`` that records every report and cancels itself once
    ``cancel_when(fraction, message)`` is true; returns ``(ctx, reports)``.

    Extra keyword arguments go to ``OpContext`` (``partial=...``).
    """
    from editor.core.context import OpContext

    reports = Reports()

    def progress(fraction: float, message: str) -> None:
        reports.append((fraction, message))
        if cancel_when is not None and cancel_when(fraction, message):
            ctx.cancel()

    ctx = OpContext(progress=progress, **kwargs)
    return ctx, reports


def assert_rejected_before_work(name: str, params: dict, message: str) -> None:
    """``name`` refuses ``params`` with a ``ParamError`` matching ``message`` before it
    reports any progress (validation happens before the work starts)."""
    from editor.ops import ParamError, get_op

    ctx, reports = reporting_context()
    with pytest.raises(ParamError, match=message):
        get_op(name)(np.zeros((4, 4, 3), np.uint8), ctx=ctx, **params)
    assert reports == []


def assert_pure(name: str, image: np.ndarray, params: dict) -> np.ndarray:
    """Shape and dtype kept, the read-only input untouched, two runs identical."""
    frozen = image.copy()
    frozen.flags.writeable = False  # any write to the input raises
    out = run(name, frozen, **params)
    assert out.shape == image.shape and out.dtype == image.dtype, name
    np.testing.assert_array_equal(frozen, image, err_msg=name)
    assert run(name, frozen, **params).tobytes() == out.tobytes(), f"{name} not deterministic"
    return out


def assert_alpha_passes_through(name: str, rgb: np.ndarray, params: dict) -> None:
    """A ramp of alpha comes back unchanged and the colour is what RGB alone gives."""
    alpha = np.linspace(0, 255, rgb.shape[1]).astype(np.uint8)[None, :].repeat(rgb.shape[0], 0)
    out = run(name, np.dstack([rgb, alpha]), **params)
    np.testing.assert_array_equal(out[..., 3], alpha, err_msg=name)
    np.testing.assert_array_equal(out[..., :3], run(name, rgb, **params), err_msg=name)


# -- helpers shared by the window tests ----------------------------------------------


def make_form(qtbot, op: str, size: tuple[int, int] | None = None,
              image: np.ndarray | None = None):
    """The form registered for op ``op``, owned by ``qtbot``; shown at ``size`` (and
    waited for until exposed) when given, and showing ``image`` when given."""
    from editor.ops import get_op
    from editor.ui.forms import form_class_for

    form = form_class_for(op)(get_op(op))
    qtbot.addWidget(form)
    if size is not None:
        form.resize(*size)
        form.show()
    if image is not None:
        form.set_image(image)
    if size is not None:
        qtbot.waitExposed(form)
    return form



@pytest.fixture
def small_photo(tmp_path, coffee) -> Path:
    """A 300x200 PNG cut from a real photo (coffee), for window tests."""
    from PIL import Image

    path = tmp_path / "coffee-small.png"
    Image.fromarray(np.ascontiguousarray(coffee[100:300, 150:450])).save(path)
    return path



def make_main_window(qtbot, tmp_path: Path, size: tuple[int, int] = (1100, 750)):
    """A shown MainWindow with settings in ``tmp_path``, the registry loaded synchronously
    and confirmations answered yes (no panels installed)."""
    from PySide6.QtCore import QSettings

    from editor.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, load_registry=False, install_panels=False)
    w.load_registry(sync=True)
    w._confirm = lambda doing: True
    w.resize(*size)
    w.show()
    qtbot.addWidget(w)
    return w


def wait_until_idle(qtbot, busy, timeout: int = 10000) -> None:
    """Wait until ``busy()`` is false and every result the workers sent has been handled.

    A lane emits its result before it stops counting as busy, so once ``busy()`` is
    false the result is already queued for the GUI thread: processing the queued
    events delivers it; if handling it started more work, keep waiting.
    """
    from PySide6.QtCore import QCoreApplication

    def idle() -> bool:
        if busy():
            return False
        QCoreApplication.processEvents()
        return not busy()

    qtbot.waitUntil(idle, timeout=timeout)


def settle(qtbot, w, timeout: int = 10000) -> None:
    """Wait until every edit in main window ``w`` has landed (the pipeline's queue too: a
    request that supersedes a running one waits there while no lane is busy) and the
    lanes rest."""
    c = w.controller
    wait_until_idle(qtbot, lambda: c.busy() or c.preview_lane.busy() or c.apply_lane.busy()
                    or c.job_lane.busy(), timeout=timeout)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """A shown main window (:func:`make_main_window`) with crash recovery in ``tmp_path``.

    A test module that needs more (panels installed, the window active) overrides this
    fixture with one of the same name that asks for this one.
    """
    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    return make_main_window(qtbot, tmp_path)


def open_image(qtbot, w, image: np.ndarray, path: Path) -> None:
    """Save ``image`` as a PNG at ``path`` and open it in main window ``w``; return once
    it is the document."""
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(image)).save(path)
    w.open_path(str(path))
    qtbot.waitUntil(lambda: w.controller.document is not None, timeout=10000)


@pytest.fixture
def photo_window(window, qtbot, tmp_path, coffee):
    """The :func:`window` with a 250 x 160 crop of the coffee photo open."""
    open_image(qtbot, window, coffee[100:260, 150:400], tmp_path / "coffee-small.png")
    return window
