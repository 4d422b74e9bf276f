"""Installer command lines (uv or pip) for a cell, and how to read an installer's failure."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wheelmatrix.backends.layout import (
    CA_BUNDLE,
    FIND_LINKS_DIR,
    PROBE,
    PROBE_DIR,
    QEMU_BIN,
    SYMBOLS_PROBE,
    UV_BIN,
    UV_CACHE,
    VENV,
    VENV_PYTHON,
    WHEELS_DIR,
    WM_ROOT,
)
from wheelmatrix.host import IndexSettings
from wheelmatrix.model import Status

# the in-cell paths are defined with the engines that put things there (backends/layout.py)
__all__ = [
    "CA_BUNDLE",
    "FIND_LINKS_DIR",
    "PROBE",
    "PROBE_DIR",
    "QEMU_BIN",
    "SYMBOLS_PROBE",
    "UV_BIN",
    "UV_CACHE",
    "VENV",
    "VENV_PYTHON",
    "WHEELS_DIR",
    "WM_ROOT",
    "find_links_targets",
    "cpu_wrapper_argv",
    "Step",
    "installer_env",
    "install_argv",
    "venv_argv",
    "classify_install_failure",
]


def find_links_targets(dirs: Sequence[Path]) -> list[tuple[str, Path]]:
    """(path in the cell, host directory) for each --find-links directory. The path carries a
    digest of the directory's wheels (names, sizes, mtimes): the installer's cache keys flat
    index entries by URL, so a wheel rebuilt under the same name at the same path would
    otherwise be served stale from the cache."""
    out = []
    for i, d in enumerate(dirs):
        digest = hashlib.sha256(str(Path(d).resolve()).encode())
        for wheel in sorted(Path(d).glob("*.whl")):
            st = wheel.stat()
            digest.update(f"{wheel.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        out.append((f"{FIND_LINKS_DIR}/{i}-{digest.hexdigest()[:12]}", Path(d).resolve()))
    return out


def cpu_wrapper_argv(python_executable: str, model: str) -> tuple[str, ...]:
    """A shell command that turns the venv's python into a script running the real interpreter
    under QEMU user emulation with CPU model MODEL. `-0` keeps argv[0] the venv's python, so
    Python still finds the venv; processes Python starts with sys.executable are emulated too."""
    script = (
        'set -e; real=$(readlink -f "$1"); cd "$2/bin"; '
        'rm -f python python3 "$(basename "$real")"; '
        'printf \'#!/bin/sh\\nexec %s -cpu %s -0 "$0" %s "$@"\\n\' "$3" "$4" "$real" > python; '
        'chmod 755 python; ln -s python python3; ln -sf python "$(basename "$real")"; '
        './python -c "import sys; assert sys.prefix != sys.base_prefix, sys.prefix"'
    )
    return ("/bin/sh", "-c", script, "sh", python_executable, VENV, QEMU_BIN, model)


@dataclass(frozen=True, kw_only=True)
class Step:
    name: str
    argv: tuple[str, ...]
    expect_failure: bool = False


def installer_env(
    installer: str, index: IndexSettings, offline: bool, link_mode: str = "symlink"
) -> dict[str, str]:
    """Environment for the installer. uv links files from its shared cache (`symlink`, fast;
    package code runs as nobody and cannot write the cache) or copies them (`copy`)."""
    env = {"HOME": "/tmp", "LANG": "C.UTF-8", **index.proxy_env}
    if index.has_ca_bundle:
        env.update(SSL_CERT_FILE=CA_BUNDLE, PIP_CERT=CA_BUNDLE, REQUESTS_CA_BUNDLE=CA_BUNDLE)
    if installer == "uv":
        env.update(
            UV_CACHE_DIR=UV_CACHE,
            UV_LINK_MODE=link_mode,
            UV_PYTHON_DOWNLOADS="never",
            UV_NO_PROGRESS="1",
            UV_NO_CONFIG="1",
        )
    else:
        env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_NO_CACHE_DIR="1")
    if offline:
        env["UV_OFFLINE"] = "1"
    return env


def install_argv(
    installer: str,
    args: Sequence[str],
    *,
    index: IndexSettings,
    find_links: Sequence[str],
    offline: bool,
) -> tuple[str, ...]:
    """The command that installs `args` (container paths or requirement strings), binary only."""
    if installer == "uv":
        head = [UV_BIN, "pip", "install", "--python", VENV_PYTHON, "--no-build", "--quiet"]
    else:
        head = [VENV_PYTHON, "-m", "pip", "install", "--only-binary=:all:", "--quiet"]
    opts: list[str] = []
    if offline:
        opts.append("--no-index")
    else:
        if index.index_url:
            opts += ["--index-url", index.index_url]
        for url in index.extra_index_urls:
            opts += ["--extra-index-url", url]
    for link in find_links:
        opts += ["--find-links", link]
    return (*head, *opts, *args)


def venv_argv(installer: str, python: str) -> tuple[str, ...]:
    if installer == "uv":
        return (UV_BIN, "venv", "--quiet", "--no-project", "--python", python, VENV)
    return (python, "-m", "venv", VENV)


_NOT_INSTALLABLE = re.compile(
    r"not a supported wheel on this platform|is incompatible with the current platform"
    r"|no matching distribution found|have no wheels with a matching (platform|Python)"
    r"|only has wheels with the following|doesn't have a source distribution or wheel"
    r"|no wheels with a matching|requires-python|Requires-Python|not available for the current"
    r"|have no usable wheels|has no usable wheels"
    r"|current Python version \(\S+\) does not satisfy Python|depends on Python\s*[<>=!~]",
    re.IGNORECASE,
)
_INFRA = re.compile(
    r"certificate verify failed|invalid peer certificate|UnknownIssuer|tls handshake|tls connection|SSLError|"
    r"Failed to fetch|Could not connect|connection (refused|reset)|Name or service not known|"
    r"Temporary failure in name resolution|dns error|timed out|No space left on device|"
    r"Permission denied|Read-only file system|exec format error|not found: .*uv",
    re.IGNORECASE,
)


def classify_install_failure(output: str) -> tuple[Status, str]:
    """An installer's non-zero exit: the platform refused it, the set conflicts, or infra broke."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    reason = _first_error_line(lines)
    if _INFRA.search(output):
        return Status.ERROR, f"installer could not run: {reason}"
    if _NOT_INSTALLABLE.search(output):
        return Status.NOT_INSTALLABLE, f"installer refused it: {reason}"
    return Status.FAILED, f"install failed: {reason}"


def _first_error_line(lines: Sequence[str]) -> str:
    for line in lines:
        low = line.lower()
        if low.startswith(("error", "×", "x ")) or "error:" in low:
            rest = [ln for ln in lines[lines.index(line) + 1 :] if not ln.startswith("help:")][:2]
            return " ".join([line, *rest])[:400]
    return (lines[-1] if lines else "no output")[:400]
