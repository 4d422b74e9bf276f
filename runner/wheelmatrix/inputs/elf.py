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

import array
import bisect
import itertools
import operator
import struct
import zipfile
from collections.abc import Callable, Iterable
from typing import NamedTuple

from wheelmatrix.inputs.zipmember import ByteStream, InflatingMember

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


class DynamicInfo(NamedTuple):
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
    undefined: tuple[tuple[str, int, int], ...]  # (name, bind, version index) of each import
    exports: tuple[str, ...]  # exported names `select_exports` picked (all when it is None), sorted
    export_count: int  # exported entries in all (default or protected visibility, defined)


class _Reader:
    """Bounded reads at offsets of a seekable stream holding `size` bytes.

    A zip member's stream inflates what it skips: going forward is read in small steps (its own
    seek reads 16 MiB at a time, which a 170 MB library turned into 80 MB of peak memory), and
    going back starts the inflation over from the member's start. So the bytes just before the
    last forward skip's end, and a file's last megabyte when asked for, are kept: auditwheel
    repair's patchelf appends the dynamic section, string and hash tables at a file's very end,
    and reading them again would inflate a 100 MB library twice more."""

    SKIP_STEP = 1 << 16
    TAIL = 1 << 20

    def __init__(self, stream: ByteStream, size: int) -> None:
        self.stream = stream
        self.size = size
        self.inflating = isinstance(stream, (zipfile.ZipExtFile, InflatingMember))
        self.pos = stream.tell()
        self.kept_at, self.kept = 0, b""  # bytes [kept_at, kept_at + len(kept)) of the file

    def read(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfFormatError(
                f"{what} ({length} bytes at {offset}) lies outside the file ({self.size} bytes)"
            )
        if length == 0:
            return b""
        if self.kept_at <= offset and offset + length <= self.kept_at + len(self.kept):
            return self.kept[offset - self.kept_at : offset - self.kept_at + length]
        self._seek(offset)
        data = self.stream.read(length)
        self.pos = offset + len(data)
        if len(data) != length:
            raise ElfFormatError(f"{what}: the file ends early ({len(data)} of {length} bytes at {offset})")
        return data

    def keep_tail(self, offset: int, data: bytes) -> None:
        """`data` was just read at `offset`: keep it and the rest of the file when that rest is at
        most TAIL bytes."""
        end = offset + len(data)
        if self.inflating and self.pos == end and self.size - end <= self.TAIL:
            rest = self.read(end, self.size - end, "end of the file")
            self.kept_at, self.kept = offset, data + rest

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
        last = b""
        if isinstance(self.stream, InflatingMember):  # drop all but the last step's bytes
            self.stream.skip(max(0, offset - self.pos - self.SKIP_STEP))
            self.pos = self.stream.tell()
        while self.pos < offset:
            chunk = self.stream.read(min(self.SKIP_STEP, offset - self.pos))
            if not chunk:
                raise ElfFormatError(f"the file ends at {self.pos}, before offset {offset}")
            self.pos += len(chunk)
            last = chunk
        if last:  # the tables often sit just before the section that was skipped to
            self.kept_at, self.kept = self.pos - len(last), last


def read_dynamic(
    stream: ByteStream,
    size: int,
    select_exports: Callable[[list[bytes]], Iterable[bytes]] | None = None,
) -> DynamicInfo:
    """What the dynamic linker reads of the ELF file in `stream` (seekable, `size` bytes).

    Every import is listed; of the exports, only the names `select_exports` picks from a batch
    of raw names (all, when it is None) and their count: a library exporting 587,000 C++
    names keeps the few a judgement consults, not 50 MB of strings."""
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
        return DynamicInfo(machine, e_machine, (), (), (), None, False, execstack, notes, {}, (), (), 0)
    entry = struct.Struct(order + ("qQ" if is64 else "iI"))
    data = r.read(dynamic[0], dynamic[1] - dynamic[1] % entry.size, "dynamic section")
    r.keep_tail(dynamic[0], data)  # patchelf puts the string and hash tables there too
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

    strings = _Strings(r, tags, offset_of)
    wanted = [v for _t, v in listed] + ([tags[DT_SONAME]] if DT_SONAME in tags else [])
    # read in the order GNU ld lays the tables out (hash, symbols, strings, versions): one
    # forward pass through a zip member's stream after the dynamic section
    count = _symbol_count(r, tags, offset_of, order, is64, header) if DT_SYMTAB in tags else 0
    imports = _symbols(r, tags, offset_of, order, is64, count, strings.want_exports)
    versions = b""
    if imports and DT_VERSYM in tags:
        versions = r.read(offset_of(tags[DT_VERSYM], "DT_VERSYM"), 2 * count, "symbol version table")
    raw_needs = _version_needs(r, tags, offset_of, order) if DT_VERNEED in tags else []
    wanted += [o for _other, file_at, name_at in raw_needs for o in (file_at, name_at)]
    wanted += [name_at for _index, name_at, _bind in imports]
    small: dict[int, str] = dict.fromkeys(wanted, "")
    exports: set[str] = set()
    total = 0

    def exported(names: list[bytes]) -> None:
        nonlocal total
        total += len(names) - names.count(b"")
        kept = names if select_exports is None else select_exports(names)
        exports.update(name.decode("utf-8", errors="replace") for name in kept if name)

    def named(at: int, name: bytes) -> None:
        small[at] = name.decode("utf-8", errors="replace")

    for at in small:
        strings.want(at)
    strings.resolve(named, exported)
    needed = tuple(small[v] for t, v in listed if t == DT_NEEDED)
    rpath = tuple(p for t, v in listed if t == DT_RPATH for p in small[v].split(":"))
    runpath = tuple(p for t, v in listed if t == DT_RUNPATH for p in small[v].split(":"))
    soname = small[tags[DT_SONAME]] if DT_SONAME in tags else None
    needs = {other: (small[file_at], small[name_at]) for other, file_at, name_at in raw_needs}
    index = struct.Struct(order + "H")
    undefined = []
    for i, name_at, bind in imports:
        name = small[name_at]
        if name:
            ndx = index.unpack_from(versions, 2 * i)[0] if versions else 0
            undefined.append((name, bind, (ndx & 0x7FFF) if ndx > 1 else 0))
    return DynamicInfo(
        machine,
        e_machine,
        needed,
        rpath,
        runpath,
        soname,
        relr,
        execstack,
        notes,
        needs,
        tuple(undefined),
        tuple(sorted(exports)),
        total,
    )


class _Strings:
    """The dynamic string table, resolved for many offsets in one forward pass of windows: a
    26 MB table (semgrep-core's 587,000 exports) is never held whole, and the names of a
    window's exports are looked up in bulk, not one by one."""

    WINDOW = 1 << 16

    def __init__(self, r: _Reader, tags: dict[int, int], offset_of: Callable[[int, str], int]) -> None:
        self.r = r
        self.size = tags.get(DT_STRSZ, 0) if DT_STRTAB in tags else 0
        self.base = offset_of(tags[DT_STRTAB], "DT_STRTAB") if self.size else 0
        # offsets asked for, by window: 4 bytes per name until its window is read
        self.single: dict[int, array.array[int]] = {}
        self.exports: dict[int, array.array[int]] = {}
        if self.size and self.base + self.size > r.size:
            raise ElfFormatError(
                f"dynamic string table ({self.size} bytes at {self.base}) lies outside the file"
            )

    def want(self, at: int) -> None:
        """Ask for the name at offset `at` (given back by `named`)."""
        if 0 <= at < self.size:
            self.single.setdefault(at // self.WINDOW, array.array("I")).append(at)

    def want_exports(self, offsets: list[int]) -> None:
        """Ask for a batch of exported names (given back to `exported`, a window at a time)."""
        offsets.sort()
        del offsets[bisect.bisect_left(offsets, self.size) :]
        i, n = 0, len(offsets)
        while i < n:
            window = offsets[i] // self.WINDOW
            j = bisect.bisect_left(offsets, (window + 1) * self.WINDOW, i)
            self.exports.setdefault(window, array.array("I")).extend(offsets[i:j])
            i = j

    def resolve(self, named: Callable[[int, bytes], None], exported: Callable[[list[bytes]], None]) -> None:
        """named(offset, name) for every single name asked for, and exported(names) with the
        names of each window's exports, window by window in file order."""
        carry_at, carry = -1, b""  # bytes read past the previous window's end
        for window in sorted(self.single.keys() | self.exports.keys()):
            begin = window * self.WINDOW
            nominal_end = min(self.size, begin + self.WINDOW)
            data = carry if carry_at == begin else b""
            if begin + len(data) < nominal_end:
                data += self.r.read(
                    self.base + begin + len(data), nominal_end - begin - len(data), "dynamic string table"
                )
            end = begin + len(data)
            # every name that starts in the window ends in `data`: read on to a NUL past its end
            while end < self.size and data.find(b"\0", nominal_end - 1 - begin) < 0:
                more = self.r.read(self.base + end, min(4096, self.size - end), "dynamic string table")
                data, end = data + more, end + len(more)
            for at in self.single.pop(window, ()):  # freed as it is done
                named(at, _name_at(data, at - begin))
            offsets = self.exports.pop(window, None)
            if offsets:
                # the strings of the window by where they start; a name that is the tail of
                # another string (the linker shares suffixes) is looked up on its own
                parts = data.split(b"\0")
                starts = dict(
                    zip(
                        map(
                            operator.add,
                            itertools.accumulate(map(len, parts), initial=0),
                            itertools.count(begin),
                        ),
                        parts,
                        strict=False,  # the offsets run one past the last string
                    )
                )
                names = list(map(starts.get, offsets))
                del starts, parts
                if None in names:
                    names = [
                        _name_at(data, at - begin) if name is None else name
                        for at, name in zip(offsets, names, strict=True)
                    ]
                exported(names)  # type: ignore[arg-type]  # no None is left
            carry_at, carry = nominal_end, data[nominal_end - begin :]


def _name_at(data: bytes, rel: int) -> bytes:
    stop = data.find(b"\0", rel)
    return data[rel : stop if stop >= 0 else len(data)]


def _notes(r: _Reader, segments: list[tuple[int, int, int, int, int]], e_machine: int) -> tuple[bytes, ...]:
    """The GNU property notes (the only notes the scan reads: the x86 ISA level)."""
    if e_machine != EM_X86_64:
        return ()
    prop = [(o, s) for t, _f, o, _v, s in segments if t == PT_GNU_PROPERTY]
    chosen = prop or [(o, s) for t, _f, o, _v, s in segments if t == PT_NOTE]
    return tuple(r.read(o, s, "note segment") for o, s in chosen)


def _version_needs(
    r: _Reader, tags: dict[int, int], offset_of: Callable[[int, str], int], order: str
) -> list[tuple[int, int, int]]:
    """DT_VERNEED as (version index, library name offset, version name offset), walked with
    every step checked."""
    at = offset_of(tags[DT_VERNEED], "DT_VERNEED")
    count = tags.get(DT_VERNEEDNUM, 0)
    if count > MAX_VERSION_NEEDS or count * 16 > r.size:
        raise ElfFormatError(f"DT_VERNEEDNUM {count} does not fit in the file")
    need = struct.Struct(order + "HHIII")  # version cnt file aux next
    aux = struct.Struct(order + "IHHII")  # hash flags other name next
    out: list[tuple[int, int, int]] = []
    budget = r.size // aux.size  # no file holds more auxiliary entries than this
    for _ in range(count):
        _version, cnt, file_name, aux_off, nxt = need.unpack(r.read(at, need.size, "version need entry"))
        a = at + aux_off
        for _ in range(cnt):
            budget -= 1
            if budget < 0:
                raise ElfFormatError("version need entries loop")
            _hash, _flags, other, name, anext = aux.unpack(
                r.read(a, aux.size, "version need auxiliary entry")
            )
            out.append((other & 0x7FFF, file_name, name))
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


_EXPORTED_BINDS = (1, 2, 10)  # STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE (C++ inline statics)
_EXPORTED_VISIBILITY = (0, 3)  # STV_DEFAULT, STV_PROTECTED
SYMBOLS_PER_READ = 1 << 12


def _symbols(
    r: _Reader,
    tags: dict[int, int],
    offset_of: Callable[[int, str], int],
    order: str,
    is64: bool,
    count: int,
    exports: Callable[[list[int]], None],
) -> list[tuple[int, int, int]]:
    """The imports as (symbol index, name offset, bind), read in slices; the name offsets of
    each slice's exports (defined, global/weak/unique, default or protected visibility) go to
    `exports` as one list."""
    if DT_SYMTAB not in tags or not count:
        return []
    # name, info, other, section index (the value and size are skipped, never unpacked)
    layout = struct.Struct(order + ("IBBH16x" if is64 else "I8xBBH"))
    step = tags.get(DT_SYMENT) or layout.size
    if step < layout.size:
        raise ElfFormatError(f"DT_SYMENT {step} is smaller than a symbol ({layout.size} bytes)")
    at = offset_of(tags[DT_SYMTAB], "DT_SYMTAB")
    if count * step > r.size - at:
        raise ElfFormatError(f"{count} dynamic symbols do not fit in the file")
    imports: list[tuple[int, int, int]] = []
    for first in range(0, count, SYMBOLS_PER_READ):
        n = min(SYMBOLS_PER_READ, count - first)
        table = r.read(at + first * step, n * step, "dynamic symbol table")
        if step == layout.size:
            entries = list(layout.iter_unpack(table))
        else:
            entries = [layout.unpack_from(table, k * step) for k in range(n)]
        imports += [
            (first + k, name, info >> 4)
            for k, (name, info, _other, shndx) in enumerate(entries)
            if name and not shndx
        ]
        exports(
            [
                name
                for name, info, other, shndx in entries
                if name and shndx and info >> 4 in _EXPORTED_BINDS and other & 3 in _EXPORTED_VISIBILITY
            ]
        )
    return imports
