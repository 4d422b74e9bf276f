"""A real project's cibuildwheel tests against its published wheels: propcache 0.5.4, whose
sdist's pyproject.toml says `test-requires = "-r requirements/test.txt"` (a file that includes
another) and `test-command = "pytest -v --no-cov {project}/tests"`, fetched at test time by name
and sha256 (cached), run by `wheelmatrix run` in the unpacked sdist on a native and an emulated
cell. The counts are pytest's own: 57 passed, 2 skipped (pytest-codspeed is not a test
requirement). Needs the package index."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from bench.population import fetch_wheel
from tests.conftest import assert_report, cli

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]

NAME, VERSION = "propcache", "0.5.4"
FILES = {
    "propcache-0.5.4.tar.gz": "ff6b113f50bc066a698db5d944d2c6dc7507168dd3341e255a8892fd0715a558",
    "propcache-0.5.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl": (
        "6e9368e87a3efc285e559131092c5db643eb8e56de4ee42064d5baec22ef2bb5"
    ),
    "propcache-0.5.4-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.manylinux_2_28_aarch64.whl": (
        "62530ca89187827e4a4fe733f971abe81a7542eeea48ff61995f19b64d7199c8"
    ),
}


def fetched() -> dict[str, Path]:
    from wheelmatrix.host import cache_dir

    dest = cache_dir() / "cibuildwheel-projects" / "files"
    try:
        return {name: fetch_wheel(NAME, VERSION, name, sha, dest) for name, sha in FILES.items()}
    except OSError as exc:  # no index here
        pytest.skip(f"the package index cannot be reached: {exc}")


@pytest.mark.xdist_group("cibuildwheel-real")
def test_propcache_runs_its_own_tests_on_a_native_and_an_emulated_cell(tmp_path: Path) -> None:
    files = fetched()
    with tarfile.open(files["propcache-0.5.4.tar.gz"]) as tar:
        tar.extractall(tmp_path, filter="data")
    project = tmp_path / "propcache-0.5.4"
    wheels = [p for n, p in files.items() if n.endswith(".whl")]
    res = cli(
        "run", *wheels, "--include", "debian-12/x86_64", "--include", "debian-12/aarch64",
        "--runs-dir", tmp_path / "runs", "--json", tmp_path / "r.json", cwd=project,
    )  # fmt: skip
    assert res.rc == 0, res.explain()
    doc = json.loads((tmp_path / "r.json").read_text())
    assert_report(doc)
    ran = {r["arch"]: r for r in doc["results"] if r["check"] == "cibuildwheel test-command"}
    assert set(ran) == {"x86_64", "aarch64"}, doc["results"]
    for arch, result in ran.items():
        assert result["status"] == "passed", (arch, result)
        assert result["detail"] == "57 passed, 2 skipped", (arch, result["detail"])
        assert result["evidence"]["identifier"] == f"cp311-manylinux_{arch}"
        assert result["evidence"]["from"].endswith(
            "pyproject.toml:" + str(_line(project)) + ": tool.cibuildwheel.test-command"
        )


def _line(project: Path) -> int:
    lines = (project / "pyproject.toml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith("test-command"))
