"""A project's cibuildwheel test settings, run by `wheelmatrix run` with no config of ours, in
real Debian containers: placeholders, a list of commands, a -r file, extras, test-sources,
before-test, test-environment, test-skip on one cell; then a bad setting refused with its line
before anything starts."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_report, cli

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]


def _wheel(dest: Path) -> Path:
    """wmcibw 1.0, pure, with an extra 'test' that pulls iniconfig (from the local index)."""
    name = "wmcibw-1.0"
    files = {
        "wmcibw/__init__.py": b"VALUE = 42\n",
        f"{name}.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: wmcibw\nVersion: 1.0\nProvides-Extra: test\n"
            b'Requires-Dist: iniconfig; extra == "test"\n'
        ),
        f"{name}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{name}.dist-info/top_level.txt": b"wmcibw\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}.dist-info/RECORD,,")
    files[f"{name}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = dest / f"{name}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


PYPROJECT = """\
[project]
name = "wmcibw"
version = "1.0"

[dependency-groups]
checks = ["tomli"]

[tool.cibuildwheel]
build = "cp3*-*"
test-command = [
  "python -c 'import wmcibw; assert wmcibw.VALUE == 42'",
  "pytest -q {project}/tests {package}/selftest.py",
]
test-requires = "-r requirements/test.txt"
test-extras = ["test"]
test-groups = ["checks"]
test-sources = ["tests/data"]
before-test = "echo ready > /tmp/before-test.txt"
test-environment = { WM_ONE = "1", WM_TWO = "$WM_ONE-2" }
test-skip = "cp311-*_aarch64"
"""

TESTS = """\
import os
import pathlib

import iniconfig  # installed by test-extras
import tomli  # installed by test-groups


def test_environment_in_order():
    assert os.environ["WM_TWO"] == "1-2"


def test_runs_outside_the_project_with_its_sources():
    cwd = pathlib.Path.cwd()
    assert "wm-project" not in str(cwd)
    assert (cwd / "tests" / "data" / "x.txt").read_text() == "x\\n"


def test_before_test_ran_first():
    assert pathlib.Path("/tmp/before-test.txt").read_text() == "ready\\n"


def test_version_control_is_not_copied():
    assert pathlib.Path("/tmp/wm-project/tests").is_dir()
    assert not pathlib.Path("/tmp/wm-project/.git").exists()


def test_only_on_new_python():
    import sys
    assert sys.version_info >= (3, 12), "python too old"
"""


def _project(root: Path) -> Path:
    (root / "tests" / "data").mkdir(parents=True)
    (root / "requirements").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "requirements" / "test.txt").write_text("# what the tests need\npytest\n")
    (root / "tests" / "test_project.py").write_text(TESTS)
    (root / "tests" / "data" / "x.txt").write_text("x\n")
    (root / "selftest.py").write_text("def test_package_placeholder():\n    pass\n")  # {package} is "."
    (root / ".git").mkdir()  # left out of the copy in the cell
    (root / ".git" / "big").write_bytes(b"\0" * 1024)
    return root


def _results(path: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    doc = json.loads(path.read_text())
    assert_report(doc)
    return {(r["distro"], r["arch"], r["check"]): r for r in doc["results"]}


@pytest.mark.xdist_group("cibuildwheel")
def test_cibuildwheel_settings_run_in_every_cell_with_no_config_of_ours(tmp_path: Path) -> None:
    project = _project(tmp_path / "proj")
    wheel = _wheel(tmp_path)
    res = cli(
        "run", wheel, "--include", "debian-12/x86_64", "--include", "debian-12/aarch64",
        "--include", "debian-13/x86_64", "--runs-dir", tmp_path / "runs", "--json", tmp_path / "r.json",
        "--verbose", cwd=project,
    )  # fmt: skip
    assert res.rc == 1, res.explain()  # the python-too-old test fails on Debian 12 (3.11)
    by = _results(tmp_path / "r.json")
    check = "cibuildwheel test-command"
    new = by[("debian-13", "x86_64", check)]
    assert new["status"] == "passed" and new["detail"] == "6 passed", new
    assert new["evidence"]["identifier"] == "cp313-manylinux_x86_64"
    old = by[("debian-12", "x86_64", check)]
    assert old["status"] == "failed" and old["detail"].startswith("5 passed, 1 failed"), old
    failing = by[("debian-12", "x86_64", "pytest tests/test_project.py::test_only_on_new_python")]
    assert "python too old" in failing["detail"]
    skipped = by[("debian-12", "aarch64", check)]
    assert skipped["status"] == "skipped"
    assert skipped["detail"] == (
        f"test-skip 'cp311-*_aarch64' matches cp311-manylinux_aarch64 "
        f"({project / 'pyproject.toml'}:20: tool.cibuildwheel.test-skip)"
    )
    assert by[("debian-12", "aarch64", "import wmcibw")]["status"] == "passed"  # the rest still runs
    assert by[("debian-12", "x86_64", "cibuildwheel before-test")]["status"] == "passed"
    assert "S skipped" in res.stdout and "cibuildwheel" in res.stdout
    # the run's profile: where each container's time went
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    profile = [json.loads(line) for line in (run / "profile.jsonl").read_text().splitlines()]
    phases = {(p["cell"], p["phase"]) for p in profile}
    for phase in ("create and start", "install", "network cut", "scenario import", "scenario cibuildwheel"):
        assert ("debian-13/x86_64/py3.13", phase) in phases, sorted(phases)


@pytest.mark.xdist_group("cibuildwheel")
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            'test-command = "ls {dest_dir}"',
            "pyproject.toml:6: tool.cibuildwheel.test-command: placeholder '{dest_dir}'",
        ),
        (
            'test-command = "pytest"\ntest-requires = "-r nowhere.txt"',
            "pyproject.toml:7: tool.cibuildwheel.test-requires: requirement file nowhere.txt does not exist",
        ),
    ],
)
def test_a_bad_setting_is_refused_with_its_line_before_anything_starts(
    tmp_path: Path, setting: str, message: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "wmcibw"\nversion = "1.0"\n\n[tool.cibuildwheel]\n{setting}\n'
    )
    wheel = _wheel(tmp_path)
    res = cli("run", wheel, "--distro", "debian-12", "--runs-dir", tmp_path / "runs", cwd=tmp_path)
    assert res.rc == 2, res.explain()
    assert message in res.stderr, res.explain()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
