"""Benchmark for issue 10: the musl cell.

1. Building the musl image from nothing: the musl-python recipe with an empty source cache
   (downloads included), cross-compiling musl's userland + CPython 3.11 on the host, then the
   import into the engine; per arch (x86_64 native gcc, aarch64 cross gcc: no QEMU).
2. A warm musl cell against a warm Debian cell of the same wheels: `wheelmatrix validate`
   numpy==2.2.6 and pillow==11.0.0, import scenario, x86_64, each run once to warm images and
   the installer cache, then timed over three runs (median).

Usage: python bench/bench_musl.py [--skip-build]
Nothing is asserted: read the numbers (the ratios are against Debian measured in the same run).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "runner"), str(REPO)]

WHEELS = ["numpy==2.2.6", "pillow==11.0.0"]


def build_from_nothing(arch: str) -> tuple[float, float]:
    """(seconds to build the root file system tarball, seconds to import it), fresh caches."""
    import docker

    from wheelmatrix.backends.docker.images import _import_tarball
    from wheelmatrix.backends.recipes import musl
    from wheelmatrix.config.catalog import load_catalogs

    distro = load_catalogs(None).get("musl-1.2.5")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["WHEELMATRIX_CACHE"] = cache
        try:
            tar = Path(cache) / "rootfs.tar"
            start = time.monotonic()
            musl.build(arch, distro.python, tar, lambda m: None)
            built = time.monotonic() - start
            client = docker.from_env(timeout=900)
            start = time.monotonic()
            tag = f"wheelmatrix-bench/musl:{arch}"
            _import_tarball(client, distro, arch, tar, tag, {}, lambda m: None)
            imported = time.monotonic() - start
            client.images.remove(tag, force=True)
        finally:
            del os.environ["WHEELMATRIX_CACHE"]
    return built, imported


def validate(distro: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "wheelmatrix",
            "validate",
            *WHEELS,
            "--distro",
            distro,
            "--arch",
            "x86_64",
        ]
        cmd += ["--scenario", "import", "--runs-dir", tmp, "--json", f"{tmp}/r.json"]
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        took = time.monotonic() - start
        if proc.returncode != 0:
            raise SystemExit(f"{distro}: validate failed\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return took


def main() -> None:
    print(f"host: {os.cpu_count()} cores")
    if "--skip-build" not in sys.argv:
        for arch in ("x86_64", "aarch64"):
            built, imported = build_from_nothing(arch)
            print(f"musl image {arch} from nothing: build {built:.0f} s + import {imported:.1f} s")
    timings = {}
    for distro in ("debian-12", "musl-1.2.5"):
        validate(distro)  # warm: image prepared, wheels in the installer cache
        timings[distro] = statistics.median(validate(distro) for _ in range(3))
        print(f"warm {distro} cell ({' '.join(WHEELS)}, import): {timings[distro]:.2f} s (median of 3)")
    print(f"musl / Debian: {timings['musl-1.2.5'] / timings['debian-12']:.2f}x")


if __name__ == "__main__":
    main()
