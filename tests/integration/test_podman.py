"""Podman's Docker-compatible API as the engine: a podman service started here on its own
socket (with runc: crun refuses this host's hybrid cgroups), the cell image loaded into it,
and a real matrix run through it with the same verdicts and diagnosis as on Docker."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import cli, paths
from tests.fixtures.wheels import Fixture

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
SOCKET = Path("/run/wheelmatrix-test-podman/podman.sock")


@pytest.fixture(scope="module")
def podman() -> Iterator[str]:
    exe = shutil.which("podman")
    assert exe is not None, "podman is part of the test set-up (scripts/setup-host.sh)"
    SOCKET.parent.mkdir(parents=True, exist_ok=True)
    service = subprocess.Popen(
        [exe, "--runtime", "runc", "system", "service", "--time=0", f"unix://{SOCKET}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not SOCKET.exists():
            assert time.monotonic() < deadline and service.poll() is None, "the podman service did not start"
            time.sleep(0.2)
        from wheelmatrix.backends.docker.connection import connect
        from wheelmatrix.backends.docker.images import prepare
        from wheelmatrix.config.catalog import default_catalog_path, load_catalog

        tag = prepare(
            connect().client, load_catalog(default_catalog_path()).get("debian-12"), "x86_64", lambda m: None
        )
        have = subprocess.run([exe, "image", "exists", tag], capture_output=True)
        if have.returncode != 0:  # the image from the local Docker engine, as `docker save | podman load`
            save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
            subprocess.run([exe, "load"], stdin=save.stdout, check=True, capture_output=True)
            assert save.wait() == 0
        yield f"unix://{SOCKET}"
    finally:
        service.terminate()
        service.wait(30)


@pytest.mark.xdist_group("podman")
def test_a_matrix_through_podmans_api(podman: str, wheels: dict[str, Fixture], tmp_path: Path) -> None:
    colla = next(w for w in paths(wheels["colla"]) if w.name.endswith("_x86_64.whl"))
    collb = next(w for w in paths(wheels["collb"]) if w.name.endswith("_x86_64.whl"))
    run = cli(
        "validate", colla, "--with", collb, "--distro", "debian-12", "--arch", "x86_64",
        "--engine", podman, "--json", tmp_path / "r.json", "--runs-dir", tmp_path / "runs", cwd=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert {r["engine"].split()[0] for r in results} == {"podman"}, {r["engine"] for r in results}
    crashed = [r for r in results if r["status"] == "crashed"]
    assert [r["check"] for r in crashed] == ["import wmcolla, wmcollb"], run.explain()
    assert (
        "`wm_shared_state` wanted by wmcollb/_b.abi3.so was bound to wmcolla/_a.abi3.so"
        in crashed[0]["diagnosis"]
    )
    left = subprocess.run(
        ["podman", "ps", "-aq", "--filter", "label=org.wheelmatrix.kind=cell"], capture_output=True, text=True
    )
    assert left.stdout.strip() == "", left.stdout
