"""Benchmarks for issue 2, printed as ratios against baselines measured in the same run.

1. Warm-cache wall time of `wheelmatrix validate numpy` over the 6-cell matrix
   (debian-11/12/13 x x86_64/aarch64) against a plain sequential loop of
   `docker run` + `python -m venv` + `pip install numpy` + `import numpy` per cell.
   Target: the matrix is >= 10x faster than the loop.
2. One warm cell (`wheelmatrix validate numpy` on debian-12/x86_64, the whole CLI process)
   against a bare `docker run IMAGE python3 -c pass`. Target: <= 2x the bare container.

Usage: python bench/bench_matrix.py [--repeat N] [--skip-loop]
Nothing is asserted: machines are noisy; read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runner.backends.docker import connect  # noqa: E402
from runner.backends.images import prepare  # noqa: E402
from runner.config.catalog import default_catalog_path, load_catalog  # noqa: E402
from runner.host import ca_bundle  # noqa: E402

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


def wheelmatrix(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner", "validate", "numpy", *args]


def loop_cell(image: str) -> list[str]:
    ca = ca_bundle()
    mount = ["-v", f"{ca}:/ca.crt:ro", "-e", "PIP_CERT=/ca.crt", "-e", "SSL_CERT_FILE=/ca.crt"] if ca else []
    script = (
        "python3 -m venv /tmp/v && /tmp/v/bin/pip install -q numpy && /tmp/v/bin/python -c 'import numpy'"
    )
    return ["docker", "run", "--rm", *mount, image, "sh", "-c", script]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5, help="repeats of the single-cell comparison")
    parser.add_argument("--skip-loop", action="store_true", help="skip the slow docker-run loop")
    args = parser.parse_args()

    catalog = load_catalog(default_catalog_path())
    client = connect()
    images = {(d, a): prepare(client, catalog.get(d), a, print) for d, a in CELLS}

    print("warming the runner's cache (first run downloads numpy once per Python/arch)...")
    timed(wheelmatrix(*MATRIX))
    runner_matrix = min(timed(wheelmatrix(*MATRIX)) for _ in range(2))
    print(f"runner, 6-cell matrix, warm cache:       {runner_matrix:8.2f} s")

    if not args.skip_loop:
        loop = 0.0
        for cell in CELLS:
            t = timed(loop_cell(images[cell]))
            print(f"  loop cell {cell[0]}/{cell[1]}: {t:.1f} s")
            loop += t
        print(f"sequential docker-run + venv + pip loop: {loop:8.2f} s")
        print(f"RATIO matrix: loop / runner = {loop / runner_matrix:.1f}x faster (target >= 10x)")

    one = ["--distro", "debian-12", "--arch", "x86_64"]
    timed(wheelmatrix(*one))
    cell = statistics.median(timed(wheelmatrix(*one)) for _ in range(args.repeat))
    bare = statistics.median(
        timed(["docker", "run", "--rm", images[("debian-12", "x86_64")], "python3", "-c", "pass"])
        for _ in range(args.repeat)
    )
    print(f"one warm cell (whole CLI):               {cell:8.2f} s (median of {args.repeat})")
    print(f"bare docker run python3 -c pass:         {bare:8.2f} s (median of {args.repeat})")
    print(f"RATIO one cell: runner / bare = {cell / bare:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
