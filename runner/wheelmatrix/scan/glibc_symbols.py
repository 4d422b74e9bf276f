"""In which glibc release did a libc-family symbol name first appear?

A reference that carries a version (`strtol@GLIBC_2.38`) is bounded by the symbol-version ceiling
check; one without a version (an extension built against new headers but linked without version
information, e.g. the C23 `__isoc23_strtol` family of glibc 2.38) is not. The shipped table
wheelmatrix/data/glibc-symbols.json, generated from glibc's own ABI lists by
scripts/update-glibc-symbols.py, fills that gap: for every name exported by libc, libm,
libpthread, libdl, librt, libresolv, libutil, libanl, libmvec, libc_malloc_debug, ld.so, ... it
gives the lowest GLIBC_x.y version and the library exporting it.

Lookups are per arch (x86_64, aarch64; `amd64`/`arm64` accepted) and keep the port's own value;
other arches fall back to the arch-independent first release (lowest over every Linux port).
Names at or below the arch's baseline (x86_64 2.2.5, aarch64 2.17) are not in the table: every
glibc of that arch has them, so they are reported as unknown (None). Versions are compared as
(major, minor): a point release such as 2.3.4 counts as 2.3.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import NamedTuple

from wheelmatrix.resources import data_path

DATA_FILE = "glibc-symbols.json"
_ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}
# `undefined symbol: NAME` (dlopen/ImportError; ld.so may append `, version GLIBC_x.y`) and
# `symbol NAME version GLIBC_x.y not defined in file libc.so.6 with link time reference`.
_UNDEFINED = re.compile(r"undefined symbol: ([^\s,@]+)")
_NOT_DEFINED = re.compile(r"\bsymbol ([^\s,@]+),? version \S+ not defined in file")

GlibcVersion = tuple[int, int]


class _Table(NamedTuple):
    glibc: str
    comment: str
    # name -> [version, library] as the JSON has them; converted per lookup (a scan looks up a
    # handful of the 5,600 names)
    per_arch: Mapping[str, Mapping[str, list[str]]]
    first_release: Mapping[str, list[str]]


def _version(text: str) -> GlibcVersion:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


@lru_cache(maxsize=1)
def _table() -> _Table:
    doc = json.loads(data_path(DATA_FILE).read_text())
    return _Table(
        glibc=doc["glibc"],
        comment=doc["_comment"],
        per_arch=doc["symbols"],
        first_release=doc["first_release"],
    )


# Names CPython reserves for its C API: the scan's one rule for "a Python name". glibc exports
# none of them (a unit test holds the shipped table to that), so they are answered without
# loading the table: an extension's unversioned references are mostly these, and a small
# wheel's scan then never reads the 240 KB.
PYTHON_PREFIXES = ("Py", "_Py")
PYTHON_PREFIXES_BYTES = tuple(p.encode() for p in PYTHON_PREFIXES)


def _lookup(name: str, arch: str) -> tuple[GlibcVersion, str] | None:
    if name.startswith(PYTHON_PREFIXES):
        return None
    table = _table()
    symbols = table.per_arch.get(_ARCH_ALIASES.get(arch, arch), table.first_release)
    found = symbols.get(name)
    return (_version(found[0]), found[1]) if found else None


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    table = _table()
    return frozenset(table.first_release).union(*table.per_arch.values())


@lru_cache(maxsize=1)
def known_names() -> frozenset[bytes]:
    """`is_known`'s names as bytes, as an ELF string table holds them."""
    return frozenset(name.encode() for name in _known())


def is_known(name: str) -> bool:
    """Whether NAME is in the table for any arch (a name some glibc release added)."""
    return not name.startswith(PYTHON_PREFIXES) and name in _known()


def known_among(names: Iterable[bytes]) -> frozenset[bytes]:
    """The names (as an ELF string table holds them) that are in the table for some arch."""
    rest = [name for name in names if not name.startswith(PYTHON_PREFIXES_BYTES)]
    return known_names().intersection(rest) if rest else frozenset()


def data_glibc() -> str:
    """The glibc release the shipped table was generated from (e.g. "2.41")."""
    return _table().glibc


def first_version(name: str, arch: str) -> GlibcVersion | None:
    """The first glibc (major, minor) exporting NAME on ARCH; None if unknown or at the arch's baseline."""
    found = _lookup(name, arch)
    return found[0] if found else None


def library_of(name: str, arch: str) -> str | None:
    """The soname (e.g. "libc.so.6") that first exported NAME on ARCH; None as for first_version."""
    found = _lookup(name, arch)
    return found[1] if found else None


def too_new(
    undefined_unversioned: Iterable[str], arch: str, ceiling: GlibcVersion
) -> list[tuple[str, GlibcVersion, str]]:
    """(symbol, first glibc version, library) for each name newer than CEILING, newest first, then by name."""
    found: dict[str, tuple[GlibcVersion, str]] = {}
    for name in undefined_unversioned:
        entry = _lookup(name, arch)
        if entry is not None and entry[0] > ceiling:
            found[name] = entry
    hits = [(name, version, lib) for name, (version, lib) in found.items()]
    hits.sort(key=lambda hit: hit[0])
    hits.sort(key=lambda hit: hit[1], reverse=True)
    return hits


def undefined_symbol(message: str) -> str | None:
    """The symbol name a loader error (ImportError, dlopen) complains about, if any."""
    m = _UNDEFINED.search(message) or _NOT_DEFINED.search(message)
    return m.group(1) if m else None


def explain_undefined(message: str, arch: str, cell_glibc: GlibcVersion) -> str | None:
    """Why a symbol a loader could not resolve is missing, when it is newer than the cell's glibc.

    "__isoc23_strtol first appeared in glibc 2.38 (libc.so.6); this cell has 2.36", or None when
    the message names no symbol, the symbol is unknown, or it is not newer than CELL_GLIBC.
    """
    name = undefined_symbol(message)
    if name is None:
        return None
    found = _lookup(name, arch)
    if found is None or found[0] <= cell_glibc:
        return None
    (major, minor), lib = found
    return (
        f"{name} first appeared in glibc {major}.{minor} ({lib}); "
        f"this cell has {cell_glibc[0]}.{cell_glibc[1]}"
    )
