"""Candidate and companion inputs: wheel files and requirement strings, validated up front.

Everything here runs before any container starts, so that bad input exits with code 2 and
a message naming the input.
"""

from __future__ import annotations

import contextlib
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from wheelmatrix.errors import InputError
from wheelmatrix.fsutil import sha256
from wheelmatrix.inputs.wheelname import InvalidWheelName, WheelTag, canonical_name, parse_wheel_name

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

lzma: ModuleType | None
try:  # zipfile imports it too, when Python was built with it
    import lzma
except ImportError:  # pragma: no cover
    lzma = None

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# `libfoo.so` is a shared library (loaded by ctypes or the loader), not an extension module:
# those carry an ABI tag (`lib.cpython-311-x86_64-linux-gnu.so`, `_x.abi3.so`) or no `lib`.
_LIBRARY = re.compile(r"^lib[^.]*\.so$")

# The keys a wheel's `{name}-{version}.data/` directory may hold (the binary distribution format
# spec): each installs into that install scheme's directory, purelib and platlib into
# site-packages next to the root's files.
# Files above this size are hashed with OpenSSL's SHA-256 (faster, but it costs memory to load).
LARGE_FILE = 8 * 2**20

DATA_SCHEMES = ("purelib", "platlib", "scripts", "headers", "data")

# Limits on a wheel archive, checked from its central directory before anything is inflated:
# the largest real wheels (torch, tensorflow, the CUDA libraries) have a few tens of thousands of
# members, a few GiB inflated and metadata of a few hundred KiB.
MAX_MEMBERS = 100_000
MAX_CENTRAL_DIRECTORY = 64 << 20  # bytes: zipfile holds one ZipInfo per entry in it
MAX_UNCOMPRESSED = 8 << 30  # declared total of every member
MAX_METADATA = 16 << 20  # METADATA, WHEEL and top_level.txt, each
# Compression methods zipfile reads (stored, deflate, bzip2, LZMA); others raise on reading.
_READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_DRIVE = re.compile(r"^[A-Za-z]:")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_FIXED_LOCAL_HEADER = 30
_NOT_A_WHEEL = "this is not a wheel an installer should unpack; check where it came from"
_REBUILD = "rebuild the wheel or download it again; nothing was installed"
_DO_NOT_INSTALL = "do not install this wheel; if it is yours, rebuild it"


# What zipfile and its decompressors raise on a corrupt archive (bz2 raises OSError; LZMA its own).
_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,  # a compression method zipfile does not know
    RuntimeError,  # an encrypted member; a decompressor module missing
    UnicodeDecodeError,  # a name with the UTF-8 flag that is not UTF-8
    EOFError,
    struct.error,
    OSError,
    ValueError,
    OverflowError,
    *((lzma.LZMAError,) if lzma is not None else ()),
)


class Placement(NamedTuple):
    """Where one wheel member is installed: `scheme` is "site" (the wheel's root, purelib and
    platlib: site-packages), "scripts" (the environment's bin/), "headers" or "data" (the
    environment's prefix); `path` is relative to that scheme's directory."""

    scheme: str
    path: str

    @property
    def importable(self) -> bool:
        return self.scheme == "site"


def placement(member: str) -> Placement | None:
    """Where `member` (a path inside the wheel) installs; None for the wheel's own metadata
    (`.dist-info/`) and for directory entries. Like pip, any top-level `*.data` directory is
    the wheel's data directory (the spec names it `{name}-{version}.data`)."""
    head, _sep, rest = member.partition("/")
    if member.endswith("/") or head.endswith(".dist-info"):
        return None
    if not head.endswith(".data"):
        return Placement(scheme="site", path=member)
    scheme, _sep, path = rest.partition("/")
    if not path:
        return None
    return Placement(scheme="site" if scheme in ("purelib", "platlib") else scheme, path=path)


class WheelFile(NamedTuple):
    path: Path
    project: NormalizedName
    version: str
    triples: frozenset[WheelTag]  # the file name's tags, as strings
    modules: tuple[str, ...]  # empty for a wheel that ships only data, scripts or native files
    sha256: str = ""
    scripts: tuple[str, ...] = ()  # file names in `.data/scripts/` (installed into bin/)
    build: str = ""  # the file name's build tag, if any

    @property
    def filename(self) -> str:
        return self.path.name


class RequirementSpec(NamedTuple):
    text: str
    project: NormalizedName


class Project(NamedTuple):
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


def read_wheel(path: Path, *, sha256: bool = True) -> WheelFile:
    """Validate a wheel file: its name, its zip structure and its metadata. A wheel is data from
    strangers: every failure to read it is an InputError naming it, and a wheel an installer
    must not unpack (members that escape or are symbolic links, over the limits above) is
    refused before anything is installed."""
    if not path.exists():
        raise InputError(f"{path}: no such file", hint="check the path of the wheel")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        name, version, build, tags = parse_wheel_name(path.name)
    except InvalidWheelName as exc:
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
        _check_central_directory(path)
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_members(path, infos)
            names = [info.filename for info in infos]
            dist_info = _dist_info_dir(path, names, name, str(version))
            wheel_meta = _read_small(path, zf, f"{dist_info}/WHEEL")
            metadata = _read_small(path, zf, f"{dist_info}/METADATA")
            top_level = (
                _read_small(path, zf, f"{dist_info}/top_level.txt")
                if f"{dist_info}/top_level.txt" in names
                else None
            )
    except InputError:
        raise
    except _READ_ERRORS as exc:
        raise InputError(
            f"{path}: corrupt wheel: {_describe(exc)}",
            hint=_REBUILD,
        ) from None
    if "Wheel-Version:" not in wheel_meta:
        raise InputError(f"{path}: corrupt wheel: {dist_info}/WHEEL has no Wheel-Version")
    meta_name = _header(metadata, "Name")
    if meta_name is None or canonical_name(meta_name) != name:
        raise InputError(
            f"{path}: METADATA names project '{meta_name}', but the file name says '{name}'",
            hint="the wheel was renamed by hand or is corrupt; rebuild it",
        )
    placed = _placements(path, names)
    modules = _modules(top_level, [p.path for p in placed if p.importable])
    return WheelFile(
        path=path.resolve(),
        project=name,
        version=str(version),
        triples=tags,
        modules=modules,
        sha256=file_sha256(path) if sha256 else "",
        scripts=tuple(sorted(p.path for p in placed if p.scheme == "scripts")),
        build=build,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, zipfile.BadZipFile) else f"{type(exc).__name__}: {text}"


def _check_central_directory(path: Path) -> None:
    """Refuse an archive whose end record declares more members or a larger central directory
    than the limits, before zipfile reads the directory into memory. An end record that cannot
    be parsed here is left to zipfile, which refuses it."""
    size = path.stat().st_size
    tail_size = min(size, _EOCD.size + 0xFFFF + _EOCD64_LOCATOR.size + _EOCD64.size)
    with path.open("rb") as fh:
        fh.seek(size - tail_size)
        tail = fh.read(tail_size)
    # where zipfile looks: at the very end (no comment), else the last signature
    at = (
        len(tail) - _EOCD.size
        if tail[-_EOCD.size : -_EOCD.size + 4] == b"PK\x05\x06"
        else tail.rfind(b"PK\x05\x06")
    )
    if at < 0 or at + _EOCD.size > len(tail):
        return
    _sig, _disk, _cd_disk, _here, count, cd_size, _cd_offset, _comment = _EOCD.unpack_from(tail, at)
    locator = at - _EOCD64_LOCATOR.size
    record = locator - _EOCD64.size
    if (
        record >= 0
        and tail[locator : locator + 4] == b"PK\x06\x07"
        and tail[record : record + 4] == b"PK\x06\x06"
    ):
        fields = _EOCD64.unpack_from(tail, record)
        count, cd_size = fields[7], fields[8]
    if count > MAX_MEMBERS:
        raise InputError(
            f"{path}: the archive declares {count:,} members, "
            f"more than the {MAX_MEMBERS:,} a wheel may have here",
            hint=_NOT_A_WHEEL,
        )
    if cd_size > MAX_CENTRAL_DIRECTORY:
        raise InputError(
            f"{path}: the archive's central directory is {cd_size:,} bytes, more than the "
            f"{MAX_CENTRAL_DIRECTORY >> 20} MiB a wheel may have here",
            hint=_NOT_A_WHEEL,
        )


def _check_members(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse what an installer must not unpack: too many members or bytes, members whose names
    escape the install directory or that are symbolic links, duplicate or overlapping entries,
    encrypted members and compression methods nothing can read."""
    if len(infos) > MAX_MEMBERS:
        raise InputError(
            f"{path}: the archive has {len(infos):,} members, "
            f"more than the {MAX_MEMBERS:,} a wheel may have here",
            hint=_NOT_A_WHEEL,
        )
    total = sum(info.file_size for info in infos)
    if total > MAX_UNCOMPRESSED:
        raise InputError(
            f"{path}: the members declare {total:,} bytes uncompressed, more than the "
            f"{MAX_UNCOMPRESSED >> 30} GiB a wheel may have here",
            hint=_NOT_A_WHEEL,
        )
    seen: set[str] = set()
    for info in infos:
        member = info.filename
        if not member:
            raise InputError(
                f"{path}: a member has an empty name (installers cannot unpack it; the archive is "
                "corrupt or crafted)",
                hint=_DO_NOT_INSTALL,
            )
        escape = _escape(member)
        if escape:
            raise InputError(
                f"{path}: member {member!r} {escape}: an installer would write it outside the "
                "environment's directories; the wheel is refused",
                hint=f"{_DO_NOT_INSTALL} with relative member paths",
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(
                f"{path}: member {member!r} is stored as a symbolic link; a wheel holds files only, "
                "and a link could point an installer's writes outside the environment",
                hint=f"{_DO_NOT_INSTALL} with the file itself instead of a link",
            )
        if member in seen:
            raise InputError(
                f"{path}: member {member!r} is listed twice in the archive's central directory "
                "(installers disagree about which copy wins)",
                hint=_REBUILD,
            )
        seen.add(member)
        if info.flag_bits & 0x1:
            raise InputError(
                f"{path}: member {member!r} is encrypted; installers cannot read it", hint=_REBUILD
            )
        if info.compress_type not in _READABLE_METHODS:
            raise InputError(
                f"{path}: member {member!r} uses compression method {info.compress_type}, which installers "
                "cannot read (wheels use deflate)",
                hint=_REBUILD,
            )
    _check_overlaps(path, infos)


def _escape(member: str) -> str:
    """How a member's name leaves the directory it is unpacked into ("" when it does not)."""
    if member.startswith("/"):
        return "is an absolute path"
    if "\\" in member:
        return "contains a backslash (a path separator on Windows)"
    if _DRIVE.match(member):
        return "starts with a drive letter"
    if ".." in member.split("/"):
        return "has a '..' component"
    return ""


def _check_overlaps(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Entries whose local data lie outside the file, or overlap: one compressed stream counted
    many times (the overlapping zip bomb). Each entry spans at least its fixed header and its
    compressed data."""
    size = path.stat().st_size
    for info in infos:
        if info.header_offset < 0 or info.header_offset + _FIXED_LOCAL_HEADER + info.compress_size > size:
            raise InputError(
                f"{path}: corrupt wheel: member {info.filename!r} lies outside the file (local header "
                f"at offset {info.header_offset:,}, {info.compress_size:,} bytes of data; "
                f"the file has {size:,})",
                hint=_REBUILD,
            )
    spans = sorted((info.header_offset, info.compress_size, info.filename) for info in infos)
    for (start, length, member), (next_start, _length, other) in zip(spans, spans[1:], strict=False):
        if start + _FIXED_LOCAL_HEADER + length > next_start:
            raise InputError(
                f"{path}: members {member!r} and {other!r} overlap in the archive (their data "
                "share bytes: a zip bomb or a corrupt archive)",
                hint=_REBUILD,
            )


def _read_small(path: Path, zf: zipfile.ZipFile, member: str) -> str:
    """A metadata file of the wheel, at most MAX_METADATA bytes, decoded leniently."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise InputError(f"{path}: corrupt wheel: it has no {member}", hint=_REBUILD) from None
    too_big = InputError(
        f"{path}: {member} is larger than the {MAX_METADATA >> 20} MiB a wheel's metadata file may have here",
        hint=_NOT_A_WHEEL,
    )
    if info.file_size > MAX_METADATA:
        raise too_big
    with zf.open(info) as fh:
        data = fh.read(MAX_METADATA + 1)
    if len(data) > MAX_METADATA:
        raise too_big
    return data.decode("utf-8", "replace")


def _placements(path: Path, names: list[str]) -> list[Placement]:
    """Where each member installs; a `.data/` key outside the spec's list is refused, because
    installers refuse it too."""
    out = []
    for member in names:
        where = placement(member)
        if where is None:
            continue
        if where.scheme not in ("site", *DATA_SCHEMES):
            raise InputError(
                f"{path}: {member}: '{where.scheme}' is not an install scheme "
                f"(a wheel's .data/ directory may hold only {', '.join(DATA_SCHEMES)}); "
                "installers refuse this wheel",
                hint="rebuild the wheel with the files under one of those directories",
            )
        out.append(where)
    return out


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per version of the file: kept in the cache under the
    file's identity (device, inode, size, modification and change times, so any write, even one
    that puts the size and modification time back, is a new version). A run over the same
    wheels again does not read them again (a 40 MB pyarrow wheel: about 0.25 s here)."""
    from wheelmatrix.fsutil import atomic_write_text
    from wheelmatrix.host import cache_dir

    st = path.stat()
    identity = f"{path.resolve()}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    key = sha256(identity.encode()).hexdigest()
    kept = cache_dir() / "digests" / key[:2] / key
    try:
        known = kept.read_text().strip()
    except OSError:
        known = ""
    if re.fullmatch(r"[0-9a-f]{64}", known):
        return str(known)
    digest = sha256(large=st.st_size > LARGE_FILE)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    value = str(digest.hexdigest())
    with contextlib.suppress(OSError):  # a cache that cannot be written costs time, not results
        kept.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(kept, value + "\n")
    return value


def _dist_info_dir(path: Path, names: list[str], project: str, version: str) -> str:
    candidates = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
    for cand in candidates:
        stem = cand[: -len(".dist-info")]
        cand_name, _, _cand_version = stem.rpartition("-")
        if canonical_name(cand_name) == project:
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


def _modules(top_level: str | None, installed: list[str]) -> tuple[str, ...]:
    """Top-level modules of a wheel: what top_level.txt lists *and* the wheel has files for
    (pyarrow 19.0.1 lists a build artefact, `__dummy__`, with no file), else what its files
    show. `installed` are the paths relative to site-packages of the files installed there (the
    root's and those of `.data/purelib/` and `.data/platlib/`)."""
    shipped = _shipped_modules(installed)
    tops: tuple[str, ...] = tuple(sorted(shipped))
    if top_level is not None:
        listed = [m.strip().split("/")[0] for m in top_level.splitlines() if m.strip()]
        found = tuple(dict.fromkeys(m for m in listed if _IDENTIFIER.match(m) and m in shipped))
        tops = found or tops
    return tuple(name for top in tops for name in _namespace_members(top, installed))


MAX_NAMESPACE_MEMBERS = 8


def _namespace_members(top: str, installed: list[str]) -> list[str]:
    """`top` itself, unless it is a PEP 420 namespace package (a directory without
    `__init__.py`: protobuf's `google`): importing that runs none of the wheel's code, so the
    shallowest packages and modules under it are imported instead (`google.protobuf`,
    `google._upb._message`), at most MAX_NAMESPACE_MEMBERS of them."""
    files = set(installed)
    packages = {p.rpartition("/")[0] for p in files if p.rpartition("/")[2].startswith("__init__.")}
    if top in packages or not any(p.startswith(f"{top}/") for p in files):
        return [top]
    found: dict[str, None] = {}
    for path in sorted(files):
        parts = path.split("/")
        if parts[0] != top or _LIBRARY.match(parts[-1]):
            continue
        for depth in range(1, len(parts)):
            name = parts[depth] if depth < len(parts) - 1 else parts[depth].split(".", 1)[0]
            if not _IDENTIFIER.match(name):
                break
            if depth == len(parts) - 1:
                if parts[depth].endswith((".py", ".so")):
                    found[".".join([*parts[:depth], name])] = None
            elif "/".join(parts[: depth + 1]) in packages:
                found[".".join(parts[: depth + 1])] = None
                break
    return list(found)[:MAX_NAMESPACE_MEMBERS] or [top]


def _shipped_modules(installed: list[str]) -> set[str]:
    """Top-level names with Python code: a module file, or a directory holding one at any depth
    (a regular package, a pkgutil-style or a PEP 420 namespace package). A directory of only
    data or shared libraries (`nvidia/nvtx/lib/libnvtx3interop.so.1`, `pkg/lib/libfoo.so`)
    imports nothing: its import would pass and test none of the wheel's code."""
    out: set[str] = set()
    for name in installed:
        head, sep, _rest = name.partition("/")
        if head.endswith(".libs") or _LIBRARY.match(name.rpartition("/")[2]):
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
    from packaging.requirements import InvalidRequirement, Requirement

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
    return RequirementSpec(text=str(req), project=canonical_name(req.name))


def parse_inputs(args: list[str], *, role: str, sha256: bool = True) -> list[Project]:
    """Group arguments into projects: wheels of one project together, requirements alone.
    `sha256=False`: the wheels' sha256 is left empty (a static scan keys its cache otherwise)."""
    wheels: dict[NormalizedName, list[WheelFile]] = {}
    reqs: dict[NormalizedName, RequirementSpec] = {}
    for arg in args:
        if arg.endswith(".whl") or Path(arg).exists():
            wheel = read_wheel(Path(arg), sha256=sha256)
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
