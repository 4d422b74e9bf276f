"""Run directories (run/rundir.py) and the list of runs (run/runs.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.results import result, two_cells
from wheelmatrix.errors import InputError
from wheelmatrix.model import SCHEMA_VERSION
from wheelmatrix.run.rundir import RunDir, config_hash, load_results
from wheelmatrix.run.runs import latest_unfinished, list_runs

# --------------------------------------------------------------------------- run directories


def create(root: Path, run_id: str = "r1", *, cells: list[str] | None = None, chash: str = "h1") -> RunDir:
    return RunDir.create(
        root,
        run_id,
        config={"distros": ["debian-12"], "jobs": 2},
        config_hash=chash,
        cells=cells if cells is not None else list(two_cells()),
        source="wheelmatrix.yaml",
    )


def patch_meta(run: RunDir, **changes: Any) -> None:
    meta = json.loads((run.path / "meta.json").read_text())
    meta.update(changes)
    (run.path / "meta.json").write_text(json.dumps(meta))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_run_dir_create_and_open(tmp_path: Path) -> None:
    run = create(tmp_path / "runs")
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "meta.json", "plan.json"]
    meta = run.meta
    assert meta["schema"] == SCHEMA_VERSION and meta["run_id"] == "r1" and meta["state"] == "running"
    assert meta["finished"] is None and meta["pid"] == os.getpid() and meta["host"] == socket.gethostname()
    assert meta["config_hash"] == "h1" and meta["cells"] == 2 and meta["source"] == "wheelmatrix.yaml"
    again = RunDir.open(run.path)
    assert again.config == {"distros": ["debian-12"], "jobs": 2}
    assert again.plan == list(two_cells()) and again.state == "running"
    assert run.report_path("report.json") == run.path / "report.json"
    with pytest.raises(ValueError):
        run.report_path("meta.json")


def test_run_dir_refuses_clashes_and_bad_ids(tmp_path: Path) -> None:
    create(tmp_path)
    with pytest.raises(InputError, match="already exists"):
        create(tmp_path)
    with pytest.raises(InputError, match="not a usable run id"):
        create(tmp_path, "../escape")


def test_open_something_that_is_no_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a wheelmatrix run directory"):
        RunDir.open(tmp_path)
    with pytest.raises(InputError, match="not a wheelmatrix run directory"):
        load_results(tmp_path)
    (tmp_path / "meta.json").write_text('{"name": "other tool"}')
    with pytest.raises(InputError, match="not the meta.json of a wheelmatrix run"):
        RunDir.open(tmp_path)


def test_run_dir_results_log_and_mark(tmp_path: Path) -> None:
    run = create(tmp_path)
    cells = two_cells()
    done_cell, open_cell = list(cells)
    with run.result_log() as log:
        for r in cells[done_cell]:
            log.add(r)
        log.cell_done(done_cell)
        log.add(cells[open_cell][0])
    run.log("start: 2 cells\nsecond line")
    run.mark("interrupted")

    lines = (run.path / "run.log").read_text().splitlines()
    assert len(lines) == 2 and lines[0].endswith(" start: 2 cells") and lines[1].endswith(" second line")
    meta = RunDir.open(run.path).meta
    assert meta["state"] == "interrupted" and meta["finished"] >= meta["started"]
    assert meta["cells_done"] == 1 and meta["counts"]["passed"] == 2 and meta["counts"]["failed"] == 1

    stored = run.stored()
    assert stored.kind == "run" and stored.results == cells[done_cell]
    assert stored.complete_cells == {done_cell} and stored.run["state"] == "interrupted"
    assert load_results(run.path).results == cells[done_cell]
    assert load_results(run.stream_path).run["run_id"] == "r1"

    state = run.resume_state()
    assert state.todo == (open_cell,) and state.done == {done_cell}
    assert state.results == tuple(cells[done_cell]) and [r.check for r in state.partial] == ["install"]

    run.mark("running")  # the resumed run
    with run.result_log() as log:
        for r in cells[open_cell]:
            log.add(r)
        log.cell_done(open_cell)
    run.mark("finished", {"passed": 4, "failed": 1})
    meta = run.meta
    assert meta["state"] == "finished" and meta["counts"] == {"passed": 4, "failed": 1}
    assert len(meta["resumed"]) == 1 and meta["cells_done"] == 2
    assert len(run.stored().results) == 5


def test_resume_state_of_a_live_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="still running"):
        create(tmp_path).resume_state()


def test_list_runs(tmp_path: Path) -> None:
    finished = create(tmp_path, "a-finished")
    patch_meta(finished, started=1000.0)
    finished = RunDir.open(finished.path)
    finished.mark("finished", {"passed": 3})
    killed = create(tmp_path, "b-killed")
    with killed.result_log() as log:
        for r in two_cells()[result().cell_id]:
            log.add(r)
        log.cell_done(result().cell_id)
    patch_meta(killed, started=2000.0, pid=dead_pid())
    elsewhere = create(tmp_path, "c-elsewhere")
    patch_meta(elsewhere, started=3000.0, host="some-other-host")
    live = create(tmp_path, "d-live")
    patch_meta(live, started=4000.0)
    (tmp_path / "half-written").mkdir()  # no meta.json yet
    (tmp_path / "half-written" / "plan.json").write_text("[]")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "meta.json").write_text("{ torn")
    (tmp_path / "stray-file.txt").write_text("x")

    runs = list_runs(tmp_path)
    assert [(r.run_id, r.state) for r in runs] == [
        ("d-live", "running"),
        ("c-elsewhere", "killed"),
        ("b-killed", "killed"),
        ("a-finished", "finished"),
    ]
    by_id = {r.run_id: r for r in runs}
    assert by_id["b-killed"].cells_done == 1 and by_id["b-killed"].cells_planned == 2
    assert by_id["b-killed"].counts["passed"] == 2 and by_id["b-killed"].counts["failed"] == 1
    assert by_id["a-finished"].counts == {"passed": 3} and by_id["a-finished"].finished is not None
    assert by_id["a-finished"].source == "wheelmatrix.yaml" and by_id["d-live"].finished is None
    assert RunDir.open(killed.path).state == "killed"


def test_list_runs_of_missing_root(tmp_path: Path) -> None:
    assert list_runs(tmp_path / "none") == []


def test_killed_run_with_a_reused_pid(tmp_path: Path) -> None:
    """Our own pid, but a different process start time: the writer is gone."""
    run = create(tmp_path)
    patch_meta(run, pid_started=(run.meta["pid_started"] or 0) + 12345)
    assert RunDir.open(run.path).state == "killed"


def test_latest_unfinished(tmp_path: Path) -> None:
    assert latest_unfinished(tmp_path, "h1") is None
    runs: list[tuple[str, float, dict[str, Any]]] = [
        ("old-killed", 1000.0, {"pid": dead_pid()}),
        ("interrupted", 2000.0, {"state": "interrupted"}),
        ("other-config", 3000.0, {"pid": dead_pid(), "config_hash": "h2"}),
        ("finished", 4000.0, {"state": "finished"}),
        ("live", 5000.0, {}),
    ]
    for run_id, started, changes in runs:
        patch_meta(create(tmp_path, run_id), started=started, **changes)

    found = latest_unfinished(tmp_path, "h1")
    assert found is not None and found.run_id == "interrupted"
    other = latest_unfinished(tmp_path, "h2")
    assert other is not None and other.run_id == "other-config"
    assert latest_unfinished(tmp_path, "h3") is None


def test_config_hash_ignores_key_order() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
