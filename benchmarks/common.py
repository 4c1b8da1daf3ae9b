"""Shared benchmark helpers: the 12 MP photo, median timing and the printed table.

Benchmarks print figures beside their references from the same run; they never
assert on time.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# torch's OpenMP workers spin for a while after each call; on two cores the candidate
# timed next (ours or a reference, whoever the shuffle puts there) then shares its
# cores with them and can measure 2x slow. Passive workers sleep instead. Set before
# any benchmark imports torch (they import this module first).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_IMAGES = ROOT.parent / "shared" / "images"


def photo_12mp(name: str = "astronaut.png", size: tuple[int, int] = (4000, 3000)) -> np.ndarray:
    """A real photo upscaled (bicubic) to ``size`` = (width, height), RGB uint8."""
    import cv2
    from PIL import Image

    path = SHARED_IMAGES / name
    if path.exists():
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    else:
        import skimage.data

        rgb = skimage.data.astronaut()
    return cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)


def run_times(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Wall times of ``repeats`` calls of ``fn()`` in seconds, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def time_median(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    return statistics.median(run_times(fn, repeats, warmup))


def time_best(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Fastest wall time of ``fn()`` in seconds: the statistic of the interleaved
    comparisons (load from elsewhere only ever adds time, so the fastest run is the
    one closest to the call's own cost)."""
    return min(run_times(fn, repeats, warmup))


def memcpy_time(image: np.ndarray, repeats: int = 5) -> float:
    """Fastest plain copy of ``image`` into an existing array (the floor for point ops)."""
    out = np.empty_like(image)
    return time_best(lambda: np.copyto(out, image), repeats)


def print_header(title: str) -> None:
    print(f"\n== {title}")
    print(f"{'op':<22}{'ours ms':>10}  {'fastest reference':<28}{'ref ms':>9}{'ratio':>8}")


#: A reference whose name starts with this does something else than the op (e.g. a
#: border rule or rounding the op does not have): shown beside it, never its yardstick.
DIFFERENT = "≠"


def final_duel(fns: dict[str, Callable[[], object]], times: dict[str, float],
               ours: str = "ours", rounds: int = 15, limit_s: float = 0.3) -> None:
    """Re-time ours against the fastest reference alone, alternately, and keep each one's
    fastest call (``times`` is updated in place).

    The rounds with every reference find which one is fastest, but slow neighbours
    (torch, Pillow) disturb whoever runs after them, and five rounds leave a few percent
    of noise: the whole difference between a thin wrapper and the call it wraps. So the
    two that decide the ratio meet again, just the two, under the same conditions.
    Calls over ``limit_s`` are left as they are (their noise is a small share).
    """
    same = {k: t for k, t in times.items()
            if k != ours and k in fns and not k.startswith(DIFFERENT)}
    if not same:
        return
    best = min(same, key=same.get)
    if max(times[ours], times[best]) > limit_s:
        return
    pair = {ours: [], best: []}
    for i in range(rounds):
        for k in (ours, best) if i % 2 == 0 else (best, ours):
            t0 = time.perf_counter()
            fns[k]()
            pair[k].append(time.perf_counter() - t0)
    for k, samples in pair.items():
        times[k] = min(times[k], *samples)


def print_row(op: str, ours_s: float, refs: dict[str, float]) -> None:
    """One table row: our time, the fastest reference doing the same thing and the
    ratio ours / fastest (references marked :data:`DIFFERENT` are only listed)."""
    same = {k: v for k, v in refs.items() if not k.startswith(DIFFERENT)}
    if same:
        name, best = min(same.items(), key=lambda kv: kv[1])
        others = ", ".join(f"{k} {v * 1e3:.1f}" for k, v in refs.items() if k != name)
        print(f"{op:<22}{ours_s * 1e3:>10.1f}  {name:<28}{best * 1e3:>9.1f}"
              f"{ours_s / best:>7.2f}x" + (f"   ({others})" if others else ""))
    else:
        shown = ", ".join(f"{k} {v * 1e3:.1f}" for k, v in refs.items())
        print(f"{op:<22}{ours_s * 1e3:>10.1f}  {'(no reference has it)':<28}"
              + (f"{'':>16}   ({shown})" if shown else ""))
