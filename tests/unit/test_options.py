"""The option table (wheelmatrix/options.py) and everything derived from it: the run-file
loader, the argparse flags and overrides, the init starter and the README's table."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wheelmatrix.cli import build_parser
from wheelmatrix.cli.common import load_config
from wheelmatrix.config.catalog import ARCHES as CATALOG_ARCHES
from wheelmatrix.config.runfile import PARSERS, Reports, RunConfig
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError
from wheelmatrix.options import (
    ARCHES,
    FILE_OPTIONS,
    KEYS,
    OPTIONS,
    README_BEGIN,
    README_END,
    Option,
    load_run_config,
    markdown_table,
    option,
    readme_with_table,
    starter_config,
)

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "runner"
FLAG_OPTIONS = [o for o in OPTIONS if o.flags]
MATRIX_COMMANDS = ("validate", "run", "plan")
# A value each flag accepts; a new flag without one here fails test_every_flag_sets_its_field.
SAMPLES: dict[str, str] = {
    "--with": "numpy>=2",
    "--cibuildwheel-tests": "project",
    "--find-links": "wheelhouse",
    "--distro": "debian-12",
    "--python": "3.12",
    "--include": "debian-*",
    "--exclude": "debian-13/aarch64",
    "--scenario": "import",
    "--jobs": "3",
    "--timeout": "7.5",
    "--memory": "512M",
    "--pids": "64",
    "--json": "out/r.json",
    "--junit": "out/r.xml",
    "--markdown": "out/r.md",
    "--html": "out/r.html",
    "--annotations": "-",
    "--sarif": "out/r.sarif",
    "--catalog": "my-distros.yaml",
    "--compare": "old/report.json",
    "--engine": "tcp://10.0.0.5:2375",
    "--cpu": "x86-64-v2",
    "--registry-mirror": "registry.example.com:5000",
}


def _field_value(config: RunConfig, field: str) -> Any:
    value: Any = config
    for part in field.split("."):
        value = getattr(value, part)
    return value


def _sample(o: Option) -> tuple[list[str], Any]:
    """The argv that gives `o` one value, and the field value it must become."""
    flag = o.flags[0]
    if o.action == "store_const":
        return [flag], o.const
    text = o.choices[-1] if o.choices else SAMPLES[flag]
    value = o.flag_type(text) if o.flag_type is not None else text
    return [flag, text], (value,) if o.action == "append" else value


# --------------------------------------------------------------------------- the table itself


def test_every_option_is_a_key_or_a_flag_of_a_real_field() -> None:
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    report_fields = {f.name for f in dataclasses.fields(Reports)}
    for o in OPTIONS:
        assert o.where in ("file", "cli", "both")
        assert o.in_file or o.flags or o.positional, o.name
        assert bool(o.flags or o.positional) == (o.group is not None), o.name
        head, _, sub = o.field.partition(".")
        assert head in fields, o.field
        assert not sub or (head == "reports" and sub in report_fields), o.field
        assert (o.key == o.name) if o.in_file else (o.key is None)
        assert bool(o.parse) == o.in_file, f"{o.name}: a run-file key needs a parser, a flag none"
        if o.action == "store_const":
            assert o.type is None and o.metavar is None and not o.choices, o.name
    names = [o.name for o in OPTIONS]
    flags = [f for o in OPTIONS for f in o.flags]
    assert len(set(names)) == len(names) and len(set(flags)) == len(flags)
    assert option("timeout").field == "timeout_s"
    with pytest.raises(KeyError):
        option("timout")


def test_file_keys_set_distinct_fields_and_every_parser_is_used() -> None:
    assert tuple(o.name for o in FILE_OPTIONS) == KEYS
    assert len({o.field for o in FILE_OPTIONS}) == len(FILE_OPTIONS)
    assert {o.parse for o in FILE_OPTIONS} == set(PARSERS)


def test_defaults_are_run_configs() -> None:
    defaults = RunConfig()
    for o in OPTIONS:
        if o.field.startswith("reports.") or o.field == "reports":
            assert o.default is None, o.name  # said in words: default_doc
            continue
        assert o.default == getattr(defaults, o.field), o.name
    assert defaults.reports == Reports()
    assert option("jobs").shown_default() == "auto" and option("timeout").shown_default() == "120"
    assert option("gdb").shown_default() == "false" and option("companions").shown_default() == "none"


def test_choices_are_the_ones_the_code_knows() -> None:
    from wheelmatrix.run.compare import FAIL_ON as COMPARE_FAIL_ON

    assert ARCHES == CATALOG_ARCHES
    assert option("archs").choices == ARCHES
    assert option("fail-on").choices == COMPARE_FAIL_ON
    literal = '"regression", "never"'
    places = [p for p in (RUNNER / "wheelmatrix").rglob("*.py") if literal in p.read_text()]
    assert places == [RUNNER / "wheelmatrix" / "options.py"], "FAIL_ON is written once"


# --------------------------------------------------------------------------- the command line


def _parse(argv: list[str]) -> argparse.Namespace:
    args, extra = build_parser().parse_known_args(argv)
    assert extra == [], extra
    return args


@pytest.mark.parametrize("command", MATRIX_COMMANDS)
@pytest.mark.parametrize("o", FLAG_OPTIONS, ids=lambda o: o.flags[0])
def test_every_flag_sets_its_field(
    command: str, o: Option, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no wheelmatrix.yaml found by run/plan
    flag_argv, expected = _sample(o)
    args = _parse([command, "wmpure", *flag_argv])
    config = load_config(args, discover=False)
    assert _field_value(config, o.field) == expected
    assert config.candidates == ("wmpure",)
    # and nothing else moved from the defaults
    untouched = [p for p in OPTIONS if p.field not in (o.field, "candidates") and p.field != "reports"]
    for other in untouched:
        if not (o.field.startswith("reports.") and other.field.startswith("reports.")):
            assert _field_value(config, other.field) == _field_value(RunConfig(), other.field), other.name


def test_flags_not_given_keep_the_file_and_flags_given_win(tmp_path: Path) -> None:
    path = tmp_path / "wheelmatrix.yaml"
    path.write_text("candidates: [wmpure]\nmemory: 2g\njobs: 2\nreports: {json: a.json}\n")
    args = _parse(["run", "-c", str(path), "--jobs", "5", "--junit", "b.xml"])
    config = load_config(args, discover=False)
    assert (config.memory, config.jobs, config.candidates) == ("2g", 5, ("wmpure",))
    assert config.reports == Reports(json=tmp_path / "a.json", junit=Path("b.xml"))


@pytest.mark.parametrize("command", ["repro", "minimize", "bisect"])
def test_cell_commands_take_the_input_and_sandbox_flags(command: str) -> None:
    wanted = [o for o in FLAG_OPTIONS if o.group in ("inputs", "sandbox", "common")]
    argv = [command, "--distro", "debian-12", "--arch", "x86_64"]
    argv += ["pkg", "--good", "1", "--bad", "2"] if command == "bisect" else []
    for o in wanted:
        argv += _sample(o)[0]
    args = _parse(argv)
    for o in wanted:
        assert getattr(args, o.argparse_dest) is not None, o.flags[0]
    for o in FLAG_OPTIONS:
        if o.group in ("matrix", "reports"):
            assert not hasattr(args, o.argparse_dest), o.flags[0]


def test_bad_flag_values_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--memory", "4x"], ["--engine", "docker.sock"], ["--cpu", "x86-64-v9"], ["--pids", "0"]):
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args(["validate", "wmpure", *argv])
        assert info.value.code == 2
        assert "error:" in capsys.readouterr().err


def test_importing_the_cli_leaves_the_config_modules_unread() -> None:
    code = (
        "import sys, wheelmatrix.cli; wheelmatrix.cli.build_parser(); "
        "print(sorted(m for m in ('wheelmatrix.config.runfile', 'yaml', 'packaging.requirements') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(RUNNER), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- the run file


def test_unknown_key_fails_with_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "wheelmatrix.yaml"
    path.write_text("candidates: [wmpure]\nscenario: [import]\n")  # the flag's name, not the key
    with pytest.raises(InputError) as info:
        load_run_config(path)
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert str(info.value).startswith(f"{path}:2: unknown key 'scenario' (did you mean 'scenarios'?)")
    assert f"allowed keys here: {', '.join(sorted(KEYS))}" in str(info.value)


def test_pyproject_table_reads_the_same_keys(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.wheelmatrix]\ncandidates = ["wmpure"]\ninstall-timeout = 60\nlink-mode = "copy"\n')
    config = load_run_config(path)
    assert (config.install_timeout_s, config.link_mode) == (60, "copy")
    path.write_text('[tool.wheelmatrix]\nlink_mode = "copy"\n')
    with pytest.raises(
        InputError, match=r"unknown key 'tool.wheelmatrix.link_mode' \(did you mean 'link-mode'"
    ):
        load_run_config(path)


# --------------------------------------------------------------------------- starter and README


def test_starter_has_every_key_with_its_doc_and_default(tmp_path: Path) -> None:
    text = starter_config(tmp_path)
    flat = " ".join(line.lstrip("# ").strip() for line in text.splitlines())
    for o in FILE_OPTIONS:
        assert f"{o.name}: {o.full_doc}. Default: {o.shown_default()}." in flat, o.name
    for o in OPTIONS:
        if not o.in_file:
            assert f"\n# {o.name}:" not in text and f"\n{o.name}:" not in text, o.name
    assert load_run_config(_write(tmp_path, text)) == RunConfig(
        source=(tmp_path / "wheelmatrix.yaml").absolute()
    )


def _write(directory: Path, text: str) -> Path:
    path = directory / "wheelmatrix.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_readme_table_is_the_generated_one() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme_with_table(readme) == readme, "run: python -m wheelmatrix.options --readme README.md"
    table = markdown_table()
    for o in OPTIONS:
        row = next(
            line
            for line in table.splitlines()
            if line.startswith(f"| `{o.name}` |") or o.flags and f"`{o.flags[0]}`" in line
        )
        assert o.shown_default() in row, o.name


def test_readme_without_markers_is_refused() -> None:
    with pytest.raises(InputError, match="no option table markers"):
        readme_with_table("# a README\n")
    assert README_BEGIN in readme_with_table(f"x\n{README_BEGIN}\nold\n{README_END}\ny\n")


def test_a_command_line_loads_only_its_command() -> None:
    """`wheelmatrix scan X` imports the scan command alone (start-up); --help needs them all."""
    import subprocess
    import sys

    code = (
        "import json, sys, wheelmatrix.cli as c; c.build_parser(c._named_command(sys.argv[1:])); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('wheelmatrix.cli.'))))"
    )
    for argv, expect in (
        (["scan", "x.whl"], ["wheelmatrix.cli.scan"]),
        (["--catalog", "run", "distros"], ["wheelmatrix.cli.distros"]),
    ):
        out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
        loaded = json.loads(out.stdout)
        assert [m for m in loaded if m not in ("wheelmatrix.cli.common", "wheelmatrix.cli.options")] == expect
