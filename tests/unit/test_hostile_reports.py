"""Hostile reports, streams and run directories read by `compare`, `report render` and `report
merge`: each is a user error naming the file and the JSON path (exit 2, no traceback), through
the real CLI in a bounded subprocess; text from a report is never rich markup in the terminal;
the writers never write what the readers refuse; and property tests of the report reader and
of the schema validator against jsonschema."""

from __future__ import annotations

import copy
import io
import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from tests.fixtures.bounded_cli import assert_input_error, run_cli
from tests.fixtures.results import full_record, result
from wheelmatrix.errors import InputError
from wheelmatrix.fsutil import json_text
from wheelmatrix.inputs.jsonshape import _compiled, _Validator, first_problem, schema
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters.base import ReportContext
from wheelmatrix.reporters.registry import REPORTERS
from wheelmatrix.reporters.terminal import render_table
from wheelmatrix.run.jsonreport import read_report, report_document
from wheelmatrix.run.rundir import load_results
from wheelmatrix.run.stream import ResultLog, read_stream


def good_results() -> list[CheckResult]:
    return [result(), result("import b", Status.FAILED, detail="boom"), full_record()]


def good_report() -> dict[str, Any]:
    return json.loads(json_text(report_document(good_results(), {"id": "r1"})))


def write(path: Path, doc: Any) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = good_report()
    change(doc)
    return doc


def _set(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


# name -> (report text, what the error must name)
CASES: dict[str, tuple[Callable[[], Any], tuple[str, ...]]] = {
    "deep-nesting": (
        lambda: '{"tool": "wheelmatrix", "results": [], "run": ' + "[" * 100_000 + "]" * 100_000 + "}",
        ("not valid JSON", "depth"),
    ),
    "400-digit-duration": (
        lambda: json.dumps(good_report()).replace('"duration_s": 1.25', '"duration_s": 1' + "0" * 400),
        ("results[2].duration_s", "too large"),
    ),
    "static-scan-number": (
        lambda: mutated(_set("static_scan", value=[1])),
        ("static_scan[0] must be object",),
    ),
    "evidence-fault-number": (
        lambda: mutated(_set("results", 2, "evidence", "native", value={"fault": 5})),
        ("results[2].evidence.native.fault must be object or null",),
    ),
    "evidence-warnings-number": (
        lambda: mutated(_set("results", 0, "evidence", value={"warnings": 5})),
        ("results[0].evidence.warnings must be array or null",),
    ),
    "evidence-collisions-strings": (
        lambda: mutated(_set("results", 1, "evidence", value={"collisions": ["x"]})),
        ("results[1].evidence.collisions[0] must be object",),
    ),
    "lone-surrogate": (
        lambda: json.dumps(good_report()).replace('"boom"', '"bo\\ud800om"'),
        ("is not valid Unicode text (a lone surrogate)",),
    ),
    "status-unknown": (lambda: mutated(_set("results", 1, "status", value="fine")), ("results[1].status",)),
    "nan-constant": (
        lambda: json.dumps(good_report()).replace('"duration_s": 1.25', '"duration_s": NaN'),
        ("not valid JSON",),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("command", ["render", "merge", "compare"])
def test_hostile_report_exits_2_naming_file_and_json_path(name: str, command: str, tmp_path: Path) -> None:
    make, expected = CASES[name]
    bad = write(tmp_path / "bad.json", make())
    good = write(tmp_path / "good.json", good_report())
    argv = {
        "render": ["report", "render", "bad.json", "--html", "o.html", "--junit", "o.xml"],
        "merge": ["report", "merge", "bad.json", "--markdown", "o.md"],
        "compare": ["compare", "good.json", "bad.json"],
    }[command]
    assert_input_error(run_cli(argv, tmp_path), "bad.json", *expected)
    assert bad.exists() and good.exists()


def test_the_good_report_renders(tmp_path: Path) -> None:
    """The control: the unchanged report goes through every command (exit 1: it has a failure)."""
    write(tmp_path / "good.json", good_report())
    outcome = run_cli(["report", "render", "good.json", "--html", "o.html", "--junit", "o.xml"], tmp_path)
    assert outcome.rc == 1, outcome.stderr
    assert run_cli(["compare", "good.json", "good.json"], tmp_path).rc == 0


@pytest.mark.parametrize("distro", ["[/]", "[link=https://evil.example]click[/link]", "[bold red]x"])
def test_report_text_is_never_markup_in_the_terminal(distro: str, tmp_path: Path) -> None:
    doc = good_report()
    for entry in doc["results"]:
        entry["distro"] = distro
    write(tmp_path / "r.json", doc)
    outcome = run_cli(["report", "render", "r.json"], tmp_path)
    assert outcome.rc == 1, outcome.stderr  # a failed check, not an internal error
    assert "Traceback" not in outcome.stderr
    assert distro in outcome.stdout  # printed as text, brackets and all

    console = Console(file=io.StringIO(), force_terminal=True, width=300)
    render_table(console, read_report(tmp_path / "r.json").results)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b]8;" not in out  # no OSC 8 hyperlink
    assert "evil.example" not in out or distro.startswith("[link") and "[link=" in out


# --------------------------------------------------------------------------- writers and streams


def nan_result() -> CheckResult:
    return result(
        "import n",
        Status.FAILED,
        duration_s=math.nan,
        finished_at=math.inf,
        evidence={"returncode": 1, "ratio": math.nan, "output_tail": "x\ud800y", "deep": {"v": -math.inf}},
    )


def test_stream_writer_never_writes_what_the_reader_refuses(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with ResultLog(path) as log:
        log.add(nan_result())
        log.cell_done(nan_result().cell_id)
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    results, partial, cells, _ = read_stream(path)
    assert [r.check for r in results] == ["import n"] and not partial
    (got,) = results
    assert got.duration_s == 0.0 and got.evidence["ratio"] is None and got.evidence["output_tail"] == "x?y"
    assert got.evidence["deep"] == {"v": None}


def test_report_writer_never_writes_what_the_reader_refuses(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    REPORTERS["json"].write([nan_result()], ReportContext(run={"id": "n"}), path)
    assert [r.check for r in read_report(path).results] == ["import n"]


def test_stream_line_with_wrong_evidence_names_line_and_path(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with ResultLog(path) as log:
        log.add(result())
        log.cell_done(result().cell_id)
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["evidence"] = {"native": {"bindings": "x"}}
    path.write_text("\n".join([lines[0], json.dumps(record), lines[2]]) + "\n")
    with pytest.raises(InputError, match=r"line 2: corrupt record \(evidence.native.bindings must be array"):
        read_stream(path)


@pytest.mark.parametrize(
    "meta",
    [
        '{"run_id": "x", "schema": 3, "state": "done", "started": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"run_id": "x", "schema": 3, "state": "running", "started": 1e300, "pid": 1}',
        '{"run_id": "x", "schema": 3, "state": "done", "started": NaN}',
    ],
    ids=["deep", "far-future", "nan"],
)
def test_hostile_run_directory_meta(meta: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "meta.json").write_text(meta)
    with pytest.raises(InputError, match="meta.json"):
        load_results(run)


# --------------------------------------------------------------------------- properties


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
    | st.text(max_size=8)
    | st.sampled_from(["passed", "failed", "wheelmatrix", "[/]", "a" * 64, "x.whl", 3]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_reports(draw: st.DrawFn) -> dict[str, Any]:
    doc = good_report()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(doc)))
        value = draw(JSON_VALUES)
        if not path:
            continue
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=mutated_reports()
    | st.dictionaries(st.sampled_from(["tool", "results", "schema", "run"]), JSON_VALUES)
)
def test_report_reader_gives_results_that_render_or_an_input_error(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "r.json", doc)
        try:
            loaded = read_report(path)
        except InputError as exc:
            assert str(path) in str(exc)
            return
        context = ReportContext(run=loaded.run)
        for reporter in REPORTERS.values():
            if hasattr(reporter, "render"):
                reporter.render(loaded.results, context)
        render_table(Console(file=io.StringIO(), width=120), loaded.results)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=mutated_reports())
def test_the_validator_agrees_with_jsonschema(doc: dict[str, Any]) -> None:
    root = schema("report")
    expected = jsonschema.validators.validator_for(root)(root).is_valid(doc)
    assert (_Validator(root).check(doc, root, "") is None) == expected  # the one that names the path
    assert _compiled("report", None)(doc) == expected  # the quick one
    if first_problem(doc, "report") is None:
        assert expected


def test_the_validator_finds_problems_jsonschema_finds() -> None:
    """Control for the property above: the unchanged report is valid, a changed one is not."""
    doc = good_report()
    assert first_problem(doc, "report") is None
    bad = copy.deepcopy(doc)
    bad["results"][0]["wheel_sha256"] = {"x.whl": "not-hex"}
    problem = first_problem(bad, "report")
    assert problem is not None and problem.path == "results[0].wheel_sha256.x.whl"
