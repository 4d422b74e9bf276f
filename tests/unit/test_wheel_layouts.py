"""Every layout the wheel format allows is read and scanned: `.data/purelib`, `.data/platlib`,
`.data/scripts`, `.data/headers`, `.data/data`, build tags, namespace packages, wheels whose
only native code is an executable or a ctypes-loaded library, and wheels with no module."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.fixtures.selection import elf_member
from tests.fixtures.wheels import Fixture, write_wheel
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError
from wheelmatrix.inputs.wheels import Placement, parse_inputs, placement, read_wheel
from wheelmatrix.probe import wm_probe
from wheelmatrix.scan.elf import installed_as, iter_wheel_elves
from wheelmatrix.scan.policy import judge_wheel

TAG = "py3-none-manylinux_2_17_{arch}"


def _wheel(tmp: Path, files: dict[str, bytes], *, arch: str = "x86_64", **kw: object) -> Path:
    tag = TAG.format(arch=arch) if any(d[:4] == b"\x7fELF" for d in files.values()) else "py3-none-any"
    return write_wheel(tmp, "wmlay", "1.0", tag, files, purelib=False, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- placement


@pytest.mark.parametrize(
    ("member", "expected", "installs_as"),
    [
        ("wmlay/__init__.py", Placement(scheme="site", path="wmlay/__init__.py"), ""),
        ("wmlay-1.0.data/platlib/x.so", Placement(scheme="site", path="x.so"), "x.so"),
        ("wmlay-1.0.data/purelib/p/a.py", Placement(scheme="site", path="p/a.py"), "p/a.py"),
        ("wmlay-1.0.data/scripts/tool", Placement(scheme="scripts", path="tool"), "bin/tool"),
        ("wmlay-1.0.data/headers/x.h", Placement(scheme="headers", path="x.h"), "include/x.h"),
        ("wmlay-1.0.data/data/share/a", Placement(scheme="data", path="share/a"), "<prefix>/share/a"),
        ("WMLay-1.0.data/platlib/x.so", Placement(scheme="site", path="x.so"), "x.so"),  # as pip
        ("wmlay-1.0.dist-info/RECORD", None, ""),
        ("wmlay-1.0.data/platlib/", None, ""),
    ],
)
def test_placement_maps_members_to_where_they_install(
    member: str, expected: Placement | None, installs_as: str
) -> None:
    assert placement(member) == expected
    assert installed_as(member) == installs_as


# --------------------------------------------------------------------------- reading


def test_platlib_and_purelib_packages_are_modules(tmp_path: Path) -> None:
    files = {
        "wmlay-1.0.data/platlib/wmfast/__init__.py": b"",
        "wmlay-1.0.data/platlib/wmfast/_c.abi3.so": b"\x7fELF",
        "wmlay-1.0.data/purelib/wmslow.py": b"",
        "wmlay-1.0.data/platlib/_wmext.cpython-311-x86_64-linux-gnu.so": b"",
        "wmlay-1.0.data/platlib/wmarrow/__init__.py": b"",
        "wmlay-1.0.data/platlib/wmarrow/lib.cpython-311-x86_64-linux-gnu.so": b"",  # pyarrow's `lib`
        "wmlay-1.0.data/platlib/wmonlylibs/libwm.so": b"\x7fELF",  # a library, not a module
    }
    wheel = read_wheel(write_wheel(tmp_path, "wmlay", "1.0", "py3-none-any", files, purelib=False))
    assert wheel.modules == ("_wmext", "wmarrow", "wmfast", "wmslow")


def test_platlib_modules_without_top_level_txt(tmp_path: Path) -> None:
    files = {"wmlay-1.0.data/platlib/wmfast/__init__.py": b"", "wmlay-1.0.data/headers/wm.h": b""}
    wheel = write_wheel(tmp_path, "wmlay", "1.0", "py3-none-any", files, purelib=False, top_level=())
    with zipfile.ZipFile(wheel) as zf:
        assert "wmlay-1.0.dist-info/top_level.txt" not in zf.namelist()
    assert read_wheel(wheel).modules == ("wmfast",)


def test_build_tag_in_the_file_name(tmp_path: Path) -> None:
    path = write_wheel(tmp_path, "wmlay", "1.0", "py3-none-any", {"wmlay.py": b""}, purelib=True, build="1")
    assert path.name == "wmlay-1.0-1-py3-none-any.whl"
    wheel = read_wheel(path)
    assert (wheel.version, wheel.build, wheel.modules) == ("1.0", "1", ("wmlay",))


PKGUTIL = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
# protobuf's layout: `google` is a PEP 420 namespace holding a package and a namespace with an
# extension module; and data next to them
PROTOBUF = {
    "google/protobuf/__init__.py": b"",
    "google/protobuf/internal/api.py": b"",
    "google/_upb/_message.abi3.so": b"\x7fELF",
    "google/_upb/README.txt": b"",
    "google/lib/libwm.so": b"\x7fELF",
}


@pytest.mark.parametrize(
    ("files", "modules"),
    [
        ({"wmns/sub/mod.py": b"X = 1\n"}, ("wmns.sub.mod",)),
        ({"wmns/__init__.py": PKGUTIL, "wmns/sub/mod.py": b"X = 1\n"}, ("wmns",)),
        ({"wmns/sub/__init__.py": b"", "wmns/sub/deep/x.py": b""}, ("wmns.sub",)),
        ({"wmns/__init__.cpython-311-x86_64-linux-gnu.so": b"", "wmns/x.py": b""}, ("wmns",)),  # cythonized
        (PROTOBUF, ("google._upb._message", "google.protobuf")),
    ],
    ids=["pep420", "pkgutil", "pep420-package", "compiled-init", "protobuf"],
)
def test_namespace_packages_import_what_runs_the_wheels_code(
    tmp_path: Path, files: dict[str, bytes], modules: tuple[str, ...]
) -> None:
    """A PEP 420 namespace top imports nothing of the wheel: the shallowest packages and modules
    under it are imported instead, on the host as in the cell (from RECORD); a pkgutil-style
    namespace has an __init__.py that runs."""
    for top_level in (None, ()):
        wheel = write_wheel(
            tmp_path, "wmlay", "1.0", "py3-none-any", files, purelib=True, top_level=top_level
        )
        assert read_wheel(wheel).modules == modules
    site = tmp_path / "site"
    info = site / "wmlay-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "RECORD").write_text("".join(f"{p},sha256=x,1\n" for p in files))
    assert tuple(wm_probe.modules_of(str(info))[0]) == modules


@pytest.mark.parametrize(
    ("files", "scripts"),
    [
        ({"wmlay-1.0.data/scripts/wmlay-tool": b"#!/bin/sh\necho hi\n"}, ("wmlay-tool",)),
        ({"wmlay-1.0.data/data/share/wmlay/a.txt": b"a"}, ()),
        ({"wmlay-1.0.data/headers/wmlay.h": b"int f(void);\n"}, ()),
        ({"wmlay-stubs/__init__.pyi": b"X: int\n"}, ()),  # a stubs-only package (types-*)
        ({"nvidia/wmlay/lib/libwmlay.so.1": b"\x7fELF"}, ()),  # a directory of libraries only
        ({"wmlay-1.0.data/platlib/wmlay/lib/libwmlay.so": b"\x7fELF"}, ()),
    ],
    ids=["scripts", "data", "headers", "stubs", "libraries", "platlib-library"],
)
def test_wheels_without_a_module_are_read(
    tmp_path: Path, files: dict[str, bytes], scripts: tuple[str, ...]
) -> None:
    """A wheel of only scripts, data, headers, stubs or libraries installs fine: it is read, its
    module list is empty (the cell checks what it ships instead)."""
    wheel = read_wheel(write_wheel(tmp_path, "wmlay", "1.0", "py3-none-any", files, purelib=True))
    assert wheel.modules == ()
    assert wheel.scripts == scripts
    (project,) = parse_inputs([str(wheel.path)], role="candidate")
    assert project.modules == ()


def test_unknown_data_scheme_is_refused(tmp_path: Path) -> None:
    path = write_wheel(
        tmp_path, "wmlay", "1.0", "py3-none-any", {"wmlay-1.0.data/lib/x.py": b""}, purelib=True
    )
    with pytest.raises(InputError) as info:
        read_wheel(path)
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert str(path) in info.value.message and "'lib' is not an install scheme" in info.value.message


# --------------------------------------------------------------------------- scanning


@pytest.mark.parametrize(
    ("member", "key", "installs_as"),
    [
        ("wmlay-1.0.data/platlib/_wmlay.abi3.so", "newglibc", "_wmlay.abi3.so"),
        ("wmlay-1.0.data/purelib/wmlay/_c.abi3.so", "newglibc", "wmlay/_c.abi3.so"),
        ("wmlay-1.0.data/scripts/wmlay-tool", "exe", "bin/wmlay-tool"),
        ("wmlay-1.0.data/data/bin/wmlay-tool", "exe", "<prefix>/bin/wmlay-tool"),
        ("wmlay/bin/wmlay-tool", "exe", ""),
        ("nvidia/wmlay/lib/libwmlay.so.1", "newglibc", ""),
    ],
    ids=["platlib", "purelib", "scripts", "data", "pkg-bin", "ctypes-lib"],
)
def test_native_files_in_every_layout_count_for_the_glibc_floor(
    tmp_path: Path, fixtures: dict[str, Fixture], arch: str, member: str, key: str, installs_as: str
) -> None:
    """Wherever the ELF file sits, the scan finds it, says where it installs, and its
    GLIBC_2.36 requirement over-claims the manylinux_2_17 tag."""
    wheel = _wheel(tmp_path, {member: elf_member(fixtures[key], arch)}, arch=arch)
    (elf,) = iter_wheel_elves(wheel)
    assert (elf.path, elf.installs_as, elf.machine) == (member, installs_as, arch)
    assert elf.highest("GLIBC") is not None and elf.highest("GLIBC").version == "2.36"  # type: ignore[union-attr]
    scan = judge_wheel(wheel, {f"manylinux_2_17_{arch}"})
    over = [f for f in scan.findings if f.kind == "over-claimed"]
    assert over and "GLIBC_2.36" in over[0].message and member in over[0].message
    files = scan.to_json()["files"]
    assert isinstance(files, list) and files[0].get("installs_as", "") == installs_as
