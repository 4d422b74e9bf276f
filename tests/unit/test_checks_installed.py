"""Checks across the installed set, run with the import kind (cell/checks/installed.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.fixtures.sandbox import IMPORT, FakeSandbox, installed_ok, make_cell, options, run_rec
from tests.fixtures.wheels import Fixture
from wheelmatrix.cell.flow import CellFlow
from wheelmatrix.config.catalog import Catalog
from wheelmatrix.model import Status


def test_installed_set_checks_in_the_import_scenario(catalog: Catalog) -> None:
    overlap = {
        "path": "cv2/__init__.py",
        "dists": ["opencv-python", "opencv-python-headless"],
        "differ": True,
        "on_disk_from": ["opencv-python-headless"],
    }
    same = {
        "name": "libz-1a2b3c4d.so.1",
        "copies": [["a", "a.libs/libz-1a2b3c4d.so.1"], ["b", "b.libs/libz-1a2b3c4d.so.1"]],
        "differ": True,
    }

    def install(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = installed_ok(plan)
        out[-1]["installed_set"] = {"overlaps": [overlap], "overlap_count": 1, "same_libs": [same]}
        return out

    sandbox = FakeSandbox(
        answers={"install": install, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    checks = {r.check: r for r in CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()}
    files = checks["installed files"]
    assert files.status is Status.FAILED
    assert "opencv-python and opencv-python-headless" in files.detail and "cv2/__init__.py" in files.detail
    assert "opencv-python-headless's (the last installed wins)" in files.detail
    libs = checks["bundled library copies"]
    assert libs.status is Status.FAILED and "whichever loads first" in libs.diagnosis


def test_installed_wheel_of_a_requirement_is_scanned_against_its_own_tag(
    catalog: Catalog, fixtures: dict[str, Fixture], tmp_path: Path
) -> None:
    """`validate wmnewglibc` (a requirement): the wheel uv picked claims manylinux_2_17 but its
    extension needs GLIBC_2.36 — a failing tag check even where it loads, read via the engine."""
    import zipfile

    wheel = next(w for w in fixtures["newglibc"].wheels if w.name.endswith("x86_64.whl"))
    so = zipfile.ZipFile(wheel).read("wmnewglibc/_native.abi3.so")
    site = "/tmp/wm-venv/lib/python3.11/site-packages"
    path = f"{site}/wmnewglibc/_native.abi3.so"
    digest = f"sha256=test-{uuid.uuid4().hex}"  # new per run: the first read is never cached

    def install(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = installed_ok(plan)
        out[-1].update(
            files={"mypkg": [path]},
            wheel_tags={"mypkg": ["cp39-abi3-manylinux_2_17_x86_64"]},
            elf_digests={path: digest},
        )
        return out

    sandbox = FakeSandbox(
        answers={"install": install, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]},
        files={path: so},
    )
    checks = {r.check: r for r in CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()}
    tag = checks["tag mypkg 1.0"]
    assert tag.status is Status.FAILED and "GLIBC_2.36" in tag.detail and "arc4random" in tag.detail
    assert "installers trust the tag" in tag.diagnosis
    assert sandbox.order.count("read_file") == 1
    # the second cell reads nothing: the scan is cached by the file's RECORD digest
    again = FakeSandbox(answers=sandbox.answers, files={})
    CellFlow(make_cell(catalog, IMPORT), again, options()).run()
    assert "read_file" not in again.order
