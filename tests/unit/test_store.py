"""Results on disk (wheelmatrix/store.py): the stream, run directories, reading results back."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from wheelmatrix.errors import EXIT_BAD_INPUT, InputError
from wheelmatrix.model import SCHEMA_VERSION, CheckResult, Status, ValuePool
from wheelmatrix.reporters.base import ReportContext
from wheelmatrix.reporters.jsonfile import JSON
from wheelmatrix.run.store import (
    ResultLog,
    RunDir,
    config_hash,
    latest_unfinished,
    list_runs,
    load_results,
)

INSTALLED = ("numpy==2.2.6", "mypkg==1.0", "packaging==24.1")
WHEEL = "mypkg-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"


def result(
    check: str = "import mypkg",
    status: Status = Status.PASSED,
    *,
    distro: str = "debian-12",
    arch: str = "x86_64",
    python: str = "3.12",
    **extra: Any,
) -> CheckResult:
    fields: dict[str, Any] = {
        "scenario": "import",
        "installer": "uv",
        "wheels": (WHEEL,),
        "image": "sha256:" + "1" * 64,
        "engine": "docker 26.1.5 unix:///var/run/docker.sock",
        "wheel_sha256": {WHEEL: "a" * 64},
        "installed": INSTALLED,
        "finished_at": 1750000000.5,
    }
    fields.update(extra)
    return CheckResult(distro=distro, arch=arch, python=python, check=check, status=status, **fields)


def full_record() -> CheckResult:
    """Every field set to something other than its default."""
    return CheckResult(
        distro="debian-11",
        arch="aarch64",
        python="3.9",
        scenario="symbols",
        check="import mypkg._ext",
        status=Status.CRASHED,
        detail='SIGSEGV in File "mypkg/__init__.py", line 3',
        duration_s=1.25,
        installer="pip",
        wheels=(WHEEL, "dep-2.0-py3-none-any.whl"),
        evidence={"returncode": -11, "signal": 11, "output_tail": "Fatal Python error\n", "modules": ["m"]},
        diagnosis="collides with libfoo's symbol bar",
        variant="known-bad-openblas",
        image="sha256:" + "2" * 64,
        engine="docker 20.10.24 unix:///var/run/docker.sock",
        tool_version="9.9.9",
        wheel_sha256={WHEEL: "b" * 64, "dep-2.0-py3-none-any.whl": "c" * 64},
        installed=("numpy==2.3.0", "mypkg==1.0"),
        finished_at=1751234567.125,
    )


def write_stream(path: Path, cells: dict[str, list[CheckResult]], *, done: bool = True) -> None:
    with ResultLog(path) as log:
        for cell, results in cells.items():
            for r in results:
                log.add(r)
            if done:
                log.cell_done(cell)


def two_cells() -> dict[str, list[CheckResult]]:
    a = [result("install"), result("import mypkg"), result("import mypkg.ext", Status.FAILED, detail="boom")]
    b = [result("install", python="3.11"), result("import mypkg", python="3.11")]
    return {a[0].cell_id: a, b[0].cell_id: b}


# --------------------------------------------------------------------------- records


def test_full_record_sets_every_field() -> None:
    record = full_record()
    for f in dataclasses.fields(CheckResult):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert getattr(record, f.name) != default, f"full_record() leaves {f.name} at its default"


def test_record_round_trip_every_field() -> None:
    record = full_record()
    doc = json.loads(json.dumps(record.to_json()))
    assert doc["cell_id"] == "debian-11/aarch64/py3.9/symbols+known-bad-openblas"
    assert doc["check_id"] == doc["cell_id"] + "::import mypkg._ext"
    assert CheckResult.from_json(doc) == record
    assert CheckResult.from_json(doc, pool=ValuePool()) == record
    assert ValuePool().record(doc).to_json() == record.to_json()


MINIMAL = {"distro": "d", "arch": "x86_64", "python": "3.9", "scenario": "import", "check": "c"}


@pytest.mark.parametrize(
    "doc",
    [
        {**MINIMAL, "status": "passed"},
        {
            **MINIMAL,
            "python": 3.10,
            "status": "failed",
            "wheels": None,
            "evidence": None,
            "duration_s": "1.5",
        },
        {**MINIMAL, "status": "error", "variant": None, "installed": ["a==1", "b==2"], "wheel_sha256": None},
    ],
    ids=["schema-1-minimal", "odd-types", "nulls"],
)
def test_pooled_and_plain_reading_agree(doc: dict[str, Any]) -> None:
    assert ValuePool().record(doc) == CheckResult.from_json(doc)


@pytest.mark.parametrize(
    "doc, word",
    [
        ({k: v for k, v in MINIMAL.items() if k != "distro"} | {"status": "passed"}, "distro"),
        ({**MINIMAL, "status": "fine"}, "fine"),
        ({**MINIMAL, "status": "passed", "evidence": [1]}, "evidence"),
        ({**MINIMAL, "status": "passed", "installed": 5}, "int"),
    ],
)
def test_bad_records_raise_value_error_both_ways(doc: dict[str, Any], word: str) -> None:
    for read in (CheckResult.from_json, ValuePool().record):
        with pytest.raises(ValueError, match=word):
            read(doc)


# --------------------------------------------------------------------------- the stream


def test_stream_round_trip(tmp_path: Path) -> None:
    cells = {**two_cells(), full_record().cell_id: [full_record()]}
    stream = tmp_path / "results.jsonl"
    write_stream(stream, cells)

    lines = [json.loads(ln) for ln in stream.read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["schema"] == SCHEMA_VERSION
    assert [ln["type"] for ln in lines[1:5]] == ["result", "result", "result", "cell-done"]
    assert lines[4]["cell_id"] == "debian-12/x86_64/py3.12/import" and lines[4]["at"] > 0

    loaded = load_results(stream)
    assert loaded.kind == "stream" and loaded.schema == SCHEMA_VERSION and loaded.source == stream
    assert loaded.results == [r for rs in cells.values() for r in rs]
    assert loaded.partial == []
    assert loaded.complete_cells == set(cells)


def test_stream_round_trip_with_the_standard_library_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without orjson the reader parses each cell's shared provenance once; same records."""
    import wheelmatrix.run.store

    monkeypatch.setattr(wheelmatrix.run.store, "_loads", wheelmatrix.run.store._stdlib_loads)
    cells = {**two_cells(), full_record().cell_id: [full_record()]}
    stream = tmp_path / "results.jsonl"
    write_stream(stream, cells)
    loaded = load_results(stream)
    assert loaded.results == [r for rs in cells.values() for r in rs]
    assert loaded.complete_cells == set(cells)


def test_a_killed_writer_loses_nothing_written(tmp_path: Path) -> None:
    """SIGKILL right after the last add: every line before is on disk (flushed per line)."""
    stream = tmp_path / "results.jsonl"
    code = f"""
import os, signal, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2] / "runner")!r})
from pathlib import Path
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.run.store import ResultLog
log = ResultLog(Path({str(stream)!r}))
for check in ("install", "import a", "import b"):
    log.add(CheckResult(distro="d", arch="x86_64", python="3.12", scenario="import", check=check,
                        status=Status.PASSED))
log.cell_done("d/x86_64/py3.12/import")
log.add(CheckResult(distro="d", arch="x86_64", python="3.11", scenario="import", check="install",
                    status=Status.FAILED))
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    loaded = load_results(stream)
    assert [r.check for r in loaded.results] == ["install", "import a", "import b"]
    assert [r.check for r in loaded.partial] == ["install"]


def test_loaded_records_share_repeated_values(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    write_stream(stream, two_cells())
    first, second, *_ = load_results(stream).results
    assert first.installed is second.installed
    assert first.wheel_sha256 is second.wheel_sha256
    assert first.distro is second.distro and first.image is second.image


def test_stream_with_torn_last_line(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    write_stream(stream, two_cells())
    whole = load_results(stream)
    with stream.open("ab") as fh:  # a writer killed in the middle of a line
        fh.write(json.dumps({"type": "result", **result("import late").to_json()}).encode()[:150])

    loaded = load_results(stream)
    assert loaded.results == whole.results and loaded.partial == []


def test_stream_with_corrupt_last_line(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    write_stream(stream, two_cells())
    with stream.open("a") as fh:
        fh.write('{"type": "result", "distro": \n\n')
    assert len(load_results(stream).results) == 5


def test_corrupt_line_in_the_middle_names_file_and_line(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    write_stream(stream, two_cells())
    lines = stream.read_text().splitlines(keepends=True)
    lines[2] = lines[2][:40] + "\n"
    stream.write_text("".join(lines))

    with pytest.raises(InputError) as info:
        load_results(stream)
    assert f"{stream}, line 3" in str(info.value)
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_cell_without_done_marker_is_partial(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    cells = two_cells()
    done_cell, open_cell = list(cells)
    with ResultLog(stream) as log:
        for r in cells[done_cell]:
            log.add(r)
        log.cell_done(done_cell)
        for r in cells[open_cell]:
            log.add(r)  # killed before its cell-done marker

    loaded = load_results(stream)
    assert loaded.results == cells[done_cell]
    assert loaded.partial == cells[open_cell]
    assert loaded.complete_cells == {done_cell}


def test_cell_run_twice_keeps_the_last_complete_run(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    first = [result("install"), result("import mypkg", Status.FAILED, detail="old")]
    second = [result("install"), result("import mypkg", Status.PASSED)]
    cell = first[0].cell_id
    write_stream(stream, {cell: first})
    write_stream(stream, {cell: second})

    loaded = load_results(stream)
    assert loaded.results == second
    assert [r.check_id for r in loaded.results] == [f"{cell}::install", f"{cell}::import mypkg"]


def test_resumed_writer_abandons_incomplete_cells(tmp_path: Path) -> None:
    """A killed attempt's results of a cell never count: the resumed run re-runs the cell, and
    a check the first attempt reported but the second did not must not be merged in."""
    stream = tmp_path / "results.jsonl"
    cell = result().cell_id
    with ResultLog(stream) as log:
        log.add(result("install"))
        log.add(result("import stale", Status.FAILED))
    with stream.open("ab") as fh:
        fh.write(b'{"type": "result", "cell')  # and the kill tore a line
    rerun = [result("install"), result("import mypkg")]
    with ResultLog(stream) as log:  # the resumed run
        for r in rerun:
            log.add(r)
        log.cell_done(cell)

    text = stream.read_text()
    assert text.count('"type": "resume"') == 1 and '"cell\n' not in text  # torn tail cut off
    loaded = load_results(stream)
    assert loaded.results == rerun and loaded.partial == []


def test_resumed_writer_keeps_partial_until_rerun(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    with ResultLog(stream) as log:
        log.add(result("install"))
    ResultLog(stream).close()  # resumed, and killed again before reaching the cell
    loaded = load_results(stream)
    assert loaded.results == [] and [r.check for r in loaded.partial] == ["install"]


def test_result_log_keeps_a_whole_last_line_without_newline(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    with ResultLog(stream) as log:
        log.add(result("install"))
    stream.write_bytes(stream.read_bytes().rstrip(b"\n"))
    other = result("install", python="3.11")
    with ResultLog(stream) as log:
        log.add(other)
        log.cell_done(other.cell_id)
    loaded = load_results(stream)
    assert [r.check for r in loaded.partial] == ["install"] and loaded.results == [other]


def test_result_log_is_thread_safe(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    log = ResultLog(stream)

    def work(n: int) -> None:
        for i in range(50):
            log.add(result(f"import m{n}_{i}", python=f"3.{n}", evidence={"output_tail": "x" * 5000}))
        log.cell_done(result(python=f"3.{n}").cell_id)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert len(log.results) == 400
    loaded = load_results(stream)
    assert len(loaded.results) == 400 and len(loaded.complete_cells) == 8


def test_schema_1_stream_counts_every_cell(tmp_path: Path) -> None:
    """wheelmatrix 0.1 wrote bare records: no header, no type, no markers."""
    stream = tmp_path / "old.jsonl"
    records = [result("install"), result("import mypkg", Status.FAILED)]
    stream.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    loaded = load_results(stream)
    assert loaded.schema == 1 and loaded.results == records and loaded.partial == []


def test_foreign_jsonl_is_rejected(tmp_path: Path) -> None:
    stream = tmp_path / "events.jsonl"
    stream.write_text('{"event": "login", "user": "x"}\n{"event": "logout"}\n')
    with pytest.raises(InputError, match=r"line 1: not a wheelmatrix results stream"):
        load_results(stream)


def test_stream_of_unknown_schema_is_rejected(tmp_path: Path) -> None:
    stream = tmp_path / "results.jsonl"
    header = {"type": "header", "schema": SCHEMA_VERSION + 1, "tool": "wheelmatrix"}
    stream.write_text(json.dumps(header) + "\n")
    with pytest.raises(InputError, match=f"schema {SCHEMA_VERSION + 1}"):
        load_results(stream)


# --------------------------------------------------------------------------- JSON reports


def test_report_round_trip(tmp_path: Path) -> None:
    results = [r for rs in two_cells().values() for r in rs] + [full_record()]
    path = tmp_path / "report.json"
    JSON.write(results, ReportContext(run={"id": "r1"}), path)
    loaded = load_results(path)
    assert loaded.kind == "report" and loaded.schema == SCHEMA_VERSION
    assert loaded.results == results and loaded.run == {"id": "r1"}
    assert loaded.complete_cells == {r.cell_id for r in results}


def test_schema_1_report(tmp_path: Path) -> None:
    """As wheelmatrix 0.1 wrote it: no "schema", records without ids or provenance."""
    doc = {
        "tool": "wheelmatrix",
        "version": "0.1.0",
        "run": {"id": "old"},
        "summary": {"checks": 2},
        "results": [
            {"distro": "debian-12", "arch": "x86_64", "python": "3.11", "scenario": "import",
             "check": "import wmpure", "status": "passed", "detail": "", "duration_s": 0.1,
             "installer": "uv", "wheels": ["wmpure-1.0-py3-none-any.whl"], "evidence": {}},
            {"distro": "debian-11", "arch": "aarch64", "python": "3.9", "scenario": "import",
             "check": "import wmnewglibc", "status": "failed", "detail": "GLIBC_2.36 not found"},
        ],
        "static_scan": [],
    }  # fmt: skip
    path = tmp_path / "old-report.json"
    path.write_text(json.dumps(doc, indent=2))
    loaded = load_results(path)
    assert loaded.schema == 1
    assert [(r.check, r.status) for r in loaded.results] == [
        ("import wmpure", Status.PASSED),
        ("import wmnewglibc", Status.FAILED),
    ]
    assert loaded.complete_cells == {"debian-12/x86_64/py3.11/import", "debian-11/aarch64/py3.9/import"}
    assert loaded.results[0].wheels == ("wmpure-1.0-py3-none-any.whl",) and loaded.results[1].installed == ()


def test_report_duplicates_keep_the_last(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    JSON.write([result(status=Status.FAILED), result(status=Status.PASSED)], ReportContext(), path)
    assert [r.status for r in load_results(path).results] == [Status.PASSED]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"name": "package.json", "version": "1.0"}', "not a wheelmatrix report"),
        ("[1, 2, 3]", "not a wheelmatrix report"),
        ('{"tool": "wheelmatrix", "schema": 99, "results": []}', "schema 99"),
        ('{"tool": "wheelmatrix", "results": [{"check": "x"}]}', r"results\[0\] is not a check result"),
        ("{not json", "not valid JSON"),
    ],
    ids=["foreign", "list", "future-schema", "bad-record", "not-json"],
)
def test_bad_json_files_are_rejected(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "thing.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        load_results(path)
    assert str(path) in str(info.value)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_results(tmp_path / "nope.json")


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
