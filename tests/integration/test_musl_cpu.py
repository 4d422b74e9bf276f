"""A musl cell built here (no registry) and CPU-level cells, with real containers and wheels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MUSL, paths, wheelmatrix
from tests.fixtures.wheels import Fixture

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("musl-cpu")]
musl = pytest.mark.usefixtures("musl_images")
debian = pytest.mark.usefixtures("debian_images")


@musl
def test_real_musllinux_wheels_import_and_link_on_musl(tmp_path: Path) -> None:
    """numpy, pandas and pyarrow publish musllinux wheels: uv picks them in the musl cell and
    they import and pass the symbols scenario (read by the probe's own ELF reading)."""
    run = wheelmatrix(
        "numpy==2.2.6", "pandas==2.2.3", "pyarrow==20.0.0", "--distro", MUSL, "--arch", "x86_64",
        tmp=tmp_path, timeout=2400,
    )  # fmt: skip
    assert run.rc == 0, run.explain()
    installed = {r["check"] for r in run.results()}
    assert {"import numpy", "import pandas", "import pyarrow", "import numpy, pandas, pyarrow"} <= installed
    for r in run.results():
        assert r["status"] == "passed", r
    binding = {r["check"]: r for r in run.results() if r["check"].startswith("eager binding of")}
    assert set(binding) == {f"eager binding of {p}" for p in ("numpy", "pandas", "pyarrow")}


@musl
def test_real_numpy_on_emulated_aarch64_musl(tmp_path: Path) -> None:
    run = wheelmatrix(
        "numpy==2.2.6", "--distro", MUSL, "--arch", "aarch64", "--scenario", "import", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 0, run.explain()
    (r,) = run.results("import numpy")
    assert r["status"] == "passed" and r["arch"] == "aarch64", r


@musl
def test_glibc_only_symbol_in_a_musllinux_wheel(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    """The regopy case: a musllinux-tagged extension linked against glibc calls a glibc-only
    function; the scan predicts it, the import fails, the symbols scenario names the version."""
    run = wheelmatrix(*paths(wheels["glibconly"]), "--distro", MUSL, tmp=tmp_path)
    assert run.rc == 1, run.explain()
    for arch, version in (("x86_64", "GLIBC_2.2.5"), ("aarch64", "GLIBC_2.17")):
        imp = run.by_cell("import wmglibconly")[(MUSL, arch)]
        assert imp["status"] == "failed" and "gnu_get_libc_version" in imp["detail"], imp
        assert "rego-cpp#226" in imp["diagnosis"], imp
        eager = run.by_cell("eager binding of wmglibconly")[(MUSL, arch)]
        assert eager["status"] == "failed", eager
        assert f"gnu_get_libc_version@{version}" in eager["detail"], eager
        assert "linked against glibc" in eager["diagnosis"], eager
    scan = run.report["static_scan"] if run.report else []
    assert any(f["kind"] == "glibc-in-musllinux" for s in scan for f in s["findings"]), scan


@musl
def test_small_musl_thread_stack_crash_is_diagnosed(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = wheelmatrix(
        *paths(wheels["threadstack"]), "--distro", MUSL, "--arch", "x86_64", "--scenario", "import",
        tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    (r,) = run.results("import wmthreadstack")
    assert r["status"] == "crashed" and "SIGSEGV" in r["detail"], r
    assert "runs with 8 MiB default thread stacks" in r["diagnosis"], r
    assert "musl's 128 KiB default" in r["diagnosis"], r


@debian
def test_newer_cpu_code_dies_of_sigill_below_its_level_and_runs_at_it(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    run = wheelmatrix(
        *paths(wheels["newcpu"]), "--distro", "debian-12", "--scenario", "import",
        "--cpu", "x86-64-v2", "--cpu", "x86-64-v3", "--cpu", "armv8.0", "--cpu", "armv8.2",
        tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    cells = {r["cell_id"]: r for r in run.results("import wmnewcpu")}
    low = {
        "debian-12/x86_64/py3.11/import+cpu-x86-64-v2": ("vmovdqa ymm", "needs x86-64-v3", "QEMU Nehalem"),
        "debian-12/aarch64/py3.11/import+cpu-armv8.0": ("ldaddal", "needs armv8.1", "QEMU cortex-a53"),
    }
    for cell, words in low.items():
        r = cells[cell]
        assert r["status"] == "crashed" and r["detail"].startswith("SIGILL"), r
        assert "illegal instruction `" in r["diagnosis"] and "wmnewcpu/_native.abi3.so" in r["diagnosis"], r
        # a static function: named from the object's own symbol table, not by the dynamic linker
        assert "wmnewcpu/_native.abi3.so (newer_cpu_op+0x" in r["diagnosis"], r
        for word in words:
            assert word in r["diagnosis"], (word, r)
    for cell in (
        "debian-12/x86_64/py3.11/import+cpu-x86-64-v3",
        "debian-12/aarch64/py3.11/import+cpu-armv8.2",
    ):
        assert cells[cell]["status"] == "passed", cells[cell]


@debian
def test_declared_isa_level_is_predicted_and_glibc_refuses_the_object(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    run = wheelmatrix(
        *paths(wheels["newcpudecl"]), "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import",
        "--cpu", "x86-64-v2", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    (r,) = run.results("import wmnewcpudecl")
    assert r["status"] == "failed" and "CPU ISA level is lower than required" in r["detail"], r
    assert "predicted and confirmed" in r["diagnosis"] and "x86-64-v3" in r["diagnosis"], r
    assert "Predicted before running" in run.stdout and "expect SIGILL" in run.stdout


def test_bad_cpu_level_is_an_input_error(tmp_path: Path, wheels: dict[str, Fixture]) -> None:
    run = wheelmatrix(*paths(wheels["pure"]), "--distro", "debian-12", "--cpu", "x86-64-v9", tmp=tmp_path)
    assert run.rc == 2, run.explain()
    assert "unknown CPU level 'x86-64-v9'" in run.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@debian
def test_static_tls_exhaustion_is_explained_and_the_tunable_checked(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    """The libgomp-on-aarch64 class: initial-exec TLS in a dlopen'd object. The big one fails to
    import (re-run with glibc's tunable, which passes); the small one loads and the symbols
    scenario reports its TLS against the loader's reserve."""
    run = wheelmatrix(
        *paths(wheels["statictls"]), *paths(wheels["smalltls"]), "--distro", "debian-12", tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    for arch in ("x86_64", "aarch64"):
        big = run.by_cell("import wmstatictls")[("debian-12", arch)]
        assert big["status"] == "failed" and "cannot allocate memory in static TLS block" in big["detail"], (
            big
        )
        assert (
            "with GLIBC_TUNABLES=glibc.rtld.optional_static_tls=1048576 the import passes" in big["diagnosis"]
        )
        assert "scikit-learn#17231" in big["diagnosis"] and "LD_PRELOAD" in big["diagnosis"], big
        small = run.by_cell("import wmsmalltls")[("debian-12", arch)]
        assert small["status"] == "passed", small
    report = [r for r in run.results() if r["check"] == "static TLS"]
    assert report, run.explain()
    for r in report:
        assert (
            "448 bytes of initial-exec TLS" in r["detail"]
            and "wmsmalltls/_native.abi3.so 448 B" in r["detail"]
        )
        assert "the loader keeps 512 bytes" in r["detail"], r
        assert "close to the static TLS reserve" in r["diagnosis"], r


@debian
def test_repro_runs_one_cell_at_a_cpu_level(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    from tests.conftest import cli

    wheel = next(w for w in wheels["newcpu"].wheels if "aarch64" in w.name)
    res = cli(
        "repro",
        wheel,
        "--distro",
        "debian-12",
        "--arch",
        "aarch64",
        "--cpu",
        "armv8.0",
        "--no-bundle",
        cwd=tmp_path,
    )
    assert res.rc == 132, res.explain()
    assert "illegal instruction `ldaddal w0, w1, [x2]`" in res.stdout, res.explain()
    assert "(newer_cpu_op+0x" in res.stdout and "needs armv8.1" in res.stdout, res.explain()
    two = cli(
        "repro", wheel, "--distro", "debian-12", "--arch", "aarch64", "--cpu", "armv8.0", "--cpu", "armv8.2",
        "--no-bundle", cwd=tmp_path,
    )  # fmt: skip
    assert two.rc == 2 and "give a single --cpu" in two.stderr, two.explain()
