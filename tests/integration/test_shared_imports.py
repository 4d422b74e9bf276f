"""The symbols scenario reads the imports the import scenario traced in the same cell instead of
importing the stack again (issue 19): its checks must read exactly as when it imports itself.
Real engine, real cells (native and under QEMU), the collision fixtures: one import order
crashes, the other binds one wheel's symbol to the other's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import paths, wheelmatrix, with_args
from tests.fixtures.wheels import Fixture

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
