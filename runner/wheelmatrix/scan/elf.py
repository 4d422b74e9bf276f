"""Read what each ELF file in a wheel needs and exports.

For every ELF member of a wheel: its machine, DT_NEEDED, RPATH/RUNPATH, the versioned symbols
it requires (GLIBC_, GLIBCXX_, CXXABI_, GCC_, ...) with the symbols that require them, and the
dynamic symbols it exports with default visibility.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from wheelmatrix.inputs.elf import ElfFormatError, read_dynamic
from wheelmatrix.inputs.wheels import placement
from wheelmatrix.inputs.zipmember import ByteStream, MemberError, open_member
from wheelmatrix.scan.glibc_symbols import (  # the table loads on first use
    PYTHON_PREFIXES,
    PYTHON_PREFIXES_BYTES,
    is_known,
    known_among,
)

_VERSION = re.compile(r"^([A-Z][A-Z_]*?)_(\d+(?:\.\d+)*)$")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


class Requirement(NamedTuple):
    """One versioned symbol requirement: `symbol` needs `namespace`_`version` from `library`."""

    library: str
    namespace: str  # GLIBC, GLIBCXX, CXXABI, GCC, ...
    version: str  # "2.36"
    symbols: tuple[str, ...]
    unversioned: bool = False  # inferred: references without a version, to names new in `version`

    @property
    def label(self) -> str:
        return f"{self.namespace}_{self.version}"


class ElfInfo(NamedTuple):
    path: str  # path inside the wheel
    machine: str
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    requirements: tuple[Requirement, ...]
    exports: tuple[str, ...]  # the exports `consulted_export` keeps (scan_elf's all_exports: all)
    undefined: tuple[str, ...]
    soname: str | None = None
    export_count: int = 0  # exported symbols in all
    unversioned: tuple[str, ...] = ()  # strong undefined references that carry no symbol version
    execstack: bool = False  # PT_GNU_STACK asks for an executable stack (PF_X)
    isa_level: str | None = None  # x86-64-vN declared needed in the GNU property note (x86 only)
    relr: bool = False  # packed relative relocations (DT_RELR): glibc >= 2.36, musl >= 1.2.4
    # (library, symbols) bound to GLIBC_PRIVATE: glibc's internal interface, which changes with
    # every release (a glibc library copied into a wheel, a tool linked against glibc's internals)
    private: tuple[tuple[str, tuple[str, ...]], ...] = ()
    installs_as: str = ""  # where an installer puts it, when not at `path`: "x.so", "bin/x"

    def highest(self, namespace: str) -> Requirement | None:
        reqs = [r for r in self.requirements if r.namespace == namespace]
        return max(reqs, key=lambda r: version_key(r.version)) if reqs else None


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def scan_elf(
    path: str, data: bytes | ByteStream, size: int | None = None, *, all_exports: bool = False
) -> ElfInfo:
    """What one ELF file needs and exports, from its bytes or a seekable binary stream of `size`
    bytes (a zip member's stream: only the ranges the dynamic linker reads are inflated).
    Of the exports it keeps the names a judgement consults (`consulted_export`), or every name
    with `all_exports`. Raises ElfFormatError (a ValueError) when its headers or tables do not
    fit in it."""
    if isinstance(data, bytes):
        size, data = len(data), io.BytesIO(data)
    elif size is None:
        size = data.seek(0, io.SEEK_END)
    dyn = read_dynamic(data, size, None if all_exports else consulted_exports)
    isa_level = None
    if dyn.machine == "x86_64":
        isa_level = next((level for note in dyn.notes if (level := x86_isa_needed(note))), None)
    by_version: dict[tuple[str, str], list[str]] = {}
    unversioned: list[str] = []
    versions = dyn.needs
    for name, bind, ndx in dyn.undefined:
        if ndx in versions:
            by_version.setdefault(versions[ndx], []).append(name)
        elif bind == _STB_GLOBAL:
            unversioned.append(name)
    for key in versions.values():
        by_version.setdefault(key, [])
    requirements = []
    private = []
    for (library, name), symbols in sorted(by_version.items()):
        match = _VERSION.match(name)
        if name == "GLIBC_PRIVATE":
            private.append((library, tuple(sorted(symbols))))
        elif match:
            requirements.append(
                Requirement(
                    library=library,
                    namespace=match.group(1),
                    version=match.group(2),
                    symbols=tuple(sorted(symbols)),
                )
            )
    return ElfInfo(
        path=path,
        machine=dyn.machine,
        needed=dyn.needed,
        rpath=dyn.rpath,
        runpath=dyn.runpath,
        requirements=tuple(requirements),
        exports=dyn.exports,
        export_count=dyn.export_count,
        undefined=tuple(sorted({name for name, _bind, _ndx in dyn.undefined})),
        soname=dyn.soname,
        unversioned=tuple(sorted(set(unversioned))),
        execstack=dyn.execstack,
        isa_level=isa_level,
        relr=dyn.relr,
        private=tuple(private),
    )


_STB_GLOBAL = 1


def consulted_exports(names: list[bytes]) -> Iterable[bytes]:
    """The names of a batch of raw exported names that `consulted_export` accepts, picked in
    bulk (a C++ library exports hundreds of thousands)."""
    yield from known_among(names)
    yield from (name for name in names if name.startswith(PYTHON_PREFIXES_BYTES))


def consulted_export(name: str) -> bool:
    """An exported name a static judgement looks up: a C-library name (an unversioned reference
    to it is satisfied by the wheel itself) or a Python C-API name (abi3 checks). Every other
    export is only needed to name a collision between wheels: `wheel_exports` reads those."""
    return name.startswith(PYTHON_PREFIXES) or is_known(name)


def function_at(data: bytes, address: int) -> tuple[str, int] | None:
    """(function, offset into it) containing ADDRESS (an offset from the object's load base),
    from the full symbol table (.symtab, which names static functions too); None if stripped."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    elf = ELFFile(io.BytesIO(data))
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        return None
    for sym in symtab.iter_symbols():
        if sym["st_info"]["type"] != "STT_FUNC" or not sym.name:
            continue
        start, size = sym["st_value"], sym["st_size"]
        if start <= address < start + max(size, 1):
            return sym.name, address - start
    return None


GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002


def x86_isa_needed(note: bytes) -> str | None:
    """The highest x86-64 ISA level a .note.gnu.property section declares as needed (the
    linker writes it with -z x86-64-vN, or gcc -mneeded); None if it declares none."""
    off = 0
    while off + 12 <= len(note):
        namesz, descsz, ntype = struct.unpack_from("<III", note, off)
        name_end = off + 12 + ((namesz + 3) & ~3)
        desc = note[name_end : name_end + descsz]
        if ntype == 5 and note[off + 12 : off + 12 + namesz].rstrip(b"\0") == b"GNU":
            at = 0
            while at + 8 <= len(desc):
                pr_type, size = struct.unpack_from("<II", desc, at)
                if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED and size >= 4:
                    bits = struct.unpack_from("<I", desc, at + 8)[0]
                    for level in (4, 3, 2, 1):
                        if bits & (1 << (level - 1)):
                            return f"x86-64-v{level}"
                at += 8 + ((size + 7) & ~7)
        off = name_end + ((descsz + 3) & ~3)
    return None


def installed_as(member: str) -> str:
    """Where an installer puts a wheel member, relative to the environment: site-packages paths
    plainly (`.data/platlib/x.so` installs as `x.so`), the other schemes under the directory
    they install into (`bin/`, `include/`, the prefix); "" when that is `member` itself."""
    where = placement(member)
    if where is None or where.path == member:
        return ""
    prefix = {"site": "", "scripts": "bin/", "headers": "include/", "data": "<prefix>/"}
    return prefix.get(where.scheme, f"<{where.scheme}>/") + where.path


def _scan_members(wheel: Path, *, all_exports: bool = False) -> Iterator[ElfInfo]:
    """scan_elf of each ELF member of a wheel, read through its zip stream; a member with ELF
    magic whose headers do not fit is skipped (not a library we can reason about)."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.file_size < 64:
                continue
            try:
                with open_member(zf, info) as fh:
                    if not is_elf(fh.read(4)):
                        continue
                    found = scan_elf(info.filename, fh, info.file_size, all_exports=all_exports)
            except (ElfFormatError, MemberError):
                continue
            yield found


def iter_wheel_elves(wheel: Path) -> Iterator[ElfInfo]:
    """Every ELF file inside a wheel, in any of its layouts (the root, `.data/purelib`,
    `.data/platlib`, `.data/scripts`, `.data/data`, `.data/headers`), read through the member's
    zip stream: nothing is extracted or held whole, only the ranges the dynamic linker reads are
    inflated. Each names where it installs when that differs from its path."""
    for found in _scan_members(wheel):
        where = installed_as(found.path)
        yield found._replace(installs_as=where) if where else found


def wheel_exports(wheel: Path) -> dict[str, tuple[str, ...]]:
    """Every exported name of every ELF file in a wheel, by member path: read again, only when a
    collision between wheels needs naming (pyarrow's libraries export 75,000 names)."""
    return {found.path: found.exports for found in _scan_members(wheel, all_exports=True)}
