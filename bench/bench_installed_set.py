"""Benchmark for issue 7: the installed-set analyses (files written by two distributions,
same-named bundled libraries) on a real environment of about 50 distributions.

The environment: `pip install --target` of jupyterlab, pandas, scipy, matplotlib and
scikit-learn (real wheels from the index; about 80 distributions with numpy's, scipy's and
matplotlib's bundled libraries), created once under ~/.cache/wheelmatrix/bench-site.
Each measurement runs the probe's own function (`installed_set`, the code that runs in every
cell) in a fresh interpreter, like the probe does; printed against a same-run baseline that only
reads every RECORD file, and against the target (0.5 s per cell).

Usage: python bench/bench_installed_set.py [--repeat N]
Nothing is asserted: read the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 0.5
PACKAGES = ["jupyterlab", "pandas", "scipy", "matplotlib", "scikit-learn"]

ANALYSIS = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
t0 = time.perf_counter()
import wm_probe
got = wm_probe.installed_set([sys.argv[1]])
print(json.dumps({"seconds": time.perf_counter() - t0, "overlaps": got["overlap_count"],
                  "same_libs": len(got["same_libs"])}))
"""

BASELINE = r"""
import json, os, sys, time
t0 = time.perf_counter()
n = 0
for entry in os.listdir(sys.argv[1]):
    if entry.endswith(".dist-info"):
        with open(os.path.join(sys.argv[1], entry, "RECORD"), encoding="utf-8") as fh:
            n += sum(1 for _ in fh)
print(json.dumps({"seconds": time.perf_counter() - t0, "records": n}))
"""


def site() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wheelmatrix" / "bench-site"
    if not list(base.glob("*.dist-info")):
        base.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--only-binary=:all:", "--target", str(base)]
            + PACKAGES,
            check=True,
        )
    return base


def run(script: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-I", "-c", script, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    doc: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    where = site()
    dists = len(list(where.glob("*.dist-info")))
    probe_dir = str(REPO / "runner" / "wheelmatrix" / "probe")
    analysis = [run(ANALYSIS, str(where), probe_dir) for _ in range(args.repeat)]
    baseline = [run(BASELINE, str(where)) for _ in range(args.repeat)]
    a = statistics.median(r["seconds"] for r in analysis)
    b = statistics.median(r["seconds"] for r in baseline)
    print(f"environment: {dists} distributions, {int(baseline[0]['records'])} RECORD lines ({where})")
    print(
        f"  found: {int(analysis[0]['overlaps'])} overlapping paths, "
        f"{int(analysis[0]['same_libs'])} same-named libs"
    )
    print(f"  installed_set (per cell)   {a * 1000:7.1f} ms")
    print(f"  read every RECORD only     {b * 1000:7.1f} ms   (baseline)")
    print(f"RATIO vs baseline: {a / b:.1f}x; vs the 0.5 s target: {a / TARGET_S:.2f}x")


if __name__ == "__main__":
    main()
