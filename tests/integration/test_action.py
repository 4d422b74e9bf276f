"""The composite action's steps run locally, as a runner would run them: the host set-up step,
then the validate step with the action's inputs as environment, GITHUB_OUTPUT, the step
summary and RUNNER_TEMP; its outputs name reports that exist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import paths
from tests.fixtures.wheels import Fixture

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
REPO = Path(__file__).resolve().parents[2]


def steps() -> dict[str, dict[str, Any]]:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    return {s.get("id") or s["name"]: s for s in action["runs"]["steps"]}


def run_step(step: dict[str, Any], env: dict[str, str], tmp: Path) -> tuple[int, dict[str, str], str]:
    out, summary = tmp / "github-output", tmp / "step-summary"
    out.write_text("")
    summary.write_text("")
    full = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/root"),
        "GITHUB_OUTPUT": str(out),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(tmp),
        **env,
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=full, cwd=tmp, capture_output=True, text=True, timeout=1800
    )
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    return proc.returncode, outputs, summary.read_text() + proc.stdout + proc.stderr


@pytest.mark.xdist_group("action")
def test_the_actions_steps_run_locally(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    all_steps = steps()
    setup = all_steps["host set-up (engine, QEMU for aarch64, mmdebstrap)"]
    rc, _, log = run_step(setup, {"ACTION_PATH": str(REPO)}, tmp_path)
    assert rc == 0 and "engine answers" in log, log
    validate = all_steps["validate"]
    inputs = {
        "WHEELS": " ".join(str(w) for w in paths(wheels["newglibc"])),
        "DISTROS": "debian-11 debian-12",
        "ARCHS": "x86_64",
        "COMPANIONS": str(paths(wheels["pure"])[0]),
        "FAIL_ON": "failure",
        "CIBW_TESTS": "",
    }
    rc, outputs, log = run_step(validate, inputs, tmp_path)
    assert rc == 1, log  # wmnewglibc needs GLIBC_2.36: fails on debian-11
    assert set(outputs) == {"json", "junit", "markdown", "html"}, outputs
    for path in outputs.values():
        assert Path(path).is_file() and Path(path).stat().st_size > 0, path
    assert "## wheelmatrix" in log and "GLIBC_2.36" in log  # the Markdown went to the step summary
    rc, outputs, log = run_step(validate, {**inputs, "FAIL_ON": "never"}, tmp_path)
    assert rc == 0, log
    # the project's own cibuildwheel tests, through the action's input
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[tool.cibuildwheel]\ntest-command = \"python -c 'import wmpure; print(wmpure.VALUE)'\"\n"
    )
    pure = {**inputs, "WHEELS": str(paths(wheels["pure"])[0]), "COMPANIONS": "", "DISTROS": "debian-12"}
    rc, outputs, log = run_step(validate, {**pure, "CIBW_TESTS": str(project)}, tmp_path)
    assert rc == 0, log
    doc = json.loads(Path(outputs["json"]).read_text())
    ran = [r for r in doc["results"] if r["check"] == "cibuildwheel test-command"]
    assert [r["status"] for r in ran] == ["passed"] and "42" in ran[0]["evidence"]["output_tail"], ran
