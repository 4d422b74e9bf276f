"""On-disk cache of static scans, keyed by content and by the scanner itself.

A wheel (by its sha256) or an installed ELF file (by its RECORD digest) is scanned once per
machine; any change to the scanner's code or its data gives new keys, so stale scans are never
reused.

The cache directory is data from strangers (CI caches are restored across branches and pull
requests), so an entry is JSON read by explicit decoders that build only the scan's own frozen
dataclasses and check every type: nothing in an entry can run code. An entry that is not
JSON, has another shape or types, another format, stamp or key, or is larger than
MAX_ENTRY_BYTES is ignored and rewritten, never an error.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from wheelmatrix import __version__
from wheelmatrix.fsutil import atomic_write_bytes, sha256
from wheelmatrix.host import cache_dir
from wheelmatrix.scan.elf import ElfInfo, Requirement
from wheelmatrix.scan.policy import Finding, WheelScan

T = TypeVar("T")
_PACKAGE = Path(__file__).resolve().parents[1]

FORMAT = "wheelmatrix-scan-cache/1"
# An entry larger than this is neither read nor written (the largest real scans, a few
# thousand undefined symbols per file, are a few MiB).
MAX_ENTRY_BYTES = 64 << 20


# the modules under inputs/ that a scan's result depends on (how a wheel and an ELF file are read)
READERS = ("elf.py", "zipmember.py", "wheels.py", "wheelname.py")


@functools.lru_cache(maxsize=1)
def scanner_stamp() -> str:
    """Changes whenever the scanner, the readers it uses or its policy data change.

    Files are named by path, size and modification time, as CPython's own bytecode cache does:
    hashing their 400 KB of content cost a small wheel's scan 2-3 ms. An edit, a reinstall or
    a checkout changes the stamp (at worst a reinstall of the same files misses the cache)."""
    digest = sha256(__version__.encode())
    data = _PACKAGE / "data"
    readers = [_PACKAGE / "inputs" / name for name in READERS]
    for path in (
        sorted((_PACKAGE / "scan").glob("*.py"))
        + readers
        + [
            data / "policy.json",
            data / "glibc-symbols.json",
            data / "stable-abi.json",
        ]
    ):
        st = path.stat()
        digest.update(f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return str(digest.hexdigest()[:16])


class ShapeError(ValueError):
    """A cache entry's JSON is not the shape the decoder expects."""


class Codec(Generic[T]):
    """How one cached type becomes JSON-compatible data and back (`load` raises ShapeError)."""

    __slots__ = ("dump", "load")

    def __init__(self, dump: Callable[[T], Any], load: Callable[[Any], T]) -> None:
        self.dump = dump
        self.load = load


def entry_path(kind: str, key: str) -> Path:
    """Where the entry for `key` is stored (the name also changes with the scanner stamp)."""
    name = sha256(f"{key} {scanner_stamp()}".encode()).hexdigest()[:32]
    return cache_dir() / kind / f"{name}.json"


def cached(kind: str, key: str, codec: Codec[T], compute: Callable[[], T]) -> T:
    """`compute()`, remembered under cache_dir()/kind/ by `key` and the scanner stamp."""
    store = entry_path(kind, key)
    found = _read(store, key, codec)
    if found is not None:
        return found
    value = compute()
    with contextlib.suppress(OSError, ValueError, TypeError):  # not JSON: not remembered
        blob = json.dumps(
            {"format": FORMAT, "stamp": scanner_stamp(), "key": key, "value": codec.dump(value)},
            allow_nan=False,
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()  # a lone surrogate (a name that is not UTF-8) is a UnicodeEncodeError
        if len(blob) <= MAX_ENTRY_BYTES:
            atomic_write_bytes(store, blob)
    return value


def _read(store: Path, key: str, codec: Codec[T]) -> T | None:
    """The entry's value, or None when it is missing, unreadable or not a valid entry."""
    try:
        with store.open("rb") as fh:
            raw = fh.read(MAX_ENTRY_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_ENTRY_BYTES:
        return None
    try:
        doc = json.loads(raw, parse_constant=_no_constant)
        entry = _record(doc, ("format", "stamp", "key", "value"))
        if entry["format"] != FORMAT or entry["stamp"] != scanner_stamp() or entry["key"] != key:
            return None
        return codec.load(entry["value"])
    except (ValueError, RecursionError):  # not JSON (UnicodeDecodeError too), or a ShapeError
        return None


def _no_constant(name: str) -> Any:
    raise ShapeError(f"{name} is not JSON")  # NaN and Infinity: strict JSON, as written


# --------------------------------------------------------------------------- checked readers


def _record(value: Any, keys: tuple[str, ...]) -> Mapping[str, Any]:
    """A JSON object with exactly these keys."""
    if not isinstance(value, dict) or set(value) != set(keys):
        raise ShapeError(f"expected an object with keys {keys}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ShapeError("expected a string")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ShapeError("expected a boolean")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ShapeError("expected a non-negative integer")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ShapeError("expected an array")
    return value


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(_str(v) for v in _list(value))


# --------------------------------------------------------------------------- the cached types
# Every field of each type is written and required on reading: a field added to a type and not
# here makes every read miss (and tests/unit/test_scan_cache.py fail), never a wrong scan.

_REQUIREMENT_KEYS = Requirement._fields
_ELF_KEYS = ElfInfo._fields
_FINDING_KEYS = Finding._fields
_SCAN_KEYS = WheelScan._fields


def requirement_to_json(req: Requirement) -> dict[str, Any]:
    return {
        "library": req.library,
        "namespace": req.namespace,
        "version": req.version,
        "symbols": list(req.symbols),
        "unversioned": req.unversioned,
    }


def requirement_from_json(value: Any) -> Requirement:
    obj = _record(value, _REQUIREMENT_KEYS)
    return Requirement(
        library=_str(obj["library"]),
        namespace=_str(obj["namespace"]),
        version=_str(obj["version"]),
        symbols=_strs(obj["symbols"]),
        unversioned=_bool(obj["unversioned"]),
    )


def elf_to_json(info: ElfInfo) -> dict[str, Any]:
    return {
        "path": info.path,
        "machine": info.machine,
        "needed": list(info.needed),
        "rpath": list(info.rpath),
        "runpath": list(info.runpath),
        "requirements": [requirement_to_json(r) for r in info.requirements],
        "exports": list(info.exports),
        "undefined": list(info.undefined),
        "soname": info.soname,
        "export_count": info.export_count,
        "unversioned": list(info.unversioned),
        "execstack": info.execstack,
        "isa_level": info.isa_level,
        "relr": info.relr,
        "private": [[library, list(symbols)] for library, symbols in info.private],
        "installs_as": info.installs_as,
    }


def _private(value: Any) -> tuple[str, tuple[str, ...]]:
    pair = _list(value)
    if len(pair) != 2:
        raise ShapeError("expected [library, [symbols]]")
    return (_str(pair[0]), _strs(pair[1]))


def elf_from_json(value: Any) -> ElfInfo:
    obj = _record(value, _ELF_KEYS)
    return ElfInfo(
        path=_str(obj["path"]),
        machine=_str(obj["machine"]),
        needed=_strs(obj["needed"]),
        rpath=_strs(obj["rpath"]),
        runpath=_strs(obj["runpath"]),
        requirements=tuple(requirement_from_json(r) for r in _list(obj["requirements"])),
        exports=_strs(obj["exports"]),
        undefined=_strs(obj["undefined"]),
        soname=_opt_str(obj["soname"]),
        export_count=_int(obj["export_count"]),
        unversioned=_strs(obj["unversioned"]),
        execstack=_bool(obj["execstack"]),
        isa_level=_opt_str(obj["isa_level"]),
        relr=_bool(obj["relr"]),
        private=tuple(_private(p) for p in _list(obj["private"])),
        installs_as=_str(obj["installs_as"]),
    )


def finding_from_json(value: Any) -> Finding:
    obj = _record(value, _FINDING_KEYS)
    return Finding(
        kind=_str(obj["kind"]),
        message=_str(obj["message"]),
        file=_opt_str(obj["file"]),
        symbol=_opt_str(obj["symbol"]),
        version=_opt_str(obj["version"]),
        library=_opt_str(obj["library"]),
        tag=_opt_str(obj["tag"]),
    )


def scan_to_json(scan: WheelScan) -> dict[str, Any]:
    return {
        "wheel": scan.wheel,
        "files": [elf_to_json(f) for f in scan.files],
        "findings": [f.to_json() for f in scan.findings],
    }


def scan_from_json(value: Any) -> WheelScan:
    obj = _record(value, _SCAN_KEYS)
    return WheelScan(
        wheel=_str(obj["wheel"]),
        files=tuple(elf_from_json(f) for f in _list(obj["files"])),
        findings=tuple(finding_from_json(f) for f in _list(obj["findings"])),
    )


ELF_INFO = Codec(dump=elf_to_json, load=elf_from_json)
WHEEL_SCAN = Codec(dump=scan_to_json, load=scan_from_json)
