"""Regenerate wheelmatrix/data/system-libs.json: which distribution package ships each shared library.

    python scripts/update-system-libs.py [--mirror URL] [--suites bullseye bookworm trixie]
                                         [--archs amd64 arm64] [--cache-dir DIR] [--keyring FILE]
                                         [--allow-checksum-mismatch] [--curated-only] [--output FILE]

The "debian" section is generated from the archive's own package contents indexes,
dists/<suite>/main/Contents-<arch>.gz, read from a Debian mirror. The mirror is, in order: --mirror,
the WHEELMATRIX_DEBIAN_MIRROR environment variable, or the first Debian mirror configured in the
host's apt sources (/etc/apt/sources.list.d/*.sources, *.list, /etc/apt/sources.list). Each suite's
InRelease is checked with gpgv against the Debian archive keyring when both are available, and each
Contents file against the SHA256 its InRelease lists (a mismatch is an error unless
--allow-checksum-mismatch, which records it in the output).

Which files count: every shared library directly in the loader's default directories,
usr/lib/<triplet>/, lib/<triplet>/, usr/lib/ and lib/, whose name carries a version suffix
(lib*.so.N[.M...]: SONAME-style; the unversioned libfoo.so links of -dev packages are skipped). Of a
library's chain of names (libGL.so.1, libGL.so.1.7.0) we keep the shortest plus every name with at
most two version components (SONAMEs such as libssl.so.1.1 or libpython3.11.so.1.0), not the
release-specific full file names. The BLAS/LAPACK implementations, which Debian installs in
subdirectories (usr/lib/<triplet>/openblas-pthread/ ...) and selects with update-alternatives, are
taken from those subdirectories when no package ships the name directly.

When several packages ship the same name (libsystemd0 and libelogind0, libavcodec59 and
libavcodec-extra59) one is picked: a package in the default directories over an alternative, then
the name Debian's library packaging policy gives (libfoo.so.N -> libfooN, libfoo2.so.N -> libfoo2-N,
with or without the 64-bit time_t "t64" suffix), then a name starting with that, then no flavour
suffix (-extra, -gles, -openmp, -serial, ...), then the shortest name (digits not counted), then the
newest (highest version in the name).

The "ubuntu" and "curated" sections are hand-maintained in this script (UBUNTU, CURATED below) because
those archives are not read here; --curated-only rewrites just them and keeps the generated data.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runner" / "wheelmatrix" / "data" / "system-libs.json"
DEFAULT_SUITES = ("bullseye", "bookworm", "trixie")
DEFAULT_ARCHS = ("amd64", "arm64")
TRIPLETS = {
    "amd64": "x86_64-linux-gnu",
    "arm64": "aarch64-linux-gnu",
    "i386": "i386-linux-gnu",
    "armhf": "arm-linux-gnueabihf",
    "ppc64el": "powerpc64le-linux-gnu",
    "s390x": "s390x-linux-gnu",
    "riscv64": "riscv64-linux-gnu",
}
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
ENV_MIRROR = "WHEELMATRIX_DEBIAN_MIRROR"
USER_AGENT = "wheelmatrix-update-system-libs"

# Subdirectories of usr/lib/<triplet>/ that hold update-alternatives-managed BLAS/LAPACK libraries.
ALTERNATIVES_DIR = re.compile(r"^(?:blas|lapack|atlas|openblas|blis)(?:64)?(?:-[a-z]+)?$")
# Package-name endings that mark a flavour of a library rather than its default build.
FLAVOURS = ("-dbg", "-extra", "-gles", "-openmp", "-serial", "-shim", "-compat", "-noxpm", "-nox")
VERSIONED = re.compile(r"^(lib.*?\.so)((?:\.\d+)+)$")

# --------------------------------------------------------------------------- hand-maintained tables

UBUNTU: dict[str, Any] = {
    "source": (
        "Hand-maintained. Ubuntu derives its packages from Debian: for these libraries the package "
        "names match in practice, though versions (and so the available SONAMEs) may differ. Each LTS "
        "release is mapped to the Debian suite it was synced from (focal from the bullseye development "
        "series, jammy from bookworm's, noble from trixie's, after the 64-bit time_t 't64' renames)."
    ),
    "releases": {
        "20.04": {"codename": "focal", "debian": "bullseye"},
        "22.04": {"codename": "jammy", "debian": "bookworm"},
        "24.04": {"codename": "noble", "debian": "trixie"},
    },
}

# Fedora (and EL 8+: CentOS Stream, AlmaLinux, Rocky, RHEL) dnf package names.
_RPM: dict[str, str] = {
    # OpenGL / GLVND. mesa-libGL pulls in libglvnd-glx, which ships libGL.so.1, and the Mesa GLX
    # implementation that makes it usable.
    "libGL.so.1": "mesa-libGL",
    "libGLX.so.0": "libglvnd-glx",
    "libEGL.so.1": "libglvnd-egl",
    "libOpenGL.so.0": "libglvnd-opengl",
    "libGLESv2.so.2": "libglvnd-gles",
    "libGLU.so.1": "mesa-libGLU",
    "libgbm.so.1": "mesa-libgbm",
    "libdrm.so.2": "libdrm",
    "libvulkan.so.1": "vulkan-loader",
    # GLib
    "libglib-2.0.so.0": "glib2",
    "libgobject-2.0.so.0": "glib2",
    "libgthread-2.0.so.0": "glib2",
    "libgio-2.0.so.0": "glib2",
    "libgmodule-2.0.so.0": "glib2",
    # GCC runtime
    "libgomp.so.1": "libgomp",
    "libgfortran.so.5": "libgfortran",
    "libquadmath.so.0": "libquadmath",
    "libstdc++.so.6": "libstdc++",
    "libgcc_s.so.1": "libgcc",
    "libatomic.so.1": "libatomic",
    # X11
    "libX11.so.6": "libX11",
    "libX11-xcb.so.1": "libX11-xcb",
    "libxcb.so.1": "libxcb",
    "libXext.so.6": "libXext",
    "libXrender.so.1": "libXrender",
    "libSM.so.6": "libSM",
    "libICE.so.6": "libICE",
    "libXi.so.6": "libXi",
    "libXrandr.so.2": "libXrandr",
    "libXfixes.so.3": "libXfixes",
    "libXcursor.so.1": "libXcursor",
    "libXinerama.so.1": "libXinerama",
    "libXtst.so.6": "libXtst",
    "libXcomposite.so.1": "libXcomposite",
    "libXdamage.so.1": "libXdamage",
    "libxkbcommon.so.0": "libxkbcommon",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11",
    # fonts, images, GUI toolkits
    "libfontconfig.so.1": "fontconfig",
    "libfreetype.so.6": "freetype",
    "libpng16.so.16": "libpng",
    "libjpeg.so.62": "libjpeg-turbo",
    "libcairo.so.2": "cairo",
    "libpango-1.0.so.0": "pango",
    "libharfbuzz.so.0": "harfbuzz",
    "libgdk_pixbuf-2.0.so.0": "gdk-pixbuf2",
    "libgtk-3.so.0": "gtk3",
    "libgdk-3.so.0": "gtk3",
    # compression, crypto, data
    "libz.so.1": "zlib",
    "libbz2.so.1": "bzip2-libs",
    "liblzma.so.5": "xz-libs",
    "libzstd.so.1": "libzstd",
    "libexpat.so.1": "expat",
    "libffi.so.8": "libffi",
    "libssl.so.3": "openssl-libs",
    "libcrypto.so.3": "openssl-libs",
    "libsqlite3.so.0": "sqlite-libs",
    "libxml2.so.2": "libxml2",
    "libxslt.so.1": "libxslt",
    "libuuid.so.1": "libuuid",
    "libcurl.so.4": "libcurl",
    "libkrb5.so.3": "krb5-libs",
    "libgssapi_krb5.so.2": "krb5-libs",
    "libpq.so.5": "libpq",
    # system, audio
    "libdbus-1.so.3": "dbus-libs",
    "libudev.so.1": "systemd-libs",
    "libnuma.so.1": "numactl-libs",
    "libaio.so.1": "libaio",
    "libasound.so.2": "alsa-lib",
    "libsndfile.so.1": "libsndfile",
    "libportaudio.so.2": "portaudio",
}

# CentOS 7 (EL 7) differences from _RPM: None means no package of the base repositories ships it.
_EL7: dict[str, str | None] = {
    "libgfortran.so.5": None,
    "libgfortran.so.3": "libgfortran",
    "libffi.so.8": None,
    "libffi.so.6": "libffi",
    "libssl.so.3": None,
    "libcrypto.so.3": None,
    "libssl.so.10": "openssl-libs",
    "libcrypto.so.10": "openssl-libs",
    "libpng16.so.16": None,
    "libpng15.so.15": "libpng",
    "libzstd.so.1": None,
    "libxkbcommon-x11.so.0": None,
}

# Alpine apk package names (3.19 - 3.21).
_ALPINE: dict[str, str] = {
    "libGL.so.1": "mesa-gl",
    "libEGL.so.1": "mesa-egl",
    "libGLESv2.so.2": "mesa-gles",
    "libgbm.so.1": "mesa-gbm",
    "libGLU.so.1": "glu",
    "libdrm.so.2": "libdrm",
    "libvulkan.so.1": "vulkan-loader",
    "libglib-2.0.so.0": "glib",
    "libgobject-2.0.so.0": "glib",
    "libgthread-2.0.so.0": "glib",
    "libgio-2.0.so.0": "glib",
    "libgmodule-2.0.so.0": "glib",
    "libgomp.so.1": "libgomp",
    "libgfortran.so.5": "libgfortran",
    "libquadmath.so.0": "libquadmath",
    "libstdc++.so.6": "libstdc++",
    "libgcc_s.so.1": "libgcc",
    "libatomic.so.1": "libatomic",
    "libX11.so.6": "libx11",
    "libX11-xcb.so.1": "libx11",
    "libxcb.so.1": "libxcb",
    "libXext.so.6": "libxext",
    "libXrender.so.1": "libxrender",
    "libSM.so.6": "libsm",
    "libICE.so.6": "libice",
    "libXi.so.6": "libxi",
    "libXrandr.so.2": "libxrandr",
    "libXfixes.so.3": "libxfixes",
    "libXcursor.so.1": "libxcursor",
    "libXinerama.so.1": "libxinerama",
    "libXtst.so.6": "libxtst",
    "libXcomposite.so.1": "libxcomposite",
    "libXdamage.so.1": "libxdamage",
    "libxkbcommon.so.0": "libxkbcommon",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11",
    "libfontconfig.so.1": "fontconfig",
    "libfreetype.so.6": "freetype",
    "libpng16.so.16": "libpng",
    "libjpeg.so.8": "libjpeg-turbo",
    "libtiff.so.6": "tiff",
    "libwebp.so.7": "libwebp",
    "libcairo.so.2": "cairo",
    "libpango-1.0.so.0": "pango",
    "libharfbuzz.so.0": "harfbuzz",
    "libgdk_pixbuf-2.0.so.0": "gdk-pixbuf",
    "libgtk-3.so.0": "gtk+3.0",
    "libgdk-3.so.0": "gtk+3.0",
    "libwayland-client.so.0": "wayland-libs-client",
    "libz.so.1": "zlib",
    "libbz2.so.1": "libbz2",
    "liblzma.so.5": "xz-libs",
    "libzstd.so.1": "zstd-libs",
    "liblz4.so.1": "lz4-libs",
    "libexpat.so.1": "libexpat",
    "libffi.so.8": "libffi",
    "libssl.so.3": "libssl3",
    "libcrypto.so.3": "libcrypto3",
    "libsqlite3.so.0": "sqlite-libs",
    "libxml2.so.2": "libxml2",
    "libxslt.so.1": "libxslt",
    "libuuid.so.1": "libuuid",
    "libcurl.so.4": "libcurl",
    "libpq.so.5": "libpq",
    "libopenblas.so.0": "openblas",
    "libdbus-1.so.3": "dbus-libs",
    "libudev.so.1": "eudev-libs",
    "libusb-1.0.so.0": "libusb",
    "libasound.so.2": "alsa-lib",
    "libpulse.so.0": "libpulse",
    "libsndfile.so.1": "libsndfile",
}

CURATED: dict[str, Any] = {
    "source": (
        "Hand-maintained from the distributions' documentation and packaging (Fedora package "
        "database, Alpine aports), NOT generated: those archives are not read by "
        "scripts/update-system-libs.py. 'rpm' holds dnf/yum package names for Fedora and EL 8+ "
        "(CentOS Stream, AlmaLinux, Rocky); 'el7' the CentOS 7 differences (null: not in the base "
        "repositories); 'alpine' apk names. For a library not listed, `dnf install "
        "'libfoo.so.1()(64bit)'` and `apk add so:libfoo.so.1` install whatever package provides it."
    ),
    "rpm": dict(sorted(_RPM.items())),
    "el7": dict(sorted(_EL7.items())),
    "alpine": dict(sorted(_ALPINE.items())),
}

# --------------------------------------------------------------------------- the mirror


def _deb822(text: str) -> Iterator[dict[str, str]]:
    """Stanzas of a deb822 file (apt .sources), continuation lines joined."""
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields:
            yield fields


def _is_main_suite(suite: str) -> bool:
    """bookworm or stable, not bookworm-security/-updates/-backports (those have no full Contents)."""
    return bool(suite) and "-" not in suite and "/" not in suite


def apt_mirrors(etc: Path = Path("/etc/apt")) -> list[str]:
    """Debian mirrors configured for apt on this host, first configured first."""
    found: list[str] = []
    sources = sorted((etc / "sources.list.d").glob("*.sources")) if (etc / "sources.list.d").is_dir() else []
    for path in sources:
        for stanza in _deb822(path.read_text(errors="replace")):
            if "deb" not in stanza.get("types", "").split() or stanza.get("enabled", "yes") == "no":
                continue
            if any(_is_main_suite(s) for s in stanza.get("suites", "").split()):
                found += stanza.get("uris", "").split()
    lists = [etc / "sources.list"]
    if (etc / "sources.list.d").is_dir():
        lists += sorted((etc / "sources.list.d").glob("*.list"))
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            # deb [arch=amd64 signed-by=...] URI SUITE COMPONENT...
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb" and _is_main_suite(words[2]):
                found.append(words[1])
    return [uri for uri in dict.fromkeys(found) if uri.split(":", 1)[0] in ("http", "https", "file")]


def choose_mirror(option: str | None) -> str:
    for candidate in (option, os.environ.get(ENV_MIRROR)):
        if candidate:
            return candidate.rstrip("/")
    mirrors = apt_mirrors()
    if not mirrors:
        sys.exit(
            f"no Debian mirror found in the apt sources of this host: pass --mirror URL or set {ENV_MIRROR}"
        )
    return mirrors[0].rstrip("/")


# --------------------------------------------------------------------------- downloads


class NotFound(Exception):
    pass


def download(url: str, dest: Path) -> str:
    """Fetch URL into DEST; return the SHA256 of what was written."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=120) as response, dest.open("wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise NotFound(url) from None
        raise
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Release:
    codename: str
    version: str
    date: str
    by_hash: bool
    sha256: dict[str, tuple[str, int]]  # path under dists/<suite>/ -> (digest, size)
    signature: str  # how the InRelease file was checked
    notes: list[str] = field(default_factory=list)


def _clearsigned_body(text: str) -> str:
    if not text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
        return text
    body = text.split("\n\n", 1)[1]
    return body.split("\n-----BEGIN PGP SIGNATURE-----", 1)[0]


def parse_release(text: str, signature: str) -> Release:
    body = _clearsigned_body(text)
    fields: dict[str, str] = {}
    sums: dict[str, tuple[str, int]] = {}
    section = ""
    for line in body.splitlines():
        if line[:1] in (" ", "\t"):
            if section == "sha256":
                digest, size, name = line.split()
                sums[name] = (digest, int(size))
            continue
        key, _, value = line.partition(":")
        section = key.strip().lower()
        fields[section] = value.strip()
    return Release(
        codename=fields.get("codename", ""),
        version=fields.get("version", ""),
        date=fields.get("date", ""),
        by_hash=fields.get("acquire-by-hash", "no") == "yes",
        sha256=sums,
        signature=signature,
    )


def fetch_release(mirror: str, suite: str, workdir: Path, keyring: Path | None) -> Release:
    path = workdir / f"{suite}-InRelease"
    download(f"{mirror}/dists/{suite}/InRelease", path)
    gpgv = shutil.which("gpgv")
    if keyring is not None and keyring.is_file() and gpgv:
        signed = workdir / f"{suite}-Release.verified"
        proc = subprocess.run(
            [gpgv, "--keyring", str(keyring), "--output", str(signed), str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"{suite}: InRelease signature does not verify against {keyring}:\n{proc.stderr}")
        # parse only what the signature covers, as gpgv wrote it out
        return parse_release(
            signed.read_text(errors="replace"),
            "InRelease signature verified with gpgv against the Debian archive keyring",
        )
    signature = "InRelease signature NOT verified (gpgv or the Debian archive keyring missing)"
    print(f"warning: {suite}: {signature}", file=sys.stderr)
    return parse_release(path.read_text(errors="replace"), signature)


def fetch_contents(
    mirror: str, suite: str, arch: str, release: Release, workdir: Path, cache: Path | None, lenient: bool
) -> Path:
    name = f"main/Contents-{arch}.gz"
    if name not in release.sha256:
        raise NotFound(f"{suite}: InRelease lists no {name}")
    expected = release.sha256[name][0]
    target = (cache or workdir) / f"{release.codename or suite}-Contents-{arch}.gz"
    if cache is not None and target.is_file() and sha256_of(target) == expected:
        print(f"  {suite} {arch}: cached copy matches InRelease")
        return target
    urls = [f"{mirror}/dists/{suite}/{name}"]
    if release.by_hash:  # what apt itself asks for first; immune to a half-updated mirror
        urls.insert(0, f"{mirror}/dists/{suite}/main/by-hash/SHA256/{expected}")
    downloaded = False
    for url in urls:  # the plain path last: on a mismatch, its copy is what is left in target
        try:
            got = download(url, target)
        except NotFound:
            continue
        downloaded = True
        if got == expected:
            print(f"  {suite} {arch}: downloaded, SHA256 matches InRelease")
            return target
    if not downloaded:
        raise NotFound(f"{suite}: {name} is not on the mirror")
    message = (
        f"Contents-{arch}.gz did not match the SHA256 in the suite's InRelease (the mirror served a "
        "copy out of step with its InRelease)"
    )
    if not lenient:
        sys.exit(f"{suite}: {message}; rerun with --allow-checksum-mismatch to use it anyway")
    print(f"warning: {suite}: {message}; using it as served", file=sys.stderr)
    release.notes.append(f"{message}; used as served")
    return target


# --------------------------------------------------------------------------- the Contents index


@dataclass
class Shipped:
    """Which packages ship each library name in one suite and arch."""

    direct: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    alternative: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def read_contents(path: Path, arch: str) -> Shipped:
    triplet = re.escape(TRIPLETS.get(arch, f"{arch}-linux-gnu"))
    pattern = re.compile(
        rf"^(?:usr/)?lib/(?:{triplet}/(?:(?P<sub>[^/]+)/)?)?(?P<name>lib[^/]*\.so(?:\.\d+)+)$"
    )
    # (package, directory, stem) -> version suffixes, to reduce each chain of names to its SONAMEs
    chains: dict[tuple[str, str, bool, str], set[str]] = defaultdict(set)
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if ".so." not in line or not (line.startswith("lib/") or line.startswith("usr/lib/")):
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2:
                continue
            match = pattern.match(parts[0])
            if not match:
                continue
            sub = match["sub"]
            if sub is not None and not ALTERNATIVES_DIR.match(sub):
                continue
            directory = parts[0].rsplit("/", 1)[0]
            stem_match = VERSIONED.match(match["name"])
            assert stem_match is not None
            stem, suffix = stem_match.groups()
            for location in parts[1].split(","):
                package = location.rsplit("/", 1)[-1]
                chains[(package, directory, sub is not None, stem)].add(suffix)
    shipped = Shipped()
    for (package, _dir, alternative, stem), suffixes in chains.items():
        shortest = min(suffixes, key=lambda s: (s.count("."), s))
        table = shipped.alternative if alternative else shipped.direct
        for suffix in suffixes:
            if suffix == shortest or suffix.count(".") <= 2:
                table[stem + suffix].add(package)
    return shipped


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key comparing the numbers in TEXT as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.findall(r"\d+|\D+", text))


def _newest_first(text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((k, -n, p) for k, n, p in _natural(text))


def policy_name(soname: str) -> str:
    """Debian policy 8.1's package name for a library: libfoo.so.1 -> libfoo1, libfoo2.so.1 -> libfoo2-1."""
    match = VERSIONED.match(soname)
    if not match:
        return soname.lower()
    base = match[1].removesuffix(".so").lower().replace("_", "-")
    version = match[2][1:]
    return f"{base}-{version}" if base[-1:].isdigit() else f"{base}{version}"


def choose(soname: str, direct: set[str], alternative: set[str]) -> str:
    """The one package to name for SONAME among those shipping it (rules: the module docstring)."""
    expected = policy_name(soname)

    def rank(package: str) -> tuple[Any, ...]:
        bare = package.removesuffix("t64")
        return (
            package not in direct,
            bare != expected,
            not bare.startswith(expected),
            bare.endswith(FLAVOURS),
            len(re.sub(r"\d", "", bare)),  # libc++1-9 and libc++1-19 are the same length here
            _newest_first(package),
        )

    return min(direct | alternative, key=rank)


def pick(soname: str, shipped: list[Shipped]) -> str | None:
    """The package for SONAME in one suite, over all its architectures."""
    direct: set[str] = set().union(*(s.direct.get(soname, set()) for s in shipped))
    alternative: set[str] = set().union(*(s.alternative.get(soname, set()) for s in shipped))
    if not direct and not alternative:
        return None
    return choose(soname, direct, alternative)


# --------------------------------------------------------------------------- output


def _line(key: str, value: Any) -> str:
    return f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False, separators=(', ', ': '))}"


def render(doc: dict[str, Any]) -> str:
    """One line per library: small diffs on regeneration, compact file."""
    out = ["{"]
    items = list(doc.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, dict) and key in ("debian", "debian_by_arch"):
            out.append(f" {json.dumps(key)}: {{")
            inner = [_line(k, v) for k, v in value.items()]
            out.append(",\n".join(inner))
            out.append(f" }}{comma}")
        else:
            text = json.dumps(value, indent=1, ensure_ascii=False)
            out.append(f" {json.dumps(key)}: {text.replace(chr(10), chr(10) + ' ')}{comma}")
    out.append("}")
    return "\n".join(out) + "\n"


def curated_sections() -> dict[str, Any]:
    return {"ubuntu": UBUNTU, "curated": CURATED}


def _comment(suites: dict[str, dict[str, Any]], archs: list[str], today: str) -> str:
    described = ", ".join(
        f"{name} {meta['version']} (InRelease of {meta['date']})" for name, meta in suites.items()
    )
    return (
        "Which distribution package ships each shared library, by SONAME-style file name, so that a "
        "cell failing with 'libGL.so.1: cannot open shared object file' can say what to install. "
        f"'debian' was generated on {today} by scripts/update-system-libs.py from Debian's own package "
        f"contents indexes, main/Contents-<arch>.gz for {', '.join(archs)}, of {described}: every "
        "lib*.so.N[.M...] file directly in usr/lib/<triplet>, lib/<triplet>, usr/lib or lib (plus the "
        "update-alternatives BLAS/LAPACK subdirectories) and the package shipping it, one package per "
        "name and suite (rules in the script's docstring). 'debian_by_arch' gives the package per "
        "architecture where that one package does not ship the name on every architecture read "
        "(an architecture missing there has no package shipping it). 'debian_suites' records what "
        "was read. 'ubuntu' and 'curated' are hand-maintained, not generated (see their 'source'). "
        "Regenerate with python scripts/update-system-libs.py."
    )


def generate(args: argparse.Namespace) -> dict[str, Any]:
    mirror = choose_mirror(args.mirror)
    keyring = args.keyring if args.keyring is not None else (KEYRING if KEYRING.is_file() else None)
    if args.keyring is not None and not shutil.which("gpgv"):
        sys.exit("--keyring given but gpgv is not installed")
    explicit = args.suites is not None
    suites = list(args.suites or DEFAULT_SUITES)
    with tempfile.TemporaryDirectory(prefix="wm-contents-") as tmp:
        work = Path(tmp)
        cache: Path | None = args.cache_dir
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
        read: dict[str, tuple[Release, list[Shipped]]] = {}
        for suite in suites:
            try:
                release = fetch_release(mirror, suite, work, keyring)
                print(f"{suite}: {release.codename} {release.version}, {release.date}")
                shipped = []
                for arch in args.archs:
                    path = fetch_contents(
                        mirror, suite, arch, release, work, cache, args.allow_checksum_mismatch
                    )
                    shipped.append(read_contents(path, arch))
            except NotFound as exc:
                if explicit:
                    sys.exit(f"{suite}: not available from the mirror ({exc})")
                print(f"warning: skipping {suite}: not available from the mirror ({exc})", file=sys.stderr)
                continue
            read[release.codename or suite] = (release, shipped)
    if not read:
        sys.exit("no suite could be read")
    # oldest suite first
    order = sorted(read, key=lambda s: _natural(read[s][0].version or "999"))
    names: set[str] = set()
    for _release, shipped in read.values():
        for per_arch in shipped:
            names |= per_arch.direct.keys() | per_arch.alternative.keys()
    debian: dict[str, dict[str, str]] = {}
    by_arch: dict[str, dict[str, dict[str, str]]] = {}
    for soname in sorted(names, key=lambda n: (n.lower(), n)):
        row: dict[str, str] = {}
        for suite in order:
            shipped = read[suite][1]
            package = pick(soname, shipped)
            if package is None:
                continue
            row[suite] = package
            arch_row = {
                arch: chosen
                for arch, one in zip(args.archs, shipped, strict=True)
                if (chosen := pick(soname, [one])) is not None
            }
            if len(arch_row) < len(args.archs) or set(arch_row.values()) != {package}:
                by_arch.setdefault(soname, {})[suite] = arch_row
        if row:
            debian[soname] = row
    suites_meta = {
        suite: {
            "version": read[suite][0].version,
            "date": read[suite][0].date,
            "archs": list(args.archs),
            "checked": read[suite][0].signature,
            **({"notes": read[suite][0].notes} if read[suite][0].notes else {}),
        }
        for suite in order
    }
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return {
        "_comment": _comment(suites_meta, list(args.archs), today),
        "debian_suites": suites_meta,
        "debian": debian,
        "debian_by_arch": by_arch,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--mirror", help=f"Debian mirror URL (default: ${ENV_MIRROR}, else the host's apt sources)"
    )
    parser.add_argument(
        "--suites", nargs="+", help=f"Debian suites (default: {' '.join(DEFAULT_SUITES)}, if available)"
    )
    parser.add_argument("--archs", nargs="+", default=list(DEFAULT_ARCHS), help="Debian architectures")
    parser.add_argument("--cache-dir", type=Path, help="keep downloaded Contents files here and reuse them")
    parser.add_argument("--keyring", type=Path, help=f"keyring for gpgv (default: {KEYRING} if present)")
    parser.add_argument(
        "--allow-checksum-mismatch",
        action="store_true",
        help="use a Contents file whose SHA256 differs from its InRelease (recorded in the output)",
    )
    parser.add_argument(
        "--curated-only",
        action="store_true",
        help="only rewrite the hand-maintained sections; keep the generated Debian data (no network)",
    )
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args(argv)

    if args.curated_only:
        if not args.output.is_file():
            sys.exit(f"{args.output} does not exist: run without --curated-only first")
        doc = json.loads(args.output.read_text())
        doc.update(curated_sections())
    else:
        try:
            doc = {**generate(args), **curated_sections()}
        except urllib.error.URLError as exc:  # HTTPError included
            sys.exit(f"download failed: {exc}")
    text = render(doc)
    json.loads(text)  # the hand-rolled layout must still be JSON
    args.output.write_text(text)
    debian = doc.get("debian", {})
    print(f"wrote {args.output}: {len(debian)} Debian library names, {len(text.encode()) // 1024} KiB")


if __name__ == "__main__":
    main()
