"""Shared fixtures. Integration tests use the real engine, real images and real wheels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.schemas import assert_report, assert_stream_line
from tests.fixtures.wheels import Fixture, build_all

REPO = Path(__file__).resolve().parents[1]
DEBIAN = ("debian-11", "debian-12", "debian-13")
ARCHS = ("x86_64", "aarch64")
MATRIX = [a for d in DEBIAN for a in ("--distro", d)] + [a for x in ARCHS for a in ("--arch", x)]


def paths(*fixtures: Fixture) -> list[Path]:
    """Every wheel file of the given fixtures (one per arch for native ones)."""
    return [w for f in fixtures for w in f.wheels]


def with_args(fixture: Fixture) -> list[str]:
    """`--with WHEEL` for each wheel of a fixture: a companion in every arch's cells."""
    return [a for w in fixture.wheels for a in ("--with", str(w))]


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fixture]:
    return build_all(tmp_path_factory.mktemp("wheels"))


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    def results(self, check: str | None = None) -> list[dict[str, Any]]:
        assert self.report is not None, f"no JSON report; stderr:\n{self.stderr}\nstdout:\n{self.stdout}"
        return [r for r in self.report["results"] if check is None or r["check"] == check]

    def by_cell(self, check: str) -> dict[tuple[str, str], dict[str, Any]]:
        out = {(r["distro"], r["arch"]): r for r in self.results(check)}
        return out

    def explain(self) -> str:
        return self.stdout[-6000:] + "\n" + self.stderr[-3000:]


@pytest.fixture(autouse=True)
def _reports_match_their_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every JSON report and stream line made in this process is checked against the published
    JSON Schemas as it is made (subprocess runs: `wheelmatrix()` below checks their reports)."""
    from wheelmatrix.run import jsonreport, stream

    made = jsonreport.report_document

    def checked(*args: Any, **kwargs: Any) -> dict[str, Any]:
        doc = made(*args, **kwargs)
        assert_report(json.loads(json.dumps(doc)))
        return doc

    monkeypatch.setattr(jsonreport, "report_document", checked)
    write = stream.ResultLog._write

    def checked_write(self: stream.ResultLog, record: Any) -> None:
        assert_stream_line(json.loads(json.dumps(record)))
        write(self, record)

    monkeypatch.setattr(stream.ResultLog, "_write", checked_write)


def assert_findings(doc: dict[str, Any]) -> None:
    """No failing, crashed, timed-out or broken check without a finding that names its cause."""
    bare = [
        r["check_id"]
        for r in doc["results"]
        if r["status"] in ("failed", "crashed", "timed-out", "error")
        and not (r.get("finding") and r["finding"]["kind"] and r["finding"]["message"])
    ]
    assert not bare, f"checks without a finding: {bare}"


def wheelmatrix(*args: str | Path, tmp: Path, timeout: float = 1800) -> Run:
    """Run the real CLI in a subprocess, as a user would. Its JSON report must match the
    published schema, and every problem in it must carry a finding."""
    report = tmp / f"report-{os.getpid()}-{len(list(tmp.glob('report-*')))}.json"
    cmd = [sys.executable, "-m", "wheelmatrix", "validate", *map(str, args), "--json", str(report)]
    cmd += ["--runs-dir", str(tmp / "runs")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    doc = json.loads(report.read_text()) if report.exists() else None
    if doc is not None:
        assert_report(doc)
        assert_findings(doc)
    return Run(proc.returncode, proc.stdout, proc.stderr, doc)


@dataclass
class Cli:
    rc: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        return f"rc={self.rc}\n--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-3000:]}"


def cli(*args: str | Path, cwd: Path, timeout: float = 1800, exe: Sequence[str] | None = None) -> Cli:
    """Any wheelmatrix command, run in `cwd` (by default with this checkout's package)."""
    head = list(exe) if exe is not None else [sys.executable, "-m", "wheelmatrix"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if exe is None:
        env["PYTHONPATH"] = str(REPO / "runner")
    proc = subprocess.run(
        [*head, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )
    return Cli(proc.returncode, proc.stdout, proc.stderr)


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


@pytest.fixture(scope="session")
def debian_images() -> Iterator[None]:
    """Build (or find cached) the six Debian images once per session, before the tests use them.

    Images are cached by content tag across sessions; host-wide file locks make concurrent
    xdist workers wait for one another instead of building twice. Each worker starts at a
    different image so that two workers build two images at once.
    """
    from wheelmatrix.backends.docker.connection import connect
    from wheelmatrix.backends.docker.images import prepare
    from wheelmatrix.config.catalog import default_catalog_path, load_catalog

    catalog = load_catalog(default_catalog_path())
    client = connect().client
    todo = [(d, a) for a in reversed(ARCHS) for d in DEBIAN]
    shift = _worker_index() % len(todo)
    for distro_id, arch in todo[shift:] + todo[:shift]:
        prepare(client, catalog.get(distro_id), arch, lambda msg: None)
    yield


MUSL = "musl-1.2.5"


@pytest.fixture(scope="session")
def musl_images() -> Iterator[None]:
    """Build (or find cached) the musl cell images, x86_64 first: the musl-python recipe
    cross-compiles CPython on the host (a few minutes per arch, once; cached by content tag)."""
    from wheelmatrix.backends.docker.connection import connect
    from wheelmatrix.backends.docker.images import prepare
    from wheelmatrix.config.catalog import default_catalog_path, load_catalog

    catalog = load_catalog(default_catalog_path())
    client = connect().client
    for arch in ARCHS:
        prepare(client, catalog.get(MUSL), arch, lambda msg: None)
    yield
