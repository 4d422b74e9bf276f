"""The sandbox, seen from inside: package code runs with no network, not as root, with no
capabilities, and cannot write the shared installer cache. Offline installs use --find-links."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wheelmatrix
from tests.fixtures.wheels import Fixture, write_wheel

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
D12 = ["--distro", "debian-12", "--arch", "x86_64", "--arch", "aarch64"]

SANDBOX_PROBE = b"""
import os

nets = sorted(os.listdir("/sys/class/net"))
if nets != ["lo"]:
    raise ImportError("network still attached while package code runs: %s" % nets)
if os.getuid() == 0:
    raise ImportError("package code runs as root")
with open("/proc/self/status") as fh:
    caps = [ln.split()[1] for ln in fh if ln.startswith("CapEff:")][0]
if int(caps, 16) != 0:
    raise ImportError("package code has capabilities: " + caps)
for path in ("/opt/wheelmatrix/cache/uv/poison", "/opt/wheelmatrix/probe/poison"):
    try:
        open(path, "w").close()
    except OSError:
        continue
    raise ImportError("package code could write " + path)
"""


def test_package_code_runs_sandboxed(tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path, "wmsandbox", "1.0", "py3-none-any", {"wmsandbox/__init__.py": SANDBOX_PROBE}, True
    )
    run = wheelmatrix(wheel, *D12, tmp=tmp_path)
    assert run.rc == 0, run.explain()
    got = run.by_cell("import wmsandbox")
    assert len(got) == 2 and all(r["status"] == "passed" for r in got.values()), got


def test_offline_install_from_find_links(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    links = wheels["collb"].wheels[0].parent  # holds wmcollb for both arches
    run = wheelmatrix(
        *wheels["colla"].wheels,
        "--with",
        "wmcollb==1.0",
        "--offline",
        "--find-links",
        links,
        *D12,
        tmp=tmp_path,
    )
    assert run.rc == 1, run.explain()  # the colliding pair, resolved by name from the directory
    first = run.by_cell("import wmcolla, wmcollb")
    last = run.by_cell("import wmcollb, wmcolla")
    assert all(r["status"] == "crashed" for r in first.values()), first
    assert all(r["status"] == "passed" for r in last.values()), last


def test_offline_without_the_package_is_reported_not_blamed_on_infrastructure(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    empty = tmp_path / "empty-links"
    empty.mkdir()
    run = wheelmatrix(
        *wheels["pure"].wheels,
        "--with",
        "wmnothere",
        "--offline",
        "--find-links",
        empty,
        "--distro",
        "debian-12",
        "--arch",
        "x86_64",
        "--scenario",
        "import",
        tmp=tmp_path,
    )
    (res,) = run.results("install wmpure, wmnothere")
    assert res["status"] in ("failed", "not-installable"), res
    assert "wmnothere" in res["detail"], res
