"""The import kind (wheelmatrix/cell/checks/imports.py): which interpreters run, how outcomes read,
import-time warnings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from tests.fixtures.sandbox import IMPORT, FakeSandbox, installed_ok, make_cell, options, run_rec
from wheelmatrix.cell.checks.imports import ImportCheck, classify, plan_import_checks
from wheelmatrix.cell.flow import CellFlow
from wheelmatrix.config.catalog import Catalog
from wheelmatrix.model import Status

Mods = Sequence[tuple[str, Sequence[str]]]


def plan(candidates: Mods, companions: Mods = ()) -> list[tuple[str, ...]]:
    checks = plan_import_checks(candidates, companions)
    assert [c.id for c in checks] == [f"c{i}" for i in range(len(checks))]
    assert len({c.modules for c in checks}) == len(checks), "no check may run twice"
    return [c.modules for c in checks]


# --------------------------------------------------------------------------- plan_import_checks


def test_one_candidate_one_module_is_one_check() -> None:
    assert plan([("wmpure", ["wmpure"])]) == [("wmpure",)]


def test_each_module_of_a_candidate_alone() -> None:
    assert plan([("wmdemo", ["a", "b"])]) == [("a",), ("b",)]


def test_two_candidates_without_companions_given_order_and_reverse() -> None:
    assert plan([("wmcolla", ["wmcolla"]), ("wmcollb", ["wmcollb"])]) == [
        ("wmcolla",),
        ("wmcollb",),
        ("wmcolla", "wmcollb"),
        ("wmcollb", "wmcolla"),
    ]


def test_companions_are_imported_after_and_before_the_candidates() -> None:
    assert plan([("wmcolla", ["wmcolla"])], [("numpy", ["numpy"]), ("wmcollb", ["wmcollb"])]) == [
        ("wmcolla",),
        ("wmcolla", "numpy", "wmcollb"),
        ("numpy", "wmcollb", "wmcolla"),
    ]


def test_duplicate_modules_are_planned_once() -> None:
    # Two projects shipping the same module: alone once, and no combined check that is
    # just the same single import again.
    assert plan([("a", ["shared"]), ("b", ["shared"])]) == [("shared",)]
    # A companion that provides a candidate module adds nothing new.
    assert plan([("a", ["m"])], [("a-extra", ["m"])]) == [("m",)]


def test_check_text_and_code() -> None:
    check = ImportCheck(id="c3", modules=("wmcolla", "wmcollb"))
    assert check.text == "import wmcolla, wmcollb"
    assert check.code == "import wmcolla\nimport wmcollb"
    compile(check.code, "<check>", "exec")


# --------------------------------------------------------------------------- classify

IMPORT_ERROR_TAIL = """\
Traceback (most recent call last):
  File "<string>", line 1, in <module>
  File "/tmp/wm-venv/lib/python3.9/site-packages/wmnewglibc/__init__.py", line 1, in <module>
    from . import _native
ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.36' not found \
(required by /tmp/wm-venv/lib/python3.9/site-packages/wmnewglibc/_native.abi3.so)"""

SEGV_TAIL = """\
Fatal Python error: Segmentation fault

Current thread 0x00007f1c2b0d3740 (most recent call first):
  File "<frozen importlib._bootstrap>", line 228 in _call_with_frames_removed
  File "<frozen importlib._bootstrap_external>", line 1173 in create_module
  File "<frozen importlib._bootstrap>", line 565 in module_from_spec
  File "/tmp/wm-venv/lib/python3.11/site-packages/wmcrash/__init__.py", line 1 in <module>
  File "<frozen importlib._bootstrap>", line 241 in _call_with_frames_removed
  File "<string>", line 1 in <module>

Extension modules: wmcrash._native (total: 1)"""

HANG_TAIL = """\
Fatal Python error: Aborted

Current thread 0x00007fd4b7e4e740 (most recent call first):
  File "/tmp/wm-venv/lib/python3.11/site-packages/wmhang/__init__.py", line 4 in <module>
  File "<frozen importlib._bootstrap>", line 241 in _call_with_frames_removed
  File "<string>", line 1 in <module>"""


def outcome(
    rc: int | None, tail: str = "", signal: str | None = None, timed_out: bool = False
) -> dict[str, Any]:
    return {"rc": rc, "signal": signal, "timed_out": timed_out, "tail": tail, "duration_s": 0.1}


def test_classify_passed() -> None:
    assert classify(outcome(0, "some output\n"), 30) == (Status.PASSED, "")


def test_classify_failed_keeps_the_exception_line() -> None:
    status, detail = classify(outcome(1, IMPORT_ERROR_TAIL), 30)
    assert status is Status.FAILED
    assert detail.startswith("ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.36' not found")


def test_classify_failed_exception_followed_by_noise() -> None:
    tail = (
        'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
        "ModuleNotFoundError: No module named 'numpy'\n\n"
    )
    assert classify(outcome(1, tail), 30) == (Status.FAILED, "ModuleNotFoundError: No module named 'numpy'")


def test_classify_failed_without_traceback_uses_the_last_line() -> None:
    assert classify(outcome(3, "starting\nbye now\n"), 30) == (Status.FAILED, "bye now")
    assert classify(outcome(3, ""), 30) == (Status.FAILED, "no output")


def test_classify_crash_names_signal_fatal_error_and_package_frame() -> None:
    status, detail = classify(outcome(-11, SEGV_TAIL, signal="SIGSEGV"), 30)
    assert status is Status.CRASHED
    assert detail.startswith("SIGSEGV")
    assert "Fatal Python error: Segmentation fault" in detail
    frame = 'File "/tmp/wm-venv/lib/python3.11/site-packages/wmcrash/__init__.py", line 1 in <module>'
    assert f"in {frame}" in detail
    assert "frozen" not in detail


def test_classify_timeout_mentions_the_timeout_and_the_stuck_frame() -> None:
    status, detail = classify(outcome(-6, HANG_TAIL, signal="SIGABRT", timed_out=True), 7.5)
    assert status is Status.TIMED_OUT
    assert "7.5 s" in detail
    assert 'wmhang/__init__.py", line 4' in detail
    assert "SIGABRT" not in detail


@pytest.mark.parametrize("rc, signal", [(0, None), (-9, "SIGKILL")])
def test_classify_timeout_wins_over_exit_status(rc: int, signal: str | None) -> None:
    assert classify(outcome(rc, "", signal=signal, timed_out=True), 2)[0] is Status.TIMED_OUT


NUMPY_WARNING_TAIL = (
    "\nA module that was compiled using NumPy 1.x cannot be run in\n"
    "NumPy 2.2.6 as it may crash. To support both 1.x and 2.x\n"
    "versions of NumPy, modules must be compiled with NumPy 2.0.\n"
    "/tmp/wm-venv/lib/python3.11/site-packages/wmx/__init__.py:4: UserWarning: fast path disabled\n"
)


def _warned(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [run_rec(c["id"], rc=0, tail=NUMPY_WARNING_TAIL) for c in plan["checks"]]


def test_passing_check_with_an_import_warning_is_marked(catalog: Catalog) -> None:
    sandbox = FakeSandbox(answers={"install": installed_ok, "run": _warned})
    results = [
        r
        for r in CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
        if r.check.startswith("import")
    ]
    first = results[0]
    assert first.status is Status.PASSED
    assert (
        first.detail
        == "passed with a warning: A module that was compiled using NumPy 1.x cannot be run in NumPy 2"
    )
    assert first.evidence["warnings"][1] == "UserWarning: fast path disabled"


def test_strict_warnings_fail_the_check(catalog: Catalog) -> None:
    sandbox = FakeSandbox(answers={"install": installed_ok, "run": _warned})
    flow = CellFlow(make_cell(catalog, IMPORT), sandbox, options(strict_warnings=True))
    results = [r for r in flow.run() if r.check.startswith("import")]
    assert all(r.status is Status.FAILED and "--strict-warnings" in r.detail for r in results)
