"""A Dask client: a local cluster of processes by default, or the user's cluster by address.

Dask (``distributed``) is imported here only, inside functions, so neither the
editor's start-up nor ``import editor.batch`` pays for it.

Local cluster
    :class:`distributed.LocalCluster` with one single-threaded worker process
    per core (``processes=True, threads_per_worker=1``): each worker holds one
    image at a time, and the Python code of the ops runs in parallel without
    sharing the GIL. It listens on 127.0.0.1 only, has no dashboard, and is
    closed with the batch. Its worker processes start with SIGINT ignored, so
    Ctrl+C in a terminal reaches the batch (which cancels cleanly and closes
    them), not every worker at once.
Existing cluster
    ``tcp://HOST:8786`` of a ``dask scheduler`` (or dask-jobqueue, Kubernetes):
    its workers need Convolve installed and must see the input and output paths
    at the same place (shared storage). The connection checks both, so a
    missing install is one sentence before the batch starts.

Dask's own log lines (worker restarts, lost connections) are silenced while a
client is open: the batch reports what happened to each file in its manifest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

#: Seconds to wait for a scheduler to answer and for its first worker.
CONNECT_TIMEOUT = 30.0


def default_workers() -> int:
    """Worker processes of the local engine: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def quiet_dask_logs() -> Iterator[None]:
    """Raise Dask's loggers (and their handlers) to CRITICAL for the block."""
    names = [n for n in list(logging.root.manager.loggerDict)
             if n in ("distributed", "tornado") or n.startswith(("distributed.", "tornado."))]
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", *names)]
    saved = [(lg, lg.level) for lg in loggers]
    handlers = [(h, h.level) for lg in loggers for h in lg.handlers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    for h, _ in handlers:
        h.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in saved:
            lg.setLevel(level)
        for h, level in handlers:
            h.setLevel(level)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while worker processes are spawned: they inherit the disposition
    (Python leaves an ignored SIGINT alone at start-up), so a terminal's Ctrl+C goes
    to the batch, which shuts them down itself."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def _local_worker_environment() -> Iterator[None]:
    """Start local workers without glibc's aggressive trimming; keep this process's
    environment as it was.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` for its workers, which makes
    glibc hand every freed image buffer back to the system and fault it in again for
    the next photo: measured here, 8,300 page faults and 165 ms of CPU per 1.5 MP
    photo instead of 850 and 150 ms. A worker holds one image at a time, so what
    glibc keeps is bounded by one photo's working set. The nanny also writes its
    variables (``OMP_NUM_THREADS=1``...) into the environment of the process that
    starts it, which here is the editor or the command: they are put back.
    """
    import dask

    saved = dict(os.environ)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_":
                              None}):
            yield
    finally:
        _restore_environ(saved)


def _restore_environ(saved: dict[str, str]) -> None:
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _worker_version() -> str:
    """Runs on each worker: the Convolve version it imports."""
    import editor

    return editor.__version__


class ClusterError(RuntimeError):
    """The cluster cannot be started or reached, or cannot run Convolve (one sentence)."""


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                timeout: float | None = None) -> Iterator[Any]:
    """A connected :class:`distributed.Client`, closed (with its local cluster) after the block.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); None starts a
        local cluster.
    workers : int, optional
        Worker processes of the local cluster (default: one per core). Ignored
        with ``scheduler``.
    timeout : float, optional
        Seconds to wait for the scheduler and for a worker (default
        :data:`CONNECT_TIMEOUT`).

    Raises
    ------
    ClusterError
        No answer from the scheduler, no worker, or workers without Convolve.
    """
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    with quiet_dask_logs():
        try:
            from distributed import Client, LocalCluster
        except ImportError as e:
            raise ClusterError("batch processing needs Dask (pip install "
                               "'dask[distributed]')") from e
        cluster = None
        client = None
        environ = dict(os.environ)  # a worker restarted by its nanny writes into it again
        try:
            if scheduler is None:
                n = int(workers or default_workers())
                with _sigint_ignored(), _local_worker_environment():
                    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", scheduler_port=0,
                                           dashboard_address=None,
                                           silence_logs=logging.CRITICAL)
                client = Client(cluster, set_as_default=False)
            else:
                address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
                try:
                    client = Client(address, timeout=timeout, set_as_default=False)
                except (OSError, TimeoutError) as e:
                    raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} "
                                       f"({_reason(e)})") from None
                try:
                    client.wait_for_workers(1, timeout=timeout)
                except (OSError, TimeoutError):
                    raise ClusterError(f"the Dask cluster at {scheduler} has no workers "
                                       "(start some with `dask worker "
                                       f"{address}`)") from None
                _check_workers(client, scheduler)
            yield client
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()
                _restore_environ(environ)


def _check_workers(client, scheduler: str) -> None:
    import editor

    try:
        versions = client.run(_worker_version)
    except Exception as e:  # noqa: BLE001  (an unpickling error when Convolve is missing)
        raise ClusterError(f"the workers of {scheduler} cannot run Convolve (install convolve "
                           f"{editor.__version__} on every worker: {_reason(e)})") from None
    odd = sorted({v for v in versions.values() if v != editor.__version__})
    if odd:
        raise ClusterError(f"the workers of {scheduler} run Convolve {odd[0]}, this is "
                           f"{editor.__version__}; install the same version everywhere")


def worker_count(client) -> int:
    """Workers connected to the client's scheduler now."""
    try:
        return len(client.scheduler_info()["workers"])
    except Exception:  # noqa: BLE001  (connection trouble: the caller retries later)
        return 0


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:160] if text else type(e).__name__
