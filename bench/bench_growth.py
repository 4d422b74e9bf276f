"""How the cost of a matrix grows (issue 19): the marginal cost of one more cell and of one more
companion, for `wheelmatrix validate` and for the naive loop (`docker run` + venv + pip + import,
one cell after the other), measured in the same run and printed side by side.

The candidate is a real compiled project's wheels (Pillow 11.0.0 for cp39/cp311/cp313 on x86_64
and aarch64, as bench_matrix.py uses); companions are popular packages left unpinned, so today's
releases are in the test. Warm images and caches: every configuration runs once before it is
timed.

  cells       1 (debian-12/x86_64), 2 (+ debian-12/aarch64), 6 (debian-11/12/13 x both arches),
              default scenarios, no companions
  companions  the 6 cells with 0, 5 and 10 companions (each also imported by the import
              scenario and loaded by the symbols scenario)

Each Debian release has one Python, so "3 Pythons where the distro has them" adds no cells here.
Usage: python bench/bench_growth.py [--companions N] [--skip-loop]
Nothing is asserted: machines are noisy; read the table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "runner"), str(REPO), str(REPO / "bench")]

from bench_matrix import DIST, download_wheels  # noqa: E402

from wheelmatrix.backends.docker.connection import connect  # noqa: E402
from wheelmatrix.backends.docker.images import prepare  # noqa: E402
from wheelmatrix.config.catalog import default_catalog_path, load_catalog  # noqa: E402
from wheelmatrix.host import ca_bundle, index_settings  # noqa: E402

POOL = (
    "six", "attrs", "idna", "charset-normalizer", "markupsafe",
    "pyyaml", "certifi", "msgpack", "wrapt", "frozenlist",
)  # fmt: skip
MODULES = {
    "charset-normalizer": "charset_normalizer",
    "markupsafe": "markupsafe",
    "pyyaml": "yaml",
}
ONE = [("debian-12", "x86_64")]
TWO = [*ONE, ("debian-12", "aarch64")]
SIX = [(d, a) for d in ("debian-11", "debian-12", "debian-13") for a in ("x86_64", "aarch64")]


def matrix_args(cells: list[tuple[str, str]]) -> list[str]:
    args: list[str] = []
    for d in dict.fromkeys(d for d, _a in cells):
        args += ["--distro", d]
    for a in dict.fromkeys(a for _d, a in cells):
        args += ["--arch", a]
    return args


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: a check failed, which is still a measured run
        said = f"{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{said}")
    return took


def wheelmatrix(wheels: list[Path], cells: list[tuple[str, str]], companions: tuple[str, ...]) -> float:
    cmd = [sys.executable, "-m", "wheelmatrix", "validate", *map(str, wheels), *matrix_args(cells)]
    for c in companions:
        cmd += ["--with", c]
    timed(cmd)  # warm
    return timed(cmd)


def loop_cell(image: str, companions: tuple[str, ...]) -> float:
    """The naive loop's cost for one cell: a fresh container, venv, pip install, imports."""
    modules = ["PIL", *(MODULES.get(c, c) for c in companions)]
    # the loop reaches the index as the cells do: this host's CA bundle, index and proxies
    env: list[str] = []
    bundle = ca_bundle()
    if bundle:
        env += [
            "-v",
            f"{bundle}:/wm-ca.pem:ro",
            "-e",
            "PIP_CERT=/wm-ca.pem",
            "-e",
            "SSL_CERT_FILE=/wm-ca.pem",
        ]
    index = index_settings()
    if index.index_url:
        env += ["-e", f"PIP_INDEX_URL={index.index_url}"]
    for key, value in index.proxy_env.items():
        env += ["-e", f"{key}={value}"]
    script = (
        "python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --find-links /dist pillow==11.0.0 "
        + " ".join(companions)
        + " && /tmp/v/bin/python -c '"
        + "; ".join(f"import {m}" for m in modules)
        + "'"
    )
    cmd = ["docker", "run", "--rm", "-v", f"{DIST}:/dist:ro", *env, image, "sh", "-c", script]
    return timed(cmd)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--companions", type=int, default=10, help="the most companions tried")
    parser.add_argument("--skip-loop", action="store_true", help="skip the naive loop")
    args = parser.parse_args()
    pool = POOL[: args.companions]
    catalog = load_catalog(default_catalog_path())
    client = connect().client
    images = {(d, a): prepare(client, catalog.get(d), a, print) for d, a in SIX}
    wheels = download_wheels()
    print(f"wheels: {', '.join(w.name for w in wheels)}")

    t = {n: wheelmatrix(wheels, cells, ()) for n, cells in ((1, ONE), (2, TWO), (6, SIX))}
    half = pool[: len(pool) // 2]
    c = {0: t[6], len(half): wheelmatrix(wheels, SIX, half), len(pool): wheelmatrix(wheels, SIX, pool)}
    print(f"{'wheelmatrix validate (default scenarios)':44} {'seconds':>8}")
    for n in (1, 2, 6):
        print(f"  {n} cell(s), no companions {'':17} {t[n]:8.1f}")
    for k, s in c.items():
        print(f"  6 cells, {k:2} companions {'':20} {s:8.1f}")
    per_cell = (t[6] - t[1]) / 5
    per_emulated = t[2] - t[1]
    per_companion = (c[len(pool)] - c[0]) / len(pool)
    print(
        f"marginal cost: one more cell {per_cell:.1f} s (average of 5; an emulated one {per_emulated:.1f} s)"
    )
    print(f"marginal cost: one more companion, over the 6 cells {per_companion:.1f} s")
    if args.skip_loop:
        return
    loop = {cell: loop_cell(images[cell], ()) for cell in SIX}
    loop_k = {cell: loop_cell(images[cell], pool) for cell in TWO}
    loop_per_cell = sum(loop.values()) / len(loop)
    # per companion per cell, from the two debian-12 cells, times the 6 cells
    loop_per_companion = sum(loop_k[c] - loop[c] for c in TWO) / len(TWO) / len(pool) * len(SIX)
    cells = ", ".join(f"{d}/{a} {s:.1f}" for (d, a), s in loop.items())
    print(f"naive loop: {sum(loop.values()):.1f} s for the 6 cells ({cells})")
    print(f"naive loop marginal cost: one more cell {loop_per_cell:.1f} s")
    print(f"naive loop marginal cost: one more companion, over the 6 cells {loop_per_companion:.1f} s")
    companion_ratio = loop_per_companion / per_companion if per_companion > 0 else float("inf")
    print(f"RATIO marginal cell: loop / wheelmatrix = {loop_per_cell / per_cell:.1f}x")
    print(f"RATIO marginal companion: loop / wheelmatrix = {companion_ratio:.1f}x")


if __name__ == "__main__":
    main()
