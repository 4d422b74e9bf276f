"""Reading JSON reports back (run/jsonreport.py, through load_results)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.fixtures.results import full_record, result, two_cells
from wheelmatrix.errors import InputError
from wheelmatrix.findings.explain import explain
from wheelmatrix.model import SCHEMA_VERSION, Status
from wheelmatrix.reporters.base import ReportContext
from wheelmatrix.reporters.jsonfile import JSON
from wheelmatrix.run.rundir import load_results

# --------------------------------------------------------------------------- JSON reports


def test_report_round_trip(tmp_path: Path) -> None:
    results = [r for rs in two_cells().values() for r in rs] + [full_record()]
    path = tmp_path / "report.json"
    JSON.write(results, ReportContext(run={"id": "r1"}), path)
    loaded = load_results(path)
    assert loaded.kind == "report" and loaded.schema == SCHEMA_VERSION
    # a problem written without a finding is written with the one its evidence gives
    expected = [r if r.finding is not None else dataclasses.replace(r, finding=explain(r)) for r in results]
    assert any(r.finding is None and r.status is not Status.PASSED for r in results)
    assert loaded.results == expected and loaded.run == {"id": "r1"}
    assert loaded.complete_cells == {r.cell_id for r in results}


def test_schema_1_report(tmp_path: Path) -> None:
    """As wheelmatrix 0.1 wrote it: no "schema", records without ids or provenance."""
    doc = {
        "tool": "wheelmatrix",
        "version": "0.1.0",
        "run": {"id": "old"},
        "summary": {"checks": 2},
        "results": [
            {"distro": "debian-12", "arch": "x86_64", "python": "3.11", "scenario": "import",
             "check": "import wmpure", "status": "passed", "detail": "", "duration_s": 0.1,
             "installer": "uv", "wheels": ["wmpure-1.0-py3-none-any.whl"], "evidence": {}},
            {"distro": "debian-11", "arch": "aarch64", "python": "3.9", "scenario": "import",
             "check": "import wmnewglibc", "status": "failed", "detail": "GLIBC_2.36 not found"},
        ],
        "static_scan": [],
    }  # fmt: skip
    path = tmp_path / "old-report.json"
    path.write_text(json.dumps(doc, indent=2))
    loaded = load_results(path)
    assert loaded.schema == 1
    assert [(r.check, r.status) for r in loaded.results] == [
        ("import wmpure", Status.PASSED),
        ("import wmnewglibc", Status.FAILED),
    ]
    assert loaded.complete_cells == {"debian-12/x86_64/py3.11/import", "debian-11/aarch64/py3.9/import"}
    assert loaded.results[0].wheels == ("wmpure-1.0-py3-none-any.whl",) and loaded.results[1].installed == ()


def test_report_duplicates_keep_the_last(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    JSON.write([result(status=Status.FAILED), result(status=Status.PASSED)], ReportContext(), path)
    assert [r.status for r in load_results(path).results] == [Status.PASSED]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"name": "package.json", "version": "1.0"}', "not a wheelmatrix report"),
        ("[1, 2, 3]", "not a wheelmatrix report"),
        ('{"tool": "wheelmatrix", "schema": 99, "results": []}', "schema 99"),
        ('{"tool": "wheelmatrix", "results": [{"check": "x"}]}', r"results\[0\] is not a check result"),
        ("{not json", "not valid JSON"),
    ],
    ids=["foreign", "list", "future-schema", "bad-record", "not-json"],
)
def test_bad_json_files_are_rejected(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "thing.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        load_results(path)
    assert str(path) in str(info.value)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_results(tmp_path / "nope.json")


def test_static_scans_read_back_from_a_report_and_a_run_directory(tmp_path: Path) -> None:
    from wheelmatrix.run.jsonreport import read_static_scans, report_document

    scans = [{"wheel": "a-1.0-py3-none-any.whl", "findings": [], "reach": []}]
    doc = report_document([result()], {"id": "r1"}, scans, version="9.9")
    assert (doc["tool"], doc["schema"], doc["version"]) == ("wheelmatrix", SCHEMA_VERSION, "9.9")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.json").write_text(json.dumps(doc))
    assert read_static_scans(run_dir / "report.json") == scans
    assert read_static_scans(run_dir) == scans
    (tmp_path / "broken.json").write_text("{")
    assert read_static_scans(tmp_path / "broken.json") == []
    assert read_static_scans(tmp_path / "results.jsonl") == []
    loaded = load_results(run_dir / "report.json")
    assert loaded.kind == "report" and loaded.run == {"id": "r1"} and len(loaded.results) == 1
