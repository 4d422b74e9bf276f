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
from wheelmatrix.config.cibuildwheel import CibwProject, CibwTests, Value, identifier
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
    tests = _project(cell).resolve(cell_identifier(cell))
    if tests.skipped_by or tests.command is None:
        return []
    return _project(cell).requirements([cell_identifier(cell)])


def run(ctx: CellRun) -> list[CheckResult]:
    project = _project(ctx.cell)
    ident = cell_identifier(ctx.cell)
    tests = project.resolve(ident)
    if tests.command is None:
        return [
            ctx.result(
                CHECK, Status.SKIPPED, f"no test-command applies to {ident}", 0.0, {"identifier": ident}
            )
        ]
    if tests.skipped_by:
        detail = f"test-skip '{tests.skipped_by}' matches {ident} ({tests.skip_where})"
        evidence = {"identifier": ident, "rule": tests.skipped_by, "where": tests.skip_where}
        return [ctx.result(CHECK, Status.SKIPPED, detail, 0.0, evidence)]
    places = _placeholders(ctx, project)
    if "{wheel}" in tests.command.text and "wheel" not in places:
        detail = (
            f"the test-command uses {{wheel}} ({tests.command.where}), and the candidate came from an index"
        )
        return [ctx.result(CHECK, Status.SKIPPED, detail, 0.0, {"identifier": ident})]
    out: list[CheckResult] = []
    if tests.before_test is not None:
        script = _exports(tests) + _fill(tests.before_test.text, places)
        rec = exec_check(ctx, BEFORE, ["sh", "-c", script], cwd=places["project"])
        if rec is None:
            return [ctx.missing(BEFORE)]
        status, detail = classify(rec, timeout(ctx))
        evidence = _evidence(rec, tests.before_test, ident)
        if status is not Status.PASSED:
            detail = f"exit {rec['rc']}: {last_line(rec['tail'])}" if status is Status.FAILED else detail
            return [ctx.result(BEFORE, status, detail, rec["duration_s"], evidence)]
        out.append(ctx.result(BEFORE, status, "", rec["duration_s"], evidence))
    script = command_script(tests, places)
    rec = exec_check(ctx, CHECK, ["sh", "-c", script], junit=JUNIT, cwd="/tmp")
    if rec is None:
        return [*out, ctx.missing(CHECK)]
    return out + interpret_test_command(rec, tests, ident, timeout(ctx), ctx)


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


def _placeholders(ctx: CellRun, project: CibwProject) -> dict[str, str]:
    root = project_dir(ctx)
    places = {"project": root, "package": posixpath.normpath(posixpath.join(root, project.package))}
    wheels = [p.wheel.filename for p in ctx.cell.candidates if p.wheel is not None]
    if wheels:
        places["wheel"] = f"{WHEELS_DIR}/{wheels[0]}"
    return places


def _fill(text: str, places: Mapping[str, str]) -> str:
    """{project}, {package}, {wheel} replaced (config refused any other placeholder)."""
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


def _exports(tests: CibwTests) -> str:
    # one export per line: each value may use the ones before it ($A in B="$A x")
    return "".join(f"export {word}\n" for word in tests.environment)


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
    lines.append(_fill(tests.command.text, places))
    return "\n".join(line for line in lines if line)
