"""The scan cache (wheelmatrix/scan/cache.py): JSON entries read by checked decoders, so a cache
restored from another branch can neither run code nor crash a run."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.wheels import Fixture
from wheelmatrix.inputs.wheels import file_sha256
from wheelmatrix.scan.cache import (
    ELF_INFO,
    FORMAT,
    MAX_ENTRY_BYTES,
    WHEEL_SCAN,
    cached,
    elf_from_json,
    elf_to_json,
    entry_path,
    scan_from_json,
    scan_to_json,
    scanner_stamp,
)
from wheelmatrix.scan.elf import ElfInfo, Requirement
from wheelmatrix.scan.policy import Finding, WheelScan, judge_wheel
from wheelmatrix.scan.wheel import cached_scan, platforms_of


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("WHEELMATRIX_CACHE", str(cache))
    return cache


def every_fixture_wheel(fixtures: dict[str, Fixture]) -> Iterator[Path]:
    """Every fixture wheel but `notawheel` (not a zip archive: it has no scan)."""
    for fixture in fixtures.values():
        yield from (w for w in fixture.wheels if zipfile.is_zipfile(w))


# --------------------------------------------------------------------------- round trip


def test_every_fixture_scan_round_trips_through_json(fixtures: dict[str, Fixture]) -> None:
    """Equal after JSON, nested tuples and all, for every fixture wheel (findings of every kind
    the fixtures produce, requirements, GLIBC_PRIVATE pairs, CPU levels, execstack)."""
    seen_findings: set[str] = set()
    for wheel in every_fixture_wheel(fixtures):
        fresh = judge_wheel(wheel, platforms_of(wheel))
        back = scan_from_json(orjson.loads(orjson.dumps(scan_to_json(fresh))))
        assert back == fresh, wheel.name
        assert all(type(f.requirements) is tuple and type(f.needed) is tuple for f in back.files)
        seen_findings |= {f.kind for f in back.findings}
    assert {"over-claimed", "unshipped-library", "execstack"} <= seen_findings


def test_every_field_of_the_cached_types_survives() -> None:
    """An ElfInfo with no field at its default: a field the codec forgets fails here (the list
    of fields is checked, so a new field must be added to this test and to the codec)."""
    req = Requirement(
        library="libc.so.6", namespace="GLIBC", version="2.36", symbols=("a", "b"), unversioned=True
    )
    values: dict[str, Any] = {
        "path": "pkg/_x.so",
        "machine": "x86_64",
        "needed": ("libc.so.6", "libm.so.6"),
        "rpath": ("$ORIGIN",),
        "runpath": ("$ORIGIN/../lib",),
        "requirements": (req,),
        "exports": ("PyInit__x",),
        "undefined": ("malloc",),
        "soname": "libx.so.1",
        "export_count": 7,
        "unversioned": ("__isoc23_strtol",),
        "execstack": True,
        "isa_level": "x86-64-v3",
        "relr": True,
        "private": (("libc.so.6", ("__libc_x", "__libc_y")), ("ld-linux-x86-64.so.2", ())),
        "installs_as": "bin/x",
    }
    assert set(values) == set(ElfInfo._fields)
    info = ElfInfo(**values)
    for name, default in ElfInfo._field_defaults.items():
        assert values[name] != default, name
    assert elf_from_json(orjson.loads(orjson.dumps(elf_to_json(info)))) == info
    finding = Finding(
        kind="over-claimed", message="m", file="f", symbol="s", version="v", library="l", tag="t"
    )
    assert set(Finding._fields) == set(finding.to_json())
    scan = WheelScan(wheel="x-1-py3-none-any.whl", files=(info,), findings=(finding,))
    assert scan_from_json(orjson.loads(orjson.dumps(scan_to_json(scan)))) == scan


def test_an_entry_is_written_once_and_then_read(_own_cache: Path) -> None:
    info = ElfInfo(
        path="a.so",
        machine="x86_64",
        needed=(),
        rpath=(),
        runpath=(),
        requirements=(),
        exports=(),
        undefined=(),
    )
    calls: list[int] = []

    def compute() -> ElfInfo:
        calls.append(1)
        return info

    assert cached("elf-scans", "sha256=k", ELF_INFO, compute) == info
    assert cached("elf-scans", "sha256=k", ELF_INFO, compute) == info
    assert calls == [1]
    entry = orjson.loads(entry_path("elf-scans", "sha256=k").read_bytes())
    assert (entry["format"], entry["stamp"], entry["key"]) == (FORMAT, scanner_stamp(), "sha256=k")
    assert entry_path("elf-scans", "sha256=k").parent == _own_cache / "elf-scans"


# --------------------------------------------------------------------------- hostile entries


class _Payload:
    """Unpickling this creates `marker`: what a hostile cache entry could do with pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_malicious_pickle_in_the_cache_is_not_executed_and_is_replaced(
    fixtures: dict[str, Fixture], tmp_path: Path, _own_cache: Path
) -> None:
    wheel = fixtures["newglibc"].wheels[0]
    sha, platforms = file_sha256(wheel), platforms_of(wheel)
    payload = pickle.dumps(_Payload(tmp_path / "owned"), protocol=pickle.HIGHEST_PROTOCOL)
    # the payload is live: unpickling it does create its marker file
    pickle.loads(pickle.dumps(_Payload(tmp_path / "control")))
    assert (tmp_path / "control").exists()

    fresh = cached_scan(wheel, sha, platforms, True)  # writes the entry
    (entry,) = (_own_cache / "scans").iterdir()
    entry.write_bytes(payload)  # the path the next run reads
    # and where the pickle-based cache used to read it
    entry.with_suffix(".pickle").write_bytes(payload)

    again = cached_scan(wheel, sha, platforms, True)
    assert not (tmp_path / "owned").exists()
    assert again == fresh == judge_wheel(wheel, platforms)
    doc = orjson.loads(entry.read_bytes())  # replaced by a valid entry
    assert doc["format"] == FORMAT and scan_from_json(doc["value"]) == fresh


def _entry(key: str, value: Any, **overrides: Any) -> bytes:
    doc = {"format": FORMAT, "stamp": scanner_stamp(), "key": key, "value": value, **overrides}
    return orjson.dumps({k: v for k, v in doc.items() if v is not _DROP})


_DROP = object()
_GOOD_ELF: dict[str, Any] = {
    "path": "a.so",
    "machine": "x86_64",
    "needed": [],
    "rpath": [],
    "runpath": [],
    "requirements": [],
    "exports": [],
    "undefined": [],
    "soname": None,
    "export_count": 0,
    "unversioned": [],
    "execstack": False,
    "isa_level": None,
    "relr": False,
    "private": [],
    "installs_as": "",
}
_GOOD_SCAN = {"wheel": "forged.whl", "files": [_GOOD_ELF], "findings": []}


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"\xff\xfe\x00", id="not-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
        pytest.param(b'{"format": NaN}', id="nan"),
        pytest.param(b"1" * 5000, id="huge-int"),
        pytest.param(orjson.dumps([1, 2]), id="not-an-object"),
        pytest.param(_entry("K", _GOOD_SCAN, stamp="0" * 16), id="other-stamp"),
        pytest.param(_entry("K", _GOOD_SCAN, format="wheelmatrix-scan-cache/0"), id="other-format"),
        pytest.param(_entry("another wheel", _GOOD_SCAN), id="other-key"),
        pytest.param(_entry("K", _GOOD_SCAN, stamp=_DROP), id="no-stamp"),
        pytest.param(_entry("K", _GOOD_SCAN, extra=1), id="extra-top-key"),
        pytest.param(_entry("K", _GOOD_ELF), id="an-elf-entry-where-a-scan-is-read"),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "export_count": "7"}]}), id="str-for-int"
        ),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "export_count": True}]}), id="bool-for-int"
        ),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "export_count": -1}]}), id="negative"
        ),
        pytest.param(_entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "relr": 1}]}), id="int-for-bool"),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "needed": "libc.so.6"}]}), id="str-for-list"
        ),
        pytest.param(_entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "needed": [1]}]}), id="int-in-list"),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "private": [["a"]]}]}), id="short-pair"
        ),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "soname": 3.5}]}), id="float-for-str"
        ),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "files": [{k: v for k, v in _GOOD_ELF.items() if k != "relr"}]}),
            id="missing-field",
        ),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "__class__": "os.system"}]}),
            id="unknown-field",
        ),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "findings": [{"kind": "x", "message": None}]}), id="bad-finding"
        ),
        pytest.param(
            _entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, "requirements": [{"library": "x"}]}]}),
            id="bad-requirement",
        ),
    ],
)
def test_a_hostile_or_malformed_entry_is_ignored_and_rewritten(blob: bytes) -> None:
    store = entry_path("scans", "K")
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(blob)
    honest = WheelScan(wheel="honest.whl", files=())
    assert cached("scans", "K", WHEEL_SCAN, lambda: honest) == honest
    assert scan_from_json(orjson.loads(store.read_bytes())["value"]) == honest


def test_a_well_formed_entry_is_used() -> None:
    """The control for the test above: the same entry with the right stamp and key is read
    (it is data: the worst a forged one can do is to say something false about a wheel)."""
    store = entry_path("scans", "K")
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(_entry("K", _GOOD_SCAN))
    found = cached("scans", "K", WHEEL_SCAN, lambda: pytest.fail("the valid entry was not used"))
    assert found.wheel == "forged.whl" and found.files[0].path == "a.so"


def test_an_entry_over_the_size_limit_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wheelmatrix.scan.cache.MAX_ENTRY_BYTES", 64)
    store = entry_path("scans", "K")
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(_entry("K", _GOOD_SCAN))
    assert len(store.read_bytes()) > 64
    honest = WheelScan(wheel="honest.whl", files=())
    assert cached("scans", "K", WHEEL_SCAN, lambda: honest) == honest
    assert MAX_ENTRY_BYTES >= 16 << 20


def test_a_value_json_cannot_hold_is_returned_and_not_cached() -> None:
    """A wheel on a file system whose name is not UTF-8 (a lone surrogate in `path.name`)."""
    odd = WheelScan(wheel="x\udcff.whl", files=())
    assert cached("scans", "K", WHEEL_SCAN, lambda: odd) == odd
    assert not entry_path("scans", "K").exists()


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)  # what JSON can hold
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


def _hostile_entry() -> st.SearchStrategy[bytes]:
    keys = st.sampled_from(list(_GOOD_ELF))
    mutated = st.builds(lambda k, v: _entry("K", {**_GOOD_SCAN, "files": [{**_GOOD_ELF, k: v}]}), keys, _JSON)
    return st.binary(max_size=512) | st.builds(lambda v: _entry("K", v), _JSON) | mutated


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=_hostile_entry())
def test_arbitrary_bytes_in_an_entry_never_raise(blob: bytes) -> None:
    store = entry_path("scans", "K")
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(blob)
    honest = WheelScan(wheel="honest.whl", files=())
    found = cached("scans", "K", WHEEL_SCAN, lambda: honest)
    assert isinstance(found, WheelScan)
    assert all(isinstance(f, ElfInfo) for f in found.files)
    # whatever was there, the entry now decodes to what was returned
    assert scan_from_json(orjson.loads(store.read_bytes())["value"]) == found


@pytest.mark.parametrize(
    "changed",
    ["scan/policy.py", "inputs/elf.py", "inputs/zipmember.py", "inputs/wheelname.py", "data/policy.json"],
)
def test_the_stamp_changes_with_the_scanner_and_the_readers_it_uses(
    changed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import wheelmatrix.scan.cache as cache_module

    package = Path(cache_module.__file__).resolve().parents[1]
    copy = tmp_path / "wheelmatrix"
    for part in ("scan", "inputs", "data"):
        shutil.copytree(package / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", "recipes"))
    monkeypatch.setattr(cache_module, "_PACKAGE", copy)
    scanner_stamp.cache_clear()
    before = scanner_stamp()
    with (copy / changed).open("a") as fh:
        fh.write("\n")
    scanner_stamp.cache_clear()
    try:
        assert scanner_stamp() != before
    finally:
        scanner_stamp.cache_clear()


def test_a_scan_of_a_big_wheel_loads_neither_openssl_nor_the_terminal_library(tmp_path: Path) -> None:
    """`wheelmatrix scan` keys its cache by a BLAKE2b digest from CPython's own module: hashing
    a 9 MB wheel's sha256 would map OpenSSL's libcrypto (4-5 MB of a scan's peak memory)."""
    import os
    import random
    import subprocess
    import sys

    from tests.fixtures.wheels import write_wheel

    noise = random.Random(1).randbytes(9 << 20)  # incompressible: the file is over 8 MiB
    wheel = write_wheel(
        tmp_path, "wmbig", "1.0", "py3-none-any", {"wmbig/__init__.py": b"", "wmbig/blob.bin": noise}, True
    )
    assert wheel.stat().st_size > 8 << 20
    code = (
        "import sys\nfrom wheelmatrix.cli import main\n"
        f"rc = main(['scan', {str(wheel)!r}])\n"
        "print(rc, sorted(m for m in ('_hashlib', 'rich', 'orjson') if m in sys.modules))\n"
    )
    env = {**os.environ, "WHEELMATRIX_CACHE": str(tmp_path / "cache")}
    for _ in range(2):  # the second one reads the cache entry the first one wrote
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        assert out.stdout.strip().endswith("0 []"), out.stdout
    entries = list((tmp_path / "cache" / "scans").glob("*.json"))
    assert len(entries) == 1 and "blake2b=" in entries[0].read_text()
