"""GitHub workflow annotations: one command per root cause, escaped per GitHub's rules, and
reachable from `report render`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.causes import ARM, GLIBC, RESULTS, X86, result
from wheelmatrix.cli import main
from wheelmatrix.model import Status
from wheelmatrix.reporters.base import ReportContext
from wheelmatrix.reporters.github import GITHUB, escape_data, escape_property, render_annotations
from wheelmatrix.reporters.jsonfile import JSON

COMMAND = re.compile(r"^::(error|warning) ((?:\w+=[^,:]*)(?:,\w+=[^,:]*)*)::(.*)$")


def parse(line: str) -> tuple[str, dict[str, str], str]:
    m = COMMAND.match(line)
    assert m, f"not a workflow command: {line!r}"
    props = dict(p.split("=", 1) for p in m.group(2).split(","))
    return m.group(1), props, m.group(3)


def test_one_annotation_per_root_cause() -> None:
    lines = render_annotations(RESULTS, ReportContext()).splitlines()
    assert len(lines) == 3  # the glibc cause (3 checks), not installable, the warning
    level, props, message = parse(lines[0])
    assert level == "error"
    assert props["file"] == X86  # the wheel most of the cause's checks ran with
    assert props["title"] == "wheelmatrix%3A failed%2C 3 checks in 3 cells"
    text = message.replace("%0A", "\n")
    assert text.splitlines()[0] == GLIBC
    assert "debian-11/x86_64/py3.11" in text and "ubuntu-20.04/x86_64/py3.11" in text
    assert f"wheels: {X86}, {ARM}" in text
    assert [parse(line)[0] for line in lines[1:]] == ["warning", "warning"]


def test_a_cause_without_a_wheel_has_no_file() -> None:
    lines = render_annotations(RESULTS, ReportContext()).splitlines()
    _, props, message = parse(lines[1])
    assert "file" not in props
    assert message.startswith("no wheel fits")


def test_no_problems_no_annotations() -> None:
    assert render_annotations(RESULTS[:1], ReportContext()) == ""


def test_escaping_per_workflow_command_rules() -> None:
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("a: b, 100%\n") == "a%3A b%2C 100%25%0A"


def test_hostile_text_cannot_end_the_command_or_start_another() -> None:
    nasty = "boom %0A\n::error::injected, title=x: y\r"
    r = result(Status.CRASHED, detail=nasty, diagnosis=nasty, wheels=("w,1:2.whl",))
    (line,) = render_annotations([r], ReportContext()).splitlines()
    level, props, message = parse(line)
    assert level == "error"
    assert props["file"] == "w%2C1%3A2.whl"
    assert "\n" not in message and "\r" not in message
    assert "%250A" in message  # a literal %0A in the text stays literal


def test_write_to_a_file_and_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ci" / "annotations.txt"
    GITHUB.write(RESULTS, ReportContext(), out)
    assert out.read_text() == render_annotations(RESULTS, ReportContext())
    GITHUB.write(RESULTS, ReportContext(), Path("-"))
    assert capsys.readouterr().out == out.read_text()


@pytest.mark.parametrize("argv", [["--format", "github"], ["--annotations", "-"]])
def test_report_render_format_github_to_stdout(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    JSON.write(RESULTS, ReportContext(run={"id": "r1"}), report)
    capsys.readouterr()
    rc = main(["report", "render", str(report), *argv, "--fail-on", "never"])
    captured = capsys.readouterr()
    assert rc == 0
    assert captured.out == render_annotations(RESULTS, ReportContext())  # nothing else: parseable
    assert "wheelmatrix results" in captured.err  # the table, out of the way


def test_report_render_format_github_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    JSON.write(RESULTS, ReportContext(), report)
    out = tmp_path / "annotations.txt"
    rc = main(["report", "render", str(report), "--format", "github", "-o", str(out)])
    assert rc == 1  # failures: the exit code of the results, as for every report
    assert out.read_text() == render_annotations(RESULTS, ReportContext())
    assert "wheelmatrix results" in capsys.readouterr().out  # the table, as without --format


def test_report_render_unknown_format_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    JSON.write(RESULTS, ReportContext(), report)
    rc = main(["report", "render", str(report), "--format", "gihtub"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "unknown report format 'gihtub'" in err and "did you mean 'github'" in err


def test_report_render_output_without_format_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["report", "render", str(tmp_path / "r.json"), "-o", str(tmp_path / "x")])
    assert rc == 2
    assert "--output" in capsys.readouterr().err
