"""System libraries a wheel needs but does not ship: loader messages, providers, install hints.

The provider tests read the real wheelmatrix/data/system-libs.json; the expected Debian package names are
the ones the archive's Contents indexes list (and dpkg -S reports on a bookworm host).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from wheelmatrix.resources import data_path
from wheelmatrix.scan.system_libs import debian_suite, install_hint, missing_library, provider, providers

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- loader messages


@pytest.mark.parametrize(
    "message",
    [
        "libGL.so.1: cannot open shared object file: No such file or directory",
        "ImportError: libGL.so.1: cannot open shared object file: No such file or directory",
        "python3: error while loading shared libraries: libGL.so.1: cannot open shared object file: "
        "No such file or directory",
        "OSError: cannot load library 'libGL.so.1': libGL.so.1: cannot open shared object file: "
        "No such file or directory",
        "ImportError: /usr/lib/x86_64-linux-gnu/libGL.so.1: cannot open shared object file: "
        "No such file or directory",
        # musl
        "ImportError: Error loading shared library libGL.so.1: No such file or directory "
        "(needed by /venv/lib/python3.12/site-packages/cv2/cv2.abi3.so)",
        "Error loading shared library libGL.so.1: No such file or directory",
        # ldd
        "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)\n\tlibGL.so.1 => not found\n",
        # the symbols scenario's own ELF walk (numba's optional OpenMP layer, seen in bench/stacks.py)
        "numba/np/ufunc/omppool.cpython-311-x86_64-linux-gnu.so: libGL.so.1 not found; "
        "x.so: libtbb.so.12 not found",
    ],
)
def test_missing_library(message: str) -> None:
    assert missing_library(message) == "libGL.so.1"


def test_missing_library_in_a_traceback_takes_the_first() -> None:
    message = (
        "Traceback (most recent call last):\n"
        '  File "<string>", line 1, in <module>\n'
        "ImportError: libgomp.so.1: cannot open shared object file: No such file or directory\n"
        "During handling ...: libGL.so.1: cannot open shared object file: No such file or directory\n"
    )
    assert missing_library(message) == "libgomp.so.1"


@pytest.mark.parametrize(
    "message",
    [
        "",
        "ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found",
        "ImportError: libfoo.so.1: wrong ELF class: ELFCLASS32",
        "Error relocating /x/y.so: __memcpy_chk: symbol not found",
        "Error loading shared library libfoo.so.1: Exec format error (needed by /x/y.so)",
        "ModuleNotFoundError: No module named 'cv2'",
    ],
)
def test_not_a_missing_library(message: str) -> None:
    assert missing_library(message) is None


# --------------------------------------------------------------------------- Debian / Ubuntu


@pytest.mark.parametrize(
    ("soname", "release", "package"),
    [
        ("libGL.so.1", "bookworm", "libgl1"),
        ("libGL.so.1", "trixie", "libgl1"),
        ("libGL.so.1", "bullseye", "libgl1"),
        ("libgomp.so.1", "bookworm", "libgomp1"),
        ("libgomp.so.1", "trixie", "libgomp1"),
        ("libglib-2.0.so.0", "bookworm", "libglib2.0-0"),
        ("libglib-2.0.so.0", "trixie", "libglib2.0-0t64"),  # the 64-bit time_t transition
        ("libgthread-2.0.so.0", "bookworm", "libglib2.0-0"),
        ("libX11.so.6", "bookworm", "libx11-6"),
        ("libSM.so.6", "bookworm", "libsm6"),
        ("libXext.so.6", "bookworm", "libxext6"),
        ("libXrender.so.1", "bookworm", "libxrender1"),
        ("libEGL.so.1", "bookworm", "libegl1"),
        ("libOpenGL.so.0", "bookworm", "libopengl0"),
        ("libgfortran.so.5", "bookworm", "libgfortran5"),
        ("libstdc++.so.6", "bookworm", "libstdc++6"),
        ("libz.so.1", "bookworm", "zlib1g"),
        ("libssl.so.3", "bookworm", "libssl3"),
        ("libssl.so.3", "trixie", "libssl3t64"),
        ("libssl.so.1.1", "bullseye", "libssl1.1"),
        ("libpng16.so.16", "trixie", "libpng16-16t64"),
        ("libc.so.6", "bullseye", "libc6"),  # lib/<triplet>/ before the /usr merge
        # update-alternatives libraries live in subdirectories; the default implementation is named
        ("libblas.so.3", "bookworm", "libblas3"),
        ("liblapack.so.3", "bookworm", "liblapack3"),
        ("libopenblas.so.0", "bookworm", "libopenblas0-pthread"),
        # several packages ship it: the policy name wins over elogind's
        ("libsystemd.so.0", "bookworm", "libsystemd0"),
    ],
)
def test_debian_provider(soname: str, release: str, package: str) -> None:
    assert provider(soname, "debian", release) == package


def test_releases_by_version_and_catalog_id() -> None:
    assert provider("libglib-2.0.so.0", "debian", "12") == "libglib2.0-0"
    assert provider("libglib-2.0.so.0", "debian", "debian-13") == "libglib2.0-0t64"
    assert debian_suite("debian", "debian-11") == "bullseye"
    assert debian_suite("debian", "12.7") == "bookworm"


def test_ubuntu_uses_the_debian_suite_it_derives_from() -> None:
    # the catalog files Ubuntu under the debian family, with ids like ubuntu-22.04
    assert debian_suite("debian", "ubuntu-22.04") == "bookworm"
    assert debian_suite("ubuntu", "24.04") == "trixie"
    assert debian_suite("ubuntu", "noble") == "trixie"
    assert debian_suite("ubuntu", "20.04") == "bullseye"
    assert provider("libGL.so.1", "ubuntu", "22.04") == "libgl1"
    assert provider("libglib-2.0.so.0", "debian", "ubuntu-22.04") == "libglib2.0-0"
    assert provider("libglib-2.0.so.0", "ubuntu", "ubuntu-24.04") == "libglib2.0-0t64"
    # an Ubuntu release given with the catalog's family for it
    assert provider("libglib-2.0.so.0", "debian", "jammy") == "libglib2.0-0"
    assert install_hint("libglib-2.0.so.0", "debian", "22.04.4") == "apt-get install libglib2.0-0"


def test_ubuntu_falls_back_to_older_suites() -> None:
    # jammy still ships libtiff5 (as bullseye did); bookworm moved to libtiff6
    assert provider("libtiff.so.5", "debian", "bookworm") is None
    assert provider("libtiff.so.5", "ubuntu", "22.04") == "libtiff5"
    assert provider("libtiff.so.6", "ubuntu", "22.04") == "libtiff6"
    assert provider("libssl.so.3", "ubuntu", "24.04") == "libssl3t64"  # noble has the t64 names
    # never a newer suite's: focal has OpenSSL 1.1 only
    assert provider("libssl.so.3", "ubuntu", "20.04") is None
    assert provider("libssl.so.1.1", "ubuntu", "20.04") == "libssl1.1"


def test_without_a_release_the_newest_suite_that_ships_it() -> None:
    assert provider("libglib-2.0.so.0", "debian") == "libglib2.0-0t64"
    assert provider("libffi.so.7", "debian") == "libffi7"  # bullseye only
    assert provider("libffi.so.7", "debian", "bookworm") is None  # not shipped there
    assert provider("libglib-2.0.so.0", "debian", "forky") == "libglib2.0-0t64"  # unknown: newest


def test_providers_per_suite() -> None:
    assert providers("libffi.so.7") == {"bullseye": "libffi7"}
    assert providers("libglib-2.0.so.0") == {
        "bullseye": "libglib2.0-0",
        "bookworm": "libglib2.0-0",
        "trixie": "libglib2.0-0t64",
    }
    assert providers("libwmabsent.so.1") == {}


def test_architecture_specific() -> None:
    # GCC builds libquadmath for x86 only
    assert provider("libquadmath.so.0", "debian", "bookworm", arch="x86_64") == "libquadmath0"
    assert provider("libquadmath.so.0", "debian", "bookworm", arch="aarch64") is None
    assert provider("libquadmath.so.0", "debian", "bookworm") == "libquadmath0"
    # Hyperscan is x86 only; Debian ships the Vectorscan fork under the same SONAME on arm64
    assert provider("libhs.so.5", "debian", "bookworm", arch="amd64") == "libhyperscan5"
    assert provider("libhs.so.5", "debian", "bookworm", arch="arm64") == "libvectorscan5"
    # an architecture the data was not generated for does not narrow anything
    assert provider("libGL.so.1", "debian", "bookworm", arch="riscv64") == "libgl1"


def test_unknown() -> None:
    assert provider("libwmabsent.so.1", "debian", "bookworm") is None
    assert provider("libwmabsent.so.1", "debian") is None
    assert provider("libwmabsent.so.1", "fedora") is None
    assert provider("libwmabsent.so.1", "alpine") is None
    assert provider("libGL.so.1", "gentoo") is None
    assert install_hint("libwmabsent.so.1", "debian", "bookworm") is None
    # the dev symlink is not a SONAME
    assert provider("libGL.so", "debian", "bookworm") is None


# --------------------------------------------------------------------------- Fedora / EL / Alpine


@pytest.mark.parametrize(
    ("soname", "family", "release", "package"),
    [
        ("libGL.so.1", "fedora", "41", "mesa-libGL"),
        ("libGL.so.1", "fedora", None, "mesa-libGL"),
        ("libglib-2.0.so.0", "fedora", None, "glib2"),
        ("libgomp.so.1", "fedora", None, "libgomp"),
        ("libX11.so.6", "fedora", None, "libX11"),
        ("libSM.so.6", "fedora", None, "libSM"),
        ("libXext.so.6", "fedora", None, "libXext"),
        ("libXrender.so.1", "fedora", None, "libXrender"),
        ("libgfortran.so.5", "fedora", None, "libgfortran"),
        ("libEGL.so.1", "fedora", None, "libglvnd-egl"),
        ("libOpenGL.so.0", "fedora", None, "libglvnd-opengl"),
        ("libGL.so.1", "alma", "9", "mesa-libGL"),
        ("libGL.so.1", "centos", "centos-7", "mesa-libGL"),
        ("libgfortran.so.3", "centos", "centos-7", "libgfortran"),
        ("libgfortran.so.5", "centos", "7", None),  # not in CentOS 7's base repositories
        ("libgfortran.so.5", "rocky", "9.4", "libgfortran"),
        ("libGL.so.1", "alpine", "3.20", "mesa-gl"),
        ("libglib-2.0.so.0", "alpine", None, "glib"),
        ("libgomp.so.1", "alpine", None, "libgomp"),
        ("libX11.so.6", "alpine", None, "libx11"),
        ("libSM.so.6", "alpine", None, "libsm"),
        ("libXext.so.6", "alpine", None, "libxext"),
        ("libXrender.so.1", "alpine", None, "libxrender"),
        ("libgfortran.so.5", "alpine", None, "libgfortran"),
        ("libEGL.so.1", "alpine", None, "mesa-egl"),
    ],
)
def test_curated_provider(soname: str, family: str, release: str | None, package: str | None) -> None:
    assert provider(soname, family, release) == package


# --------------------------------------------------------------------------- install hints


@pytest.mark.parametrize(
    ("soname", "family", "release", "hint"),
    [
        ("libGL.so.1", "debian", "debian-12", "apt-get install libgl1"),
        ("libglib-2.0.so.0", "debian", "debian-13", "apt-get install libglib2.0-0t64"),
        ("libGL.so.1", "debian", "ubuntu-22.04", "apt-get install libgl1"),
        ("libGL.so.1", "ubuntu", "24.04", "apt-get install libgl1"),
        ("libGL.so.1", "fedora", "fedora-41", "dnf install mesa-libGL"),
        ("libGL.so.1", "alma", "9", "dnf install mesa-libGL"),
        ("libGL.so.1", "centos", "centos-7", "yum install mesa-libGL"),
        ("libGL.so.1", "alpine", "alpine-3.20", "apk add mesa-gl"),
        ("libgomp.so.1", "alpine", None, "apk add libgomp"),
    ],
)
def test_install_hint(soname: str, family: str, release: str | None, hint: str) -> None:
    assert install_hint(soname, family, release) == hint


def test_from_a_loader_message_to_a_hint() -> None:
    detail = "ImportError: libGL.so.1: cannot open shared object file: No such file or directory"
    soname = missing_library(detail)
    assert soname is not None
    assert install_hint(soname, "debian", "debian-12") == "apt-get install libgl1"


# --------------------------------------------------------------------------- the data file


def test_data_provenance_and_size() -> None:
    path = data_path("system-libs.json")
    doc = json.loads(path.read_text())
    assert "scripts/update-system-libs.py" in doc["_comment"]
    assert {"bookworm", "trixie"} <= set(doc["debian_suites"])
    for meta in doc["debian_suites"].values():
        assert set(meta["archs"]) == {"amd64", "arm64"}
    assert "not generated" in doc["curated"]["source"].lower()
    assert "derives its packages from debian" in doc["ubuntu"]["source"].lower()
    assert len(doc["debian"]) > 10_000  # every library in main, not a hand-picked few
    assert path.stat().st_size < 3_000_000
    # every library a manylinux policy allows a wheel to expect from the system is covered
    policy = json.loads(data_path("policy.json").read_text())
    wanted = {lib for table in policy["manylinux"].values() for lib in table["libs"]}
    assert wanted <= set(doc["debian"])


# --------------------------------------------------------------------------- the generator script


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "update_system_libs", ROOT / "scripts" / "update-system-libs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_policy_name(script: ModuleType) -> None:
    assert script.policy_name("libGL.so.1") == "libgl1"
    assert script.policy_name("libpng16.so.16") == "libpng16-16"
    assert script.policy_name("libgcc_s.so.1") == "libgcc-s1"
    assert script.policy_name("libssl.so.1.1") == "libssl1.1"


def test_choose(script: ModuleType) -> None:
    assert script.choose("libsystemd.so.0", {"libelogind0", "libsystemd0"}, set()) == "libsystemd0"
    assert script.choose("libavcodec.so.59", {"libavcodec-extra59", "libavcodec59"}, set()) == "libavcodec59"
    assert script.choose("libc++.so.1", {"libc++1-13", "libc++1-9", "libc++1-19"}, set()) == "libc++1-19"
    assert script.choose("libSDL-1.2.so.0", {"libsdl1.2-compat-shim", "libsdl1.2debian"}, set()) == (
        "libsdl1.2debian"
    )
    flavours = {"libopenblas0-openmp", "libopenblas0-pthread", "libopenblas0-serial"}
    assert script.choose("libopenblas.so.0", set(), flavours) == "libopenblas0-pthread"
    assert script.choose("libGL.so.1", {"libgl1"}, {"primus-libs"}) == "libgl1"


def test_read_contents(script: ModuleType, tmp_path: Path) -> None:
    lines = [
        "usr/lib/x86_64-linux-gnu/libGL.so                       libdevel/libgl-dev",
        "usr/lib/x86_64-linux-gnu/libGL.so.1                     libs/libgl1",
        "usr/lib/x86_64-linux-gnu/libGL.so.1.7.0                 libs/libgl1",
        "usr/lib/x86_64-linux-gnu/primus/libGL.so.1              utils/primus-libs",
        "usr/lib/x86_64-linux-gnu/libpython3.11.so.1             python/libpython3.11",
        "usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0           python/libpython3.11",
        "usr/lib/x86_64-linux-gnu/libboost_regex.so.1.74.0       libs/libboost-regex1.74.0",
        "usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3  libs/libopenblas0-pthread",
        "usr/lib/x86_64-linux-gnu/blas/libblas.so.3              libs/libblas3",
        "lib/x86_64-linux-gnu/libc.so.6                          libs/libc6",
        "usr/lib/i386-linux-gnu/libfoo.so.1                      libs/libfoo1",
        "usr/lib/x86_64-linux-gnu/libsystemd.so.0                admin/libsystemd0,admin/libelogind0",
        "usr/share/doc/libgl1/libGL.so.1                         libs/libgl1",
    ]
    path = tmp_path / "Contents-amd64.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    shipped = script.read_contents(path, "amd64")
    assert dict(shipped.direct) == {
        "libGL.so.1": {"libgl1"},
        "libpython3.11.so.1": {"libpython3.11"},
        "libpython3.11.so.1.0": {"libpython3.11"},  # a real SONAME with two components
        "libboost_regex.so.1.74.0": {"libboost-regex1.74.0"},  # the only name: its SONAME
        "libc.so.6": {"libc6"},
        "libsystemd.so.0": {"libsystemd0", "libelogind0"},
    }
    assert dict(shipped.alternative) == {"libblas.so.3": {"libopenblas0-pthread", "libblas3"}}
    assert script.pick("libblas.so.3", [shipped]) == "libblas3"
    assert script.pick("libGL.so", [shipped]) is None


def test_apt_mirrors(script: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n"
        "# a comment\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "Types: deb-src\n"
        "URIs: http://src.example/debian\n"
        "Suites: bookworm\n"
    )
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] https://other.example/debian trixie main\n"
        "deb cdrom:[Debian]/ bookworm main\n"
    )
    assert script.apt_mirrors(tmp_path) == ["http://mirror.example/debian", "https://other.example/debian"]
