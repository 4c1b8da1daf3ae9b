"""Helpers for the batch tests and benchmark: a set of real photos, a recipe, Dask servers.

The photos are crops and resizes of the shared photographs (scikit-image's
copies without ../shared), saved as JPEG and PNG, so every file differs and
both codecs are exercised. The Dask servers are real ``dask scheduler`` and
``dask worker`` processes on 127.0.0.1, each in its own process group so a
test can kill one worker (nanny and worker process together) and the fixture
can stop everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: A photographer's recipe: downsize, tone curve, a little saturation, sharpening.
RECIPE_STEPS = [
    {"op": "resize", "params": {"scale": 0.75, "interpolation": "area"}},
    {"op": "curves", "params": {"points": [[0, 0], [64, 52], [192, 205], [255, 255]]}},
    {"op": "saturation", "params": {"amount": 0.15}},
    {"op": "unsharp_mask", "params": {"radius": 1.2, "amount": 0.6}},
]
#: Slower per file (a wide bilateral filter, ~50 ms a photo here), for runs that must
#: still be going when they are interrupted.
SLOW = [*RECIPE_STEPS, {"op": "bilateral", "params": {"sigma_space": 14}}]


def write_recipe(path: Path, steps=RECIPE_STEPS) -> Path:
    path.write_text(json.dumps({"format": 1, "steps": steps}, indent=1), encoding="utf-8")
    return path


def make_photo_set(folder: Path, n: int, long_side: tuple[int, int] = (160, 320),
                   start: int = 0) -> list[Path]:
    """``n`` distinct real photos in ``folder``: crops of the shared photos resized so
    the longer side is in ``long_side``, alternately JPEG (quality 92) and PNG."""
    import cv2
    from conftest import PHOTO_NAMES, load_photo
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    sources = [load_photo(name) for name in PHOTO_NAMES]
    files = []
    for i in range(start, start + n):
        rng = np.random.default_rng(1000 + i)
        src = sources[i % len(sources)]
        h, w = src.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = src[y:y + ch, x:x + cw]
        side = int(rng.integers(long_side[0], long_side[1] + 1))
        scale = side / max(ch, cw)
        size = (max(8, round(cw * scale)), max(8, round(ch * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        img = np.ascontiguousarray(cv2.resize(crop, size, interpolation=interp))
        ext = "jpg" if i % 2 == 0 else "png"
        path = folder / f"photo_{i:04d}.{ext}"
        if ext == "jpg":
            Image.fromarray(img).save(path, quality=92)
        else:
            Image.fromarray(img).save(path)
        files.append(path)
    return files


def corrupt_file(path: Path, source: Path) -> Path:
    """A JPEG cut off after its first 600 bytes (a truncated download)."""
    path.write_bytes(source.read_bytes()[:600])
    return path


def make_batch_set(root: Path):
    """50 photos in two folders (``in/a``, ``in/b/c``), a truncated JPEG in ``in/b`` and the
    recipe: ``(root, in folder, photos, broken file, recipe file)``."""
    inp = root / "in"
    files = make_photo_set(inp / "a", 30) + make_photo_set(inp / "b" / "c", 20, start=30)
    broken = corrupt_file(inp / "b" / "broken.jpg", files[0])
    recipe = write_recipe(root / "look.recipe.json")
    return root, inp, files, broken, recipe


def apply_reference(files, recipe: Path, ref_dir: Path, inp: Path) -> dict[str, Path]:
    """`convolve apply IN -o OUT --recipe R` for every file: relative path -> output."""
    import editor.cli as cli

    refs = {}
    for f in files:
        rel = f.relative_to(inp)
        out = ref_dir / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        assert cli.main(["apply", str(f), "-o", str(out), "--recipe", str(recipe)]) == 0
        refs[rel.as_posix()] = out
    return refs


def assert_outputs_match(out_dir: Path, refs: dict[str, Path]) -> None:
    """Each batch output is the reference file, byte for byte."""
    for rel, ref in refs.items():
        assert (out_dir / rel).read_bytes() == ref.read_bytes(), rel


def part_files(folder: Path) -> list[Path]:
    """Temporary ``.convolve-*.part`` files anywhere under ``folder``."""
    return sorted(folder.rglob(".convolve-*.part"))


def env_for_children() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    env.pop("CONVOLVE_TORCH_THREADS", None)
    return env


class DaskServers:
    """A ``dask scheduler`` and ``n`` single-threaded ``dask worker`` processes on 127.0.0.1.

    Each process is the leader of its own process group; :meth:`kill_worker`
    kills one worker's group (nanny and worker), :meth:`stop` kills them all.
    """

    def __init__(self, folder: Path, n_workers: int = 2) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = folder / "scheduler.json"
        self.scheduler_file.unlink(missing_ok=True)  # a stale address is not this scheduler's
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.logs = []
        env = env_for_children()
        try:
            self.scheduler = self._spawn(
                ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", str(self.scheduler_file)], "scheduler", env)
            deadline = time.monotonic() + 60
            while not self._address():
                if self.scheduler.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("dask scheduler did not start:\n" + self.log("scheduler"))
                time.sleep(0.05)
            self.address = self._address()
            for k in range(n_workers):
                self.workers.append(self._spawn(
                    ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                     "--nworkers", "1", "--no-dashboard", "--name", f"w{k}",
                     "--local-directory", str(folder / f"w{k}")], f"w{k}", env))
            self.wait_for_workers(n_workers)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, args: list[str], name: str, env) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115  (closed in stop)
        self.logs.append(log)
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=self.folder,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / f"{name}.log").read_text(errors="replace")[-4000:]
        return ""

    def _address(self) -> str | None:
        try:
            return json.loads(self.scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            return None

    def wait_for_workers(self, n: int, timeout: float = 90) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(n, timeout=timeout)

    def kill_worker(self, k: int) -> None:
        """SIGKILL worker ``k`` and its nanny (its whole process group)."""
        proc = self.workers[k]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        for log in self.logs:
            log.close()
        self.procs.clear()


@contextlib.contextmanager
def dask_servers(folder: Path, n_workers: int = 2) -> Iterator[DaskServers]:
    servers = DaskServers(folder, n_workers)
    try:
        yield servers
    finally:
        servers.stop()


def batch_command(*args: str) -> list[str]:
    """``convolve batch ...`` as a subprocess command line (the real console entry)."""
    return [sys.executable, "-c", "import sys; from editor.cli import main; "
            "sys.exit(main(sys.argv[1:]))", "batch", *map(str, args)]


def run_until(cmd: list[str], out_dir: Path, outputs: int, sig: int = signal.SIGINT,
              timeout: float = 120, on_ready=None) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own process group; once ``outputs`` result files exist under
    ``out_dir``, send ``sig`` to the whole group (as a terminal's Ctrl+C does), or call
    ``on_ready()`` instead. Returns the finished process with its output."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env_for_children(), cwd=out_dir.parent, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            done = [p for p in out_dir.rglob("photo_*") if not p.name.startswith(".")]
            if len(done) >= outputs:
                if on_ready is not None:
                    on_ready()
                else:
                    os.killpg(proc.pid, sig)
                break
            time.sleep(0.02)
        out, err = proc.communicate(timeout=timeout)
    finally:
        # the group also holds the local cluster's workers: none may outlive the test
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode(), err.decode())
