"""The pytest kind (cell/checks/pytest.py): requirements, sources copied, failing tests named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.sandbox import FakeSandbox, installed_ok, make_cell, options, run_rec
from wheelmatrix.cell.checks.execute import PROJECT_DIR
from wheelmatrix.cell.checks.pytest import interpret_pytest, node_id, pytest_summary, requirements
from wheelmatrix.cell.flow import CellFlow
from wheelmatrix.cell.install import VENV_PYTHON
from wheelmatrix.config.catalog import Catalog
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.model import Status


def test_pytest_scenario_installs_pytest_copies_sources_and_names_failures(
    catalog: Catalog, tmp_path: Path
) -> None:
    scenario = Scenario(
        name="tests",
        kind="pytest",
        description="",
        argv=("{project}/tests", "-x"),
        requires=("hypothesis",),
        sources=tmp_path,
    )
    cases = [
        {"classname": "tests.test_api", "name": "test_ok", "outcome": "passed", "message": ""},
        {
            "classname": "tests.test_api.TestGlibc",
            "name": "test_new",
            "outcome": "failed",
            "message": "AssertionError: glibc too old",
        },
    ]
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "exec": lambda plan: [run_rec("pytest", rc=1, tests=cases)]}
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert sandbox.order == ["install", "put_dir", "isolate", "exec"]
    install_argv = sandbox.plan("install")["steps"][-1]["argv"]
    assert "pytest" in install_argv and "hypothesis" in install_argv
    assert sandbox.calls[1][1] == (tmp_path, PROJECT_DIR)
    argv = sandbox.plan("exec")["checks"][0]["argv"]
    assert argv[:3] == [VENV_PYTHON, "-m", "pytest"] and argv[-2:] == [f"{PROJECT_DIR}/tests", "-x"]
    assert sandbox.plan("exec")["checks"][0]["cwd"] == PROJECT_DIR
    checks = {r.check: r for r in results}
    assert checks["pytest"].status is Status.FAILED
    assert "1 passed, 1 failed" in checks["pytest"].detail
    failing = checks["pytest tests/test_api.py::TestGlibc::test_new"]
    assert failing.status is Status.FAILED and failing.detail == "AssertionError: glibc too old"
    assert len(results) == 2  # passing tests are counted, not listed


def test_pytest_scenario_all_pass(catalog: Catalog) -> None:
    scenario = Scenario(name="tests", kind="pytest", description="")
    cases = [{"classname": "test_a", "name": "test_x", "outcome": "passed", "message": ""}]
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "exec": lambda plan: [run_rec("pytest", rc=0, tests=cases)]}
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert [(r.check, r.status, r.detail) for r in results] == [("pytest", Status.PASSED, "1 passed")]
    assert "put_dir" not in sandbox.order  # no sources: nothing copied


def test_pytest_that_cannot_start(catalog: Catalog) -> None:
    scenario = Scenario(name="tests", kind="pytest", description="")
    sandbox = FakeSandbox(
        answers={
            "install": installed_ok,
            "exec": lambda plan: [
                run_rec("pytest", rc=4, tail="ERROR: file or directory not found: x", tests=None)
            ],
        }
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert results[0].status is Status.FAILED and "file or directory not found" in results[0].detail


@pytest.mark.parametrize(
    ("classname", "name", "expected"),
    [
        ("tests.test_api", "test_ok", "tests/test_api.py::test_ok"),
        ("tests.test_api.TestX", "test_y", "tests/test_api.py::TestX::test_y"),
        ("test_top", "test_z[1-2]", "test_top.py::test_z[1-2]"),
    ],
)
def test_node_id(classname: str, name: str, expected: str) -> None:
    assert node_id({"classname": classname, "name": name}) == expected


@pytest.mark.parametrize(
    ("requires", "expected"),
    [
        ((), ["pytest"]),
        (("hypothesis",), ["pytest", "hypothesis"]),
        (("pytest==8.3.0", "hypothesis"), ["pytest==8.3.0", "hypothesis"]),
        (("Pytest-xdist[psutil]",), ["Pytest-xdist[psutil]"]),
    ],
)
def test_requirements_add_pytest_unless_named(requires: tuple[str, ...], expected: list[str]) -> None:
    assert requirements(Scenario(name="t", kind="pytest", description="", requires=requires)) == expected


@pytest.mark.parametrize(
    ("tail", "counts"),
    [
        ("== 57 passed, 2 skipped in 5.36s ==", {"passed": 57, "skipped": 2}),
        (
            "=== 1 failed, 3 passed, 2 warnings, 1 error in 0.20s (0:00:00) ===",
            {"failed": 1, "passed": 3, "warnings": 2, "error": 1},
        ),
        ("collected 0 items\n=== no tests ran in 0.01s ===", {}),
        ("FAILED x.py::t - AssertionError: 1 passed in 2s", {}),
    ],
)
def test_pytest_says_its_own_counts(tail: str, counts: dict[str, int]) -> None:
    assert pytest_summary(tail) == counts


def test_the_summary_counts_are_pytests_own_when_it_printed_them() -> None:
    """A skipped module is one JUnit case but pytest counts every test in it."""
    from types import SimpleNamespace

    def make_result(
        check: str, status: Status, detail: str, duration: float = 0.0, evidence: Any = None
    ) -> Any:
        return SimpleNamespace(check=check, status=status, detail=detail, evidence=dict(evidence or {}))

    cases = [{"classname": "t", "name": "test_a", "outcome": "passed", "message": ""}]
    rec = run_rec("pytest", tail="=== 1 passed, 2 skipped in 0.1s ===", tests=cases)["check"]
    (summary,) = interpret_pytest(rec, 60, make_result)
    assert summary.detail == "1 passed, 2 skipped" and summary.evidence["tests"]["passed"] == 1
