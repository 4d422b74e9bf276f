"""GLIBC_PRIVATE bindings: glibc's internal interface, which no manylinux tag admits (a tool
linked against glibc internals, or glibc's own libm/libresolv copied into a wheel; seen in
imageio-ffmpeg 0.8.1's ffmpeg and semgrep 1.185.0's bundled libm)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.wheels import find_compiler, write_wheel
from wheelmatrix.scan.elf import iter_wheel_elves
from wheelmatrix.scan.policy import judge_wheel, lowest_tags

LOADERS = {
    "x86_64": "/lib64/ld-linux-x86-64.so.2",
    "aarch64": "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
}
SOURCE = "extern int __libc_enable_secure;\nint wm_secure(void) { return __libc_enable_secure; }\n"


def _private_library(tmp_path: Path, arch: str) -> bytes:
    cc = find_compiler(arch)
    if cc is None or not Path(LOADERS[arch]).exists():
        pytest.skip(f"no {arch} compiler or loader to link against")
    src = tmp_path / "priv.c"
    src.write_text(SOURCE)
    out = tmp_path / "libwmpriv.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(out), str(src), LOADERS[arch]], check=True)
    return out.read_bytes()


def _wheel(tmp_path: Path, arch: str, ship_loader: bool = False) -> Path:
    files = {
        "wmpriv/__init__.py": b"",
        "wmpriv/libwmpriv.so": _private_library(tmp_path, arch),
    }
    if ship_loader:  # a wheel that ships the library it binds privately binds only to itself
        files[f"wmpriv/{Path(LOADERS[arch]).name}"] = Path(LOADERS[arch]).read_bytes()
    return write_wheel(tmp_path, "wmpriv", "1.0", f"py3-none-manylinux_2_17_{arch}", files, purelib=False)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_a_glibc_private_binding_is_found_and_admits_no_tag(tmp_path: Path, arch: str) -> None:
    wheel = _wheel(tmp_path, arch)
    (elf,) = iter_wheel_elves(wheel)
    assert elf.private == ((Path(LOADERS[arch]).name, ("__libc_enable_secure",)),)
    assert all(r.version != "PRIVATE" for r in elf.requirements)

    scan = judge_wheel(wheel, [f"manylinux_2_17_{arch}"])
    (finding,) = [f for f in scan.findings if f.kind == "glibc-private"]
    assert finding.symbol == "__libc_enable_secure"
    assert "GLIBC_PRIVATE" in finding.message and "wmpriv/libwmpriv.so" in finding.message

    (lowest,) = lowest_tags(scan, [f"manylinux_2_17_{arch}"])
    assert lowest.tag is None
    assert "GLIBC_PRIVATE (__libc_enable_secure" in lowest.reason


def test_a_binding_to_a_library_the_wheel_ships_is_its_own_business(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, "x86_64", ship_loader=True)
    scan = judge_wheel(wheel, ["manylinux_2_17_x86_64"])
    assert not [f for f in scan.findings if f.kind == "glibc-private"]
