"""A candidate given as a requirement is judged by the exact file its cell installed: the file
the cell recorded (name and sha256) is fetched on the host and scanned, so its tag is checked
as a wheel file's would be — also when its only native code is an executable (pyscn)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wheelmatrix

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]


def test_an_over_claimed_requirement_made_of_executables_fails_its_tag(tmp_path: Path) -> None:
    run = wheelmatrix(
        "pyscn==1.31.1", "--distro", "debian-11", "--arch", "x86_64", "--scenario", "import", tmp=tmp_path
    )
    assert run.rc == 1, run.explain()
    # one tag check (the cell judges the installed files; the host's scan of the same file adds
    # nothing twice), about the wheel file the cell installed
    (tag,) = [r for r in run.results() if r["check"].startswith("tag ")]
    assert tag["check"] == "tag pyscn 1.31.1", tag
    assert tag["status"] == "failed" and "GLIBC_2.34" in tag["detail"], tag
    assert "pyscn/bin/pyscn-linux-amd64" in tag["detail"], tag
    assert tag["finding"]["kind"] == "over-claimed-tag"
    assert tag["finding"]["subject"] == "pyscn-1.31.1-py3-none-manylinux_2_17_x86_64.whl"
    picked = run.results("import pyscn")[0]["installed_wheels"]["pyscn"]
    assert picked["file"] == "pyscn-1.31.1-py3-none-manylinux_2_17_x86_64.whl" and picked["sha256"]
    assert run.report is not None
    (scan,) = run.report["static_scan"]
    assert scan["wheel"] == picked["file"], "the installed file is in the report's static scan"
