"""Analyses of the whole installed set, in real cells: files two distributions both write, and
bundled libraries of the same name with different contents."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import paths, wheelmatrix, with_args
from tests.fixtures.wheels import Fixture, write_wheel

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]


@pytest.mark.xdist_group("installed-set")
def test_overlapping_files_and_same_named_libraries(tmp_path: Path) -> None:
    lib = "libwmz-0123abcd.so.1"
    a = write_wheel(
        tmp_path / "d", "wmovera", "1.0", "py3-none-any",
        {"wmshared/__init__.py": b"WHO = 1\n", "wmovera/__init__.py": b"", f"wmovera.libs/{lib}": b"A" * 64},
        purelib=True,
    )  # fmt: skip
    b = write_wheel(
        tmp_path / "d", "wmoverb", "1.0", "py3-none-any",
        {"wmshared/__init__.py": b"WHO = 2\n", "wmoverb/__init__.py": b"", f"wmoverb.libs/{lib}": b"B" * 64},
        purelib=True,
    )  # fmt: skip
    run = wheelmatrix(
        a, "--with", b, "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import", tmp=tmp_path
    )
    assert run.rc == 1, run.explain()
    checks = {r["check"]: r for r in run.results()}
    files = checks["installed files"]
    assert files["status"] == "failed" and "wmshared/__init__.py" in files["detail"], files
    assert "wmovera and wmoverb" in files["detail"] and "last installed wins" in files["detail"]
    libs = checks["bundled library copies"]
    assert libs["status"] == "failed" and "libwmz-0123abcd.so.1" in libs["detail"], libs


@pytest.mark.xdist_group("installed-set-opencv")
def test_real_opencv_and_opencv_headless_overwrite_each_other(tmp_path: Path) -> None:
    """opencv/opencv-python#467: both distributions write cv2/."""
    run = wheelmatrix(
        "opencv-python-headless==4.11.0.86", "--with", "opencv-python==4.11.0.86", "--with", "numpy==2.2.6",
        "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import", tmp=tmp_path,
    )  # fmt: skip
    files = next(r for r in run.results() if r["check"] == "installed files")
    assert files["status"] == "failed", run.explain()
    assert "opencv-python and opencv-python-headless" in files["detail"] and "cv2/" in files["detail"]


@pytest.mark.xdist_group("installed-set-healthy")
def test_healthy_sets_have_no_installed_set_alarm(tmp_path: Path) -> None:
    run = wheelmatrix(
        "numpy==2.2.6", "--with", "scipy==1.15.3", "--distro", "debian-12", "--arch", "x86_64",
        "--scenario", "import", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 0, run.explain()
    checks = {r["check"]: r for r in run.results()}
    assert checks["installed files"]["status"] == "passed"
    assert checks["bundled library copies"]["status"] == "passed"


@pytest.mark.xdist_group("installed-set-samelib")
def test_same_named_bundled_library_runs_the_other_wheels_copy(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    """wmsamea and wmsameb each bundle libwmsame-0123abcd.so.1, built differently: imported
    together, the second one imported runs the first one's copy (the dynamic linker reuses a
    loaded library of the same name). Statically (import scenario) and in the running process
    (symbols scenario, which names the copy that loaded and the object that got it)."""
    run = wheelmatrix(
        *paths(wheels["samea"]), *with_args(wheels["sameb"]), "--distro", "debian-12",
        "--scenario", "import", "--scenario", "symbols", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    lib = "libwmsame-0123abcd.so.1"
    static = run.by_cell("bundled library copies")
    shared = run.by_cell("shared library copies")
    assert set(static) == set(shared) == {("debian-12", "x86_64"), ("debian-12", "aarch64")}, run.explain()
    for res in static.values():
        assert res["status"] == "failed" and lib in res["detail"], res
    for res in shared.values():
        # the candidate wmsamea is imported first: wmsameb's extension gets wmsamea's copy
        assert res["status"] == "failed", res
        assert res["detail"] == (
            f"wmsameb/_native.abi3.so needs {lib} and runs against wmsamea's copy "
            f"(wmsamea.libs/{lib}), not its own (wmsameb.libs/{lib})"
        ), res
        assert "import order decides which wins" in res["diagnosis"], res
