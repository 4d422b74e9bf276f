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
from wheelmatrix.cell.checks.symbols import TRACE_DIR, import_orders, trace_key, trace_path
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
    traced = {trace_path(o) for o in orders}
    alone = _planned(ImportCheck(id="c0", modules=("a",)), traced)
    together = _planned(ImportCheck(id="c3", modules=("a", "b", "b.x", "c")), traced)
    other = _planned(ImportCheck(id="c4", modules=("c", "a", "b", "b.x")), traced)
    assert "trace" not in alone and "trace" not in other
    assert together["trace"] == f"{TRACE_DIR}/{trace_key(orders[0])}"
    assert trace_key(["a", "a", "b"]) == trace_key(["a", "b"])  # an import twice is one import
    assert trace_key(["a", "b"]) != trace_key(["b", "a"])


def test_checks_run_a_few_at_a_time_and_a_failure_among_others_is_run_again_alone(tmp_path: Path) -> None:
    lock = tmp_path / "busy"
    holds = f"import os, time\nopen({str(lock)!r}, 'w').close()\ntime.sleep(1.5)\nos.unlink({str(lock)!r})"
    # fails only while the other check runs alongside it (as a check short of memory would)
    minds = f"import os, time\ntime.sleep(0.5)\nassert not os.path.exists({str(lock)!r}), 'busy'"
    broken = "raise SystemExit(4)"
    checks = [{"id": "c0", "code": holds}, {"id": "c1", "code": minds}, {"id": "c2", "code": broken}]
    out = io.StringIO()
    with redirect_stdout(out):
        wm_probe.cmd_run({"python": sys.executable, "timeout": 60, "checks": checks, "workers": 2})
    recs = [json.loads(ln.split(" ", 1)[1])["check"] for ln in out.getvalue().splitlines()]
    by_id = {r["id"]: r for r in recs}
    assert sorted(by_id) == ["c0", "c1", "c2"] and len(recs) == 3  # one record each
    assert by_id["c0"]["rc"] == 0
    assert by_id["c1"]["rc"] == 0, by_id["c1"]  # its run alone is its result
    assert by_id["c2"]["rc"] == 4  # a real failure stays one
    assert [r["id"] for r in recs][:1] == ["c0"]  # what passed is reported as it ends


@pytest.mark.parametrize(
    ("jobs", "containers", "cpus", "workers"),
    [
        (None, 6, 2, 1),  # the default: a job per core, a matrix as wide
        (1, 6, 2, 2),  # one container at a time on two cores
        (None, 1, 2, 2),  # one cell alone
        (None, 1, 64, 4),  # at most four
        (8, 3, 8, 2),
        (3, 2, 7, 3),  # two containers: three cores each
    ],
)
def test_checks_at_once_use_the_cores_the_run_leaves(
    jobs: int | None, containers: int, cpus: int, workers: int
) -> None:
    from wheelmatrix.service.setup import check_workers

    assert check_workers(jobs, containers, cpus) == workers
