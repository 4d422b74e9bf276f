"""The runner's own interpreter, packed to run inside an emulated cell at native speed.

An emulated cell (aarch64 under QEMU on an x86_64 machine) ran our probes with the cell's own
Python, emulated: every probe paid an emulated interpreter start (about 0.4 s with its imports)
and read the cell's files at emulated speed, though none of that needs the target CPU. The
kernel runs a binary of the machine's own arch directly, in any container: what stops the
runner's Python from running there is only that its loader, libraries and standard library are
not in the cell's image. This packs them: a copy of the interpreter, its dynamic loader and the
shared libraries it and its extension modules load (read from the host's `ldd`), in one folder
of the cache; the engine mounts it and the standard library into the cell, and a probe is
started through the packed loader with the packed library folder, so nothing of the cell's own
libraries is used and nothing of ours leaks into what the probe starts (the loader's options
are not inherited, the environment is not touched).

What the probes observe is unchanged: the imports, the loader's bindings and the crash evidence
come from the cell's own processes, which the probe starts as before (the kernel hands them to
QEMU). The probes never ask their own interpreter about the cell (tested: tests/integration/
test_native_probe.py holds every scenario's results to the emulated probe's).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wheelmatrix.backends.layout import NATIVE_DIR
from wheelmatrix.host import cache_dir, file_lock

__all__ = ["NativePython", "native_python", "DISABLE_ENV"]

DISABLE_ENV = "WHEELMATRIX_NATIVE_PROBE"  # "0": probes of emulated cells run emulated, as before
FORMAT = "3"  # of the packed folder; a change repacks it
INSTALLED = ("site-packages", "dist-packages")  # not the standard library: never mounted


@dataclass(frozen=True)
class NativePython:
    """A packed interpreter on this machine, and where the engine mounts its parts in a cell."""

    folder: Path  # bin/pythonX.Y, lib/ld.so, lib/<sonames>, and the mount points below
    version: str  # "3.11"
    stdlib: Path  # this machine's standard library, mounted read-only
    dynload: Path | None  # its extension modules, where they are not under stdlib
    platlibdir: str  # "lib" (Debian) or "lib64" (Fedora): where the interpreter looks
    loader: bool  # False for a statically linked interpreter

    @property
    def stdlib_target(self) -> str:
        return f"{NATIVE_DIR}/{self.platlibdir}/python{self.version}"

    def mounts(self) -> list[tuple[str, Path]]:
        """(path in the cell, folder on this machine), read-only, parents first. Packages
        installed into this machine's interpreter (a site-packages folder inside its standard
        library, as in pyenv's or python.org's builds) are this machine's own: an empty folder
        is mounted over them, so package code in the cell cannot read them."""
        out = [(NATIVE_DIR, self.folder), (self.stdlib_target, self.stdlib)]
        if self.dynload is not None:
            out.append((f"{self.stdlib_target}/lib-dynload", self.dynload))
        for name in INSTALLED:
            if (self.stdlib / name).is_dir():
                out.append((f"{self.stdlib_target}/{name}", self.folder / "empty"))
        return out

    def argv(self) -> tuple[str, ...]:
        """The head of a command line that runs the packed interpreter in a cell."""
        python = f"{NATIVE_DIR}/bin/python{self.version}"
        if not self.loader:
            return (python,)
        return (f"{NATIVE_DIR}/lib/ld.so", "--library-path", f"{NATIVE_DIR}/lib", python)


def native_python() -> NativePython | None:
    """This machine's interpreter, packed once (cached by the interpreter's identity); None
    where it cannot be packed (no glibc `ldd`, an unreadable interpreter) or it is turned off."""
    if os.environ.get(DISABLE_ENV, "") == "0":
        return None
    return _packed(os.path.realpath(sys.executable))


@functools.lru_cache(maxsize=2)
def _packed(executable: str) -> NativePython | None:
    """Packed once per process (a failure too: the cells then run emulated probes)."""
    try:
        return _pack_once(executable)
    except (OSError, ValueError, subprocess.SubprocessError):  # e.g. a full or read-only cache
        return None


def _pack_once(executable: str) -> NativePython | None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shared = sysconfig.get_config_var("DESTSHARED")
    dynload = Path(shared) if shared and Path(shared).is_dir() else None
    if dynload is not None and dynload == stdlib / "lib-dynload":
        dynload = None
    if dynload is not None and not (stdlib / "lib-dynload").is_dir():
        return None  # no mount point for it under the standard library's read-only mount
    platlibdir = getattr(sys, "platlibdir", "lib")
    if not (stdlib / "os.py").is_file() or shutil.which("ldd") is None:
        return None
    try:
        st = os.stat(executable)
    except OSError:
        return None
    key = hashlib.sha256(
        f"{FORMAT}\0{executable}\0{st.st_size}\0{st.st_mtime_ns}\0{stdlib}\0{dynload}".encode()
    ).hexdigest()[:16]
    folder = cache_dir() / "native-python" / key
    with file_lock(f"native-python-{key}"):
        packed = (folder / "bin" / f"python{version}").is_file()
        modules = dynload or stdlib / "lib-dynload"
        if not packed and not _pack(executable, version, modules, platlibdir, folder):
            return None
    loader = (folder / "lib" / "ld.so").is_file()
    return NativePython(folder, version, stdlib, dynload, platlibdir, loader)


def _pack(executable: str, version: str, dynload: Path, platlibdir: str, folder: Path) -> bool:
    """Copy the interpreter, its loader and every library it or an extension module needs
    (as this machine's loader resolves them) into FOLDER, atomically."""
    elves = [executable, *sorted(str(p) for p in dynload.glob("*.so") if p.is_file())]
    proc = subprocess.run(["ldd", *elves], capture_output=True, text=True, errors="replace", timeout=120)
    if not proc.stdout:
        return False
    libs: dict[str, str] = {}  # soname -> file on this machine
    loader = ""
    for line in proc.stdout.splitlines():
        m = re.match(r"^\s+(\S+) => (/\S+) \(0x", line)
        if m:
            libs.setdefault(m.group(1), m.group(2))
            continue
        m = re.match(r"^\s+(/\S+) \(0x", line)  # the loader, named by its path
        if m and not loader:
            loader = m.group(1)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pack-", dir=folder.parent))
    try:
        (tmp / "bin").mkdir()
        (tmp / "lib").mkdir()
        shutil.copy2(executable, tmp / "bin" / f"python{version}")
        for soname, path in libs.items():
            if "/" not in soname:
                shutil.copy2(os.path.realpath(path), tmp / "lib" / soname)
        if loader:
            shutil.copy2(os.path.realpath(loader), tmp / "lib" / "ld.so")
        # glibc loads libgcc_s itself when a thread exits or unwinds: nothing lists it
        libc = libs.get("libc.so.6")
        gcc_s = os.path.join(os.path.dirname(libc), "libgcc_s.so.1") if libc else ""
        if gcc_s and "libgcc_s.so.1" not in libs and os.path.isfile(gcc_s):
            shutil.copy2(os.path.realpath(gcc_s), tmp / "lib" / "libgcc_s.so.1")
        # the mount points of the standard library (and of its extension modules)
        (tmp / platlibdir / f"python{version}" / "lib-dynload").mkdir(parents=True)
        (tmp / "empty").mkdir()  # mounted over the installed packages in the standard library
        for entry in tmp.rglob("*"):
            entry.chmod(0o755 if entry.is_dir() or os.access(entry, os.X_OK) else 0o644)
        tmp.chmod(0o755)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    return True
