"""Batch throughput: the local Dask engine beside one process running `apply` in a loop.

200 real photos (crops of the shared photographs resized to 1.0-1.9 MP, half
JPEG, half PNG), the photographer's recipe of tests/batch_support.py (resize
75 %, tone curve, saturation, unsharp mask), outputs in each input's format.

* reference: one process calling ``convolve apply IN -o OUT --recipe R`` for
  each file in a loop (``editor.cli.main``, in-process: no interpreter start-up
  counted against it);
* ours: ``run_batch`` on a local cluster of one single-threaded process per
  core, end to end (cluster start and shutdown included) and the same run on an
  already started cluster;
* the engine's overhead per image: with ONE worker process the engine does the
  loop's work plus its own (submit, transfer, manifest); (engine - loop) / N;
* cost per megapixel of three recipes (seconds of one core per MP, from the
  manifest's per-file times), and what a million 12 MP photos would take.

Goals from the issue: throughput >= 1.7x the loop on this 2-core machine;
overhead <= 20 ms per image. Figures are printed, never asserted.

Usage: python benchmarks/bench_batch.py [--photos 200] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))

RECIPES = {
    "light (resize + curves)": lambda steps: steps[:2],
    "photographer (4 steps)": lambda steps: steps,
    "heavy (+ bilateral)": lambda steps: [*steps, {"op": "bilateral",
                                                  "params": {"sigma_space": 5}}],
}


def loop_apply(files, recipe: Path, out: Path) -> float:
    import editor.cli as cli

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for f in files:
        code = cli.main(["apply", str(f), "-o", str(out / f.name), "--recipe", str(recipe)])
        assert code == 0, f
    return time.perf_counter() - t0


def engine(files, recipe: Path, out: Path, workers: int, client=None):
    from editor.batch import make_plan, run_batch
    from editor.core.recipe import Recipe

    plan = make_plan([str(f) for f in files], out, pattern="{stem}.{ext}")
    t0 = time.perf_counter()
    result = run_batch(plan, Recipe.load(recipe), workers=workers, client=client,
                       existing="overwrite")
    wall = time.perf_counter() - t0
    assert result.count("done") == len(files), result.summary()
    return wall, result


def _compress(n: int) -> float:
    import zlib

    data = bytes(range(256)) * 16384
    t0 = time.perf_counter()
    for _ in range(n):
        zlib.compress(data, 6)
    return time.perf_counter() - t0


def machine_scaling(workers: int, n: int = 40) -> float:
    """Throughput of ``workers`` processes of pure compute over one process: what this
    machine gives parallel work right now (a shared machine gives less than its cores)."""
    import multiprocessing as mp

    one = _compress(n)
    with mp.get_context("spawn").Pool(workers) as pool:
        pool.map(_compress, [1] * workers)  # started
        t0 = time.perf_counter()
        pool.map(_compress, [n] * workers)
        many = time.perf_counter() - t0
    return workers * one / many


def megapixels(files) -> float:
    from PIL import Image

    total = 0
    for f in files:
        with Image.open(f) as im:
            total += im.width * im.height
    return total / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--workers", type=int, default=None, help="default: one per core")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs of each configuration; the fastest counts (a shared machine)")
    args = ap.parse_args()
    from batch_support import make_photo_set, write_recipe

    from editor.batch.cluster import dask_client, default_workers

    workers = args.workers or default_workers()
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        files = make_photo_set(tmp / "in", args.photos, long_side=(1200, 1700))
        mp = megapixels(files)
        recipe = write_recipe(tmp / "recipe.json")
        print(f"{len(files)} photos, {mp:.0f} MP in all ({mp / len(files):.2f} MP each), "
              f"{workers} worker processes, {os.cpu_count()} CPUs")

        loop_apply(files[:4], recipe, tmp / "warm")  # imports and first-call costs
        t_loop = t_end = t_warm = t_one = t_start = float("inf")
        result_one = None
        for _ in range(args.repeat):  # interleaved, so a busy spell hits both sides
            t_loop = min(t_loop, loop_apply(files, recipe, tmp / "loop"))
            t_end = min(t_end, engine(files, recipe, tmp / "engine", workers)[0])
            t0 = time.perf_counter()
            with dask_client(workers=workers) as client:
                t_start = min(t_start, time.perf_counter() - t0)
                engine(files[:4], recipe, tmp / "warm2", workers, client)  # workers import
                t_warm = min(t_warm, engine(files, recipe, tmp / "engine2", workers, client)[0])
            with dask_client(workers=1) as client:
                engine(files[:4], recipe, tmp / "warm3", 1, client)
                t, result = engine(files, recipe, tmp / "engine1", 1, client)
                if t < t_one:
                    t_one, result_one = t, result
        n = len(files)
        in_tasks = sum(r.seconds for r in result_one.rows)

        print("\n== throughput (images/s; higher is better)")
        print(f"{'':<44}{'s':>8}{'img/s':>9}{'vs loop':>9}")
        rows = [("one process, `apply` in a loop (reference)", t_loop),
                (f"engine, {workers} processes, end to end *", t_end),
                (f"engine, {workers} processes, cluster running", t_warm)]
        for label, t in rows:
            print(f"{label:<44}{t:>8.2f}{n / t:>9.1f}{t_loop / t:>8.2f}x")
        print(f"* with the cluster's start ({t_start:.2f} s) and the workers' first imports "
              "(the loop's imports are not timed); goal: >= 1.7x the loop")
        print(f"(this machine, now: {workers} processes of pure compute (zlib) run "
              f"{machine_scaling(workers):.2f}x one process; os.getloadavg() "
              f"{os.getloadavg()[0]:.1f})")

        print("\n== engine overhead per image (ms; lower is better)")
        print(f"engine with 1 worker, cluster running: {t_one / n * 1e3:7.1f} ms per image")
        print(f"`apply` loop in one process:           {t_loop / n * 1e3:7.1f} ms per image")
        print(f"overhead (difference):                 {(t_one - t_loop) / n * 1e3:7.1f} ms "
              "per image (goal <= 20 ms)")
        print(f"outside the task (wall - task times):  {(t_one - in_tasks) / n * 1e3:7.1f} ms "
              "per image")

        print("\n== cost per megapixel (one core, from the manifest's per-file seconds)")
        print(f"{'recipe':<28}{'ms/MP':>8}   1 M photos of 12 MP on N workers (hours)")
        print(f"{'':<28}{'':>8}   {'N=2':>8}{'N=16':>8}{'N=64':>8}{'N=256':>8}")
        from batch_support import RECIPE_STEPS as steps

        with dask_client(workers=workers) as client:
            sample = files[:60]
            mp_sample = megapixels(sample)
            engine(sample[:4], recipe, tmp / "warm4", workers, client)
            for name, make in RECIPES.items():
                r = write_recipe(tmp / "r.json", make(steps))
                _, result = engine(sample, r, tmp / f"cost-{len(name)}", workers, client)
                per_mp = sum(x.seconds for x in result.rows) / mp_sample
                hours = [1e6 * 12 * per_mp / w / 3600 for w in (2, 16, 64, 256)]
                print(f"{name:<28}{per_mp * 1e3:>8.1f}   " +
                      "".join(f"{h:>8.1f}" for h in hours))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
