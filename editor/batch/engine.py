"""Running a :class:`~editor.batch.plan.BatchPlan` on Dask: progress, Cancel, manifest, summary.

One Dask task per file (:func:`editor.batch.task.process_file`). At most a few
tasks per worker are submitted at a time (:func:`run_batch` keeps a window of
``4 x workers`` in flight), so a million files cost the scheduler a few dozen
futures at any moment, not a million, and Cancel has little to take back.

What happens when things go wrong:

* a file that cannot be read, edited or written is a ``failed`` row; the rest go on;
* a worker that dies (killed, out of memory) loses the file it held; Dask runs
  that task again on another worker (a file that kills three workers is
  recorded as failed); the dead worker's half-written part file is removed,
  because it is not locked any more (:mod:`editor.core.atomic`);
* Cancel (the context's event, or Ctrl+C) stops submitting, cancels what is
  waiting, keeps every finished file, records the rest as ``pending`` and
  removes the part files of writes that were cut short. Outputs are only ever
  renamed into place complete, so no partial output exists at any moment;
* the manifest is rewritten every few seconds, so even a killed batch can be
  resumed (``resume=True``) from its last checkpoint.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from editor.batch.manifest import (
    DONE,
    FAILED,
    PENDING,
    SKIPPED,
    Row,
    finished_rows,
    previous_outputs,
    recipe_sha256,
    row_key,
    write_manifest,
)
from editor.batch.plan import BatchPlan, PlanError
from editor.core.atomic import clean_orphan_parts
from editor.core.context import Cancelled, OpContext, null_context

#: Seconds between manifest checkpoints while a batch runs.
CHECKPOINT_SECONDS = 10.0
#: Tasks in flight per worker (one running, the rest queued on the worker).
TASKS_PER_WORKER = 4
#: Seconds a batch waits for a cluster that lost every worker before it gives up.
NO_WORKER_TIMEOUT = 120.0


@dataclass
class BatchStatus:
    """A progress snapshot (passed to ``on_status`` after every finished file).

    Examples
    --------
    >>> BatchStatus(total=200, finished=37, failed=1, elapsed=9.0).line()
    '37/200 · 1 failed · 4.1 files/s · ETA 0:40'
    """

    total: int            # files this run processes
    finished: int         # of them, finished (done or failed)
    failed: int
    elapsed: float        # seconds since the first task was submitted
    last: str = ""        # the file that finished last

    @property
    def rate(self) -> float:
        """Files per second so far."""
        return self.finished / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (None before the first file)."""
        if not self.finished or self.rate <= 0:
            return None
        return (self.total - self.finished) / self.rate

    @property
    def fraction(self) -> float:
        return self.finished / self.total if self.total else 1.0

    def line(self) -> str:
        """``37/200 · 4.1 files/s · ETA 0:40`` (the progress line's text)."""
        parts = [f"{self.finished}/{self.total}", f"{self.rate:.1f} files/s"]
        if self.failed:
            parts.insert(1, f"{self.failed} failed")
        if self.eta is not None:
            parts.append(f"ETA {format_seconds(self.eta)}")
        return " · ".join(parts)


def format_seconds(s: float) -> str:
    """Seconds as the clock shows them.

    >>> format_seconds(7), format_seconds(750), format_seconds(11100)
    ('0:07', '12:30', '3:05:00')
    """
    s = int(round(max(0.0, s)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


@dataclass
class BatchResult:
    """What a batch did: every row, and where the manifest is."""

    rows: list[Row]
    seconds: float
    cancelled: bool
    manifest: tuple[Path, Path]
    ran: int = 0          # files processed by this run (done + failed)
    engine: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.status == FAILED]

    @property
    def outputs(self) -> list[str]:
        """Outputs that exist (``done`` rows), in input order."""
        return [r.output for r in self.rows if r.status == DONE]

    def summary(self) -> str:
        """The one-line summary: what was done, how fast, where the manifest is."""
        done_now = self.counts.get("done_now", 0)
        parts = [f"{done_now} done"]
        if self.count(FAILED):
            parts.append(f"{self.count(FAILED)} failed")
        if self.counts.get("resumed"):
            parts.append(f"{self.counts['resumed']} already done")
        if self.count(SKIPPED):
            parts.append(f"{self.count(SKIPPED)} skipped (output exists)")
        if self.count(PENDING):
            parts.append(f"{self.count(PENDING)} not started")
        rate = f", {self.ran / self.seconds:.1f} files/s" if self.seconds > 0 and self.ran else ""
        head = "batch cancelled: " if self.cancelled else "batch: "
        return (f"{head}{', '.join(parts)} in {format_seconds(self.seconds)}{rate}; "
                f"manifest {self.manifest[0]}")


def run_batch(plan: BatchPlan, recipe, *, scheduler: str | None = None,
              workers: int | None = None, resume: bool = False, existing: str = "refuse",
              ctx: OpContext | None = None,
              on_status: Callable[[BatchStatus], None] | None = None,
              manifest_base: Path | None = None, client: Any = None) -> BatchResult:
    """Apply ``recipe`` to every file of ``plan`` on Dask workers.

    Parameters
    ----------
    plan : BatchPlan
        From :func:`editor.batch.plan.make_plan`.
    recipe : Recipe
        Validated here already; its JSON is sent to the workers.
    scheduler : str, optional
        Address of a running Dask scheduler; None starts a local cluster.
    workers : int, optional
        Processes of the local cluster (default one per core).
    resume : bool
        Skip the files an earlier run of the same recipe (same SHA-256) finished,
        according to the manifest, and redo the rest.
    existing : {"refuse", "overwrite", "skip"}
        What to do with an output file that exists already (and was not
        finished by an earlier run being resumed).
    ctx : OpContext, optional
        Progress (fraction and the status line) and Cancel.
    on_status : callable, optional
        Called with a :class:`BatchStatus` after every finished file.
    manifest_base : Path, optional
        Where the manifest goes (``.csv``/``.json`` appended); default
        ``OUT_DIR/convolve-batch``.
    client : distributed.Client, optional
        Use this client instead of starting or connecting one (tests, notebooks).

    Returns
    -------
    BatchResult
        Also when cancelled (``cancelled=True``); Ctrl+C (``KeyboardInterrupt``)
        is re-raised after the manifest is written.

    Raises
    ------
    PlanError
        Outputs exist and ``existing="refuse"`` (before anything runs).
    ClusterError
        The cluster cannot be started or reached.
    """
    ctx = ctx or null_context()
    if existing not in ("refuse", "overwrite", "skip"):
        raise ValueError(f"existing must be refuse, overwrite or skip, not {existing!r}")
    digest = recipe_sha256(recipe)
    base = Path(manifest_base) if manifest_base is not None else plan.manifest_base
    rows, todo = _initial_rows(plan, digest, base, resume, existing)
    header = {"recipe_sha256": digest, "recipe": [s.to_dict() for s in recipe.steps],
              "options": plan.options.to_json(), "pattern": plan.pattern,
              "out_dir": str(plan.out_dir),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # workers read mask files named relative to the recipe: send their full paths
    portable = type(recipe)([type(s)(s.op, recipe.resolved(s.op, s.params))
                             for s in recipe.steps])
    runner = _Runner(plan, rows, todo, portable.to_json(), digest, ctx, on_status, base, header)
    interrupted: BaseException | None = None
    try:
        if not todo:
            runner.engine = "nothing to do"
        elif client is not None:
            runner.engine = "the given Dask client"
            runner.run(client)
        else:
            from editor.batch.cluster import dask_client

            runner.engine = (f"Dask scheduler {scheduler}" if scheduler else
                             f"local cluster of {workers or _default_workers()} processes")
            with dask_client(scheduler, workers) as c:
                runner.run(c)
    except KeyboardInterrupt as e:
        interrupted = e
        runner.cancelled = True
    finally:
        # After the local cluster is closed, no writer of ours is alive: every part
        # file left in the output folders is one a killed or cancelled write cut short.
        _clean_parts(plan, todo)
        header.update(engine=runner.engine, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      cancelled=runner.cancelled)
        paths = write_manifest(base, rows, header)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    counts["done_now"] = runner.done_now
    counts["resumed"] = len(plan.items) - len(todo) - counts.get(SKIPPED, 0)
    result = BatchResult(rows, time.perf_counter() - t0, runner.cancelled, paths,
                         ran=runner.finished, engine=runner.engine, counts=counts)
    if interrupted is not None:
        interrupted.batch_result = result  # type: ignore[attr-defined]  (for the summary)
        raise interrupted
    return result


def _default_workers() -> int:
    from editor.batch.cluster import default_workers

    return default_workers()


def _initial_rows(plan: BatchPlan, digest: str, base: Path, resume: bool,
                  existing: str) -> tuple[list[Row], list[int]]:
    """Rows before anything runs (resumed, skipped or pending) and the indices to run."""
    finished = finished_rows(base, digest) if resume else {}
    earlier = previous_outputs(base) if resume else set()
    rows: list[Row] = []
    todo: list[int] = []
    clashes: list[str] = []
    for i, item in enumerate(plan.items):
        key = row_key(item.input, item.output)
        if key in finished:
            old = finished[key]
            rows.append(Row(item.input, item.output, DONE, "", old.seconds, digest, old.notes))
            continue
        row = Row(item.input, item.output, PENDING, "", 0.0, digest)
        if os.path.lexists(item.output) and key not in earlier:
            if existing == "skip":
                row.status = SKIPPED
                rows.append(row)
                continue
            if existing == "refuse":
                clashes.append(item.output)
        rows.append(row)
        todo.append(i)
    if clashes:
        more = f" and {len(clashes) - 1} more" if len(clashes) > 1 else ""
        raise PlanError(f"{clashes[0]}{more} already exist; choose overwrite or skip existing "
                        "files" + (", or resume the earlier batch" if not resume else ""))
    return rows, todo


def _clean_parts(plan: BatchPlan, todo: list[int]) -> None:
    folders = {os.path.dirname(os.path.abspath(plan.items[i].output)) for i in todo}
    for folder in sorted(folders):
        clean_orphan_parts(folder)


class _Runner:
    """The submit/collect loop of one batch (on the calling thread)."""

    def __init__(self, plan, rows, todo, recipe_text, digest, ctx, on_status, base, header):
        self.plan, self.rows, self.todo = plan, rows, todo
        self.recipe_text, self.digest = recipe_text, digest
        self.ctx, self.on_status = ctx, on_status
        self.base, self.header = base, header
        self.engine = ""
        self.cancelled = False
        self.finished = self.failed = self.done_now = 0

    def _job(self, i: int) -> dict[str, Any]:
        item = self.plan.items[i]
        return {"input": os.path.abspath(item.input), "output": os.path.abspath(item.output),
                "recipe": self.recipe_text, "recipe_sha256": self.digest,
                "options": self.plan.options.to_json()}

    def run(self, client) -> None:
        from distributed import as_completed

        from editor.batch.cluster import worker_count
        from editor.batch.task import process_file

        ctx = self.ctx
        total = len(self.todo)
        token = f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
        in_flight: dict[Any, int] = {}
        ac = as_completed(loop=client.loop, with_results=True, raise_errors=False)
        next_pos = 0
        t_start = time.perf_counter()
        last_checkpoint = t_start
        checkpoint_every = CHECKPOINT_SECONDS
        last_count = 0.0
        window = TASKS_PER_WORKER * max(1, worker_count(client))
        no_workers_since: float | None = None
        self._report(0.0, f"0/{total}")
        try:
            while True:
                if ctx.cancel_event.is_set():
                    self.cancelled = True
                    break
                while next_pos < total and len(in_flight) < window:
                    i = self.todo[next_pos]
                    fut = client.submit(process_file, self._job(i), key=f"convolve-{i}-{token}",
                                        pure=False)
                    in_flight[fut] = i
                    ac.add(fut)
                    next_pos += 1
                if not in_flight:
                    break
                ready = ac.next_batch(block=False)
                for fut, value in ready:
                    i = in_flight.pop(fut)
                    self._record(i, fut, value)
                    fut.release()
                    status = BatchStatus(total, self.finished, self.failed,
                                         time.perf_counter() - t_start,
                                         Path(self.plan.items[i].input).name)
                    self._report(status.fraction, status.line())
                    if self.on_status is not None:
                        self.on_status(status)
                now = time.perf_counter()
                if now - last_count > 1.0:
                    last_count = now
                    n = worker_count(client)
                    window = TASKS_PER_WORKER * max(1, n)
                    no_workers_since = (no_workers_since or now) if n == 0 else None
                    if no_workers_since and now - no_workers_since > NO_WORKER_TIMEOUT:
                        raise RuntimeError("the Dask cluster has had no workers for "
                                           f"{NO_WORKER_TIMEOUT:.0f} s; the batch stopped "
                                           "(resume it when workers are back)")
                if now - last_checkpoint > checkpoint_every:
                    write_manifest(self.base, self.rows, self.header)
                    last_checkpoint = time.perf_counter()
                    # a million rows take seconds to write: never spend over 5 % on it
                    checkpoint_every = max(CHECKPOINT_SECONDS, 20 * (last_checkpoint - now))
                if not ready:
                    time.sleep(0.005)
        except BaseException:
            self.cancelled = True
            raise
        finally:
            # results that arrived while stopping are files written: record them
            for fut in [f for f in in_flight if f.status == "finished"]:
                try:
                    self._record(in_flight.pop(fut), fut, fut.result(timeout=1))
                except Exception:  # noqa: BLE001  (unrecorded: a resume redoes it)
                    pass
            if in_flight:
                futures = list(in_flight)
                try:
                    client.cancel(futures)
                except Exception:  # noqa: BLE001  (a lost connection: nothing left to cancel)
                    pass

    def _report(self, fraction: float, text: str) -> None:
        try:
            self.ctx.report(fraction, text)
        except Cancelled:  # seen at the top of the loop: stop submitting, keep what is done
            pass

    def _record(self, i: int, fut, value) -> None:
        row = self.rows[i]
        if fut.status == "finished" and isinstance(value, dict):
            row.status = value.get("status", FAILED)
            row.error = value.get("error", "")
            row.seconds = float(value.get("seconds", 0.0))
            row.notes = value.get("notes", "")
        else:
            row.status = FAILED
            row.error = _task_error(value)
        self.finished += 1
        if row.status == FAILED:
            self.failed += 1
        else:
            self.done_now += 1


def _task_error(value: Any) -> str:
    """One sentence for a task Dask could not run (a worker died with it, thrice)."""
    exc = value[1] if isinstance(value, tuple) and len(value) == 3 else value
    name = type(exc).__name__
    if name == "KilledWorker":
        return "a worker died while processing this file, each time it was tried"
    if name in ("CancelledError", "FutureCancelledError"):
        return "cancelled"
    text = " ".join(str(exc).split())
    return f"the cluster could not run this file ({name}{': ' + text[:120] if text else ''})"
