"""Every ratio of the performance issue (12) in one run, each beside its reference.

Run: ``python benchmarks/bench_perf.py [--quick]``

Runs, one after the other in fresh interpreters (so one benchmark's threads and
caches do not bend the next one's figures), and prints their full tables:

- ``bench_ops_color.py``: colour, tone and histogram ops against OpenCV, Pillow,
  scikit-image and torch; point ops against a memory copy; 16-bit equalize and
  CLAHE against a 16-bit copy;
- ``bench_ops_filters.py``: filters and edges (Canny, median, Sobel, Prewitt,
  Laplacian, ...) against OpenCV, scipy, Pillow, scikit-image and torch;
- ``bench_ops_geometry.py``: resize, rotate and the other warps;
- ``bench_ops_frequency.py``: the FFT filters and the corner detectors
  (Shi-Tomasi, Harris, ...);
- ``bench_export.py``: PNG, JPEG and WebP export, ``convolve apply`` end to end
  against an OpenCV script, and the peak memory of ``apply`` on 100 MP.

Then a summary lists every row over its goal (op <= 1.0x the fastest library doing
the same thing, point op <= 3x a copy, ``apply`` <= 1.5x the OpenCV script, export <=
1.0x, PNG size within 5 %, 100 MP peak <= 3x the image). The machine is shared
by others at times: every benchmark times its candidates in interleaved rounds,
and a second run tells noise from a real difference. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

RATIO = re.compile(r"^(?P<label>\S.*?)\s{2,}.*?(?P<ratio>\d+\.\d+)x(?:\s|$)")


def goal_of(section: str, label: str) -> float | None:
    """The largest ratio a row of ``section`` may show, or None (informative only)."""
    s = section.lower()
    if "preview" in s or "cancel" in s:
        return None
    if "point ops vs a plain memory copy" in s or "16-bit" in s:
        if "16-bit" in s and not label.startswith(("equalize", "clahe")):
            return None
        return 3.0
    if "apply" in s and "end to end" in s:
        return 1.5
    if "peak memory" in s:
        return 3.0
    return 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no slow references")
    args = ap.parse_args()
    runs = [
        ["bench_ops_color.py", "--skip-slow"] + (["--repeats", "3"] if args.quick else []),
        ["bench_ops_filters.py"] + (["--quick"] if args.quick else []),
        ["bench_ops_geometry.py"],
        ["bench_ops_frequency.py", "--quick"],
        ["bench_export.py"] + (["--repeats", "3"] if args.quick else []),
    ]
    over: list[str] = []
    for script, *extra in runs:
        print(f"\n######## {script} {' '.join(extra)}", flush=True)
        proc = subprocess.Popen([sys.executable, str(HERE / script), *extra], cwd=HERE.parent,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        section = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith("=="):
                section = line.strip()
                continue
            m = RATIO.match(line.rstrip("\n"))
            if not m:
                continue
            label, ratio = m["label"].strip(), float(m["ratio"])
            if label == "PNG size":
                if abs(ratio - 1.0) > 0.05:
                    over.append(f"{script}: PNG size {ratio:.2f}x today's (goal within 5 %)")
                continue
            goal = goal_of(section, label)
            if goal is not None and ratio > goal:
                over.append(f"{script}: {label} {ratio:.2f}x (goal <= {goal:g}x) "
                            f"[{section.strip('= ')[:50]}]")
        proc.wait()
    print("\n######## summary: rows over their goal in this run")
    print("\n".join(over) if over else "none")


if __name__ == "__main__":
    main()
