"""The import kind: the installed-set checks, then each candidate module alone and everything
together in fresh interpreters; which interpreters to start and how to read their outcome."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.checks.installed import installed_set_checks, installed_wheel_tags
from wheelmatrix.cell.checks.symbols import import_orders, native_summary, trace_path
from wheelmatrix.cell.install import VENV_PYTHON
from wheelmatrix.model import CheckResult, Status


@dataclass(frozen=True, kw_only=True)
class ImportCheck:
    id: str
    modules: tuple[str, ...]

    @property
    def text(self) -> str:
        return "import " + ", ".join(self.modules)

    @property
    def code(self) -> str:
        return "\n".join(f"import {m}" for m in self.modules)


def plan_import_checks(
    candidates: Sequence[tuple[str, Sequence[str]]],
    companions: Sequence[tuple[str, Sequence[str]]],
) -> list[ImportCheck]:
    """Each candidate module alone; then everything together, candidates first and last.

    `candidates` and `companions` are (project, modules) pairs in the user's order. Without
    companions but with several candidates, the two orders are the given one and its reverse.
    """
    checks: list[ImportCheck] = []
    seen: set[tuple[str, ...]] = set()

    def add(mods: Sequence[str]) -> None:
        key = tuple(dict.fromkeys(mods))
        if key and key not in seen:
            seen.add(key)
            checks.append(ImportCheck(id=f"c{len(checks)}", modules=key))

    for _project, mods in candidates:
        for mod in mods:
            add([mod])
    cand_mods = [m for _p, mods in candidates for m in mods]
    comp_mods = [m for _p, mods in companions for m in mods]
    if comp_mods:
        add(cand_mods + comp_mods)
        add(comp_mods + cand_mods)
    elif len(candidates) > 1:
        add(cand_mods)
        add([m for _p, mods in reversed(candidates) for m in mods])
    return checks


_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Warning|Interrupt)\b.*|[A-Za-z_][\w.]*: .*)$")


def last_exception(output: str) -> str:
    """The exception line of a traceback ('ImportError: ...'), else the last output line."""
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    for line in reversed(lines):
        if not line.startswith((" ", "\t")) and _EXC_LINE.match(line):
            return line
    return lines[-1] if lines else "no output"


def innermost_frame(output: str) -> str | None:
    """The most recent Python frame faulthandler printed ('File "x.py", line 3 in f').

    faulthandler prints the most recent call first; importlib's own frozen frames are passed
    over so that the frame names the package code (e.g. the __init__.py being imported).
    """
    frames = [ln.strip() for ln in output.splitlines() if ln.strip().startswith("File ")]
    own = [f for f in frames if not f.startswith('File "<frozen')]
    chosen = own or frames
    return chosen[0] if chosen else None


def classify(outcome: Mapping[str, Any], timeout_s: float) -> tuple[Status, str]:
    """Turn the probe's raw record of one interpreter run into (status, one-line detail)."""
    output = str(outcome.get("tail") or "")
    if outcome.get("timed_out"):
        frame = innermost_frame(output)
        where = f"; stuck at {frame}" if frame else ""
        return Status.TIMED_OUT, f"did not finish within {timeout_s:g} s{where}"
    rc = outcome.get("rc")
    if rc == 0:
        return Status.PASSED, ""
    if outcome.get("signal"):
        frame = innermost_frame(output)
        fatal = next((ln for ln in output.splitlines() if ln.startswith("Fatal Python error")), "")
        bits = [str(outcome["signal"])]
        if fatal:
            bits.append(fatal)
        if frame:
            bits.append(f"in {frame}")
        return Status.CRASHED, "; ".join(bits)
    return Status.FAILED, last_exception(output)


def run(ctx: CellRun) -> list[CheckResult]:
    return [*installed_set_checks(ctx), *installed_wheel_tags(ctx), *_run_imports(ctx)]


def _run_imports(ctx: CellRun) -> list[CheckResult]:
    """Imports of the candidates and companions that have modules; a candidate without one
    (only commands, libraries or data) has what it ships checked instead (checks/shipped.py),
    a companion without one is only installed."""
    from wheelmatrix.cell.checks.shipped import without_module

    opts = ctx.options
    cands, comps = ctx.installed.module_groups(ctx.cell)
    results = [r for p, m in cands if not m for r in without_module(ctx, p)]
    checks = plan_import_checks(cands, [(p, m) for p, m in comps if m])
    if not checks:
        return results
    # the imports of everything that the symbols scenario would repeat are traced for it
    traced = set()
    if "symbols" in ctx.later:
        traced = {trace_path(o) for o in import_orders(cands, comps)}
    plan = {
        "python": VENV_PYTHON,
        "timeout": opts.timeout_s,
        "checks": [_planned(c, traced) for c in checks],
        "workers": opts.check_workers,
    }
    # with a few at a time, a check that does not pass is run again alone: up to both runs
    passes = len(checks) + (-(-len(checks) // opts.check_workers) if opts.check_workers > 1 else 0)
    budget = (opts.timeout_s + 15) * passes + 60
    records = ctx.sandbox.probe("run", plan, user=ctx.sandbox.check_user, budget=budget)
    by_id = {r["check"]["id"]: r["check"] for r in records if "check" in r}
    for check in checks:
        results.append(_import_result(ctx, check, by_id.get(check.id)))
    return results


def _planned(check: ImportCheck, traced: set[str]) -> dict[str, Any]:
    planned: dict[str, Any] = {"id": check.id, "code": check.code}
    path = trace_path(check.modules)
    if path in traced:
        planned["trace"] = path
    return planned


def _import_result(ctx: CellRun, check: ImportCheck, rec: Mapping[str, Any] | None) -> CheckResult:
    if rec is None:
        return ctx.missing(check.text)
    status, detail = classify(rec, ctx.options.timeout_s)
    evidence: dict[str, Any] = {
        "returncode": rec["rc"],
        "signal": rec["signal"],
        "output_tail": rec["tail"],
        "modules": list(check.modules),
    }
    warned = import_warnings(rec["tail"]) if status is Status.PASSED else []
    if warned:
        evidence["warnings"] = warned
        detail = f"passed with a warning: {warned[0]}"
        if ctx.options.strict_warnings:
            status = Status.FAILED
            detail = f"failed on a warning (--strict-warnings): {warned[0]}"
    detail, diagnosis = ctx.oom(status, rec, detail)
    if status is Status.FAILED and "static TLS block" in rec["tail"] and not ctx.cancel.is_set():
        diagnosis = ctx.static_tls(check.id, check.code)
    if not diagnosis and status is Status.CRASHED and not ctx.cancel.is_set():
        native = ctx.crash_evidence(check.code)
        evidence["native"] = native
        diagnosis = native_summary(native, ctx.site_dirs)
    return ctx.result(check.text, status, detail, rec["duration_s"], evidence, diagnosis)


# Import-time messages that say something broke although the import itself succeeded: Python
# warnings, and ABI-mismatch reports that packages print and then swallow.
_WARNING = re.compile(
    r"^(?:\S+:\d+: )?([A-Za-z_.]*Warning: .+)$"
    r"|^(A module that was compiled using NumPy 1\.x cannot be run in)"
    r"|^(Descriptors cannot be created directly\..*)$",
    re.MULTILINE,
)


def import_warnings(output: str) -> list[str]:
    """Warning lines in a passing check's output (first 5), the NumPy 1.x/2 ABI message first."""
    found: list[str] = []
    for m in _WARNING.finditer(output):
        line = next(g for g in m.groups() if g)
        if "NumPy 1.x" in line:
            line = "A module that was compiled using NumPy 1.x cannot be run in NumPy 2"
            found.insert(0, line)
        elif line not in found:
            found.append(line)
    return found[:5]
