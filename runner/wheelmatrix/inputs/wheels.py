"""Candidate and companion inputs: wheel files and requirement strings, validated up front.

Everything here runs before any container starts, so that bad input exits with code 2 and
a message naming the input.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)

from wheelmatrix.errors import InputError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class WheelFile:
    path: Path
    project: NormalizedName
    version: str
    tags: frozenset[Tag]
    modules: tuple[str, ...]
    sha256: str = ""

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True, kw_only=True)
class RequirementSpec:
    text: str
    project: NormalizedName


@dataclass(frozen=True, kw_only=True)
class Project:
    """One project under test (or one companion): either wheel files or a requirement."""

    name: NormalizedName
    wheels: tuple[WheelFile, ...] = ()
    requirement: RequirementSpec | None = None

    @property
    def modules(self) -> tuple[str, ...] | None:
        """Top-level modules when known before installing (wheel files)."""
        if not self.wheels:
            return None
        seen: dict[str, None] = {}
        for wheel in self.wheels:
            seen.update(dict.fromkeys(wheel.modules))
        return tuple(seen)


def read_wheel(path: Path) -> WheelFile:
    """Validate a wheel file: its name, its zip structure and its metadata."""
    if not path.exists():
        raise InputError(f"{path}: no such file", hint="check the path of the wheel")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        name, version, _build, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as exc:
        raise InputError(
            f"{path}: not a valid wheel file name ({exc})",
            hint="a wheel is named NAME-VERSION(-BUILD)?-PYTHON-ABI-PLATFORM.whl",
        ) from None
    if not zipfile.is_zipfile(path):
        raise InputError(
            f"{path}: not a wheel: the file is not a zip archive (corrupt or truncated download?)",
            hint="rebuild the wheel or download it again",
        )
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dist_info = _dist_info_dir(path, names, name, str(version))
            wheel_meta = zf.read(f"{dist_info}/WHEEL").decode("utf-8", "replace")
            metadata = zf.read(f"{dist_info}/METADATA").decode("utf-8", "replace")
            top_level = (
                zf.read(f"{dist_info}/top_level.txt").decode("utf-8", "replace")
                if f"{dist_info}/top_level.txt" in names
                else None
            )
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputError(f"{path}: corrupt wheel: {exc}", hint="rebuild the wheel") from None
    if "Wheel-Version:" not in wheel_meta:
        raise InputError(f"{path}: corrupt wheel: {dist_info}/WHEEL has no Wheel-Version")
    meta_name = _header(metadata, "Name")
    if meta_name is None or canonicalize_name(meta_name) != name:
        raise InputError(
            f"{path}: METADATA names project '{meta_name}', but the file name says '{name}'",
            hint="the wheel was renamed by hand or is corrupt; rebuild it",
        )
    modules = _modules(top_level, names)
    if not modules:
        raise InputError(f"{path}: the wheel contains no importable top-level module")
    return WheelFile(
        path=path.resolve(),
        project=name,
        version=str(version),
        tags=tags,
        modules=modules,
        sha256=file_sha256(path),
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dist_info_dir(path: Path, names: list[str], project: str, version: str) -> str:
    candidates = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
    for cand in candidates:
        stem = cand[: -len(".dist-info")]
        cand_name, _, _cand_version = stem.rpartition("-")
        if canonicalize_name(cand_name) == project:
            return cand
    raise InputError(
        f"{path}: corrupt wheel: no {project}-{version}.dist-info directory inside",
        hint="rebuild the wheel",
    )


def _header(metadata: str, key: str) -> str | None:
    for line in metadata.splitlines():
        if not line.strip():
            break
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() == key.lower():
            return v.strip()
    return None


def _modules(top_level: str | None, names: list[str]) -> tuple[str, ...]:
    """Top-level modules of a wheel: what top_level.txt lists *and* the wheel has files for
    (pyarrow 19.0.1 lists a build artefact, `__dummy__`, with no file), else what its files
    show."""
    shipped = _shipped_modules(names)
    if top_level is not None:
        listed = [m.strip().split("/")[0] for m in top_level.splitlines() if m.strip()]
        found = tuple(dict.fromkeys(m for m in listed if _IDENTIFIER.match(m) and m in shipped))
        if found:
            return found
    return tuple(sorted(shipped))


def _shipped_modules(names: list[str]) -> set[str]:
    out: set[str] = set()
    for name in names:
        head, sep, _rest = name.partition("/")
        if head.endswith((".dist-info", ".data")) or head.endswith(".libs"):
            continue
        if sep:
            if name.endswith((".py", ".so", ".pyd", ".pyc")) and _IDENTIFIER.match(head):
                out.add(head)
        else:
            stem = head.split(".", 1)[0]
            if head.endswith((".py", ".so")) and _IDENTIFIER.match(stem):
                out.add(stem)
    return out


def parse_requirement(text: str) -> RequirementSpec:
    """A PEP 508 requirement; anything else (shell syntax, local URLs) is refused."""
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise InputError(
            f"'{text}': not a valid requirement ({exc})",
            hint="give a PEP 508 requirement such as 'numpy>=1.26' or the path of a .whl file",
        ) from None
    if req.url and not req.url.startswith(("https://", "http://")):
        raise InputError(
            f"'{text}': only http(s) URLs can be installed in a container",
            hint="pass the local file's path instead (a .whl) or a --find-links directory",
        )
    return RequirementSpec(text=str(req), project=canonicalize_name(req.name))


def parse_inputs(args: list[str], *, role: str) -> list[Project]:
    """Group arguments into projects: wheels of one project together, requirements alone."""
    wheels: dict[NormalizedName, list[WheelFile]] = {}
    reqs: dict[NormalizedName, RequirementSpec] = {}
    for arg in args:
        if arg.endswith(".whl") or Path(arg).exists():
            wheel = read_wheel(Path(arg))
            wheels.setdefault(wheel.project, []).append(wheel)
        else:
            req = parse_requirement(arg)
            if req.project in reqs:
                raise InputError(f"{role} '{arg}': project '{req.project}' is given twice")
            reqs[req.project] = req
    for dup in set(wheels) & set(reqs):
        raise InputError(f"{role} '{dup}' is given both as wheel file(s) and as a requirement")
    projects = [Project(name=n, wheels=tuple(ws)) for n, ws in wheels.items()]
    projects += [Project(name=n, requirement=r) for n, r in reqs.items()]
    for project in projects:
        versions = {w.version for w in project.wheels}
        if len(versions) > 1:
            raise InputError(
                f"{role} wheels of '{project.name}' have different versions: {', '.join(sorted(versions))}",
                hint="validate one version at a time",
            )
    return projects
