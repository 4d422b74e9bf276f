"""The result stream (run/stream.py): records, writing, reading back, torn and corrupt lines, resume."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.results import full_record, result, two_cells, write_stream
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError
from wheelmatrix.model import SCHEMA_VERSION, CheckResult, Status, ValuePool
from wheelmatrix.run.rundir import load_results
from wheelmatrix.run.stream import ResultLog

# --------------------------------------------------------------------------- records


def test_full_record_sets_every_field() -> None:
    record = full_record()
    for f in dataclasses.fields(CheckResult):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert getattr(record, f.name) != default, f"full_record() leaves {f.name} at its default"


def test_pool_shares_a_cells_installed_wheels() -> None:
    doc = json.loads(json.dumps(full_record().to_json()))
    pool = ValuePool()
    first, second = pool.record(doc), pool.record(json.loads(json.dumps(doc)))
    assert first.installed_wheels is second.installed_wheels
    assert first.installed_wheels["mypkg"]["sha256"] is None


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
        {
            **MINIMAL,
            "status": "passed",
            "installed_wheels": {"a": {"file": "a-1-py3-none-any.whl", "sha256": None}},
        },
    ],
    ids=["schema-1-minimal", "odd-types", "nulls", "picked-wheels"],
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
        ({**MINIMAL, "status": "passed", "installed_wheels": ["a"]}, "installed_wheels"),
        ({**MINIMAL, "status": "passed", "installed_wheels": {"a": "a.whl"}}, "installed_wheels"),
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
    import wheelmatrix.run.stream

    monkeypatch.setattr(wheelmatrix.run.stream, "loads", wheelmatrix.run.stream._stdlib_loads)
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
from wheelmatrix.run.stream import ResultLog
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
