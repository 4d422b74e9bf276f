"""The nightly job, for real: config-file runs, SIGKILL + resume, compare of two real runs, a
pytest scenario that fails on one distro only, config errors with file and line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, cli
from tests.fixtures.wheels import Fixture, write_wheel

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]

CRASH_ON_IMPORT = b"import ctypes\nctypes.string_at(0)\n"  # SIGSEGV, as a broken native release would


def _only_run(runs: Path) -> Path:
    found = [p for p in runs.iterdir() if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def _report(run_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((run_dir / "report.json").read_text())
    return doc


def _stream(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (run_dir / "results.jsonl").read_text().splitlines() if ln.strip()]


def _containers(run_id: str) -> list[str]:
    import docker

    client = docker.from_env()
    return [
        c.id for c in client.containers.list(all=True, filters={"label": f"org.wheelmatrix.run={run_id}"})
    ]


@pytest.mark.xdist_group("nightly-resume")
def test_sigkill_mid_matrix_then_resume_loses_and_duplicates_nothing(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    pure = wheels["pure"].wheels[0]
    (project / "wheelmatrix.yaml").write_text(
        f"""# a nightly matrix: 3 distros x 2 archs, one at a time so the kill lands mid-matrix
candidates: ["{pure}"]
distros: [debian-11, debian-12, debian-13]
archs: [x86_64, aarch64]
scenarios: [import]
jobs: 1
"""
    )
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO / "runner")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wheelmatrix", "run", "--runs-dir", str(runs)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 600
    done_before: list[str] = []
    while time.time() < deadline and proc.poll() is None:
        if runs.exists() and any(runs.iterdir()):
            stream = _only_run(runs) / "results.jsonl"
            if stream.exists():
                done_before = [r["cell_id"] for r in _stream(stream.parent) if r.get("type") == "cell-done"]
                if done_before:
                    break
        time.sleep(0.2)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
    assert done_before, "no cell finished in time"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    run_dir = _only_run(runs)
    meta = json.loads((run_dir / "meta.json").read_text())
    run_id = meta["run_id"]
    assert meta["state"] == "running"  # killed: it never got to say otherwise
    listed = cli("runs", "--runs-dir", runs, cwd=project)
    assert listed.rc == 0 and run_id in listed.stdout and "killed" in listed.stdout, listed.explain()

    resumed = cli("run", "--resume", "--runs-dir", runs, cwd=project, timeout=1800)
    assert resumed.rc == 0, resumed.explain()
    assert _containers(run_id) == [], "containers of the killed run must be gone"
    assert _only_run(runs) == run_dir  # the same run was completed, not a new one

    planned = json.loads((run_dir / "plan.json").read_text())
    planned_ids = planned["cells"] if isinstance(planned, dict) else planned
    assert len(planned_ids) == 6
    markers = [r["cell_id"] for r in _stream(run_dir) if r.get("type") == "cell-done"]
    assert sorted(markers) == sorted(planned_ids), "every cell ran exactly once across both runners"
    for cell in done_before:
        assert cell in markers[: len(done_before) + 1]  # finished before the kill, not rerun after
    report = _report(run_dir)
    ids = [r["check_id"] for r in report["results"]]
    assert len(ids) == len(set(ids)), "no check reported twice"
    assert {r["cell_id"] for r in report["results"]} == set(planned_ids), "no cell lost"
    assert all(r["status"] == "passed" for r in report["results"]), report["results"]
    assert json.loads((run_dir / "meta.json").read_text())["state"] == "finished"
    again = cli("run", "--resume", "--runs-dir", runs, cwd=project)
    assert again.rc == 2 and "no unfinished run" in again.stderr, again.explain()


def _dep_wheels(dest: Path, version: str, crash: bool) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    body = CRASH_ON_IMPORT if crash else b"VALUE = 1\n"
    write_wheel(dest, "wmdep", version, "py3-none-any", {"wmdep/__init__.py": body}, purelib=True)
    return dest


@pytest.mark.xdist_group("nightly-compare")
def test_two_real_runs_compared_name_the_regression_and_its_version_change(tmp_path: Path) -> None:
    app = write_wheel(
        tmp_path / "dist",
        "wmapp",
        "1.0",
        "py3-none-any",
        {"wmapp/__init__.py": b"NAME = 'app'\n"},
        purelib=True,
    )
    night1 = _dep_wheels(tmp_path / "index1", "1.0", crash=False)
    night2 = _dep_wheels(tmp_path / "index2", "1.0", crash=False)
    _dep_wheels(night2, "1.1", crash=True)  # the upstream release that breaks it
    common = [app, "--with", "wmdep", "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import"]
    common += ["--offline", "--runs-dir", tmp_path / "runs"]
    first = cli("validate", *common, "--find-links", night1, "--json", tmp_path / "old.json", cwd=tmp_path)
    assert first.rc == 0, first.explain()
    second = cli(
        "validate",
        *common,
        "--find-links",
        night2,
        "--json",
        tmp_path / "new.json",
        "--compare",
        tmp_path / "old.json",
        "--fail-on",
        "regression",
        cwd=tmp_path,
    )
    assert second.rc == 1, second.explain()
    assert "wmdep 1.0 -> 1.1" in second.stdout, second.explain()
    new = json.loads((tmp_path / "new.json").read_text())
    crashed = [r for r in new["results"] if r["status"] == "crashed"]
    assert crashed and all("wmdep==1.1" in r["installed"] for r in crashed)
    assert new["schema"] == 3

    expected = {"regression": 1, "failure": 1, "never": 0}
    for fail_on, rc in expected.items():
        res = cli("compare", tmp_path / "old.json", tmp_path / "new.json", "--fail-on", fail_on, cwd=tmp_path)
        assert res.rc == rc, (fail_on, res.explain())
    res = cli(
        "compare", tmp_path / "old.json", tmp_path / "new.json", "--json", tmp_path / "cmp.json", cwd=tmp_path
    )
    assert "wmdep 1.0 -> 1.1" in res.stdout and "import wmapp, wmdep" in res.stdout, res.explain()
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp["regressions"], cmp
    # the baseline against itself: nothing regressed; the crash is still a failure for --fail-on failure
    same = cli("compare", tmp_path / "new.json", tmp_path / "new.json", cwd=tmp_path)
    assert same.rc == 0, same.explain()
    fixed = cli("compare", tmp_path / "new.json", tmp_path / "old.json", cwd=tmp_path)
    assert fixed.rc == 0 and "1.1 -> 1.0" in fixed.stdout, fixed.explain()


@pytest.mark.xdist_group("nightly-pytest")
def test_pytest_scenario_fails_on_one_distro_only(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_platform.py").write_text(
        "import os\n"
        "import wmpure\n\n"
        "def test_imports():\n"
        "    assert wmpure is not None\n\n"
        "def test_needs_glibc_236():\n"
        "    version = os.confstr('CS_GNU_LIBC_VERSION').split()[1]\n"
        "    assert tuple(map(int, version.split('.'))) >= (2, 36), 'glibc ' + version + ' is too old'\n"
    )
    pure = wheels["pure"].wheels[0]
    (project / "wheelmatrix.yaml").write_text(
        f"""candidates: ["{pure}"]
distros: [debian-11, debian-12]
archs: [x86_64]
scenarios:
  - name: unit-tests
    kind: pytest
    sources: .
    argv: ["tests"]
reports:
  json: out/report.json
  junit: out/junit.xml
"""
    )
    res = cli("run", "--runs-dir", tmp_path / "runs", cwd=project)
    assert res.rc == 1, res.explain()
    report = json.loads((project / "out" / "report.json").read_text())
    by = {(r["distro"], r["check"]): r for r in report["results"]}
    assert by[("debian-12", "pytest")]["status"] == "passed", report["results"]
    assert by[("debian-11", "pytest")]["status"] == "failed"
    failing = by[("debian-11", "pytest tests/test_platform.py::test_needs_glibc_236")]
    assert failing["status"] == "failed" and "glibc 2.31 is too old" in failing["detail"]
    assert ("debian-12", "pytest tests/test_platform.py::test_needs_glibc_236") not in by
    junit = (project / "out" / "junit.xml").read_text()
    assert "test_needs_glibc_236" in junit


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("candidates: [x.whl]\ndistros: [debian-12]\ntimout: 30\n", 3, "did you mean 'timeout'"),
        ("candidates: [x.whl]\narchs: [arm]\n", 2, "arm"),
        ("candidates: [x.whl]\ndistros: [debain-12]\n", 2, "did you mean 'debian-12'"),
    ],
)
def test_config_errors_name_file_and_line_and_start_nothing(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    (tmp_path / "x.whl").write_bytes(b"")
    config = tmp_path / "wheelmatrix.yaml"
    config.write_text(text)
    runs = tmp_path / "runs"
    res = cli("run", "-c", config, "--runs-dir", runs, cwd=tmp_path)
    assert res.rc == 2, res.explain()
    assert f"{config}:{line}" in res.stderr and message in res.stderr, res.explain()
    assert "Traceback" not in res.stderr
    assert not runs.exists() or not any(runs.iterdir()), "bad input must not leave a run behind"
