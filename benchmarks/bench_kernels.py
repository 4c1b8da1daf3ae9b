"""The Numba kernels (editor/core/kernels.py) beside the library-call chains they replace.

    .venv/bin/python benchmarks/bench_kernels.py

On the 12 MP photo, 8- and 16-bit: the luma shift that ends equalize, CLAHE and
curves on luminance, against the lookup-plus-six-OpenCV-passes chain it replaced
(same bits, checked here); and CLAHE, whose two compiled passes (tile tables, then
blend and recombination in one loop) replaced ``cv2.createCLAHE`` on the luma plus
that shift (and at 16 bits an 8-bit copy of the luma and a merge pass). A memory
copy of the same image is the floor. Fastest of the runs, the candidates interleaved.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from common import final_duel, memcpy_time, photo_12mp, time_best

from editor.core.image import apply_lut, to_uint8
from editor.core.kernels import shift_luma, warm_up
from editor.core.parallel import for_each_strip, strip_rows
from editor.ops.tone import clahe, equalize_lut, histogram


def opencv_shift(image: np.ndarray, y: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """The chain the kernel replaced: table lookup, then per ~1 MB strip two saturating
    subtractions, two GRAY2RGB expansions and an add and a subtract."""
    y_new = apply_lut(y, lut)
    out = np.empty_like(image)
    rows = max(1, (1 << 20) // (image.shape[1] * image.itemsize * 3))
    for top in range(0, image.shape[0], rows):
        part = slice(top, top + rows)
        a, b = y[part], y_new[part]
        up = cv2.cvtColor(cv2.subtract(b, a), cv2.COLOR_GRAY2RGB)
        down = cv2.cvtColor(cv2.subtract(a, b), cv2.COLOR_GRAY2RGB)
        dst = out[part]
        cv2.add(image[part], up, dst=dst)
        cv2.subtract(dst, down, dst=dst)
    return out


def opencv_clahe(image: np.ndarray) -> np.ndarray:
    """CLAHE as it was: OpenCV's on the (8-bit) luma, the 16-bit change merged by
    NumPy strips, then the luma shift."""
    y = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    engine = cv2.createCLAHE(2.0, (8, 8))
    if image.dtype == np.uint8:
        return shift_luma(image, y, engine.apply(y))
    y8 = to_uint8(y)
    y8_new = engine.apply(y8)
    y_new = np.empty_like(y)

    def strip(y0: int, y1: int) -> None:
        wide = y8_new[y0:y1].astype(np.int32)
        wide -= y8[y0:y1]
        wide *= 257
        wide += y[y0:y1]
        np.clip(wide, 0, 65535, out=wide)
        y_new[y0:y1] = wide

    for_each_strip(y.shape[0], strip_rows(y.shape[1] * 4), strip)
    return shift_luma(image, y, y_new)


def duel(name: str, fns: dict, note: str, image: np.ndarray) -> None:
    """Time ``fns`` ("kernel" and "chain") interleaved and print one row."""
    times = {k: time_best(fn, 1) for k, fn in fns.items()}
    final_duel(fns, times, ours="kernel", rounds=14, limit_s=1.0)
    kernel_s, chain_s = times["kernel"], times["chain"]
    print(f"{name:<34}{kernel_s * 1e3:>10.1f}  {chain_s * 1e3:>9.1f}  "
          f"{kernel_s / chain_s:>5.2f}x  {memcpy_time(image, 7) * 1e3:>8.1f}   {note}")


def main() -> None:
    warm_up()
    photo = photo_12mp()
    print(f"12 MP photo {photo.shape[1]}x{photo.shape[0]}; cv2 threads {cv2.getNumThreads()}; "
          "fastest run of each, kernel and chain interleaved")
    print(f"{'':<34}{'kernel ms':>10}  {'chain ms':>9}  {'ratio':>6}  {'copy ms':>8}")
    for depth, image in (("8-bit", photo), ("16-bit", photo.astype(np.uint16) * 257)):
        y = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        lut = equalize_lut(histogram(y)).astype(image.dtype)
        same = np.array_equal(shift_luma(image, y, y, lut), opencv_shift(image, y, lut))
        duel(f"luma shift (equalize), {depth}",
             {"kernel": functools.partial(shift_luma, image, y, y, lut),
              "chain": functools.partial(opencv_shift, image, y, lut)},
             f"same bits: {same}", image)
    for depth, image in (("8-bit", photo), ("16-bit", photo.astype(np.uint16) * 257)):
        d = np.abs(clahe(image).astype(np.int64) - opencv_clahe(image))
        step = 1 if image.dtype == np.uint8 else 257
        duel(f"CLAHE 2.0 / 8, {depth}",
             {"kernel": functools.partial(clahe, image),
              "chain": functools.partial(opencv_clahe, image)},
             f"differs by one level in {(d > 0).mean():.4%} of values, max "
             f"{d.max() // step} level(s)", image)


if __name__ == "__main__":
    main()
