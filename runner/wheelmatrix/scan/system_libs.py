"""Which distribution package ships a system library a wheel needs but does not bundle.

A cell failing with `libGL.so.1: cannot open shared object file` is not a broken wheel so much as a
bare image: `missing_library` pulls the library's name out of the loader's message, `provider` names
the package that ships it on the cell's distro family and `install_hint` the command to install it.

The data, wheelmatrix/data/system-libs.json, is generated for Debian from the archive's own contents
indexes by scripts/update-system-libs.py (per suite; Ubuntu releases are looked up in the Debian
suite they derive from). Fedora/EL and Alpine names are a small hand-maintained table ("curated"),
for the libraries wheels commonly expect from the system.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wheelmatrix.resources import data_path

try:  # the file is 1.3 MB: orjson reads it in half the time
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency
    import json

    _loads = json.loads

DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
RPM_FAMILIES = ("fedora", "centos", "alma", "almalinux", "rocky", "rhel")
FAMILIES = ("debian", "ubuntu", *RPM_FAMILIES, "alpine")
_INSTALL = {
    "debian": "apt-get install {}",
    "ubuntu": "apt-get install {}",
    **{family: "dnf install {}" for family in RPM_FAMILIES},
    "centos": "yum install {}",  # CentOS 7 has no dnf; on EL 8+ yum is dnf
    "alpine": "apk add {}",
}

# The loader's words for "not found", with the name it looked for (a bare SONAME or a path).
_NAME = r"(?P<name>[^\s:'\"()]+)"
_MISSING = (
    # glibc's ld.so (ImportError, OSError from ctypes/cffi, "error while loading shared libraries")
    re.compile(_NAME + r": cannot open shared object file: No such file or directory"),
    # musl's ld.so
    re.compile(r"Error loading shared library " + _NAME + r": No such file or directory"),
    # ldd's report
    re.compile(r"^\s*" + _NAME + r" => not found", re.MULTILINE),
    # the symbols scenario's own ELF walk ("pkg/_x.so: libgomp.so.1 not found")
    re.compile(r"\.so[\w.]*: " + _NAME + r" not found"),
)


def missing_library(message: str) -> str | None:
    """The library the dynamic loader could not find, named in MESSAGE (first one), or None.

    Understands glibc (`libGL.so.1: cannot open shared object file: No such file or directory`),
    musl (`Error loading shared library libGL.so.1: No such file or directory (needed by ...)`) and
    ldd (`libGL.so.1 => not found`). A path is reduced to its file name."""
    found = [m for pattern in _MISSING if (m := pattern.search(message))]
    if not found:
        return None
    first = min(found, key=lambda m: m.start())
    return posixpath.basename(first["name"]) or None


@dataclass(frozen=True, kw_only=True)
class _Data:
    debian: Mapping[str, Mapping[str, str]]  # soname -> suite -> package
    by_arch: Mapping[str, Mapping[str, Mapping[str, str]]]  # soname -> suite -> Debian arch -> package
    archs: frozenset[str]  # Debian architectures the data was generated from
    suites: tuple[str, ...]  # oldest first
    versions: Mapping[str, str]  # Debian major version -> suite
    ubuntu: Mapping[str, str]  # Ubuntu version or codename -> Debian suite
    rpm: Mapping[str, str]
    el7: Mapping[str, str | None]
    alpine: Mapping[str, str]


@functools.lru_cache(maxsize=1)
def _data() -> _Data:
    raw: dict[str, Any] = _loads(data_path("system-libs.json").read_bytes())
    suites_meta: dict[str, dict[str, Any]] = raw["debian_suites"]
    suites = tuple(sorted(suites_meta, key=lambda s: _version_key(str(suites_meta[s].get("version", "")))))
    ubuntu: dict[str, str] = {}
    for version, release in raw["ubuntu"]["releases"].items():
        ubuntu[version] = release["debian"]
        ubuntu[release["codename"]] = release["debian"]
    curated = raw["curated"]
    return _Data(
        debian=raw["debian"],
        by_arch=raw.get("debian_by_arch", {}),
        archs=frozenset(a for meta in suites_meta.values() for a in meta.get("archs", ())),
        suites=suites,
        versions={
            str(suites_meta[s]["version"]).split(".")[0]: s for s in suites if suites_meta[s].get("version")
        },
        ubuntu=ubuntu,
        rpm=curated["rpm"],
        el7=curated["el7"],
        alpine=curated["alpine"],
    )


def _version_key(version: str) -> tuple[int, ...]:
    # a suite without a version (testing, sid) sorts newest
    return tuple(int(p) for p in version.split(".") if p.isdigit()) or (999,)


def _family_release(family: str, release: str | None) -> tuple[str, str | None]:
    """Normalise: lower case; a catalog distro id as release ('ubuntu-22.04') names its own family,
    and so does an Ubuntu release given with the catalog's family for it, debian ('jammy', '22.04')."""
    family = family.strip().lower()
    if release is None:
        return family, None
    release = release.strip().lower()
    prefix, dash, rest = release.partition("-")
    if dash and prefix in FAMILIES and rest:
        family, release = prefix, rest
    ubuntu = _data().ubuntu
    if family == "debian" and (release in ubuntu or ".".join(release.split(".")[:2]) in ubuntu):
        # the catalog files Ubuntu under the debian family
        family = "ubuntu"
    return family, release


def debian_suite(family: str, release: str | None) -> str | None:
    """The Debian suite the data uses for a Debian or Ubuntu release, or None when it cannot tell.

    RELEASE is a codename (bookworm, jammy), a version (12, 22.04) or a catalog id (debian-12,
    ubuntu-22.04; family 'debian' with an Ubuntu id is Ubuntu, as the catalog files Ubuntu under
    the debian family)."""
    family, release = _family_release(family, release)
    if release is None:
        return None
    data = _data()
    if family == "ubuntu":
        return data.ubuntu.get(release) or data.ubuntu.get(".".join(release.split(".")[:2]))
    if family == "debian":
        if release in data.suites:
            return release
        return data.versions.get(release.split(".")[0])
    return None


def _debian_provider(soname: str, suite: str, arch: str | None) -> str | None:
    data = _data()
    package = data.debian.get(soname, {}).get(suite)
    if package is None or arch is None or arch not in data.archs:
        return package
    per_arch = data.by_arch.get(soname, {}).get(suite)
    return package if per_arch is None else per_arch.get(arch)


def provider(soname: str, family: str, release: str | None = None, *, arch: str | None = None) -> str | None:
    """The package that ships SONAME on FAMILY (the catalog's family name), or None if unknown.

    Debian and Ubuntu: from the generated Debian data, for RELEASE's suite (see `debian_suite`); with
    no release, or one the data does not cover, the newest suite that ships SONAME. An Ubuntu release
    only approximates the Debian suite it was synced from while that was in development (jammy still
    ships libtiff.so.5 from bullseye, bookworm only libtiff.so.6), so the older suites are asked after
    it, newest first. ARCH (x86_64, aarch64 or a Debian name) matters where the package differs or is
    missing on an architecture (libquadmath.so.0 exists on x86_64 only).

    Fedora, CentOS/Alma/Rocky/RHEL (CentOS 7's differences with release '7') and Alpine: from the
    hand-maintained table, which covers the libraries wheels commonly need; anything else is None.
    Unknown families are None."""
    family, release = _family_release(family, release)
    data = _data()
    if family in ("debian", "ubuntu"):
        debian_arch = DEBIAN_ARCH.get(arch, arch) if arch else None
        suite = debian_suite(family, release)
        if suite is None:  # no release, or one the data does not know: newest first
            candidates = list(reversed(data.suites))
        elif family == "debian":
            candidates = [suite]
        else:  # Ubuntu syncs from Debian's development series: libraries of the suite before may linger
            candidates = list(reversed(data.suites[: data.suites.index(suite) + 1]))
        for candidate in candidates:
            if (package := _debian_provider(soname, candidate, debian_arch)) is not None:
                return package
        return None
    if family in RPM_FAMILIES:
        if family != "fedora" and release is not None and release.split(".")[0] == "7" and soname in data.el7:
            return data.el7[soname]
        return data.rpm.get(soname)
    if family == "alpine":
        return data.alpine.get(soname)
    return None


def providers(soname: str) -> dict[str, str]:
    """Debian suite -> package for every suite in the data that ships SONAME, oldest first.

    For explanations such as "libffi.so.7 is only in bullseye (libffi7)": a wheel linked against a
    library version its target distro no longer ships."""
    data = _data()
    row = data.debian.get(soname, {})
    return {suite: row[suite] for suite in data.suites if suite in row}


def install_hint(
    soname: str, family: str, release: str | None = None, *, arch: str | None = None
) -> str | None:
    """The command that installs SONAME on FAMILY, e.g. 'apt-get install libgl1', or None if unknown."""
    package = provider(soname, family, release, arch=arch)
    if package is None:
        return None
    family, _release = _family_release(family, release)
    return _INSTALL[family].format(package)
