"""Start-up stays light: no torch in the import graph, window shown quickly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import sys, time
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QSettings
app = QApplication([])
from editor.ui.main_window import MainWindow
from editor.ui.style import apply_dark_theme
apply_dark_theme(app)
w = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
w.show()
app.processEvents()
shown = time.perf_counter() - t0
print("torch_at_show", "torch" in sys.modules)
w.load_registry(sync=True)   # the op registry, as the deferred load does it
print("torch_after_registry", "torch" in sys.modules)
print("heavy_after_registry", sorted(m for m in ("torch", "onnxruntime", "spandrel",
                                                 "safetensors", "diffusers")
                                     if m in sys.modules))
print("ops", len(w.tools.specs))
print("shown_s", round(shown, 3))
w.controller.shutdown()
"""


def test_window_builds_without_importing_torch(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               CONVOLVE_RECOVERY_DIR=str(tmp_path / "rec"), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "s.ini")], env=env,
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert lines["torch_at_show"] == "False"
    assert lines["torch_after_registry"] == "False"
    assert lines["heavy_after_registry"] == "[]"  # issue 14's runtimes load on first use
    assert int(lines["ops"]) > 5


def test_window_loads_the_histogram_counters_after_the_tools(qtbot, tmp_path, monkeypatch):
    """Loading Numba and the histograms' compiled counters takes ~0.7 s, mostly holding
    the GIL: the window does it on the registry's thread once the ops are imported;
    until then the histograms count with OpenCV."""
    import threading

    from PySide6.QtCore import QSettings

    from editor.core import kernels
    from editor.ui.main_window import MainWindow

    calls = []
    monkeypatch.setattr(kernels, "warm_up_counters", lambda: calls.append(
        (threading.current_thread().name, "editor.ops.tone" in sys.modules)))
    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   install_panels=False)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.registry_loaded and calls and not w._registry_lane.busy(),
                    timeout=30000)
    assert len(calls) == 1
    thread, ops_imported = calls[0]
    assert thread != threading.main_thread().name and ops_imported
