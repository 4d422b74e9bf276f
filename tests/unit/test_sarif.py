"""SARIF 2.1.0 log: one result per root cause, rules per status, the wheel as the location."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.causes import ARM, GLIBC, RESULTS, X86
from wheelmatrix.cli import main
from wheelmatrix.model import CheckResult
from wheelmatrix.reporters.base import ReportContext
from wheelmatrix.reporters.jsonfile import JSON
from wheelmatrix.reporters.sarif import render_sarif


def test_one_result_per_root_cause_with_levels_rules_and_locations() -> None:
    doc = json.loads(render_sarif(RESULTS, ReportContext(run={"id": "r7"}, tool_version="9.9")))
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    assert run["tool"]["driver"]["name"] == "wheelmatrix" and run["tool"]["driver"]["version"] == "9.9"
    assert run["automationDetails"] == {"id": "wheelmatrix/r7"}
    glibc, not_installable, warned = run["results"]
    assert (glibc["ruleId"], glibc["level"]) == ("wheelmatrix/failed", "error")
    assert glibc["message"]["text"].startswith(f"{GLIBC}: 3 checks in 3 cells")
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in glibc["locations"]]
    assert uris == [X86, ARM]
    assert len(glibc["properties"]["check_ids"]) == 3
    assert (not_installable["ruleId"], not_installable["level"]) == ("wheelmatrix/not-installable", "warning")
    assert "locations" not in not_installable
    assert (warned["ruleId"], warned["level"]) == ("wheelmatrix/passed", "warning")
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["wheelmatrix/passed", "wheelmatrix/failed", "wheelmatrix/not-installable"]
    assert {r["ruleId"] for r in run["results"]} <= set(rules)


def test_the_same_cause_keeps_its_fingerprint_across_runs() -> None:
    def fingerprints(results: list[CheckResult]) -> list[str]:
        doc = json.loads(render_sarif(results, ReportContext()))
        return [r["partialFingerprints"]["wheelmatrixCause/v1"] for r in doc["runs"][0]["results"]]

    assert fingerprints(RESULTS)[0] == fingerprints(RESULTS[1:2])[0]
    assert len(set(fingerprints(RESULTS))) == 3


def test_no_problems_an_empty_run() -> None:
    doc = json.loads(render_sarif(RESULTS[:1], ReportContext()))
    assert doc["runs"][0]["results"] == [] and doc["runs"][0]["tool"]["driver"]["rules"] == []


def test_report_render_sarif(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    JSON.write(RESULTS, ReportContext(), report)
    out = tmp_path / "wheelmatrix.sarif"
    assert main(["report", "render", str(report), "--sarif", str(out), "--fail-on", "never"]) == 0
    assert json.loads(out.read_text())["runs"][0]["results"]
