"""Results and reporters (wheelmatrix/results.py, wheelmatrix/reporters/): exit codes, JSON, JUnit, table."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from wheelmatrix.model import SCHEMA_VERSION, CheckResult, Status, exit_code
from wheelmatrix.reporters.base import ReportContext
from wheelmatrix.reporters.jsonfile import JSON
from wheelmatrix.reporters.junit import JUNIT
from wheelmatrix.reporters.terminal import render_table
from wheelmatrix.run.stream import ResultLog

REQUIRED_KEYS = {"distro", "arch", "python", "scenario", "check", "status", "detail", "duration_s"}


def result(
    status: Status,
    *,
    distro: str = "debian-12",
    arch: str = "x86_64",
    python: str = "3.11",
    check: str = "import wmpure",
    detail: str = "",
    **extra: Any,
) -> CheckResult:
    return CheckResult(
        distro=distro,
        arch=arch,
        python=python,
        scenario="import",
        check=check,
        status=status,
        detail=detail,
        **extra,
    )


def results_of(*statuses: Status) -> list[CheckResult]:
    return [result(s, check=f"check {i}") for i, s in enumerate(statuses)]


# A small but complete run: every status once, on two rows.
RUN = [
    result(Status.PASSED, duration_s=0.1234),
    result(
        Status.FAILED,
        check="import wmnewglibc",
        distro="debian-11",
        python="3.9",
        detail="ImportError: version `GLIBC_2.36' not found",
        evidence={"output_tail": "Traceback ...\nImportError: version `GLIBC_2.36' not found"},
    ),
    result(
        Status.CRASHED,
        check="import wmcrash",
        detail='SIGSEGV; in File "wmcrash/__init__.py", line 1',
        evidence={"output_tail": "Fatal Python error: Segmentation fault"},
    ),
    result(Status.TIMED_OUT, check="import wmhang", detail="did not finish within 5 s"),
    result(Status.NOT_INSTALLABLE, check="install wmforeign", detail="no wheel of wmforeign fits cp311"),
    result(
        Status.ERROR,
        check="prepare image",
        arch="aarch64",
        detail="pulling debian:12 failed",
        wheels=("wmpure-1.0-py3-none-any.whl",),
        installer="uv",
    ),
]


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    "statuses, code",
    [
        ((), 0),
        ((Status.PASSED,), 0),
        ((Status.PASSED, Status.NOT_INSTALLABLE), 0),
        ((Status.PASSED, Status.FAILED), 1),
        ((Status.CRASHED,), 1),
        ((Status.TIMED_OUT, Status.NOT_INSTALLABLE), 1),
        ((Status.ERROR, Status.FAILED, Status.PASSED), 1),
        ((Status.ERROR,), 3),
        ((Status.ERROR, Status.PASSED, Status.NOT_INSTALLABLE), 3),
    ],
)
def test_exit_code(statuses: Sequence[Status], code: int) -> None:
    assert exit_code(results_of(*statuses)) == code


def test_exit_code_accepts_a_generator() -> None:
    assert exit_code(r for r in results_of(Status.PASSED, Status.CRASHED)) == 1


# --------------------------------------------------------------------------- JSON


def test_write_json(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    JSON.write(RUN, ReportContext(run={"id": "abc123", "cells": 3}), path)

    doc = json.loads(path.read_text(encoding="utf-8"))
    assert len(doc["results"]) == len(RUN)
    for entry, res in zip(doc["results"], RUN, strict=True):
        assert set(entry) >= REQUIRED_KEYS
        assert entry["status"] == res.status.value
        assert (entry["distro"], entry["arch"], entry["python"], entry["check"]) == (
            res.distro,
            res.arch,
            res.python,
            res.check,
        )
        assert entry["detail"] == res.detail
    assert doc["results"][0]["duration_s"] == 0.123
    assert doc["results"][-1]["wheels"] == ["wmpure-1.0-py3-none-any.whl"]
    assert doc["run"] == {"id": "abc123", "cells": 3}
    assert doc["tool"] == "wheelmatrix" and doc["schema"] == SCHEMA_VERSION
    assert doc["summary"]["checks"] == 6 and doc["summary"]["exit_code"] == 1
    assert doc["summary"]["timed-out"] == 1 and doc["summary"]["passed"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left


def test_result_log_streams_json_lines(tmp_path: Path) -> None:
    stream = tmp_path / "runs" / "r1" / "results.jsonl"
    log = ResultLog(stream)
    for res in RUN[:3]:
        log.add(res)
    lines = stream.read_text(encoding="utf-8").splitlines()
    log.close()
    records = [json.loads(ln) for ln in lines]
    assert records[0]["type"] == "header" and records[0]["schema"] == SCHEMA_VERSION
    assert [r["check"] for r in records[1:]] == [r.check for r in RUN[:3]]
    assert {r["type"] for r in records[1:]} == {"result"}
    assert log.results == RUN[:3]


# --------------------------------------------------------------------------- JUnit


def junit(tmp_path: Path, results: Sequence[CheckResult]) -> ET.Element:
    path = tmp_path / "junit.xml"
    JUNIT.write(results, ReportContext(), path)
    return ET.parse(path).getroot()


def test_write_junit_one_testcase_per_check(tmp_path: Path) -> None:
    root = junit(tmp_path, RUN)

    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert len(cases) == len(root.findall(".//testcase")) == len(RUN)

    def child_tags(name: str) -> list[str]:
        return [el.tag for el in cases[name]]

    assert child_tags("import wmpure") == []
    assert child_tags("import wmnewglibc") == ["failure"]
    assert child_tags("import wmcrash") == ["failure"]
    assert child_tags("import wmhang") == ["failure"]
    assert child_tags("install wmforeign") == ["skipped"]
    assert child_tags("prepare image") == ["error"]

    crash = cases["import wmcrash"].find("failure")
    assert crash is not None
    assert crash.get("type") == "crashed" and crash.get("message", "").startswith("SIGSEGV")
    assert crash.text == "Fatal Python error: Segmentation fault"
    skipped = cases["install wmforeign"].find("skipped")
    assert skipped is not None and "no wheel of wmforeign" in skipped.get("message", "")


def test_write_junit_suites_count_their_cases(tmp_path: Path) -> None:
    root = junit(tmp_path, RUN)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    main = suites["debian-12.x86_64.py3.11.import"]
    counts = tuple(main.get(key) for key in ("tests", "failures", "errors", "skipped"))
    assert counts == ("4", "2", "0", "1")
    assert suites["debian-11.x86_64.py3.9.import"].get("failures") == "1"
    assert suites["debian-12.aarch64.py3.11.import"].get("errors") == "1"


def test_write_junit_survives_control_characters_in_output(tmp_path: Path) -> None:
    noisy = result(
        Status.CRASHED,
        detail="SIGSEGV\x07",
        check="import wmcrash",
        evidence={"output_tail": "\x1b[31mboom\x1b[0m\x00"},
    )
    root = junit(tmp_path, [noisy])
    failure = root.find(".//failure")
    assert failure is not None and "boom" in (failure.text or "")


# --------------------------------------------------------------------------- terminal table


def table_text(results: Sequence[CheckResult]) -> str:
    console = Console(record=True, width=200, file=io.StringIO(), color_system=None)
    render_table(console, results)
    return console.export_text()


def test_render_table_rows_columns_and_reasons() -> None:
    text = table_text(RUN)
    lines = text.splitlines()

    # numbered columns, named below the table, with the legend of the marks
    header = next(ln for ln in lines if "distro/arch/python" in ln)
    assert [c for c in header.replace("┃", " ").split() if c.isdigit()] == ["1", "2", "3", "4", "5", "6"]
    for i, res in enumerate(RUN, 1):
        assert f"{i:>2} {res.check}" in text
    assert "✓ passed" in text and "C crashed" in text
    rows = {ln.split("│")[1].strip(): ln for ln in lines if ln.startswith("│")}
    assert set(rows) == {"debian-11/x86_64/py3.9", "debian-12/aarch64/py3.11", "debian-12/x86_64/py3.11"}
    assert "✓" in rows["debian-12/x86_64/py3.11"] and "C" in rows["debian-12/x86_64/py3.11"]
    assert "✗" in rows["debian-11/x86_64/py3.9"]
    # Every problem gets a reason, grouped by cause; passes do not.
    for res in RUN[1:]:
        assert any(res.check in ln and res.detail in ln for ln in lines), res
    assert "6 checks: 1 passed, 1 failed, 1 crashed, 1 timed-out, 1 not-installable, 1 error" in text


def test_render_table_fits_80_columns_and_groups_by_cause() -> None:
    same = [
        result(Status.FAILED, check=f"import wmpkg{i}", distro=d, detail="ImportError: GLIBC_2.36 not found",
               diagnosis=f"needs GLIBC_2.36 (arc4random in wmpkg{i}/_n.so); {d} has GLIBC_2.31")
        for i in range(30) for d in ("debian-10", "debian-11")
    ]  # fmt: skip
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    render_table(console, same)
    text = console.export_text()
    assert max(len(ln) for ln in text.splitlines()) <= 80, text
    assert "needs GLIBC_2.36 (arc4random in wmpkg0/_n.so): 2 checks in 2 cells" in text
    assert text.count("e.g. ") == 30  # one line per cause, not per check


def test_render_table_without_results() -> None:
    assert table_text([]).strip() == "no results"


@pytest.mark.parametrize(
    "detail",
    [
        "install failed: Because wmdemo[extra]==1.0 depends on numpy>=2",
        "FileNotFoundError: [Errno 2] No such file or directory: '[/tmp/x]'",
    ],
    ids=["extra", "closing-tag"],
)
def test_render_table_shows_details_verbatim(detail: str) -> None:
    assert detail in table_text([result(Status.FAILED, detail=detail)])


def test_write_junit_testcases_unique_per_cell_and_variant(tmp_path: Path) -> None:
    base = dict(distro="debian-12", arch="x86_64", python="3.11", scenario="import", status=Status.FAILED)
    results = [
        CheckResult(check="import a, b", variant="numpy2-abi-pandas20", **base),  # type: ignore[arg-type]
        CheckResult(check="import a, b", variant="openblas-twice", **base),  # type: ignore[arg-type]
        CheckResult(check="import a, b", **base),  # type: ignore[arg-type]
        CheckResult(check="import a, b", **base),  # type: ignore[arg-type]
    ]
    root = junit(tmp_path, results)
    names = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
    assert len(names) == len(set(names)) == 4, names
    assert ("debian-12.x86_64.py3.11.import+numpy2-abi-pandas20", "import a, b") in names
    assert ("debian-12.x86_64.py3.11.import", "import a, b (2)") in names


def test_verbose_table_lists_the_wheel_files_each_cell_installed() -> None:
    from tests.fixtures.results import full_record

    record = full_record()
    quiet = table_text([record])
    console = Console(record=True, width=200, file=io.StringIO(), color_system=None)
    render_table(console, [record, record], verbose=True)
    loud = console.export_text()
    assert "manylinux_2_28_aarch64" not in quiet
    assert loud.count(f"{record.row} installed:") == 1  # once per cell, however many results
    assert "numpy 2.3.0  manylinux_2_28_aarch64  sha256 cccccccccccccccc  (uv-cache)" in loud
    assert "mypkg 1.0  linux_aarch64  no sha256: the installer left no record of the file" in loud


def test_html_cell_detail_has_the_wheel_files() -> None:
    from tests.fixtures.results import full_record
    from wheelmatrix.reporters.html import render_html

    page = render_html([full_record()], {"id": "r"})
    assert "numpy-2.3.0-cp39-cp39-manylinux_2_28_aarch64.whl  sha256 " + "c" * 64 in page
    assert "Wheel files installed" in page and "detail-wheels" in page


def test_the_tag_checks_of_one_project_share_a_column() -> None:
    """One wheel file per arch: one `tag` column per project, not one per file blank in the
    other arch's rows; a requirement judged in the cell ("tag PROJECT VERSION") joins it."""
    from wheelmatrix.findings.causes import layout

    runs = [
        result(
            Status.FAILED,
            distro="debian-11",
            arch="x86_64",
            check="tag wm_newglibc-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
        ),
        result(
            Status.FAILED,
            distro="debian-11",
            arch="aarch64",
            check="tag wm_newglibc-1.0-cp39-abi3-manylinux_2_17_aarch64.whl",
        ),
        result(Status.FAILED, distro="debian-12", arch="x86_64", check="tag wm-newglibc 1.0"),
        result(
            Status.FAILED,
            distro="debian-12",
            arch="x86_64",
            check="tag other-1.0-py3-none-manylinux_2_17_x86_64.whl",
        ),
    ]
    table = layout(runs)
    assert table.columns == ["tag wm-newglibc", "tag other"]
    assert all("tag wm-newglibc" in row for row in table.rows.values())
