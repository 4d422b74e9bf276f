"""The pieces of `repro` that need no container: outcomes, exit codes, failure signatures,
bundle lock lines and platform tags, streamed-line splitting and the `--` command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheelmatrix.backends.probe_stream import split_output
from wheelmatrix.cli import build_parser, main
from wheelmatrix.config.catalog import default_catalog_path, load_catalog
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.errors import InputError
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import Status
from wheelmatrix.probe import MARK
from wheelmatrix.service.bundle import LockEntry, check_destination, platform_tags
from wheelmatrix.service.live import Outcome, import_argv, python_code


def outcome(
    status: Status, detail: str = "", rc: int | None = 0, sig: str | None = None, timed_out: bool = False
) -> Outcome:
    return Outcome(status, detail, rc, sig, timed_out, "", 0.1)


@pytest.mark.parametrize(
    ("o", "code", "signature"),
    [
        (outcome(Status.PASSED), 0, "passed"),
        (outcome(Status.CRASHED, "SIGSEGV", -11, "SIGSEGV"), 139, "crashed (SIGSEGV)"),
        (outcome(Status.CRASHED, "SIGABRT", -6, "SIGABRT"), 134, "crashed (SIGABRT)"),
        (outcome(Status.FAILED, "ImportError: libGL.so.1: cannot open", 1), 1, "failed (ImportError)"),
        (outcome(Status.FAILED, "numpy.core._exceptions._ArrayMemoryError: x", 1), 1,
         "failed (numpy.core._exceptions._ArrayMemoryError)"),
        (outcome(Status.FAILED, "exit status 3, no exception", 3), 3, "failed (exit 3)"),
        (outcome(Status.TIMED_OUT, "did not finish", -9, "SIGKILL", True), 124, "timed out"),
    ],
)  # fmt: skip
def test_exit_codes_and_signatures(o: Outcome, code: int, signature: str) -> None:
    assert o.exit_code == code
    assert o.signature == signature
    assert o.failed is (o.status is not Status.PASSED)


def test_python_code_of_a_command_line() -> None:
    assert python_code(import_argv(["a", "b"])) == "import a\nimport b"
    assert python_code(["/usr/bin/python3.11", "-I", "-c", "pass"]) == "pass"
    assert python_code(["bash", "-c", "true"]) is None
    assert python_code(["python"]) is None


def test_lock_lines() -> None:
    assert LockEntry("a", "1.0", "ab" * 32, wheel="a-1.0-py3-none-any.whl").line() == (
        "./wheels/a-1.0-py3-none-any.whl --hash=sha256:" + "ab" * 32
    )
    assert LockEntry("numpy", "2.2.6", "cd" * 32).line() == "numpy==2.2.6 --hash=sha256:" + "cd" * 32
    assert LockEntry("numpy", "2.2.6", None).line() == "numpy==2.2.6"


def test_platform_tags_follow_the_cells_glibc() -> None:
    catalog = load_catalog(default_catalog_path())

    def tags(distro: str, arch: str) -> list[str]:
        d = catalog.get(distro)
        scenario = Scenario(name="import", kind="import", description="imports")
        return platform_tags(Cell(distro=d, arch=arch, scenario=scenario, emulated=False, candidates=()))

    x = tags("debian-12", "x86_64")
    assert (
        x[0] == "manylinux_2_36_x86_64" and "manylinux_2_5_x86_64" in x and "manylinux_2_37_x86_64" not in x
    )
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(x)
    a = tags("debian-11", "aarch64")
    assert a[0] == "manylinux_2_31_aarch64" and "manylinux2014_aarch64" in a and "manylinux1_aarch64" not in a


def test_bundle_destination_must_be_new_or_empty(tmp_path: Path) -> None:
    check_destination(tmp_path / "new")
    check_destination(tmp_path)  # empty
    (tmp_path / "x").write_text("")
    with pytest.raises(InputError, match="not an empty directory"):
        check_destination(tmp_path)
    with pytest.raises(InputError, match="not an empty directory"):
        check_destination(tmp_path / "x")


def test_streamed_lines_pass_output_on_and_keep_records() -> None:
    got: list[str] = []
    chunks = [b"hel", b"lo\nwor", ("ld\n" + MARK + 'tok {"a": 1}\n').encode(), b"no newline"]
    stream = split_output(iter(chunks), "tok", got.append)
    assert got == ["hello", "world", "no newline"]
    assert stream.records == [{"a": 1}]
    assert MARK + 'tok {"a": 1}' in stream.text.splitlines()


def test_a_command_after_dashes_only_for_repro(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["repro", "--distro", "debian-12", "--arch", "x86_64", "numpy"])
    assert args.inputs == ["numpy"]
    with pytest.raises(SystemExit) as exc:
        main(["validate", "numpy", "--", "python", "-c", "pass"])
    assert exc.value.code == 2
    assert "unrecognized arguments: -- python -c pass" in capsys.readouterr().err
