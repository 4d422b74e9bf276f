"""Hostile run configurations, catalogs and numeric flags: every one is a user error (exit 2,
no traceback, the message names the file and line or the flag, and the allowed range), through
the real CLI in a bounded subprocess; and a property test of the run-file reader."""

from __future__ import annotations

import glob
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wheelmatrix.config.runfile as runfile
from tests.fixtures.bounded_cli import assert_input_error, run_cli
from wheelmatrix.config.limits import JOBS, MEMORY, PIDS, SECONDS, SHARDS, Bounds, memory_bytes
from wheelmatrix.config.runfile import RunConfig, bounded_glob
from wheelmatrix.errors import InputError
from wheelmatrix.options import KEYS, OPTIONS, load_run_config, markdown_table

Case = Callable[[Path], tuple[list[str], list[str]]]
NINES = "9" * 5000


def yaml_case(text: str, *expected: str) -> Case:
    def make(tmp: Path) -> tuple[list[str], list[str]]:
        (tmp / "wheelmatrix.yaml").write_text(f"candidates: [wmpure]\n{text}\n")
        return ["plan", "-c", "wheelmatrix.yaml"], ["wheelmatrix.yaml", *expected]

    return make


def flag_case(*argv: str, expected: tuple[str, ...]) -> Case:
    return lambda tmp: (["plan", "wmpure", *argv], list(expected))


def deep_pyproject(discovered: bool) -> Case:
    def make(tmp: Path) -> tuple[list[str], list[str]]:
        (tmp / "pyproject.toml").write_text(f"[tool.wheelmatrix]\ncandidates = {'[' * 3000}{']' * 3000}\n")
        argv = ["plan"] if discovered else ["plan", "-c", "pyproject.toml"]
        return argv, ["pyproject.toml", "nested too deeply"]

    return make


def long_toml_int(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "pyproject.toml").write_text(f'[tool.wheelmatrix]\ncandidates = ["wmpure"]\npids = {NINES}\n')
    return ["plan"], ["pyproject.toml", "a number is too long"]


def catalog_case(text: str, *expected: str) -> Case:
    def make(tmp: Path) -> tuple[list[str], list[str]]:
        (tmp / "c.yaml").write_text(text)
        return ["--catalog", "c.yaml", "plan", "wmpure"], ["c.yaml", *expected]

    return make


DISTRO = (
    "distros:\n  foo-1: {name: x, libc: {family: glibc, version: '2.36'}, python: '3.11', archs: [x86_64],"
    " images: {x86_64: 'a'}, family: debian}\n"
)

CASES: dict[str, Case] = {
    "tag-float": yaml_case("timeout: !!float abc", "line 2", "'abc' is not a valid float"),
    "tag-int": yaml_case("pids: !!int _", "line 2", "'_' is not a valid int"),
    "tag-bool": yaml_case("offline: !!bool maybe", "line 2", "'maybe' is not a valid bool"),
    "tag-timestamp": yaml_case("timeout: !!timestamp abc", "line 2", "'abc' is not a valid timestamp"),
    "impossible-date": yaml_case("timeout: 2023-02-30", "line 2", "day is out of range for month"),
    "5000-digit-int": yaml_case(f"pids: {NINES}", "line 2", "too long for a number"),
    "nan-timeout": yaml_case("timeout: .nan", ":2: 'timeout': nan is not a finite number", "at most 86400"),
    "inf-timeout": yaml_case("install-timeout: .inf", ":2: 'install-timeout': inf is not a finite"),
    "huge-memory": yaml_case(f'memory: "{NINES}"', ":2: 'memory'", "out of range", "to 1024g"),
    "tiny-memory": yaml_case("memory: 4k", ":2: 'memory': '4k' is out of range", "6m"),
    "huge-pids": yaml_case(f"pids: {10**24}", ":2: 'pids'", "out of range", "at most 4194304"),
    "huge-jobs": yaml_case("jobs: 100000", ":2: 'jobs': 100000 is out of range", "at most 1024"),
    "scenario-timeout": yaml_case(
        "scenarios:\n  - {name: t, kind: command, argv: [x], timeout: .inf}",
        ":3: 'scenarios[0].timeout': inf is not a finite number",
    ),
    "no-such-user": yaml_case("find-links: ['~nosuchuser-wm/x']", ":2", "'~nosuchuser-wm'", "no such user"),
    "nul-in-path": yaml_case('catalog: "a\\0b.yaml"', ":2: 'catalog'", "NUL byte"),
    "nul-in-report": yaml_case('reports: {json: "r\\0.json"}', "'reports.json'", "NUL byte"),
    "glob-whole-host": yaml_case(
        "find-links: [.]\ncompanions: ['/**/x*.whl']",
        ":3: 'companions[0]'",
        "outside the run file's directory",
    ),
    "deep-pyproject-discovered": deep_pyproject(discovered=True),
    "deep-pyproject": deep_pyproject(discovered=False),
    "toml-5000-digits": long_toml_int,
    "flag-nan": flag_case("--timeout", "nan", expected=("--timeout", "nan is not a finite number")),
    "flag-inf": flag_case("--timeout", "inf", expected=("--timeout", "inf is not a finite number")),
    "flag-memory": flag_case("--memory", NINES, expected=("--memory", "out of range")),
    "flag-pids": flag_case("--pids", "5000000", expected=("--pids", "out of range", "4194304")),
    "flag-jobs": flag_case("--jobs", NINES, expected=("--jobs", "not a whole number")),
    "flag-shards": flag_case("--shards", "100000000", expected=("--shards", "out of range", "at most 1000")),
    "catalog-int-family": catalog_case(
        "families:\n  1: {python_packages: [], install: [x]}\n" + DISTRO, "the family name 1 must be a string"
    ),
    "catalog-schema": catalog_case("schema: 999\n" + DISTRO, ":1", "schema 1"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_config_exits_2_naming_the_input(name: str, tmp_path: Path) -> None:
    argv, expected = CASES[name](tmp_path)
    assert_input_error(run_cli(argv, tmp_path), *expected)


def test_run_shard_out_of_range_is_an_input_error(tmp_path: Path) -> None:
    outcome = run_cli(["run", "wmpure", "--distro", "debian-12", "--shard", f"1/{NINES}"], tmp_path)
    assert_input_error(outcome, "--shard", "at most 1000")


def test_the_control_config_plans(tmp_path: Path) -> None:
    """The harness itself: the same file with sane values is read and planned (exit 0)."""
    (tmp_path / "wheelmatrix.yaml").write_text("candidates: [wmpure]\ntimeout: 30\nmemory: 6m\npids: 64\n")
    outcome = run_cli(
        ["plan", "-c", "wheelmatrix.yaml", "--distro", "debian-12", "--shards", "1000"], tmp_path
    )
    assert outcome.rc == 0, outcome.stderr


# --------------------------------------------------------------------------- bounds


def test_every_numeric_setting_has_bounds_shown_in_the_table() -> None:
    numeric = [o for o in OPTIONS if o.parse in ("seconds", "count", "jobs", "memory")]
    assert {o.name for o in numeric} == {"jobs", "timeout", "install-timeout", "memory", "pids"}
    table = markdown_table()
    for o in numeric:
        assert o.bounds is not None, o.name
        assert o.bounds.describe() in table, o.name


@pytest.mark.parametrize(
    "bounds, good, bad",
    [
        (SECONDS, [0.001, 86_400], [0, -1, 86_400.5, math.nan, math.inf, -math.inf]),
        (JOBS, [1, 1024], [0, 1025, 1.5, 10**5000]),
        (PIDS, [1, 4_194_304], [0, 4_194_305, 10**24]),
        (SHARDS, [1, 1000], [0, 1001]),
    ],
)
def test_bounds(bounds: Bounds, good: list[float], bad: list[float]) -> None:
    assert [bounds.problem(v) for v in good] == [None] * len(good)
    assert all(bounds.problem(v) for v in bad)


def test_memory_sizes() -> None:
    assert memory_bytes("4g") == 4 << 30 and memory_bytes("512M") == 512 << 20 and memory_bytes("7") == 7
    assert [memory_bytes(t) for t in ("", "g", "4x", "-4g", "4.5g", "٤g")] == [None] * 6
    assert memory_bytes(NINES) == MEMORY.high + 1


# --------------------------------------------------------------------------- globs


def _tree(root: Path) -> None:
    for rel in ("dist/a-1.whl", "dist/sub/b-1.whl", "dist/.hidden/c-1.whl", "dist/sub/deep/d-1.whl", "e.whl"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")


@pytest.mark.parametrize(
    "pattern", ["dist/*.whl", "dist/**/*.whl", "**/*.whl", "dist/*/*.whl", "*.whl", "d*/s*/*"]
)
def test_bounded_glob_finds_what_glob_finds(tmp_path: Path, pattern: str) -> None:
    _tree(tmp_path)
    expected = sorted(m for m in glob.glob(str(tmp_path / pattern), recursive=True) if os.path.isfile(m))
    assert bounded_glob(str(tmp_path / pattern), tmp_path) == expected
    assert expected  # the comparison means something


def test_bounded_glob_stops_after_its_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path)
    monkeypatch.setattr(runfile, "GLOB_DIRECTORIES", 2)
    with pytest.raises(InputError, match="visited more than 2 directories"):
        bounded_glob(str(tmp_path / "**/*.whl"), tmp_path)
    monkeypatch.setattr(runfile, "GLOB_DIRECTORIES", 100)
    monkeypatch.setattr(runfile, "GLOB_MATCHES", 2)
    with pytest.raises(InputError, match="matches more than 2 files"):
        bounded_glob(str(tmp_path / "**/*.whl"), tmp_path)


def test_double_star_outside_the_config_directory_is_refused(tmp_path: Path) -> None:
    _tree(tmp_path)
    with pytest.raises(InputError, match="outside the run file's directory"):
        bounded_glob(str(tmp_path / "**/*.whl"), tmp_path / "dist")
    assert bounded_glob(str(tmp_path / "*.whl"), tmp_path / "dist") == [str(tmp_path / "e.whl")]


# --------------------------------------------------------------------------- property


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["auto", "4g", "9" * 120, "~nobody-wm/x", "a\0b", "*.whl", "**/x", "-", "wmpure", "3.11"]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
TAGGED = st.sampled_from(
    [
        "!!float abc",
        "!!int _",
        "!!bool maybe",
        "!!timestamp abc",
        "2023-02-30",
        "!!binary '@@'",
        "!!null x",
        ".nan",
    ]
)


@st.composite
def run_files(draw: st.DrawFn) -> str:
    keys = draw(st.lists(st.sampled_from(KEYS) | st.text(min_size=1, max_size=6), max_size=4, unique=True))
    doc: dict[str, Any] = {key: draw(VALUES) for key in keys}
    text = yaml.safe_dump(doc, allow_unicode=True)
    if draw(st.booleans()):
        text += f"{draw(st.sampled_from(KEYS))}: {draw(TAGGED)}\n"
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=run_files())
def test_run_file_reader_gives_a_config_or_an_input_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wheelmatrix.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            config = load_run_config(path)
        except InputError as exc:
            assert str(exc)
        else:
            assert isinstance(config, RunConfig)
            for value in (config.timeout_s, config.install_timeout_s):
                assert SECONDS.problem(value) is None
            assert PIDS.problem(config.pids) is None
