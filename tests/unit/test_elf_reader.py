"""wheelmatrix.inputs.elf: the loader's view of an ELF file, bounded, checked against the
pyelftools section view (tests/fixtures/elf_reference.py) on every fixture wheel."""

from __future__ import annotations

import io
import struct
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.elf_reference import reference_scan_elf
from tests.fixtures.selection import elf_member
from tests.fixtures.wheels import Fixture, write_wheel
from wheelmatrix.inputs.elf import ElfFormatError, read_dynamic
from wheelmatrix.scan.elf import consulted_export, is_elf, iter_wheel_elves, scan_elf


def _elf_members(wheel: Path) -> list[tuple[str, bytes]]:
    if not zipfile.is_zipfile(wheel):  # the fixtures' deliberately corrupt wheels
        return []
    with zipfile.ZipFile(wheel) as zf:
        return [(n, zf.read(n)) for n in zf.namelist() if is_elf(zf.read(n)[:4])]


def test_every_fixture_elf_file_reads_as_pyelftools_reads_it(fixtures: dict[str, Fixture], arch: str) -> None:
    compared = 0
    for fixture in fixtures.values():
        for wheel in fixture.wheels:
            if not wheel.name.endswith(f"_{arch}.whl"):
                continue
            streamed = {e.path: e for e in iter_wheel_elves(wheel)}
            for name, data in _elf_members(wheel):
                expected = reference_scan_elf(name, data)
                read = scan_elf(name, data, all_exports=True)
                assert read._replace(export_count=0) == expected, name
                # the count is of entries: one name may be exported under two versions
                assert read.export_count >= len(expected.exports), name
                kept = streamed[name]._replace(installs_as="")
                assert kept.exports == tuple(n for n in expected.exports if consulted_export(n)), name
                assert kept._replace(exports=expected.exports, export_count=0) == expected, name
                compared += 1
    assert compared >= 10


def _dynamic_phdr(data: bytes) -> int:
    """File offset of the PT_DYNAMIC entry in the program header table (ELF64 LE)."""
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        if struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 2:
            return phoff + i * phentsize
    raise AssertionError("no PT_DYNAMIC")


def _dynamic_entries(data: bytes) -> tuple[int, int]:
    at = _dynamic_phdr(data)
    offset, filesz = struct.unpack_from("<Q", data, at + 8)[0], struct.unpack_from("<Q", data, at + 32)[0]
    return offset, filesz


def _set_dynamic_tag(data: bytearray, tag: int, value: int) -> None:
    offset, size = _dynamic_entries(bytes(data))
    for at in range(offset, offset + size, 16):
        if struct.unpack_from("<q", data, at)[0] == tag:
            struct.pack_into("<Q", data, at + 8, value)
            return
    raise AssertionError(f"no dynamic tag {tag:#x}")


@pytest.fixture
def native(fixtures: dict[str, Fixture]) -> bytes:
    return elf_member(fixtures["newglibc"], "x86_64")


def test_section_headers_are_not_needed(native: bytes) -> None:
    """The loader never reads section headers: a file whose section table is gone still loads,
    and reads the same."""
    data = bytearray(native)
    struct.pack_into("<QHHH", data, 40, 0, 0, 0, 0)  # e_shoff, e_flags.., no sections
    struct.pack_into("<HHH", data, 58, 0, 0, 0)
    assert scan_elf("x.so", bytes(data)) == scan_elf("x.so", native)


@pytest.mark.parametrize(
    "corrupt",
    [
        "dynamic-offset",
        "dynamic-size",
        "verneednum",
        "strsz",
        "symtab-address",
        "phnum",
        "truncated",
    ],
)
def test_malformed_files_raise_a_format_error_quickly(native: bytes, corrupt: str) -> None:
    data = bytearray(native)
    at = _dynamic_phdr(native)
    if corrupt == "dynamic-offset":
        struct.pack_into("<Q", data, at + 8, 0xAB00_0000_0000_0000)
    elif corrupt == "dynamic-size":
        struct.pack_into("<Q", data, at + 32, 1 << 40)
    elif corrupt == "verneednum":
        _set_dynamic_tag(data, 0x6FFFFFFF, 0x8000_0000)  # the sh_info = 0x80000000 class
    elif corrupt == "strsz":
        _set_dynamic_tag(data, 10, 1 << 50)
    elif corrupt == "symtab-address":
        _set_dynamic_tag(data, 6, 0x7FFF_FFFF_0000)
    elif corrupt == "phnum":
        struct.pack_into("<H", data, 56, 0xFFFF)
    else:
        data = data[: _dynamic_entries(native)[0] + 8]
    with pytest.raises(ElfFormatError):
        read_dynamic(io.BytesIO(bytes(data)), len(data))


def test_a_version_chain_longer_than_the_file_is_refused(native: bytes) -> None:
    """A version chain that claims more entries than the file holds walks off its end and is
    refused (pyelftools walked a section's sh_info = 0x80000000 entries for hours)."""
    data = bytearray(native)
    info = read_dynamic(io.BytesIO(native), len(native))
    assert info.needs
    offset, size = _dynamic_entries(native)
    tags = dict(struct.iter_unpack("<qQ", native[offset : offset + size]))
    verneed = tags[0x6FFFFFFE]  # an address; in these small objects it equals its file offset
    (aux,) = struct.unpack_from("<I", data, verneed + 8)
    struct.pack_into("<I", data, verneed + aux + 12, 1 << 20)  # vna_next: past the end of the file
    struct.pack_into("<H", data, verneed + 2, 0xFFFF)  # vn_cnt: far more entries than exist
    with pytest.raises(ElfFormatError):
        read_dynamic(io.BytesIO(bytes(data)), len(data))


def test_a_malformed_member_is_skipped_and_the_rest_of_the_wheel_read(native: bytes, tmp_path: Path) -> None:
    broken = bytearray(native)
    struct.pack_into("<Q", broken, _dynamic_phdr(native) + 8, 1 << 60)
    wheel = write_wheel(
        tmp_path,
        "wmbroken",
        "1.0",
        "cp39-abi3-manylinux_2_17_x86_64",
        {"wmbroken/__init__.py": b"", "wmbroken/_bad.abi3.so": bytes(broken), "wmbroken/_ok.abi3.so": native},
        purelib=False,
    )
    assert [e.path for e in iter_wheel_elves(wheel)] == ["wmbroken/_ok.abi3.so"]


def test_executables_that_export_nothing_still_list_their_imports(fixtures: dict[str, Fixture]) -> None:
    """An executable's GNU hash table hashes no symbol when it exports none: the symbol count
    then comes from the section header (Rust and Go command-line tools in wheels)."""
    for fixture in fixtures.values():
        for wheel in fixture.wheels:
            for name, data in _elf_members(wheel):
                if data[16] == 2:  # ET_EXEC
                    assert scan_elf(name, data).undefined == reference_scan_elf(name, data).undefined


# --------------------------------------------------------------------------- hostile files

# offsets weighted towards the headers and the dynamic tables at the front of the file
_OFFSETS = st.one_of(st.integers(min_value=0, max_value=1 << 10), st.integers(min_value=0, max_value=1 << 16))
_MUTATIONS = st.lists(st.tuples(_OFFSETS, st.binary(min_size=1, max_size=8)), max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=_MUTATIONS, cut=st.one_of(st.none(), st.integers(min_value=0, max_value=1 << 16)))
def test_mutated_files_read_or_raise_a_format_error(
    native: bytes, mutations: list[tuple[int, bytes]], cut: int | None
) -> None:
    """Any bytes over a real library's headers and tables: a result or ElfFormatError, never
    another exception, and bounded by the file (no loop, no allocation beyond its size)."""
    data = bytearray(native)
    for at, junk in mutations:
        at %= len(data)
        data[at : at + len(junk)] = junk
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    started = time.process_time()
    try:
        info = read_dynamic(io.BytesIO(bytes(data)), len(data))
    except ElfFormatError:
        pass
    else:
        assert len(info.undefined) + info.export_count <= len(data)
    assert time.process_time() - started < 5


@pytest.mark.parametrize("window", [7, 64, 4096])
def test_names_that_cross_string_table_windows_read_whole(
    fixtures: dict[str, Fixture], arch: str, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The string table is read in windows; a name is read whole wherever a window ends."""
    compared = 0
    for fixture in fixtures.values():
        for wheel in fixture.wheels:
            if not wheel.name.endswith(f"_{arch}.whl"):
                continue
            for name, data in _elf_members(wheel):
                monkeypatch.setattr("wheelmatrix.inputs.elf._Strings.WINDOW", 1 << 18)
                whole = scan_elf(name, data, all_exports=True), scan_elf(name, data)
                monkeypatch.setattr("wheelmatrix.inputs.elf._Strings.WINDOW", window)
                assert (scan_elf(name, data, all_exports=True), scan_elf(name, data)) == whole, name
                compared += 1
    assert compared >= 10


def test_an_export_named_by_the_tail_of_another_string_is_read(native: bytes) -> None:
    """Linkers share string-table suffixes ("free" inside "xfree"): an export whose name
    starts inside another string is read from there, as the loader reads it."""
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(native))
    dynsym = elf.get_section_by_name(".dynsym")
    target = next(
        (i, sym.name)
        for i, sym in enumerate(dynsym.iter_symbols())
        if sym["st_shndx"] != "SHN_UNDEF" and sym["st_info"]["bind"] == "STB_GLOBAL" and len(sym.name) > 3
    )
    index, original = target
    patched = bytearray(native)
    entry = dynsym["sh_offset"] + index * dynsym["sh_entsize"]
    (st_name,) = struct.unpack_from("<I", patched, entry)
    struct.pack_into("<I", patched, entry, st_name + 2)  # now the name's tail
    read = scan_elf("x.so", bytes(patched), all_exports=True)
    assert original[2:] in read.exports and original not in read.exports
    assert read._replace(export_count=0) == reference_scan_elf("x.so", bytes(patched))
