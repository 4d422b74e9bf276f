"""Which wheel file the installer picked, in real cells, compared with the index's own record of
the release (file names and sha256 from its JSON API, fetched from the host)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import wheelmatrix

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]


def index_files(project: str, version: str) -> dict[str, str]:
    """file name -> sha256 of every file of the release, from the index's JSON API (the default
    index's address as pip knows it)."""
    from pip._internal.models.index import PyPI

    with urllib.request.urlopen(f"{PyPI.pypi_url}/{project}/json", timeout=60) as resp:
        doc = json.load(resp)
    return {f["filename"]: f["digests"]["sha256"] for f in doc["releases"].get(version, [])}


@pytest.mark.xdist_group("picked-wheels")
@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_requirement_records_the_file_and_hash_the_index_has(tmp_path: Path, installer: str) -> None:
    """markupsafe 3.0.2 has many wheels per version (manylinux, musllinux, each arch): the
    cell records the one for its platform, with the index's sha256 of that file."""
    run = wheelmatrix(
        "markupsafe==3.0.2", "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import",
        "--installer", installer, "--verbose", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 0, run.explain()
    truth = index_files("markupsafe", "3.0.2")
    results = run.results()
    assert results
    for res in results:
        got = res["installed_wheels"]["markupsafe"]
        assert got["file"] in truth, got
        assert got["sha256"] == truth[got["file"]], got
        assert got["source"] == ("uv-cache" if installer == "uv" else "pip-report"), got
        assert "x86_64" in got["tag"] and "manylinux" in got["tag"] and "musllinux" not in got["tag"]
    assert "manylinux" in run.stdout and "installed:" in run.stdout, run.stdout
