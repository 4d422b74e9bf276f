"""The exact wheel file an installer used in a cell, fetched on the host for the static scan.

A candidate given as a requirement (`pyscn==1.31.1`) has no file before the run; the cell
records which file it installed and its sha256 (model.CheckResult.installed_wheels). This
fetches that file through the host's own pip (so the host's index, proxy and CA settings
apply), verifies the sha256, and caches it by hash. Nothing is fetched without a recorded hash.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from wheelmatrix.host import cache_dir

TIMEOUT_S = 600.0


class FetchError(Exception):
    """The file could not be fetched or did not match its hash (the reason is the message)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_argv(filename: str, dest: Path) -> list[str]:
    """`pip download` arguments that select exactly this wheel file's tags and version."""
    try:
        name, version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise FetchError(f"{filename}: not a wheel file name ({exc})") from None
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    argv += ["--disable-pip-version-check", "--dest", str(dest)]
    for platform in sorted({t.platform for t in tags}):
        argv += ["--platform", platform]
    for abi in sorted({t.abi for t in tags}):
        argv += ["--abi", abi]
    interpreters = sorted({t.interpreter for t in tags})
    cp = next((i for i in interpreters if i.startswith("cp") and i[2:].isdigit()), None)
    if cp is not None:
        argv += ["--implementation", "cp", "--python-version", f"{cp[2]}.{cp[3:]}"]
    return [*argv, f"{name}=={version}"]


def fetch_wheel(filename: str, sha256: str, find_links: tuple[Path, ...] = ()) -> Path:
    """The file `filename` with this sha256: from the cache, a --find-links directory, or the
    host's index. Raises FetchError naming what went wrong."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise FetchError(f"{filename}: no usable sha256 recorded ({sha256!r})")
    cached = cache_dir() / "installed-wheels" / sha256 / filename
    if cached.is_file() and _sha256(cached) == sha256:
        return cached
    for directory in find_links:
        local = Path(directory) / filename
        if local.is_file() and _sha256(local) == sha256:
            return local
    if shutil.which(sys.executable) is None:
        raise FetchError(f"{filename}: no Python to run pip with")
    with tempfile.TemporaryDirectory(prefix="wm-fetch-") as tmp:
        try:
            proc = subprocess.run(
                download_argv(filename, Path(tmp)), capture_output=True, text=True, timeout=TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise FetchError(f"{filename}: the download took longer than {TIMEOUT_S:.0f} s") from None
        got = Path(tmp) / filename
        if proc.returncode != 0 or not got.is_file():
            said = (proc.stderr or proc.stdout).strip().splitlines()
            raise FetchError(f"{filename}: pip download failed ({said[-1] if said else 'no output'})")
        if _sha256(got) != sha256:
            raise FetchError(
                f"{filename}: the index serves a file with another sha256 than the cell installed"
            )
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(got), cached)
    return cached
