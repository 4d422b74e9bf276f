"""A reproducer bundle: a directory a maintainer without wheelmatrix reruns with plain docker.

    Dockerfile         FROM the cell's image; installs requirements.lock into a venv; CMD
    image.tar          the cell's image (`docker save`; cell images are prepared locally)
    requirements.lock  every installed distribution, exact version and sha256
    wheels/            the wheels that came from no index (the candidates' files, --find-links)
    run.sh             load, build, run without network under the cell's limits; exits as the command
    README.md          the cell, the command, the expected outcome and the diagnosis

Nothing in it names a path of the machine that made it. The bundle is written next to its
destination and renamed into place, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from wheelmatrix import __version__
from wheelmatrix.backends.base import Engine
from wheelmatrix.cell.install import VENV
from wheelmatrix.errors import InputError
from wheelmatrix.inputs.wheels import file_sha256
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult, installed_versions

IMAGE_ARCHIVE = "image.tar"
LOCK = "requirements.lock"


@dataclass(frozen=True)
class LockEntry:
    name: str
    version: str
    sha256: str | None  # None: the index could not be asked (then no --require-hashes)
    wheel: str | None = None  # file name in wheels/ (came from no index)

    def line(self) -> str:
        spec = f"./wheels/{self.wheel}" if self.wheel else f"{self.name}=={self.version}"
        return f"{spec} --hash=sha256:{self.sha256}" if self.sha256 else spec


def check_destination(dest: Path) -> None:
    """A bundle goes into a new or empty directory: never over someone's files."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(
            f"--bundle {dest}: exists and is not an empty directory",
            hint="give a new directory; wheelmatrix does not write over existing files",
        )


def default_destination(cell: Cell, base: Path) -> Path:
    stem = f"wheelmatrix-repro-{cell.distro.id}-{cell.arch}"
    dest = base / stem
    n = 2
    while dest.exists():
        dest = base / f"{stem}-{n}"
        n += 1
    return dest


def local_wheels(cell: Cell, find_links: Sequence[Path], installed: Sequence[str]) -> dict[str, Path]:
    """Installed distribution -> the wheel file it came from, for those from no index: the
    cell's wheel files, then matching name and version in the --find-links directories."""
    versions = installed_versions(installed)
    out: dict[str, Path] = {}
    for pick in (*cell.candidates, *cell.companions):
        if pick.wheel is not None:
            out[pick.project] = pick.wheel.path
    for directory in find_links:
        for path in sorted(Path(directory).glob("*.whl")):
            try:
                name, version, _build, _tags = parse_wheel_filename(path.name)
            except ValueError:
                continue
            key = canonicalize_name(name)
            if key not in out and versions.get(key) == str(version):
                out[key] = path
    return out


def platform_tags(cell: Cell) -> list[str]:
    """The manylinux platform tags the cell's glibc accepts, newest first (for pip --platform)."""
    libc = cell.distro.libc
    if libc.family != "glibc":
        return [f"musllinux_{libc.version[0]}_{m}_{cell.arch}" for m in range(libc.version[1], -1, -1)]
    tags = [f"manylinux_2_{m}_{cell.arch}" for m in range(libc.version[1], 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    for minor, name in legacy.items():
        if libc.version[1] >= minor and (cell.arch == "x86_64" or minor == 17):
            tags.append(f"{name}_{cell.arch}")
    return tags


def index_hashes(cell: Cell, pins: Sequence[str], log: Callable[[str], None]) -> dict[str, tuple[str, str]]:
    """name -> (wheel file name, sha256) of the file an installer picks for the cell, asked of
    the configured index with pip's resolver (metadata only, nothing installed)."""
    if not pins:
        return {}
    py = cell.python.replace(".", "")
    with tempfile.TemporaryDirectory(prefix="wm-lock-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps"]
        argv += ["--only-binary", ":all:", "--python-version", cell.python, "--implementation", "cp"]
        argv += ["--abi", f"cp{py}", "--abi", "abi3", "--abi", "none"]
        for tag in platform_tags(cell):
            argv += ["--platform", tag]
        argv += ["--target", str(Path(tmp) / "t"), "--quiet", "--report", str(report), *pins]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0 or not report.exists():
            log(
                f"could not ask the index for the hashes of {len(pins)} distributions: "
                + proc.stderr.strip()[-300:]
            )
            return {}
        doc = json.loads(report.read_text())
    out: dict[str, tuple[str, str]] = {}
    for item in doc.get("install", []):
        info = item.get("download_info") or {}
        sha = ((info.get("archive_info") or {}).get("hashes") or {}).get("sha256")
        name = canonicalize_name(item["metadata"]["name"])
        if sha:
            out[name] = (str(info.get("url", "")).rsplit("/", 1)[-1], sha)
    return out


@dataclass(frozen=True, kw_only=True)
class BundleSpec:
    """What a bundle reproduces: the cell, its image, the command and what it did."""

    cell: Cell
    image: str  # the image reference the cell ran (a local tag or an id)
    argv: Sequence[str]
    result: CheckResult  # the command's outcome as the matrix reports it (diagnosis included)
    exit_code: int
    signature: str
    installed: Sequence[str]  # name==version of every distribution in the cell's venv
    find_links: Sequence[Path]
    memory: str
    pids: int


def write_bundle(dest: Path, spec: BundleSpec, engine: Engine, log: Callable[[str], None]) -> Path:
    check_destination(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    work.chmod(0o755)
    try:
        _fill(work, spec, engine, log)
        if dest.exists():
            dest.rmdir()  # empty (checked above)
        work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return dest


def _fill(work: Path, spec: BundleSpec, engine: Engine, log: Callable[[str], None]) -> None:
    cell, argv, exit_code = spec.cell, spec.argv, spec.exit_code
    wheels_dir = work / "wheels"
    wheels_dir.mkdir()
    versions = installed_versions(spec.installed)
    local = local_wheels(cell, spec.find_links, spec.installed)
    entries: list[LockEntry] = []
    for name, path in local.items():
        shutil.copy2(path, wheels_dir / path.name)
        entries.append(LockEntry(name, versions.get(name, "?"), file_sha256(path), wheel=path.name))
    pins = [f"{n}=={v}" for n, v in sorted(versions.items()) if n not in local]
    hashes = index_hashes(cell, pins, log)
    for n, v in sorted(versions.items()):
        if n not in local:
            entries.append(LockEntry(n, v, (hashes.get(n) or (None, None))[1]))
    hashed = all(e.sha256 for e in entries)
    offline = all(e.wheel for e in entries)
    (work / LOCK).write_text(
        f"# every distribution installed in {cell.id} (wheelmatrix {__version__})\n"
        + "".join(e.line() + "\n" for e in sorted(entries, key=lambda e: e.name))
    )
    (wheels_dir / ".keep").write_text("")
    log(f"saving image {spec.image} for the bundle")
    with (work / IMAGE_ARCHIVE).open("wb") as fh:
        for chunk in engine.save_image(spec.image):
            fh.write(chunk)
    pip_flags = ["--no-deps", "--only-binary", ":all:"]
    pip_flags += ["--require-hashes"] if hashed else []
    pip_flags += ["--no-index"] if offline else []
    env = {
        "PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin",
        "VIRTUAL_ENV": VENV,
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    (work / "Dockerfile").write_text(
        f"# The cell {cell.id}, rebuilt without wheelmatrix (see README.md).\n"
        f"FROM {spec.image}\n"
        + "".join(f"ENV {k}={v}\n" for k, v in env.items())
        + f"COPY {LOCK} /bundle/{LOCK}\n"
        "COPY wheels/ /bundle/wheels/\n"
        "WORKDIR /bundle\n"
        f"RUN {cell.distro.python_executable} -m venv {VENV} && "
        f"{VENV}/bin/python -m pip install --quiet --disable-pip-version-check "
        f"{' '.join(pip_flags)} -r {LOCK}\n"
        "USER 65534:65534\n"
        "WORKDIR /tmp\n"
        f"CMD {json.dumps(list(argv))}\n"
    )
    (work / ".dockerignore").write_text(f"{IMAGE_ARCHIVE}\nrun.sh\nREADME.md\n")
    tag = f"wheelmatrix-repro:{cell.distro.id}-{cell.arch}"
    run_sh = work / "run.sh"
    run_sh.write_text(
        "#!/bin/sh\n"
        f"# Rebuild the cell {cell.id} and run the command; exits with the command's exit code\n"
        f"# (expected: {exit_code}). Needs docker only.\n"
        "set -u\n"
        'cd "$(dirname "$0")" || exit 3\n'
        f"if [ -f {IMAGE_ARCHIVE} ]; then docker load -i {IMAGE_ARCHIVE} >/dev/null || exit 3; fi\n"
        "# without the buildx plugin, the classic builder\n"
        "docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0\n"
        f"docker build -q -t {tag} . >/dev/null || exit 3\n"
        f'docker run --rm --network none --memory {spec.memory} --pids-limit {spec.pids} {tag} "$@"\n'
        "rc=$?\n"
        f'echo "exit code: $rc (expected {exit_code})" >&2\n'
        'exit "$rc"\n'
    )
    run_sh.chmod(0o755)
    (work / "README.md").write_text(_readme(spec, versions, local, tag))
    _scrub_host_paths(work, [*(p.parent for p in local.values()), *spec.find_links, Path.cwd(), Path.home()])


def _readme(spec: BundleSpec, versions: Mapping[str, str], local: Mapping[str, Path], tag: str) -> str:
    cell, argv, result = spec.cell, spec.argv, spec.result
    tail = "\n".join(str(result.evidence.get("output_tail") or "").splitlines()[-25:])
    lines = [
        f"# Reproducer: {cell.distro.id} {cell.arch}, Python {cell.python}",
        "",
        f"Made by wheelmatrix {__version__}. Rerun it with docker only:",
        "",
        "    sh run.sh",
        "",
        "`run.sh` loads the cell's image from `image.tar`, builds the Dockerfile (a venv with every",
        f"distribution in `{LOCK}` at its exact version and sha256), and runs the command without",
        f"network, as `nobody`, under the cell's limits. Or by hand: `docker load -i {IMAGE_ARCHIVE}`,",
        f"`docker build -t {tag} .`, `docker run --rm --network none {tag}`.",
        "",
        "## Command",
        "",
        f"    {shlex.join(argv)}",
        "",
        "## Expected outcome",
        "",
        f"- status: {result.status.value} — {spec.signature}",
        f"- exit code: {spec.exit_code}",
    ]
    if result.detail:
        lines.append(f"- detail: {result.detail}")
    if result.diagnosis:
        lines += ["", "## Diagnosis", "", result.diagnosis]
    lines += ["", "## Installed", ""]
    for name, version in sorted(versions.items()):
        lines.append(f"- {name}=={version}" + (" (wheel in wheels/)" if name in local else ""))
    if tail:
        lines += ["", "## Output (end)", "", "```", tail, "```"]
    return "\n".join(lines) + "\n"


def _scrub_host_paths(work: Path, prefixes: Sequence[Path]) -> None:
    """The text files of the bundle name no directory of this machine (output tails and
    diagnoses may quote one): each is replaced by '.'."""
    needles = sorted({str(p.resolve()) for p in prefixes if str(p.resolve()) not in ("/", "/tmp")}, key=len)
    for path in work.rglob("*"):
        if not path.is_file() or path.name == IMAGE_ARCHIVE or path.suffix == ".whl":
            continue
        text = original = path.read_text(errors="replace")
        for needle in reversed(needles):  # longest first
            text = text.replace(needle, ".")
        if text != original:
            path.write_text(text)
