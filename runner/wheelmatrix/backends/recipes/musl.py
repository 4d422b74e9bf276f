"""The musl-python recipe: a musl userland with CPython, cross-compiled on the host.

Inputs are Debian 12 files (CPython, libffi and zlib sources; musl and a static busybox as
.debs per arch) fetched from the host's Debian mirror and checked against pinned sha256 sums
(wheelmatrix/data/recipes/musl-inputs.json). The host's gcc compiles for x86_64 and Debian's
aarch64-linux-gnu-gcc for aarch64, both against musl's headers and start files, so neither
arch compiles under QEMU. CPython is cross-built, so the host needs the same MAJOR.MINOR
(`pythonX.Y`) to run its build steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from wheelmatrix.backends.base import Log
from wheelmatrix.config.catalog import DEBIAN_ARCH
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.host import cache_dir, debian_mirror, file_lock, host_arch
from wheelmatrix.resources import data_path

SCRIPT = "recipes/musl-python.sh"
INPUTS = "recipes/musl-inputs.json"


def inputs() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(data_path(INPUTS).read_text())
    return data


def fingerprint(arch: str) -> dict[str, Any]:
    """What the built image depends on (for the content-derived image tag)."""
    data = inputs()
    files = {**data["files"], **data["arch_files"][DEBIAN_ARCH[arch]]}
    return {
        "script": hashlib.sha256(data_path(SCRIPT).read_bytes()).hexdigest(),
        "files": {name: meta["sha256"] for name, meta in sorted(files.items())},
    }


def compiler(arch: str) -> str:
    """The gcc that emits code for `arch` on this host."""
    return "gcc" if arch == host_arch() else f"{arch}-linux-gnu-gcc"


def missing_tools(arch: str, python: str) -> list[str]:
    """Host tools the recipe needs and cannot find, each with the Debian package that has it."""
    need = {
        compiler(arch): "gcc" if arch == host_arch() else f"gcc-{arch.replace('_', '-')}-linux-gnu",
        f"python{python}": f"python{python}",
        "make": "make",
        "dpkg-deb": "dpkg",
        "readelf": "binutils",
    }
    return [f"{tool} (Debian package {pkg})" for tool, pkg in need.items() if shutil.which(tool) is None]


def fetch(name: str, meta: dict[str, str], mirror: str, log: Log) -> Path:
    """A verified input file from the source cache, downloaded from the mirror if missing."""
    folder = cache_dir() / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    with file_lock(f"source-{name}"):
        if target.is_file() and _sha256(target) == meta["sha256"]:
            return target
        url = f"{mirror}/{meta['pool']}/{name}"
        log(f"downloading {name}")
        partial = target.with_name(target.name + ".partial")
        try:
            with urllib.request.urlopen(url, timeout=120) as resp, partial.open("wb") as out:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise InfrastructureError(
                f"could not download {name} from the Debian mirror ({url}): {exc}",
                hint=f"put the file into {folder} by hand (sha256 {meta['sha256']}), or set "
                "WHEELMATRIX_DEBIAN_MIRROR to a Debian mirror that carries bookworm",
            ) from None
        got = _sha256(partial)
        if got != meta["sha256"]:
            partial.unlink()
            raise InfrastructureError(
                f"{name} from {url} has sha256 {got}, not the pinned {meta['sha256']}",
                hint="the mirror serves a different file; point WHEELMATRIX_DEBIAN_MIRROR at a "
                "true Debian mirror",
            )
        partial.rename(target)
        return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(arch: str, python: str, out_tar: Path, log: Log, jobs: int | None = None) -> None:
    """Build the root file system for `arch` and write it to `out_tar`."""
    missing = missing_tools(arch, python)
    if missing:
        raise InfrastructureError(
            f"the musl recipe for {arch} needs host tools that are missing: {', '.join(missing)}",
            hint="install them (wheelmatrix doctor lists the set-up command)",
        )
    data = inputs()
    mirror = debian_mirror()
    files = {**data["files"], **data["arch_files"][DEBIAN_ARCH[arch]]}
    with tempfile.TemporaryDirectory(prefix="musl-", dir=cache_dir()) as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name, meta in files.items():
            os.symlink(fetch(name, meta, mirror, log), src / name)
        root = Path(tmp) / "root"
        env = {
            **os.environ,
            "WM_TRIPLET": f"{arch}-linux-musl",
            "WM_GCC": compiler(arch),
            "WM_SRC": str(src),
            "WM_WORK": str(Path(tmp) / "work"),
            "WM_ROOT": str(root),
            "WM_PYTHON": python,
            "WM_JOBS": str(jobs or os.cpu_count() or 2),
        }
        log(f"compiling musl {data['musl']} + CPython {data['cpython']} for {arch} (a few minutes)")
        proc = subprocess.run(
            ["sh", str(data_path(SCRIPT))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if proc.returncode != 0:
            raise InfrastructureError(
                f"the musl recipe failed for {arch}:\n{proc.stdout.strip()[-1500:]}",
                hint="run with --debug for the full log; wheelmatrix doctor checks the host tools",
            )
        with tarfile.open(out_tar, "w") as tar:
            tar.add(str(root), arcname=".", filter=_owned_by_root)


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info
