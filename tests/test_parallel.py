"""The shared strip pool (editor/core/parallel.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import editor.core.parallel as parallel

CHILD = textwrap.dedent("""
    import os
    from editor.core.parallel import map_ordered
    assert list(map_ordered(lambda x: x * 2, range(6))) == [0, 2, 4, 6, 8, 10]
    pid = os.fork()
    if pid == 0:  # the inherited pool has no threads: the child must make its own
        ok = list(map_ordered(lambda x: x * 3, range(6))) == [0, 3, 6, 9, 12, 15]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    raise SystemExit(os.waitstatus_to_exitcode(status))
""")


def test_a_forked_child_gets_a_pool_that_runs():
    done = subprocess.run([sys.executable, "-c", CHILD], timeout=60)
    assert done.returncode == 0


def test_strips_cover_the_rows_once_in_order():
    seen: list[tuple[int, int]] = []
    parallel.for_each_strip(1000, 64, lambda a, b: seen.append((a, b)))
    assert sorted(seen) == [(y, min(1000, y + 64)) for y in range(0, 1000, 64)]
    assert parallel.strip_rows(4000 * 3) == (1 << 20) // 12000
    assert parallel.strip_rows(4000 * 3, halo=20) == 320


def test_nested_use_runs_inline():
    def outer(i: int) -> list[int]:
        assert parallel.in_pool() or parallel.workers() == 1
        return list(parallel.map_ordered(lambda j: i * 10 + j, range(3)))

    assert list(parallel.map_ordered(outer, range(4))) == [[i * 10 + j for j in range(3)]
                                                           for i in range(4)]


def test_in_flight_keeps_one_item_a_core_and_stops_on_an_error_in_then(monkeypatch):
    import threading
    import time

    import pytest

    monkeypatch.setattr(parallel, "workers", lambda: 2)
    lock, started, running, most = threading.Lock(), [], [0], [0]

    def work(i: int) -> int:
        with lock:
            started.append(i)
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return i * i

    taken: list[tuple[int, int]] = []
    parallel.for_each_in_flight(work, range(10), lambda i, r: taken.append((i, r)))
    assert taken == [(i, i * i) for i in range(10)]  # in order, on the calling thread
    assert most[0] <= 2  # never more than one item a core handed out

    started.clear()

    def cancel_at_3(i: int, _r: int) -> None:
        if i == 3:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        parallel.for_each_in_flight(work, range(10), cancel_at_3)
    time.sleep(0.05)
    assert max(started) <= 5  # the items not handed out never start


def test_in_flight_runs_inline_in_the_pool():
    def outer(i: int) -> list[int]:
        seen: list[int] = []
        parallel.for_each_in_flight(lambda j: i * 10 + j, range(3), lambda _j, r: seen.append(r))
        return seen

    assert list(parallel.map_ordered(outer, range(4))) == [[i * 10 + j for j in range(3)]
                                                           for i in range(4)]
