"""Start the GUI: ``run_app(paths)`` is what ``convolve`` and ``convolve PHOTO`` call.

Keeps torch (and the op modules) out of the start-up import graph: the window
is shown first, the op registry loads on a worker thread afterwards.
"""

from __future__ import annotations

import os
import sys
import threading
import time

_T0 = time.perf_counter()


def run_app(paths: list[str] | None = None) -> int:
    """Create the application, show the main window (opening ``paths[0]``), run it."""
    from PySide6.QtWidgets import QApplication

    from editor.ui.errors import install_excepthook, setup_logging
    from editor.ui.main_window import MainWindow
    from editor.ui.style import apply_dark_theme

    setup_logging()
    # torch.optim imports torch._dynamo, which imports triton; in a process that has
    # loaded Mesa's LLVM for Qt (Xvfb, many Linux desktops) triton's own LLVM crashes
    # in its static initialisers. The editor never compiles kernels, so hide triton.
    sys.modules.setdefault("triton", None)
    # workers hold the GIL only between NumPy/OpenCV calls; a short switch
    # interval lets the GUI thread take it back within a millisecond
    sys.setswitchinterval(0.001)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Convolve")
    app.setOrganizationName("Convolve")
    app.setApplicationDisplayName("Convolve")
    apply_dark_theme(app)
    window = MainWindow()
    install_excepthook(lambda text: window._error(text))
    window.show()
    if os.environ.get("CONVOLVE_STARTUP_TIMING"):
        print(f"window shown after {time.perf_counter() - _T0:.3f} s", flush=True)
    start(window, paths or [])
    return app.exec()


def start(window, paths: list[str]) -> None:
    """What the window does first: open ``paths[0]``, offer crashed sessions, tidy up."""
    from PySide6.QtCore import QTimer

    if paths:
        QTimer.singleShot(0, lambda: window.open_path(os.path.abspath(paths[0])))
    # a crash's edits are offered whether or not the editor was started with a file;
    # with one, they open in windows of their own
    QTimer.singleShot(200, lambda: window.offer_recovery(into_self=False if paths else None))
    folders = sorted({os.path.dirname(p) for p in window.recent_files()})
    threading.Thread(target=clean_orphans, args=(folders,), name="clean-orphans",
                     daemon=True).start()


def clean_orphans(folders: list[str]) -> None:
    """Remove what killed sessions left behind: history spill folders and export
    ``.part`` files in ``folders`` (the recent files' folders, where exports most
    likely went); both carry a lock that died with their process."""
    from editor.core.atomic import clean_orphan_parts
    from editor.core.history import clean_orphan_spills

    clean_orphan_spills()
    for folder in folders:
        if os.path.isdir(folder):
            clean_orphan_parts(folder)


if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1:]))
