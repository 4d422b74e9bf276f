"""End to end: the real CLI, a real engine, Debian 11/12/13 images on x86_64 and aarch64 (QEMU),
and fixture wheels built in the test session for each failure class the runner tells apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DEBIAN, MATRIX, paths, wheelmatrix, with_args
from tests.fixtures.wheels import Fixture

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
CELLS = [(d, a) for d in DEBIAN for a in ("x86_64", "aarch64")]
PYTHON = {"debian-11": "3.9", "debian-12": "3.11", "debian-13": "3.13"}


def test_pure_wheel_passes_everywhere(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(*paths(wheels["pure"]), *MATRIX, "--jobs", "2", tmp=tmp_path)
    assert run.rc == 0, run.explain()
    got = run.by_cell("import wmpure")
    assert set(got) == set(CELLS)
    for (distro, _arch), res in got.items():
        assert res["status"] == "passed", res
        assert res["python"] == PYTHON[distro]
        assert res["scenario"] == "import"
        assert res["duration_s"] > 0
    assert run.report is not None and run.report["summary"]["exit_code"] == 0


def test_overclaimed_glibc_fails_only_where_glibc_is_too_old(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    junit, markdown = tmp_path / "report.xml", tmp_path / "summary.md"
    run = wheelmatrix(
        *paths(wheels["newglibc"]),
        *MATRIX,
        "--junit",
        junit,
        "--markdown",
        markdown,
        "--scenario",
        "import",
        tmp=tmp_path,
    )
    assert run.rc == 1, run.explain()
    got = run.by_cell("import wmnewglibc")
    assert set(got) == set(CELLS)
    for (distro, arch), res in got.items():
        # each cell got the wheel built for its own arch
        assert res["wheels"] == [f"wmnewglibc-1.0-cp39-abi3-manylinux_2_17_{arch}.whl"]
        if distro == "debian-11":
            assert res["status"] == "failed", res
            assert "GLIBC_2.36" in res["detail"] and "ImportError" in res["detail"], res
            # predicted from the static scan before the run, then confirmed by it
            assert res["diagnosis"].startswith("predicted and confirmed: needs GLIBC_2.36"), res
            assert "arc4random" in res["diagnosis"] and "wmnewglibc/_native.abi3.so" in res["diagnosis"]
        else:
            assert res["status"] == "passed", res
            assert res["diagnosis"] == ""
    assert run.report is not None
    predicted = {p["cell"] for p in run.report["run"]["predictions"]}
    assert predicted == {"debian-11/x86_64/py3.9/import", "debian-11/aarch64/py3.9/import"}
    assert "Predicted before running" in run.stdout
    (scan,) = [s for s in run.report["static_scan"] if s["wheel"].endswith("x86_64.whl")]
    over = [f for f in scan["findings"] if f["kind"] == "over-claimed"]
    assert over and over[0]["version"] == "GLIBC_2.36" and over[0]["symbol"] == "arc4random"
    assert over[0]["file"] == "wmnewglibc/_native.abi3.so" and over[0]["library"] == "libc.so.6"
    # the tag itself fails everywhere the wheel installs: users at the floor it claims break
    tags = {(r["distro"], r["arch"]): r for r in run.results() if r["check"].startswith("tag ")}
    assert set(tags) == set(CELLS)
    assert all(t["status"] == "failed" and "GLIBC_2.36" in t["detail"] for t in tags.values())
    xml = junit.read_text()
    # per cell: the import, the tag, installed files, bundled library copies
    assert xml.count("<testcase ") == 6 * 4
    assert xml.count("<failure ") == 2 + 6 and "GLIBC_2.36" in xml and "predicted and confirmed" in xml
    md = markdown.read_text()
    assert "| debian-11/aarch64/py3.9 |" in md and "❌ failed" in md
    # grouped by root cause: one entry per over-claimed wheel file, the import failures and the
    # tag checks together (one fact, one group: not "installers trust the tag" apart from "needs
    # GLIBC_2.36" apart from "version GLIBC_2.36 not found")
    for arch in ("x86_64", "aarch64"):
        wheel = f"wmnewglibc-1.0-cp39-abi3-manylinux_2_17_{arch}.whl"
        line = next(x for x in md.splitlines() if f"(`over-claimed-tag`: {wheel})" in x)
        assert "needs GLIBC_2.36 (arc4random" in line and ": 4 checks in 3 cells" in line, line
    causes = [c for c in run.report["causes"] if c["kind"] == "over-claimed-tag"]
    assert len(causes) == 2 and all(c["checks"] == 4 and "auditwheel repair" in c["fix"] for c in causes)
    assert "over-claimed" in md and "arc4random" in md


def test_crash_in_init_is_reported_with_signal(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(*paths(wheels["initcrash"]), *MATRIX, tmp=tmp_path)
    assert run.rc == 1, run.explain()
    got = run.by_cell("import wmcrash")
    assert set(got) == set(CELLS)
    for res in got.values():
        assert res["status"] == "crashed", res
        assert res["detail"].startswith("SIGSEGV"), res
        assert res["evidence"]["signal"] == "SIGSEGV"
        assert "Fatal Python error: Segmentation fault" in res["evidence"]["output_tail"]
    assert "crashed" in run.stdout and "SIGSEGV" in run.stdout


def test_hanging_import_times_out_without_blocking_other_cells(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    run = wheelmatrix(*paths(wheels["hang"], wheels["pure"]), *MATRIX, "--timeout", "8", tmp=tmp_path)
    assert run.rc == 1, run.explain()
    hung = run.by_cell("import wmhang")
    fine = run.by_cell("import wmpure")
    assert set(hung) == set(fine) == set(CELLS)
    for res in hung.values():
        assert res["status"] == "timed-out", res
        assert "did not finish within 8 s" in res["detail"]
        assert "wmhang/__init__.py" in res["detail"], res  # where it was stuck
        assert 8 <= res["duration_s"] < 30
    assert all(r["status"] == "passed" for r in fine.values())


def test_symbol_collision_crashes_in_one_import_order_only(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    companions = with_args(wheels["collb"])
    run = wheelmatrix(*paths(wheels["colla"]), *companions, *MATRIX, tmp=tmp_path)
    assert run.rc == 1, run.explain()
    alone = run.by_cell("import wmcolla")
    first = run.by_cell("import wmcolla, wmcollb")
    last = run.by_cell("import wmcollb, wmcolla")
    collisions = run.by_cell("symbol collisions")
    assert set(alone) == set(first) == set(last) == set(CELLS)
    for cell in CELLS:
        assert alone[cell]["status"] == "passed", alone[cell]
        assert first[cell]["status"] == "crashed" and first[cell]["detail"].startswith("SIGSEGV"), first[cell]
        assert last[cell]["status"] == "passed", last[cell]
        diagnosis = first[cell]["diagnosis"]
        assert diagnosis.startswith("order-dependent crash: `import wmcolla, wmcollb` SIGSEGV"), diagnosis
        assert "`import wmcollb, wmcolla` passes" in diagnosis
        assert "`wm_shared_state` is exported by both wmcolla/_a.abi3.so and wmcollb/_b.abi3.so" in diagnosis
        # crash evidence: the faulting function and the binding the dynamic linker made
        native = first[cell]["evidence"]["native"]
        assert native["fault"]["pc"]["symbol"] == "PyInit__b", native
        assert native["fault"]["pc"]["dso"].endswith("wmcollb/_b.abi3.so")
        assert "`wm_shared_state` wanted by wmcollb/_b.abi3.so was bound to wmcolla/_a.abi3.so" in diagnosis
        # the symbols scenario names the collision without needing the crash
        collision = collisions[cell]
        assert collision["status"] == "failed", collision
        assert "`wm_shared_state` defined by" in collision["detail"]
        assert "wmcolla/_a.abi3.so" in collision["detail"] and "wmcollb/_b.abi3.so" in collision["detail"]
    # the symbols probe's own steps are in the run's profile, for every cell
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    profile = [json.loads(line) for line in (run_dir / "profile.jsonl").read_text().splitlines()]
    steps = {(p["cell"].split("/")[1], p["phase"]) for p in profile if p["phase"].startswith("symbols: ")}
    for arch in {cell[1] for cell in CELLS}:
        for step in (
            "symbols: libraries and eager binding of each file",
            "symbols: import everything, list the loaded objects",
            "symbols: symbols defined by more than one object",
            "symbols: bindings of the colliding symbols (LD_DEBUG)",
        ):
            assert (arch, step) in steps, sorted(steps)


def test_wheel_for_missing_platform_is_not_installable(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(*paths(wheels["foreign"]), *MATRIX, tmp=tmp_path)
    assert run.rc == 0, run.explain()
    got = run.by_cell("install wmforeign")
    assert set(got) == set(CELLS)
    for res in got.values():
        assert res["status"] == "not-installable", res
        assert "no wheel of wmforeign fits" in res["detail"] and "win_amd64" in res["detail"]
        assert "installer refused it" in res["detail"], res  # prediction confirmed by uv


def test_missing_shared_library_fails_import(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(
        *paths(wheels["missinglib"]),
        "--distro",
        "debian-12",
        "--distro",
        "debian-13",
        "--arch",
        "x86_64",
        "--arch",
        "aarch64",
        tmp=tmp_path,
    )
    assert run.rc == 1, run.explain()
    for res in run.by_cell("import wmmissing").values():
        assert res["status"] == "failed", res
        assert "libwmabsent.so.1" in res["detail"], res
        assert (
            "wmmissing/_native.abi3.so needs libwmabsent.so.1, which the wheel does not ship"
            in res["diagnosis"]
        )


def test_pip_installer_gives_the_same_verdict(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(
        *paths(wheels["newglibc"], wheels["pure"]),
        "--installer",
        "pip",
        "--distro",
        "debian-11",
        "--distro",
        "debian-12",
        "--arch",
        "x86_64",
        tmp=tmp_path,
    )
    assert run.rc == 1, run.explain()
    got = run.by_cell("import wmnewglibc")
    assert got[("debian-11", "x86_64")]["status"] == "failed"
    assert got[("debian-12", "x86_64")]["status"] == "passed"
    assert all(r["installer"] == "pip" for r in run.results())
