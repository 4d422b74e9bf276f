"""The import kind for a candidate with no importable module: a wheel of only commands
(`.data/scripts`, `pkg/bin/`), native libraries loaded through ctypes, data, headers or stubs.

Nothing can be imported, so what it ships is checked instead, each in a fresh process: every
native library is loaded with `ctypes.CDLL` (`load NAME`), every command is started with
`--version` (`run NAME --version`); a wheel with neither gets one passing `contents of PROJECT`
result that says there was nothing to load or run. Each result says it stands in for an import.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from wheelmatrix.cell.checks.commands import start_commands
from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.checks.imports import classify
from wheelmatrix.cell.install import VENV_PYTHON
from wheelmatrix.model import CheckResult, Status

MAX_LOADS = 24  # libraries loaded per candidate; the rest are named in the last result
NOTE = "the wheel has no importable module"


def without_module(ctx: CellRun, project: str) -> list[CheckResult]:
    """Load the libraries and start the commands of `project`, installed with no module."""
    commands = ctx.installed.commands.get(project, [])
    libraries = [
        f
        for f in ctx.installed.files.get(project, [])
        if f not in commands and ".so" in posixpath.basename(f)
    ]
    out = _load(ctx, libraries) if libraries else []
    if commands:
        out += start_commands(ctx, commands, ("--version",), note=f"{NOTE}: its commands are started instead")
    if not out:
        out.append(
            ctx.result(
                f"contents of {project}",
                Status.PASSED,
                f"installed; nothing to import, load or run ({NOTE}, native library or command: "
                "only data, headers or type stubs)",
                evidence={"instead_of_import": NOTE},
            )
        )
    return out


def load_code(path: str) -> str:
    """Python that loads one shared library the way a ctypes user does."""
    return f"import ctypes\nctypes.CDLL({path!r})"


def _load(ctx: CellRun, libraries: Sequence[str]) -> list[CheckResult]:
    chosen, rest = list(libraries[:MAX_LOADS]), list(libraries[MAX_LOADS:])
    plan = {
        "python": VENV_PYTHON,
        "timeout": ctx.options.timeout_s,
        "checks": [{"id": f"l{i}", "code": load_code(p)} for i, p in enumerate(chosen)],
    }
    budget = (ctx.options.timeout_s + 15) * len(chosen) + 60
    records = ctx.sandbox.probe("run", plan, user=ctx.sandbox.check_user, budget=budget)
    by_id = {r["check"]["id"]: r["check"] for r in records if "check" in r}
    out = []
    for i, path in enumerate(chosen):
        text = f"load {posixpath.basename(path)}"
        rec = by_id.get(f"l{i}")
        if rec is None:
            out.append(ctx.missing(text))
            continue
        status, detail = classify(rec, ctx.options.timeout_s)
        note = f"{NOTE}: its native libraries are loaded with ctypes instead"
        if i == len(chosen) - 1 and rest:
            note += f"; {len(rest)} more not loaded: {', '.join(posixpath.basename(p) for p in rest[:5])}"
        evidence = {
            "returncode": rec["rc"],
            "signal": rec["signal"],
            "output_tail": rec["tail"],
            "path": path,
            "instead_of_import": note,
        }
        detail = f"{detail} ({note})" if detail else note
        diagnosis = ""
        if status is Status.CRASHED and not ctx.cancel.is_set():
            diagnosis = f"loading {path} alone crashed the process: its initialisers (constructors) fault"
        out.append(ctx.result(text, status, detail, rec["duration_s"], evidence, diagnosis))
    return out
