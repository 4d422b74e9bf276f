"""Imports the import scenario traces for the symbols scenario (issue 19): the import probe runs
a traced check as it would any other and leaves its log, its mapped objects and its end; the
symbols probe reads them back, and only what ended well stands in for its own import."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from wheelmatrix.cell.checks.imports import ImportCheck, _planned
from wheelmatrix.cell.checks.symbols import TRACE_DIR, import_orders, trace_key
from wheelmatrix.probe import wm_probe, wm_symbols


def run_checks(checks: list[dict[str, str]]) -> list[dict[str, object]]:
    out = io.StringIO()
    with redirect_stdout(out):
        wm_probe.cmd_run({"python": sys.executable, "timeout": 60, "checks": checks})
    recs = [json.loads(ln.split(" ", 1)[1]) for ln in out.getvalue().splitlines() if ln.startswith("@@WM@@")]
    return [r["check"] for r in recs]


def test_a_traced_check_leaves_its_objects_log_and_end(tmp_path: Path) -> None:
    trace = str(tmp_path / "trace" / "k")
    (check,) = run_checks([{"id": "c0", "code": "import ctypes, json", "trace": trace}])
    assert check["rc"] == 0 and check["tail"] == "", check  # the trace prints nothing
    dsos, rc = wm_symbols._shared_trace(trace)
    assert rc == 0
    assert any("_ctypes" in p for p in dsos) and any("libc" in p for p in dsos), dsos
    logs = wm_symbols._log_files(trace + ".ld")
    assert logs and "binding file" in Path(logs[0]).read_text()


def test_a_failed_check_leaves_its_log_but_no_objects(tmp_path: Path) -> None:
    trace = str(tmp_path / "k")
    (check,) = run_checks([{"id": "c0", "code": "import ctypes\nraise SystemExit(3)", "trace": trace}])
    assert check["rc"] == 3
    assert wm_symbols._shared_trace(trace) == (None, 3)
    assert wm_symbols._log_files(trace + ".ld")  # what was bound before the end still counts


def test_a_rerun_replaces_what_the_last_run_left(tmp_path: Path) -> None:
    trace = str(tmp_path / "k")
    run_checks([{"id": "c0", "code": "import ctypes", "trace": trace}])
    run_checks([{"id": "c0", "code": "raise SystemExit(1)", "trace": trace}])
    assert wm_symbols._shared_trace(trace) == (None, 1)  # not the earlier run's objects


@pytest.mark.parametrize(
    "files",
    [
        {},  # no trace: the import scenario did not run before
        {".rc": '{"rc": 0, "timed_out": true}', ".dsos": "[]"},  # a log cut short
        {".rc": "not json"},
        {".rc": '{"rc": 0, "timed_out": false}', ".dsos": '{"a": 1}'},  # not a list of paths
        {".rc": "[1]"},
    ],
)
def test_no_usable_trace_means_the_probe_imports_itself(tmp_path: Path, files: dict[str, str]) -> None:
    trace = tmp_path / "k"
    for suffix, text in files.items():
        Path(str(trace) + suffix).write_text(text)
    assert wm_symbols._shared_trace(str(trace)) is None


def test_only_the_imports_the_symbols_scenario_repeats_are_traced() -> None:
    cands = [("a", ["a"]), ("b", ["b", "b.x"])]
    comps = [("c", ["c"])]
    orders = import_orders(cands, comps)
    assert orders == [["a", "b", "b.x", "c"], ["c", "b", "b.x", "a"]]
    traced = {trace_key(o) for o in orders}
    alone = _planned(ImportCheck(id="c0", modules=("a",)), traced)
    together = _planned(ImportCheck(id="c3", modules=("a", "b", "b.x", "c")), traced)
    other = _planned(ImportCheck(id="c4", modules=("c", "a", "b", "b.x")), traced)
    assert "trace" not in alone and "trace" not in other
    assert together["trace"] == f"{TRACE_DIR}/{trace_key(orders[0])}"
    assert trace_key(["a", "a", "b"]) == trace_key(["a", "b"])  # an import twice is one import
    assert trace_key(["a", "b"]) != trace_key(["b", "a"])
