"""`convolve batch --scheduler` on a real Dask cluster: a `dask scheduler` and two
`dask worker` processes started here on 127.0.0.1 (free ports) and stopped here.

Each output must be the file `convolve apply` writes, byte for byte; a corrupt
file is recorded and the rest done; killing a worker (nanny and process) mid-run
still completes the batch with every output valid; --resume after an
interrupted run does only what is left.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from batch_support import (
    SLOW,
    apply_reference,
    assert_outputs_match,
    batch_command,
    dask_servers,
    env_for_children,
    make_batch_set,
    part_files,
    run_until,
    write_recipe,
)

import editor.cli as cli
from editor.batch.manifest import read_rows
from editor.io import verify_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    return make_batch_set(tmp_path_factory.mktemp("batch"))


@pytest.fixture(scope="module")
def reference(photo_set):
    root, inp, files, _, recipe = photo_set
    return apply_reference(files, recipe, root / "ref", inp)


@pytest.fixture(scope="module")
def slow_reference(photo_set):
    root, inp, files, _, _ = photo_set
    recipe = write_recipe(root / "slow.json", SLOW)
    return recipe, apply_reference(files, recipe, root / "ref-slow", inp)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two single-threaded workers, killed (process groups) at the end."""
    with dask_servers(tmp_path_factory.mktemp("dask"), n_workers=2) as servers:
        yield servers


def test_cluster_batch_matches_apply_and_records_the_corrupt_file(photo_set, reference,
                                                                  cluster, capsys):
    root, inp, files, broken, recipe = photo_set
    out = root / "out-cluster"
    code = cli.main(["batch", str(recipe), str(inp), "-o", str(out),
                     "--scheduler", cluster.address])
    stdout, stderr = capsys.readouterr()
    assert code == 1, stderr
    assert stdout.startswith("batch: 50 done, 1 failed in ")
    assert stderr.strip().startswith(f"convolve: warning: {broken}: ")
    assert_outputs_match(out, reference)
    rows = read_rows(out / "convolve-batch")
    assert [r.status for r in rows].count("done") == 50
    assert [r.input for r in rows if r.status == "failed"] == [str(broken)]
    assert part_files(out) == []


def test_killing_a_worker_mid_run_still_completes_the_batch(photo_set, slow_reference,
                                                            tmp_path):
    root, inp, files, broken, _ = photo_set
    recipe, refs = slow_reference
    out = tmp_path / "out"
    # its own cluster: the shared one keeps both workers for the other tests
    with dask_servers(tmp_path / "dask", n_workers=2) as servers:
        cmd = batch_command(recipe, inp, "-o", out, "--scheduler", servers.address)
        result = run_until(cmd, out, outputs=4, on_ready=lambda: servers.kill_worker(0))
        assert servers.workers[0].poll() is not None  # it is dead
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("batch: 50 done, 1 failed"), result.stdout
    assert part_files(out) == []  # the dead worker's write, if any, was cleaned up
    assert_outputs_match(out, refs)
    for p in out.rglob("photo_*"):
        verify_image(p)


def test_resume_after_an_interrupted_cluster_run_does_only_what_is_left(photo_set,
                                                                        slow_reference,
                                                                        cluster, tmp_path):
    root, inp, files, broken, _ = photo_set
    recipe, refs = slow_reference
    out = tmp_path / "out"
    cmd = batch_command(recipe, inp / "a", inp / "b" / "c", "-o", out,
                        "--scheduler", cluster.address)
    first = run_until(cmd, out, outputs=4)
    assert first.returncode == 130, first.stderr
    assert "Traceback" not in first.stderr
    rows = read_rows(out / "convolve-batch")
    done = {r.output for r in rows if r.status == "done"}
    assert done and len(done) < 50
    stamps = {o: os.stat(o).st_mtime_ns for o in done}
    second = subprocess.run([*cmd, "--resume"], capture_output=True, text=True,
                            env=env_for_children(), timeout=180)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"batch: {50 - len(done)} done, {len(done)} already done")
    assert {o: os.stat(o).st_mtime_ns for o in done} == stamps
    assert [r.status for r in read_rows(out / "convolve-batch")] == ["done"] * 50
    assert part_files(out) == []
    for rel, ref in refs.items():
        rel = rel.removeprefix("a/").removeprefix("b/c/")
        assert (out / rel).read_bytes() == ref.read_bytes(), rel
