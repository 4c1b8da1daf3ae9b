"""Crash recovery without gaps: every committed step journaled, every crashed session
offered with its full history, ownership by locks that die with the process, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings

from editor.core.history import HistoryStore, clean_orphan_spills
from editor.core.lockfile import LOCK_NAME
from editor.core.recovery import (
    JOURNAL,
    LinearHistory,
    RecoveryJournal,
    Step,
    pending_recoveries,
)
from editor.ops import get_op, run_op
from editor.ops.registry import Range, register_op, unregister_op

ROOT = Path(__file__).resolve().parents[1]


def replay(image, steps):
    for op, params in steps:
        image = run_op(get_op(op), image, params)
    return image


# -- the journal, without Qt ----------

def test_journal_replays_merges_undo_and_branches(tmp_path):
    j = RecoveryJournal(tmp_path)
    j.open_document(base=1, source=None, original=np.zeros((2, 2), np.uint8))
    j.commit(before=1, after=2, title="Blur", op="gaussian_blur", params={"sigma": 1}, merge=9)
    j.move(index=1, current=2)
    j.commit(before=1, after=3, title="Blur", op="gaussian_blur", params={"sigma": 2}, merge=9)
    j.move(index=1, current=3)
    j.commit(before=3, after=4, title="Invert", op="invert", params={})
    j.move(index=2, current=4)
    j.move(index=1, current=3)  # undo
    j.commit(before=3, after=5, title="Gamma", op="gamma", params={"gamma": 2.0})
    j.move(index=2, current=5)
    j.abandon()
    (rec,) = pending_recoveries(tmp_path)
    plan = rec.plan()
    assert [(s.before, s.after) for s in plan.history.commands] == [(1, 3), (3, 5)]
    assert plan.recipe() == [("gaussian_blur", {"sigma": 2}), ("gamma", {"gamma": 2.0})]
    assert 1 in plan.pixels  # the original's copy


def test_a_torn_last_line_is_ignored(tmp_path):
    j = RecoveryJournal(tmp_path)
    j.open_document(base=1, source=None)
    j.commit(before=1, after=2, title="Invert", op="invert", params={})
    j.move(index=1, current=2)
    j.abandon()
    (folder,) = tmp_path.glob("session-*")
    with open(folder / JOURNAL, "a") as f:
        f.write('{"e": "commit", "before": 2, "aft')  # a kill in the middle of a write
    (rec,) = pending_recoveries(tmp_path)
    assert rec.plan().recipe() == [("invert", {})]


def test_a_live_session_is_not_offered_and_a_dead_one_is_even_with_its_pid_reused(tmp_path):
    """Ownership is a lock the kernel drops with the process, not a pid check: a session
    held by a live process is never offered; once that process dies it is, whatever
    process now has its pid (the journal still names the dead pid: it is not read)."""
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from editor.core.recovery import RecoveryJournal
        j = RecoveryJournal({str(tmp_path)!r})
        j.open_document(base=1, source=None, original=np.zeros((2, 2), np.uint8))
        j.commit(before=1, after=2, title="Invert", op="invert", params={{}})
        j.move(index=1, current=2)
        print("ready", flush=True)
        sys.stdin.read()
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert pending_recoveries(tmp_path) == []  # its owner is alive
        (folder,) = tmp_path.glob("session-*")
        # the journal names the child's pid; make it name *this* live process instead
        lines = (folder / JOURNAL).read_text().splitlines()
        head = json.loads(lines[0])
        head["pid"] = os.getpid()
        (folder / JOURNAL).write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    finally:
        child.kill()
        child.wait()
    (rec,) = pending_recoveries(tmp_path)
    assert rec.plan().recipe() == [("invert", {})]


def test_linear_history_follows_qundostack(qtbot):
    """The journal's model of the undo stack agrees with Qt's on merges and branches."""
    from PySide6.QtGui import QUndoCommand, QUndoStack

    class Cmd(QUndoCommand):
        def __init__(self, step):
            super().__init__(step.title)
            self.step = step

        def id(self):  # noqa: A003
            return 1 if self.step.merge is not None else -1

        def mergeWith(self, other):  # noqa: N802
            if other.step.merge != self.step.merge or other.step.before != self.step.before:
                return False
            self.step = other.step
            return True

    rng = np.random.default_rng(3)
    stack, model = QUndoStack(), LinearHistory(0)
    current, next_id = 0, 1
    for _ in range(300):
        r = rng.random()
        if r < 0.5:
            merge = int(rng.integers(0, 3)) if rng.random() < 0.5 else None
            step = Step(model.current, next_id, "s", "invert", {}, [], merge)
            next_id += 1
            stack.push(Cmd(step))
            model.push(step)
        elif r < 0.75:
            stack.undo()
            model.undo()
        else:
            i = int(rng.integers(0, stack.count() + 1))
            stack.setIndex(i)
            model.set_index(i)
        assert stack.count() == len(model.commands) and stack.index() == model.index
        assert [stack.command(i).step.after for i in range(stack.count())] == \
            [s.after for s in model.commands]
    del current


# -- kill -9 at any moment loses no committed edit ------------------------------------------------

EDITOR_CHILD = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication
    from editor.ui.controller import Controller

    app = QApplication([])
    c = Controller(history_budget=1, min_levels=1)  # every state spills, too
    ops = [("invert", {}), ("brightness", {"amount": 0.2}), ("gamma", {"gamma": 1.4}),
           ("gaussian_blur", {"sigma": 1.0}), ("contrast", {"amount": 0.3})]
    done = [0]

    def landed(*_):
        done[0] += 1
        print("committed", done[0], flush=True)
        go()

    def go():
        op, params = ops[done[0] % len(ops)]
        if done[0] % 4 == 3:
            print("undo", flush=True)  # said before it is done: a kill may fall between
            c.undo()  # an undo now and then; the next edit branches
        c.apply_op(op, params, on_committed=landed)

    c.open_path(sys.argv[2], on_done=go)
    app.exec()
""")


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 3, 6, 10])
def test_kill_dash_nine_loses_no_committed_edit(qtbot, tmp_path, monkeypatch, coffee,
                                                kill_after):
    """A real editor process edits (with undos, a budget that spills every state) and is
    killed with SIGKILL right after its k-th commit was announced: the restored session
    has every announced step, its full history, and pixels the recipe reproduces."""
    from editor.ui.controller import Controller

    photo = tmp_path / "photo.png"
    Image.fromarray(np.ascontiguousarray(coffee[:160, :240])).save(photo)
    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    env = dict(os.environ, CONVOLVE_RECOVERY_DIR=str(tmp_path / "recovery"),
               TMPDIR=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", EDITOR_CHILD, str(ROOT), str(photo)],
                             stdout=subprocess.PIPE, text=True, env=env)
    events = []
    try:
        while True:
            line = child.stdout.readline()
            assert line, "the editor stopped on its own"
            events.append(line.split()[0])
            if events.count("committed") == kill_after:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    events += [line.split()[0] for line in child.stdout.read().splitlines()]
    (rec,) = pending_recoveries(tmp_path / "recovery")
    plan = rec.plan()
    # every commit the child announced (after it landed) is in the journal
    journaled = [json.loads(line)["e"] for line in (rec.folder / JOURNAL).open()]
    assert journaled.count("commit") >= events.count("committed") >= kill_after
    # the model of what the child did: each undo pops one, each commit pushes one; the
    # kill may fall after a commit was journaled but before it was announced, or after
    # an undo was announced but before it was done: one step more, never one less
    expected = 0
    for e in events:
        expected = expected - 1 if e == "undo" else expected + 1
    assert expected <= plan.history.index <= expected + 1
    c = Controller()
    done = []
    c.restore(rec, on_done=lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(done), timeout=20000)
    doc = c.document
    assert c.undo_stack.index() == plan.history.index
    assert c.undo_stack.count() == len(plan.history.commands)
    source = np.asarray(Image.open(photo).convert("RGB"))
    np.testing.assert_array_equal(doc.image, replay(source, doc.recipe_steps()))
    c.undo_stack.setIndex(0)
    np.testing.assert_array_equal(doc.image, source)
    # the restoring process owns the session now; a normal close removes it
    assert pending_recoveries(tmp_path / "recovery") == []
    c.shutdown()
    assert not rec.folder.exists()
    assert not list(tmp_path.glob("convolve-history-*")) or clean_orphan_spills(tmp_path)
    assert not list(tmp_path.glob("convolve-history-*"))


# -- windows: each crashed session is offered, with or without a file at start ----------

def _window(qtbot, tmp_path):
    from editor.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, load_registry=False, install_panels=False)
    w._confirm = lambda doing: True
    qtbot.addWidget(w)
    return w


def _edit(qtbot, w, path, ops):
    w.open_path(str(path))
    qtbot.waitUntil(lambda: w.controller.document is not None, timeout=10000)
    for op, params in ops:
        w.controller.apply_op(op, params)
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == len(ops)
                    and not w.controller.busy(), timeout=10000)
    return w.controller.document.image.copy()


def test_two_windows_that_crash_together_are_both_offered_with_history(qtbot, tmp_path,
                                                                        monkeypatch, coffee,
                                                                        chelsea):
    from editor.ui import main_window

    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(coffee[:120, :160]).save(a)
    Image.fromarray(chelsea[:100, :140]).save(b)
    w1, w2 = _window(qtbot, tmp_path), _window(qtbot, tmp_path)
    px1 = _edit(qtbot, w1, a, [("invert", {}), ("gamma", {"gamma": 1.5})])
    px2 = _edit(qtbot, w2, b, [("brightness", {"amount": 0.3}), ("flip", {}),
                               ("contrast", {"amount": 0.2})])
    for w in (w1, w2):  # what a crash does: locks gone, sessions left on disk
        w.controller.journal.abandon()
    w3 = _window(qtbot, tmp_path)
    offered = []
    assert w3.offer_recovery(answer=lambda found: offered.extend(found) or found) == 2
    assert sorted(r.title for r in offered) == ["a.png", "b.png"]
    windows = [w3, *main_window.WINDOWS]
    qtbot.waitUntil(lambda: all(w.controller.document is not None for w in windows)
                    and len(windows) == 2, timeout=20000)
    by_name = {w.controller.document.name: w for w in windows}
    for name, pixels, n in (("a.png", px1, 2), ("b.png", px2, 3)):
        c = by_name[name].controller
        np.testing.assert_array_equal(c.document.image, pixels)
        assert c.undo_stack.count() == n and c.document.dirty
        c.undo()  # the history came back, not only the pixels
        assert c.undo_stack.index() == n - 1
    for w in main_window.WINDOWS[:]:
        w._confirm = lambda doing: True  # the restored edits are unsaved
        w.close()


def test_started_with_a_file_still_offers_recovery(qtbot, tmp_path, monkeypatch, coffee):
    """`convolve photo.png` after a crash: the photo opens here, the crashed session is
    offered and restored in a window of its own."""
    from editor.ui import app, main_window

    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    a, other = tmp_path / "a.png", tmp_path / "other.png"
    Image.fromarray(coffee[:120, :160]).save(a)
    Image.fromarray(coffee[200:300, 300:420]).save(other)
    w1 = _window(qtbot, tmp_path)
    pixels = _edit(qtbot, w1, a, [("invert", {})])
    w1.controller.journal.abandon()
    w = _window(qtbot, tmp_path)
    offered = []
    monkeypatch.setattr(main_window.MainWindow, "offer_recovery",
                        lambda self, answer=None, into_self=None, _orig=main_window.MainWindow
                        .offer_recovery: _orig(self, lambda f: offered.extend(f) or f,
                                               into_self))
    app.start(w, [str(other)])
    qtbot.waitUntil(lambda: bool(offered) and bool(main_window.WINDOWS)
                    and main_window.WINDOWS[0].controller.document is not None
                    and w.controller.document is not None, timeout=20000)
    assert w.controller.document.name == "other.png"
    restored = main_window.WINDOWS[0].controller
    np.testing.assert_array_equal(restored.document.image, pixels)
    assert restored.undo_stack.count() == 1
    main_window.WINDOWS[0]._confirm = lambda doing: True
    main_window.WINDOWS[0].close()


# -- orphans ----------

def test_spill_folders_of_killed_processes_are_removed_and_live_ones_kept(tmp_path):
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from editor.core.history import HistoryStore
        s = HistoryStore(budget_bytes=1, min_levels=1, spill_dir={str(tmp_path)!r})
        s.add(np.zeros((64, 64), np.uint8)); s.add(np.ones((64, 64), np.uint8))
        print(s.spill_dir, flush=True)
        sys.stdin.read()
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    dead = Path(child.stdout.readline().strip())
    live = HistoryStore(budget_bytes=1, min_levels=1, spill_dir=tmp_path)
    live.add(np.zeros((8, 8), np.uint8))
    live.add(np.zeros((8, 8), np.uint8))
    assert clean_orphan_spills(tmp_path) == []  # both owners alive
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert (dead / LOCK_NAME).exists()
    assert clean_orphan_spills(tmp_path) == [dead]
    assert not dead.exists() and live.spill_dir.exists()
    assert live.get(1).shape == (8, 8)
    live.close()


def test_history_budget_counts_what_the_process_holds(monkeypatch):
    """With count_process the store keeps fewer states in RAM when the process already
    holds much (libraries, the display), so the process, not the store, stays bounded."""
    from editor.core import history

    assert history.process_memory() > 0  # the real reading works here
    others = 100 << 20  # what the process holds besides the store
    store = HistoryStore(budget_bytes=others + (8 << 20), min_levels=1, count_process=True)
    monkeypatch.setattr(history, "process_memory", lambda: others + store.memory_bytes)
    for i in range(6):
        store.add(np.full((1024, 1024, 3), i, np.uint8))  # 3 MiB each
    assert store.memory_bytes <= 8 << 20  # 100 MiB of the budget were already taken
    assert len(store) == 6 and store.disk_bytes == 6 * (3 << 20) - store.memory_bytes
    plain = HistoryStore(budget_bytes=others + (8 << 20), min_levels=1)
    for i in range(6):
        plain.add(np.full((1024, 1024, 3), i, np.uint8))
    assert plain.disk_bytes == 0  # without counting the process all 18 MiB stay in RAM
    store.close()
    plain.close()


def test_heavy_and_opless_steps_are_restored_from_their_pixels(qtbot, tmp_path, monkeypatch,
                                                               coffee):
    """Results that are slow or impossible to replay (an AI op, pixels with no op) are
    journaled with their pixels as they commit, and a periodic snapshot keeps the current
    state, so a restore needs no replay of them (here: the op is gone after the crash)."""
    from editor.ui.controller import Controller

    @register_op("test_heavy_shift", title="Heavy shift", category="Test", heavy=True)
    def heavy_shift(image, *, by: Annotated[int, Range(0, 255)] = 40, ctx=None):
        """Add a constant (stands in for an expensive AI op)."""
        return (image.astype(np.int16) + by).clip(0, 255).astype(image.dtype)

    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    image = np.ascontiguousarray(coffee[:90, :120])
    c = Controller()
    c.open_array(image)
    qtbot.waitUntil(lambda: c.document is not None, timeout=10000)
    try:
        c.apply_op("test_heavy_shift", {"by": 30})
        qtbot.waitUntil(lambda: c.undo_stack.count() == 1 and not c.busy(), timeout=10000)
        base = c.document.current_id
        c.commit_image(np.ascontiguousarray(c.document.image[::-1]), "Pasted", base=base)
        qtbot.waitUntil(lambda: c.undo_stack.count() == 2 and not c.busy(), timeout=10000)
        c.apply_op("invert")
        qtbot.waitUntil(lambda: c.undo_stack.count() == 3 and not c.busy(), timeout=10000)
        c.autosave_now(wait=True)  # the periodic snapshot of the current state
        expected = c.document.image.copy()
        assert set(c.journal.pixels) >= {c.document.current_id}
        c.journal.abandon()
    finally:
        unregister_op("test_heavy_shift")
    (rec,) = pending_recoveries(tmp_path / "recovery")
    assert len(rec.plan().pixels) == 4  # original, heavy step, pasted pixels, snapshot
    c2 = Controller()
    done = []
    c2.restore(rec, on_done=lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(done), timeout=20000)
    np.testing.assert_array_equal(c2.document.image, expected)
    assert [c2.undo_stack.text(i) for i in range(3)] == ["Heavy shift", "Pasted", "Invert"]
    c2.undo()
    np.testing.assert_array_equal(c2.document.image, 255 - expected)
    c.shutdown()
    c2.shutdown()
