"""The pytest kind: install pytest and `requires`, run pytest on the sources copied into the cell
({project}); one summary check plus one check per failing test."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.checks.execute import exec_check, last_line, scenario_argv, timeout
from wheelmatrix.cell.checks.imports import classify
from wheelmatrix.cell.install import VENV_PYTHON
from wheelmatrix.cell.plan import MakeResult
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.model import CheckResult, Status

PYTEST_JUNIT = "/tmp/wm-pytest.xml"


def requirements(scenario: Scenario) -> list[str]:
    """pytest (unless `requires` names it) and the scenario's `requires`."""
    wanted = list(scenario.requires)
    if not any(r.split("[")[0].strip().lower().startswith("pytest") for r in wanted):
        wanted.insert(0, "pytest")
    return wanted


def run(ctx: CellRun) -> list[CheckResult]:
    args = ctx.cell.scenario.argv or ("{project}",)
    argv = [VENV_PYTHON, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={PYTEST_JUNIT}", "-q"]
    argv += scenario_argv(ctx, args)
    rec = exec_check(ctx, "pytest", argv, junit=PYTEST_JUNIT)
    if rec is None:
        return [ctx.missing("pytest")]
    return interpret_pytest(rec, timeout(ctx), ctx.result)


def interpret_pytest(rec: Mapping[str, Any], timeout_s: float, make: MakeResult) -> list[CheckResult]:
    """One summary check `pytest`, plus one check per failing test named by its node id."""
    tests = rec.get("tests")
    evidence: dict[str, Any] = {"returncode": rec["rc"], "signal": rec["signal"], "output_tail": rec["tail"]}
    if rec.get("timed_out") or rec.get("signal"):
        status, detail = classify(rec, timeout_s)
        return [make("pytest", status, detail, rec["duration_s"], evidence)]
    if tests is None:
        # pytest never wrote its report: it could not start (usage error, import error in conftest)
        status = Status.PASSED if rec["rc"] == 0 else Status.FAILED
        detail = "" if rec["rc"] == 0 else f"pytest exit {rec['rc']}: {last_line(rec['tail'])}"
        return [make("pytest", status, detail, rec["duration_s"], evidence)]
    failing = [t for t in tests if t["outcome"] in ("failed", "error")]
    counts = {k: sum(1 for t in tests if t["outcome"] == k) for k in ("passed", "failed", "error", "skipped")}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    evidence["tests"] = counts
    said = pytest_summary(rec["tail"])
    if said:  # pytest's own line: a skipped module is one JUnit case but counts each test in it
        summary, evidence["summary"] = ", ".join(f"{n} {k}" for k, n in said.items()), said
    out: list[CheckResult] = []
    if rec["rc"] == 0:
        out.append(make("pytest", Status.PASSED, summary, rec["duration_s"], evidence))
    elif rec["rc"] == 5 and not tests:
        out.append(make("pytest", Status.FAILED, "pytest collected no test", rec["duration_s"], evidence))
    else:
        first = node_id(failing[0]) if failing else f"exit {rec['rc']}"
        out.append(make("pytest", Status.FAILED, f"{summary}; first: {first}", rec["duration_s"], evidence))
    for t in failing:
        out.append(
            make(
                f"pytest {node_id(t)}",
                Status.FAILED,
                t["message"] or t["outcome"],
                0.0,
                {"outcome": t["outcome"]},
            )
        )
    return out


_SUMMARY = re.compile(r"^=+ (\d+ [a-z]+(?:, \d+ [a-z]+)*) in [\d.]+s(?: \([^)]*\))? =+$")


def pytest_summary(tail: str) -> dict[str, int]:
    """The counts of pytest's last summary line ("57 passed, 2 skipped in 5.36s"), {} if none."""
    for line in reversed(tail.splitlines()[-5:]):
        match = _SUMMARY.match(line.strip())
        if match:
            pairs = (item.split(" ", 1) for item in match.group(1).split(", "))
            return {word: int(number) for number, word in pairs}
    return {}


def node_id(case: Mapping[str, str]) -> str:
    """pytest's node id from a JUnit test case (classname 'tests.test_x.TestY', name 'test_z')."""
    classname, name = case.get("classname", ""), case.get("name", "")
    parts = classname.split(".")
    # The module is the longest dotted prefix; pytest's junit has no file attribute by default.
    for i in range(len(parts), 0, -1):
        if parts[i - 1].startswith("test") or i == 1:
            module = "/".join(parts[:i]) + ".py"
            rest = parts[i:]
            return "::".join([module, *rest, name])
    return name
