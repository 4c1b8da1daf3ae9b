"""Filters, edges and noise on a 12 MP photo beside OpenCV, scipy.ndimage, Pillow,
scikit-image and torch-on-CPU, in one process run.

Run: ``python benchmarks/bench_ops_filters.py`` (add ``--quick`` for 2 repeats).

Each row: our op, the fastest reference doing the same thing and ours / fastest
(other references in brackets, ms; a reference marked ``≠`` differs, e.g. in its border
rule, and is only listed). Ours and the fast references run in interleaved rounds.
References that take seconds at 12 MP (scipy/scikit-image medians,
scikit-image bilateral and Canny, a torch median) are timed on a 1000x1000 crop and
scaled by the pixel ratio (marked ``~``): they are per-pixel filters, so time grows
linearly with the area. torch runs on a float32 NCHW tensor prepared beforehand
(conversion not timed), with as many threads as OpenCV. After the table: our time
on a 1440x1080 preview proxy (pixel parameters scaled), and how long Cancel takes to
land in the heavy ops at 12 MP.
"""

from __future__ import annotations

import sys
import threading
import time

import cv2
import numpy as np
from common import DIFFERENT, final_duel, photo_12mp, print_header, print_row, time_median

# after `common`, which puts the repository on sys.path
from editor.core.context import Cancelled, OpContext  # noqa: E402, I001
from editor.ops import get_op, run_op  # noqa: E402

QUICK = "--quick" in sys.argv
REPEATS = 2 if QUICK else 5
B = cv2.BORDER_REFLECT_101


def timed(fn) -> float:
    """Median of REPEATS runs; a call that takes over 2 s is timed once."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if first > 2.0:
        return first
    return time_median(fn, repeats=REPEATS if first < 0.5 else 2, warmup=0)


def main() -> None:
    import scipy
    import skimage
    import torch
    from PIL import Image, ImageFilter
    from scipy import ndimage as ndi

    rgb = photo_12mp()
    h, w = rgb.shape[:2]
    crop = np.ascontiguousarray(rgb[1000:2000, 1500:2500])
    crop_scale = (h * w) / (crop.shape[0] * crop.shape[1])
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gray_crop = np.ascontiguousarray(gray[1000:2000, 1500:2500])
    pil = Image.fromarray(rgb)
    pil_gray = Image.fromarray(gray)
    torch.set_num_threads(cv2.getNumThreads())
    t_rgb = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().contiguous()
    t_gray = torch.from_numpy(gray)[None, None].float().contiguous()
    tF = torch.nn.functional

    def scaled(fn):
        return timed(fn) * crop_scale

    def t_conv(x, k2d):  # depthwise 2-D correlation with reflect-101 padding
        k = torch.from_numpy(np.ascontiguousarray(k2d, np.float32))
        c = x.shape[1]
        r0, r1 = k.shape[0] // 2, k.shape[1] // 2
        xp = tF.pad(x, (r1, r1, r0, r0), mode="reflect")
        return tF.conv2d(xp, k[None, None].repeat(c, 1, 1, 1), groups=c)

    def t_sep(x, k1d):
        k = np.asarray(k1d, np.float32)
        return t_conv(t_conv(x, k[None, :]), k[:, None])

    def op(name, image=rgb, **params):
        spec = get_op(name)
        return lambda: spec(image, **params)

    print(f"12 MP photo {w}x{h} RGB uint8; OpenCV {cv2.__version__} ({cv2.getNumThreads()} "
          f"threads), scipy {scipy.__version__}, scikit-image {skimage.__version__}, "
          f"Pillow {Image.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); ~ = timed on a 1 MP crop and scaled")
    print_header("Filters, edges, noise (12 MP)")
    rows = []

    def row(label, ours, refs):
        """Ours and the fast references in interleaved rounds with a rotating order
        (the machine is shared: a burst of load hits all alike), the fastest round; calls over
        2 s run once, and the ``~`` references are timed on their crop."""
        fast = {"ours": ours, **{k: v for k, v in refs.items() if not k.startswith("~")}}
        samples: dict[str, list[float]] = {k: [] for k in fast}
        for k, fn in fast.items():  # warm-up, and the one run of a slow call
            t0 = time.perf_counter()
            fn()
            samples[k].append(time.perf_counter() - t0)
        names = [k for k in fast if samples[k][0] < 2.0]
        for i in range(REPEATS if names else 0):
            for k in names[i % len(names):] + names[:i % len(names)]:
                t0 = time.perf_counter()
                fast[k]()
                samples[k].append(time.perf_counter() - t0)
        times = {k: min(v[1:] or v) for k, v in samples.items()}
        final_duel(fast, times)
        ours_s = times.pop("ours")
        ref_s = {**times, **{k: v() for k, v in refs.items() if k.startswith("~")}}
        print_row(label, ours_s, ref_s)
        rows.append((label, ours_s, ref_s))

    g1d = cv2.getGaussianKernel(13, 2.0).ravel()  # ksize for sigma 2 in 8 bit: 13
    row("mean_blur size=5", op("mean_blur", size=5), {
        "cv2.blur": lambda: cv2.blur(rgb, (5, 5), borderType=B),
        "scipy uniform_filter": lambda: ndi.uniform_filter(rgb, (5, 5, 1), mode="mirror"),
        "Pillow BoxBlur(2)": lambda: pil.filter(ImageFilter.BoxBlur(2)),
        "torch avg (sep conv)": lambda: t_sep(t_rgb, np.ones(5) / 5),
    })
    row("gaussian_blur sigma=2", op("gaussian_blur", sigma=2.0), {
        "cv2.GaussianBlur": lambda: cv2.GaussianBlur(rgb, (0, 0), 2.0, borderType=B),
        "scipy gaussian_filter": lambda: ndi.gaussian_filter(rgb, (2, 2, 0), truncate=3.0,
                                                             mode="mirror"),
        "Pillow GaussianBlur": lambda: pil.filter(ImageFilter.GaussianBlur(2)),
        "skimage gaussian": lambda: skimage.filters.gaussian(rgb, sigma=2, channel_axis=-1,
                                                             truncate=3.0),
        "torch sep conv": lambda: t_sep(t_rgb, g1d),
    })
    # cv2.medianBlur replicates the edge pixel; ours reflects (reflect-101) like every
    # other filter here, which OpenCV does when the image is padded first.
    row("median size=5", op("median", size=5), {
        "cv2 pad101+medianBlur": lambda: cv2.medianBlur(
            cv2.copyMakeBorder(rgb, 2, 2, 2, 2, B), 5)[2:-2, 2:-2],
        f"{DIFFERENT}cv2.medianBlur (replicate)": lambda: cv2.medianBlur(rgb, 5),
        "~scipy median_filter": lambda: scaled(
            lambda: ndi.median_filter(crop, (5, 5, 1), mode="mirror")),
        "Pillow MedianFilter": lambda: pil.filter(ImageFilter.MedianFilter(5)),
        "~skimage median": lambda: scaled(lambda: [skimage.filters.median(
            crop[..., c], np.ones((5, 5), bool)) for c in range(3)]),
        "~torch unfold median": lambda: scaled(lambda: tF.unfold(
            tF.pad(t_rgb[..., 1000:2000, 1500:2500], (2, 2, 2, 2), mode="reflect"), 5
        ).view(3, 25, -1).median(dim=1)),
    })
    row("median size=15", op("median", size=15), {
        "cv2 pad101+medianBlur": lambda: cv2.medianBlur(
            cv2.copyMakeBorder(rgb, 7, 7, 7, 7, B), 15)[7:-7, 7:-7],
        f"{DIFFERENT}cv2.medianBlur (replicate)": lambda: cv2.medianBlur(rgb, 15),
        "Pillow MedianFilter": lambda: pil.filter(ImageFilter.MedianFilter(15)),
    })
    rect5 = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    row("min_filter size=5", op("min_filter", size=5), {
        "cv2.erode": lambda: cv2.erode(rgb, rect5, borderType=B),
        "scipy minimum_filter": lambda: ndi.minimum_filter(rgb, (5, 5, 1), mode="mirror"),
        "Pillow MinFilter": lambda: pil.filter(ImageFilter.MinFilter(5)),
        "skimage erosion": lambda: [skimage.morphology.erosion(rgb[..., c], np.ones((5, 5)))
                                    for c in range(3)],
        "torch -max_pool(-x)": lambda: -tF.max_pool2d(-t_rgb, 5, 1, 2),
    })
    row("max_filter size=5", op("max_filter", size=5), {
        "cv2.dilate": lambda: cv2.dilate(rgb, rect5, borderType=B),
        "scipy maximum_filter": lambda: ndi.maximum_filter(rgb, (5, 5, 1), mode="mirror"),
        "Pillow MaxFilter": lambda: pil.filter(ImageFilter.MaxFilter(5)),
        "torch max_pool2d": lambda: tF.max_pool2d(t_rgb, 5, 1, 2),
    })
    row("bilateral 3px, 25", op("bilateral", sigma_space=3.0, sigma_color=25.0), {
        "cv2.bilateralFilter": lambda: cv2.bilateralFilter(rgb, -1, 25.0, 3.0),
        "~skimage denoise_bilat": lambda: scaled(lambda: skimage.restoration.denoise_bilateral(
            crop, sigma_color=25 / 255, sigma_spatial=3, win_size=9, channel_axis=-1)),
    })
    sharp = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
    row("sharpen amount=1", op("sharpen", amount=1.0), {
        "cv2.filter2D": lambda: cv2.filter2D(rgb, -1, sharp, borderType=B),
        "scipy correlate": lambda: ndi.correlate(rgb, sharp[..., None], mode="mirror"),
        "Pillow Kernel 3x3": lambda: pil.filter(ImageFilter.Kernel((3, 3), sharp.ravel(), 1)),
        "torch conv2d": lambda: t_conv(t_rgb, sharp),
    })

    def cv_unsharp():
        blurred = cv2.GaussianBlur(rgb, (0, 0), 2.0, borderType=B)
        return cv2.addWeighted(rgb, 1.5, blurred, -0.5, 0)

    row("unsharp_mask r=2 a=.5", op("unsharp_mask", radius=2.0, amount=0.5), {
        "cv2 Gaussian+addWeighted": cv_unsharp,
        "Pillow UnsharpMask": lambda: pil.filter(ImageFilter.UnsharpMask(2, 50, 0)),
        "skimage unsharp_mask": lambda: skimage.filters.unsharp_mask(
            rgb, radius=2, amount=0.5, channel_axis=-1),
        "torch sep conv + axpy": lambda: t_rgb * 1.5 - 0.5 * t_sep(t_rgb, g1d),
    })
    emb = np.array([[-1, -1, 0], [-1, 0, 1], [0, 1, 1]], np.float32) / 2
    row("emboss", op("emboss"), {
        "cv2.filter2D": lambda: cv2.filter2D(rgb, -1, emb, delta=128, borderType=B),
        "scipy correlate": lambda: ndi.correlate(rgb.astype(np.int16), emb[..., None].astype(
            np.int16), mode="mirror") + 128,
        "Pillow EMBOSS": lambda: pil.filter(ImageFilter.EMBOSS),
        "torch conv2d": lambda: t_conv(t_rgb, emb) + 128,
    })
    k5 = np.random.default_rng(0).normal(size=(5, 5)).astype(np.float32) / 5
    row("convolve 5x5", op("convolve", kernel=k5.tolist(), normalize=False), {
        "cv2.filter2D": lambda: cv2.filter2D(rgb, -1, k5, borderType=B),
        "scipy convolve": lambda: ndi.convolve(rgb, k5[..., None], mode="mirror"),
        "Pillow Kernel 5x5": lambda: pil.filter(ImageFilter.Kernel((5, 5), k5.ravel(), 1)),
        "torch conv2d": lambda: t_conv(t_rgb, k5[::-1, ::-1]),
    })

    def cv_sobel():
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=0.25)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=0.25)
        return cv2.convertScaleAbs(cv2.magnitude(gx, gy))

    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 4
    row("sobel magnitude", op("sobel"), {
        "cv2 gray+Sobel+magnitude": cv_sobel,
        "scipy sobel (gray)": lambda: np.hypot(ndi.sobel(gray, 1, output=np.float32),
                                               ndi.sobel(gray, 0, output=np.float32)),
        "skimage sobel (gray)": lambda: skimage.filters.sobel(gray),
        "torch conv2d (gray)": lambda: torch.hypot(t_conv(t_gray, sx), t_conv(t_gray, sx.T)),
    })
    px = np.array([[-1, 0, 1]] * 3, np.float32) / 3
    row("prewitt", op("prewitt"), {
        "cv2 gray+filter2D": lambda: cv2.magnitude(
            cv2.filter2D(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_32F, px),
            cv2.filter2D(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_32F, px.T)),
        "scipy prewitt (gray)": lambda: np.hypot(ndi.prewitt(gray, 1, output=np.float32),
                                                 ndi.prewitt(gray, 0, output=np.float32)),
        "skimage prewitt (gray)": lambda: skimage.filters.prewitt(gray),
        "torch conv2d (gray)": lambda: torch.hypot(t_conv(t_gray, px), t_conv(t_gray, px.T)),
    })
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
    row("laplacian", op("laplacian"), {
        "cv2 gray+Laplacian": lambda: cv2.convertScaleAbs(cv2.Laplacian(
            cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_32F, ksize=1)),
        "scipy laplace (gray)": lambda: ndi.laplace(gray, output=np.float32),
        "skimage laplace (gray)": lambda: skimage.filters.laplace(gray, ksize=3),
        "Pillow FIND_EDGES (L)": lambda: pil_gray.filter(ImageFilter.FIND_EDGES),
        "torch conv2d (gray)": lambda: t_conv(t_gray, lap).abs(),
    })

    def cv_canny():
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return cv2.Canny(cv2.GaussianBlur(g, (0, 0), 1.5), 8 * 4, 20 * 4, L2gradient=True)

    def cv_canny_sublevels():
        # what ours does, in whole-image OpenCV calls: the luma in 1/16 levels (int16),
        # its blur and Sobel gradients, Canny on them, the edge map as RGB
        g = cv2.multiply(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 16, dtype=cv2.CV_16S)
        g = cv2.GaussianBlur(g, (0, 0), 1.5, borderType=B)
        edges = cv2.Canny(cv2.Sobel(g, cv2.CV_16S, 1, 0, borderType=B),
                          cv2.Sobel(g, cv2.CV_16S, 0, 1, borderType=B),
                          8 * 64, 20 * 64, L2gradient=True)
        return cv2.cvtColor(edges, cv2.COLOR_GRAY2RGB)

    # Ours blurs in 1/16 levels: an 8-bit blur rounds to whole levels and moves edges
    # (F1 against scikit-image 0.85 -> 0.75 on the cat photo), so the 8-bit pipeline,
    # which also returns one channel, differs and is only listed.
    row("canny sigma=1.5", op("canny", output="burn"), {  # the edge map
        "cv2 1/16-level Gauss+Sobel+Canny": cv_canny_sublevels,
        f"{DIFFERENT}cv2 gray+Gauss+Canny (8u)": cv_canny,
        "~skimage canny (gray)": lambda: scaled(lambda: skimage.feature.canny(
            gray_crop, sigma=1.5, low_threshold=8 * 4, high_threshold=20 * 4)),
    })
    rng = np.random.default_rng(0)
    noise16 = np.empty(rgb.shape, np.int16)

    def cv_noise():
        cv2.randn(noise16.reshape(h, -1), 0, 12.75)
        return cv2.add(rgb, noise16, dtype=cv2.CV_8U)

    row("add_noise gaussian", op("add_noise", amount=0.05), {
        "cv2.randn + add": cv_noise,
        "numpy normal + clip": lambda: np.clip(
            rgb + rng.standard_normal(rgb.shape, np.float32) * 12.75, 0, 255).astype(np.uint8),
        "skimage random_noise": lambda: skimage.util.random_noise(rgb, var=0.05**2, rng=0),
        "torch randn (float)": lambda: (t_rgb + torch.randn_like(t_rgb) * 12.75).clamp(0, 255),
    })

    def np_salt_pepper():
        u = rng.random(rgb.shape[:2], np.float32)
        out = rgb.copy()
        out[u < 0.025] = 0
        out[(u >= 0.025) & (u < 0.05)] = 255
        return out

    row("add_noise salt_pepper", op("add_noise", kind="salt_pepper", amount=0.05), {
        "numpy random + masks": np_salt_pepper,
        "skimage random_noise": lambda: skimage.util.random_noise(rgb, mode="s&p",
                                                                  amount=0.05, rng=0),
    })

    # -- preview proxy: 1440x1080 with pixel parameters scaled, as the preview lane runs it
    proxy = cv2.resize(rgb, (1440, 1080), interpolation=cv2.INTER_AREA)
    ctx_scale = 1440 / w
    print(f"\n== Preview on a 1440x1080 proxy (scale {ctx_scale:.2f}), ms")
    for name, params in [("mean_blur", {"size": 15}), ("gaussian_blur", {"sigma": 8.0}),
                         ("median", {"size": 15}), ("min_filter", {"size": 9}),
                         ("bilateral", {"sigma_space": 8.0}), ("sharpen", {}),
                         ("unsharp_mask", {"radius": 6.0}), ("emboss", {}),
                         ("convolve", {"kernel": k5.tolist()}), ("sobel", {}),
                         ("prewitt", {}), ("laplacian", {}), ("canny", {"sigma": 3.0}),
                         ("add_noise", {})]:
        spec = get_op(name)
        t = timed(lambda spec=spec, params=params: run_op(
            spec, proxy, params, OpContext(preview_scale=ctx_scale)))
        print(f"{name:<16}{t * 1e3:8.1f}   {params}")

    # -- cancel latency at 12 MP: cancel 0.3 s in, time until Cancelled is raised
    print("\n== Cancel latency at 12 MP (cancel requested 0.3 s after start), ms")
    for name, params in [("bilateral", {"sigma_space": 5.0}), ("median", {"size": 31}),
                         ("canny", {"sigma": 3.0}), ("gaussian_blur", {"sigma": 60.0})]:
        ctx = OpContext()
        result = {}

        def work(name=name, params=params, ctx=ctx, result=result):
            try:
                run_op(get_op(name), rgb, params, ctx)
                result["end"] = time.perf_counter()
            except Cancelled:
                result["end"] = time.perf_counter()
                result["cancelled"] = True

        th = threading.Thread(target=work)
        th.start()
        time.sleep(0.3)
        t_cancel = time.perf_counter()
        ctx.cancel()
        th.join()
        lat = (result["end"] - t_cancel) * 1e3
        state = "cancelled" if result.get("cancelled") else "finished first"
        print(f"{name:<16}{lat:8.1f}   ({state}) {params}")


if __name__ == "__main__":
    main()
