"""Limits hold everywhere: one loader (pixel limit, EXIF orientation) for every image the
program reads, 16-bit PNM and float TIFF opened as such, integrity checks, orphan part files.

Expected values come from NumPy, Pillow or OpenCV used directly, never from editor.io.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.core.atomic import atomic_write
from editor.core.context import OpError
from editor.io import LoadError, load_image, read_info

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photo(astronaut) -> np.ndarray:
    return np.ascontiguousarray(astronaut[40:136, 150:278])  # 96 x 128, face and suit


@pytest.fixture(scope="module")
def photo16(photo) -> np.ndarray:
    import cv2

    low = cv2.GaussianBlur(photo, (0, 0), 2).astype(np.uint16)
    return photo.astype(np.uint16) * 256 + low


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


@pytest.fixture(scope="module")
def bomb400(tmp_path_factory) -> Path:
    """A real 20000 x 20000 gray PNG of zeros: 389 KB on disk, 400 MP decoded."""
    w = h = 20_000
    z = zlib.compressobj(9)
    row = b"\x00" * (w + 1)
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    path = tmp_path_factory.mktemp("bomb") / "bomb400.png"
    path.write_bytes(data)
    return path


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


# -- Pillow's own guard stays on ---------------------------------------------------

def test_pillow_guard_is_not_switched_off_for_the_process(tmp_path, photo, monkeypatch):
    import PIL.Image

    assert PIL.Image.MAX_IMAGE_PIXELS is not None  # importing editor.io must not disable it
    # Pretend Pillow's default were below this photo's size: our loader still opens it
    # (our limit rules), only for its own call, and leaves Pillow's guard as it was.
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)
    path = tmp_path / "p.png"
    Image.fromarray(photo).save(path)
    np.testing.assert_array_equal(load_image(path).pixels, photo)
    assert PIL.Image.MAX_IMAGE_PIXELS == 1000
    with pytest.raises(PIL.Image.DecompressionBombError):  # outside the loader: Pillow's rule
        with Image.open(path) as im:
            im.load()


def test_real_bomb_refused_by_header_with_our_message(bomb400):
    with pytest.raises(LoadError) as e:
        load_image(bomb400)
    assert str(e.value).startswith("bomb400.png: 20000 x 20000 is 400 MP, over the limit of 250")
    assert read_info(bomb400)["within_limit"] is False


# -- every reader goes through the loader ------------------------------------------

def test_match_histogram_reference_obeys_the_pixel_limit(bomb400, photo):
    """Before: cv2.imdecode accepted the 389 KB, 400 MP reference and used 895 MB."""
    from editor.ops import get_op, run_op

    with pytest.raises(OpError) as e:
        run_op(get_op("match_histogram"), photo, {"reference": str(bomb400)})
    text = str(e.value)
    assert "over the limit of 250 MP" in text and "\n" not in text


def test_match_histogram_reference_limit_is_configurable(tmp_path, photo, monkeypatch):
    from editor.ops import get_op, run_op

    ref = tmp_path / "ref.png"
    Image.fromarray(np.tile(photo, (2, 2, 1))).save(ref)  # 192 x 256 = 49152 px
    monkeypatch.setenv("CONVOLVE_MAX_PIXELS", "40000")
    with pytest.raises(OpError, match="over the limit of 0.04 MP"):
        run_op(get_op("match_histogram"), photo, {"reference": str(ref)})


def test_style_image_obeys_limit_and_orientation(tmp_path, photo, monkeypatch):
    from editor.ops.ai._util import read_image

    path = tmp_path / "style.jpg"
    Image.fromarray(photo).save(path, quality=95, exif=_exif(6))
    assert read_image(str(path)).shape == (128, 96, 3)  # stored 96 x 128, shown turned
    monkeypatch.setenv("CONVOLVE_MAX_PIXELS", "1000")
    with pytest.raises(OpError, match="over the limit") as e:
        read_image(str(path))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("max_side", [None, 64])  # full decode, and the reduced JPEG decode
def test_classifier_images_are_turned_upright(tmp_path, photo, max_side):
    """Before: teach read_rgb ignored EXIF orientation (phone photos trained sideways)."""
    from editor.teach.images import read_rgb

    path = tmp_path / "phone.jpg"
    Image.fromarray(photo).save(path, quality=95, exif=_exif(6))
    rgb = read_rgb(path, max_side=max_side)
    with Image.open(path) as im:  # orientation 6: turn 90 degrees clockwise to view
        upright = np.asarray(im.transpose(Image.Transpose.ROTATE_270))
    if max_side:
        import cv2

        upright = cv2.resize(upright, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
    assert rgb.shape[0] > rgb.shape[1]  # portrait, as the phone showed it
    assert np.abs(rgb.astype(int) - upright.astype(int)).mean() < 6


def test_classifier_images_obey_the_pixel_limit(tmp_path, photo, monkeypatch):
    from editor.teach.images import UnreadableImage, read_rgb

    path = tmp_path / "big.jpg"
    Image.fromarray(photo).save(path)
    monkeypatch.setenv("CONVOLVE_MAX_PIXELS", "1000")
    for max_side in (None, 32):  # the reduced decode must not skip the limit
        with pytest.raises(UnreadableImage, match="over the limit of 0.001 MP"):
            read_rgb(path, max_side=max_side)


def test_reduced_jpeg_decode_is_smaller_and_upright(tmp_path, astronaut):
    path = tmp_path / "a.jpg"
    Image.fromarray(astronaut).save(path, quality=92, exif=_exif(8))
    small = load_image(path, reduce_to=100)
    assert small.pixels.shape == (128, 128, 3)  # 512 / 4: the largest DCT scale >= 100 px
    full = load_image(path)
    np.testing.assert_array_equal(full.pixels, np.rot90(np.asarray(Image.open(path)), k=1))
    assert "EXIF orientation 8 applied" in small.info["notes"]


# -- 16-bit PPM/PGM ----------------------------------------------------------------

def _pnm(magic: bytes, arr: np.ndarray, maxval: int) -> bytes:
    h, w = arr.shape[:2]
    return magic + f"\n# written by a test\n{w} {h}\n{maxval}\n".encode() + \
        arr.astype(">u2").tobytes()


def test_16bit_ppm_and_pgm_open_at_16_bit(tmp_path, photo16):
    """Before: rgb16.ppm opened as 8-bit (Pillow scales it down) and info said 8 bits."""
    import cv2

    (tmp_path / "rgb16.ppm").write_bytes(_pnm(b"P6", photo16, 65535))
    (tmp_path / "gray16.pgm").write_bytes(_pnm(b"P5", photo16[..., 1], 65535))
    rgb = load_image(tmp_path / "rgb16.ppm")
    assert rgb.pixels.dtype == np.uint16
    np.testing.assert_array_equal(rgb.pixels, photo16)
    # OpenCV reads 16-bit PPM as it is stored: an independent reader agrees
    ref = cv2.imread(str(tmp_path / "rgb16.ppm"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(rgb.pixels, ref)
    gray = load_image(tmp_path / "gray16.pgm")
    np.testing.assert_array_equal(gray.pixels, photo16[..., 1])
    for name in ("rgb16.ppm", "gray16.pgm"):
        assert read_info(tmp_path / name)["bit_depth"] == 16
        assert read_info(tmp_path / name)["opens_as"] == "uint16"


def test_12bit_ppm_scaled_to_full_16_bit_range(tmp_path, photo16):
    twelve = photo16 >> 4  # maxval 4095, as many scientific cameras write
    (tmp_path / "c12.ppm").write_bytes(_pnm(b"P6", twelve, 4095))
    loaded = load_image(tmp_path / "c12.ppm")
    expected = np.floor(twelve.astype(np.float64) * 65535 / 4095 + 0.5).astype(np.uint16)
    np.testing.assert_array_equal(loaded.pixels, expected)
    assert any("up to 4095" in n for n in loaded.info["notes"])
    plain = b"P3\n2 1\n4095\n0 2048 4095 # comment\n 1 2 3\n"
    (tmp_path / "plain.ppm").write_bytes(plain)
    np.testing.assert_array_equal(
        load_image(tmp_path / "plain.ppm").pixels,
        np.floor(np.array([[[0, 2048, 4095], [1, 2, 3]]]) * 65535 / 4095 + 0.5))


def test_truncated_16bit_ppm(tmp_path, photo16):
    data = _pnm(b"P6", photo16, 65535)
    (tmp_path / "cut.ppm").write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError, match="^cut.ppm: the file is truncated$"):
        load_image(tmp_path / "cut.ppm")


def test_apply_on_16bit_ppm_keeps_16_bit(tmp_path, photo16):
    from editor.cli import main

    (tmp_path / "rgb16.ppm").write_bytes(_pnm(b"P6", photo16, 65535))
    assert main(["apply", str(tmp_path / "rgb16.ppm"), "-o", str(tmp_path / "out.png"),
                 "--op", "flip"]) == 0
    import cv2

    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[..., ::-1], photo16[:, ::-1])  # mirrored, all 16 bits


# -- float TIFFs -------------------------------------------------------------------

tifffile = pytest.importorskip("tifffile")


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("channels", [1, 3])
def test_float_tiff_opens_as_16_bit_with_stated_range(tmp_path, photo, dtype, channels):
    """Before: RGB float and half-float TIFFs were "not an image file Convolve can read"."""
    hdr = photo.astype(np.float64) / 255.0 * 4.0 + 0.25  # radiance-like values in [0.25, 4.25]
    data = (hdr if channels == 3 else hdr[..., 1]).astype(dtype)
    path = tmp_path / "hdr.tif"
    tifffile.imwrite(path, data, photometric="rgb" if channels == 3 else "minisblack")
    loaded = load_image(path)
    lo, hi = float(data.min()), float(data.max())
    expected = np.floor((data.astype(np.float64) - lo) * (65535.0 / (hi - lo)) + 0.5)
    assert loaded.pixels.dtype == np.uint16
    assert np.abs(loaded.pixels.astype(np.float64) - expected).max() <= 1
    bits = 32 if dtype == np.float32 else 16
    assert loaded.info["notes"] == [f"{bits}-bit float samples scaled from [{lo:g}, {hi:g}] "
                                    "to 16 bit"]
    info = read_info(path)
    assert info["sample_format"] == "float" and info["bit_depth"] == bits
    assert info["channels"] == channels and "converted to 16 bit" in info["conversion"]


def test_unit_range_float_tiff_keeps_its_scale(tmp_path, photo):
    data = (photo / 255.0).astype(np.float32)
    alpha = np.linspace(0, 1, photo.shape[1], dtype=np.float32)[None].repeat(photo.shape[0], 0)
    tifffile.imwrite(tmp_path / "u.tif", np.dstack([data, alpha]), photometric="rgb",
                     extrasamples=["unassalpha"], planarconfig="contig")
    loaded = load_image(tmp_path / "u.tif")
    assert loaded.pixels.shape == (96, 128, 4)
    np.testing.assert_array_equal(loaded.pixels[..., :3],
                                  np.floor(data.astype(np.float64) * 65535 + 0.5))
    np.testing.assert_array_equal(loaded.pixels[..., 3],
                                  np.floor(alpha.astype(np.float64) * 65535 + 0.5))
    assert loaded.info["notes"] == ["32-bit float samples in [0, 1] converted to 16 bit"]


def test_float_tiff_obeys_the_pixel_limit(tmp_path, photo):
    tifffile.imwrite(tmp_path / "f.tif", photo.astype(np.float16), photometric="rgb")
    with pytest.raises(LoadError, match="over the limit"):
        load_image(tmp_path / "f.tif", max_pixels=1000)


# -- integrity -----------------------------------------------------------------------

@pytest.fixture
def damaged(tmp_path, astronaut) -> dict[str, Path]:
    png = tmp_path / "ok.png"
    jpg = tmp_path / "ok.jpg"
    Image.fromarray(astronaut).save(png)
    Image.fromarray(astronaut).save(jpg, quality=90)
    data = png.read_bytes()
    files = {"ok.png": png, "ok.jpg": jpg}
    files["cut.png"] = tmp_path / "cut.png"
    files["cut.png"].write_bytes(data[: len(data) * 2 // 3])
    files["noend.png"] = tmp_path / "noend.png"
    files["noend.png"].write_bytes(data[:-12])  # every IDAT there, IEND lost
    flipped = bytearray(data)
    flipped[data.index(b"IDAT") + 5000] ^= 0x10
    files["crc.png"] = tmp_path / "crc.png"
    files["crc.png"].write_bytes(bytes(flipped))
    jdata = jpg.read_bytes()
    files["cut.jpg"] = tmp_path / "cut.jpg"
    files["cut.jpg"].write_bytes(jdata[: len(jdata) * 2 // 3])
    return files


def test_verify_names_the_damage(damaged):
    from editor.io.load import verify_image

    assert verify_image(damaged["ok.png"]).pixels.shape == (512, 512, 3)
    assert verify_image(damaged["ok.jpg"]).pixels.shape == (512, 512, 3)
    expected = {"cut.png": "truncated", "noend.png": "truncated (no IEND chunk",
                "crc.png": "damaged (CRC error in its IDAT chunk)", "cut.jpg": "truncated"}
    for name, reason in expected.items():
        with pytest.raises(LoadError) as e:
            verify_image(damaged[name])
        assert str(e.value).startswith(f"{name}: ") and reason in str(e.value), str(e.value)
    # a missing IEND is no obstacle to the decoder: only the verification sees it
    load_image(damaged["noend.png"])


# -- orphan part files -------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import sys, time
    from editor.core.atomic import atomic_write
    with atomic_write(sys.argv[1]) as f:
        f.write(b"x" * 4_000_000)
        f.flush()
        print("writing", flush=True)
        time.sleep(60)
""")


def _start_writer(target: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(".convolve-*.part"))


def test_killed_writer_leaves_a_part_that_is_cleaned(tmp_path):
    from editor.core.atomic import clean_orphan_parts

    proc = _start_writer(tmp_path / "export.png")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    orphans = _parts(tmp_path)
    assert len(orphans) == 1 and orphans[0].stat().st_size == 4_000_000
    assert clean_orphan_parts(tmp_path) == orphans
    assert _parts(tmp_path) == []


def test_part_of_a_live_writer_is_kept(tmp_path):
    from editor.core.atomic import clean_orphan_parts

    proc = _start_writer(tmp_path / "export.png")
    try:
        live = _parts(tmp_path)
        assert len(live) == 1
        assert clean_orphan_parts(tmp_path) == []
        # an export into the same folder cleans first, and still keeps the live one
        with atomic_write(tmp_path / "other.png") as f:
            f.write(b"done")
        assert _parts(tmp_path) == live
    finally:
        proc.kill()
        proc.wait(10)
    assert clean_orphan_parts(tmp_path) == live


def test_export_into_a_folder_removes_its_orphans(tmp_path, photo):
    from editor.io import save_image

    proc = _start_writer(tmp_path / "export.png")
    proc.kill()
    proc.wait(10)
    assert len(_parts(tmp_path)) == 1
    save_image(tmp_path / "photo.png", photo)
    assert _parts(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]
