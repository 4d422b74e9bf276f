"""uv keeps what it learns by running an interpreter under the interpreter's path alone, so the
x86_64 and the aarch64 image of one distro (both /usr/bin/python3.11, both /tmp/wm-venv) used to
overwrite each other's entry, and every cell asked its interpreter again, twice: about 1.2 s of
an emulated Debian 12 cell (issue 19). Each image now has its own bucket over the shared cache.
Real engine, real uv, real QEMU."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wheelmatrix
from tests.fixtures.wheels import write_wheel
from wheelmatrix.host import cache_dir

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]


def _entries(image_id: str) -> dict[Path, tuple[int, bytes]]:
    folder = cache_dir() / "uv-interpreters" / image_id.removeprefix("sha256:")[:16]
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*.msgpack")}


def _machine(arch: str) -> bytes:
    """`platform_machine: ARCH` as uv's MessagePack entry spells it (short strings)."""
    return b"platform_machine" + bytes([0xA0 + len(arch)]) + arch.encode()


def test_each_image_keeps_its_own_interpreter_info_across_cells(tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path / "dist", "wmuvq", "1.0", "py3-none-any", {"wmuvq/__init__.py": b""}, purelib=True
    )
    cells = [
        "--distro",
        "debian-12",
        "--arch",
        "x86_64",
        "--arch",
        "aarch64",
        "--scenario",
        "import",
        "--jobs",
        "1",
    ]
    first = wheelmatrix(wheel, *cells, tmp=tmp_path)
    assert first.rc == 0, first.explain()
    images = {arch: res["image"] for (_distro, arch), res in first.by_cell("import wmuvq").items()}
    assert set(images) == {"x86_64", "aarch64"} and images["x86_64"] != images["aarch64"], images
    before = {arch: _entries(image) for arch, image in images.items()}
    for arch, entries in before.items():
        # the base interpreter and the venv's, each describing its own machine
        assert len(entries) >= 2, (arch, sorted(entries))
        assert all(_machine(arch) in data for _mtime, data in entries.values()), arch
        other = "x86_64" if arch == "aarch64" else "aarch64"
        assert not any(_machine(other) in data for _mtime, data in entries.values()), arch
    second = wheelmatrix(wheel, *cells, tmp=tmp_path)
    assert second.rc == 0, second.explain()
    # the other arch's cell in between did not displace them: the second cells read, not wrote
    assert {arch: _entries(image) for arch, image in images.items()} == before
