"""The ELF scanner (wheelmatrix/scan/scan.py) on real fixture wheels built on the host."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from tests.fixtures.selection import wheel_for
from tests.fixtures.wheels import Fixture, write_wheel
from wheelmatrix.scan.elf import ElfInfo, is_elf, iter_wheel_elves, scan_elf, version_key, wheel_exports

VENDORED_LIB = "libstdc++-wm0a1b2c.so.6.0.30"


def elves(fixture: Fixture, arch: str) -> dict[str, ElfInfo]:
    return {e.path: e for e in iter_wheel_elves(wheel_for(fixture, arch))}


def member(wheel: Path, name: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(name)


# --------------------------------------------------------------------------- helpers


def test_version_key_orders_numerically() -> None:
    assert version_key("2.36") > version_key("2.4") > version_key("2.2.5")
    assert version_key("3.4.29") > version_key("3.4.9")
    assert max(["2.17", "2.2.5", "2.36", "2.4"], key=version_key) == "2.36"


def test_is_elf() -> None:
    assert is_elf(b"\x7fELF\x02\x01\x01")
    assert not is_elf(b"PK\x03\x04")
    assert not is_elf(b"")


# --------------------------------------------------------------------------- real wheels


def test_newglibc_needs_glibc_2_36_for_arc4random(fixtures: dict[str, Fixture], arch: str) -> None:
    found = elves(fixtures["newglibc"], arch)
    assert list(found) == ["wmnewglibc/_native.abi3.so"]
    so = found["wmnewglibc/_native.abi3.so"]

    assert so.machine == arch
    assert so.needed == ("libc.so.6",)
    assert so.soname is None
    newest = so.highest("GLIBC")
    assert newest is not None
    assert (newest.library, newest.namespace, newest.version, newest.label) == (
        "libc.so.6",
        "GLIBC",
        "2.36",
        "GLIBC_2.36",
    )
    assert newest.symbols == ("arc4random",)
    assert "arc4random" in so.undefined
    assert "PyInit__native" in so.exports
    assert "arc4random" not in so.exports
    assert so.highest("GLIBCXX") is None


def test_colla_and_collb_both_export_wm_shared_state(fixtures: dict[str, Fixture], arch: str) -> None:
    (a,) = elves(fixtures["colla"], arch).values()
    (b,) = elves(fixtures["collb"], arch).values()

    assert a.path == "wmcolla/_a.abi3.so" and b.path == "wmcollb/_b.abi3.so"
    # the scan keeps the exports judgements consult; every name is read again on demand
    assert "wm_shared_state" not in a.exports and a.export_count >= 2
    assert "wm_shared_state" in wheel_exports(wheel_for(fixtures["colla"], arch))["wmcolla/_a.abi3.so"]
    assert "wm_shared_state" in wheel_exports(wheel_for(fixtures["collb"], arch))["wmcollb/_b.abi3.so"]
    assert "PyInit__a" in a.exports and "PyInit__b" in b.exports
    # imports from libpython are undefined, never exports
    assert "PyModule_Create2" in a.undefined and "PyModule_Create2" not in a.exports
    assert a.machine == b.machine == arch


def test_missinglib_needs_the_unshipped_library(fixtures: dict[str, Fixture], arch: str) -> None:
    (so,) = elves(fixtures["missinglib"], arch).values()
    assert "libwmabsent.so.1" in so.needed
    assert "wm_absent_answer" in so.undefined


def test_cxxnew_needs_new_glibcxx_and_cxxabi(fixtures: dict[str, Fixture], arch: str) -> None:
    (so,) = elves(fixtures["cxxnew"], arch).values()
    assert "libstdc++.so.6" in so.needed
    glibcxx = so.highest("GLIBCXX")
    cxxabi = so.highest("CXXABI")
    assert glibcxx is not None and glibcxx.version == "3.4.29"
    assert glibcxx.library == "libstdc++.so.6"
    assert glibcxx.symbols == ("_ZSt28__throw_bad_array_new_lengthv",)
    assert cxxabi is not None and cxxabi.version == "1.3.9"


def test_vendored_runpath_and_soname(fixtures: dict[str, Fixture], arch: str) -> None:
    found = elves(fixtures["vendored"], arch)
    ext = found["wmvendored/_native.abi3.so"]
    lib = found[f"wmvendored.libs/{VENDORED_LIB}"]

    assert ext.runpath == ("$ORIGIN/../wmvendored.libs",)
    assert ext.rpath == ()
    assert VENDORED_LIB in ext.needed
    assert "libstdc++.so.6" not in ext.needed
    # the extension's C++ requirements point at the renamed copy
    assert {r.library for r in ext.requirements if r.namespace in ("GLIBCXX", "CXXABI")} == {VENDORED_LIB}

    assert lib.soname == VENDORED_LIB
    assert lib.machine == arch
    glibc = lib.highest("GLIBC")
    assert glibc is not None and glibc.version == "2.36" and "arc4random" in glibc.symbols
    assert lib.export_count > 1000  # a whole libstdc++
    assert len(lib.exports) < lib.export_count  # of which the scan keeps the consulted names


def test_pure_and_foreign_wheels_have_no_elf_files(fixtures: dict[str, Fixture]) -> None:
    assert list(iter_wheel_elves(fixtures["pure"].wheels[0])) == []
    assert list(iter_wheel_elves(fixtures["foreign"].wheels[0])) == []


def test_requirements_without_symbols_are_kept(fixtures: dict[str, Fixture]) -> None:
    """Every verneed entry is a requirement, and symbols are sorted; no GLIBC_PRIVATE-like names."""
    (so,) = elves(fixtures["newglibc"], "x86_64").values()
    labels = [r.label for r in so.requirements]
    assert "GLIBC_2.36" in labels
    assert len(labels) == len(set(labels))
    for r in so.requirements:
        assert list(r.symbols) == sorted(r.symbols)


# --------------------------------------------------------------------------- odd members


def test_non_elf_and_truncated_elf_members_are_skipped(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    src = wheel_for(fixtures["newglibc"], "x86_64")
    so = member(src, "wmnewglibc/_native.abi3.so")
    wheel = write_wheel(
        tmp_path,
        "wmodd",
        "1.0",
        "cp39-abi3-manylinux_2_17_x86_64",
        {
            "wmodd/__init__.py": b"from . import _native\n",
            "wmodd/_native.abi3.so": so,
            "wmodd/notelf.so": b"this is not an ELF file at all " * 8,
            "wmodd/tiny.so": b"\x7fELF\x02\x01\x01",  # shorter than an ELF header
            "wmodd/_truncated.abi3.so": so[:4000],  # header fine, sections past EOF
            "wmodd/_chopped.abi3.so": so[:-100],  # section headers cut off: the loader needs none
            "wmodd/zeros.so": b"\x7fELF" + b"\x00" * 200,  # invalid class
        },
        purelib=False,
    )

    found = list(iter_wheel_elves(wheel))

    assert [e.path for e in found] == ["wmodd/_chopped.abi3.so", "wmodd/_native.abi3.so"]
    assert found[0].highest("GLIBC") is not None
    assert found[0].requirements == found[1].requirements


def test_corrupt_dynamic_segment_is_skipped(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    so = bytearray(member(wheel_for(fixtures["newglibc"], "x86_64"), "wmnewglibc/_native.abi3.so"))
    (phoff,) = struct.unpack_from("<Q", so, 32)
    phentsize, phnum = struct.unpack_from("<HH", so, 54)
    for i in range(phnum):
        header = phoff + i * phentsize
        if struct.unpack_from("<I", so, header)[0] == 2:  # PT_DYNAMIC: p_offset far beyond any file
            struct.pack_into("<Q", so, header + 8, 0xAB00_0000_0000_0000)
    wheel = write_wheel(
        tmp_path,
        "wmcorrupt",
        "1.0",
        "cp39-abi3-manylinux_2_17_x86_64",
        {"wmcorrupt/__init__.py": b"", "wmcorrupt/_native.abi3.so": bytes(so)},
        purelib=False,
    )

    assert list(iter_wheel_elves(wheel)) == []


def test_scan_elf_reports_the_given_path(fixtures: dict[str, Fixture]) -> None:
    so = member(wheel_for(fixtures["colla"], "x86_64"), "wmcolla/_a.abi3.so")
    info = scan_elf("some/where/else.so", so)
    assert info.path == "some/where/else.so"
    assert info.machine == "x86_64"
