"""editor.io: loading, saving, metadata, limits and atomic writes, on real photos.

Every expected value comes from an independent reader or writer (Pillow used
directly, or OpenCV for 16-bit colour), never from editor.io itself.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

import editor.io.save as save_module
from editor.core.atomic import TEMP_PREFIX
from editor.io import (
    EXPORT_FORMATS,
    LoadError,
    SaveError,
    format_for_path,
    load_image,
    read_info,
    save_image,
)


@pytest.fixture(scope="module")
def photo(astronaut) -> np.ndarray:
    """A 96x128 RGB crop with detail (face and suit) to keep encoders honest."""
    return np.ascontiguousarray(astronaut[40:136, 150:278])


@pytest.fixture(scope="module")
def rgba(photo) -> np.ndarray:
    # alpha from the photo's own green channel: real structure, full 0..255 spread
    alpha = cv2.GaussianBlur(photo[..., 1], (0, 0), 3)
    alpha[:10] = 0
    return np.dstack([photo, alpha])


@pytest.fixture(scope="module")
def photo16(photo) -> np.ndarray:
    """True 16-bit data: 8-bit photo spread to 16 bit plus low bits from a blur."""
    low = cv2.GaussianBlur(photo, (0, 0), 2).astype(np.uint16)
    return photo.astype(np.uint16) * 256 + low


@functools.lru_cache(maxsize=1)
def srgb_icc() -> bytes:
    """An sRGB profile, made once: it carries its creation time to the second, so two
    made a second apart differ (a test comparing them failed across a second)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Convolve Test Camera"  # Make
    exif[0x0110] = "Model X"
    exif[0x0112] = orientation
    return exif.tobytes()


def pil_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# -- opening ----------------------------------------------------------------

@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"),
                                     ("TIFF", "tif"), ("BMP", "bmp")])
def test_open_formats_written_by_pillow(tmp_path, photo, fmt, ext):
    path = tmp_path / f"photo.{ext}"
    Image.fromarray(photo).save(path, format=fmt)
    loaded = load_image(path)
    assert loaded.format == fmt
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == photo.shape
    # the decoded pixels are exactly what Pillow decodes (lossy formats included)
    np.testing.assert_array_equal(loaded.pixels, pil_rgb(path))
    if fmt in ("PNG", "TIFF", "BMP"):
        np.testing.assert_array_equal(loaded.pixels, photo)


def test_gif_first_frame(tmp_path, photo):
    frames = [Image.fromarray(photo).quantize(64), Image.fromarray(photo[::-1]).quantize(64)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    loaded = load_image(path)
    assert loaded.info["frames"] == 2
    with Image.open(path) as im:  # Pillow opens at frame 0
        expected = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(loaded.pixels, expected)


def test_rgba_and_gray(tmp_path, rgba, photo):
    Image.fromarray(rgba).save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_image(tmp_path / "a.png").pixels, rgba)
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    Image.fromarray(gray).save(tmp_path / "g.png")
    loaded = load_image(tmp_path / "g.png").pixels
    assert loaded.shape == gray.shape
    np.testing.assert_array_equal(loaded, gray)


def test_la_becomes_rgba(tmp_path, rgba):
    gray = cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2GRAY)
    Image.fromarray(np.dstack([gray, rgba[..., 3]]), mode="LA").save(tmp_path / "la.png")
    px = load_image(tmp_path / "la.png").pixels
    assert px.shape == rgba.shape
    for c in range(3):
        np.testing.assert_array_equal(px[..., c], gray)
    np.testing.assert_array_equal(px[..., 3], rgba[..., 3])


def test_palette_with_transparency(tmp_path, photo):
    pal = Image.fromarray(photo).quantize(32)
    path = tmp_path / "p.png"
    pal.save(path, transparency=0)  # palette index 0 is transparent
    loaded = load_image(path).pixels
    with Image.open(path) as im:
        expected = np.asarray(im.convert("RGBA"))
    assert loaded.shape[2] == 4
    np.testing.assert_array_equal(loaded, expected)
    assert (loaded[..., 3] == 0).any() and (loaded[..., 3] == 255).any()
    # without transparency a palette image opens as RGB
    pal.save(tmp_path / "q.png")
    assert load_image(tmp_path / "q.png").pixels.shape == photo.shape


def test_16bit_gray_png_kept(tmp_path, photo16):
    gray = photo16[..., 1]
    cv2.imwrite(str(tmp_path / "g16.png"), gray)
    loaded = load_image(tmp_path / "g16.png")
    assert loaded.pixels.dtype == np.uint16 and loaded.info["bit_depth"] == 16
    np.testing.assert_array_equal(loaded.pixels, gray)
    assert loaded.pixels.max() > 255 and np.any(loaded.pixels % 257)  # not 8-bit in disguise


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_rgb_read_and_written(tmp_path, photo16, ext):
    src = tmp_path / f"in.{ext}"
    cv2.imwrite(str(src), cv2.cvtColor(photo16, cv2.COLOR_RGB2BGR))
    loaded = load_image(src)
    assert loaded.pixels.dtype == np.uint16
    np.testing.assert_array_equal(loaded.pixels, photo16)
    out = tmp_path / f"out.{ext}"
    assert save_image(out, loaded.pixels) == []
    back = cv2.cvtColor(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, photo16)


def test_16bit_rgba_png_and_gray_tiff_written(tmp_path, photo16):
    rgba16 = np.dstack([photo16, photo16[..., 0]])
    save_image(tmp_path / "a.png", rgba16, icc_profile=srgb_icc())
    back = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(cv2.cvtColor(back, cv2.COLOR_BGRA2RGBA), rgba16)
    with Image.open(tmp_path / "a.png") as im:  # the inserted iCCP chunk is valid
        assert im.info["icc_profile"] == srgb_icc()
    save_image(tmp_path / "g.tif", photo16[..., 2])
    with Image.open(tmp_path / "g.tif") as im:
        np.testing.assert_array_equal(np.asarray(im), photo16[..., 2])


def test_cmyk_jpeg_converted_like_pillow(tmp_path, photo):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(photo).convert("CMYK").save(path, quality=95)
    loaded = load_image(path)
    assert loaded.info["mode"] == "CMYK" and loaded.pixels.shape == photo.shape
    np.testing.assert_array_equal(loaded.pixels, pil_rgb(path))


@pytest.mark.parametrize("variant", ["baseline 4:2:0", "progressive", "4:4:4", "gray",
                                     "restart markers", "exif"])
def test_jpeg_pixels_are_pillows(tmp_path, astronaut, variant):
    # RGB and gray JPEGs are decoded by OpenCV (faster): the same libjpeg-turbo decode
    # as Pillow's, so the same pixels, whatever the encoding options
    path = tmp_path / "v.jpg"
    img = Image.fromarray(astronaut)
    options = {"progressive": {"progressive": True}, "4:4:4": {"subsampling": 0},
               "restart markers": {"restart_marker_blocks": 3},
               "exif": {"exif": camera_exif()}}.get(variant, {})
    (img.convert("L") if variant == "gray" else img).save(path, quality=88, **options)
    loaded = load_image(path)
    with Image.open(path) as im:
        expected = np.asarray(im)
    assert loaded.pixels.shape == expected.shape and loaded.pixels.dtype == np.uint8
    np.testing.assert_array_equal(loaded.pixels, expected)


def test_truncated_jpeg_refused(tmp_path, astronaut):
    # libjpeg only warns about a short file and fills the rest with gray: refused here
    path = tmp_path / "cut.jpg"
    Image.fromarray(astronaut).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(LoadError, match="cut.jpg: the file is truncated"):
        load_image(path)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(tmp_path, photo, orientation):
    path = tmp_path / "o.png"  # lossless, so pixels compare exactly
    Image.fromarray(photo).save(path, exif=camera_exif(orientation))
    loaded = load_image(path)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(loaded.pixels, expected)
    assert loaded.info["orientation"] == orientation
    kept = Image.Exif()
    kept.load(loaded.exif)
    assert kept[0x0112] == 1  # pixels are upright now
    assert kept[0x010F] == "Convolve Test Camera"  # other tags kept


def test_exif_rotated_jpeg(tmp_path, photo):
    path = tmp_path / "r.jpg"
    Image.fromarray(photo).save(path, exif=camera_exif(6), quality=95)
    loaded = load_image(path)
    assert loaded.pixels.shape == (photo.shape[1], photo.shape[0], 3)
    with Image.open(path) as im:
        np.testing.assert_array_equal(loaded.pixels, np.asarray(ImageOps.exif_transpose(im)))
    info = read_info(path)
    assert (info["width"], info["height"], info["orientation"]) == (96, 128, 6)
    # saved again, the file says orientation 1 and is still upright
    save_image(tmp_path / "s.jpg", loaded.pixels, **loaded.metadata())
    with Image.open(tmp_path / "s.jpg") as im:
        assert im.getexif()[0x0112] == 1 and im.size == (96, 128)


# -- saving -----------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_icc_and_exif_kept_or_stripped(tmp_path, photo, fmt):
    ext = EXPORT_FORMATS[fmt]["extensions"][0]
    icc, exif = srgb_icc(), camera_exif()
    save_image(tmp_path / f"k{ext}", photo, icc_profile=icc, exif=exif)
    with Image.open(tmp_path / f"k{ext}") as im:
        assert im.info.get("icc_profile") == icc
        assert im.getexif().get(0x010F) == "Convolve Test Camera"
    save_image(tmp_path / f"s{ext}", photo, icc_profile=icc, exif=exif, strip_metadata=True)
    with Image.open(tmp_path / f"s{ext}") as im:
        assert not im.info.get("icc_profile")
        assert 0x010F not in im.getexif()
    loaded = load_image(tmp_path / f"k{ext}")
    assert loaded.icc_profile == icc


def test_jpeg_quality_and_progressive_visible_to_pillow(tmp_path, photo):
    save_image(tmp_path / "lo.jpg", photo, quality=30)
    save_image(tmp_path / "hi.jpg", photo, quality=95, progressive=True)
    with Image.open(tmp_path / "lo.jpg") as lo, Image.open(tmp_path / "hi.jpg") as hi:
        # coarser quantisation tables at low quality
        assert sum(lo.quantization[0]) > 2 * sum(hi.quantization[0])
        assert hi.info.get("progressive") and not lo.info.get("progressive")
    assert os.path.getsize(tmp_path / "lo.jpg") < os.path.getsize(tmp_path / "hi.jpg")


def test_webp_lossless_exact_and_lossy_not(tmp_path, rgba):
    save_image(tmp_path / "l.webp", rgba, lossless=True)
    np.testing.assert_array_equal(load_image(tmp_path / "l.webp").pixels, rgba)
    save_image(tmp_path / "q.webp", rgba, quality=50)
    assert not np.array_equal(load_image(tmp_path / "q.webp").pixels, rgba)


def test_alpha_composited_for_formats_without_alpha(tmp_path, rgba):
    bg = (20, 200, 90)
    warnings = save_image(tmp_path / "c.bmp", rgba, background=bg)
    assert warnings == [f"BMP cannot hold alpha: composited on {bg}"]
    # independent reference: Pillow's own compositing over a solid image
    ref = Image.alpha_composite(Image.new("RGBA", (128, 96), bg + (255,)),
                                Image.fromarray(rgba)).convert("RGB")
    got = pil_rgb(tmp_path / "c.bmp")
    # Pillow rounds with integer arithmetic, we in float32: at most 1 apart
    assert np.abs(got.astype(int) - np.asarray(ref, int)).max() <= 1
    warnings = save_image(tmp_path / "c.jpg", rgba)
    assert warnings == ["JPEG cannot hold alpha: composited on white (255, 255, 255)"]
    assert pil_rgb(tmp_path / "c.jpg")[:10].min() > 240  # transparent rows became white


def test_16bit_to_8bit_formats_warn(tmp_path, photo16, photo):
    warnings = save_image(tmp_path / "x.jpg", photo16, quality=100)
    assert warnings == ["JPEG holds 8 bits per channel: converted from 16-bit"]
    # 16-bit (v*256 + low) rounds to v or v+1 at 8 bit; JPEG q100 adds a few levels
    assert np.abs(pil_rgb(tmp_path / "x.jpg").astype(int) - photo).mean() < 2.0


def test_format_for_path_and_errors(tmp_path, photo):
    assert format_for_path("a.JPG") == "JPEG" and format_for_path("b.tiff") == "TIFF"
    with pytest.raises(ValueError, match="no extension"):
        format_for_path("noext")
    with pytest.raises(SaveError, match="out.xyz"):
        save_image(tmp_path / "out.xyz", photo)
    with pytest.raises(SaveError, match="does not exist"):
        save_image(tmp_path / "missing" / "x.png", photo)
    with pytest.raises(SaveError, match="quality"):
        save_image(tmp_path / "x.jpg", photo, quality=0)
    # explicit format wins over the extension
    save_image(tmp_path / "x.dat", photo, format="png")
    with Image.open(tmp_path / "x.dat") as im:
        assert im.format == "PNG"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_failed_encode_leaves_existing_file(tmp_path, photo, monkeypatch):
    target = tmp_path / "keep.png"
    Image.fromarray(photo).save(target)
    before = _snapshot(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(save_module, "_encode", broken)
    with pytest.raises(SaveError, match="keep.png"):
        save_image(target, photo[::-1])
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_interrupted_write_leaves_existing_file(tmp_path, photo, monkeypatch, exc):
    target = tmp_path / "keep.jpg"
    Image.fromarray(photo).save(target)
    before = _snapshot(tmp_path)
    seen = []

    def failing_fsync(fd):  # the new bytes are in the temp file when this fails
        seen.append([p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)])
        raise exc

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises((SaveError, KeyboardInterrupt)):
        save_image(target, photo[::-1])
    assert seen and seen[0], "the temp file should have existed mid-write"
    assert _snapshot(tmp_path) == before  # old file intact, temp file gone


def test_save_replaces_atomically_and_keeps_mode(tmp_path, photo):
    target = tmp_path / "x.png"
    save_image(target, photo)
    os.chmod(target, 0o640)
    save_image(target, photo[::-1])
    np.testing.assert_array_equal(pil_rgb(target), photo[::-1])
    assert (target.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


# -- bad files ----------------------------------------------------------------

def _forge_png_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite IHDR's width and height (with a valid CRC): a file that lies."""
    ihdr = bytearray(data[12:29])  # type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return data[:12] + bytes(ihdr) + crc + data[33:]


def _one_line(e: pytest.ExceptionInfo, name: str) -> str:
    text = str(e.value)
    assert "\n" not in text and text.startswith(f"{name}: ")
    return text


def test_decompression_bomb_refused_before_decoding(tmp_path, photo, monkeypatch):
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_forge_png_size(buf.getvalue(), 100_000, 100_000))
    with pytest.raises(LoadError) as e:
        load_image(bomb)
    assert "limit of 250 MP" in _one_line(e, "bomb.png")
    info = read_info(bomb)  # the header can still be described
    assert info["width"] == 100_000 and not info["within_limit"]
    # the limit is configurable, by argument and by environment
    real = tmp_path / "real.png"
    Image.fromarray(photo).save(real)
    with pytest.raises(LoadError, match="limit"):
        load_image(real, max_pixels=1000)
    monkeypatch.setenv("CONVOLVE_MAX_PIXELS", "1000")
    with pytest.raises(LoadError, match="limit of 0.001 MP"):
        load_image(real)
    assert load_image(real, max_pixels=96 * 128).pixels.shape == photo.shape


def test_file_lying_about_size_within_limit(tmp_path, photo):
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG")
    liar = tmp_path / "liar.png"
    liar.write_bytes(_forge_png_size(buf.getvalue(), 2000, 2000))  # 4 MP claimed, 12k stored
    with pytest.raises(LoadError) as e:
        load_image(liar)
    _one_line(e, "liar.png")


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif"])
def test_truncated_files(tmp_path, photo, ext):
    full = tmp_path / f"full.{ext}"
    Image.fromarray(photo).save(full)
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(LoadError) as e:
        load_image(cut)
    _one_line(e, f"cut.{ext}")


def test_not_images(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "noise.png").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    cases = {"noise.png": "not an image", "empty.jpg": "empty", "folder.png": "folder",
             "missing.png": "no such file"}
    for name, reason in cases.items():
        with pytest.raises(LoadError) as e:
            load_image(tmp_path / name)
        assert reason in _one_line(e, name)


def test_read_info_fields(tmp_path, photo16):
    cv2.imwrite(str(tmp_path / "w.png"), cv2.cvtColor(photo16, cv2.COLOR_RGB2BGR))
    info = read_info(tmp_path / "w.png")
    assert info["format"] == "PNG" and info["bit_depth"] == 16 and info["channels"] == 3
    assert (info["width"], info["height"]) == (128, 96)
    assert info["icc_profile"] is False and info["orientation"] == 1


def test_orientation_applied_to_16bit_colour(tmp_path, photo16):
    """16-bit colour goes through OpenCV, which ignores EXIF: we rotate it ourselves."""
    data = save_module._png16_color(photo16, camera_exif(6), None)  # orientation kept as 6
    (tmp_path / "r16.png").write_bytes(data)
    loaded = load_image(tmp_path / "r16.png")
    assert loaded.info["orientation"] == 6
    # orientation 6: the stored image must be turned 90° clockwise (as exif_transpose does)
    np.testing.assert_array_equal(loaded.pixels, np.rot90(photo16, k=-1))
