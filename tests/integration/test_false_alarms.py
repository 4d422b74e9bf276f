"""Healthy, popular sets from PyPI raise no false alarm (issue 7's 'fix first' list)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wheelmatrix

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]


@pytest.mark.xdist_group("false-alarms-pyarrow")
def test_top_level_name_without_files_is_not_imported(tmp_path: Path) -> None:
    """pyarrow 19.0.1 lists `__dummy__` in top_level.txt; it ships no such module."""
    run = wheelmatrix(
        "pandas==2.2.3",
        "pyarrow==19.0.1",
        "numpy==2.2.6",
        "--distro",
        "debian-12",
        "--arch",
        "x86_64",
        tmp=tmp_path,
    )
    assert run.rc == 0, run.explain()
    checks = [r["check"] for r in run.results()]
    assert not [c for c in checks if "__dummy__" in c], checks
    assert "import pyarrow" in checks
    noted = [r["evidence"].get("unshipped_modules") for r in run.results() if r["scenario"] == "import"]
    assert {"pyarrow": ["__dummy__"]} in noted


@pytest.mark.xdist_group("false-alarms-opencv")
def test_privately_loaded_bundled_runtimes_are_not_a_collision(tmp_path: Path) -> None:
    """opencv-python-headless and numpy each bundle OpenBLAS/gfortran pieces (`__xerbla`,
    `_gfortran_abort`); Python loads them RTLD_LOCAL, so nothing interposes: information only."""
    run = wheelmatrix(
        "opencv-python-headless==4.11.0.86",
        "--with",
        "numpy==2.2.6",
        "--distro",
        "debian-12",
        "--arch",
        "x86_64",
        "--scenario",
        "symbols",
        tmp=tmp_path,
    )
    assert run.rc == 0, run.explain()
    col = next(r for r in run.results() if r["check"] == "symbol collisions")
    assert col["status"] == "passed"
    if col["evidence"].get("collisions"):
        assert "no binding crossed" in col["diagnosis"]
        assert all(c.get("crossed") == [] for c in col["evidence"]["collisions"])


@pytest.mark.xdist_group("false-alarms-aarch64")
def test_aarch64_linker_symbols_are_never_collisions(tmp_path: Path) -> None:
    run = wheelmatrix(
        "matplotlib==3.9.2",
        "numpy==2.1.3",
        "pillow==11.0.0",
        "--distro",
        "debian-12",
        "--arch",
        "aarch64",
        "--scenario",
        "symbols",
        tmp=tmp_path,
    )
    assert run.rc == 0, run.explain()
    col = next(r for r in run.results() if r["check"] == "symbol collisions")
    names = {c["symbol"] for c in col["evidence"].get("collisions", [])}
    assert not names & {"__bss_end__", "_bss_end__", "__end__", "__bss_start__"}, names
    assert col["status"] == "passed"


@pytest.mark.xdist_group("real-libgl")
def test_real_opencv_needs_libgl_and_the_package_is_named(tmp_path: Path) -> None:
    """opencv-python (not -headless) needs the system's libGL.so.1, which a minimal Debian lacks."""
    run = wheelmatrix(
        "opencv-python==4.11.0.86",
        "--with",
        "numpy==2.2.6",
        "--distro",
        "debian-12",
        "--arch",
        "x86_64",
        "--scenario",
        "import",
        tmp=tmp_path,
    )
    assert run.rc == 1, run.explain()
    cv2 = next(r for r in run.results() if r["check"] == "import cv2")
    assert cv2["status"] == "failed" and "libGL.so.1" in cv2["detail"]
    assert "apt-get install libgl1" in cv2["diagnosis"], cv2
