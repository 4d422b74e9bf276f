"""One registry of report formats: every command's flags, the config keys and `--format` agree
with it, and every format writes through the same protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheelmatrix.cli.options import REPORT_FLAGS, REPORT_FORMATS
from wheelmatrix.config.runfile import REPORT_KEYS, Reports
from wheelmatrix.errors import InputError
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters import registry
from wheelmatrix.reporters.base import ReportContext

RESULTS = [
    CheckResult(
        distro="debian-12", arch="x86_64", python="3.11", scenario="import", check="import a", status=s
    )
    for s in (Status.PASSED, Status.CRASHED)
]


def test_flags_config_keys_and_formats_are_the_registry() -> None:
    assert list(registry.REPORTERS) == list(REPORT_FORMATS)
    assert list(registry.OPTIONS) == list(REPORT_KEYS) == [option for option, _, _ in REPORT_FLAGS]
    assert [registry.by_option(option).name for option, _, _ in REPORT_FLAGS] == list(REPORT_FORMATS)
    assert [f.name for f in Reports.__dataclass_fields__.values()] == list(REPORT_KEYS)


def test_get_unknown_format_is_bad_input_with_a_suggestion() -> None:
    with pytest.raises(InputError) as info:
        registry.get("markdwon")
    assert info.value.exit_code == 2
    assert "unknown report format 'markdwon'" in str(info.value)
    assert "did you mean 'markdown'" in str(info.value)


def test_by_option_maps_flags_to_formats() -> None:
    assert registry.by_option("annotations").name == "github"
    assert registry.by_option("html").name == "html"


@pytest.mark.parametrize("name", list(registry.REPORTERS))
def test_every_format_writes_a_file_and_standard_output(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reporter = registry.get(name)
    out = tmp_path / "sub" / f"report.{name}"
    registry.write_reports(RESULTS, ReportContext(run={"id": "r1"}), [(reporter, out)])
    text = out.read_text(encoding="utf-8")
    assert text.strip()
    reporter.write(RESULTS, ReportContext(run={"id": "r1"}), Path("-"))
    assert capsys.readouterr().out == text
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_an_unwritable_path_names_the_format_and_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError) as info:
        registry.get("junit").write(RESULTS, ReportContext(), blocker / "junit.xml")
    assert info.value.exit_code == 2
    assert f"cannot write the junit report to {blocker / 'junit.xml'}" in str(info.value)
    with pytest.raises(InputError):
        registry.check_requests([(registry.get("json"), blocker / "r.json")])
    registry.check_requests([(registry.get("json"), tmp_path / "new" / "dir" / "r.json")])  # created later


@pytest.mark.parametrize("command", ["run", "validate"])
def test_run_and_validate_take_every_report_flag(command: str, tmp_path: Path) -> None:
    from wheelmatrix.cli import build_parser
    from wheelmatrix.cli.common import load_config
    from wheelmatrix.service.setup import report_requests

    flags = [arg for option, _, _ in REPORT_FLAGS for arg in (f"--{option}", str(tmp_path / option))]
    args = build_parser().parse_args([command, "wmpure", *flags, "--annotations", "-"])
    config = load_config(args, discover=False)
    requests = report_requests(config)
    expected = [
        (name, Path("-") if name == "github" else tmp_path / option) for option, name, _ in REPORT_FLAGS
    ]
    assert [(r.name, p) for r, p in requests] == expected
