"""Comparing runs (wheelmatrix/compare.py): categories, version changes, rendering, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wheelmatrix.errors import InputError
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters.base import ReportContext
from wheelmatrix.reporters.jsonfile import JSON
from wheelmatrix.run.compare import Comparison, compare, exit_code, fail_on_exit, render_markdown, render_text
from wheelmatrix.run.rundir import load_results

MYPKG = "mypkg-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
OLD_ENV = {
    "installed": ("numpy==2.2.6", "mypkg==1.0", "oldpkg==2.0", "packaging==24.1"),
    "wheel_sha256": {MYPKG: "a" * 64},
    "image": "sha256:" + "1" * 64,
    "tool_version": "0.1.0",
}
NEW_ENV = {
    "installed": ("numpy==2.3.0", "mypkg==1.0", "NewPkg==1.0", "packaging==24.1"),
    "wheel_sha256": {MYPKG: "b" * 64},
    "image": "sha256:" + "1" * 64,
    "tool_version": "0.1.0",
}


def r(
    check: str,
    status: Status,
    env: dict[str, Any],
    *,
    distro: str = "debian-12",
    python: str = "3.12",
    detail: str = "",
    **extra: Any,
) -> CheckResult:
    return CheckResult(
        distro=distro,
        arch="x86_64",
        python=python,
        scenario="import",
        check=check,
        status=status,
        detail=detail,
        installer="uv",
        wheels=(MYPKG,),
        engine="docker 26.1.5",
        **env,
        **extra,
    )


ABI = "ImportError: numpy.core.multiarray failed to import (built against numpy 2.2 ABI)"
OLD = [
    r("install", Status.PASSED, OLD_ENV),
    r("import mypkg", Status.PASSED, OLD_ENV),  # -> regression
    r("import mypkg.fast", Status.CRASHED, OLD_ENV, detail="SIGSEGV"),  # -> fixed
    r("import mypkg.io", Status.FAILED, OLD_ENV, detail="ImportError: libz.so.1"),  # -> still failing
    r("import mypkg.gpu", Status.NOT_INSTALLABLE, OLD_ENV, detail="no wheel fits"),  # -> regression
    r("import mypkg.net", Status.ERROR, OLD_ENV, detail="container died"),  # -> no baseline
    r("import mypkg.cli", Status.PASSED, OLD_ENV),  # -> new error
    r("import mypkg.old", Status.PASSED, OLD_ENV),  # -> gone
    r("import mypkg.opt", Status.PASSED, OLD_ENV),  # -> not installable: changed
    r("install", Status.PASSED, OLD_ENV, python="3.11"),  # whole cell gone
]
NEW = [
    r("install", Status.PASSED, NEW_ENV),
    r("import mypkg", Status.FAILED, NEW_ENV, detail=ABI, diagnosis="built against numpy 2.2 ABI"),
    r("import mypkg.fast", Status.PASSED, NEW_ENV),
    r("import mypkg.io", Status.TIMED_OUT, NEW_ENV, detail="did not finish within 60 s"),
    r("import mypkg.gpu", Status.FAILED, NEW_ENV, detail="ImportError: libcuda.so.1"),
    r("import mypkg.net", Status.FAILED, NEW_ENV, detail="OSError"),
    r("import mypkg.cli", Status.ERROR, NEW_ENV, detail="pulling the image failed"),
    r("import mypkg.opt", Status.NOT_INSTALLABLE, NEW_ENV, detail="extra needs numpy<2"),
    r("import mypkg.new", Status.PASSED, NEW_ENV),  # added to an existing cell
    r("install", Status.PASSED, NEW_ENV, distro="debian-13"),  # whole cell added
    r("import mypkg", Status.CRASHED, NEW_ENV, distro="debian-13", detail="SIGSEGV"),
]
CELL = "debian-12/x86_64/py3.12/import"


def checks(items: Any) -> list[str]:
    return [i.check_id for i in items]


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    return compare(OLD, NEW)


def test_categories(comparison: Comparison) -> None:
    c = comparison
    assert checks(c.regressions) == [f"{CELL}::import mypkg", f"{CELL}::import mypkg.gpu"]
    assert checks(c.fixes) == [f"{CELL}::import mypkg.fast"]
    assert checks(c.still_failing) == [f"{CELL}::import mypkg.io"]
    assert checks(c.no_baseline) == [f"{CELL}::import mypkg.net"]
    assert checks(c.new_errors) == [f"{CELL}::import mypkg.cli"]
    assert checks(c.changed) == [f"{CELL}::import mypkg.opt"]
    assert checks(c.added) == [
        f"{CELL}::import mypkg.new",
        "debian-13/x86_64/py3.12/import::install",
        "debian-13/x86_64/py3.12/import::import mypkg",
    ]
    assert [i.whole_cell for i in c.added] == [False, True, True]
    assert checks(c.gone) == [f"{CELL}::import mypkg.old", "debian-12/x86_64/py3.11/import::install"]
    assert [i.whole_cell for i in c.gone] == [False, True]
    assert c.unchanged == 1  # install
    assert (c.old_checks, c.new_checks) == (10, 11)
    assert c.cells == {"old": 2, "new": 2, "added": 1, "gone": 1}


def test_regression_carries_statuses_details_and_version_changes(comparison: Comparison) -> None:
    reg = comparison.regressions[0]
    assert (reg.old, reg.new) == (Status.PASSED, Status.FAILED)
    assert reg.new_detail == ABI and reg.diagnosis == "built against numpy 2.2 ABI"
    assert reg.changes == (
        "+newpkg 1.0",
        "numpy 2.2.6 -> 2.3.0",
        "-oldpkg 2.0",
        f"{MYPKG}: content changed",
    )
    fix = comparison.fixes[0]
    assert (fix.old, fix.new, fix.old_detail) == (Status.CRASHED, Status.PASSED, "SIGSEGV")
    assert "numpy 2.2.6 -> 2.3.0" in fix.changes
    assert comparison.still_failing[0].changes == ()  # only regressions and fixes carry them


def test_image_and_tool_changes_are_listed() -> None:
    env = {
        **NEW_ENV,
        "image": "sha256:" + "2" * 64,
        "tool_version": "0.2.0",
        "installed": OLD_ENV["installed"],
    }
    c = compare([r("import x", Status.PASSED, OLD_ENV)], [r("import x", Status.FAILED, env)])
    assert c.regressions[0].changes == (
        f"{MYPKG}: content changed",
        "image sha256:111111111111 -> sha256:222222222222",
        "wheelmatrix 0.1.0 -> 0.2.0",
    )


def test_versions_come_from_the_cell_when_the_check_has_none() -> None:
    """A check that failed before the venv was listed carries no `installed`; its cell does."""
    bare = {**NEW_ENV, "installed": ()}
    new = [r("install", Status.PASSED, NEW_ENV), r("import x", Status.FAILED, bare)]
    old = [r("install", Status.PASSED, OLD_ENV), r("import x", Status.PASSED, OLD_ENV)]
    assert "numpy 2.2.6 -> 2.3.0" in compare(old, new).regressions[0].changes


def test_to_json(comparison: Comparison) -> None:
    doc = json.loads(json.dumps(comparison.to_json()))
    assert doc["summary"]["regressions"] == 2 and doc["summary"]["unchanged"] == 1
    assert doc["summary"]["cells"]["added"] == 1
    first = doc["regressions"][0]
    assert first["old"] == "passed" and first["new"] == "failed"
    assert "numpy 2.2.6 -> 2.3.0" in first["changes"]
    assert set(doc) == {"summary", *comparison.categories}


def test_compare_stored_runs(tmp_path: Path) -> None:
    """A schema-1 style report against a current one, read back from disk."""
    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    JSON.write(OLD, ReportContext(), old_path)
    JSON.write(NEW, ReportContext(), new_path)
    c = compare(load_results(old_path).results, load_results(new_path).results)
    assert checks(c.regressions) == checks(compare(OLD, NEW).regressions)


def test_render_text(comparison: Comparison) -> None:
    text = render_text(comparison)
    lines = text.splitlines()
    assert all(len(ln) <= 100 for ln in lines), max(lines, key=len)
    assert lines[0].startswith("10 checks before, 11 now: 2 regressions, 1 fix, 1 still failing")
    assert lines[1].startswith("  ") and lines[1].endswith("2 gone, 1 other change")  # wrapped
    start = lines.index("REGRESSIONS (failing now, passed before): 2")
    assert lines[start + 1].startswith(f"  {CELL}  +newpkg 1.0, numpy 2.2.6 -> 2.3.0")
    assert lines[start + 2] == "    import mypkg: passed -> failed: built against numpy 2.2 ABI"
    assert lines[start + 3] == "    import mypkg.gpu: not-installable -> failed: ImportError: libcuda.so.1"
    assert "    import mypkg.fast: crashed -> passed: was: SIGSEGV" in lines
    assert "  debian-13/x86_64/py3.12/import (whole cell): 2 checks (1 passed, 1 crashed)" in lines
    assert "    import mypkg: crashed: SIGSEGV" in lines  # the failing check of the new cell
    assert "INFRASTRUCTURE ERRORS in the new run: 1" in lines
    assert "    import mypkg.opt: passed -> not-installable: extra needs numpy<2" in lines


def test_render_text_cuts_long_lines_and_lists() -> None:
    many = {**NEW_ENV, "installed": tuple(f"package-number-{i}==2.0" for i in range(40))}
    few = {**OLD_ENV, "installed": tuple(f"package-number-{i}==1.0" for i in range(40))}
    c = compare([r("import x", Status.PASSED, few)], [r("import x", Status.FAILED, many, detail="E" * 300)])
    lines = render_text(c).splitlines()
    assert all(len(ln) <= 100 for ln in lines)
    head = next(ln for ln in lines if ln.startswith(f"  {CELL}"))
    assert head.endswith(" more") and "package-number-0 1.0 -> 2.0" in head
    assert any(ln.startswith("    import x: passed -> failed: EEE") and ln.endswith("…") for ln in lines)


def test_render_without_differences() -> None:
    c = compare(OLD[:2], OLD[:2])
    assert "no differences" in render_text(c)
    assert "No differences." in render_markdown(c)


def test_render_markdown(comparison: Comparison) -> None:
    md = render_markdown(comparison)
    assert "### Regressions (failing now, passed before): 2" in md
    assert f"| `{CELL}` | `import mypkg` | passed | failed | built against numpy 2.2 ABI |" in md
    assert "numpy 2.2.6 -> 2.3.0<br>" in md
    assert "extra needs numpy&lt;2" in md
    piped = compare([r("c", Status.PASSED, OLD_ENV)], [r("c", Status.FAILED, NEW_ENV, detail="a | b")])
    assert "a \\| b" in render_markdown(piped)


# --------------------------------------------------------------------------- exit codes

PASSING = [r("install", Status.PASSED, NEW_ENV)]
ONLY_OLD_FAILURE = compare(
    [r("import x", Status.FAILED, OLD_ENV)], [r("import x", Status.FAILED, NEW_ENV)]
)  # still failing, no regression


@pytest.mark.parametrize(
    "results, fail_on, with_comparison, code",
    [
        (NEW, "regression", True, 1),
        (NEW, "failure", True, 1),
        (NEW, "never", True, 0),
        (PASSING, "regression", False, 0),
        (PASSING, "failure", False, 0),
        (NEW, "regression", False, 1),  # no baseline: every failure is new
        (NEW, "failure", False, 1),
        (NEW, "never", False, 0),
        ([r("x", Status.ERROR, NEW_ENV)], "failure", False, 3),  # plain runs keep 3
        ([r("x", Status.ERROR, NEW_ENV)], "regression", False, 3),
        ([r("x", Status.ERROR, NEW_ENV)], "never", False, 0),
    ],
)
def test_fail_on_exit(results: list[CheckResult], fail_on: str, with_comparison: bool, code: int) -> None:
    comparison = compare(OLD, results) if with_comparison else None
    assert fail_on_exit(results, fail_on, comparison) == code


def test_fail_on_regression_ignores_old_failures() -> None:
    new = [r("import x", Status.FAILED, NEW_ENV)]
    assert fail_on_exit(new, "regression", ONLY_OLD_FAILURE) == 0
    assert fail_on_exit(new, "failure", ONLY_OLD_FAILURE) == 1
    errors = [*new, r("import y", Status.ERROR, NEW_ENV)]
    assert fail_on_exit(errors, "regression", compare([], errors)) == 3


def test_exit_code_of_a_comparison_or_results(comparison: Comparison) -> None:
    assert exit_code(comparison, "regression") == 1
    assert exit_code(ONLY_OLD_FAILURE, "regression") == 0
    assert exit_code(ONLY_OLD_FAILURE, "failure") == 1
    assert exit_code(ONLY_OLD_FAILURE, "never") == 0
    errors_only = compare([], [r("x", Status.ERROR, NEW_ENV)])
    assert exit_code(errors_only, "regression") == 3
    assert exit_code(PASSING, "failure") == 0 and exit_code(NEW, "failure") == 1


def test_unknown_fail_on() -> None:
    with pytest.raises(InputError, match="did you mean 'regression'"):
        fail_on_exit(NEW, "regresion")
