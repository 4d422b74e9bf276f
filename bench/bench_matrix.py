"""Benchmarks for issues 2 and 9, printed as ratios against baselines measured in the same run.

The wheels under test are a real compiled project's wheels, downloaded once (default Pillow
11.0.0, `--project pyyaml==6.0.2 --module yaml` for the issue-2 numbers: cp39, cp311 and cp313
wheels for x86_64 and aarch64, like a dist/ folder), so that both sides install the same files
and neither depends on the index's latency.

1. Warm-cache wall time of `wheelmatrix validate dist/*.whl` over the 6-cell matrix
   (debian-11/12/13 x x86_64/aarch64, default scenarios: import + symbols in one container
   per cell) against a plain sequential loop of `docker run` + `python -m venv` + `pip install`
   (the matching wheel, from the same folder) + import per cell. Target: >= 25x (issue 9).
2. One warm cell (debian-12/x86_64, the whole CLI process, default scenarios) against a bare
   `docker run IMAGE python3 -c pass`. Target: <= 2x the bare container.
3. The same cell emulated (debian-12/aarch64 under QEMU) against native, with the default
   scenarios (and with the import scenario alone). Target: <= 2x.

Usage: python bench/bench_matrix.py [--repeat N] [--skip-loop] [--project P==V --module M]
Nothing is asserted: machines are noisy; read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "runner"), str(REPO)]

from wheelmatrix.backends.docker.connection import connect  # noqa: E402
from wheelmatrix.backends.docker.images import prepare  # noqa: E402
from wheelmatrix.config.catalog import default_catalog_path, load_catalog  # noqa: E402

CELLS = [(d, a) for d in ("debian-11", "debian-12", "debian-13") for a in ("x86_64", "aarch64")]
MATRIX = [x for d in ("debian-11", "debian-12", "debian-13") for x in ("--distro", d)]
MATRIX += ["--arch", "x86_64", "--arch", "aarch64"]


def timed(cmd: list[str], check: bool = True) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise SystemExit(
            f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return elapsed


PROJECT, VERSION, MODULE = "pillow", "11.0.0", "PIL"
DIST = Path(tempfile.gettempdir()) / "wheelmatrix-bench-dist"


def download_wheels() -> list[Path]:
    """One wheel per (Python, arch) of the matrix, like a project's dist/ folder."""
    DIST.mkdir(exist_ok=True)
    for stale in DIST.glob("*.whl"):
        if not stale.name.lower().startswith(f"{PROJECT}-{VERSION}-".lower()):
            stale.unlink()
    for py in ("3.9", "3.11", "3.13"):
        for plat in ("manylinux_2_28_x86_64", "manylinux_2_28_aarch64"):
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                py,
                "--platform",
                plat,
                "-d",
                str(DIST),
                f"{PROJECT}=={VERSION}",
            ]
            subprocess.run(cmd, check=True, capture_output=True)
    return sorted(DIST.glob("*.whl"))


def wheelmatrix(wheels: list[Path], *args: str) -> list[str]:
    return [sys.executable, "-m", "wheelmatrix", "validate", *map(str, wheels), *args]


def loop_cell(image: str) -> list[str]:
    script = (
        f"python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --no-index --find-links /dist "
        f"{PROJECT}=={VERSION} && /tmp/v/bin/python -c 'import {MODULE}'"
    )
    return ["docker", "run", "--rm", "-v", f"{DIST}:/dist:ro", image, "sh", "-c", script]


def main() -> None:
    global PROJECT, VERSION, MODULE
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5, help="repeats of the single-cell comparison")
    parser.add_argument("--skip-loop", action="store_true", help="skip the slow docker-run loop")
    parser.add_argument("--project", default=f"{PROJECT}=={VERSION}", help="the wheels' project==version")
    parser.add_argument("--module", default=MODULE, help="the module the loop imports")
    args = parser.parse_args()
    PROJECT, VERSION = args.project.split("==")
    MODULE = args.module

    catalog = load_catalog(default_catalog_path())
    client = connect().client
    images = {(d, a): prepare(client, catalog.get(d), a, print) for d, a in CELLS}

    wheels = download_wheels()
    print(f"wheels: {', '.join(w.name for w in wheels)}")
    timed(wheelmatrix(wheels, *MATRIX))  # warm-up
    runner_matrix = min(timed(wheelmatrix(wheels, *MATRIX)) for _ in range(2))
    print(f"runner, 6-cell matrix, warm cache:       {runner_matrix:8.2f} s")

    if not args.skip_loop:
        loop = 0.0
        for cell in CELLS:
            t = timed(loop_cell(images[cell]))
            print(f"  loop cell {cell[0]}/{cell[1]}: {t:.1f} s")
            loop += t
        print(f"sequential docker-run + venv + pip loop: {loop:8.2f} s")
        print(f"RATIO matrix: loop / runner = {loop / runner_matrix:.1f}x faster (target >= 25x)")

    one = ["--distro", "debian-12", "--arch", "x86_64"]
    timed(wheelmatrix(wheels, *one))
    cell = statistics.median(timed(wheelmatrix(wheels, *one)) for _ in range(args.repeat))
    bare = statistics.median(
        timed(["docker", "run", "--rm", images[("debian-12", "x86_64")], "python3", "-c", "pass"])
        for _ in range(args.repeat)
    )
    print(f"one warm cell (whole CLI):               {cell:8.2f} s (median of {args.repeat})")
    print(f"bare docker run python3 -c pass:         {bare:8.2f} s (median of {args.repeat})")
    print(f"RATIO one cell: runner / bare = {cell / bare:.2f}x (target <= 2x)")

    for label, scenarios in (("default scenarios", []), ("import only", ["--scenario", "import"])):
        native_args = ["--distro", "debian-12", "--arch", "x86_64", *scenarios]
        emulated_args = ["--distro", "debian-12", "--arch", "aarch64", *scenarios]
        timed(wheelmatrix(wheels, *emulated_args))
        native = statistics.median(timed(wheelmatrix(wheels, *native_args)) for _ in range(args.repeat))
        emulated = statistics.median(timed(wheelmatrix(wheels, *emulated_args)) for _ in range(args.repeat))
        print(f"one cell native (x86_64), {label}: {native:8.2f} s (median of {args.repeat})")
        print(f"one cell emulated (aarch64), {label}: {emulated:8.2f} s (median of {args.repeat})")
        print(f"RATIO emulated / native, {label} = {emulated / native:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
