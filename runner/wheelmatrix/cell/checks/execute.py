"""Running a scenario's argv in the cell (the command, commands and pytest kinds): environment,
working directory, `{project}` and `python` in argv, and the per-scenario timeout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.install import VENV, VENV_PYTHON

PROJECT_DIR = "/tmp/wm-project"  # where a pytest scenario's sources are copied ({project})


def exec_env(ctx: CellRun) -> dict[str, str]:
    return {
        "PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin",
        "VIRTUAL_ENV": VENV,
        **dict(ctx.cell.scenario.env),
    }


def project_dir(ctx: CellRun) -> str:
    sources = ctx.cell.scenario.sources
    return ctx.project_dirs.get(sources, PROJECT_DIR) if sources is not None else PROJECT_DIR


def timeout(ctx: CellRun) -> float:
    return ctx.cell.scenario.timeout_s or ctx.options.timeout_s


def scenario_argv(ctx: CellRun, argv: Sequence[str]) -> list[str]:
    """argv with {project} replaced by the sources' copy in the cell and python by the venv's."""
    out = [a.replace("{project}", project_dir(ctx)) for a in argv]
    if out and out[0] in ("python", "python3"):
        out[0] = VENV_PYTHON
    return out


def exec_check(
    ctx: CellRun,
    check_id: str,
    argv: Sequence[str],
    junit: str | None = None,
    cwd: str | None = None,
    user: str | None = None,
) -> dict[str, Any] | None:
    """Run one argv as the check user (in `cwd`: by default the sources' copy, else /tmp); the
    probe's record of it, or None when there is none."""
    if cwd is None:
        cwd = project_dir(ctx) if ctx.cell.scenario.sources is not None else "/tmp"
    plan = {
        "timeout": timeout(ctx),
        "env": exec_env(ctx),
        "checks": [{"id": check_id, "argv": list(argv), "cwd": cwd, "junit": junit}],
    }
    records = ctx.sandbox.probe("exec", plan, user=user or ctx.sandbox.check_user, budget=timeout(ctx) + 60)
    return next((r["check"] for r in records if "check" in r and r["check"].get("id") == check_id), None)


def last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
