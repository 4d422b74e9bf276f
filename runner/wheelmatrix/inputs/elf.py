"""Read what the dynamic linker reads of an ELF file, from its program headers, bounded.

The loader never looks at section headers: it maps PT_LOAD segments, reads PT_DYNAMIC and
finds the dynamic symbol table, string table and symbol-version tables through the addresses
the dynamic section gives. Reading the same way gives the loader's own view of a file (also of
files patchelf rewrote, whose section headers may be stale) and touches only a few small
ranges of it: a 170 MB library inside a wheel is read through its zip stream without being
held in memory or spooled to disk.

Every count and offset is checked against the file's size before it is used, and a malformed
file raises ElfFormatError (a ValueError) naming what is wrong; nothing here loops or allocates
beyond what the file's size allows. Standard library only.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

ELF_MAGIC = b"\x7fELF"

PT_LOAD = 1
PT_DYNAMIC = 2
PT_NOTE = 4
PT_GNU_STACK = 0x6474E551
PT_GNU_PROPERTY = 0x6474E553
PF_X = 1

DT_NULL = 0
DT_NEEDED = 1
DT_HASH = 4
DT_STRTAB = 5
DT_SYMTAB = 6
DT_STRSZ = 10
DT_SYMENT = 11
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29
DT_RELR = 36
DT_GNU_HASH = 0x6FFFFEF5
DT_VERSYM = 0x6FFFFFF0
DT_VERNEED = 0x6FFFFFFE
DT_VERNEEDNUM = 0x6FFFFFFF

SHT_DYNSYM = 11
EM_X86_64 = 62

MACHINES = {
    0: "EM_NONE",
    190: "EM_CUDA",
    224: "EM_AMDGPU",
    247: "EM_BPF",
    2: "sparc",
    3: "i686",
    8: "mips",
    20: "ppc",
    21: "ppc64le",
    22: "s390x",
    40: "armv7l",
    62: "x86_64",
    183: "aarch64",
    243: "riscv64",
    258: "loongarch64",
}

# The limits a well-formed file never reaches; each is also bounded by the file's size.
MAX_PROGRAM_HEADERS = 0xFFFF
MAX_VERSION_NEEDS = 1 << 16


class ElfFormatError(ValueError):
    """The file claims to be ELF but its headers or tables do not fit in it."""


@dataclass(frozen=True, slots=True)
class SymbolTable:
    """The dynamic symbol table's raw entries, unpacked one at a time (pyarrow's libraries hold
    75,000 names: no object per symbol is kept)."""

    layout: struct.Struct
    step: int
    count: int
    table: bytes
    strings: bytes
    versions: bytes  # DT_VERSYM, 2 bytes per symbol, or empty
    fields: tuple[int, int, int, int]  # where name, info, other and shndx sit in `layout`
    order: str

    def __iter__(self) -> Iterator[tuple[str, bool, int, int, int]]:
        """(name, defined, bind, visibility, version index) of each named entry; the version
        index has its hidden bit cleared and is 0 for none, local and global."""
        name_at, info_at, other_at, shndx_at = self.fields
        index = struct.Struct(self.order + "H")
        versions, strings, layout = self.versions, self.strings, self.layout
        for i in range(self.count):
            entry = layout.unpack_from(self.table, i * self.step)
            name = _cstring(strings, entry[name_at])
            if not name:
                continue
            ndx = index.unpack_from(versions, 2 * i)[0] if versions else 0
            version = (ndx & 0x7FFF) if ndx > 1 else 0
            yield name, entry[shndx_at] != 0, entry[info_at] >> 4, entry[other_at] & 3, version


EMPTY_TABLE = SymbolTable(struct.Struct("<IBBHQQ"), 24, 0, b"", b"", b"", (0, 1, 2, 3), "<")


@dataclass(frozen=True, slots=True)
class DynamicInfo:
    machine: str
    e_machine: int
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    soname: str | None
    relr: bool
    execstack: bool
    notes: tuple[bytes, ...]  # PT_GNU_PROPERTY (or PT_NOTE) contents, for the x86 ISA level
    needs: dict[int, tuple[str, str]]  # version index -> (library, version name)
    symbols: SymbolTable


class _Reader:
    """Bounded reads at offsets of a seekable stream holding `size` bytes.

    A zip member's stream inflates what it skips: going forward is read in small steps (its own
    seek reads 16 MiB at a time, which a 170 MB library turned into 80 MB of peak memory), and
    going back starts the inflation over from the member's start."""

    SKIP_STEP = 1 << 18

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream = stream
        self.size = size
        self.inflating = isinstance(stream, zipfile.ZipExtFile)
        self.pos = stream.tell()
        self.rewinds = 0

    def read(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfFormatError(
                f"{what} ({length} bytes at {offset}) lies outside the file ({self.size} bytes)"
            )
        if length == 0:
            return b""
        self._seek(offset)
        data = self.stream.read(length)
        self.pos = offset + len(data)
        if len(data) != length:
            raise ElfFormatError(f"{what}: the file ends early ({len(data)} of {length} bytes at {offset})")
        return data

    def _seek(self, offset: int) -> None:
        if offset == self.pos:
            return
        if not self.inflating:
            self.stream.seek(offset)
            self.pos = offset
            return
        if offset < self.pos:
            self.stream.seek(0)
            self.pos = 0
            self.rewinds += 1
        while self.pos < offset:
            skipped = len(self.stream.read(min(self.SKIP_STEP, offset - self.pos)))
            if not skipped:
                raise ElfFormatError(f"the file ends at {self.pos}, before offset {offset}")
            self.pos += skipped


def _cstring(table: bytes, at: int) -> str:
    if not 0 <= at < len(table):
        return ""
    end = table.find(b"\0", at)
    return table[at : end if end >= 0 else len(table)].decode("utf-8", errors="replace")


def read_dynamic(stream: IO[bytes], size: int) -> DynamicInfo:
    """What the dynamic linker reads of the ELF file in `stream` (seekable, `size` bytes)."""
    r = _Reader(stream, size)
    ident = r.read(0, 16, "ELF identification")
    if ident[:4] != ELF_MAGIC:
        raise ElfFormatError("not an ELF file")
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise ElfFormatError(f"unknown ELF class {ident[4]} or byte order {ident[5]}")
    is64 = ident[4] == 2
    order = "<" if ident[5] == 1 else ">"
    header = r.read(0, 64 if is64 else 52, "ELF header")
    if is64:
        e_machine, phoff, phentsize, phnum = (
            struct.unpack_from(order + "H", header, 18)[0],
            struct.unpack_from(order + "Q", header, 32)[0],
            *struct.unpack_from(order + "HH", header, 54),
        )
        ph = struct.Struct(order + "IIQQQQQQ")  # type flags offset vaddr paddr filesz memsz align
    else:
        e_machine, phoff, phentsize, phnum = (
            struct.unpack_from(order + "H", header, 18)[0],
            struct.unpack_from(order + "I", header, 28)[0],
            *struct.unpack_from(order + "HH", header, 42),
        )
        ph = struct.Struct(order + "IIIIIIII")  # type offset vaddr paddr filesz memsz flags align
    machine = MACHINES.get(e_machine, f"EM_{e_machine}")
    segments: list[tuple[int, int, int, int, int]] = []  # type, flags, offset, vaddr, filesz
    if phnum:
        if phentsize < ph.size or phnum > MAX_PROGRAM_HEADERS:
            raise ElfFormatError(f"program header table: {phnum} entries of {phentsize} bytes")
        table = r.read(phoff, phnum * phentsize, "program header table")
        for i in range(phnum):
            f = ph.unpack_from(table, i * phentsize)
            if is64:
                segments.append((f[0], f[1], f[2], f[3], f[5]))
            else:
                segments.append((f[0], f[6], f[1], f[2], f[4]))
    execstack = any(t == PT_GNU_STACK and flags & PF_X for t, flags, _o, _v, _s in segments)
    notes = _notes(r, segments, e_machine)
    dynamic = next(((o, s) for t, _f, o, _v, s in segments if t == PT_DYNAMIC), None)
    if dynamic is None:  # static executable, relocatable object: nothing is loaded dynamically
        return DynamicInfo(machine, e_machine, (), (), (), None, False, execstack, notes, {}, EMPTY_TABLE)
    entry = struct.Struct(order + ("qQ" if is64 else "iI"))
    data = r.read(dynamic[0], dynamic[1] - dynamic[1] % entry.size, "dynamic section")
    tags: dict[int, int] = {}
    listed: list[tuple[int, int]] = []  # DT_NEEDED, DT_RPATH, DT_RUNPATH in file order
    relr = False
    for tag, value in entry.iter_unpack(data):
        if tag == DT_NULL:
            break
        if tag in (DT_NEEDED, DT_RPATH, DT_RUNPATH):
            listed.append((tag, value))
        elif tag == DT_RELR:
            relr = True
        tags.setdefault(tag, value)
    loads = [(v, o, s) for t, _f, o, v, s in segments if t == PT_LOAD]

    def offset_of(address: int, what: str) -> int:
        for vaddr, off, filesz in loads:
            if vaddr <= address < vaddr + filesz:
                return off + (address - vaddr)
        raise ElfFormatError(f"{what} at address {address:#x} is in no loaded segment")

    strings = b""
    if DT_STRTAB in tags:
        strings = r.read(
            offset_of(tags[DT_STRTAB], "DT_STRTAB"), tags.get(DT_STRSZ, 0), "dynamic string table"
        )
    needed = tuple(_cstring(strings, v) for t, v in listed if t == DT_NEEDED)
    rpath = tuple(p for t, v in listed if t == DT_RPATH for p in _cstring(strings, v).split(":"))
    runpath = tuple(p for t, v in listed if t == DT_RUNPATH for p in _cstring(strings, v).split(":"))
    soname = _cstring(strings, tags[DT_SONAME]) if DT_SONAME in tags else None
    needs = _version_needs(r, tags, offset_of, strings, order) if DT_VERNEED in tags else {}
    symbols = _symbols(r, tags, offset_of, strings, order, is64, header)
    return DynamicInfo(
        machine, e_machine, needed, rpath, runpath, soname, relr, execstack, notes, needs, symbols
    )


def _notes(r: _Reader, segments: list[tuple[int, int, int, int, int]], e_machine: int) -> tuple[bytes, ...]:
    """The GNU property notes (the only notes the scan reads: the x86 ISA level)."""
    if e_machine != EM_X86_64:
        return ()
    prop = [(o, s) for t, _f, o, _v, s in segments if t == PT_GNU_PROPERTY]
    chosen = prop or [(o, s) for t, _f, o, _v, s in segments if t == PT_NOTE]
    return tuple(r.read(o, s, "note segment") for o, s in chosen)


def _version_needs(
    r: _Reader, tags: dict[int, int], offset_of: Callable[[int, str], int], strings: bytes, order: str
) -> dict[int, tuple[str, str]]:
    """DT_VERNEED: version index -> (library, version name), walked with every step checked."""
    at = offset_of(tags[DT_VERNEED], "DT_VERNEED")
    count = tags.get(DT_VERNEEDNUM, 0)
    if count > MAX_VERSION_NEEDS or count * 16 > r.size:
        raise ElfFormatError(f"DT_VERNEEDNUM {count} does not fit in the file")
    need = struct.Struct(order + "HHIII")  # version cnt file aux next
    aux = struct.Struct(order + "IHHII")  # hash flags other name next
    out: dict[int, tuple[str, str]] = {}
    budget = r.size // aux.size  # no file holds more auxiliary entries than this
    for _ in range(count):
        _version, cnt, file_name, aux_off, nxt = need.unpack(r.read(at, need.size, "version need entry"))
        library = _cstring(strings, file_name)
        a = at + aux_off
        for _ in range(cnt):
            budget -= 1
            if budget < 0:
                raise ElfFormatError("version need entries loop")
            _hash, _flags, other, name, anext = aux.unpack(
                r.read(a, aux.size, "version need auxiliary entry")
            )
            out[other & 0x7FFF] = (library, _cstring(strings, name))
            if anext == 0:
                break
            a += anext
        if nxt == 0:
            break
        at += nxt
    return out


def _symbol_count(
    r: _Reader,
    tags: dict[int, int],
    offset_of: Callable[[int, str], int],
    order: str,
    is64: bool,
    header: bytes,
) -> int:
    """How many entries the dynamic symbol table has: DT_HASH says it; DT_GNU_HASH's chains end
    at the last one; else the section header of type SHT_DYNSYM."""
    if DT_HASH in tags:
        _nbucket, nchain = struct.unpack(
            order + "II", r.read(offset_of(tags[DT_HASH], "DT_HASH"), 8, "hash table")
        )
        return int(nchain)
    if DT_GNU_HASH in tags:
        at = offset_of(tags[DT_GNU_HASH], "DT_GNU_HASH")
        nbuckets, symoffset, bloom_size, _shift = struct.unpack(
            order + "IIII", r.read(at, 16, "GNU hash table")
        )
        at += 16 + bloom_size * (8 if is64 else 4)
        buckets = struct.unpack(order + f"{nbuckets}I", r.read(at, 4 * nbuckets, "GNU hash buckets"))
        last = max(buckets, default=0)
        if last >= symoffset:  # the hashed symbols come last: the table ends with the last chain
            at += 4 * nbuckets + 4 * (last - symoffset)
            while True:  # each step reads 4 more bytes of the file, so this ends with the file
                (chain,) = struct.unpack(order + "I", r.read(at, 4, "GNU hash chain"))
                if chain & 1:
                    return last + 1
                last += 1
                at += 4
        # nothing hashed (an executable that exports nothing): the section header says
        return _dynsym_section_count(r, order, is64, header) or int(symoffset)
    return _dynsym_section_count(r, order, is64, header)


def _dynsym_section_count(r: _Reader, order: str, is64: bool, header: bytes) -> int:
    if is64:
        shoff = struct.unpack_from(order + "Q", header, 40)[0]
        shentsize, shnum = struct.unpack_from(order + "HH", header, 58)
        sh = struct.Struct(order + "IIQQQQIIQQ")  # name type flags addr offset size link info align entsize
    else:
        shoff = struct.unpack_from(order + "I", header, 32)[0]
        shentsize, shnum = struct.unpack_from(order + "HH", header, 46)
        sh = struct.Struct(order + "IIIIIIIIII")
    if not shnum or shentsize < sh.size:
        return 0
    table = r.read(shoff, shnum * shentsize, "section header table")
    for i in range(shnum):
        f = sh.unpack_from(table, i * shentsize)
        if f[1] == SHT_DYNSYM and f[9]:
            return int(f[5] // f[9])
    return 0


def _symbols(
    r: _Reader,
    tags: dict[int, int],
    offset_of: Callable[[int, str], int],
    strings: bytes,
    order: str,
    is64: bool,
    header: bytes,
) -> SymbolTable:
    if DT_SYMTAB not in tags:
        return EMPTY_TABLE
    layout = struct.Struct(order + ("IBBHQQ" if is64 else "IIIBBH"))
    step = tags.get(DT_SYMENT) or layout.size
    if step < layout.size:
        raise ElfFormatError(f"DT_SYMENT {step} is smaller than a symbol ({layout.size} bytes)")
    count = _symbol_count(r, tags, offset_of, order, is64, header)
    at = offset_of(tags[DT_SYMTAB], "DT_SYMTAB")
    if count * step > r.size - at:
        raise ElfFormatError(f"{count} dynamic symbols do not fit in the file")
    table = r.read(at, count * step, "dynamic symbol table")
    versions = b""
    if DT_VERSYM in tags:
        versions = r.read(offset_of(tags[DT_VERSYM], "DT_VERSYM"), 2 * count, "symbol version table")
    fields = (0, 1, 2, 3) if is64 else (0, 3, 4, 5)
    return SymbolTable(layout, step, count, table, strings, versions, fields, order)
