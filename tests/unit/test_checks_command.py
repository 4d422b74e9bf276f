"""The command and commands kinds (cell/checks/command.py, commands.py) through the cell flow and
their interpreters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.fixtures.sandbox import FakeSandbox, installed_ok, make_cell, options, run_rec
from wheelmatrix.cell.checks.command import interpret_command
from wheelmatrix.cell.checks.commands import interpret_command_start
from wheelmatrix.cell.flow import CellFlow
from wheelmatrix.cell.install import VENV_PYTHON
from wheelmatrix.config.catalog import Catalog
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.model import Status


def test_command_scenario_argv_env_and_status(catalog: Catalog) -> None:
    scenario = Scenario(
        name="cli", kind="command", description="", argv=("python", "-m", "mypkg", "--version")
    )
    sandbox = FakeSandbox(
        answers={
            "install": installed_ok,
            "exec": lambda plan: [run_rec("command", rc=3, tail="boom: bad flag")],
        }
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options(timeout_s=7)).run()
    assert sandbox.order == ["install", "isolate", "exec"]
    plan = sandbox.plan("exec")
    assert plan["checks"][0]["argv"] == [VENV_PYTHON, "-m", "mypkg", "--version"]
    assert plan["env"]["PATH"].startswith("/tmp/wm-venv/bin:")
    assert plan["timeout"] == 7
    assert [(r.check, r.status) for r in results] == [("run python -m mypkg --version", Status.FAILED)]
    assert results[0].detail.startswith("exit 3")


def test_command_scenario_crash(catalog: Catalog) -> None:
    scenario = Scenario(name="cli", kind="command", description="", argv=("mytool",))
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "exec": lambda plan: [run_rec("command", rc=-4, signal="SIGILL")]}
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert results[0].status is Status.CRASHED and "SIGILL" in results[0].detail


COMMANDS = Scenario(name="commands", kind="commands", description="", argv=("--version",))


def test_commands_scenario_runs_each_command_of_the_candidates(catalog: Catalog) -> None:
    def install(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = installed_ok(plan)
        out[-1]["commands"] = {
            "mypkg": ["/tmp/wm-venv/bin/mytool", "/tmp/wm-venv/bin/myother"],
            "companion": ["/x"],
        }
        return out

    def run(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            run_rec(
                "k0",
                rc=1,
                tail="/tmp/wm-venv/bin/mytool: /lib/x86_64-linux-gnu/libc.so.6: "
                "version `GLIBC_2.36' not found (required by /tmp/wm-venv/bin/mytool)",
            ),
            run_rec("k1", rc=2, tail="usage: myother [-h]"),
        ]

    sandbox = FakeSandbox(answers={"install": install, "exec": run})
    results = CellFlow(make_cell(catalog, COMMANDS), sandbox, options()).run()
    argvs = [c["argv"] for c in sandbox.plan("exec")["checks"]]
    assert argvs == [["/tmp/wm-venv/bin/mytool", "--version"], ["/tmp/wm-venv/bin/myother", "--version"]]
    by = {r.check: r for r in results}
    assert by["run mytool --version"].status is Status.FAILED
    assert "version `GLIBC_2.36' not found" in by["run mytool --version"].detail
    other = by["run myother --version"]
    assert other.status is Status.PASSED and other.detail.startswith("started; exit 2")


def test_commands_scenario_without_commands(catalog: Catalog) -> None:
    sandbox = FakeSandbox(answers={"install": installed_ok})
    results = CellFlow(make_cell(catalog, COMMANDS), sandbox, options()).run()
    assert [(r.check, r.status, r.detail) for r in results] == [
        ("commands", Status.PASSED, "the candidates ship no command")
    ]


def _rec(rc: int, tail: str = "", signal: str | None = None, timed_out: bool = False) -> dict[str, Any]:
    return {"rc": rc, "tail": tail, "signal": signal, "timed_out": timed_out}


@pytest.mark.parametrize(
    ("rec", "status", "detail"),
    [
        (_rec(0, "mytool 1.2\n"), Status.PASSED, "mytool 1.2"),
        (_rec(0), Status.PASSED, ""),
        (
            _rec(2, "usage: mytool"),
            Status.PASSED,
            "started; exit 2 (it may not take these arguments): usage: mytool",
        ),
        (_rec(127, "sh: mytool: not found"), Status.FAILED, "cannot start (exit 127): sh: mytool: not found"),
        (
            _rec(1, "./x: cannot execute binary file: Exec format error"),
            Status.FAILED,
            "cannot start: cannot execute binary file: Exec format error",
        ),
        (_rec(-4, signal="SIGILL"), Status.CRASHED, "SIGILL"),
        (_rec(0, timed_out=True), Status.TIMED_OUT, "did not finish within 5 s"),
    ],
)
def test_interpret_command_start(rec: dict[str, Any], status: Status, detail: str) -> None:
    assert interpret_command_start(rec, 5.0) == (status, detail)


def test_interpret_command_says_the_exit_status() -> None:
    assert interpret_command(_rec(3, "Traceback:\nValueError: bad"), 5.0) == (
        Status.FAILED,
        "exit 3: ValueError: bad",
    )
    assert interpret_command(_rec(0), 5.0) == (Status.PASSED, "")
