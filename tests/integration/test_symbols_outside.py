"""Two ways the symbols scenario saves emulated work (issue 19), each held to the way it replaces:
it reads the imports the import scenario traced in the same cell instead of importing the
stack again; and an emulated cell only observes (imports, the dynamic linker's bindings) while
the files and logs are read on the runner's side. Its checks must read exactly the same either
way. Real engine, real cells (native and under QEMU), the collision fixtures: one import order
crashes, the other binds one wheel's symbol to the other's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import paths, wheelmatrix, with_args
from tests.fixtures.wheels import Fixture
from wheelmatrix.backends.native_python import DISABLE_ENV
from wheelmatrix.cell.checks.cellfiles import IN_CELL_ENV

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]

CELL = ["--distro", "debian-12", "--arch", "x86_64", "--arch", "aarch64"]
SHARED = "symbols: loaded objects, from the import scenario's trace"


def symbol_checks(run: Any) -> dict[tuple[str, str], Any]:
    """The symbols checks as read, uv's cache folders (named at random in each cell) aside."""
    keep = ("status", "detail", "diagnosis", "evidence")
    got = {
        f"{r['arch']} {r['check']}": {k: r.get(k) for k in keep}
        for r in run.results()
        if r["scenario"] == "symbols"
    }
    return json.loads(re.sub(r"archive-v0/[^/]+/", "archive-v0/X/", json.dumps(got, sort_keys=True)))


def crash_evidence(run: Any) -> dict[str, Any]:
    """The dynamic-linker bindings of each crashed check, uv's cache folders aside."""
    got = {
        r["check"]: r["evidence"]["native"].get("bindings")
        for r in run.results()
        if r["status"] == "crashed" and "native" in r["evidence"]
    }
    return json.loads(re.sub(r"archive-v0/[^/]+/", "archive-v0/X/", json.dumps(got, sort_keys=True)))


def steps(tmp: Path) -> set[tuple[str, str]]:
    (run_dir,) = [p for p in (tmp / "runs").iterdir() if p.is_dir()]
    profile = [json.loads(line) for line in (run_dir / "profile.jsonl").read_text().splitlines()]
    return {(p["cell"].split("/")[1], p["phase"]) for p in profile}


def test_symbols_after_imports_reads_as_symbols_alone(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    args = [*paths(wheels["colla"]), *with_args(wheels["collb"]), *CELL, "--jobs", "2"]
    both = wheelmatrix(*args, tmp=tmp_path / "both")
    alone = wheelmatrix(*args, "--scenario", "symbols", tmp=tmp_path / "alone")
    assert both.rc == 1 and alone.rc == 1, both.explain() + alone.explain()
    shared, own = symbol_checks(both), symbol_checks(alone)
    assert shared == own
    # what the comparison is about: a collision whose bindings were read from the logs
    collisions = [v for key, v in shared.items() if key.endswith(" symbol collisions")]
    assert len(collisions) == 2 and all(c["status"] == "failed" for c in collisions), collisions
    # the symbols probe did read the import scenario's trace (of the order that passed) ...
    for arch in ("x86_64", "aarch64"):
        assert (arch, SHARED) in steps(tmp_path / "both")
        assert (arch, SHARED) not in steps(tmp_path / "alone")


OUTSIDE = "symbols: objects read out of the cell"


@pytest.mark.parametrize(
    ("candidate", "companion", "scenarios"),
    [
        # default scenarios: the logs come from the import scenario's traces
        ("colla", "collb", []),
        # the symbols scenario alone, the order that imports first: the other order is traced
        # in the cell on the runner's request once collisions are found
        ("collb", "colla", ["--scenario", "symbols"]),
    ],
)
def test_an_emulated_cell_analysed_outside_reads_as_analysed_inside(
    wheels: dict[str, Fixture],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    candidate: str,
    companion: str,
    scenarios: list[str],
) -> None:
    args = [*paths(wheels[candidate]), *with_args(wheels[companion]), "--distro", "debian-12"]
    args += ["--arch", "aarch64", *scenarios]
    # the probe emulated, as on a remote engine (a local one runs it natively, and it reads
    # the files where they are: tests/integration/test_native_probe.py)
    monkeypatch.setenv(DISABLE_ENV, "0")
    outside = wheelmatrix(*args, tmp=tmp_path / "outside")
    monkeypatch.setenv(IN_CELL_ENV, "1")
    inside = wheelmatrix(*args, tmp=tmp_path / "inside")
    assert outside.rc == inside.rc == 1, outside.explain() + inside.explain()
    assert symbol_checks(outside) == symbol_checks(inside)
    # a crashed import's evidence: the dynamic linker's bindings, read on either side
    assert crash_evidence(outside) == crash_evidence(inside)
    if not scenarios:  # the default scenarios: `import wmcolla, wmcollb` crashes
        (bindings,) = crash_evidence(outside).values()
        assert any(b["symbol"] == "wm_shared_state" for b in bindings), bindings
    (collision,) = [v for key, v in symbol_checks(outside).items() if key.endswith(" symbol collisions")]
    assert collision["status"] == "failed" and collision["evidence"]["collisions"][0]["crossed"], collision
    assert ("aarch64", OUTSIDE) in steps(tmp_path / "outside")
    assert ("aarch64", OUTSIDE) not in steps(tmp_path / "inside")
