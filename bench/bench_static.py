"""Static scan of a large real wheel: `wheelmatrix scan` against `auditwheel show`, same file,
same run. Prints the time ratio and what each reports. Target: no slower than auditwheel
while reporting more.

Usage: python bench/bench_static.py [WHEEL] [--repeat N]
Without WHEEL, a pyarrow wheel (about 55 MB, 38 ELF files) is downloaded once. Needs auditwheel
(`pip install auditwheel`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "wheelmatrix-bench-static"


def download() -> Path:
    CACHE.mkdir(exist_ok=True)
    found = sorted(CACHE.glob("pyarrow-*.whl"))
    if not found:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--platform",
            "manylinux_2_28_x86_64",
            "pyarrow",
            "-d",
            str(CACHE),
        ]
        subprocess.run(cmd, check=True, capture_output=True)
        found = sorted(CACHE.glob("pyarrow-*.whl"))
    return found[-1]


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.stdout + proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("wheel", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    auditwheel = shutil.which("auditwheel")
    if auditwheel is None:
        raise SystemExit("auditwheel is not installed: pip install auditwheel")
    wheel = args.wheel or download()
    report = CACHE / "scan.json"
    ours_cmd = [sys.executable, "-m", "wheelmatrix", "scan", str(wheel), "--json", str(report)]
    theirs_cmd = [auditwheel, "show", str(wheel)]
    timed(ours_cmd), timed(theirs_cmd)  # warm the page cache for both
    ours = [timed(ours_cmd) for _ in range(args.repeat)]
    theirs = [timed(theirs_cmd) for _ in range(args.repeat)]
    t_ours = statistics.median(t for t, _ in ours)
    t_theirs = statistics.median(t for t, _ in theirs)

    print(f"wheel: {wheel.name} ({wheel.stat().st_size / 2**20:.0f} MiB)")
    print(f"wheelmatrix scan: {t_ours:6.2f} s (median of {args.repeat})")
    print(f"auditwheel show:  {t_theirs:6.2f} s (median of {args.repeat})")
    print(f"RATIO auditwheel / wheelmatrix = {t_theirs / t_ours:.2f}x (target >= 1.0: no slower)")

    text = " ".join(theirs[0][1].split())
    tag = re.search(r'constrains the platform tag to "([^"]+)"', text)
    print(
        "\nauditwheel reports: the wheel's tag is consistent; "
        f"minimum platform tag {tag.group(1) if tag else '?'}; the versioned libraries needed."
    )
    doc = json.loads(report.read_text())["static_scan"][0]
    files = doc["files"]
    exports = sum(f["exports"] for f in files)
    highest: dict[str, tuple[tuple[int, ...], str, str, str]] = {}
    for f in files:
        for label, symbols in f["requires"].items():
            ns, _, version = label.rpartition("_")
            key = tuple(int(x) for x in version.split("."))
            if ns in ("GLIBC", "GLIBCXX", "CXXABI") and (ns not in highest or key > highest[ns][0]):
                highest[ns] = (key, label, f["path"], (symbols or ["?"])[0])
    kinds = ", ".join(sorted({x["kind"] for x in doc["findings"]})) or "none"
    print(
        f"wheelmatrix reports: {len(files)} ELF files, {exports} exported dynamic symbols, "
        f"{len(doc['findings'])} findings ({kinds})"
    )
    for _key, label, path, symbol in highest.values():
        print(f"  highest {label}: needed by {symbol} in {path}")
    print(
        "  plus DT_NEEDED/RPATH/RUNPATH per file, per-cell predictions, "
        "and exported symbols for collision checks"
    )


if __name__ == "__main__":
    main()
