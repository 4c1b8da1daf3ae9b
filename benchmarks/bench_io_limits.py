"""One loader everywhere: what the limits cost and what they save.

Run: ``python benchmarks/bench_io_limits.py``

1. A 389 KB PNG that decodes to 400 MP used as ``match_histogram``'s reference,
   in a fresh interpreter: peak resident memory and time (issue 9 measured
   895 MB when the reference was decoded with ``cv2.imdecode``).
2. A classifier's image read (``teach.images.read_rgb``) of a 12 MP JPEG at
   224 px: the reduced DCT decode through the loader, beside a full decode,
   and beside Pillow's draft decode alone (the fast path the loader keeps).

Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from common import ROOT, photo_12mp, time_median

CHILD = """
import resource, sys, time
import numpy as np
from editor.core.context import OpError
from editor.ops import get_op, run_op
img = np.zeros((64, 64, 3), np.uint8)
t0 = time.perf_counter()
try:
    run_op(get_op("match_histogram"), img, {"reference": sys.argv[1]})
    outcome = "accepted"
except OpError as e:
    outcome = "refused: " + str(e)[:70] + "..."
dt = time.perf_counter() - t0
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} {outcome}")
"""


def bomb(path: Path, side: int = 20_000) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ref = bomb(tmp / "bomb.png")
        baseline = subprocess.run([sys.executable, "-c", CHILD.replace(
            'run_op(get_op("match_histogram"), img, {"reference": sys.argv[1]})', "pass"),
            str(ref)], capture_output=True, text=True, cwd=ROOT).stdout.split()
        out = subprocess.run([sys.executable, "-c", CHILD, str(ref)], capture_output=True,
                             text=True, cwd=ROOT).stdout.split(maxsplit=2)
        print("== match_histogram with a 389 KB, 400 MP reference (fresh interpreter)")
        print(f"file size {ref.stat().st_size / 1e3:.0f} KB")
        print(f"peak RSS  {out[1]} MB (interpreter with editor.ops loaded and nothing run: "
              f"{baseline[1]} MB; issue 9 before the fix: 895 MB)")
        print(f"time      {float(out[0]) * 1e3:.1f} ms; {out[2]}")

        from PIL import Image

        from editor.io import load_image
        from editor.teach.images import read_rgb

        jpg = tmp / "12mp.jpg"
        Image.fromarray(photo_12mp()).save(jpg, quality=90)

        def pillow_draft():
            with Image.open(jpg) as im:
                im.draft("RGB", (224, 224))
                im.load()

        rows = [("read_rgb(max_side=224) via the loader", lambda: read_rgb(jpg, 224), 5),
                ("Pillow draft decode alone (reference)", pillow_draft, 5),
                ("full decode (load_image)", lambda: load_image(jpg), 3)]
        print("\n== classifier image read, 12 MP JPEG -> 224 px")
        for label, fn, repeats in rows:
            print(f"{label:<40}{time_median(fn, repeats) * 1e3:7.1f} ms")

if __name__ == "__main__":
    main()
