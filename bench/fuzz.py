"""Fuzz every reader of untrusted input with many mutated cases (not run in CI: the suite's
Hypothesis tests run a few hundred examples per reader; this runs 10,000 or more).

  python bench/fuzz.py [--examples 10000] [--seed 1] [--target NAME ...]

Each target starts from real, valid input built here (a small C library compiled with the host's
gcc, a wheel around it, a run file, a report), mutates it (byte flips, inserted and deleted runs,
truncation, splices of interesting values), and calls the reader in-process. A case passes when
the reader returns or raises the input error it documents; any other exception is a FAILURE,
printed with a reproducer file under the work directory. Prints, per target: cases run,
failures, and the slowest case with its time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "runner"))

from wheelmatrix.errors import InputError  # noqa: E402
from wheelmatrix.inputs.elf import ElfFormatError, read_dynamic  # noqa: E402
from wheelmatrix.inputs.zipmember import MemberError, open_member  # noqa: E402

INTERESTING = [
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x80",
    b"\xff\xff\xff\x7f",
]
C_SOURCE = """
#include <stdio.h>
#include <string.h>
int fuzz_exported(const char *s) { return (int)strlen(s) + puts(s); }
double fuzz_other(double x) { return x * 2; }
"""


@dataclass
class Tally:
    name: str
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    slowest: tuple[float, int] = (0.0, -1)


def mutate(rng: random.Random, data: bytes, front: int) -> bytes:
    """A few random edits, weighted towards the first `front` bytes (headers and tables)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        if not out:
            break
        limit = front if rng.random() < 0.7 else len(out)
        at = rng.randrange(min(limit, len(out)))
        kind = rng.random()
        if kind < 0.4:
            out[at] = rng.randrange(256)
        elif kind < 0.7:
            value = rng.choice(INTERESTING)
            out[at : at + len(value)] = value
        elif kind < 0.85:
            del out[at : at + rng.randint(1, 64)]
        else:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    if rng.random() < 0.1:
        del out[rng.randrange(len(out) + 1) :]
    return bytes(out)


def build_library(work: Path) -> bytes:
    src = work / "fuzz.c"
    src.write_text(C_SOURCE)
    lib = work / "libfuzz.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)], check=True)
    return lib.read_bytes()


def build_wheel(library: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("fuzzpkg/__init__.py", "from . import _native\n")
        zf.writestr("fuzzpkg/_native.abi3.so", library)
        zf.writestr("fuzzpkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fuzzpkg\nVersion: 1.0\n")
        zf.writestr("fuzzpkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n")
        zf.writestr("fuzzpkg-1.0.dist-info/RECORD", "")
    return buf.getvalue()


def target_elf(library: bytes) -> tuple[bytes, int, Callable[[bytes, Path], None]]:
    def run(data: bytes, work: Path) -> None:
        with contextlib.suppress(ElfFormatError):
            read_dynamic(io.BytesIO(data), len(data))

    return library, 4096, run


def target_member(wheel: bytes) -> tuple[bytes, int, Callable[[bytes, Path], None]]:
    def run(data: bytes, work: Path) -> None:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            return  # zipfile's own central-directory errors: read_wheel's business, fuzzed below
        for info in zf.infolist():
            try:
                with open_member(zf, info) as fh:
                    fh.read()
            except (MemberError, zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError):
                continue  # errors the scan catches per member (non-deflate members use zipfile)

    return wheel, len(wheel), run


def target_wheel(wheel: bytes) -> tuple[bytes, int, Callable[[bytes, Path], None]]:
    from wheelmatrix.inputs.wheels import read_wheel
    from wheelmatrix.scan.elf import iter_wheel_elves

    def run(data: bytes, work: Path) -> None:
        path = work / "fuzzpkg-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"
        path.write_bytes(data)
        try:
            read_wheel(path)
        except InputError:
            return
        list(iter_wheel_elves(path))  # a wheel read_wheel accepts must scan without an exception

    return wheel, len(wheel), run


RUN_FILE = b"""candidates:
  - dist/*.whl
distros: [debian-12, debian-13]
arch: [x86_64]
timeout: 300
jobs: 2
memory: 4g
pids: 1024
fail-on: failure
"""

CATALOG = b"""schema: 1
families:
  deb:
    install: "apt-get install -y {packages}"
distros:
  mine-12:
    name: My Debian
    family: deb
    libc: {family: glibc, version: "2.36"}
    python: "3.11"
    recipe: {tool: mmdebstrap, suite: bookworm, packages: [python3, python3-venv]}
"""


def target_run_file(_seed: bytes) -> tuple[bytes, int, Callable[[bytes, Path], None]]:
    from wheelmatrix.options import load_run_config

    def run(data: bytes, work: Path) -> None:
        path = work / "wheelmatrix.yaml"
        path.write_bytes(data)
        with contextlib.suppress(InputError):
            load_run_config(path)

    return RUN_FILE, len(RUN_FILE), run


def target_catalog(_seed: bytes) -> tuple[bytes, int, Callable[[bytes, Path], None]]:
    from wheelmatrix.config.catalog import load_catalog

    def run(data: bytes, work: Path) -> None:
        path = work / "catalog.yaml"
        path.write_bytes(data)
        with contextlib.suppress(InputError):
            load_catalog(path)

    return CATALOG, len(CATALOG), run


def target_report(_seed: bytes) -> tuple[bytes, int, Callable[[bytes, Path], None]]:
    import json

    from wheelmatrix.run.jsonreport import read_report

    sys.path.insert(0, str(REPO))
    from tests.fixtures.results import full_record, two_cells
    from wheelmatrix.run.jsonreport import report_document

    results = [full_record(), *(r for cell in two_cells().values() for r in cell)]
    data = json.dumps(report_document(results, {"id": "fuzz"})).encode()

    def run(data: bytes, work: Path) -> None:
        path = work / "report.json"
        path.write_bytes(data)
        with contextlib.suppress(InputError):
            read_report(path)

    return data, len(data), run


def target_probe_stream(_seed: bytes) -> tuple[bytes, int, Callable[[bytes, Path], None]]:
    from wheelmatrix.backends.probe_stream import record_of

    token = "0123456789abcdef"
    seed = f'hello\n@@WM@@ {token} {{"check": {{"rc": 0}}}}\n@@WM@@ {{"check": 1}}\n'.encode()

    def run(data: bytes, work: Path) -> None:
        for line in data.decode("utf-8", errors="replace").splitlines():
            record_of(line, token)  # a record or None: never an exception

    return seed, len(seed), run


TARGETS = {
    "elf": target_elf,
    "zip-member": target_member,
    "wheel": target_wheel,
    "run-file": target_run_file,
    "catalog": target_catalog,
    "report": target_report,
    "probe-stream": target_probe_stream,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target", action="append", choices=sorted(TARGETS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wm-fuzz-") as tmp:
        work = Path(tmp)
        library = build_library(work)
        wheel = build_wheel(library)
        seeds = dict.fromkeys(TARGETS, b"") | {"elf": library, "zip-member": wheel, "wheel": wheel}
        kept = Path(tempfile.mkdtemp(prefix="wm-fuzz-failures-"))
        total_failures = 0
        for name in args.target or sorted(TARGETS):
            seed_input, front, run = TARGETS[name](seeds[name])
            tally = Tally(name)
            rng = random.Random(f"{args.seed}-{name}")
            for i in range(args.examples):
                data = mutate(rng, seed_input, front)
                started = time.process_time()
                try:
                    run(data, work)
                except Exception:  # noqa: BLE001 - any other exception is what the fuzzer looks for
                    reproducer = kept / f"{name}-{i}.bin"
                    reproducer.write_bytes(data)
                    tally.failures.append(f"{reproducer}: {traceback.format_exc(limit=3).splitlines()[-1]}")
                spent = time.process_time() - started
                tally.cases += 1
                if spent > tally.slowest[0]:
                    tally.slowest = (spent, i)
            total_failures += len(tally.failures)
            print(
                f"{name:12} {tally.cases:7,} cases  {len(tally.failures):4} failures  "
                f"slowest case #{tally.slowest[1]}: {tally.slowest[0] * 1000:.1f} ms CPU"
            )
            for line in tally.failures[:10]:
                print(f"    FAILURE {line}")
        print(f"reproducers of failures: {kept}" if total_failures else "no failures")


if __name__ == "__main__":
    main()
