"""Issue 3 end to end: the static scan, the symbols scenario, crash evidence and the
known-problem catalog, each asserted to name the right file, library, symbol and version."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DEBIAN, MATRIX, paths, wheelmatrix, with_args
from tests.fixtures.wheels import Fixture, write_wheel

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
CELLS = [(d, a) for d in DEBIAN for a in ("x86_64", "aarch64")]


def test_cxx_extension_tagged_older_than_the_libstdcxx_it_needs(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    run = wheelmatrix(*paths(wheels["cxxnew"]), *MATRIX, tmp=tmp_path)
    assert run.rc == 1, run.explain()
    assert run.report is not None
    for scan in run.report["static_scan"]:
        over_all = {f["version"]: f for f in scan["findings"] if f["kind"] == "over-claimed"}
        assert set(over_all) == {"GLIBCXX_3.4.29", "CXXABI_1.3.9"}, over_all  # sized delete: CXXABI_1.3.9
        over = over_all["GLIBCXX_3.4.29"]
        assert over["version"] == "GLIBCXX_3.4.29" and over["library"] == "libstdc++.so.6", over
        assert (
            over["symbol"] == "_ZSt28__throw_bad_array_new_lengthv"
            and over["file"] == "wmcxxnew/_native.abi3.so"
        )
        assert "allows at most GLIBCXX_3.4.19" in over["message"]
    imports, binding = run.by_cell("import wmcxxnew"), run.by_cell("eager binding of wmcxxnew")
    assert set(imports) == set(binding) == set(CELLS)
    for (distro, _arch), res in imports.items():
        if distro == "debian-11":
            assert res["status"] == "failed" and "GLIBCXX_3.4.29" in res["detail"], res
            assert res["diagnosis"].startswith("predicted and confirmed: needs GLIBCXX_3.4.29"), res
            assert "debian-11 has GLIBCXX_3.4.28" in res["diagnosis"]
            bind = binding[(distro, _arch)]
            assert bind["status"] == "failed", bind
            assert bind["detail"] == "wmcxxnew/_native.abi3.so: version GLIBCXX_3.4.29 not found", bind
        else:
            assert res["status"] == "passed" and binding[(distro, _arch)]["status"] == "passed"


def test_unshipped_library_is_named_by_the_symbols_scenario(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    run = wheelmatrix(
        *paths(wheels["missinglib"]), "--distro", "debian-12", "--scenario", "symbols", tmp=tmp_path
    )
    assert run.rc == 1, run.explain()
    libs = run.by_cell("libraries of wmmissing")
    assert len(libs) == 2
    for res in libs.values():
        assert res["status"] == "failed"
        assert res["detail"] == "wmmissing/_native.abi3.so: libwmabsent.so.1 not found", res
        assert "which the wheel does not ship" in res["diagnosis"]


def test_crash_in_init_maps_the_fault_to_its_function(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(
        *paths(wheels["initcrash"]), "--distro", "debian-13", "--scenario", "import", tmp=tmp_path
    )
    assert run.rc == 1, run.explain()
    for res in run.by_cell("import wmcrash").values():
        assert res["status"] == "crashed"
        assert res["diagnosis"].startswith("SIGSEGV at PyInit__native+0x"), res
        assert "in wmcrash/_native.abi3.so (fault address 0x0)" in res["diagnosis"]


def test_second_copy_of_a_runtime_is_named(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(
        *paths(wheels["vendored"]),
        *with_args(wheels["cxxnew"]),
        "--distro",
        "debian-12",
        "--distro",
        "debian-13",
        "--scenario",
        "symbols",
        tmp=tmp_path,
    )
    got = run.by_cell("duplicate runtimes")
    assert len(got) == 4, run.explain()
    for res in got.values():
        assert res["status"] == "passed"  # a hazard to show, not a failure by itself
        assert res["diagnosis"].startswith("2 copies of libstdc++: "), res
        assert "wmvendored.libs/libstdc++-wm0a1b2c.so.6.0.30" in res["diagnosis"]
        assert "/usr/lib/" in res["diagnosis"]


def test_known_problems_reproduce_and_are_named(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(
        *paths(wheels["pure"]),
        "--with-known-problems",
        "--distro",
        "debian-11",
        "--distro",
        "debian-12",
        tmp=tmp_path,
    )
    # the sets fail on their own (their baselines show it): `known`, and the healthy wheel passes
    assert run.rc == 0, run.explain()
    abi = [
        r for r in run.results() if r["variant"] == "numpy2-abi-pandas20" and r["check"].startswith("import")
    ]
    assert len([r for r in abi if r["status"] == "known"]) >= 8, abi  # 2 orders x 4 cells
    for r in abi:
        if r["status"] != "passed":
            assert r["status"] == "known" and "numpy.dtype size changed" in r["detail"], r
            assert r["diagnosis"].startswith("the set `numpy2-abi-pandas20` fails the same way"), r
            assert "known problem `numpy2-abi-pandas20`" in r["diagnosis"], r
    baseline = [r for r in run.results() if r["variant"] == "numpy2-abi-pandas20.baseline"]
    assert baseline and all(r["status"] in ("known", "passed") for r in baseline)
    # opencv-python + opencv-python-headless write the same files: the set's own problem
    opencv = [r for r in run.results("installed files") if r["variant"] == "opencv-python-and-headless"]
    assert [(r["distro"], r["arch"], r["status"]) for r in opencv] == [("debian-12", "x86_64", "known")], (
        opencv
    )
    assert "known problem `opencv-python-and-headless`" in opencv[0]["diagnosis"]
    blas = [
        r for r in run.results("duplicate runtimes") if r["variant"] == "duplicate-openblas-numpy126-scipy113"
    ]
    assert len(blas) == 4
    for r in blas:
        assert r["diagnosis"].startswith("known problem `duplicate-openblas-numpy126-scipy113`"), r
        assert "2 copies of OpenBLAS" in r["diagnosis"]
        assert "numpy.libs/libopenblas64_p" in r["diagnosis"] and "scipy.libs/libopenblasp" in r["diagnosis"]
    # the user's own candidate is untouched by the sets
    assert all(r["status"] == "passed" for r in run.results("import wmpure"))


def test_healthy_popular_wheels_raise_no_false_alarm(tmp_path: Path) -> None:
    run = wheelmatrix(
        "numpy",
        "pandas",
        "pyarrow",
        "--distro",
        "debian-12",
        "--distro",
        "debian-13",
        "--arch",
        "x86_64",
        tmp=tmp_path,
    )
    assert run.rc == 0, run.explain()
    for r in run.results():
        assert r["status"] == "passed", r
        assert r["diagnosis"] == "", r


def test_gdb_backtrace_when_the_image_has_gdb(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    crash = [w for w in wheels["initcrash"].wheels if w.name.endswith("x86_64.whl")]
    run = wheelmatrix(
        *crash, "--gdb", "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import", tmp=tmp_path
    )
    assert run.rc == 1, run.explain()
    (res,) = run.results("import wmcrash")
    backtrace = res["evidence"]["native"]["gdb_backtrace"]
    assert backtrace and "PyInit__native" in backtrace[0] and "wmcrash/_native.abi3.so" in backtrace[0], (
        backtrace
    )
    assert "gdb: PyInit__native <- " in res["diagnosis"], res


def test_unversioned_too_new_libc_symbol_is_predicted_and_explained(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    """No symbol version to check: the glibc symbol data says arc4random is new in 2.36."""
    run = wheelmatrix(
        *paths(wheels["unversioned"]), "--distro", "debian-11", "--distro", "debian-12",
        "--scenario", "import", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    cells = run.by_cell("import wmunversioned")
    for arch in ("x86_64", "aarch64"):
        old = cells[("debian-11", arch)]
        assert old["status"] == "failed" and "undefined symbol: arc4random" in old["detail"], old
        assert "predicted and confirmed" in old["diagnosis"], old
        assert "referenced without a symbol version" in old["diagnosis"]
        assert cells[("debian-12", arch)]["status"] == "passed"
    scan = run.report["static_scan"] if run.report else []
    assert any(
        f["kind"] == "over-claimed" and f["version"] == "GLIBC_2.36" for s in scan for f in s["findings"]
    )


def test_executable_stack_refused_from_glibc_2_41_only(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(
        *paths(wheels["execstack"]), "--distro", "debian-12", "--distro", "debian-13",
        "--scenario", "import", "--scenario", "symbols", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    cells = run.by_cell("import wmexecstack")
    for arch in ("x86_64", "aarch64"):
        new = cells[("debian-13", arch)]
        assert new["status"] == "failed" and "executable stack" in new["detail"], new
        assert "predicted and confirmed" in new["diagnosis"] and "noexecstack" in new["diagnosis"], new
        assert cells[("debian-12", arch)]["status"] == "passed"
    # every check the executable stack fails — the symbols scenario's too — names it
    failing = [r for r in run.results() if r["status"] == "failed" and r["distro"] == "debian-13"]
    assert {r["scenario"] for r in failing} >= {"import", "symbols"}, failing
    for r in failing:
        assert r["finding"]["kind"] == "executable-stack", r
        assert r["diagnosis"], f"the evidence names the cause, so must the diagnosis: {r}"


def test_removed_standard_library_module_is_named_with_the_release(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    run = wheelmatrix(
        *paths(wheels["oldstdlib"]), "--distro", "debian-12", "--distro", "debian-13", "--arch", "x86_64",
        "--scenario", "import", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    cells = run.by_cell("import wmoldstdlib")
    assert cells[("debian-12", "x86_64")]["status"] == "passed"
    new = cells[("debian-13", "x86_64")]
    assert new["status"] == "failed" and "No module named 'cgi'" in new["detail"]
    assert "removed from the standard library in Python 3.13 (PEP 594)" in new["diagnosis"], new


def test_out_of_memory_kill_is_named_with_the_limit(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(
        *paths(wheels["memhog"]), "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import",
        "--memory", "256m", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    hog = run.by_cell("import wmmemhog")[("debian-12", "x86_64")]
    assert hog["status"] == "crashed" and hog["detail"] == "SIGKILL: out of memory (limit 256m)", hog
    assert "OOM killer" in hog["diagnosis"] and "--memory" in hog["diagnosis"]


def test_warning_only_break_is_marked_and_strict_warnings_fail_it(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    args = [*paths(wheels["warnonly"]), "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import"]
    run = wheelmatrix(*args, tmp=tmp_path)
    assert run.rc == 0, run.explain()
    res = run.by_cell("import wmwarnonly")[("debian-12", "x86_64")]
    assert res["status"] == "passed" and res["detail"].startswith("passed with a warning: RuntimeWarning"), (
        res
    )
    assert "native part unavailable" in res["evidence"]["warnings"][0]
    assert "passed with a warning: RuntimeWarning" in run.stdout  # in the terminal's root causes
    strict = wheelmatrix(*args, "--strict-warnings", tmp=tmp_path)
    assert strict.rc == 1, strict.explain()
    assert strict.by_cell("import wmwarnonly")[("debian-12", "x86_64")]["status"] == "failed"


def test_real_stdlib_removal_pydub_needs_audioop_on_python_313(tmp_path: Path) -> None:
    """pydub 0.25.1 imports audioop (removed in 3.13), then falls back to pyaudioop: the
    failure names the fallback, the diagnosis the removed module (jiaaro/pydub#725)."""
    run = wheelmatrix(
        "pydub==0.25.1", "--distro", "debian-12", "--distro", "debian-13", "--arch", "x86_64",
        "--scenario", "import", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    cells = run.by_cell("import pydub")
    assert cells[("debian-12", "x86_64")]["status"] == "passed"
    new = cells[("debian-13", "x86_64")]
    assert new["status"] == "failed" and "pyaudioop" in new["detail"], new
    assert new["diagnosis"].startswith(
        "audioop was removed from the standard library in Python 3.13 (PEP 594)"
    )
    assert "audioop-lts" in new["diagnosis"], new


@pytest.mark.xdist_group("torch-aarch64")
def test_real_warning_only_break_torch_built_for_numpy1_with_numpy2(tmp_path: Path) -> None:
    """torch 2.2.2 (PyPI's aarch64 wheel is CPU-only and small enough) was compiled against
    NumPy 1.x and catches the failure: `import torch` succeeds and only prints "A module that
    was compiled using NumPy 1.x cannot be run in NumPy 2" (pytorch/pytorch#107302)."""
    run = wheelmatrix(
        "torch==2.2.2", "--with", "numpy==2.0.2", "--distro", "debian-12", "--arch", "aarch64",
        "--scenario", "import", "--timeout", "600", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 0, run.explain()
    res = run.by_cell("import torch")[("debian-12", "aarch64")]
    assert res["status"] == "passed", res
    assert res["detail"] == (
        "passed with a warning: A module that was compiled using NumPy 1.x cannot be run in NumPy 2"
    ), res
    assert "loaded with numpy 2.0.2" in res["diagnosis"] and "pin numpy<2" in res["diagnosis"], res
    assert "passed with a warning: A module that was compiled using NumPy 1.x" in run.stdout


def test_bundled_executable_that_cannot_start_is_caught_where_import_passes(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    run = wheelmatrix(
        *paths(wheels["exe"]), "--distro", "debian-11", "--distro", "debian-12", "--arch", "x86_64",
        "--scenario", "import", "--scenario", "commands", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    assert all(r["status"] == "passed" for r in run.results("import wmexe")), run.explain()
    tool = run.by_cell("run wmexe-tool --version")
    old = tool[("debian-11", "x86_64")]
    assert old["status"] == "failed" and "GLIBC_2.36" in old["detail"], old
    assert tool[("debian-12", "x86_64")]["status"] == "passed"
    assert "wmexe-tool 1.0" in tool[("debian-12", "x86_64")]["detail"]
    scan = run.report["static_scan"] if run.report else []
    assert any(
        f["kind"] == "over-claimed" and "wmexe-tool" in (f["file"] or "") for s in scan for f in s["findings"]
    ), scan


def test_real_static_executable_starts_everywhere(tmp_path: Path) -> None:
    """ruff ships a static executable in .data/scripts: no false alarm on Debian 11."""
    run = wheelmatrix(
        "ruff==0.6.9", "--distro", "debian-11", "--arch", "x86_64", "--scenario", "commands", tmp=tmp_path
    )
    assert run.rc == 0, run.explain()
    (res,) = run.results()
    assert res["check"] == "run ruff --version" and res["detail"].startswith("ruff 0.6.9"), res


def test_fallback_to_the_pure_wheel_is_named(tmp_path: Path) -> None:
    """A binary wheel for x86_64 only: aarch64 installs the pure wheel, which needs a system library."""
    dist = tmp_path / "dist"
    write_wheel(
        dist, "wmfallback", "1.0", "py3-none-manylinux_2_17_x86_64",
        {"wmfallback/__init__.py": b"FAST = True\n"}, purelib=False,
    )  # fmt: skip
    write_wheel(
        dist, "wmfallback", "1.0", "py3-none-any",
        {"wmfallback/__init__.py": b"import ctypes\n_lib = ctypes.CDLL('libwmfast.so.1')\n"}, purelib=True,
    )  # fmt: skip
    run = wheelmatrix(
        *sorted(dist.glob("*.whl")), "--distro", "debian-12", "--scenario", "import", tmp=tmp_path
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    cells = run.by_cell("import wmfallback")
    assert cells[("debian-12", "x86_64")]["status"] == "passed"
    arm = cells[("debian-12", "aarch64")]
    assert arm["status"] == "failed" and "libwmfast.so.1" in arm["detail"], arm
    assert arm["diagnosis"].startswith(
        "no aarch64 wheel of wmfallback 1.0 for this cell; the pure wheel (none-any) was installed "
        "and needs the system's libwmfast.so.1"
    ), arm


def test_requirement_candidates_get_the_installed_wheel_scanned(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    """`validate wmnewglibc` names no file: the wheel the installer picked is read from the cell
    and scanned against its own tag (manylinux_2_17, needs GLIBC_2.36)."""
    links = paths(wheels["newglibc"])[0].parent
    run = wheelmatrix(
        "wmnewglibc", "--find-links", links, "--offline", "--distro", "debian-12", "--arch", "x86_64",
        "--scenario", "import", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    checks = {r["check"]: r for r in run.results()}
    assert checks["import wmnewglibc"]["status"] == "passed"  # it loads here ...
    tag = checks["tag wmnewglibc 1.0"]  # ... but users at the claimed floor would fail
    assert tag["status"] == "failed" and "GLIBC_2.36" in tag["detail"], tag


def test_abi3_wheel_tagged_older_than_the_stable_abi_it_uses(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    """wmabi3new is tagged cp36-abi3 but calls PyModule_AddObjectRef (new in 3.10, stable ABI
    since 3.10): Debian 11's Python 3.9 installs it and fails to import it; 3.11 imports it."""
    run = wheelmatrix(
        *paths(wheels["abi3new"]), "--distro", "debian-11", "--distro", "debian-12", "--arch", "x86_64",
        "--scenario", "import", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    assert run.report is not None
    for scan in run.report["static_scan"]:
        (over,) = [f for f in scan["findings"] if f["kind"] == "abi3-over-claimed"]
        assert over["symbol"] == "PyModule_AddObjectRef" and over["tag"] == "cp36-abi3", over
        assert "PyType_FromModuleAndSpec (stable ABI since 3.10)" in over["message"]
    imports = run.by_cell("import wmabi3new")
    assert set(imports) == {("debian-11", "x86_64"), ("debian-12", "x86_64")}
    old, new = imports[("debian-11", "x86_64")], imports[("debian-12", "x86_64")]
    assert old["status"] == "failed" and "undefined symbol: PyModule_AddObjectRef" in old["detail"], old
    assert old["diagnosis"].startswith("predicted and confirmed: tagged cp36-abi3 but"), old
    assert old["finding"]["kind"] == "abi3-over-claim" and old["finding"]["subject"].endswith(".whl"), old
    assert new["status"] == "passed", new
