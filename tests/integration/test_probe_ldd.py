"""The symbol probe runs the dynamic linker's trace itself instead of glibc's `ldd -r` script
(issue 19: under emulation the script costs three linker runs and a shell per file). Both must
read the same: every fixture's ELF files (missing libraries, undefined symbols, versions the
distro's glibc lacks, vendored libraries) and a sample of the image's own, on real cells."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.wheels import Fixture
from wheelmatrix.probe import wm_symbols

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]

COMPARE = r"""
import glob, json, os, shutil, sys
sys.path.insert(0, "/probe")
import wm_symbols as w
tool = shutil.which("ldd")
files = sorted(glob.glob("/fx/**/*.so*", recursive=True))
files += sorted(glob.glob("/usr/lib/python3*/lib-dynload/*.so"))[:12]
files += sorted(glob.glob("/usr/lib/*-linux-gnu/lib*.so.*"))[:12]
files += [os.path.realpath(sys.executable), "/etc/hostname"]  # an executable, and not ELF
direct = {f: w.ldd(f) for f in files}
assert w._RTLD[tool], "the probe found no dynamic linker in ldd's RTLDLIST"
w._RTLD[tool] = []  # as if the script were another one: every file through `ldd -r`
script = {f: w.ldd(f) for f in files}
differ = [[f, direct[f], script[f]] for f in files if direct[f] != script[f]]
problems = sum(len(direct[f][1]) for f in files)
missing = sum(1 for f in files for v in direct[f][0].values() if v is None)
print(json.dumps({"files": files, "differ": differ, "problems": problems, "missing": missing}))
"""


def _unpack(fixtures: list[Fixture], arch: str, dest: Path) -> None:
    for fx in fixtures:
        for wheel in fx.wheels:
            if wheel.name.endswith(f"_{arch}.whl"):
                with zipfile.ZipFile(wheel) as zf:
                    zf.extractall(dest / wheel.stem)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_the_direct_trace_reads_as_ldd_r_does(wheels: dict[str, Fixture], arch: str, tmp_path: Path) -> None:
    from wheelmatrix.backends.docker.connection import connect
    from wheelmatrix.backends.docker.images import prepare
    from wheelmatrix.config.catalog import default_catalog_path, load_catalog

    distro = load_catalog(default_catalog_path()).get("debian-12")
    image = prepare(connect().client, distro, arch, lambda msg: None)
    keys = ["newglibc", "missinglib", "unversioned", "colla", "collb", "cxxnew", "statictls", "vendored"]
    _unpack([wheels[k] for k in keys], arch, tmp_path / "fx")
    probe = Path(wm_symbols.__file__).parent
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{tmp_path / 'fx'}:/fx:ro"]
        + ["-v", f"{probe}:/probe:ro", image, "python3", "-I", "-c", COMPARE],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["differ"] == [], got["differ"][:3]
    assert len([f for f in got["files"] if f.startswith("/fx/")]) >= len(keys)
    # the sample holds what the reading is for: a library not found, an unresolved symbol or version
    assert got["missing"] >= 1 and got["problems"] >= 1, got
