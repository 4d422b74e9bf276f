"""Benchmark for issue 8: `wheelmatrix minimize` on a failing set of 16 packages of which 2
collide, against the naive search — every pair in both orders — measured in the same run.

The set: twelve real wheels from the index (numpy, pillow, pyyaml, markupsafe, charset-normalizer,
attrs, certifi, idna, six, packaging, urllib3, python-dateutil), two small pure fixture wheels,
and the test suite's RTLD_GLOBAL collision pair (wmcolla before wmcollb crashes), built here.
Cell: debian-12/x86_64 (warm image; the first run also fills the installer cache).

minimize: the real command, wall time and the cell runs it reports (its fresh confirmation
cell included). Naive: one cell with all 16 installed, importing every ordered pair (240 runs),
timed the same way — the cheapest form of the naive search (no install per pair).

Usage: python bench/bench_minimize.py
Nothing is asserted: read the numbers. Target: minimize under a quarter of the naive cost.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "runner"), str(REPO)]

REAL = [
    "numpy==2.2.6", "pillow==11.0.0", "pyyaml==6.0.2", "markupsafe==3.0.2", "charset-normalizer==3.4.0",
    "attrs==24.2.0", "certifi==2024.8.30", "idna==3.10", "six==1.16.0", "packaging==24.2",
    "urllib3==2.2.3", "python-dateutil==2.9.0.post0",
]  # fmt: skip
CELL = ["--distro", "debian-12", "--arch", "x86_64"]


def build(work: Path) -> list[str]:
    from tests.fixtures.wheels import build_all, write_wheel

    fixtures = build_all(work / "fixtures", arches=("x86_64",))
    pair = [str(w) for key in ("colla", "collb") for w in fixtures[key].wheels]
    fill = [
        str(
            write_wheel(
                work / "w", f"wmfill{i}", "1.0", "py3-none-any", {f"wmfill{i}/__init__.py": b""}, True
            )
        )
        for i in range(2)
    ]
    # colla in the first half, collb in the second: neither half alone fails
    return [*REAL[:5], fill[0], pair[0], *REAL[5:9], pair[1], fill[1], *REAL[9:]]


def minimize(items: list[str]) -> tuple[float, int]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "wheelmatrix", "minimize", *CELL, *items],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    took = time.monotonic() - started
    m = re.search(r"minimal set \((\d+) of (\d+), (\d+) cell runs", proc.stdout)
    if proc.returncode != 1 or m is None:
        raise SystemExit(
            f"minimize did not end as expected (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    print(proc.stdout.strip().splitlines()[-4])
    return took, int(m.group(3))


def naive(items: list[str]) -> tuple[float, int]:
    from wheelmatrix.backends.factory import connect
    from wheelmatrix.config.runfile import RunConfig
    from wheelmatrix.options import ARCHES  # noqa: F401  (keeps the CLI's import path warm)
    from wheelmatrix.service.live import LiveCell, import_argv, one_cell_config, single_cell

    config = one_cell_config(RunConfig().override(candidates=tuple(items)), "debian-12", "x86_64", None)
    plan, cell = single_cell(config)
    started = time.monotonic()
    runs = 0
    with LiveCell(plan, cell, connect(), log=lambda _m: None) as live:
        if not live.open():
            raise SystemExit(f"install failed: {live.install_failures}")
        projects = [p.project for p in cell.candidates if live.modules.get(p.project)]
        for a, b in itertools.permutations(projects, 2):
            live.run(import_argv([*live.modules[a], *live.modules[b]]))
            runs += 1
    return time.monotonic() - started, runs


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wm-bench-min-") as tmp:
        items = build(Path(tmp))
        print(f"set of {len(items)} packages; warming the installer cache with one minimize run")
        minimize(items)
        m_time, m_runs = minimize(items)
        n_time, n_runs = naive(items)
    print(f"minimize: {m_runs} cell runs, {m_time:.1f} s wall")
    print(f"naive (every pair, both orders): {n_runs} cell runs, {n_time:.1f} s wall")
    print(f"ratio: runs {m_runs / n_runs:.3f}, time {m_time / n_time:.3f} (target: under 0.25)")


if __name__ == "__main__":
    main()
