"""The CI workflows and the composite action, linted with real tools (zizmor's audits and the
SchemaStore schemas through check-jsonschema), and the nightly plan step run as CI runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is a dev dependency (pip install -e '.[dev]')"
    return found


def test_zizmor_finds_nothing() -> None:
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--config", ".github/zizmor.yml", ".github/workflows", "action.yml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("schema", "files"),
    [("vendor.github-workflows", ["ci.yml", "nightly.yml"]), ("vendor.github-actions", ["../../action.yml"])],
)
def test_schemas(schema: str, files: list[str]) -> None:
    paths = [str(REPO / ".github" / "workflows" / f) for f in files]
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *paths],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_nightly_plan_step_gives_a_github_matrix() -> None:
    workflow = yaml.safe_load((REPO / ".github/workflows/nightly.yml").read_text())
    config = workflow["env"]["CONFIG"]
    shards = workflow["env"]["SHARDS"]
    proc = subprocess.run(
        [sys.executable, "-m", "wheelmatrix", "plan", "-c", config, "--shards", shards, "--format", "github"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    include = json.loads(proc.stdout)["include"]
    assert [i["shard"] for i in include] == [f"{i}/{shards}" for i in range(1, int(shards) + 1)]
    assert sum(i["cells"] for i in include) > 0
    assert "\n" not in proc.stdout.strip()  # one line: it goes into $GITHUB_OUTPUT
