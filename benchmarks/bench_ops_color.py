"""Time the colour, tone and histogram ops on a 12 MP photo beside other libraries.

Run: ``python benchmarks/bench_ops_color.py [--repeats N] [--skip-slow]``

Every figure is the fastest of several interleaved runs in this one process (on
this shared two-core machine medians of identical calls differed by 1.6x), on the same
4000x3000 RGB uint8 photo. References get their input in their own native
form prepared outside the timed call (a PIL image, a CHW torch tensor), so
only the operation is timed; all results are new arrays, as ours are. Where a
library has no such op, it has no entry. Point ops and the histogram are also
shown against a plain copy of the image (``np.copyto`` into an existing
array), their floor. The histograms' compiled counters are loaded first, as the
editor loads them at start-up.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from common import (
    DIFFERENT,
    final_duel,
    memcpy_time,
    photo_12mp,
    print_header,
    print_row,
    time_best,
    time_median,
)

from editor.ops import get_op
from editor.ops.tone import histogram

POINT_OPS = {"brightness", "contrast", "gamma", "invert", "posterize", "levels", "curves",
             "threshold", "auto_contrast", "histogram", "brightness_contrast"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-slow", action="store_true",
                        help="leave out references slower than ~2 s a run (skimage hsv, CLAHE)")
    args = parser.parse_args()

    import cv2
    from PIL import Image, ImageEnhance, ImageOps

    from editor.core.kernels import warm_up_counters

    # the histograms' compiled counters, as the editor loads them at start-up (a
    # process that has not loaded them counts with OpenCV: the same counts, slower)
    warm_up_counters()
    img = photo_12mp()
    ref_photo = photo_12mp("chelsea.png", size=(900, 600))
    ref_path = _write_reference(ref_photo)
    pil = Image.fromarray(img)
    try:
        import torch
        import torchvision.transforms.v2.functional as TF

        tensor = torch.from_numpy(img).permute(2, 0, 1).contiguous()
        torch.set_num_threads(cv2.getNumThreads())
    except ImportError:  # torch is optional for this benchmark
        torch = TF = tensor = None
    import skimage.color
    import skimage.exposure
    import skimage.filters

    r = args.repeats

    def t(fn, repeats=r):
        """A timing candidate: ``fn`` and how many rounds it takes part in."""
        return fn, repeats

    def slow(fn):
        return None if args.skip_slow else (fn, 1)

    def ours(name, **params):
        spec = get_op(name)
        return (lambda: spec(img, **params)), r

    def lut_of(name, **params):
        return get_op(name)(np.arange(256, dtype=np.uint8)[None, :], **params).ravel()

    def pil_point(table):
        return lambda: pil.point(list(table) * 3)

    rows: list[tuple[str, float, dict[str, float | None]]] = []

    def row(label, ours_cand, refs):
        """Time ours and the references round-robin, so a busy machine (this
        one shares its cores) slows them alike; median per candidate."""
        cands = {"ours": ours_cand, **{k: v for k, v in refs.items() if v is not None}}
        for fn, _ in cands.values():
            fn()  # warm-up
        times: dict[str, list[float]] = {k: [] for k in cands}
        names = list(cands)
        for i in range(r):
            # Rotate the order each round: whoever follows a multi-threaded
            # library (torch's spinning OpenMP workers) is not always ours.
            for k in names[i % len(names):] + names[:i % len(names)]:
                fn, repeats = cands[k]
                if i < repeats:
                    t0 = time.perf_counter()
                    fn()
                    times[k].append(time.perf_counter() - t0)
        med = {k: min(v) for k, v in times.items()}
        final_duel({k: fn for k, (fn, _) in cands.items()}, med)
        rows.append((label, med.pop("ours"), med))

    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    torch_refs = tensor is not None

    # -- colour point ops ----------------------------------------------------
    row("brightness +0.2", ours("brightness", amount=0.2), {
        "cv2.add(scalar)": t(lambda: cv2.add(img, (51.0, 51.0, 51.0, 0.0))),
        "numpy clip(int16)": t(lambda: np.clip(img.astype(np.int16) + 51, 0, 255)
                               .astype(np.uint8)),
        "PIL Brightness(x1.2)": t(lambda: ImageEnhance.Brightness(pil).enhance(1.2)),
        **({"torch adjust_brightness": t(lambda: TF.adjust_brightness(tensor, 1.2))}
           if torch_refs else {}),
    })
    contrast_lut = lut_of("contrast", amount=0.3)
    row("contrast +0.3", ours("contrast", amount=0.3), {
        "cv2.convertScaleAbs": t(lambda: cv2.convertScaleAbs(img, alpha=1.63, beta=-80.0)),
        "PIL Contrast": t(lambda: ImageEnhance.Contrast(pil).enhance(1.6)),
        "numpy lut[img]": t(lambda: contrast_lut[img]),
        **({"torch adjust_contrast": t(lambda: TF.adjust_contrast(tensor, 1.6))}
           if torch_refs else {}),
    })
    gamma_lut = lut_of("gamma", gamma=2.2)
    row("gamma 2.2", ours("gamma", gamma=2.2), {
        "skimage adjust_gamma": t(lambda: skimage.exposure.adjust_gamma(img, 1 / 2.2)),
        "PIL point": t(pil_point(gamma_lut)),
        "numpy lut[img]": t(lambda: gamma_lut[img]),
        **({"torch adjust_gamma": t(lambda: TF.adjust_gamma(tensor, 1 / 2.2))}
           if torch_refs else {}),
    })
    row("invert", ours("invert"), {
        "cv2.bitwise_not": t(lambda: cv2.bitwise_not(img)),
        "numpy 255 - img": t(lambda: 255 - img),
        "PIL ImageOps.invert": t(lambda: ImageOps.invert(pil)),
        "skimage util.invert": t(lambda: __import__("skimage.util").util.invert(img)),
        **({"torch invert": t(lambda: TF.invert(tensor))} if torch_refs else {}),
    })
    # Ours spreads the levels over the range (0, 85, 170, 255: GIMP's rule); bit
    # masks give 0, 64, 128, 192 and are another op (listed, marked DIFFERENT).
    posterize_lut = lut_of("posterize", levels=4)
    row("posterize 4", ours("posterize", levels=4), {
        "cv2.LUT (same table)": t(lambda: cv2.LUT(img, posterize_lut)),
        "PIL point (same table)": t(pil_point(posterize_lut)),
        f"{DIFFERENT}PIL posterize(2 bits)": t(lambda: ImageOps.posterize(pil, 2)),
        f"{DIFFERENT}numpy mask": t(lambda: img & 0xC0),
        **({f"{DIFFERENT}torch posterize": t(lambda: TF.posterize(tensor, 2))}
           if torch_refs else {}),
    })
    row("threshold 128", ours("threshold", level=128), {
        "cv2 gray+threshold+rgb": t(lambda: cv2.cvtColor(cv2.threshold(
            cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 128, 255, cv2.THRESH_BINARY)[1],
            cv2.COLOR_GRAY2RGB)),
        "PIL L.point.RGB": t(lambda: pil.convert("L").point(lambda v: 255 * (v > 128))
                             .convert("RGB")),
        "skimage rgb2gray > t": t(lambda: skimage.color.rgb2gray(img) > 0.5, max(1, r // 2)),
    })
    row("threshold otsu", ours("threshold", method="otsu"), {
        "cv2 gray+OTSU+rgb": t(lambda: cv2.cvtColor(cv2.threshold(
            cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 0, 255,
            cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1], cv2.COLOR_GRAY2RGB)),
        "skimage threshold_otsu": t(lambda: gray > skimage.filters.threshold_otsu(gray)),
    })

    # -- colour matrices -----------------------------------------------------
    def cv2_saturation():
        g3 = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        return cv2.addWeighted(img, 1.5, g3, -0.5, 0.0)

    row("saturation +0.5", ours("saturation", amount=0.5), {
        "cv2 gray+addWeighted": t(cv2_saturation),
        "PIL Color": t(lambda: ImageEnhance.Color(pil).enhance(1.5)),
        **({"torch adjust_saturation": t(lambda: TF.adjust_saturation(tensor, 1.5))}
           if torch_refs else {}),
    })
    hue_shift = ((np.arange(256) + 21) % 256).astype(np.uint8)

    def cv2_hue():
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)
        h = cv2.LUT(cv2.extractChannel(hsv, 0), hue_shift)
        cv2.insertChannel(h, hsv, 0)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)

    def pil_hue():
        h, s, v = pil.convert("HSV").split()
        return Image.merge("HSV", (h.point(list(hue_shift)), s, v)).convert("RGB")

    row("hue +30", ours("hue", degrees=30.0), {
        "cv2 HSV_FULL uint8": t(cv2_hue),
        "PIL HSV": t(pil_hue),
        **({"torch adjust_hue": t(lambda: TF.adjust_hue(tensor, 30 / 360), max(1, r // 2))}
           if torch_refs else {}),
        "skimage hsv (float64)": slow(lambda: skimage.color.hsv2rgb(
            skimage.color.rgb2hsv(img))),
    })
    row("grayscale bt709", ours("grayscale", method="bt709"), {
        "skimage rgb2gray": t(lambda: skimage.color.rgb2gray(img), max(1, r // 2)),
        "PIL convert L.RGB": t(lambda: pil.convert("L").convert("RGB")),
        **({"torch rgb_to_grayscale": t(lambda: TF.rgb_to_grayscale(tensor, 3))}
           if torch_refs else {}),
    })
    row("grayscale bt601", ours("grayscale", method="bt601"), {
        "cv2 cvtColor GRAY.RGB": t(lambda: cv2.cvtColor(
            cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)),
        "PIL convert L.RGB": t(lambda: pil.convert("L").convert("RGB")),
    })

    # -- tone ----------------------------------------------------------------
    levels_lut = lut_of("levels", in_low=20, in_high=230, gamma=1.2)
    row("levels", ours("levels", in_low=20, in_high=230, gamma=1.2), {
        "skimage rescale_intensity": t(lambda: skimage.exposure.rescale_intensity(
            img, in_range=(20, 230), out_range=(0, 255)), max(1, r // 2)),
        "PIL point": t(pil_point(levels_lut)),
        "numpy lut[img]": t(lambda: levels_lut[img]),
    })
    points = [(0, 0), (64, 48), (192, 215), (255, 255)]
    curves_lut = lut_of("curves", points=points)
    row("curves (4 points)", ours("curves", points=points), {
        "PIL point": t(pil_point(curves_lut)),
        "numpy lut[img]": t(lambda: curves_lut[img]),
        "numpy interp (linear)": t(lambda: np.interp(img, *zip(*points, strict=True)),
                                   max(1, r // 2)),
    })

    def cv2_curve_luma():
        ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
        cv2.insertChannel(cv2.LUT(cv2.extractChannel(ycc, 0), curves_lut), ycc, 0)
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)

    row("curves luminance", ours("curves", points=points, channel="luminance"), {
        "cv2 YCrCb+LUT on Y": t(cv2_curve_luma),
    })
    bc_lut = lut_of("brightness_contrast", brightness=0.2, contrast=0.3)
    row("brightness_contrast", ours("brightness_contrast", brightness=0.2, contrast=0.3), {
        "PIL point": t(pil_point(bc_lut)),
        "numpy lut[img]": t(lambda: bc_lut[img]),
    })

    def cv2_hls_round_trip():  # the floor of any float HSL adjustment: there and back
        f = img.astype(np.float32) * np.float32(1 / 255)
        back = cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_RGB2HLS), cv2.COLOR_HLS2RGB)
        return (back * 255 + 0.5).astype(np.uint8)

    row("hue_saturation (range)", ours("hue_saturation", hue=20.0, saturation=15.0,
                                       reds_hue=-10.0, overlap=40.0), {
        "cv2 float HLS round trip": t(cv2_hls_round_trip),
        "skimage hsv (float64)": slow(lambda: skimage.color.hsv2rgb(
            skimage.color.rgb2hsv(img))),
    })

    def sk_autocontrast():
        lo, hi = np.percentile(img, (1, 99))
        return skimage.exposure.rescale_intensity(img, in_range=(lo, hi))

    row("auto_contrast 0%", ours("auto_contrast", clip=0.0), {
        "cv2.normalize MINMAX": t(lambda: cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)),
        "PIL autocontrast": t(lambda: ImageOps.autocontrast(pil)),
        **({"torch autocontrast": t(lambda: TF.autocontrast(tensor))} if torch_refs else {}),
    })
    # The photo above already spans 0..255, so 0 % maps it onto itself (a copy); a dull
    # photo, the case the op is for, has a range to stretch.
    dull = cv2.convertScaleAbs(img, alpha=0.7, beta=30)
    dull_pil = Image.fromarray(dull)
    row("auto_contrast 0% dull", ((lambda: get_op("auto_contrast")(dull, clip=0.0)), r), {
        "cv2.normalize MINMAX": t(lambda: cv2.normalize(dull, None, 0, 255, cv2.NORM_MINMAX)),
        "PIL autocontrast": t(lambda: ImageOps.autocontrast(dull_pil)),
    })

    def cv2_autocontrast_clip():  # the same op in OpenCV: pooled histogram, cut, map
        hist = cv2.calcHist([img.reshape(img.shape[0], -1)], [0], None, [256], [0, 256])
        counts = hist.ravel()
        cut = img.size // 100
        lo = int(np.searchsorted(np.cumsum(counts), cut, side="right"))
        hi = 255 - int(np.searchsorted(np.cumsum(counts[::-1]), cut, side="right"))
        table = np.clip((np.arange(256) - lo) * (255.0 / max(1, hi - lo)) + 0.5, 0, 255)
        return cv2.LUT(img, table.astype(np.uint8))

    row("auto_contrast 1%", ours("auto_contrast", clip=1.0), {
        "PIL autocontrast(cutoff=1)": t(lambda: ImageOps.autocontrast(pil, cutoff=1)),
        "cv2 calcHist+cut+LUT": t(cv2_autocontrast_clip),
        "skimage percentile+rescale": t(sk_autocontrast, max(1, r // 2)),
        f"{DIFFERENT}cv2.normalize (no clip)": t(lambda: cv2.normalize(img, None, 0, 255,
                                                                       cv2.NORM_MINMAX)),
        **({f"{DIFFERENT}torch autocontrast (no clip)": t(lambda: TF.autocontrast(tensor))}
           if torch_refs else {}),
    })

    def cv2_eq_luma():
        ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
        cv2.insertChannel(cv2.equalizeHist(cv2.extractChannel(ycc, 0)), ycc, 0)
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)

    row("equalize luminance", ours("equalize", mode="luminance"), {
        "cv2 YCrCb+equalizeHist": t(cv2_eq_luma),
    })
    row("equalize per_channel", ours("equalize", mode="per_channel"), {
        "cv2 equalizeHist x3": t(lambda: cv2.merge([cv2.equalizeHist(c)
                                                    for c in cv2.split(img)])),
        "PIL ImageOps.equalize": t(lambda: ImageOps.equalize(pil)),
        "skimage equalize_hist": t(lambda: skimage.exposure.equalize_hist(img), 1),
        **({"torch equalize": t(lambda: TF.equalize(tensor))} if torch_refs else {}),
    })

    clahe_cv = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    def cv2_clahe_lab():
        lab = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)
        cv2.insertChannel(clahe_cv.apply(cv2.extractChannel(lab, 0)), lab, 0)
        return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)

    def cv2_clahe_ycc():
        ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
        cv2.insertChannel(clahe_cv.apply(cv2.extractChannel(ycc, 0)), ycc, 0)
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)

    # The floor for any colour CLAHE: OpenCV's CLAHE on one gray plane alone.
    clahe_gray_s = time_median(lambda: clahe_cv.apply(gray), r)
    row("clahe 2.0 / 8", ours("clahe", clip_limit=2.0, tile=8), {
        "cv2 CLAHE on Lab L": t(cv2_clahe_lab),
        "cv2 CLAHE on YCrCb Y": t(cv2_clahe_ycc),
        "skimage equalize_adapthist": slow(lambda: skimage.exposure.equalize_adapthist(
            img, kernel_size=(375, 500), clip_limit=0.01)),
    })
    row("match_histogram", ours("match_histogram", reference=ref_path), {
        "skimage match_histograms": t(lambda: skimage.exposure.match_histograms(
            img, ref_photo, channel_axis=-1), 1),
    })

    # -- histogram (what the tone ops and the live histogram panel compute) ---
    plane = np.ascontiguousarray(img[..., 1])
    row("histogram (1 channel)", t(lambda: histogram(plane)), {
        "np.bincount": t(lambda: np.bincount(plane.ravel(), minlength=256)),
        "np.histogram": t(lambda: np.histogram(plane, 256, (0, 256)), max(1, r // 2)),
        "PIL Image.histogram": t(lambda: Image.fromarray(plane).histogram()),
        "skimage histogram": t(lambda: skimage.exposure.histogram(plane, channel_axis=None),
                               max(1, r // 2)),
        **({"torch.bincount": t(lambda: torch.bincount(torch.from_numpy(plane).view(-1),
                                                       minlength=256))}
           if torch_refs else {}),
    })

    copy_s = memcpy_time(img, r)
    new_copy_s = time_best(img.copy, r)
    print(f"(cv2 CLAHE on the gray plane alone, not a colour op: {clahe_gray_s * 1e3:.1f} ms)")
    copy1_s = memcpy_time(plane, r)
    print(f"12 MP photo {img.shape[1]}x{img.shape[0]} RGB uint8; cv2 threads "
          f"{cv2.getNumThreads()}; fastest of {r} interleaved rounds")
    print_header("colour, tone and histogram ops vs the fastest reference")
    for label, ours_s, refs in rows:
        print_row(label, ours_s, {k: v for k, v in refs.items() if v is not None})
    print(f"\n== point ops vs a plain memory copy (RGB copy into an existing array "
          f"{copy_s * 1e3:.1f} ms, into a new one {new_copy_s * 1e3:.1f} ms, as every op "
          f"returns; one-channel copy {copy1_s * 1e3:.1f} ms; goal <= 3x)")
    print(f"{'':<22}{'ours ms':>10}  {'x copy':>7}  {'x new copy':>10}")
    for label, ours_s, _ in rows:
        if label.split()[0] in POINT_OPS or label.startswith("histogram"):
            floor = copy1_s if label.startswith("histogram") else copy_s
            new_floor = copy1_s if label.startswith("histogram") else new_copy_s
            print(f"{label:<22}{ours_s * 1e3:>10.1f}  {ours_s / floor:>6.2f}x  "
                  f"{ours_s / new_floor:>9.2f}x")

    img16 = img.astype(np.uint16) * 257
    copy16_s = memcpy_time(img16, r)
    new_copy16_s = time_best(img16.copy, r)
    print(f"\n== 16-bit (same photo x257), ours only; RGB uint16 copy into an existing array "
          f"{copy16_s * 1e3:.1f} ms, into a new one {new_copy16_s * 1e3:.1f} ms "
          "(goal for equalize and CLAHE: <= 3x); fastest of the runs, as the copies")
    print(f"{'':<22}{'ours ms':>10}  {'x copy':>7}  {'x new copy':>10}")
    for name, params in [("brightness", {"amount": 0.2}), ("invert", {}),
                         ("saturation", {"amount": 0.5}), ("hue", {"degrees": 30.0}),
                         ("levels", {"in_low": 20, "in_high": 230}),
                         ("equalize", {"mode": "luminance"}), ("clahe", {})]:
        spec = get_op(name)
        s = time_best(lambda spec=spec, params=params: spec(img16, **params), r)
        print(f"{name:<22}{s * 1e3:>10.1f}  {s / copy16_s:>6.2f}x  {s / new_copy16_s:>9.2f}x")
    sys.stdout.flush()


def _write_reference(photo: np.ndarray) -> str:
    import tempfile

    from PIL import Image

    path = f"{tempfile.gettempdir()}/convolve_bench_reference.png"
    Image.fromarray(photo).save(path)
    return path


if __name__ == "__main__":
    main()
