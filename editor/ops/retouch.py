"""Retouch: fill a masked area from its surroundings (heal, remove an object).

Three fills, each a plain function the brushes call and one registry op
(``inpaint``) the menus, the command line and recipes call:

- :func:`fill_telea` and :func:`fill_navier_stokes` are OpenCV's inpainting
  (Telea 2004, a fast-marching weighted average; Bertalmio et al. 2001, fluid
  dynamics). They diffuse the colours at the edge inwards: right for scratches,
  wires, dust and blemishes a few pixels wide, smooth and blurry on big holes.
- :func:`fill_exemplar` copies real texture from around the hole: the
  iterative completion of Wexler, Shechtman and Irani (2007) with Barnes et
  al.'s PatchMatch (2009) as the nearest-neighbour search, coarse to fine (the
  scheme behind *Content-Aware Fill*). Right for removing objects from grass,
  walls, water, foliage.

The mask is ``bool`` or ``float`` (``True`` / ``> 0`` = hole). Every pixel with
a mask value above zero is filled; soft edges are the caller's blend
(:func:`editor.ops.registry.run_op` does it under a selection). Pixels outside
the hole are returned bit-identical. All three work on the hole's bounding box
plus what they read around it, so a hole costs the same in a 12 MP photo as in
a small one.

Alpha is filled like a colour channel (the fill brings the alpha of what it
copies or diffuses), so removing an object from a cut-out leaves the
surroundings' transparency.
"""

from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.image import max_value
from editor.core.selection import bbox
from editor.ops.registry import Range, register_op

#: the one sentence for a missing or empty mask
NO_MASK = "Select the area to fill first."
#: ... and for a mask that leaves nothing to copy from
NO_SOURCE = "The selection covers the whole image: leave some of it unselected to fill from."


def _hole(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The hole as ``bool`` (every pixel with a mask value above zero)."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape[:2]):
        raise ValueError(f"mask shaped {mask.shape} for an image shaped {shape}")
    return mask if mask.dtype == bool else mask > 0


def _check(image: np.ndarray, hole: np.ndarray) -> tuple[int, int, int, int] | None:
    """The hole's box, ``None`` when it is empty; OpError when nothing is left to copy."""
    box = bbox(hole)
    if box == (0, hole.shape[0], 0, hole.shape[1]) and hole.all():
        raise OpError(NO_SOURCE)
    return box


def _cv_inpaint(image: np.ndarray, mask: np.ndarray | None, radius: float, flag: int,
                ctx: OpContext | None) -> np.ndarray:
    """``cv2.inpaint`` for any layout of ours, on the hole's box plus what it reads."""
    ctx = ctx or null_context()
    if mask is None:
        raise OpError(NO_MASK)
    hole = _hole(mask, image.shape)
    box = _check(image, hole)
    out = image.copy()
    if box is None:
        return out
    r = max(1, min(100, round(float(radius))))  # OpenCV's own clamp of the range
    # OpenCV reads up to 2r + 1 outside the hole (the band where it computes the
    # outward distance): a box grown by 2r + 4 gives the same bits as the whole image
    y0, y1, x0, x1 = bbox(hole, 2 * r + 4)
    src = image[y0:y1, x0:x1]
    m8 = hole[y0:y1, x0:x1].view(np.uint8)
    ctx.report(0.0, "Filling")
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] >= 3:
        # 8-bit colour in one call; alpha (if any) by itself, like a gray image
        res = [cv2.inpaint(np.ascontiguousarray(src[..., :3]), m8, r, flag)]
        res += [cv2.inpaint(np.ascontiguousarray(src[..., c]), m8, r, flag)[..., None]
                for c in range(3, src.shape[2])]
        filled = np.concatenate(res, axis=2) if len(res) > 1 else res[0]
    elif image.ndim == 2:
        filled = cv2.inpaint(np.ascontiguousarray(src), m8, r, flag)
    else:
        # OpenCV takes 16-bit only as one channel; its fill treats channels
        # independently in the same order, so channel by channel is the same fill
        filled = np.empty_like(src)
        for c in range(src.shape[2]):
            ctx.check()
            filled[..., c] = cv2.inpaint(np.ascontiguousarray(src[..., c]), m8, r, flag)
    out[y0:y1, x0:x1] = filled
    ctx.report(1.0, "Filled")
    return out


def fill_telea(image: np.ndarray, mask: np.ndarray, radius: float = 5,
               ctx: OpContext | None = None) -> np.ndarray:
    """Fill the hole by Telea's fast-marching inpainting (``cv2.INPAINT_TELEA``).

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)`` with C in 1..4, ``uint8`` or ``uint16``.
    mask : ndarray
        ``(H, W)`` bool or float; every pixel above zero is filled.
    radius : float
        How far (pixels) around each filled pixel known pixels are averaged.
    ctx : OpContext, optional
        Progress and cancel (16-bit colour checks between channels).

    Returns
    -------
    ndarray
        A new image; pixels outside the hole are unchanged. The same pixels as
        ``cv2.inpaint`` on the whole image.

    Raises
    ------
    OpError
        No mask, or a mask covering the whole image.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.tile(np.arange(0, 250, 25, dtype=np.uint8), (10, 1))
    >>> m = np.zeros((10, 10), bool); m[4:6, 4:6] = True
    >>> out = fill_telea(img, m, 3)
    >>> bool((out[~m] == img[~m]).all()), 75 <= int(out[5, 4]) <= 150
    (True, True)
    """
    return _cv_inpaint(image, mask, radius, cv2.INPAINT_TELEA, ctx)


def fill_navier_stokes(image: np.ndarray, mask: np.ndarray, radius: float = 5,
                       ctx: OpContext | None = None) -> np.ndarray:
    """Fill the hole by Navier–Stokes inpainting (``cv2.INPAINT_NS``).

    Continues the lines of equal brightness (isophotes) that meet the hole's
    edge into it, so straight edges through a thin hole stay straight.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)`` with C in 1..4, ``uint8`` or ``uint16``.
    mask : ndarray
        ``(H, W)`` bool or float; every pixel above zero is filled.
    radius : float
        Neighbourhood (pixels) the fill reads around each filled pixel.
    ctx : OpContext, optional
        Progress and cancel.

    Returns
    -------
    ndarray
        A new image; pixels outside the hole are unchanged. The same pixels as
        ``cv2.inpaint`` on the whole image.

    Raises
    ------
    OpError
        No mask, or a mask covering the whole image.
    """
    return _cv_inpaint(image, mask, radius, cv2.INPAINT_NS, ctx)


# -- exemplar fill -----------------------------------------------------------------

def fill_exemplar(image: np.ndarray, mask: np.ndarray, patch: int = 9,
                  ctx: OpContext | None = None, *, seed: int = 0,
                  context: float = 1.0) -> np.ndarray:
    """Fill the hole with texture copied from around it (PatchMatch completion).

    Each connected part of the hole is filled on its own box grown by
    ``context`` times its size on every side (plus two patches), so the cost
    depends on the hole, not on the photo. A box over two megapixels (a hole
    of some 800x800 pixels and more) is filled at half or quarter resolution
    and scaled up into the hole, which keeps memory and time bounded but
    makes the fill softer. In that box an image pyramid is built down to
    where the hole is about two patches wide; the coarsest hole starts as a
    Telea fill. On each level, from coarse to fine, a few
    expectation–maximisation steps (Wexler, Shechtman and Irani 2007)
    alternate:

    1. find for every patch touching the hole its most similar patch lying
       wholly outside it — a nearest-neighbour field found by PatchMatch
       (Barnes et al. 2009): on a finer level the coarser field doubled and
       voted once, then propagation from neighbours (jumps of 4, 2 and 1
       pixels, every target at once) and random search in windows shrinking
       fourfold. Patches are compared by the squared distance of their
       lowest 2-D DCT frequencies (ten of luminance, three of each colour
       difference), so every comparison is a 16-number vector;
    2. set every hole pixel to the average of what the patches covering it
       propose, weighted by their similarity ``exp(-d / 2σ²)`` (σ² the 75th
       percentile of the distances) times a confidence ``2^-depth`` of the
       patch centre's depth into the hole, so matches anchored at the hole's
       edge lead.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)``, ``uint8`` or ``uint16``.
    mask : ndarray
        ``(H, W)`` bool or float; every pixel above zero is filled.
    patch : int
        Patch side in pixels (odd; an even value is rounded up). Larger
        patches keep larger structures together; 7–11 suits photos.
    ctx : OpContext, optional
        Progress after every step and cancel between them.
    seed : int
        Seed of the random search: the same seed gives the same pixels.
    context : float
        How far around each part of the hole it looks for texture, in hole
        sizes on each side.

    Returns
    -------
    ndarray
        A new image; pixels outside the hole are unchanged.

    Raises
    ------
    OpError
        No mask, or a mask covering the whole image.
    editor.core.context.Cancelled
        ``ctx`` was cancelled.

    Examples
    --------
    >>> import numpy as np
    >>> tile = np.random.default_rng(0).integers(0, 255, (8, 8, 3)).astype(np.uint8)
    >>> img = np.tile(tile, (12, 12, 1))
    >>> m = np.zeros(img.shape[:2], bool); m[40:52, 40:52] = True
    >>> out = fill_exemplar(img, m, patch=7)
    >>> bool((out[~m] == img[~m]).all())
    True
    """
    ctx = ctx or null_context()
    if mask is None:
        raise OpError(NO_MASK)
    hole = _hole(mask, image.shape)
    box = _check(image, hole)
    out = image.copy()
    if box is None:
        return out
    p = int(patch) | 1
    top = float(max_value(image.dtype))
    y0, y1, x0, x1 = box
    # parts of the hole closer than a patch are one part (they share patches)
    near = cv2.dilate(hole[y0:y1, x0:x1].view(np.uint8), np.ones((p, p), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
    parts = sorted(range(1, n), key=lambda i: -int(stats[i, cv2.CC_STAT_AREA]))
    weights = np.array([float(stats[i, cv2.CC_STAT_AREA]) for i in parts])
    spans = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    rng = np.random.default_rng(seed)
    h, w = hole.shape
    for k, i in enumerate(parts):
        ctx.check()
        px, py, pw, ph = (int(v) for v in stats[i, :4])
        grow = int(np.ceil(context * max(pw, ph))) + 2 * p
        ry0, ry1 = max(0, y0 + py - grow), min(h, y0 + py + ph + grow)
        rx0, rx1 = max(0, x0 + px - grow), min(w, x0 + px + pw + grow)
        part = np.zeros((ry1 - ry0, rx1 - rx0), bool)
        sel = labels[py:py + ph, px:px + pw] == i
        part[y0 + py - ry0:y0 + py + ph - ry0, x0 + px - rx0:x0 + px + pw - rx0] = sel
        part &= hole[ry0:ry1, rx0:rx1]
        region = out[ry0:ry1, rx0:rx1]
        src = region.reshape(region.shape[0], region.shape[1], -1).astype(np.float32) / top
        known = ~hole[ry0:ry1, rx0:rx1]
        shrink = 0
        while src.shape[0] * src.shape[1] > _MAX_REGION * 4 ** shrink:
            shrink += 1
        if shrink:
            # a huge hole: fill at a lower resolution (memory and time stay bounded;
            # the fill is softer) and scale the result up into the hole
            small, sh, sk = src, part, known
            for _ in range(shrink):
                small, sh, sk = _down(small, sh, sk)
            done = _complete(small, sh, sk, p, rng, ctx, spans[k], spans[k + 1])
            done = cv2.resize(done, (src.shape[1], src.shape[0]), interpolation=cv2.INTER_LINEAR)
            done = done.reshape(src.shape)
        else:
            done = _complete(src, part, known, p, rng, ctx, spans[k], spans[k + 1])
        vals = np.clip(np.rint(done[part] * top), 0, top).astype(image.dtype)
        view = out[ry0:ry1, rx0:rx1]
        if image.ndim == 2:
            view[part] = vals[:, 0]
        else:
            view[part] = vals
    ctx.report(1.0, "Filled")
    return out


#: the most pixels a hole's working box may have at full resolution (about 16 bytes a
#: pixel of patch features per level): larger boxes are filled at half, quarter... size
_MAX_REGION = 2_000_000


def _down(img: np.ndarray, hole: np.ndarray, known: np.ndarray):
    """One pyramid level down: half size, a pixel is a hole if any of its pixels is."""
    h, w = hole.shape
    size = ((w + 1) // 2, (h + 1) // 2)
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    if small.ndim == 2:
        small = small[..., None]
    sh = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    sk = cv2.resize(known.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 1
    return small, sh, sk & ~sh


def _complete(img: np.ndarray, hole: np.ndarray, known: np.ndarray, p: int,
              rng: np.random.Generator, ctx: OpContext, f0: float, f1: float) -> np.ndarray:
    """Fill ``hole`` in the float image ``img`` (H, W, C) from patches within ``known``."""
    r = p // 2
    levels = [(img, hole, known)]
    while True:
        a, hh, kk = levels[-1]
        ys, xs = np.nonzero(hh)
        extent = max(np.ptp(ys) + 1, np.ptp(xs) + 1)
        if extent <= 2 * p or min(hh.shape) < 6 * p:
            break
        nxt = _down(a, hh, kk)
        if _sources(nxt[2], r).sum() < 4 * p * p:
            break
        levels.append(nxt)
    if _sources(known, r).sum() == 0:
        # no whole patch outside the hole (a tiny image or a hole everywhere): diffuse
        return _telea_float(img, hole)
    n = len(levels)
    # effort per level ~ its pixels x iterations; spread the progress accordingly
    # six EM steps on the finest levels, eight on the coarse ones (cheap): fewer
    # leave the fill noticeably worse on bench_fill.py (mean SSIM 0.41 at two)
    iters = [6 if lv < 2 else 8 for lv in range(n)]
    cost = np.array([levels[lv][1].sum() * iters[lv] for lv in range(n)], float) + 1.0
    marks = f0 + (f1 - f0) * np.concatenate([[0.0], np.cumsum(cost[::-1]) / cost.sum()])
    prev = None
    for step, lv in enumerate(range(n - 1, -1, -1)):
        a, hh, kk = levels[lv]
        a = a.copy()
        if prev is None:
            a[hh] = _telea_float(a, hh)[hh]
            state = None
        else:
            up = cv2.resize(prev[0], (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)
            up = up.reshape(a.shape)
            a[hh] = up[hh]
            state = prev[1]
        level = _Level(a, hh, kk, p, rng)
        level.init_field(state)
        for it in range(iters[lv]):
            ctx.report(marks[step] + (marks[step + 1] - marks[step]) * it / iters[lv],
                       "Filling")
            level.search()
            level.vote()
        prev = (level.img, level)
    return prev[0]


def _sources(known: np.ndarray, r: int) -> np.ndarray:
    """Centres of the patches lying wholly in ``known`` (and in the image)."""
    k = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    ok = cv2.erode(known.view(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return ok


def _telea_float(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Telea fill of a float image in [0, 1], channel by channel (the starting guess).

    Through 16 bits: OpenCV's float32 inpainting returns garbage (values far outside
    the input's range) where the surroundings are flat.
    """
    m8 = hole.view(np.uint8)
    q = np.rint(np.clip(img, 0.0, 1.0) * 65535.0).astype(np.uint16)
    out = np.dstack([cv2.inpaint(np.ascontiguousarray(q[..., c]), m8, 3, cv2.INPAINT_TELEA)
                     for c in range(img.shape[2])])
    return out.astype(np.float32) * np.float32(1.0 / 65535.0)


#: base of the vote's confidence falloff with depth into the hole (Wexler et al. use 1.3;
#: 2 scored better on bench_fill.py: the edge's structure carries further in)
_CONF = 2.0


class _Level:
    """One pyramid level of the completion: the image, its field and the search."""

    def __init__(self, img: np.ndarray, hole: np.ndarray, known: np.ndarray, p: int,
                 rng: np.random.Generator) -> None:
        self.img, self.hole, self.p, self.r, self.rng = img, hole, p, p // 2, rng
        h, w, c = img.shape
        self.h, self.w, self.c = h, w, c
        r = self.r
        self.valid = _sources(known, r)
        self.valid_idx = np.flatnonzero(self.valid).astype(np.int32)
        # targets: every patch centre whose patch touches the hole, kept inside the image
        touch = cv2.dilate(hole.view(np.uint8), np.ones((p, p), np.uint8)) > 0
        inner = np.zeros_like(touch)
        inner[r:h - r, r:w - r] = True
        ty, tx = np.nonzero(touch & inner)
        self.ty, self.tx = ty.astype(np.int32), tx.astype(np.int32)
        self.pos = np.full((h, w), -1, np.int32)
        self.pos[ty, tx] = np.arange(ty.size, dtype=np.int32)
        self.valid_flat = self.valid.reshape(-1)
        self._nb = None
        self.hy, self.hx = np.nonzero(hole)
        # Wexler et al.'s confidence: a patch centred deep in the hole is mostly guess,
        # one near its edge mostly known; votes weigh 1.3^-distance (edge patches lead)
        depth = cv2.distanceTransform(hole.view(np.uint8), cv2.DIST_L2, 3)
        # (capped: beyond 40 px deep all patches are equally unsure, and float32 keeps
        # the products of both weights well above its smallest number)
        self.conf = np.power(_CONF, -np.minimum(depth[ty, tx], 40.0)).astype(np.float32)
        self._fit_features()
        self.src_feat = self._features(img).reshape(h * w, -1)

    # -- patch features --------------------------------------------------------
    def _fit_features(self) -> None:
        """Separable kernels projecting a patch on its lowest 2-D DCT frequencies.

        Colour is first turned into an orthonormal opponent basis (luminance,
        two colour differences); luminance keeps ten frequencies, each other
        channel three. With orthonormal bases the distance between two
        projections is the patch distance (SSD) restricted to those
        frequencies, where most of a photo's patch energy lies (the DCT is
        close to the principal components of natural-image patches). A fixed
        basis costs no eigen-decomposition and filters separably.
        """
        p, c = self.p, self.c
        n = np.arange(p)
        basis = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * p))
        basis[0] /= np.sqrt(2.0)
        basis *= np.sqrt(2.0 / p)
        self.basis = basis.astype(np.float32)
        luma = [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1), (0, 3), (3, 0)]
        chroma = [(0, 0), (0, 1), (1, 0)]
        if c >= 3:
            mix = np.eye(c, dtype=np.float32)
            mix[:3, :3] = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], np.float32) / \
                np.sqrt(np.array([[3], [2], [6]], np.float32))
        else:
            mix = np.eye(c, dtype=np.float32)
        self.mix = mix
        freqs = [luma + ([(2, 2), (1, 3), (3, 1)] if c < 3 else [])] + [chroma] * (c - 1)
        self.bank = [(ch, ky, kx) for ch, fs in enumerate(freqs) for ky, kx in fs
                     if ky < p and kx < p]

    def _features(self, img: np.ndarray) -> np.ndarray:
        """(H, W, K) projections of the patch around every pixel."""
        h, w, c = img.shape
        # cv2.transform, not a BLAS matmul: OpenBLAS threads stall on a busy machine
        opp = cv2.transform(img, self.mix).reshape(h, w, c) if c > 1 else img
        out = np.empty((h, w, len(self.bank)), np.float32)
        for j, (ch, ky, kx) in enumerate(self.bank):
            out[..., j] = cv2.sepFilter2D(np.ascontiguousarray(opp[..., ch]), cv2.CV_32F,
                                          self.basis[kx], self.basis[ky],
                                          borderType=cv2.BORDER_REFLECT)
        return out

    def _target_features(self) -> np.ndarray:
        """(N, K) features of the target patches from the current image."""
        r = self.r
        y0, y1 = max(0, int(self.ty.min()) - r), min(self.h, int(self.ty.max()) + r + 1)
        x0, x1 = max(0, int(self.tx.min()) - r), min(self.w, int(self.tx.max()) + r + 1)
        f = self._features(np.ascontiguousarray(self.img[y0:y1, x0:x1]))
        return f[self.ty - y0, self.tx - x0]

    # -- the nearest-neighbour field ---------------------------------------------
    # Sources are flat indices ``y * w + x`` into the level; a candidate is an index
    # plus ``dy * w + dx``. One that runs off a row's end lands on another row: a
    # different but real patch, judged like any other, so no per-axis bounds.
    def _dist(self, src: np.ndarray) -> np.ndarray:
        d = self.tfeat - self.src_feat[src]
        return np.einsum("ij,ij->i", d, d)

    def _try(self, cand: np.ndarray) -> None:
        """Keep, for every target, its candidate source if it is valid and closer."""
        ok = (cand >= 0) & (cand < self.valid_flat.size)
        np.copyto(cand, self.nnf, where=~ok)
        ok = self.valid_flat[cand]
        np.copyto(cand, self.nnf, where=~ok)  # a target's own source: not closer
        d = self._dist(cand)
        better = d < self.d
        np.copyto(self.nnf, cand, where=better)
        np.copyto(self.d, d, where=better)

    def init_field(self, coarse: _Level | None) -> None:
        """Random sources; on a finer level the coarser level's field doubled, voted once.

        The doubled field is taken as it is and voted before any search: it
        copies real texture at this level's resolution into the hole. Judged
        against the upsampled (blurry) guess instead, flat source patches would
        win and the fill would stay flat.
        """
        n = self.ty.size
        self.nnf = self.rng.choice(self.valid_idx, n).astype(np.int64)
        if coarse is None:
            self.tfeat = self._target_features()
            self.d = self._dist(self.nnf)
            return
        cy = np.minimum(self.ty // 2, coarse.h - 1)
        cx = np.minimum(self.tx // 2, coarse.w - 1)
        j = coarse.pos[cy, cx]
        has = np.flatnonzero(j >= 0)
        sy, sx = np.divmod(coarse.nnf[j[has]], coarse.w)
        for parity in (True, False):  # the matching child, else the even one
            y = 2 * sy + (self.ty[has] & 1 if parity else 0)
            x = 2 * sx + (self.tx[has] & 1 if parity else 0)
            ok = (y < self.h) & (x < self.w)
            idx = np.where(ok, y * self.w + x, 0)
            ok &= self.valid.reshape(-1)[idx]
            self.nnf[has[ok]] = idx[ok]
            has, sy, sx = has[~ok], sy[~ok], sx[~ok]
        self.d = np.zeros(n, np.float32)  # equal weights for this first vote
        self.vote()

    def _neighbours(self) -> list[tuple[np.ndarray, int]]:
        """For propagation: per step ``(dy, dx)``, each target's neighbour at ``-step``
        (its position in the target list, or itself where there is none) and the
        flat offset ``dy * w + dx`` to add to that neighbour's source."""
        if self._nb is None:
            self._nb = []
            own = np.arange(self.ty.size)
            for jump in (4, 2, 1):
                for dy, dx in ((0, jump), (jump, 0), (0, -jump), (-jump, 0)):
                    ny, nx = self.ty - dy, self.tx - dx
                    inside = (ny >= 0) & (ny < self.h) & (nx >= 0) & (nx < self.w)
                    j = np.where(inside, self.pos[np.clip(ny, 0, self.h - 1),
                                                  np.clip(nx, 0, self.w - 1)], -1)
                    self._nb.append((np.where(j >= 0, j, own), dy * self.w + dx, j < 0))
        return self._nb

    def search(self) -> None:
        """One PatchMatch pass: propagation at halving jumps, then random search."""
        self.tfeat = self._target_features()
        self.d = self._dist(self.nnf)
        for j, off, none in self._neighbours():
            cand = self.nnf[j] + off
            cand[none] = -1
            self._try(cand)
        radius = max(self.h, self.w)
        while radius >= 1:
            oy, ox = self.rng.integers(-radius, radius + 1, size=(2, self.nnf.size))
            self._try(self.nnf + oy * self.w + ox)
            radius //= 4
        # and one anywhere: texture far from the current match
        self._try(self.rng.choice(self.valid_idx, self.nnf.size).astype(np.int64))

    def vote(self) -> None:
        """Every hole pixel := the weighted mean of what the patches over it propose."""
        r, c = self.r, self.c
        # Wexler et al.: similarity exp(-d / 2σ²), σ² the 75th percentile of the distances
        sigma2 = float(np.percentile(self.d, 75)) + 1e-6
        wt = np.exp(-np.minimum(self.d / (2.0 * sigma2), 30.0)).astype(np.float32) * self.conf
        # the field as maps over the targets' box; cv2.remap gathers a whole offset
        # in one call, and each offset's votes land on a shifted slice (no scatter)
        by0, bx0 = int(self.ty.min()), int(self.tx.min())
        bh, bw = int(self.ty.max()) + 1 - by0, int(self.tx.max()) + 1 - bx0
        ly, lx = self.ty - by0, self.tx - bx0
        sy, sx = np.divmod(self.nnf, self.w)
        mapy = np.zeros((bh, bw), np.float32)
        mapx = np.zeros((bh, bw), np.float32)
        wmap = np.zeros((bh, bw), np.float32)
        mapy[ly, lx], mapx[ly, lx], wmap[ly, lx] = sy, sx, wt
        acc = np.zeros((bh + 2 * r, bw + 2 * r, c), np.float32)
        tot = np.zeros((bh + 2 * r, bw + 2 * r), np.float32)
        w3 = wmap[..., None]
        for oy in range(-r, r + 1):
            my = mapy + np.float32(oy)
            for ox in range(-r, r + 1):
                got = cv2.remap(self.img, mapx + np.float32(ox), my, cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT)
                got = got.reshape(bh, bw, c)
                acc[r + oy:r + oy + bh, r + ox:r + ox + bw] += w3 * got
                tot[r + oy:r + oy + bh, r + ox:r + ox + bw] += wmap
        qy, qx = self.hy - by0 + r, self.hx - bx0 + r
        self.img[self.hy, self.hx] = acc[qy, qx] / np.maximum(tot[qy, qx], 1e-37)[:, None]


# -- the registry op -----------------------------------------------------------------

_FILLS = {"telea": fill_telea, "navier_stokes": fill_navier_stokes}


@register_op("inpaint", title="Remove / fill selection", category="Retouch", alpha="process",
             heavy=True, uses_mask=True)
def inpaint(
    image: np.ndarray, *,
    method: Literal["exemplar", "telea", "navier_stokes"] = "exemplar",
    radius: Annotated[int, Range(1, 50, ui=(1, 20), unit="px")] = 5,
    patch: Annotated[int, Range(5, 31, ui=(5, 21), unit="px", step=2)] = 9,
    mask: np.ndarray | None = None,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Fill the selection from its surroundings (heal, remove an object).

    Everything selected (any mask value above zero) is replaced; a feathered
    selection's edge blends the fill with the original. Alpha is filled like
    the colours. Runs on the selection's box plus what the fill reads around
    it, so the cost depends on the selection, not on the photo.

    Parameters
    ----------
    method : {"exemplar", "telea", "navier_stokes"}
        ``exemplar`` copies texture from around the hole (PatchMatch, coarse to
        fine): best for removing objects from grass, walls, water, foliage.
        ``telea`` (fast-marching average) and ``navier_stokes`` (continues
        edges into the hole) diffuse the edge colours inwards: quick and right
        for scratches, wires, dust and blemishes a few pixels wide, blurry on
        large areas.
    radius : int
        Telea and Navier–Stokes: neighbourhood read around each filled pixel.
    patch : int
        Exemplar: side of the patches compared and copied (odd). Larger keeps
        larger structures together.

    Returns
    -------
    ndarray
        Same shape and dtype; pixels outside the selection unchanged.

    Raises
    ------
    OpError
        No selection (or an empty one), or one covering the whole image.
    """
    if mask is None or not np.any(mask > 0):
        raise OpError(NO_MASK)
    if method == "exemplar":
        return fill_exemplar(image, mask, patch, ctx)
    return _FILLS[method](image, mask, radius, ctx)
