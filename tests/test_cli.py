"""The `convolve` command: exit codes, one-line errors, no partial output, replay."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
from PIL import Image

import editor.cli as cli
from editor.core.recipe import Recipe
from editor.io import load_image
from editor.ops import Range, all_ops, get_op, register_op, run_op
from editor.ops.registry import unregister_op

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory, coffee) -> Path:
    path = tmp_path_factory.mktemp("cli") / "coffee.png"
    Image.fromarray(np.ascontiguousarray(coffee[100:196, 200:328])).save(path)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convolve: error: "), err
    assert "Traceback" not in err


def test_ops_lists_every_operation(capsys):
    code, out, _ = run(capsys, "ops")
    assert code == 0
    for spec in all_ops():
        assert f"  {spec.name} " in out
        for p in spec.params:
            assert f"{p.name}=" in out
    code, out, _ = run(capsys, "ops", "--json")
    assert code == 0
    assert [d["name"] for d in json.loads(out)] == [s.name for s in all_ops()]


def test_apply_chain_matches_in_process_ops(capsys, photo_file, tmp_path):
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "apply", photo_file, "-o", out, "--op", "brightness",
                       "amount=0.2", "--op", "rotate", "angle=-30", "fill=#ff8000",
                       "expand=true", "--op", "flip")
    assert code == 0 and err == ""
    image = load_image(photo_file).pixels
    expected = run_op(get_op("brightness"), image, {"amount": 0.2})
    expected = run_op(get_op("rotate"), expected,
                      {"angle": -30.0, "fill": (255, 128, 0), "expand": True})
    expected = run_op(get_op("flip"), expected)
    np.testing.assert_array_equal(load_image(out).pixels, expected)


def test_recipe_replay_equals_in_process(capsys, photo_file, tmp_path):
    recipe = Recipe()
    recipe.append("curves", {"points": [(0, 20), (100, 140), (255, 235)]})
    recipe.append("saturation", {"amount": -0.4})
    recipe.append("rotate90", {"turns": 1})
    recipe.save(tmp_path / "r.json")
    out = tmp_path / "replayed.tif"
    code, _, _ = run(capsys, "apply", photo_file, "-o", out, "--recipe", tmp_path / "r.json",
                     "--save-recipe", tmp_path / "again.json")
    assert code == 0
    image = load_image(photo_file).pixels
    np.testing.assert_array_equal(load_image(out).pixels, recipe.apply(image))
    assert Recipe.load(tmp_path / "again.json").steps == Recipe.load(tmp_path / "r.json").steps


@pytest.mark.parametrize("args,words", [
    (["--op", "brightness", "amount=2"], "amount must be between -1 and 1"),
    (["--op", "no_such_op"], "unknown operation"),
    (["--op", "brightness", "amont=0.1"], "amont"),
    (["--op", "grayscale", "method=bogus"], "method must be one of"),
    (["--op", "brightness", "0.3"], "key=value"),
    (["--quality", "101"], "quality"),
    (["--format", "gif"], "cannot export"),
])
def test_usage_errors_exit_2_without_output(capsys, photo_file, tmp_path, args, words):
    out = tmp_path / "out.jpg"
    code, _, err = run(capsys, "apply", photo_file, "-o", out, *args)
    assert code == 2
    assert_one_error_line(err)
    assert words in err
    assert not out.exists()


def test_missing_output_and_unknown_command(capsys, photo_file):
    code, _, err = run(capsys, "apply", photo_file, "--op", "invert")
    assert code == 2 and "-o/--output" in err
    assert_one_error_line(err)
    code, _, err = run(capsys, "no-such-command-or-file")
    assert code == 2
    assert_one_error_line(err)


def test_processing_errors_exit_1_without_output(capsys, photo_file, tmp_path):
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(photo_file.read_bytes()[:2000])
    out = tmp_path / "out.png"
    cases = [
        ([tmp_path / "missing.png"], "missing.png: no such file"),
        ([truncated], "cut.png: the file is truncated"),
        ([photo_file, "--max-pixels", "1000"], "limit"),
        ([photo_file, "--recipe", tmp_path / "none.json"], "none.json"),
    ]
    for args, words in cases:
        code, _, err = run(capsys, "apply", *args, "-o", out, "--op", "invert")
        assert code == 1, (args, err)
        assert_one_error_line(err)
        assert words in err
        assert not out.exists()
    # an op that fails halfway: no output either, and an existing file is kept
    out.write_bytes(b"old")
    code, _, err = run(capsys, "apply", photo_file, "-o", out, "--op", "match_histogram",
                       f"reference={tmp_path / 'missing.png'}")
    assert code == 1
    assert_one_error_line(err)
    assert out.read_bytes() == b"old"


def test_interrupt_exits_130_without_output(capsys, photo_file, tmp_path, monkeypatch):
    def interrupted(self, image, ctx=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Recipe, "apply", interrupted)
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "apply", photo_file, "-o", out, "--op", "invert")
    assert code == 130 and not out.exists()
    assert_one_error_line(err)


def test_jpeg_from_alpha_warns(capsys, tmp_path, coffee):
    rgba = np.dstack([coffee[:64, :64], np.full((64, 64), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    code, _, err = run(capsys, "apply", tmp_path / "a.png", "-o", tmp_path / "a.jpg",
                       "--background", "black")
    assert code == 0
    assert err.strip() == ("convolve: warning: JPEG cannot hold alpha: "
                           "composited on black (0, 0, 0)")
    # half-transparent over black: about half the original brightness
    ratio = np.asarray(Image.open(tmp_path / "a.jpg"), float).mean() / coffee[:64, :64].mean()
    assert 0.45 < ratio < 0.55


def test_info(capsys, tmp_path, coffee):
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(coffee[:40, :80]).save(path, exif=exif.tobytes())
    code, out, _ = run(capsys, "info", path)
    assert code == 0
    fields = dict(line.split(None, 1) if " " in line else (line, "") for line in
                  (ln.replace("bit depth", "bit_depth").replace("ICC profile", "ICC")
                   for ln in out.splitlines()))
    assert fields["size"].startswith("40 x 80")  # displayed upright
    assert fields["format"] == "JPEG" and fields["bit_depth"].startswith("8")
    assert fields["orientation"].startswith("6") and fields["ICC"] == "no"
    code, out, _ = run(capsys, "info", path, "--json")
    info = json.loads(out)
    assert (info["mode"], info["orientation"], info["icc_profile"]) == ("RGB", 6, False)
    code, _, err = run(capsys, "info", tmp_path / "nothing.png")
    assert code == 1
    assert_one_error_line(err)


@pytest.fixture
def corner_op():
    """A tiny op that reports points, standing in for the corner detectors."""

    @register_op("test_fake_corners", title="Fake corners", category="Features")
    def fake(image, *, count: Annotated[int, Range(1, 10)] = 3, ctx=None):
        """Report the first ``count`` diagonal pixels as corners.

        Parameters
        ----------
        count : int
            How many.
        """
        ctx.extras["points"] = [[float(i), float(i), np.float32(0.5)] for i in range(count)]
        return image.copy()

    yield "test_fake_corners"
    unregister_op("test_fake_corners")


def test_points_written_as_json(capsys, photo_file, tmp_path, corner_op):
    code, _, err = run(capsys, "apply", photo_file, "-o", tmp_path / "o.png", "--op",
                       corner_op, "count=2", "--points", tmp_path / "corners.json")
    assert code == 0, err
    assert json.loads((tmp_path / "corners.json").read_text()) == [[0, 0, 0.5], [1, 1, 0.5]]
    # no op produced points: an error, and no image written
    code, _, err = run(capsys, "apply", photo_file, "-o", tmp_path / "p.png", "--op", "invert",
                       "--points", tmp_path / "none.json")
    assert code == 1 and "points" in err
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "none.json").exists()


def test_harris_detects_without_marking_and_burns_on_request(capsys, photo_file, tmp_path):
    """``--op harris --points`` keeps the photo's pixels and writes the corners;
    ``output=burn`` writes the marked image (the same corners), as the recipe replays."""
    photo = load_image(photo_file).pixels
    code, _, err = run(capsys, "apply", photo_file, "-o", tmp_path / "same.png", "--op",
                       "harris", "threshold=0.02", "--points", tmp_path / "corners.json",
                       "--save-recipe", tmp_path / "detect.json")
    assert code == 0, err
    np.testing.assert_array_equal(load_image(tmp_path / "same.png").pixels, photo)
    corners = json.loads((tmp_path / "corners.json").read_text())
    burnt = get_op("harris")(photo, threshold=0.02, output="burn")
    assert len(corners) >= 5  # a small crop of the coffee photo
    code, _, err = run(capsys, "apply", photo_file, "-o", tmp_path / "burnt.png", "--op",
                       "harris", "threshold=0.02", "output=burn", "--points",
                       tmp_path / "burnt.json")
    assert code == 0, err
    np.testing.assert_array_equal(load_image(tmp_path / "burnt.png").pixels, burnt)
    assert json.loads((tmp_path / "burnt.json").read_text()) == corners
    # the saved recipe replays the detection: the pixels stay the photo's
    code, _, err = run(capsys, "apply", photo_file, "-o", tmp_path / "replay.png", "--recipe",
                       tmp_path / "detect.json")
    assert code == 0, err
    np.testing.assert_array_equal(load_image(tmp_path / "replay.png").pixels, photo)


def test_gui_dispatch(capsys, photo_file, monkeypatch):
    calls = []
    fake = types.ModuleType("editor.ui.app")
    fake.run_app = lambda paths: calls.append(paths) or 0
    monkeypatch.setitem(sys.modules, "editor.ui.app", fake)
    assert cli.main([]) == 0
    assert cli.main([str(photo_file)]) == 0
    assert cli.main(["gui", str(photo_file)]) == 0
    assert calls == [[], [str(photo_file)], [str(photo_file)]]


def test_extra_command_modules(capsys, monkeypatch):
    fake = types.ModuleType("editor_test_plugin")

    def add_commands(sub):
        p = sub.add_parser("hello")
        p.set_defaults(func=lambda args: print("hi") or 0)

    fake.add_commands = add_commands
    monkeypatch.setitem(sys.modules, "editor_test_plugin", fake)
    monkeypatch.setattr(cli, "EXTRA_COMMAND_MODULES", ("editor_test_plugin", "editor.no_such"))
    code, out, _ = run(capsys, "hello")
    assert (code, out) == (0, "hi\n")


def test_docs_command_writes_page(capsys, tmp_path):
    from editor.docsgen import render_ops_markdown

    code, _, _ = run(capsys, "docs", "--output", tmp_path / "ops.md")
    assert code == 0
    assert (tmp_path / "ops.md").read_text() == render_ops_markdown()


def test_python_dash_m_subprocess(photo_file, tmp_path):
    """The real entry point, in a fresh interpreter: exit codes and stderr."""
    out = tmp_path / "o.webp"
    ok = subprocess.run([sys.executable, "-m", "editor", "apply", str(photo_file), "-o",
                         str(out), "--op", "invert", "--lossless"],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    inverted = 255 - load_image(photo_file).pixels
    np.testing.assert_array_equal(load_image(out).pixels, inverted)
    bad = subprocess.run([sys.executable, "-m", "editor", "apply", str(photo_file), "-o",
                          str(tmp_path / "b.png"), "--op", "contrast", "amount=9"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert_one_error_line(bad.stderr)
    assert not (tmp_path / "b.png").exists()


def test_progress_only_on_a_terminal():
    import io

    from editor.cli_common import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert Progress(io.StringIO()).callback is None
    assert Progress(Tty(), quiet=True).callback is None
    stream = Tty()
    progress = Progress(stream)
    for f in (0.0, 0.004, 0.5, 1.0):
        progress(f, "Gaussian blur")
    text = stream.getvalue()
    assert text.count("\r") == 3 and "Gaussian blur  50%" in text and "100%" in text
    assert "\n" not in text
    progress.clear()
    assert stream.getvalue().endswith("\r\033[K")



# -- integrity checks: info --verify and check --------------------------------------

@pytest.fixture
def damaged_files(tmp_path, astronaut) -> dict[str, Path]:
    png, jpg = tmp_path / "ok.png", tmp_path / "ok.jpg"
    Image.fromarray(astronaut).save(png)
    Image.fromarray(astronaut).save(jpg, quality=90)
    pdata, jdata = png.read_bytes(), jpg.read_bytes()
    files = {"ok.png": png, "ok.jpg": jpg}
    for name, data in [("cut.png", pdata[: len(pdata) // 2]),
                       ("cut.jpg", jdata[: len(jdata) // 2])]:
        files[name] = tmp_path / name
        files[name].write_bytes(data)
    flipped = bytearray(pdata)
    flipped[pdata.index(b"IDAT") + 5000] ^= 0x10  # one byte in a chunk: its CRC fails
    files["crc.png"] = tmp_path / "crc.png"
    files["crc.png"].write_bytes(bytes(flipped))
    return files


@pytest.mark.parametrize("name,reason", [("cut.png", "truncated"), ("cut.jpg", "truncated"),
                                         ("crc.png", "CRC error in its IDAT chunk")])
def test_info_verify_reports_damage_with_exit_1(capsys, damaged_files, name, reason):
    """Before: `convolve info` on a truncated file exited 0 with a normal description."""
    code, out, err = run(capsys, "info", damaged_files[name], "--verify")
    assert code == 1
    assert "integrity    damaged" in out and "size         512 x 512" in out
    assert_one_error_line(err)
    assert err.startswith(f"convolve: error: {name}: ") and reason in err
    code, out, _ = run(capsys, "info", damaged_files[name], "--verify", "--json")
    assert code == 1 and json.loads(out)["verified"] is False
    assert reason in json.loads(out)["damage"]


def test_info_verify_and_check_pass_intact_files(capsys, damaged_files):
    for name in ("ok.png", "ok.jpg"):
        code, out, err = run(capsys, "info", damaged_files[name], "--verify")
        assert code == 0 and err == "" and "integrity    ok (decoded completely)" in out
    code, out, err = run(capsys, "check", damaged_files["ok.png"], damaged_files["ok.jpg"])
    assert code == 0 and err == "" and out.count(": ok (") == 2


def test_check_lists_every_file_and_fails_if_one_is_damaged(capsys, damaged_files):
    names = ["ok.png", "cut.png", "crc.png", "ok.jpg", "cut.jpg"]
    code, out, err = run(capsys, "check", *(damaged_files[n] for n in names))
    assert code == 1
    lines = out.strip().splitlines()
    assert [("DAMAGED" in line) for line in lines] == [False, True, True, False, True]
    assert_one_error_line(err)
    assert "3 damaged, of 5 files" in err
    # over the pixel limit is not "damaged": it was not decoded at all
    code, out, err = run(capsys, "check", damaged_files["ok.png"], "--max-pixels", "1000")
    assert code == 1 and out.startswith(f"{damaged_files['ok.png']}: NOT CHECKED: 512 x 512")
    assert "1 not checked (over the pixel limit), of 1 file" in err


def test_info_states_the_float_conversion(capsys, tmp_path, astronaut):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "hdr.tif", astronaut.astype(np.float16) / 64,
                     photometric="rgb")
    code, out, _ = run(capsys, "info", tmp_path / "hdr.tif")
    assert code == 0 and "bit depth    16 bits per channel" in out
    assert "samples      floating point" in out and "opens as     uint16: 16-bit float" in out
    code, _, err = run(capsys, "apply", tmp_path / "hdr.tif", "-o", tmp_path / "o.png",
                       "--op", "invert")
    assert code == 0
    assert err == ("convolve: warning: hdr.tif: 16-bit float samples scaled from [0, 3.98438] "
                   "to 16 bit\n")


# -- one way to fail, everywhere -----------------------------------------------------

def test_ai_and_classifier_commands_fail_like_the_others(capsys, tmp_path):
    cases = [(["classify", tmp_path / "none.png"], 2, "none.png: no such file"),
             (["classify", tmp_path / "none.png", "--top", "0"], 2, "--top must be"),
             (["train", tmp_path / "nothing", "-o", tmp_path / "m"], 2, "is not a folder"),
             (["predict", tmp_path / "m.safetensors", tmp_path], 2, "no model file"),
             (["export-model", tmp_path / "m.safetensors"], 2, "give --onnx")]
    for argv, expected, words in cases:
        code, out, err = run(capsys, *argv)
        assert code == expected and out == "", argv
        assert_one_error_line(err)
        assert words in err, err


def _interrupt_after_progress(argv: list, tmp_path: Path) -> tuple[int, str]:
    """Run ``python -m editor ARGV`` with stderr on a terminal (so it draws progress),
    send Ctrl+C (SIGINT) once progress shows, and return the exit code and stderr."""
    import os
    import pty
    import select
    import signal

    master, slave = pty.openpty()
    # Ctrl+C as a user's terminal delivers it, however the suite was started: a shell
    # starts a background job (`... &`) with SIGINT ignored, which the child would
    # inherit, and Python installs no KeyboardInterrupt handler then
    proc = subprocess.Popen([sys.executable, "-m", "editor", *map(str, argv)], cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.close(slave)
    seen = b""
    try:
        while b"%" not in seen:  # the progress line's percentage
            ready, _, _ = select.select([master], [], [], 300)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal: it ended
                break
            if not chunk:
                break
            seen += chunk
        assert b"%" in seen, f"no progress before the end: {seen!r}"
        proc.send_signal(signal.SIGINT)
        code = proc.wait(300)
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, seen.decode("utf-8", "replace")


def test_ctrl_c_during_apply_exits_130(tmp_path, astronaut):
    big = tmp_path / "big.png"
    Image.fromarray(np.tile(astronaut, (2, 2, 1))).save(big)  # 1024 x 1024
    out = tmp_path / "out.png"
    code, err = _interrupt_after_progress(
        ["apply", big, "-o", out, "--op", "bilateral", "sigma_space=40"], tmp_path)
    assert code == 130
    assert err.rstrip().endswith("convolve: error: interrupted") and "Traceback" not in err
    assert not out.exists() and list(tmp_path.glob(".convolve-*")) == []


def test_ctrl_c_during_train_exits_130(tmp_path, astronaut, coffee):
    """Before: `convolve train` caught Ctrl+C itself and exited 1."""
    for name, photo in (("astronaut", astronaut), ("coffee", coffee)):
        folder = tmp_path / "data" / name
        folder.mkdir(parents=True)
        for i in range(12):
            y, x = 20 * i, 15 * i
            Image.fromarray(photo[y:y + 160, x:x + 160]).save(folder / f"{i}.png")
    model = tmp_path / "m.safetensors"
    code, err = _interrupt_after_progress(
        ["train", tmp_path / "data", "-o", model, "--backbone", "small_cnn",
         "--epochs", "1000"], tmp_path)
    assert code == 130
    assert err.rstrip().endswith("convolve: error: interrupted") and "Traceback" not in err
    assert not model.exists()


def test_ops_shows_declared_labels_and_log_sliders(capsys):
    code, out, _ = run(capsys, "ops")
    assert code == 0
    assert "max_size=512  (Working size)  int" in out
    assert "quality=0.01  float  0.001 … 1 (log slider)" in out
    code, out, _ = run(capsys, "ops", "--json")
    style = next(d for d in json.loads(out) if d["name"] == "style_transfer")
    weights = {p["name"]: p for p in style["params"]}
    assert weights["tv_weight"]["label"] == "TV weight"
    assert weights["style_weight"]["scale"] == "log"
