"""Healthy, popular sets from PyPI raise no false alarm (issue 7's 'fix first' list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Run, paths, wheelmatrix, with_args
from tests.fixtures.wheels import Fixture

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]


def symbols_cell(*args: str | Path, tmp: Path) -> tuple[Run, dict[str, Any]]:
    """The symbols scenario of one Debian 12 x86_64 cell: the run and its `symbol collisions`."""
    run = wheelmatrix(*args, "--distro", "debian-12", "--arch", "x86_64", "--scenario", "symbols", tmp=tmp)
    return run, next(r for r in run.results() if r["check"] == "symbol collisions")


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
    run, col = symbols_cell("opencv-python-headless==4.11.0.86", "--with", "numpy==2.2.6", tmp=tmp_path)
    assert run.rc == 0, run.explain()
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


@pytest.mark.xdist_group("false-alarms-vague-linkage")
def test_cxx_vague_linkage_and_identical_runtime_copies_are_not_a_collision(tmp_path: Path) -> None:
    """scikit-learn 1.6.1 + pyarrow 19.0.1 with numpy unpinned (2.4 when this was written): the
    STB_GNU_UNIQUE `std::_Sp_make_shared_tag::_S_ti()::__tag` of numpy's and pyarrow's C++ code
    is one object per process by design, and scipy's OpenBLAS runs numpy's libgfortran, which is
    byte-identical to scipy's own copy. Bindings cross wheels; none can break; both orders import."""
    run = wheelmatrix(
        "scikit-learn==1.6.1", "pyarrow==19.0.1", "--distro", "debian-12", "--arch", "x86_64", tmp=tmp_path
    )
    assert run.rc == 0, run.explain()
    bad = [r for r in run.results() if r["status"] != "passed"]
    assert not bad, bad
    col = next(r for r in run.results() if r["check"] == "symbol collisions")
    counts = col["evidence"]["bindings"]
    assert counts["failing"] == {}, counts
    pairs = [p for c in col["evidence"]["collisions"] for p in c.get("crossed") or []]
    assert all(p["benign"] for p in pairs), pairs
    # every binding that crossed was looked at and counted with its reason
    assert sum(counts["benign"].values()) == len(pairs)
    if pairs:
        assert col["diagnosis"].startswith(f"information: {len(pairs)} binding"), col["diagnosis"]


@pytest.mark.xdist_group("false-alarms-vague-linkage")
def test_two_different_definitions_bound_across_wheels_still_fail(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    """The dangerous case keeps failing, with how it breaks: wmcolla's `wm_shared_state` (loaded
    RTLD_GLOBAL) and wmcollb's are different functions, and wmcollb's call goes to wmcolla's."""
    colla = [w for w in paths(wheels["colla"]) if w.name.endswith("x86_64.whl")]
    run, col = symbols_cell(*colla, *with_args(wheels["collb"]), tmp=tmp_path)
    assert run.rc == 1, run.explain()
    assert col["status"] == "failed", col
    assert col["diagnosis"].startswith(
        "`wm_shared_state` wanted by wmcollb/_b.abi3.so was bound to wmcolla/_a.abi3.so: two different "
        "definitions ("
    ), col["diagnosis"]
    assert col["evidence"]["bindings"]["failing"] == {"definitions differ in size": 1}, col["evidence"]
