"""Render the README's pictures from the real app, offscreen, so they stay current.

Run from the repository root after set-up:

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [OUT_DIR]

It opens real photos (``../shared/images`` when present, else scikit-image's
copies), drives the editor the way a user would and saves, at 1280×720 with the
dark theme: the main window with a photo, the histogram and Curves open; the
kernel editor with its frequency response; an AI result (Grad-CAM); and the
Classifier window after training on three classes. Each PNG is reduced to a
256-colour palette to stay small (about 200 KB).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"
SIZE = (1280, 720)


def photo(name: str, skimage_name: str, folder: Path) -> Path:
    """A real photo's path: the shared copy, else scikit-image's written to ``folder``."""
    if (SHARED / name).exists():
        return SHARED / name
    import skimage.data

    path = folder / f"{Path(name).stem}.png"
    Image.fromarray(getattr(skimage.data, skimage_name)()).save(path)
    return path


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="convolve-shots-"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["CONVOLVE_RECOVERY_DIR"] = str(tmp / "recovery")
    sys.path.insert(0, str(ROOT))
    sys.modules.setdefault("triton", None)  # as the app does (see editor/ui/app.py)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from editor.ui.main_window import MainWindow
    from editor.ui.style import apply_dark_theme

    app = QApplication([])
    apply_dark_theme(app)

    def pump(until=lambda: True, seconds: float = 120.0, settle: float = 0.4) -> None:
        start = time.monotonic()
        while not until():
            app.processEvents()
            time.sleep(0.005)
            if time.monotonic() - start > seconds:
                raise TimeoutError("the app did not get there in time")
        end = time.monotonic() + settle
        while time.monotonic() < end:  # let throttled previews and repaints land
            app.processEvents()
            time.sleep(0.005)

    def save(widget, name: str) -> None:
        path = out / f"{name}.png"
        widget.grab().save(str(tmp / "shot.png"))
        with Image.open(tmp / "shot.png") as im:
            im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
                path, optimize=True)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"{path.stat().st_size // 1024} KB")

    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, load_registry=False)
    w.load_registry(sync=True)
    w._confirm = lambda doing: True
    w.resize(*SIZE)
    w.show()
    c = w.controller
    idle = lambda: c.document is not None and not c.busy()  # noqa: E731

    # 1. a photo, its histogram, Curves open with an S-curve being previewed
    w.open_path(str(photo("flower.jpg", "coffee", tmp)))
    pump(idle)
    form = w.open_tool("curves")
    form.set_params({"points": [(0, 0), (64, 44), (192, 214), (255, 255)], "channel": "all"})
    c.session_changed(form.params())
    pump(lambda: c.preview_result is not None, settle=0.8)
    save(w, "main-window")

    # 2. the kernel editor with its frequency response
    w.open_path(str(photo("chelsea.png", "chelsea", tmp)))
    pump(idle)
    form = w.open_tool("convolve")
    pump(settle=0.8)
    save(w, "kernel-editor")

    # 3. an AI result: Grad-CAM of the cat, committed as one undo step
    w.tools.reset()
    w.panels["AI"].raise_()
    panel = w.ai_panel
    panel.tabs.setCurrentWidget(panel.network_tab)
    tab = panel.network_tab
    tab.mode.setCurrentIndex(tab.mode.findData("gradcam"))
    pump(settle=1.0)
    tab.cam_button.click()
    pump(lambda: panel.job is None and idle(), seconds=300, settle=1.0)
    save(w, "ai-gradcam")

    # 4. the Classifier window after training on three classes of real photos
    from editor.ui.teach import open_classifier

    win = open_classifier(w, tmp / "Things")
    win.resize(*SIZE)
    ds = win.dataset
    names = (("Cat", "chelsea.png", "chelsea"), ("Coffee", "coffee.png", "coffee"),
             ("Rocket", "rocket.jpg", "rocket"))
    for name in [n for n in ds.class_names]:
        ds.remove_class(name)
    rng = np.random.default_rng(0)
    for name, file, fallback in names:
        ds.add_class(name)
        img = np.asarray(Image.open(photo(file, fallback, tmp)).convert("RGB"))
        h, wd = img.shape[:2]
        for _ in range(12):
            s = int(min(h, wd) * rng.uniform(0.5, 0.9))
            y, x = rng.integers(0, h - s + 1), rng.integers(0, wd - s + 1)
            ds.add_image(name, np.ascontiguousarray(img[y:y + s, x:x + s]))
    win.open_project(tmp / "Things")
    trained = []
    win.trainingFinished.connect(trained.append)
    win.train_panel.train_button.click()
    pump(lambda: bool(trained) and not win.busy(), seconds=600)
    win.use.classify_canvas()
    pump(lambda: not win.busy(), seconds=120, settle=1.0)
    save(win, "classifier")
    win.close()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
