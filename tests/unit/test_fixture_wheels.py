"""Host-only checks of the fixture wheel builder (tests/fixtures/wheels.py)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import platform
import re
import shutil
import signal
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.tags import parse_tag
from packaging.utils import parse_wheel_filename

from tests.fixtures.selection import BUILT_ARCHES, wheel_for
from tests.fixtures.wheels import Fixture, build_all, write_wheel

NATIVE_KEYS = (
    "newglibc",
    "initcrash",
    "colla",
    "collb",
    "missinglib",
    "cxxnew",
    "vendored",
    "unversioned",
    "execstack",
    "samea",
    "sameb",
)
OLD_GLIBC_KEYS = ("initcrash", "colla", "collb", "missinglib", "cxxnew", "vendored", "samea", "sameb")
VENDORED_LIB = "libstdc++-wm0a1b2c.so.6.0.30"
E_MACHINE = {"x86_64": 62, "aarch64": 183}  # EM_X86_64, EM_AARCH64
SIGSEGV_RC = -signal.SIGSEGV
HOST_ARCH = platform.machine()

needs_readelf = pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf missing")
needs_objdump = pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump missing")


# --------------------------------------------------------------------------- helpers


def shared_objects(wheel: Path, dest: Path) -> Iterator[Path]:
    """Extract the .so members of ``wheel`` into ``dest`` and yield their paths."""
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".so"):
                yield Path(archive.extract(name, dest))


def readelf(*args: str | Path) -> str:
    return subprocess.run(
        ["readelf", "-W", *map(str, args)], capture_output=True, text=True, check=True
    ).stdout


def needed_versions(so_file: Path, prefix: str) -> list[tuple[int, ...]]:
    """The ``<prefix>_x.y[.z]`` versions ``so_file`` needs (readelf -V, .gnu.version_r)."""
    section = readelf("-V", so_file).split(".gnu.version_r", 1)[-1]
    found = re.findall(rf"Name: {prefix}_([\d.]+)\b", section)
    return sorted(tuple(map(int, v.split("."))) for v in found)


def dynamic_tags(so_file: Path) -> dict[str, list[str]]:
    """``readelf -d`` entries with a bracketed value, e.g. {"NEEDED": ["libc.so.6"], ...}."""
    tags: dict[str, list[str]] = {}
    for tag, value in re.findall(r"^\s*0x[0-9a-f]+ \((\w+)\)\s+[^[]*\[(.*)\]$", readelf("-d", so_file), re.M):
        tags.setdefault(tag, []).append(value)
    return tags


def run_imports(
    tmp_path: Path, fixtures: list[Fixture], code: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Unpack the host-arch wheels of ``fixtures`` and run ``code`` with the host Python."""
    suffixes = (f"_{HOST_ARCH}.whl", "-any.whl")
    site = tmp_path / "site"
    for fixture in fixtures:
        (wheel,) = [w for w in fixture.wheels if w.name.endswith(suffixes)]
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def assert_valid_wheel(wheel: Path, project: str) -> None:
    name, version, _, tags = parse_wheel_filename(wheel.name)
    assert name == project and str(version) == "1.0"
    dist_info = f"{project}-1.0.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        members = {info.filename: info for info in archive.infolist()}
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        wheel_meta = archive.read(f"{dist_info}/WHEEL").decode()
        record = list(csv.reader(io.StringIO(archive.read(f"{dist_info}/RECORD").decode())))
        assert {row[0] for row in record} == set(members)
        for path, digest, size in record:
            if path == f"{dist_info}/RECORD":
                assert (digest, size) == ("", "")
                continue
            data = archive.read(path)
            assert (digest, size) == (record_hash(data), str(len(data))), path
            mode = stat.S_IMODE(members[path].external_attr >> 16)
            executable = path.endswith(".so") or ".data/scripts/" in path
            assert mode == (0o755 if executable else 0o644), path
    assert f"Name: {project}\nVersion: 1.0\n" in metadata
    assert "Wheel-Version: 1.0\n" in wheel_meta
    assert set(re.findall(r"^Tag: (\S+)$", wheel_meta, re.M)) == {str(t) for t in tags}


# --------------------------------------------------------------------------- structure


def test_every_fixture_is_built(fixtures: dict[str, Fixture]) -> None:
    expected = {
        "pure", "newglibc", "initcrash", "hang", "colla", "collb",
        "foreign", "notawheel", "missinglib", "cxxnew", "vendored", "unversioned",
        "execstack", "oldstdlib", "memhog", "warnonly", "exe", "samea", "sameb",
        "newcpu", "newcpudecl", "glibconly", "threadstack", "statictls", "smalltls",
        "abi3new",
    }  # fmt: skip
    assert set(fixtures) == expected
    for key in NATIVE_KEYS:
        assert len(fixtures[key].wheels) == len(BUILT_ARCHES)
    for fixture in fixtures.values():
        assert fixture.wheels and all(w.is_file() for w in fixture.wheels)


def test_wheels_are_valid(fixtures: dict[str, Fixture]) -> None:
    for key, fixture in fixtures.items():
        for wheel in fixture.wheels:
            if key == "notawheel":
                parse_wheel_filename(wheel.name)
                assert not zipfile.is_zipfile(wheel)
            else:
                assert_valid_wheel(wheel, fixture.project)


def test_tags(fixtures: dict[str, Fixture], arch: str) -> None:
    for key in NATIVE_KEYS:
        tags = parse_wheel_filename(wheel_for(fixtures[key], arch).name)[3]
        assert tags == parse_tag(f"cp39-abi3-manylinux_2_17_{arch}")
    (foreign,) = fixtures["foreign"].wheels
    assert parse_wheel_filename(foreign.name)[3] == parse_tag("cp311-cp311-win_amd64")
    abi3new = parse_wheel_filename(wheel_for(fixtures["abi3new"], arch).name)[3]
    assert abi3new == parse_tag(f"cp36-abi3-manylinux_2_17_{arch}")  # over-claims: built for 3.10


def test_extensions_match_arch(fixtures: dict[str, Fixture], arch: str, tmp_path: Path) -> None:
    for key in NATIVE_KEYS:
        (so_file,) = shared_objects(wheel_for(fixtures[key], arch), tmp_path / key)
        assert so_file.name.endswith(".abi3.so")
        header = so_file.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert int.from_bytes(header[18:20], "little") == E_MACHINE[arch], key


def test_build_is_deterministic_and_cached(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    again = build_all(tmp_path / "again", arches=BUILT_ARCHES)
    for key, fixture in fixtures.items():
        assert [w.name for w in again[key].wheels] == [w.name for w in fixture.wheels]
        for first, second in zip(fixture.wheels, again[key].wheels, strict=True):
            assert first.read_bytes() == second.read_bytes(), first.name
    mtimes = [w.stat().st_mtime_ns for f in again.values() for w in f.wheels]
    assert build_all(tmp_path / "again", arches=BUILT_ARCHES) == again
    assert [w.stat().st_mtime_ns for f in again.values() for w in f.wheels] == mtimes


def test_write_wheel_rejects_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_wheel(tmp_path, "wmx", "1.0", "py3-none-any", {"../evil.py": b""}, purelib=True)


# --------------------------------------------------------------------------- ELF properties


@needs_readelf
def test_newglibc_needs_glibc_2_36(fixtures: dict[str, Fixture], arch: str, tmp_path: Path) -> None:
    (so_file,) = shared_objects(wheel_for(fixtures["newglibc"], arch), tmp_path)
    assert re.search(r"\barc4random@GLIBC_2\.36\b", readelf("--dyn-syms", so_file))


@needs_readelf
def test_other_extensions_need_only_old_glibc(
    fixtures: dict[str, Fixture], arch: str, tmp_path: Path
) -> None:
    for key in OLD_GLIBC_KEYS:
        for so_file in shared_objects(wheel_for(fixtures[key], arch), tmp_path / key):
            versions = re.findall(r"GLIBC_(\d+)\.(\d+)", readelf("-V", so_file))
            assert all((int(a), int(b)) <= (2, 17) for a, b in versions), (key, versions)


@needs_readelf
def test_collb_calls_wm_shared_state_through_plt(
    fixtures: dict[str, Fixture], arch: str, tmp_path: Path
) -> None:
    for key in ("colla", "collb"):
        (so_file,) = shared_objects(wheel_for(fixtures[key], arch), tmp_path / key)
        relocations = readelf("-r", so_file)
        assert re.search(r"R_(X86_64|AARCH64)_JUMP_SLOT\s+\S+\s+wm_shared_state\b", relocations)
        symbols = readelf("--dyn-syms", so_file)
        assert re.search(r"FUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+wm_shared_state$", symbols, re.M)


@needs_readelf
def test_missinglib_needs_unshipped_library(fixtures: dict[str, Fixture], arch: str, tmp_path: Path) -> None:
    wheel = wheel_for(fixtures["missinglib"], arch)
    (so_file,) = shared_objects(wheel, tmp_path)
    assert "Shared library: [libwmabsent.so.1]" in readelf("-d", so_file)
    with zipfile.ZipFile(wheel) as archive:
        assert not [n for n in archive.namelist() if "libwmabsent" in n]


@needs_readelf
def test_cxxnew_needs_glibcxx_3_4_29(fixtures: dict[str, Fixture], arch: str, tmp_path: Path) -> None:
    (so_file,) = shared_objects(wheel_for(fixtures["cxxnew"], arch), tmp_path)
    tags = dynamic_tags(so_file)
    assert "libstdc++.so.6" in tags["NEEDED"], tags  # the system one, linked dynamically
    assert "RUNPATH" not in tags and "RPATH" not in tags
    glibcxx = needed_versions(so_file, "GLIBCXX")
    assert max(glibcxx) in {(3, 4, 29), (3, 4, 30)}, glibcxx  # Debian 11 stops at 3.4.28
    cxxabi = needed_versions(so_file, "CXXABI")
    assert cxxabi and max(cxxabi) <= (1, 3, 13), cxxabi
    symbols = readelf("--dyn-syms", so_file)
    assert re.search(r"\bUND _ZSt28__throw_bad_array_new_lengthv@GLIBCXX_3\.4\.29\b", symbols)
    assert re.search(r"FUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+PyInit__native$", symbols, re.M)


@needs_objdump
def test_cxxnew_objdump_agrees(fixtures: dict[str, Fixture], arch: str, tmp_path: Path) -> None:
    (so_file,) = shared_objects(wheel_for(fixtures["cxxnew"], arch), tmp_path)
    table = subprocess.run(["objdump", "-T", so_file], capture_output=True, text=True, check=True).stdout
    symbol = r"\*UND\*\s+\S+\s+\(GLIBCXX_3\.4\.29\)\s+_ZSt28__throw_bad_array_new_lengthv$"
    assert re.search(symbol, table, re.M)
    versions = {tuple(map(int, v.split("."))) for v in re.findall(r"\(GLIBCXX_([\d.]+)\)", table)}
    assert max(versions) in {(3, 4, 29), (3, 4, 30)}, versions


@needs_readelf
def test_vendored_ships_renamed_libstdcxx(fixtures: dict[str, Fixture], arch: str, tmp_path: Path) -> None:
    wheel = wheel_for(fixtures["vendored"], arch)
    with zipfile.ZipFile(wheel) as archive:
        libs = [n for n in archive.namelist() if "libstdc++" in n]
        assert libs == [f"wmvendored.libs/{VENDORED_LIB}"]
        lib = Path(archive.extract(libs[0], tmp_path))
    (so_file,) = shared_objects(wheel, tmp_path)
    assert so_file.relative_to(tmp_path) == Path("wmvendored/_native.abi3.so")
    assert int.from_bytes(lib.read_bytes()[18:20], "little") == E_MACHINE[arch]

    lib_tags = dynamic_tags(lib)
    assert lib_tags["SONAME"] == [VENDORED_LIB]
    assert "libc.so.6" in lib_tags["NEEDED"]
    glibc = needed_versions(lib, "GLIBC")
    assert max(glibc) <= (2, 36), glibc  # loads on Debian 12 (glibc 2.36) and 13

    ext_tags = dynamic_tags(so_file)
    assert VENDORED_LIB in ext_tags["NEEDED"], ext_tags
    assert not [n for n in ext_tags["NEEDED"] if n.startswith("libstdc++.so")], ext_tags
    assert ext_tags.get("RUNPATH", ext_tags.get("RPATH")) == ["$ORIGIN/../wmvendored.libs"], ext_tags
    # Its C++ symbols are bound (by version need) to the vendored copy.
    version_r = readelf("-V", so_file).split(".gnu.version_r", 1)[-1]
    needs = rf"File: {re.escape(VENDORED_LIB)}\s+Cnt: \d+\n(\s+0x.*Name: GLIBCXX_[\d.]+.*\n)+"
    assert re.search(needs, version_r), version_r
    glibcxx = needed_versions(so_file, "GLIBCXX")
    assert glibcxx and max(glibcxx) <= (3, 4, 30), glibcxx


# --------------------------------------------------------------------------- host behaviour


def test_pure_imports(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    proc = run_imports(tmp_path, [fixtures["pure"]], "import wmpure; print(wmpure.VALUE)")
    assert (proc.returncode, proc.stdout) == (0, "42\n"), proc.stderr


def test_newglibc_imports_on_host_glibc(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    proc = run_imports(tmp_path, [fixtures["newglibc"]], "import wmnewglibc")
    assert proc.returncode == 0, proc.stderr  # host is Debian 12 (glibc 2.36)


def test_initcrash_segfaults(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    proc = run_imports(tmp_path, [fixtures["initcrash"]], "import wmcrash")
    assert proc.returncode == SIGSEGV_RC, proc.stderr


def test_collision_depends_on_import_order(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    pair = [fixtures["colla"], fixtures["collb"]]
    crash = run_imports(tmp_path, pair, "import wmcolla, wmcollb")
    assert crash.returncode == SIGSEGV_RC, crash.stderr
    fine = run_imports(tmp_path, pair, "import wmcollb, wmcolla; print(wmcollb._b.STATE)")
    assert (fine.returncode, fine.stdout) == (0, "7\n"), fine.stderr


def test_cxxnew_imports_on_host(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    proc = run_imports(tmp_path, [fixtures["cxxnew"]], "import wmcxxnew; print(wmcxxnew._native.SUM)")
    assert (proc.returncode, proc.stdout) == (0, "140\n"), proc.stderr  # host libstdc++ has 3.4.30


LIBSTDCXX_MAPS = """
import {modules}
paths = sorted({{line.split(None, 5)[5].strip() for line in open("/proc/self/maps")
                if len(line.split(None, 5)) == 6 and "libstdc++" in line}})
print("\\n".join(paths))
"""


def test_vendored_imports_on_host(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    code = LIBSTDCXX_MAPS.format(modules="wmvendored") + "print(wmvendored._native.GREETING)"
    proc = run_imports(tmp_path, [fixtures["vendored"]], code)
    assert proc.returncode == 0, proc.stderr
    *maps, greeting = proc.stdout.splitlines()
    assert greeting == "wmvendored uses its own libstdc++"
    assert str(tmp_path / "site" / "wmvendored.libs" / VENDORED_LIB) in maps, proc.stdout


def test_vendored_and_system_libstdcxx_both_mapped(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    pair = [fixtures["vendored"], fixtures["cxxnew"]]
    proc = run_imports(tmp_path, pair, LIBSTDCXX_MAPS.format(modules="wmvendored, wmcxxnew"))
    assert proc.returncode == 0, proc.stderr
    maps = proc.stdout.splitlines()
    assert len(maps) == 2, maps
    vendored = [m for m in maps if m.endswith(f"/wmvendored.libs/{VENDORED_LIB}")]
    system = [m for m in maps if re.fullmatch(r"/usr/lib/\w+-linux-gnu/libstdc\+\+\.so\.6\.0\.\d+", m)]
    assert len(vendored) == len(system) == 1, maps
    assert Path(vendored[0]).resolve() != Path(system[0]).resolve()


def test_missinglib_import_error(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    proc = run_imports(tmp_path, [fixtures["missinglib"]], "import wmmissing")
    assert proc.returncode == 1
    assert "ImportError: libwmabsent.so.1: cannot open shared object file" in proc.stderr


def test_hang_never_finishes_importing(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        run_imports(tmp_path, [fixtures["hang"]], "import wmhang", timeout=2)


def test_same_named_fixtures_bundle_one_name_with_different_contents(fixtures: dict[str, Fixture]) -> None:
    lib = "libwmsame-0123abcd.so.1"
    for wa, wb in zip(fixtures["samea"].wheels, fixtures["sameb"].wheels, strict=True):
        with zipfile.ZipFile(wa) as za, zipfile.ZipFile(wb) as zb:
            a, b = za.read(f"wmsamea.libs/{lib}"), zb.read(f"wmsameb.libs/{lib}")
        assert a[:4] == b[:4] == b"\x7fELF" and a != b
