"""`convolve batch` on the default engine (a local Dask cluster of processes), on a real
Dask cluster (`--scheduler`), and the plan.

Real photos (crops and resizes of the shared photographs), a photographer's
recipe; every output must be the file `convolve apply` writes for the same
input and recipe, byte for byte. A truncated file is recorded and the rest
done; Ctrl+C keeps finished files and leaves no partial one; --resume does only
what is left; a worker killed mid-run does not lose a file. The cluster is a
`dask scheduler` and two `dask worker` processes started by the tests on
127.0.0.1 and killed by them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from batch_support import (
    SLOW,
    apply_reference,
    assert_outputs_match,
    batch_command,
    dask_servers,
    env_for_children,
    make_batch_set,
    make_photo_set,
    part_files,
    run_until,
    write_recipe,
)

import editor.cli as cli
from editor.batch import PlanError, make_plan
from editor.batch.manifest import read_rows, recipe_sha256
from editor.batch.plan import expand_inputs, output_name
from editor.core.recipe import Recipe
from editor.io import verify_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    """50 photos in two folders (one nested) and one truncated JPEG beside them."""
    return make_batch_set(tmp_path_factory.mktemp("batch"))


@pytest.fixture(scope="module")
def reference(photo_set):
    root, inp, files, _, recipe = photo_set
    return apply_reference(files, recipe, root / "ref", inp)


@pytest.fixture(scope="module")
def slow_reference(photo_set):
    """The slow recipe (for runs interrupted on purpose) and its `apply` outputs."""
    root, inp, files, _, _ = photo_set
    recipe = write_recipe(root / "slow.json", SLOW)
    return recipe, apply_reference(files, recipe, root / "ref-slow", inp)


def test_batch_matches_apply_bit_for_bit_and_records_the_corrupt_file(photo_set, reference,
                                                                       capsys):
    root, inp, files, broken, recipe = photo_set
    out = root / "out-local"
    environ = dict(os.environ)
    code = cli.main(["batch", str(recipe), str(inp), "-o", str(out), "--workers", "2"])
    stdout, stderr = capsys.readouterr()
    assert dict(os.environ) == environ  # Dask's nanny wrote OMP_NUM_THREADS=1... into it
    assert code == 1  # one file failed, the other 50 are done
    assert stdout.strip().startswith("batch: 50 done, 1 failed in ")
    assert len(stdout.strip().splitlines()) == 1
    assert stderr.strip() == f"convolve: warning: {broken}: the file is truncated" \
        or stderr.strip().startswith(f"convolve: warning: {broken}: ")
    assert "Traceback" not in stderr
    assert_outputs_match(out, reference)  # folders mirrored: a/..., b/c/...
    assert not (out / "b" / "broken.jpg").exists()
    assert part_files(out) == []

    rows = read_rows(out / "convolve-batch")
    digest = recipe_sha256(Recipe.load(recipe))
    assert len(rows) == 51 and {r.recipe_sha256 for r in rows} == {digest}
    by_input = {Path(r.input).name: r for r in rows}
    assert by_input["broken.jpg"].status == "failed"
    assert "truncated" in by_input["broken.jpg"].error or "cannot" in by_input["broken.jpg"].error
    assert all(r.status == "done" and r.seconds > 0 for n, r in by_input.items()
               if n != "broken.jpg")
    # the CSV says the same as the JSON
    csv_lines = (out / "convolve-batch.csv").read_text().splitlines()
    assert csv_lines[0] == "input,output,status,error,seconds,recipe_sha256,notes"
    assert len(csv_lines) == 52
    doc = json.loads((out / "convolve-batch.json").read_text())
    assert doc["counts"] == {"done": 50, "failed": 1} and doc["recipe_sha256"] == digest

    # existing outputs are refused (exit 2, nothing touched), or skipped when asked
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("photo_*")}
    code = cli.main(["batch", str(recipe), str(inp), "-o", str(out)])
    _, stderr = capsys.readouterr()
    assert code == 2
    assert stderr.startswith("convolve: error: ") and "--overwrite or --skip-existing" in stderr
    code = cli.main(["batch", str(recipe), str(inp), "-o", str(out), "--skip-existing",
                     "--workers", "1"])
    stdout, _ = capsys.readouterr()
    assert code == 1 and "0 done, 1 failed, 50 skipped (output exists)" in stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("photo_*")} == stamp


def test_naming_pattern_and_format(photo_set, capsys):
    root, inp, files, _, recipe = photo_set
    out = root / "out-named"
    code = cli.main(["batch", str(recipe), str(files[1]), str(files[2]), "-o", str(out),
                     "--name", "{n:03d}_{stem}_edit.{ext}", "--format", "webp",
                     "--quality", "80", "--workers", "1"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.glob("*.webp")) == \
        [f"001_{files[1].stem}_edit.webp", f"002_{files[2].stem}_edit.webp"]
    ref = root / "ref-named.webp"
    assert cli.main(["apply", str(files[2]), "-o", str(ref), "--recipe", str(recipe),
                     "--quality", "80"]) == 0
    assert (out / f"002_{files[2].stem}_edit.webp").read_bytes() == ref.read_bytes()


def test_a_photo_over_the_pixel_limit_is_refused_and_the_rest_done(photo_set, tmp_path,
                                                                   capsys):
    root, inp, files, _, recipe = photo_set
    big = make_photo_set(tmp_path / "big", 1, long_side=(900, 900))[0]  # 900 x 600 px
    out = tmp_path / "out"
    code = cli.main(["batch", str(recipe), str(big), str(files[4]), "-o", str(out),
                     "--max-pixels", "200000", "--workers", "1", "--name", "{stem}.{ext}"])
    stdout, stderr = capsys.readouterr()
    assert code == 1 and stdout.startswith("batch: 1 done, 1 failed")
    assert f"{big}: " in stderr and "limit" in stderr
    assert (out / files[4].name).exists() and not (out / big.name).exists()


def test_ctrl_c_keeps_finished_files_and_resume_does_only_what_is_left(photo_set, tmp_path,
                                                                       slow_reference):
    root, inp, files, broken, _ = photo_set
    recipe, refs = slow_reference
    out = tmp_path / "out"
    cmd = batch_command(recipe, inp / "a", inp / "b" / "c", "-o", out, "--workers", "2")
    first = run_until(cmd, out, outputs=4)  # Ctrl+C as a terminal sends it: to the group
    assert first.returncode == 130, first.stderr
    assert first.stderr.strip().splitlines()[-1] == "convolve: error: interrupted"
    assert "Traceback" not in first.stderr
    assert "run again with --resume to finish" in first.stdout
    assert part_files(out) == []
    rows = read_rows(out / "convolve-batch")
    done = {r.output for r in rows if r.status == "done"}
    pending = [r for r in rows if r.status == "pending"]
    assert len(rows) == 50 and done and pending
    # every file there is whole (a result may land after the last one recorded)
    written = sorted(out.glob("photo_*"))
    assert len(written) >= 4 and {str(p) for p in written} >= done
    for p in written:
        verify_image(p)
    stamps = {o: os.stat(o).st_mtime_ns for o in done}

    second = subprocess.run([*cmd, "--resume"], capture_output=True, text=True,
                            env=env_for_children(), timeout=180)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"batch: {50 - len(done)} done, {len(done)} already done")
    assert {o: os.stat(o).st_mtime_ns for o in done} == stamps  # not redone
    rows = read_rows(out / "convolve-batch")
    assert [r.status for r in rows] == ["done"] * 50
    for rel, ref in refs.items():
        rel = rel.removeprefix("a/").removeprefix("b/c/")  # the folders given are the roots
        assert (out / rel).read_bytes() == ref.read_bytes(), rel


def test_killing_a_local_worker_mid_run_loses_no_file(photo_set, tmp_path, slow_reference):
    root, inp, files, broken, _ = photo_set
    recipe, refs = slow_reference
    out = tmp_path / "out"
    killed = []

    def kill_one_worker():
        # the local cluster's worker processes are the batch's spawned children
        for parent in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(parent.info["cmdline"] or [])
            if "sys.exit(main(sys.argv[1:]))" in cmdline and str(out) in cmdline:
                workers = [c for c in parent.children(recursive=True)
                           if "spawn_main" in " ".join(c.cmdline())]
                if workers:
                    workers[0].send_signal(signal.SIGKILL)
                    killed.append(workers[0].pid)
                return

    cmd = batch_command(recipe, inp, "-o", out, "--workers", "2")
    result = run_until(cmd, out, outputs=4, on_ready=kill_one_worker)
    assert killed, "no worker process found to kill"
    assert result.returncode == 1, result.stderr  # only the truncated file failed
    assert result.stdout.startswith("batch: 50 done, 1 failed"), result.stdout
    assert part_files(out) == []
    assert_outputs_match(out, refs)


# -- the same on a real cluster: `dask scheduler` + two `dask worker` processes -------------
# Started here on 127.0.0.1 (free ports, each in its own process group) and killed here.

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


# -- the plan: inputs and names, decided before anything runs ---------------------------------

def test_inputs_folders_globs_and_lists(tmp_path):
    files = make_photo_set(tmp_path / "shoot", 4)
    (tmp_path / "shoot" / ".hidden.jpg").write_bytes(files[0].read_bytes())
    (tmp_path / "shoot" / ".cache").mkdir()
    (tmp_path / "shoot" / ".cache" / "x.png").write_bytes(files[1].read_bytes())
    (tmp_path / "shoot" / "notes.txt").write_text("not a photo")
    found = [s.path for s in expand_inputs([tmp_path / "shoot"])]
    assert found == sorted(files)
    jpgs = [s.path for s in expand_inputs([tmp_path / "shoot"], glob="*.JPG")]
    assert jpgs == [f for f in sorted(files) if f.suffix == ".jpg"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two photos\n\nshoot/{files[1].name}\n{files[2]}\n")
    assert [s.path for s in expand_inputs([listing, files[1]])] == \
        [tmp_path / "shoot" / files[1].name, files[2]]  # each file once
    with pytest.raises(PlanError, match="no such file or folder"):
        expand_inputs([tmp_path / "missing.jpg"])


def test_output_folder_inside_the_input_folder_is_not_read_again(tmp_path):
    files = make_photo_set(tmp_path / "shoot", 2)
    out = tmp_path / "shoot" / "edited"
    out.mkdir()
    (out / "photo_0000.jpg").write_bytes(files[0].read_bytes())  # an earlier result
    plan = make_plan([tmp_path / "shoot"], out)
    assert [Path(i.input) for i in plan.items] == files


def test_names_refused_before_anything_runs(tmp_path):
    files = make_photo_set(tmp_path / "in", 2)
    with pytest.raises(PlanError, match=r"uses \{size\}"):
        make_plan([tmp_path / "in"], tmp_path / "out", pattern="{stem}_{size}.{ext}")
    with pytest.raises(PlanError, match="must contain"):
        make_plan([tmp_path / "in"], tmp_path / "out", pattern="edit.{ext}")
    with pytest.raises(PlanError, match=r"both be written to .*add \{dir\} or \{n\}"):
        make_plan([tmp_path / "in"], tmp_path / "out", pattern="{parent}{stem:.0}x.png")
    with pytest.raises(PlanError, match="would replace an input"):
        make_plan([tmp_path / "in"], tmp_path / "in")
    with pytest.raises(PlanError, match="not a file inside the output folder"):
        make_plan([tmp_path / "in"], tmp_path / "out", pattern="../{stem}.{ext}")
    with pytest.raises(PlanError, match="cannot export .gif"):
        make_plan([files[0]], tmp_path / "out", pattern="{stem}.gif")
    assert output_name("{dir}/{stem}.{ext}", Path("x/IMG.JPEG"), 1, "2024/june") == \
        "2024/june/IMG.jpeg"


def test_batch_usage_errors_are_one_line(capsys, tmp_path):
    recipe = write_recipe(tmp_path / "r.json")
    for argv, text in (
        (["batch", recipe, tmp_path / "nope", "-o", tmp_path / "o"], "no such file or folder"),
        (["batch", tmp_path / "none.json", tmp_path, "-o", tmp_path / "o"], "no such file"),
        (["batch", recipe, tmp_path, "-o", tmp_path / "o", "--workers", "2",
          "--scheduler", "tcp://127.0.0.1:1"], "--workers sets the size"),
        (["batch", recipe, tmp_path, "-o", tmp_path / "o", "--overwrite", "--skip-existing"],
         "not allowed with"),
    ):
        code = cli.main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code in (1, 2) and text in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unreachable_scheduler_is_one_sentence(capsys, tmp_path):
    files = make_photo_set(tmp_path / "in", 1)
    recipe = write_recipe(tmp_path / "r.json")
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    import editor.batch.cluster as cluster

    old = cluster.CONNECT_TIMEOUT
    cluster.CONNECT_TIMEOUT = 1.0
    try:
        code = cli.main(["batch", str(recipe), str(files[0]), "-o", str(tmp_path / "o"),
                         "--scheduler", f"tcp://127.0.0.1:{port}"])
    finally:
        cluster.CONNECT_TIMEOUT = old
    err = capsys.readouterr().err
    assert code == 1 and time.monotonic() - t0 < 60
    assert err.startswith(f"convolve: error: cannot reach the Dask scheduler at tcp://127.0.0.1:"
                          f"{port}")
    assert len(err.strip().splitlines()) == 1


def test_dask_stays_out_of_the_import_of_batch_and_cli():
    code = ("import sys, editor.batch, editor.cli, editor.ui.batch_dialog; "
            "print('dask' in sys.modules, 'distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env_for_children(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
