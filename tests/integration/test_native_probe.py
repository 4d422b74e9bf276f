"""An emulated cell's probes run on the runner's own interpreter, packed and mounted into the
cell, at native speed (issue 19: each probe started an emulated interpreter, about 0.4 s, and
read the cell's files at emulated speed). What they observe must not change: every result of
every scenario over the failure-class fixtures is held to the emulated probe's, evidence
included. Real engine, real QEMU, real cells of two distributions."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import paths, wheelmatrix
from tests.fixtures.wheels import Fixture
from wheelmatrix.backends.native_python import DISABLE_ENV, native_python

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]

# a missing library, a glibc too old, a C++ runtime too old, a crash in the module's init,
# static TLS, an executable, an unversioned dependency, a small TLS block
FIXTURES = ["newglibc", "initcrash", "missinglib", "cxxnew", "statictls", "exe", "unversioned", "smalltls"]
OUTSIDE = "symbols: objects read out of the cell"


def results(run: Any) -> dict[str, Any]:
    """Every check as read (status, detail, diagnosis, finding, evidence), uv's cache folders
    (named at random in each cell) aside."""
    got = {
        " | ".join((r["distro"], r["arch"], r["scenario"], r["check"])): {
            "status": r["status"],
            "detail": r["detail"],
            "diagnosis": r.get("diagnosis"),
            "finding": (r.get("finding") or {}).get("kind"),
            "evidence": r.get("evidence"),
        }
        for r in run.report["results"]
    }
    return json.loads(re.sub(r"archive-v0/[^/]+/", "archive-v0/X/", json.dumps(got, sort_keys=True)))


def phases(tmp: Path) -> set[str]:
    (run_dir,) = [p for p in (tmp / "runs").iterdir() if p.is_dir()]
    return {json.loads(line)["phase"] for line in (run_dir / "profile.jsonl").read_text().splitlines()}


def test_native_probes_read_the_same_as_emulated_ones(
    wheels: dict[str, Fixture], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [w for key in FIXTURES for w in paths(wheels[key]) if "aarch64" in w.name]
    args += ["--distro", "debian-11", "--distro", "debian-12", "--arch", "aarch64"]
    native = wheelmatrix(*args, tmp=tmp_path / "native")
    monkeypatch.setenv(DISABLE_ENV, "0")
    emulated = wheelmatrix(*args, tmp=tmp_path / "emulated")
    assert native.rc == emulated.rc == 1, native.explain() + emulated.explain()
    got, want = results(native), results(emulated)
    assert got == want
    statuses = {v["status"] for v in want.values()}
    assert {"passed", "failed", "crashed"} <= statuses, statuses  # what the comparison covers
    # the native probe analysed the files in the cell; the emulated one had them read out
    assert OUTSIDE not in phases(tmp_path / "native")
    assert OUTSIDE in phases(tmp_path / "emulated")


def test_an_emulated_sandbox_starts_its_probes_natively() -> None:
    """The engine checks the packed interpreter once per arch in a real cell, and the probe it
    starts there runs on this machine's architecture while what it starts runs on the cell's."""
    from wheelmatrix.backends.base import EngineOptions
    from wheelmatrix.backends.docker.connection import connect
    from wheelmatrix.backends.layout import NATIVE_DIR
    from wheelmatrix.config.catalog import default_catalog_path, load_catalog
    from wheelmatrix.config.scenarios import Scenario
    from wheelmatrix.matrix.cells import Cell

    assert native_python() is not None
    distro = load_catalog(default_catalog_path()).get("debian-12")
    scenario = Scenario(name="import", kind="import", description="imports")
    cell = Cell(distro=distro, arch="aarch64", scenario=scenario, emulated=True, candidates=())
    engine = connect().open(EngineOptions(installer="uv", memory="1g", pids=256), run_id="test-native-probe")
    try:
        image = engine.prepare_image(distro, "aarch64", lambda _m: None)
        sandbox = engine.sandbox(cell, image, threading.Event())
        sandbox.start()
        try:
            assert sandbox.native_probe and sandbox.probe_python[0].startswith(NATIVE_DIR)
            code = "import os, subprocess as s; print(os.uname().machine, s.check_output(['uname', '-m']))"
            got = sandbox.container.exec_run(
                [*sandbox.probe_python, "-I", "-S", "-c", code], user="65534:65534"
            )
            assert got.exit_code == 0 and got.output.decode().split() == ["x86_64", "b'aarch64\\n'"], got
            # what is installed into this machine's interpreter stays on this machine
            packed = native_python()
            assert packed is not None and (packed.stdlib / "site-packages").is_dir()
            assert any((packed.stdlib / "site-packages").iterdir())
            seen = sandbox.container.exec_run(
                ["ls", "-A", f"{packed.stdlib_target}/site-packages"], user="65534:65534"
            )
            assert seen.exit_code == 0 and seen.output == b"", seen
        finally:
            sandbox.remove()
    finally:
        engine.close()
