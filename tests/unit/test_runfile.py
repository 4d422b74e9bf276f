"""The run configuration file (wheelmatrix/config/runfile.py) and its starter (starter.py)."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from wheelmatrix.config._yaml import Node, load_yaml_text
from wheelmatrix.config.runfile import (
    REPORT_KEYS,
    Reports,
    RunConfig,
    check_rule,
    find_config,
    target_selected,
)
from wheelmatrix.config.scenarios import Scenario, default_scenarios_path, load_scenarios
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError
from wheelmatrix.options import KEYS, load_run_config, starter_config

WHEEL_A = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
WHEEL_B = "demo-1.0-cp311-cp311-manylinux_2_17_aarch64.whl"


def write(directory: Path, text: str, name: str = "wheelmatrix.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        load_run_config(path)
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert str(path) in info.value.message
    return str(info.value)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with two wheels in dist/, a test directory and a wheelhouse."""
    (tmp_path / "dist").mkdir()
    for name in (WHEEL_B, WHEEL_A, "demo-1.0.tar.gz"):
        (tmp_path / "dist" / name).write_bytes(b"")
    (tmp_path / "tests").mkdir()
    (tmp_path / "wheelhouse").mkdir()
    return tmp_path


# --------------------------------------------------------------------------- defaults


def test_defaults() -> None:
    config = RunConfig()
    assert (config.candidates, config.companions, config.find_links, config.known_problems) == (
        (),
        (),
        (),
        (),
    )
    assert (config.distros, config.archs, config.pythons, config.include, config.exclude) == ((),) * 5
    assert (config.scenarios, config.scenario_names) == ((), ())
    assert (config.installer, config.link_mode, config.offline, config.gdb) == ("uv", "symlink", False, False)
    assert (config.jobs, config.timeout_s, config.install_timeout_s) == (None, 120.0, 1800.0)
    assert (config.memory, config.pids) == ("4g", 1024)
    assert config.reports == Reports(json=None, junit=None, markdown=None, html=None)
    assert (config.catalog, config.fail_on, config.compare, config.source) == (None, "failure", None, None)


def test_file_with_one_setting_keeps_every_other_default(tmp_path: Path) -> None:
    path = write(tmp_path, "gdb: true\n")
    config = load_run_config(path)
    assert config == RunConfig(gdb=True, source=path.absolute())


def test_empty_mapping_is_all_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "{}\n")
    assert load_run_config(path) == RunConfig(source=path.absolute())


# --------------------------------------------------------------------------- every key


def test_every_key_is_parsed(project: Path) -> None:
    (project / "baseline.json").write_text("{}", encoding="utf-8")
    write(
        project,
        """
        distros:
          mini-1:
            name: Mini 1
            family: debian
            libc: {family: glibc, version: "2.36"}
            python: "3.11"
            archs: [x86_64]
            images: {x86_64: "mini:1"}
        """,
        name="my-distros.yaml",
    )
    path = write(
        project,
        """
        # a complete configuration
        candidates: [dist/*.whl, "otherpkg>=1.0"]
        companions: ["numpy==2.0.2", "dist/demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"]
        find-links: [wheelhouse]
        known-problems: [numpy2-abi-pandas20]
        distros: [debian-12, mini-1]
        archs: [aarch64]
        pythons: ["3.10", "3.11"]
        include: ["debian-*", "mini-1/x86_64"]
        exclude: [debian-13/aarch64, "*/*/3.9"]
        scenarios:
          - symbols
          - name: selftest
            kind: command
            argv: [python, -m, demo.selftest]
            env: {DEMO_LEVEL: 3, DEMO_NAME: x}
            timeout: 30
          - name: tests
            kind: pytest
            sources: tests
            requires: ["hypothesis>=6"]
        installer: pip
        link-mode: copy
        offline: true
        gdb: true
        jobs: 3
        timeout: 12.5
        install-timeout: 600
        memory: 512M
        pids: 64
        reports:
          json: out/report.json
          junit: out/junit.xml
          markdown: out/summary.md
          html: /abs/report.html
          annotations: "-"
          sarif: out/wheelmatrix.sarif
        catalog: my-distros.yaml
        fail-on: regression
        verbose: true
        compare: baseline.json
        engines: [unix:///var/run/docker.sock, tcp://127.0.0.1:2375]
        cpu: [x86-64-v2, armv8.0]
        """,
    )
    config = load_run_config(path)
    assert config.cpus == ("x86-64-v2", "armv8.0")
    dist = project / "dist"
    assert config.candidates == (str(dist / WHEEL_B), str(dist / WHEEL_A), "otherpkg>=1.0")  # sorted
    assert config.companions == ("numpy==2.0.2", str(dist / WHEEL_A))
    assert config.find_links == (project / "wheelhouse",)
    assert config.known_problems == ("numpy2-abi-pandas20",)
    assert config.distros == ("debian-12", "mini-1")
    assert config.archs == ("aarch64",)
    assert config.pythons == ("3.10", "3.11")
    assert config.include == ("debian-*", "mini-1/x86_64")
    assert config.exclude == ("debian-13/aarch64", "*/*/3.9")
    builtins = load_scenarios(default_scenarios_path())
    symbols, selftest, tests = config.scenarios
    assert symbols == builtins["symbols"]
    assert selftest == Scenario(
        name="selftest",
        kind="command",
        description="run python -m demo.selftest",
        argv=("python", "-m", "demo.selftest"),
        env={"DEMO_LEVEL": "3", "DEMO_NAME": "x"},
        timeout_s=30.0,
    )
    assert (tests.name, tests.kind, tests.argv) == ("tests", "pytest", ("{project}",))
    assert tests.requires == ("hypothesis>=6",)
    assert tests.sources == project / "tests"
    assert tests.timeout_s is None and tests.env == {}
    assert (config.installer, config.link_mode, config.offline, config.gdb) == ("pip", "copy", True, True)
    assert (config.jobs, config.timeout_s, config.install_timeout_s) == (3, 12.5, 600.0)
    assert (config.memory, config.pids) == ("512m", 64)
    out = project / "out"
    assert config.reports == Reports(
        json=out / "report.json",
        junit=out / "junit.xml",
        markdown=out / "summary.md",
        html=Path("/abs/report.html"),
        annotations=Path("-"),  # standard output, not a file next to the config
        sarif=out / "wheelmatrix.sarif",
    )
    assert [option for option, _ in config.reports.requested()] == list(REPORT_KEYS)
    assert config.catalog == project / "my-distros.yaml"
    assert config.fail_on == "regression"
    assert config.verbose is True
    assert config.compare == project / "baseline.json"
    assert config.engines == ("unix:///var/run/docker.sock", "tcp://127.0.0.1:2375")
    assert config.source == path.absolute()
    assert set(KEYS) == {
        "engines",
        "registry-mirror",
        "cpu",
        "candidates",
        "companions",
        "find-links",
        "known-problems",
        "distros",
        "archs",
        "pythons",
        "include",
        "exclude",
        "scenarios",
        "installer",
        "link-mode",
        "offline",
        "gdb",
        "strict-warnings",
        "jobs",
        "timeout",
        "install-timeout",
        "memory",
        "pids",
        "reports",
        "catalog",
        "fail-on",
        "verbose",
        "compare",
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        ("known-problems: true\n", ("all",)),
        ("known-problems: false\n", ()),
        ("known-problems: [all]\n", ("all",)),
    ],
    ids=["true", "false", "all"],
)
def test_known_problems_forms(tmp_path: Path, text: str, expected: tuple[str, ...]) -> None:
    assert load_run_config(write(tmp_path, text)).known_problems == expected


@pytest.mark.parametrize("text", ["jobs: auto\n", "jobs:\n"], ids=["auto", "null"])
def test_jobs_auto(tmp_path: Path, text: str) -> None:
    assert load_run_config(write(tmp_path, text)).jobs is None


def test_globs_are_relative_to_the_file_not_the_cwd(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "dist").mkdir()
    (elsewhere / "dist" / "decoy-1.0-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"")
    path = write(project, "candidates: [dist/*x86_64.whl]\nfind-links: [wheelhouse]\n")
    monkeypatch.chdir(elsewhere)
    config = load_run_config(path)
    assert config.candidates == (str(project / "dist" / WHEEL_A),)
    assert config.find_links == (project / "wheelhouse",)
    # a relative path to the file works too and still resolves against the file's directory
    monkeypatch.chdir(project.parent)
    config = load_run_config(Path(project.name) / path.name)
    assert config.candidates == (str(project / "dist" / WHEEL_A),)
    assert Path(config.candidates[0]).is_absolute()


def test_globs_do_not_match_directories_and_drop_duplicates(project: Path) -> None:
    (project / "dist" / "sub.whl").mkdir()
    path = write(project, f"candidates: [dist/*.whl, dist/{WHEEL_A}]\n")
    assert load_run_config(path).candidates == (
        str(project / "dist" / WHEEL_B),
        str(project / "dist" / WHEEL_A),
    )


def test_glob_matching_nothing(project: Path) -> None:
    path = write(project, "installer: uv\ncandidates:\n  - dist/*.whl\n  - build/*.whl\n")
    message = load_error(path)
    assert f"{path}:4: 'candidates[1]': 'build/*.whl' matches no file" in message
    assert "build the wheels first (e.g. `python -m build`)" in message


def test_missing_wheel_file(project: Path) -> None:
    path = write(project, "companions: [dist/nope-1.0-py3-none-any.whl]\n")
    message = load_error(path)
    assert f"{path}:1: 'companions[0]': no such file 'dist/nope-1.0-py3-none-any.whl'" in message


def test_a_directory_named_like_a_requirement_is_not_a_path(project: Path) -> None:
    (project / "demo").mkdir()  # the source package next to the file
    path = write(project, "candidates: [demo, ./dist/*x86_64.whl]\n")
    assert load_run_config(path).candidates == ("demo", str(project / "dist" / WHEEL_A))


def test_other_toml_files_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "gdb = true\n", name="wheelmatrix.toml")
    assert "pyproject.toml's [tool.wheelmatrix] table" in load_error(path)


def test_bad_requirement_in_candidates(tmp_path: Path) -> None:
    path = write(tmp_path, "# reqs\ncandidates: ['numpy >= = 2']\n")
    message = load_error(path)
    assert f"{path}:2: 'candidates[0]'" in message and "not a valid requirement" in message


# --------------------------------------------------------------------------- errors, with lines


def test_unknown_key_with_line_and_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        # wheelmatrix settings
        candidates: ["numpy"]

        installer: uv
        timout: 30
        """,
    )
    message = load_error(path)
    assert message.startswith(f"{path}:5: unknown key 'timout' (did you mean 'timeout'?)")
    assert "hint: allowed keys here: archs, candidates, catalog, companions, compare" in message


@pytest.mark.parametrize(
    "line, expected",
    [
        ("timeout: -5", "'timeout': -5 is out of range (must be more than 0, at most 86400)"),
        ("timeout: soon", "'timeout' must be a number, got str"),
        ("install-timeout: 0", "'install-timeout': 0 is out of range (must be more than 0"),
        ("jobs: 0", "'jobs': 0 is out of range (must be at least 1, at most 1024)"),
        ("jobs: many", "'jobs' must be a whole number or 'auto'"),
        ("jobs: 2.5", "'jobs' must be a whole number, got float"),
        ("pids: true", "'pids' must be a whole number, got bool"),
        ("archs: [x86_64, arm]", "'archs[1]': unknown arch 'arm'"),
        ("archs: x86_64", "'archs' must be a list of strings, got str"),
        ("memory: lots", "'memory': 'lots' is not a memory size"),
        ("pythons: [3.1]", "'pythons[0]' is the number 3.1 in YAML; quote it"),
        ("pythons: ['3']", "'pythons[0]': '3' is not a MAJOR.MINOR Python version"),
        ("installer: conda", "'installer': 'conda' is not one of uv, pip"),
        ("link-mode: hardlink", "'link-mode': 'hardlink' is not one of symlink, copy"),
        ("fail-on: regresion", "(did you mean 'regression'?)"),
        ("offline: yes please", "'offline' must be true or false"),
        ("distros: [debain-12]", "'distros[0]': unknown distro 'debain-12' (did you mean 'debian-12'?)"),
        ("known-problems: [numpy2-abi-pandas]", "unknown known-problem set 'numpy2-abi-pandas'"),
        ("known-problems: [all, numpy2-abi-pandas20]", "'all' already includes every set"),
        ("known-problems: 3", "must be true (all sets), false, or a list of set ids"),
        ("include: ['debian-13//3.11']", "'include[0]': 'debian-13//3.11': a rule cannot have an empty part"),
        ("exclude: ['a/b/c/d']", "'exclude[0]': 'a/b/c/d': a rule has at most 3 parts"),
        ("exclude: ['debian-*/arm64']", "unknown arch 'arm64'"),
        ("include: ['debain-*']", "'include[0]': 'debain-*' matches no distro in the catalog"),
        ("find-links: [wheels]", "'find-links[0]': 'wheels' does not exist"),
        ("catalog: nope.yaml", "'catalog': 'nope.yaml' does not exist"),
        ("compare: baseline.json", "'compare': 'baseline.json' does not exist"),
        ("reports: {jsn: r.json}", "unknown key 'reports.jsn' (did you mean 'json'?)"),
        ("reports: r.json", "reports must be a mapping, got str"),
        ("scenarios: import", "'scenarios' must be a list, got str"),
        ("scenarios: [imprt]", "'scenarios[0]': unknown scenario 'imprt' (did you mean 'import'?)"),
        ("scenarios: [import, import]", "'scenarios[1]': scenario 'import' is listed twice"),
        ("scenarios: [3]", "'scenarios[0]' must be the name of a built-in scenario or a mapping"),
        ("candidates: [dist/*.whl]", "'candidates[0]': 'dist/*.whl' matches no file"),
    ],
)
def test_bad_values_name_file_line_and_key(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, f"# settings\ngdb: false\n{line}\n# the end\n")
    message = load_error(path)
    assert f"{path}:3: " in message, message
    assert expected in message, message


def test_error_in_a_nested_list_names_the_item_line(tmp_path: Path) -> None:
    path = write(tmp_path, "archs:\n  - x86_64\n  - aarch64\n  - armv7\n")
    assert f"{path}:4: 'archs[2]': unknown arch 'armv7'" in load_error(path)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- candidates\n", ":1: a run configuration must be a mapping of settings, got a list"),
        ("just text\n", "a run configuration must be a mapping of settings, got str"),
        ("a: [1\n", "invalid YAML"),
        ("gdb: true\ngdb: false\n", "duplicate key 'gdb' (first defined at line 1)"),
    ],
    ids=["empty", "comment", "list", "scalar", "syntax", "duplicate"],
)
def test_not_a_mapping(tmp_path: Path, content: str, expected: str) -> None:
    assert expected in load_error(write(tmp_path, content))


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in load_error(tmp_path / "wheelmatrix.yaml")


# --------------------------------------------------------------------------- pyproject.toml


def test_pyproject_table(project: Path) -> None:
    path = write(
        project,
        """
        [project]
        name = "demo"

        [tool.wheelmatrix]
        candidates = ["dist/*aarch64.whl"]
        pythons = ["3.12"]
        timeout = 60
        offline = true
        find-links = ["wheelhouse"]
        scenarios = [
          "import",
          {name = "tests", kind = "pytest", sources = "tests", argv = ["{project}", "-q"]},
        ]

        [tool.wheelmatrix.reports]
        junit = "junit.xml"
        """,
        name="pyproject.toml",
    )
    config = load_run_config(path)
    assert config.candidates == (str(project / "dist" / WHEEL_B),)
    assert (config.pythons, config.timeout_s, config.offline) == (("3.12",), 60.0, True)
    assert config.reports.junit == project / "junit.xml"
    assert [s.name for s in config.scenarios] == ["import", "tests"]
    assert config.scenarios[1].argv == ("{project}", "-q")
    assert config.source == path.absolute()


@pytest.mark.parametrize(
    "table, expected",
    [
        ("timout = 3", "unknown key 'tool.wheelmatrix.timout' (did you mean 'timeout'?)"),
        ("pythons = [3.10]", "'tool.wheelmatrix.pythons[0]' is the number 3.1 in TOML; quote it"),
        ("jobs = 0", "'tool.wheelmatrix.jobs': 0 is out of range (must be at least 1"),
        ("reports = {xml = 'a'}", "unknown key 'tool.wheelmatrix.reports.xml'"),
    ],
)
def test_pyproject_errors_name_the_dotted_key(tmp_path: Path, table: str, expected: str) -> None:
    path = write(tmp_path, f"[tool.wheelmatrix]\n{table}\n", name="pyproject.toml")
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_pyproject_without_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, '[project]\nname = "demo"\n[tool.other]\nx = 1\n', name="pyproject.toml")
    assert "no [tool.wheelmatrix] table" in load_error(path)


def test_pyproject_invalid_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[tool.wheelmatrix]\ntimeout = = 3\n", name="pyproject.toml")
    assert "invalid TOML" in load_error(path)


# --------------------------------------------------------------------------- find_config


def test_find_config_precedence(tmp_path: Path) -> None:
    assert find_config(tmp_path) is None
    write(tmp_path, '[project]\nname = "demo"\n', name="pyproject.toml")
    assert find_config(tmp_path) is None  # no [tool.wheelmatrix]
    write(tmp_path, '[project]\nname = "demo"\n[tool.wheelmatrix]\ngdb = true\n', name="pyproject.toml")
    assert find_config(tmp_path) == tmp_path / "pyproject.toml"
    write(tmp_path, "gdb: true\n", name="wheelmatrix.yml")
    assert find_config(tmp_path) == tmp_path / "wheelmatrix.yml"
    write(tmp_path, "gdb: true\n", name="wheelmatrix.yaml")
    assert find_config(tmp_path) == tmp_path / "wheelmatrix.yaml"


def test_find_config_dotted_table_and_unrelated_mentions(tmp_path: Path) -> None:
    write(tmp_path, '[project]\ndescription = "not wheelmatrix"\n', name="pyproject.toml")
    assert find_config(tmp_path) is None
    write(tmp_path, "[tool]\nwheelmatrix.gdb = true\n", name="pyproject.toml")
    assert find_config(tmp_path) == tmp_path / "pyproject.toml"
    assert load_run_config(tmp_path / "pyproject.toml").gdb is True


# --------------------------------------------------------------------------- include / exclude


@pytest.mark.parametrize(
    "target, include, exclude, kept",
    [
        (("debian-13", "aarch64", "3.13"), [], [], True),
        (("debian-13", "aarch64", "3.13"), [], ["debian-13/aarch64"], False),
        (("debian-13", "x86_64", "3.13"), [], ["debian-13/aarch64"], True),
        (("debian-12", "aarch64", "3.11"), [], ["debian-13/aarch64"], True),
        (("debian-12", "aarch64", "3.11"), ["debian-*"], [], True),
        (("ubuntu-24.04", "x86_64", "3.12"), ["debian-*"], [], False),
        (("ubuntu-24.04", "x86_64", "3.12"), ["debian-*", "ubuntu-*/x86_64"], [], True),
        (("ubuntu-24.04", "aarch64", "3.12"), ["debian-*", "ubuntu-*/x86_64"], [], False),
        (("debian-12", "aarch64", "3.11"), [], ["debian-*/*/3.11"], False),
        (("debian-11", "aarch64", "3.9"), [], ["debian-*/*/3.11"], True),
        (("fedora-41", "x86_64", "3.13"), ["*/*/3.1[23]"], [], True),
        (("debian-11", "x86_64", "3.9"), ["*/*/3.1[23]"], [], False),
        (("debian-12", "x86_64", "3.11"), ["debian-12"], ["debian-12/x86_64/3.11"], False),
        (("debian-12", "x86_64", "3.11"), ["debian-1?"], [], True),
        (("debian-1", "x86_64", "3.11"), ["debian-1?"], [], False),
        (("Debian-12", "x86_64", "3.11"), ["debian-12"], [], False),  # case-sensitive
    ],
)
def test_target_selected(
    target: tuple[str, str, str], include: list[str], exclude: list[str], kept: bool
) -> None:
    distro, arch, python = target
    assert target_selected(distro, arch, python, include, exclude) is kept


def test_target_selected_debian_13_aarch64_example() -> None:
    targets = [(d, a, "3.x") for d in ("debian-12", "debian-13") for a in ("x86_64", "aarch64")]
    kept = [(d, a) for d, a, p in targets if target_selected(d, a, p, [], ["debian-13/aarch64"])]
    assert kept == [("debian-12", "x86_64"), ("debian-12", "aarch64"), ("debian-13", "x86_64")]
    kept = [(d, a) for d, a, p in targets if target_selected(d, a, p, ["debian-13/aarch64"], [])]
    assert kept == [("debian-13", "aarch64")]


@pytest.mark.parametrize(
    "rule", ["debian-13", "debian-13/aarch64", "debian-*/*/3.11", "*", "*/x86_64", "a/*/3.1?"]
)
def test_check_rule_accepts(rule: str) -> None:
    check_rule(rule)


@pytest.mark.parametrize(
    "rule, expected",
    [
        ("", "empty part"),
        ("debian-13/", "empty part"),
        ("/aarch64", "empty part"),
        ("a/x86_64/3.11/extra", "at most 3 parts"),
        ("debian-13/arm", "unknown arch 'arm'"),
        ("debian-13/x86_64/3", "'3' is not a MAJOR.MINOR Python version"),
    ],
)
def test_check_rule_refuses(rule: str, expected: str) -> None:
    with pytest.raises(InputError) as info:
        check_rule(rule)
    assert expected in info.value.message
    assert info.value.hint is not None and "DISTRO[/ARCH[/PYTHON]]" in info.value.hint


# --------------------------------------------------------------------------- override


def test_override_ignores_none_and_converts_lists() -> None:
    base = RunConfig(timeout_s=30.0, distros=("debian-12",), jobs=4)
    changed = base.override(timeout_s=None, jobs=None, distros=["debian-13"], gdb=True, memory=None)
    assert changed == dataclasses.replace(base, distros=("debian-13",), gdb=True)
    assert isinstance(changed.distros, tuple)
    assert base.distros == ("debian-12",) and base.gdb is False  # unchanged
    assert base.override() == base


def test_override_false_and_zero_are_values() -> None:
    base = RunConfig(offline=True, gdb=True)
    assert base.override(offline=False).offline is False
    assert base.override(candidates=()).candidates == ()


def test_override_unknown_name() -> None:
    with pytest.raises(TypeError, match="timeout"):
        RunConfig().override(timeout=3)
    with pytest.raises(TypeError):
        RunConfig().override(jobs=2, nonsense=None)  # unknown even when None


def test_run_config_is_frozen_and_hashable() -> None:
    config = RunConfig(
        scenarios=(Scenario(name="c", kind="command", description="d", argv=("x",), env={"A": "1"}),)
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.jobs = 3  # type: ignore[misc]
    assert hash(config) == hash(dataclasses.replace(config))


# --------------------------------------------------------------------------- scenarios


def test_scenario_selection() -> None:
    builtins = load_scenarios(default_scenarios_path())
    custom = Scenario(name="selftest", kind="command", description="d", argv=("true",))
    assert RunConfig().selected_scenarios(builtins) == [builtins["import"], builtins["symbols"]]
    assert RunConfig(scenario_names=("commands",)).selected_scenarios(builtins) == [builtins["commands"]]
    config = RunConfig(scenarios=(builtins["symbols"], custom))
    assert config.selected_scenarios(builtins) == [builtins["symbols"], custom]
    assert config.override(scenario_names=["selftest"]).selected_scenarios(builtins) == [custom]
    assert config.override(scenario_names=["import"]).selected_scenarios(builtins) == [builtins["import"]]
    with pytest.raises(InputError, match="did you mean 'selftest'"):
        config.override(scenario_names=["selftset"]).selected_scenarios(builtins)


def test_pytest_scenario_with_explicit_argv_and_absolute_sources(tmp_path: Path, project: Path) -> None:
    path = write(
        tmp_path,
        f"""
        scenarios:
          - name: unit
            kind: pytest
            sources: {project / "tests"}
            argv: ["{{project}}/unit", "-x", "-k", "not slow"]
            env: {{OMP_NUM_THREADS: "1", EMPTY: ""}}
            timeout: 900
            description: the unit tests
        """,
    )
    (scenario,) = load_run_config(path).scenarios
    assert scenario.sources == project / "tests"
    assert scenario.argv == ("{project}/unit", "-x", "-k", "not slow")
    assert scenario.env == {"OMP_NUM_THREADS": "1", "EMPTY": ""}
    assert (scenario.timeout_s, scenario.description) == (900.0, "the unit tests")


def test_pytest_scenario_without_sources_runs_installed_tests(tmp_path: Path) -> None:
    path = write(tmp_path, "scenarios:\n  - {name: t, kind: pytest, argv: [--pyargs, demo]}\n")
    (scenario,) = load_run_config(path).scenarios
    assert (scenario.sources, scenario.argv, scenario.requires) == (None, ("--pyargs", "demo"), ())


SCENARIO_ERRORS = [
    ("{name: t, kind: pytest, sources: missing}", 4, "'scenarios[1].sources': no such directory 'missing'"),
    ("{name: t, kind: pytest, sources: wheelmatrix.yaml}", 4, "'wheelmatrix.yaml' is not a directory"),
    ("{name: t, kind: pytest}", 4, "a pytest scenario needs 'scenarios[1].sources'"),
    ("{name: t, kind: pytest, argv: ['{project}']}", 4, "uses {project}"),
    ("{name: t, kind: command}", 4, "a command scenario needs a non-empty 'scenarios[1].argv'"),
    ("{name: t, kind: command, argv: []}", 4, "a command scenario needs a non-empty"),
    ("{name: t, kind: command, argv: 'python -V'}", 4, "must be a list of strings (one per argument)"),
    ("{name: t, kind: command, argv: [x], requires: [y]}", 4, "only kind pytest takes it"),
    ("{name: t, kind: import, timeout: 3}", 4, "unknown key 'scenarios[1].timeout' for kind 'import'"),
    (
        "{name: t, kind: command, argv: [x], timeout: 0}",
        4,
        "'scenarios[1].timeout': 0 is out of range (must be more than 0",
    ),
    ("{name: t, kind: command, argv: [x], env: {1X: a}}", 4, "not a valid environment variable name"),
    ("{name: t, kind: command, argv: [x], env: {X: true}}", 4, "'scenarios[1].env.X' must be a string"),
    ("{name: t, kind: pytest, argv: [x], requires: ['a b c']}", 4, "'scenarios[1].requires[0]'"),
    ("{name: t, kind: shell, argv: [x]}", 4, "unknown kind 'shell'"),
    ("{name: t, argv: [x]}", 4, "missing required key 'scenarios[1].kind'"),
    ("{kind: command, argv: [x]}", 4, "missing required key 'scenarios[1].name'"),
    ("{name: '', kind: command, argv: [x]}", 4, "'scenarios[1].name' must be a non-empty string"),
    ("{name: 'a b', kind: command, argv: [x]}", 4, "scenario name 'a b' must start with"),
    ("{name: symbols, kind: command, argv: [x]}", 4, "'symbols' is the name of a built-in scenario"),
    ("{name: t, kind: command, argv: [x], timout: 3}", 4, "unknown key 'scenarios[1].timout'"),
]


@pytest.mark.parametrize("item, line, expected", SCENARIO_ERRORS)
def test_bad_scenario_items(tmp_path: Path, item: str, line: int, expected: str) -> None:
    path = write(tmp_path, f"gdb: false\nscenarios:\n  - import\n  - {item}\n")
    message = load_error(path)
    assert f"{path}:{line}: " in message, message
    assert expected in message, message


def test_scenario_error_in_block_mapping_names_the_key_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        scenarios:
          - name: t
            kind: pytest
            requires: [pytest-xdist]
            sources: tset
        """,
    )
    assert f"{path}:5: 'scenarios[0].sources': no such directory 'tset'" in load_error(path)


def test_duplicate_inline_scenario(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scenarios:\n  - {name: t, kind: command, argv: [a]}\n  - {name: t, kind: command, argv: [b]}\n",
    )
    assert f"{path}:3: 'scenarios[1]': scenario 't' is listed twice" in load_error(path)


# --------------------------------------------------------------------------- the YAML layer


def test_load_yaml_text_offsets_lines(tmp_path: Path) -> None:
    doc = load_yaml_text("a: 1\nb:\n  c: x\n", tmp_path / "f.md", line_offset=10)
    node = Node(tmp_path / "f.md", "", doc)
    assert (node.line("a"), node.line("b"), node.child("b").line("c")) == (11, 12, 13)
    assert node.line("missing") == 11  # the mapping's own line
    with pytest.raises(InputError, match="at line 13"):
        load_yaml_text("a: 1\nb: [\n", tmp_path / "f.md", line_offset=10)


def test_node_error_helper(tmp_path: Path) -> None:
    node = Node(tmp_path / "f.yaml", "", load_yaml_text("x: 1\nitems:\n  - a\n  - b\n", tmp_path / "f.yaml"))
    assert node.error("items", "bad", index=1).message == f"{tmp_path / 'f.yaml'}:4: bad"
    assert node.error("x", "bad", hint="h").hint == "h"
    plain = Node(tmp_path / "p.toml", "tool.x", {"x": 1})
    assert plain.line("x") is None
    assert plain.error("x", "bad").message == f"{tmp_path / 'p.toml'}: bad"


def test_missing_key_names_the_mapping_line(tmp_path: Path) -> None:
    doc = load_yaml_text("top: 1\ninner:\n  a: 1\n  b: 2\n", tmp_path / "f.yaml")
    node = Node(tmp_path / "f.yaml", "", doc).child("inner")
    with pytest.raises(InputError) as info:
        node.check_keys(["a", "b", "c"])
    assert info.value.message == f"{tmp_path / 'f.yaml'}:2: missing required key 'inner.c'"


# --------------------------------------------------------------------------- the starter file


def test_starter_loads_without_pyproject_or_dist(tmp_path: Path) -> None:
    text = starter_config(tmp_path)
    assert "# candidates: [dist/*.whl]" in text and "python -m build" in text
    path = write(tmp_path, text)
    config = load_run_config(path)
    assert config == RunConfig(source=path.absolute())  # everything commented: all defaults


def test_starter_documents_every_key(tmp_path: Path) -> None:
    text = starter_config(tmp_path)
    for key in KEYS:
        assert f"# {key}:" in text or f"\n{key}:" in text, key
    for default in ("installer: uv", "timeout: 120", "install-timeout: 1800", "memory: 4g", "pids: 1024"):
        assert default in text


def test_starter_from_pyproject_and_dist(project: Path) -> None:
    write(
        project,
        """
        [project]
        name = "demo"
        requires-python = ">=3.9"

        [tool.cibuildwheel]
        test-command = "pytest {project}/tests -x"
        test-requires = ["pytest", "hypothesis>=6"]
        """,
        name="pyproject.toml",
    )
    text = starter_config(project)
    assert "for demo" in text
    assert "\ncandidates: [dist/*.whl]" in text
    path = write(project, text)
    config = load_run_config(path)
    assert config.candidates == (str(project / "dist" / WHEEL_B), str(project / "dist" / WHEEL_A))
    assert "3.6" not in config.pythons and "3.8" not in config.pythons and "3.9" in config.pythons
    assert [s.name for s in config.scenarios] == ["import", "symbols", "cibuildwheel"]
    tests = config.scenarios[2]
    assert tests.kind == "cibuildwheel" and tests.cibuildwheel is not None
    assert tests.cibuildwheel.root == project.resolve()
    assert "#   test-command: pytest {project}/tests -x" in text  # says where the tests come from
    assert "#   test-requires: pytest hypothesis>=6" in text


@pytest.mark.parametrize(
    "command",
    ['"python -m demo.selftest"', '["python -m pytest --pyargs demo"]', '"cd {project} && pytest"'],
)
def test_starter_runs_any_test_command_through_the_cibuildwheel_kind(project: Path, command: str) -> None:
    write(
        project,
        f'[project]\nname = "demo"\n[tool.cibuildwheel]\ntest-command = {command}\n',
        name="pyproject.toml",
    )
    text = starter_config(project)
    config = load_run_config(write(project, text))
    scenario = config.scenarios[-1]
    assert scenario.kind == "cibuildwheel" and "[tool.cibuildwheel] in pyproject.toml" in text


def test_starter_says_why_broken_cibuildwheel_settings_were_left_out(project: Path) -> None:
    write(
        project,
        '[project]\nname = "demo"\n[tool.cibuildwheel]\n'
        'test-command = "pytest"\ntest-requires = "-r gone.txt"\n',
        name="pyproject.toml",
    )
    text = starter_config(project)
    assert "could not be read" in text and "gone.txt does not exist" in text
    assert load_run_config(write(project, text)).scenarios == ()


def test_starter_survives_a_broken_pyproject(tmp_path: Path) -> None:
    write(tmp_path, "[project\nname=", name="pyproject.toml")
    text = starter_config(tmp_path)
    assert tmp_path.name in text
    load_run_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[x86-64-v9]", r"unknown CPU level 'x86-64-v9'"),
        ("[x86-64-v4]", r"cannot run here: QEMU 7.2's TCG does not emulate AVX-512"),
        ("[armv8]", r"unknown CPU level 'armv8'"),
    ],
)
def test_bad_cpu_levels_are_named(project: Path, value: str, message: str) -> None:
    path = write(project, f"candidates: [dist/*.whl]\ncpu: {value}\n")
    with pytest.raises(InputError, match=message) as err:
        load_run_config(path)
    assert "wheelmatrix.yaml" in str(err.value) and "cpu[0]" in str(err.value)
