"""The commands kind: every console script and bundled executable of the candidates, run with
`--version` (or the scenario's argv): does it start on this distro?"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.checks.execute import exec_env, last_line, timeout
from wheelmatrix.cell.checks.imports import classify
from wheelmatrix.model import CheckResult, Status


def run(ctx: CellRun) -> list[CheckResult]:
    """Each console script and bundled executable of the candidates, with `--version`."""
    paths = [p for pick in ctx.cell.candidates for p in ctx.installed.commands.get(pick.project, [])]
    if not paths:
        return [ctx.result("commands", Status.PASSED, "the candidates ship no command")]
    return start_commands(ctx, paths, list(ctx.cell.scenario.argv or ("--version",)))


def start_commands(
    ctx: CellRun, paths: Sequence[str], args: Sequence[str], note: str = "", project: str = ""
) -> list[CheckResult]:
    """Start each of `paths` (in the cell) with `args`: one `run NAME ARGS` result each; `note`
    is added to every result's evidence (`instead_of_import`) and detail, to say why it ran,
    `project` (whose commands they are) to the evidence."""
    args = list(args)
    plan = {
        "timeout": timeout(ctx),
        "env": exec_env(ctx),
        "checks": [{"id": f"k{i}", "argv": [p, *args], "cwd": "/tmp"} for i, p in enumerate(paths)],
    }
    budget = (timeout(ctx) + 15) * len(paths) + 60
    records = ctx.sandbox.probe("exec", plan, user=ctx.sandbox.check_user, budget=budget)
    by_id = {r["check"]["id"]: r["check"] for r in records if "check" in r}
    out = []
    for i, path in enumerate(paths):
        text = f"run {posixpath.basename(path)} {' '.join(args)}".strip()
        rec = by_id.get(f"k{i}")
        if rec is None:
            out.append(ctx.missing(text))
            continue
        status, detail = interpret_command_start(rec, timeout(ctx))
        evidence = {
            "returncode": rec["rc"],
            "signal": rec["signal"],
            "output_tail": rec["tail"],
            "path": path,
        }
        if project:
            evidence["project"] = project
        if note:
            evidence["instead_of_import"] = note
            detail = f"{detail} ({note})" if detail else note
        out.append(ctx.result(text, status, detail, rec["duration_s"], evidence))
    return out


_CANNOT_START = re.compile(
    r"error while loading shared libraries.*|version `[^']+' not found.*|cannot execute binary file.*"
    r"|Exec format error.*|Error relocating .*|Error loading shared library .*|symbol lookup error.*"
)


def interpret_command_start(rec: Mapping[str, Any], timeout_s: float) -> tuple[Status, str]:
    """Did the command start? A loader error, 126/127, a signal or a hang fail it; any other
    exit status passes (the program ran; it may not know `--version`)."""
    if rec.get("timed_out") or rec.get("signal"):
        return classify(rec, timeout_s)
    output = str(rec.get("tail") or "")
    m = _CANNOT_START.search(output)
    if m is not None:
        return Status.FAILED, f"cannot start: {m.group(0).strip()[:300]}"
    rc = rec.get("rc")
    if rc in (126, 127):
        return Status.FAILED, f"cannot start (exit {rc}): {last_line(output)}"
    if rc == 0:
        return Status.PASSED, last_line(output)[:200] if output.strip() else ""
    return Status.PASSED, f"started; exit {rc} (it may not take these arguments): {last_line(output)[:200]}"
