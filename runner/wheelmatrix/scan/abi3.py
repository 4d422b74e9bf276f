"""Does an abi3 wheel use only the stable ABI of the Python its tag names?

A wheel tagged `cp36-abi3` promises to load on every CPython from 3.6 on, so its extension
modules may reference only symbols that are in the stable ABI of 3.6. The shipped table
wheelmatrix/data/stable-abi.json, generated from CPython's Misc/stable_abi.toml by
scripts/update-stable-abi.py, says in which release each stable-ABI function and data symbol
was added. Two problems are found, as abi3audit finds them:

  abi3-over-claimed  an undefined `Py*`/`_Py*` symbol added to the stable ABI after the tagged
                     version: the wheel installs on older Pythons and fails to import there
                     ("undefined symbol: PyType_FromModuleAndSpec")
  abi3-non-stable    an undefined `Py*`/`_Py*` symbol that is not in the stable ABI at all: it
                     may be missing (or mean something else) in any other CPython release

Only undefined dynamic symbols are judged: they are what the loader must find in the
interpreter. (abi3audit also counts `Py*` symbols an object defines itself, and scans
.symtab.) The floor is the lowest `cp3X` among the wheel's abi3 tags: the oldest Python an
installer will put it on. `PyInit_*` is never judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import NamedTuple

from wheelmatrix.resources import data_path
from wheelmatrix.scan.elf import ElfInfo
from wheelmatrix.scan.glibc_symbols import PYTHON_PREFIXES
from wheelmatrix.scan.policy import Finding

DATA_FILE = "stable-abi.json"
PyVersion = tuple[int, int]
_SHOWN = 3  # symbols named in one finding's message


class StableSymbol(NamedTuple):
    name: str
    added: PyVersion
    kind: str  # function | data
    abi_only: bool = False  # in the stable ABI, not in the Limited API (still allowed)
    ifdef: str | None = None  # the feature macro it depends on (e.g. Py_REF_DEBUG)
    also: tuple[str, ...] = ()  # earlier point releases that had it (e.g. 3.6.1)

    @property
    def since(self) -> str:
        return _text(self.added)


class _Table(NamedTuple):
    source: str
    newest: PyVersion
    macros: Mapping[str, str]
    symbols: Mapping[str, StableSymbol]


def _version(text: str) -> PyVersion:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def _text(version: PyVersion) -> str:
    return f"{version[0]}.{version[1]}"


@lru_cache(maxsize=1)
def _table() -> _Table:
    doc = json.loads(data_path(DATA_FILE).read_text())
    return _Table(
        source=doc["source"],
        newest=_version(doc["newest"]),
        macros=doc["feature_macros"],
        symbols={
            name: StableSymbol(
                name=name,
                added=_version(entry["added"]),
                kind=entry["kind"],
                abi_only=bool(entry.get("abi_only")),
                ifdef=entry.get("ifdef"),
                also=tuple(entry.get("also", ())),
            )
            for name, entry in doc["symbols"].items()
        },
    )


def data_source() -> str:
    """What the shipped table was generated from (e.g. "CPython 3.13.5 Misc/stable_abi.toml ...")."""
    return _table().source


def lookup(name: str) -> StableSymbol | None:
    """The stable-ABI entry of a function or data symbol; None when it is not in the stable ABI."""
    return _table().symbols.get(name)


def is_python_symbol(name: str) -> bool:
    """A name CPython's C API reserves (`Py*`, `_Py*`), other than a module's own PyInit_."""
    return name.startswith(PYTHON_PREFIXES) and not name.startswith("PyInit_")


def abi3_floor(wheel_filename: str) -> tuple[str, PyVersion] | None:
    """('cp36', (3, 6)) for a wheel with abi3 tags (the lowest cp3X among them); None otherwise."""
    from wheelmatrix.inputs.wheelname import InvalidWheelName, parse_wheel_name

    try:
        tags = parse_wheel_name(wheel_filename).triples
    except InvalidWheelName:
        return None
    floors = [
        (int(t.interpreter[3:]), t.interpreter)
        for t in tags
        if t.abi == "abi3" and t.interpreter.startswith("cp3") and t.interpreter[3:].isdigit()
    ]
    if not floors:
        return None
    minor, interpreter = min(floors)
    return interpreter, (3, minor)


def _python_symbols(f: ElfInfo) -> list[str]:
    defined = set(f.exports)
    return [name for name in f.undefined if is_python_symbol(name) and name not in defined]


def newer_than(files: Iterable[ElfInfo], python: PyVersion) -> list[tuple[ElfInfo, StableSymbol]]:
    """Stable-ABI symbols the files reference that PYTHON's stable ABI lacks, newest first."""
    hits = []
    for f in files:
        for name in _python_symbols(f):
            entry = lookup(name)
            if entry is not None and entry.added > python:
                hits.append((f, entry))
    hits.sort(key=lambda hit: (tuple(-x for x in hit[1].added), hit[1].name, hit[0].path))
    return hits


def not_stable(files: Iterable[ElfInfo]) -> list[tuple[ElfInfo, str]]:
    """`Py*`/`_Py*` symbols the files reference that are not in the stable ABI at all."""
    return sorted(
        ((f, name) for f in files for name in _python_symbols(f) if lookup(name) is None),
        key=lambda hit: (hit[0].path, hit[1]),
    )


def _notes(entry: StableSymbol) -> str:
    notes = [f"stable ABI since {entry.since}"]
    if entry.also:
        notes.append(f"also in {' and '.join(entry.also)}")
    if entry.ifdef:
        notes.append(f"only {_table().macros.get(entry.ifdef) or 'with ' + entry.ifdef}")
    return "; ".join(notes)


def describe(entry: StableSymbol) -> str:
    """'PyType_FromModuleAndSpec (stable ABI since 3.10)', with the manifest's caveats."""
    return f"{entry.name} ({_notes(entry)})"


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _grouped(entries: list[StableSymbol]) -> str:
    """'A, B, C and 5 more (stable ABI since 3.7; also in 3.6.1 and 3.5.3)': one note a group."""
    groups: dict[str, list[str]] = {}
    for entry in entries:
        groups.setdefault(_notes(entry), []).append(entry.name)
    return "; ".join(f"{_listed(names)} ({notes})" for notes, names in groups.items())


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def _first_having(entry: StableSymbol, floor: PyVersion) -> tuple[int, ...]:
    """The earliest release of FLOOR's line (or later) that has ENTRY."""
    same_line = [v for v in map(_key, entry.also) if v[:2] == floor]
    return min(same_line) if same_line else (*entry.added, 0)


def _failing(floor: PyVersion, entries: list[StableSymbol]) -> str:
    """'Python 3.6 to 3.9', or 'Python 3.6.0' when 3.6.1 has them all: what the tag admits and lacks them."""
    first = max(_first_having(e, floor) for e in entries)
    if first[:2] == floor:
        last = ".".join(map(str, (*floor, first[2] - 1)))
        return f"Python {_text(floor)}.0" + (f" to {last}" if first[2] > 1 else "")
    last_minor = (first[0], first[1] - 1)
    return f"Python {_text(floor)}" + (f" to {_text(last_minor)}" if last_minor > floor else "")


def audit(wheel_filename: str, files: Iterable[ElfInfo]) -> list[Finding]:
    """abi3-over-claimed and abi3-non-stable findings of an abi3 wheel (one per file and kind)."""
    floor = abi3_floor(wheel_filename)
    if floor is None:
        return []
    interpreter, python = floor
    tag = f"{interpreter}-abi3"
    files = tuple(files)
    out: list[Finding] = []
    by_file: dict[str, list[StableSymbol]] = {}
    for f, entry in newer_than(files, python):
        by_file.setdefault(f.path, []).append(entry)
    for path, entries in by_file.items():
        newest = entries[0]
        out.append(
            Finding(
                kind="abi3-over-claimed",
                tag=tag,
                file=path,
                symbol=newest.name,
                version=newest.since,
                message=f"tagged {tag} but {path} uses {_grouped(entries)}: "
                f"{_failing(python, entries)} accept the tag, but their stable ABI lacks "
                f"{'it' if len(entries) == 1 else 'them'}",
            )
        )
    unknown: dict[str, list[str]] = {}
    for f, name in not_stable(files):
        unknown.setdefault(f.path, []).append(name)
    newest_known = _text(_table().newest)
    for path, names in unknown.items():
        out.append(
            Finding(
                kind="abi3-non-stable",
                tag=tag,
                file=path,
                symbol=names[0],
                message=f"tagged {tag} but {path} uses {_listed(names)}, not in the stable ABI (as of "
                f"CPython {newest_known}): other Python releases may lack or change "
                f"{'it' if len(names) == 1 else 'them'}",
            )
        )
    return out


def cell_gaps(wheel_filename: str, files: Iterable[ElfInfo], python: PyVersion, where: str) -> list[Finding]:
    """For an abi3 wheel in a cell whose Python is older than a stable-ABI symbol it uses: one
    predicted import failure per symbol (the loader names whichever it meets first)."""
    floor = abi3_floor(wheel_filename)
    if floor is None:
        return []
    tag = f"{floor[0]}-abi3"
    return [
        Finding(
            kind="cell-abi3",
            tag=tag,
            file=f.path,
            symbol=entry.name,  # no `version`: "3.10" would match any text naming python3.10
            message=f"tagged {tag} but {f.path} uses {describe(entry)}; {where} has Python {_text(python)}",
        )
        for f, entry in newer_than(files, python)
    ]
