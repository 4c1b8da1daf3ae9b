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
