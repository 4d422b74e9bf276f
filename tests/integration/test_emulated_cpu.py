"""Emulated aarch64 cells run QEMU's default CPU with an implementation-defined pointer
authentication algorithm (issue 19: the architected one, computed in software on every signed
return, made Debian 13's Python 17x slower than Debian 12's). Every process of the cell gets the
setting, including the checks' clean environments, and the CPU the package sees keeps its
features: pointer authentication is still there. Real engine, real QEMU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wheelmatrix
from tests.fixtures.wheels import write_wheel

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]

# The import fails on purpose, with what the package saw in its detail: the emulator's setting
# in its environment, and whether the CPU reports pointer authentication (AT_HWCAP's PACA and
# PACG bits on aarch64).
INIT = b"""
import ctypes, os, platform
hwcap = ctypes.CDLL(None).getauxval(16)
pauth = bool(hwcap & (1 << 30)) and bool(hwcap & (1 << 31)) if platform.machine() == "aarch64" else None
raise ImportError("QEMU_CPU=%s pauth=%s" % (os.environ.get("QEMU_CPU"), pauth))
"""


def test_emulated_cells_run_the_default_cpu_with_fast_pointer_authentication(tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path / "dist", "wmqemu", "1.0", "py3-none-any", {"wmqemu/__init__.py": INIT}, purelib=True
    )
    cells = ["--distro", "debian-13", "--arch", "x86_64", "--arch", "aarch64", "--scenario", "import"]
    run = wheelmatrix(wheel, *cells, tmp=tmp_path)
    assert run.rc == 1, run.explain()
    got = {arch: res["detail"] for (_distro, arch), res in run.by_cell("import wmqemu").items()}
    assert "QEMU_CPU=max,pauth-impdef=on pauth=True" in got["aarch64"], got
    assert "QEMU_CPU=None pauth=None" in got["x86_64"], got


@pytest.mark.parametrize(
    ("setting", "kept"),
    [("max,pauth-impdef=on", True), ("max,pauth-no-such-property=on", False)],
)
def test_a_setting_the_engines_qemu_lacks_is_not_given_to_cells(
    setting: str, kept: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked once per engine and arch in a real emulated container: a QEMU without the
    property would stop every process of every cell, so then no setting at all."""
    import threading
    from types import SimpleNamespace

    import docker

    from wheelmatrix.backends.docker import engine as docker_engine
    from wheelmatrix.backends.docker.connection import connect
    from wheelmatrix.backends.docker.images import prepare
    from wheelmatrix.config.catalog import default_catalog_path, load_catalog

    image = prepare(connect().client, load_catalog(default_catalog_path()).get("debian-13"), "aarch64", print)
    monkeypatch.setitem(docker_engine.FAST_EMULATION, "aarch64", {"QEMU_CPU": setting})
    container = docker.from_env().containers.run(image, ["sleep", "60"], detach=True, remove=True)
    try:
        engine: Any = SimpleNamespace(_lock=threading.Lock(), _emulator={})
        sandbox: Any = SimpleNamespace(cell=SimpleNamespace(arch="aarch64"), container=container)
        got = docker_engine.DockerEngine.emulator_env(engine, sandbox)
        assert got == ({"QEMU_CPU": setting} if kept else {})
        assert engine._emulator == {"aarch64": got}  # once per engine and arch
    finally:
        container.kill()
