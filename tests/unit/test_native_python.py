"""The runner's interpreter packed for emulated cells (backends/native_python.py): its loader and
every library it needs as this machine's loader resolves them, mount points for the standard
library, and off when asked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wheelmatrix.backends.layout import NATIVE_DIR
from wheelmatrix.backends.native_python import DISABLE_ENV, native_python


def test_the_packed_interpreter_has_its_loader_and_libraries() -> None:
    packed = native_python()
    assert packed is not None
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (packed.folder / "bin" / f"python{version}").read_bytes()[:4] == b"\x7fELF"
    assert (packed.folder / "lib" / "ld.so").read_bytes()[:4] == b"\x7fELF"
    wanted = subprocess.run(["ldd", os.path.realpath(sys.executable)], capture_output=True, text=True).stdout
    sonames = re.findall(r"^\s+(\S+) => /", wanted, re.M)
    assert sonames and all((packed.folder / "lib" / name).is_file() for name in sonames), sonames
    # the standard library is mounted where the packed interpreter looks for it
    targets = dict(packed.mounts())
    assert targets[NATIVE_DIR] == packed.folder
    assert (targets[packed.stdlib_target] / "os.py").is_file()
    assert (packed.folder / Path(packed.stdlib_target).relative_to(NATIVE_DIR)).is_dir()  # its mount point
    # what is installed into this machine's interpreter is hidden under an empty folder
    for name in ("site-packages", "dist-packages"):
        if (packed.stdlib / name).is_dir():
            assert targets[f"{packed.stdlib_target}/{name}"] == packed.folder / "empty"
    assert not any((packed.folder / "empty").iterdir())
    assert packed.argv() == (
        f"{NATIVE_DIR}/lib/ld.so", "--library-path", f"{NATIVE_DIR}/lib", f"{NATIVE_DIR}/bin/python{version}"
    )  # fmt: skip


def test_it_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "0")
    assert native_python() is None
