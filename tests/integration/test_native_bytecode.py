"""An emulated cell's bytecode is compiled once by the same Python running natively (the
distro's image for the engine's own arch), through the engine API: real engine, real QEMU cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import wheelmatrix
from tests.fixtures.wheels import write_wheel
from wheelmatrix.cell.bytecode import MIN_SOURCES

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]

# The package checks, as it is imported in the cell, that its modules' bytecode is hash-checked
# (PEP 552) — what the native compile writes — rather than timestamp-based, what the cell's own
# interpreter writes when it compiles a module on import.
INIT = b"""
import importlib.util, os, json
from . import m0, m1
VALUES = (m0.VALUE, m1.VALUE)
# the package's modules, and a standard-library module the interpreter does not start with
for name, source in (
    ("m0", os.path.join(os.path.dirname(__file__), "m0.py")),
    ("m1", os.path.join(os.path.dirname(__file__), "m1.py")),
    ("json", json.__file__),
):
    pyc = importlib.util.cache_from_source(source)
    with open(pyc, "rb") as fh:
        flags = int.from_bytes(fh.read(8)[4:8], "little")
    if flags != 3:
        raise ImportError("%s was compiled in the cell (pyc flags %d), not natively" % (name, flags))
"""


def many_modules(dest: Path) -> Path:
    files = {"wmmany/__init__.py": INIT}
    for i in range(MIN_SOURCES + 20):
        files[f"wmmany/m{i}.py"] = f"VALUE = {i}\n".encode()
    return write_wheel(dest, "wmmany", "1.0", "py3-none-any", files, purelib=True)


@pytest.mark.parametrize("distro", ["debian-12", "debian-13"])  # Python 3.11 and 3.13
def test_an_emulated_cell_imports_bytecode_compiled_natively(distro: str, tmp_path: Path) -> None:
    wheel = many_modules(tmp_path / "dist")
    cell = ["--distro", distro, "--arch", "aarch64", "--scenario", "import"]
    run = wheelmatrix(wheel, *cell, tmp=tmp_path)
    assert run.rc == 0, run.explain()
    (res,) = run.by_cell("import wmmany").values()
    assert res["status"] == "passed", res
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    phases = [json.loads(line)["phase"] for line in (run_dir / "profile.jsonl").read_text().splitlines()]
    order = [phases.index(p) for p in ("install", "bytecode, compiled natively", "scenario import")]
    assert order == sorted(order), phases


def test_a_native_cell_and_a_small_install_compile_in_the_cell(tmp_path: Path) -> None:
    """No native sandbox where it cannot pay: a native cell, or a handful of sources."""
    small = write_wheel(
        tmp_path / "dist", "wmfew", "1.0", "py3-none-any", {"wmfew/__init__.py": b"X = 1\n"}, True
    )
    run = wheelmatrix(
        small, "--distro", "debian-12", "--arch", "aarch64", "--arch", "x86_64", "--scenario", "import",
        tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 0, run.explain()
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    profile = [json.loads(line) for line in (run_dir / "profile.jsonl").read_text().splitlines()]
    timed = {(p["cell"].split("/")[1], p["phase"]) for p in profile}
    assert ("aarch64", "bytecode, compiled natively") in timed  # looked, found too few sources
    assert ("x86_64", "bytecode, compiled natively") not in timed


# The package's bytecode must also be of its sources as they are: a .pyc compiled from another
# version of a module is one the interpreter compiles again (and here, one the check refuses).
FRESH = b"""
import importlib.util, os
from . import m0
VALUE = m0.VALUE
source = os.path.join(os.path.dirname(__file__), "m0.py")
with open(importlib.util.cache_from_source(source), "rb") as fh:
    head = fh.read(16)
with open(source, "rb") as fh:
    fresh = head[8:16] == importlib.util.source_hash(fh.read())
if int.from_bytes(head[4:8], "little") != 3 or not fresh:
    raise ImportError("m0's bytecode is not the native compile of its source (flags %r)" % head[4:8])
"""


def stack(dest: Path, version: str, value: int) -> Path:
    files = {"wmstore/__init__.py": FRESH, "wmstore/m0.py": f"VALUE = {value}\n".encode()}
    for i in range(1, MIN_SOURCES + 20):
        files[f"wmstore/m{i}.py"] = f"VALUE = {i}\n".encode()
    return write_wheel(dest, "wmstore", version, "py3-none-any", files, purelib=True)


def compiled(tmp: Path) -> bool:
    (run_dir,) = [p for p in (tmp / "runs").iterdir() if p.is_dir()]
    phases = [json.loads(line)["phase"] for line in (run_dir / "profile.jsonl").read_text().splitlines()]
    assert "bytecode: put back" in phases, phases
    return "bytecode: compiled in the native sandbox" in phases


def test_a_stack_compiled_once_is_not_compiled_again_and_a_changed_source_is(tmp_path: Path) -> None:
    cell = ["--distro", "debian-12", "--arch", "aarch64", "--scenario", "import"]
    first = wheelmatrix(stack(tmp_path / "d1", "1.0", 0), *cell, tmp=tmp_path / "first")
    again = wheelmatrix(stack(tmp_path / "d1", "1.0", 0), *cell, tmp=tmp_path / "again")
    changed = wheelmatrix(stack(tmp_path / "d2", "1.1", 1000), *cell, tmp=tmp_path / "changed")
    for run in (first, again, changed):
        assert run.rc == 0, run.explain()
        (res,) = run.by_cell("import wmstore").values()
        assert res["status"] == "passed", res
    assert not compiled(tmp_path / "again")  # the same sources: the image's store had them all
    assert compiled(tmp_path / "changed")  # m0 changed: compiled natively again (the check says so)
