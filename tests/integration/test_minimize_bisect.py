"""`minimize` and `bisect` in real containers: a mixed set of fixture and real PyPI packages
shrunk to the colliding pair in its crashing order, and the first bad version of a fixture
series built here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli
from tests.fixtures.wheels import Fixture, write_wheel

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
CELL = ("--distro", "debian-12", "--arch", "x86_64")


def x86(fixture: Fixture) -> str:
    return str(next(w for w in fixture.wheels if w.name.endswith("_x86_64.whl")))


def fillers(dest: Path, n: int) -> list[str]:
    return [
        str(
            write_wheel(
                dest,
                f"wmfill{i}",
                "1.0",
                "py3-none-any",
                {f"wmfill{i}/__init__.py": b"X = 1\n"},
                purelib=True,
            )
        )
        for i in range(n)
    ]


@pytest.mark.xdist_group("minimize")
def test_minimize_shrinks_a_mixed_set_to_the_colliding_pair_in_its_crashing_order(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    f = fillers(tmp_path / "w", 3)
    freeze = tmp_path / "freeze.txt"
    freeze.write_text("# a user's pip freeze\nsix==1.16.0\nidna==3.10\n")
    run = cli(
        "minimize", *CELL, f[0], "numpy==2.2.6", x86(wheels["colla"]), f[1], "-r", freeze,
        x86(wheels["collb"]), f[2], cwd=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    out = run.stdout
    assert "the whole set (8 packages): crashed (SIGSEGV)" in out, run.explain()
    assert "step 1:" in out and "(fresh install): 2 package(s) [wmcolla, wmcollb]" in out, run.explain()
    assert "minimal set (2 of 8" in out and out.rstrip().count("wmcolla, wmcollb") >= 1, run.explain()
    assert "import order: wmcolla then wmcollb; the reverse order does not" in out, run.explain()
    assert "`wm_shared_state` wanted by wmcollb/_b.abi3.so was bound to wmcolla/_a.abi3.so" in out


def test_minimize_refuses_bad_input_before_starting(tmp_path: Path) -> None:
    bad = tmp_path / "req.txt"
    bad.write_text("numpy==2.2.6\n-e ./src\n")
    run = cli("minimize", *CELL, "numpy", "-r", bad, cwd=tmp_path)
    assert run.rc == 2 and "req.txt:2: '-e ./src' is not a released distribution" in run.stderr, run.explain()
    one = cli("minimize", *CELL, "numpy", cwd=tmp_path)
    assert one.rc == 2 and "at least two packages" in one.stderr, one.explain()


@pytest.mark.xdist_group("bisect")
def test_bisect_finds_the_first_bad_version_of_a_fixture_series(tmp_path: Path) -> None:
    series = tmp_path / "series"
    for minor in range(8):
        crash = minor >= 5  # 1.5 starts dereferencing NULL at import
        code = b"import ctypes\nctypes.string_at(0)\n" if crash else b"X = 1\n"
        write_wheel(series, "wmbis", f"1.{minor}", "py3-none-any", {"wmbis/__init__.py": code}, purelib=True)
    args = ("--find-links", series, "--offline", *CELL)
    run = cli("bisect", "wmbis", "--good", "1.0", "--bad", "1.7", *args, cwd=tmp_path)
    assert run.rc == 1, run.explain()
    out = run.stdout
    assert "wmbis: 8 versions from 1.0 to 1.7" in out
    assert (
        "step 1: wmbis 1.7 -> crashed (SIGSEGV) (bad)" in out and "step 2: wmbis 1.0 -> passed (good)" in out
    )
    assert "first bad version: wmbis 1.5 (last good: 1.4;" in out, run.explain()
    assert out.count("step ") <= 2 + 3, out  # two ends, then log2(8) steps
    assert "1.5: crashed: SIGSEGV" in out
    # the premise is checked: a good version that fails is refused
    wrong = cli("bisect", "wmbis", "--good", "1.6", "--bad", "1.7", *args, cwd=tmp_path)
    assert wrong.rc == 2 and "wmbis 1.6 fails too" in wrong.stdout, wrong.explain()
    order = cli("bisect", "wmbis", "--good", "1.7", "--bad", "1.0", *args, cwd=tmp_path)
    assert order.rc == 2 and "must be older than" in order.stderr, order.explain()
