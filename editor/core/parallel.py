"""One process-wide thread pool for work that releases the GIL (OpenCV, NumPy, zlib).

OpenCV parallelises most of its filters itself, but some calls run on one core
(``cv2.LUT``, ``cv2.calcHist``, every PNG encoder) and NumPy never threads its
ufuncs. Cutting such work into horizontal strips and running them on this pool
uses every core; the strips are fixed by the data (not by the number of cores),
so results are the same on any machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _forget_pool_in_child() -> None:
    """A forked child inherits the pool object but none of its threads: it would wait
    forever on work submitted there. The child makes its own pool on first use."""
    global _lock, _pool
    _lock = threading.Lock()
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def workers() -> int:
    """Threads the pool runs: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def pool() -> ThreadPoolExecutor:
    """The shared pool, made on first use (daemon-like: it never blocks exit)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(workers(), thread_name_prefix="convolve-strip")
        return _pool


def in_pool() -> bool:
    """Whether the caller runs on one of the pool's threads (then it must not wait
    on the pool: nested work runs inline)."""
    return threading.current_thread().name.startswith("convolve-strip")


def map_ordered(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``map(fn, items)`` on the pool, results in order; inline on one core.

    Called from one of the pool's own threads it also runs inline, so nested use
    cannot deadlock the pool.
    """
    items = list(items)
    if len(items) <= 1 or workers() == 1 or in_pool():
        return map(fn, items)
    return pool().map(fn, items)


def for_each_in_flight(fn: Callable[[T], R], items: Iterable[T],
                       then: Callable[[T, R], object]) -> None:
    """``then(item, fn(item))`` for every item in order, ``fn`` on the pool with one
    item per core in flight.

    Items are handed to the pool one at a time as earlier ones finish (never all at
    once, so other work is not queued behind them). ``then`` runs on the calling
    thread: it can report progress and so raise Cancel between items, and then the
    items not started are dropped and those running (one per core) end on their
    own. Inline on one core or on one of the pool's threads.
    """
    from collections import deque

    todo = iter(items)
    if workers() == 1 or in_pool():
        for item in todo:
            then(item, fn(item))
        return
    pending: deque = deque()

    def submit() -> None:
        for item in todo:
            pending.append((item, pool().submit(fn, item)))
            return

    try:
        for _ in range(workers()):
            submit()
        while pending:
            item, future = pending.popleft()
            result = future.result()
            submit()
            then(item, result)
    except BaseException:
        for _, future in pending:
            future.cancel()
        raise


def row_strips(height: int, min_rows: int = 1, parts: int | None = None) -> list[slice]:
    """``parts`` (default: one per core) slices of about equal height covering ``height``.

    Used where the split does not change the result (a lookup table, a histogram
    summed over strips), so following the core count is harmless.
    """
    n = parts or workers()
    n = max(1, min(n, height // max(1, min_rows)))
    bounds = [height * i // n for i in range(n + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


#: Output bytes per strip for row-wise work on :func:`for_each_strip`: small enough
#: that a strip's temporaries stay in the cores' caches between the passes over it.
STRIP_BYTES = 1 << 20


def strip_rows(row_bytes: int, halo: int = 0) -> int:
    """Rows per strip for rows of ``row_bytes`` output bytes: about
    :data:`STRIP_BYTES`, and at least ``16 * halo`` so re-read halo rows stay a small
    share. Depends on the image only, never on the core count."""
    return max(1, STRIP_BYTES // max(1, row_bytes), 16 * halo)


def for_each_strip(height: int, rows: int, fn: Callable[[int, int], object]) -> None:
    """Call ``fn(y0, y1)`` for consecutive strips of ``rows`` rows covering ``height``,
    on the pool; returns when all are done (an exception in one is raised here).

    ``fn`` writes its rows of a preallocated result itself, so the strips need no
    copying together; the result is the same however many cores run them, as long
    as each strip's output depends only on its rows (plus the halo it reads).
    """
    bounds = [(y, min(height, y + rows)) for y in range(0, height, rows)]
    # Few tasks, each a run of consecutive strips: a task costs tens of microseconds
    # to hand over, a strip of a point op about as much to compute. Two runs a core
    # keep the cores even when one of them is slowed by other work.
    runs = min(len(bounds), 2 * workers())
    cuts = [len(bounds) * i // runs for i in range(runs + 1)]

    def run(i: int) -> None:
        for a, b in bounds[cuts[i]:cuts[i + 1]]:
            fn(a, b)

    for _ in map_ordered(run, range(runs)):
        pass
