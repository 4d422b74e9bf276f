"""`wheelmatrix validate` refuses bad input with exit code 2 before it touches an engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import wheelmatrix.backends.factory
from wheelmatrix.cli import main

ArgvFactory = Callable[[Path], tuple[list[str], list[str]]]


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Any attempt to connect to Docker fails the test."""
    calls: list[str] = []

    def connect(*args: object, **kwargs: object) -> None:
        calls.append("connect")
        raise AssertionError("validate connected to the engine before checking its input")

    monkeypatch.setattr(wheelmatrix.backends.factory, "connect", connect)
    monkeypatch.setenv("COLUMNS", "500")  # keep Rich from wrapping the message
    monkeypatch.chdir(tmp_path)  # a stray ./wmpure must not turn the requirement into a path
    return calls


def not_a_wheel(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "x-1.0-py3-none-any.whl"
    path.write_text("just text\n")
    return ["validate", str(path)], [str(path), "not a zip archive"]


def unknown_distro(tmp: Path) -> tuple[list[str], list[str]]:
    return ["validate", "wmpure>=1", "--distro", "debain-12"], [
        "unknown distro 'debain-12'",
        "did you mean 'debian-12'",
    ]


def shell_requirement(tmp: Path) -> tuple[list[str], list[str]]:
    return ["validate", "numpy; rm -rf /"], ["'numpy; rm -rf /'", "not a valid requirement"]


def shell_companion(tmp: Path) -> tuple[list[str], list[str]]:
    return ["validate", "wmpure", "--with", "$(reboot)"], ["'$(reboot)'", "not a valid requirement"]


def invalid_catalog(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "distros.yaml"
    path.write_text("distros:\n  debian-12: {name: [unclosed\n")
    return ["--catalog", str(path), "validate", "wmpure"], [str(path), "invalid YAML", "line "]


def offline_without_find_links(tmp: Path) -> tuple[list[str], list[str]]:
    return ["validate", "wmpure", "--offline"], ["--offline", "--find-links"]


def missing_find_links(tmp: Path) -> tuple[list[str], list[str]]:
    return ["validate", "wmpure", "--find-links", str(tmp / "nope")], [str(tmp / "nope"), "not a directory"]


def unknown_scenario(tmp: Path) -> tuple[list[str], list[str]]:
    argv = ["validate", "wmpure", "--scenario", "imprt"]
    return argv, ["unknown scenario 'imprt'", "did you mean 'import'"]


def candidate_and_companion(tmp: Path) -> tuple[list[str], list[str]]:
    return ["validate", "wmpure", "--with", "WMPure>=1"], ["wmpure", "both a candidate and a companion"]


def unwritable_annotations(tmp: Path) -> tuple[list[str], list[str]]:
    blocker = tmp / "a-file"
    blocker.write_text("x")
    out = blocker / "annotations.txt"
    return ["validate", "wmpure", "--annotations", str(out)], [
        f"cannot write the github report to {out}",
        "not a writable directory",
    ]


def report_path_is_a_directory(tmp: Path) -> tuple[list[str], list[str]]:
    return ["validate", "wmpure", "--html", str(tmp)], [f"cannot write the html report to {tmp}", "directory"]


@pytest.mark.parametrize(
    "case",
    [
        not_a_wheel,
        unknown_distro,
        shell_requirement,
        shell_companion,
        invalid_catalog,
        offline_without_find_links,
        missing_find_links,
        unknown_scenario,
        candidate_and_companion,
        unwritable_annotations,
        report_path_is_a_directory,
    ],
    ids=lambda f: f.__name__,
)
def test_bad_input_exits_2_naming_the_input(
    case: ArgvFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_engine: list[str]
) -> None:
    argv, expected = case(tmp_path)

    rc = main(argv)

    err = capsys.readouterr().err
    assert no_engine == [], "the engine was contacted before the input was checked"
    assert rc == 2, err
    assert err.startswith("wheelmatrix: error: ")
    for text in expected:
        assert text in err


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "wmpure", "--jobs", "0"],
        ["validate", "wmpure", "--python", "3"],
        ["validate", "wmpure", "--arch", "armv7"],
        ["validate"],
    ],
    ids=["jobs", "python", "arch", "no-input"],
)
def test_bad_options_are_refused_by_argparse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_good_input_does_reach_the_engine(capsys: pytest.CaptureFixture[str], no_engine: list[str]) -> None:
    """Control: the patched `connect` is the one validate uses, so the checks above mean something."""
    rc = main(["validate", "wmpure", "--distro", "debian-12"])
    assert no_engine == ["connect"]
    assert rc == 3  # the AssertionError surfaces as an internal error
    assert "validate connected to the engine" in capsys.readouterr().err
