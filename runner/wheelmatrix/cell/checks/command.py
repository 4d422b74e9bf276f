"""The command kind: run the scenario's argv once the candidates are installed; exit 0 passes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.checks.execute import exec_check, scenario_argv, timeout
from wheelmatrix.cell.checks.imports import classify
from wheelmatrix.model import CheckResult, Status


def run(ctx: CellRun) -> list[CheckResult]:
    argv = scenario_argv(ctx, ctx.cell.scenario.argv)
    text = "run " + " ".join(ctx.cell.scenario.argv)
    rec = exec_check(ctx, "command", argv)
    if rec is None:
        return [ctx.missing(text)]
    status, detail = interpret_command(rec, timeout(ctx))
    detail, oom = ctx.oom(status, rec, detail)
    evidence = {
        "returncode": rec["rc"],
        "signal": rec["signal"],
        "output_tail": rec["tail"],
        "argv": argv,
    }
    return [ctx.result(text, status, detail, rec["duration_s"], evidence, oom)]


def interpret_command(rec: Mapping[str, Any], timeout_s: float) -> tuple[Status, str]:
    """(status, detail) of the command's run: as an interpreter run, with the exit status said."""
    status, detail = classify(rec, timeout_s)
    if status is Status.FAILED:
        detail = f"exit {rec['rc']}: {detail}"
    return status, detail
