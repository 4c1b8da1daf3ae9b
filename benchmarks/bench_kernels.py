"""The Numba kernels (editor/core/kernels.py) beside the library-call chains they replace.

    .venv/bin/python benchmarks/bench_kernels.py

On the 12 MP photo, 8- and 16-bit: the luma shift that ends equalize, CLAHE and
curves on luminance, against the lookup-plus-six-OpenCV-passes chain it replaced
(same bits, checked here), and 16-bit CLAHE's merge against NumPy in cache-sized
strips. A memory copy of the same image is the floor. Fastest of the runs, the
candidates interleaved.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from common import final_duel, memcpy_time, photo_12mp, time_best

from editor.core.image import apply_lut
from editor.core.kernels import add_coarse_change, shift_luma, warm_up
from editor.core.parallel import for_each_strip, strip_rows
from editor.ops.tone import equalize_lut, histogram


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


def numpy_merge(y: np.ndarray, y8: np.ndarray, y8_new: np.ndarray) -> np.ndarray:
    """16-bit CLAHE's merge as it was: int32 NumPy passes per cache-sized strip."""
    out = np.empty_like(y)

    def strip(y0: int, y1: int) -> None:
        wide = y8_new[y0:y1].astype(np.int32)
        wide -= y8[y0:y1]
        wide *= 257
        wide += y[y0:y1]
        np.clip(wide, 0, 65535, out=wide)
        out[y0:y1] = wide

    for_each_strip(y.shape[0], strip_rows(y.shape[1] * 4), strip)
    return out


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
        fns = {"kernel": functools.partial(shift_luma, image, y, y, lut),
               "chain": functools.partial(opencv_shift, image, y, lut)}
        times = {k: time_best(fn, 1) for k, fn in fns.items()}
        final_duel(fns, times, ours="kernel", rounds=14, limit_s=1.0)  # interleaved
        kernel_s, chain_s = times["kernel"], times["chain"]
        print(f"{'luma shift (equalize), ' + depth:<34}{kernel_s * 1e3:>10.1f}  "
              f"{chain_s * 1e3:>9.1f}  {kernel_s / chain_s:>5.2f}x  "
              f"{memcpy_time(image, 7) * 1e3:>8.1f}   same bits: {same}")
    y16 = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    y8 = (y16 // 257).astype(np.uint8)
    y8_new = cv2.createCLAHE(2.0, (8, 8)).apply(y8)
    same = np.array_equal(add_coarse_change(y16, y8, y8_new, 257), numpy_merge(y16, y8, y8_new))
    kernel_s = time_best(lambda: add_coarse_change(y16, y8, y8_new, 257), 7)
    chain_s = time_best(lambda: numpy_merge(y16, y8, y8_new), 7)
    print(f"{'16-bit CLAHE merge':<34}{kernel_s * 1e3:>10.1f}  {chain_s * 1e3:>9.1f}  "
          f"{kernel_s / chain_s:>5.2f}x  {memcpy_time(y16, 7) * 1e3:>8.1f}   same bits: {same}")


if __name__ == "__main__":
    main()
