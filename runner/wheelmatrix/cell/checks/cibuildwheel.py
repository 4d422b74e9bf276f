"""The cibuildwheel kind: a project's own `[tool.cibuildwheel]` tests, run in the cell the way
cibuildwheel runs them after a build, on the distro the wheel is for.

`test-requires`, the test-groups and `name[extras]` are installed with the candidates; then, as
the check user: `before-test` (in the project copy), and the joined `test-command` with `sh -c`
from a fresh temporary directory outside the project (the `test-sources` copied into it), with
`{project}`, `{package}` and `{wheel}` filled in and `test-environment` exported first. A pytest
run reports like the pytest kind (its JUnit report comes back through PYTEST_ADDOPTS); any other
command is one check by its exit status. A cell whose identifier a `test-skip` glob matches is
reported skipped, with the glob and where it was written.
"""

from __future__ import annotations

import dataclasses
import posixpath
import shlex
from collections.abc import Mapping
from typing import Any

from wheelmatrix.backends.layout import WHEELS_DIR
from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.checks.execute import exec_check, last_line, project_dir, timeout
from wheelmatrix.cell.checks.imports import classify
from wheelmatrix.cell.checks.pytest import interpret_pytest
from wheelmatrix.config.cibuildwheel import CibwProject, CibwTests, Value, fill, identifier, uses_placeholder
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult, Status

# left out of the project's copy in the cell: version control, caches, virtual environments and
# build output (a project directory may hold gigabytes of them; tests do not read them)
NOT_COPIED = (
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules", "build", "dist", "wheelhouse", ".eggs",
)  # fmt: skip
CHECK = "cibuildwheel test-command"
BEFORE = "cibuildwheel before-test"
JUNIT = "/tmp/wm-cibw-junit.xml"


def cell_identifier(cell: Cell) -> str:
    """The build identifier cibuildwheel gives the wheel this cell installs."""
    return identifier(cell.python, cell.distro.libc.family, cell.arch)


def _project(cell: Cell) -> CibwProject:
    project = cell.scenario.cibuildwheel
    if project is None:  # config builds every cibuildwheel scenario with its project
        raise ValueError(f"scenario '{cell.scenario.name}' has no cibuildwheel project")
    return project


def requirements(cell: Cell) -> list[str]:
    """What the cell installs besides the candidates: test-requires, test-groups, extras."""
    ident = cell_identifier(cell)
    tests = _project(cell).resolve(ident)
    if tests.skipped_by or tests.command is None:
        return []
    return _project(cell).requirements([ident])


def prepare(ctx: CellRun) -> None:
    """before-test, run while the cell still has its network (after the install, before the
    cut), as the install user, as cibuildwheel runs it before the tests: its results wait in
    `ctx.prepared` for `run`."""
    tests = _runnable(ctx)
    if isinstance(tests, CheckResult) or tests.before_test is None:
        return
    places = _placeholders(ctx, _project(ctx.cell))
    script = _exports(tests) + fill(tests.before_test.text, {k: places[k] for k in ("project", "package")})
    rec = exec_check(ctx, BEFORE, ["sh", "-c", script], cwd=places["project"], user=ctx.sandbox.install_user)
    if rec is None:
        ctx.prepared[ctx.cell.scenario.name] = [ctx.missing(BEFORE)]
        return
    status, detail = classify(rec, timeout(ctx))
    if status is Status.FAILED:
        detail = f"exit {rec['rc']}: {last_line(rec['tail'])}"
    evidence = _evidence(rec, tests.before_test, cell_identifier(ctx.cell))
    ctx.prepared[ctx.cell.scenario.name] = [ctx.result(BEFORE, status, detail, rec["duration_s"], evidence)]


def _runnable(ctx: CellRun) -> CibwTests | CheckResult:
    """The cell's resolved settings, or the skipped result that says why nothing runs."""
    ident = cell_identifier(ctx.cell)
    tests = _project(ctx.cell).resolve(ident)
    if tests.command is None:
        detail = f"no test-command applies to {ident}"
        return ctx.result(CHECK, Status.SKIPPED, detail, 0.0, {"identifier": ident})
    if tests.skipped_by:
        detail = f"test-skip '{tests.skipped_by}' matches {ident} ({tests.skip_where})"
        evidence = {"identifier": ident, "rule": tests.skipped_by, "where": tests.skip_where}
        return ctx.result(CHECK, Status.SKIPPED, detail, 0.0, evidence)
    if uses_placeholder(tests.command.text, "wheel") and not _wheel_files(ctx.cell):
        detail = (
            f"the test-command uses {{wheel}} ({tests.command.where}), and the candidate came from an index"
        )
        return ctx.result(CHECK, Status.SKIPPED, detail, 0.0, {"identifier": ident})
    return tests


def run(ctx: CellRun) -> list[CheckResult]:
    tests = _runnable(ctx)
    if isinstance(tests, CheckResult):
        return [tests]
    before = ctx.prepared.pop(ctx.cell.scenario.name, [])
    if any(r.status is not Status.PASSED for r in before):
        return before  # cibuildwheel stops there too
    places = _placeholders(ctx, _project(ctx.cell))
    rec = exec_check(ctx, CHECK, ["sh", "-c", command_script(tests, places)], junit=JUNIT, cwd="/tmp")
    if rec is None:
        return [*before, ctx.missing(CHECK)]
    return before + interpret_test_command(rec, tests, cell_identifier(ctx.cell), timeout(ctx), ctx)


def interpret_test_command(
    rec: Mapping[str, Any], tests: CibwTests, ident: str, timeout_s: float, ctx: CellRun
) -> list[CheckResult]:
    """pytest's counts and failing node ids when the command ran pytest, else one check by the
    command's exit status."""
    if rec.get("tests") is not None:
        results = interpret_pytest(rec, timeout_s, ctx.result)
        extra = _evidence(rec, tests.command, ident)
        out = []
        for r in results:
            if r.check == "pytest":  # the summary: named as this kind's check, with its evidence
                r = dataclasses.replace(r, check=CHECK, evidence={**extra, **r.evidence})
            out.append(r)
        return out
    status, detail = classify(rec, timeout_s)
    if status is Status.FAILED:
        detail = f"exit {rec['rc']}: {last_line(rec['tail'])}"
    detail, oom = ctx.oom(status, rec, detail)
    evidence = _evidence(rec, tests.command, ident)
    return [ctx.result(CHECK, status, detail, rec["duration_s"], evidence, oom)]


def _evidence(rec: Mapping[str, Any], setting: Value | None, ident: str) -> dict[str, Any]:
    return {
        "returncode": rec["rc"],
        "signal": rec["signal"],
        "output_tail": rec["tail"],
        "identifier": ident,
        "command": setting.text if setting else "",
        "from": setting.where if setting else "",
    }


def _wheel_files(cell: Cell) -> list[str]:
    return [p.wheel.filename for p in cell.candidates if p.wheel is not None]


def _placeholders(ctx: CellRun, project: CibwProject) -> dict[str, str]:
    root = project_dir(ctx)
    places = {"project": root, "package": posixpath.normpath(posixpath.join(root, project.package))}
    wheels = _wheel_files(ctx.cell)
    if wheels:
        places["wheel"] = f"{WHEELS_DIR}/{wheels[0]}"
    return places


def _exports(tests: CibwTests) -> str:
    """One assignment per line, then its export: each value may use the ones before it ($A in
    B="$A x"), is never split into words, and a failing $(...) in it stops the script."""
    lines = []
    for word in tests.environment:
        name = word.split("=", 1)[0]
        lines.append(f"{word} || exit 125\nexport {name}\n")
    return "".join(lines)


def command_script(tests: CibwTests, places: Mapping[str, str]) -> str:
    """The shell script of the test-command: a fresh directory outside the project with the
    test-sources copied in, the environment, then the command."""
    assert tests.command is not None
    lines = [f"rm -f {JUNIT}", 'd="$(mktemp -d /tmp/wm-cibw-test.XXXXXX)" || exit 125']
    for source in tests.sources:
        src = shlex.quote(posixpath.join(places["project"], source))
        dest = '"$d"/' + shlex.quote(posixpath.normpath(source))
        lines.append(f'mkdir -p "$(dirname {dest})" && cp -R {src} {dest} || exit 125')
    lines.append('cd "$d" || exit 125')
    lines.append(_exports(tests).rstrip("\n"))
    lines.append(f'export PYTEST_ADDOPTS="${{PYTEST_ADDOPTS:+$PYTEST_ADDOPTS }}--junitxml={JUNIT}"')
    lines.append(fill(tests.command.text, places))
    return "\n".join(line for line in lines if line)
