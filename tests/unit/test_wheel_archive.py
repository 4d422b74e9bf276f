"""Hostile and corrupt wheel archives (wheelmatrix/inputs/wheels.py `read_wheel`): each class is
built byte by byte here and refused as bad input (exit 2) naming the wheel, before anything is
installed; nothing else escapes read_wheel."""

from __future__ import annotations

import bz2
import os
import stat
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wheelmatrix.inputs.wheels as wheels
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError
from wheelmatrix.inputs.wheels import WheelFile, read_wheel

RUNNER = Path(__file__).resolve().parents[2] / "runner"
NAME = "wmbad-1.0-py3-none-any.whl"
DIST = "wmbad-1.0.dist-info"
REGULAR = (stat.S_IFREG | 0o644) << 16


@dataclass(frozen=True)
class Entry:
    """One member as written: `stored` are the bytes after the local header (compressed with
    `method`), `plain` what they inflate to (for the CRC and the size)."""

    name: bytes
    stored: bytes
    plain: bytes
    method: int = 0
    flags: int = 0
    attr: int = REGULAR
    crc: int | None = None
    size: int | None = None  # declared uncompressed size (default: len(plain))
    offset: int | None = None  # the central directory's offset (default: where it was written)
    csize: int | None = None  # the central directory's compressed size (default: len(stored))


def member(name: str | bytes, plain: bytes, method: int = 8, **kw: object) -> Entry:
    raw = name if isinstance(name, bytes) else name.encode()
    if method == 8:
        co = zlib.compressobj(9, zlib.DEFLATED, -15)
        stored = co.compress(plain) + co.flush()
    elif method == 12:
        stored = bz2.compress(plain)
    else:
        stored = plain
    return replace(Entry(name=raw, stored=stored, plain=plain, method=method), **kw)  # type: ignore[arg-type]


def base_entries() -> list[Entry]:
    return [
        member("wmbad/__init__.py", b"VALUE = 1\n"),
        member(f"{DIST}/METADATA", b"Metadata-Version: 2.1\nName: wmbad\nVersion: 1.0\n"),
        member(f"{DIST}/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        member(f"{DIST}/RECORD", b""),
    ]


def build_zip(entries: list[Entry], *, zip64_count: int | None = None, count: int | None = None) -> bytes:
    """A zip archive written by hand: local headers, central directory, end record (declaring
    `count` members when given; with a zip64 end record declaring `zip64_count` when given)."""
    out = bytearray()
    central = bytearray()
    for e in entries:
        crc = zlib.crc32(e.plain) if e.crc is None else e.crc
        size = len(e.plain) if e.size is None else e.size
        offset = len(out)
        out += struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            20,
            e.flags,
            e.method,
            0,
            0x21,
            crc,
            len(e.stored),
            size,
            len(e.name),
            0,
        )
        out += e.name + e.stored
        central += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            0x031E,  # made by Unix: external attributes carry the mode
            20,
            e.flags,
            e.method,
            0,
            0x21,
            crc,
            len(e.stored) if e.csize is None else e.csize,
            min(size, 0xFFFFFFFF),
            len(e.name),
            0,
            0,
            0,
            0,
            e.attr,
            offset if e.offset is None else e.offset,
        )
        central += e.name
    cd_offset = len(out)
    out += central
    count = len(entries) if count is None else count
    if zip64_count is not None:
        record = len(out)
        out += struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, zip64_count, zip64_count, len(central), cd_offset
        )
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, record, 1)
        count = 0xFFFF
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), cd_offset, 0)
    return bytes(out)


def write(tmp_path: Path, data: bytes, name: str = NAME) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_wheel(path)
    assert info.value.exit_code == EXIT_BAD_INPUT
    message = str(info.value)
    assert str(path) in message
    assert "hint:" in message
    return message


def with_entry(index: int, **changes: object) -> list[Entry]:
    entries = base_entries()
    entries[index] = replace(entries[index], **changes)  # type: ignore[arg-type]
    return entries


def local_offset(entries: list[Entry], index: int) -> int:
    """Where build_zip writes entry `index`'s local header."""
    return sum(30 + len(e.name) + len(e.stored) for e in entries[:index])


# --------------------------------------------------------------------------- the control


def test_the_hand_built_wheel_is_valid(tmp_path: Path) -> None:
    """Every refusal below is one change away from this wheel, which reads."""
    wheel = read_wheel(write(tmp_path, build_zip(base_entries())))
    assert (wheel.project, wheel.modules) == ("wmbad", ("wmbad",))


def test_bzip2_and_lzma_members_are_read(tmp_path: Path) -> None:
    """Methods zipfile reads are not refused (only the ones nothing reads)."""
    entries = base_entries()
    entries[1] = member(entries[1].name, entries[1].plain, method=12)
    assert read_wheel(write(tmp_path, build_zip(entries))).project == "wmbad"


# --------------------------------------------------------------------------- escaping members


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (b"../evil.py", "'..' component"),
        (b"wmbad/../../evil.py", "'..' component"),
        (b"/etc/evil.py", "absolute path"),
        (b"wmbad\\..\\..\\evil.py", "backslash"),
        (b"C:/evil.py", "drive letter"),
        (b"c:evil.py", "drive letter"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "backslash", "drive", "drive-relative"],
)
def test_a_member_that_escapes_is_refused_naming_it(tmp_path: Path, name: bytes, why: str) -> None:
    entries = [*base_entries(), member(name, b"import os\n")]
    message = refused(write(tmp_path, build_zip(entries)))
    assert repr(name.decode()) in message and why in message
    assert "do not install this wheel" in message


def test_a_member_with_an_empty_name_is_refused(tmp_path: Path) -> None:
    message = refused(write(tmp_path, build_zip([*base_entries(), member(b"", b"x")])))
    assert "a member has an empty name" in message and "do not install this wheel" in message


def test_a_member_stored_as_a_symlink_is_refused(tmp_path: Path) -> None:
    link = member("wmbad/data", b"../../../../root/.ssh", attr=(stat.S_IFLNK | 0o777) << 16)
    message = refused(write(tmp_path, build_zip([*base_entries(), link])))
    assert "'wmbad/data'" in message and "symbolic link" in message


# --------------------------------------------------------------------------- corrupt archives


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        pytest.param(with_entry(1, flags=0x1), "encrypted", id="encrypted"),
        pytest.param(with_entry(1, method=99), "compression method 99", id="aes-method"),
        pytest.param(with_entry(1, method=15), "compression method 15", id="unknown-method"),
        pytest.param(with_entry(1, stored=b"\xff\xff\xff\xff garbage"), "corrupt wheel", id="bad-deflate"),
        pytest.param(with_entry(1, method=12, stored=b"BZh9 not bzip2"), "corrupt wheel", id="bad-bzip2"),
        pytest.param(
            with_entry(1, method=14, stored=b"\x09\x04\x05\x00garbage!"), "corrupt wheel", id="bad-lzma"
        ),
        pytest.param(with_entry(1, crc=0x12345678), "Bad CRC-32", id="bad-crc"),
        pytest.param(with_entry(1, offset=10_000_000), "corrupt wheel", id="header-points-nowhere"),
        pytest.param(
            with_entry(1, offset=local_offset(base_entries(), 4)),
            "Bad magic number",
            id="header-points-elsewhere",
        ),
        pytest.param(
            with_entry(0, name=b"wmbad/\xff\xfe.py", flags=0x800), "UnicodeDecodeError", id="bad-utf8"
        ),
        pytest.param(
            [*base_entries(), member(f"{DIST}/METADATA", b"Name: other\n")], "listed twice", id="duplicate"
        ),
        pytest.param(
            with_entry(2, name=f"{DIST}/WHEEX".encode()), "no wmbad-1.0.dist-info/WHEEL", id="no-WHEEL"
        ),
    ],
)
def test_a_corrupt_archive_is_bad_input_naming_the_wheel(
    tmp_path: Path, entries: list[Entry], says: str
) -> None:
    message = refused(write(tmp_path, build_zip(entries)))
    assert says in message


@pytest.mark.parametrize("into", [0, 30 + len("wmbad/a.bin") + 5], ids=["same-header", "inside-the-data"])
def test_entries_sharing_their_data_are_refused(tmp_path: Path, into: int) -> None:
    """One compressed stream listed under many names (the overlapping zip bomb): the second
    entry points at the first one's local header, or into its compressed data."""
    entries = [*base_entries(), member("wmbad/a.bin", bytes(1 << 16))]
    shared = local_offset(entries, len(entries) - 1) + into
    message = refused(write(tmp_path, build_zip([*entries, member("wmbad/b.bin", b"", offset=shared)])))
    assert "overlap" in message and "'wmbad/a.bin'" in message and "'wmbad/b.bin'" in message


@pytest.mark.parametrize(
    "entry",
    [member("wmbad/a.py", b"", offset=10_000_000), member("wmbad/a.py", b"", csize=1 << 20)],
    ids=["header-past-the-end", "data-past-the-end"],
)
def test_a_member_outside_the_file_is_refused(tmp_path: Path, entry: Entry) -> None:
    message = refused(write(tmp_path, build_zip([*base_entries(), entry])))
    assert "'wmbad/a.py' lies outside the file" in message


def test_a_negative_header_offset_is_refused(tmp_path: Path) -> None:
    """zipfile computes an offset below 0 when the end record's directory offset is larger than
    the space before it (found by bench/fuzz.py)."""
    data = bytearray(build_zip(base_entries()))
    end = len(data) - 22
    cd_offset = struct.unpack_from("<L", data, end + 16)[0]
    struct.pack_into("<L", data, end + 16, cd_offset + 100)  # zipfile shifts every offset by -100
    assert "lies outside the file" in refused(write(tmp_path, bytes(data)))


def test_a_truncated_archive_is_bad_input(tmp_path: Path) -> None:
    data = build_zip(base_entries())
    for cut in (len(data) - 5, len(data) // 2, 30):
        message = refused(write(tmp_path, data[:cut]))
        assert "not a zip archive" in message or "corrupt wheel" in message


# --------------------------------------------------------------------------- limits


def test_a_declared_member_count_over_the_limit_is_refused_before_reading_the_directory(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, build_zip(base_entries(), zip64_count=1 << 40))
    message = refused(path)
    assert "1,099,511,627,776 members" in message and "100,000" in message


def test_more_members_than_the_limit_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [*base_entries(), *(member(f"wmbad/m{i}.py", b"") for i in range(6))]
    path = write(tmp_path, build_zip(entries))
    monkeypatch.setattr(wheels, "MAX_MEMBERS", 10)
    assert read_wheel(path).project == "wmbad"
    monkeypatch.setattr(wheels, "MAX_MEMBERS", 9)
    assert "declares 10 members, more than the 9" in refused(path)
    # an end record that understates the count: the directory itself is counted
    understated = write(tmp_path, build_zip(entries, count=1))
    assert "has 10 members, more than the 9" in refused(understated)


def test_a_central_directory_over_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zipfile keeps one ZipInfo per directory entry: the directory's size bounds that memory."""
    entries = base_entries()
    path = write(tmp_path, build_zip(entries))
    size = sum(46 + len(e.name) for e in entries)
    monkeypatch.setattr(wheels, "MAX_CENTRAL_DIRECTORY", size)
    assert read_wheel(path).project == "wmbad"
    monkeypatch.setattr(wheels, "MAX_CENTRAL_DIRECTORY", size - 1)
    assert f"central directory is {size:,} bytes" in refused(path)


def test_a_declared_total_over_8_gib_is_refused(tmp_path: Path) -> None:
    entries = [*base_entries(), *(member(f"wmbad/big{i}.bin", b"", size=0xFFFFFFFF) for i in range(3))]
    message = refused(write(tmp_path, build_zip(entries)))
    total = 3 * 0xFFFFFFFF + sum(len(e.plain) for e in base_entries())
    assert f"{total:,} bytes uncompressed" in message and "8 GiB" in message


def test_metadata_over_16_mib_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    head = b"Metadata-Version: 2.1\nName: wmbad\nVersion: 1.0\n\n"
    big = base_entries()
    big[1] = member(f"{DIST}/METADATA", head + b" " * (16 << 20))
    message = refused(write(tmp_path, build_zip(big)))
    assert f"{DIST}/METADATA is larger than the 16 MiB" in message
    # a declared size over the cap is refused from the directory alone
    lying = with_entry(1, size=(16 << 20) + 1)
    assert "larger than the 16 MiB" in refused(write(tmp_path, build_zip(lying)))
    # just under the cap reads
    ok = base_entries()
    ok[1] = member(f"{DIST}/METADATA", head + b" " * ((16 << 20) - len(head)))
    assert read_wheel(write(tmp_path, build_zip(ok))).project == "wmbad"


# --------------------------------------------------------------------------- through the CLI


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ([*base_entries(), member("../../evil.py", b"")], "'../../evil.py'"),
        (with_entry(1, method=99), "compression method 99"),
        (with_entry(0, name=b"wmbad/\xff.py", flags=0x800), "corrupt wheel"),
    ],
    ids=["escaping-member", "unsupported-method", "bad-utf8-name"],
)
def test_scan_refuses_the_wheel_with_exit_2_and_no_traceback(
    tmp_path: Path, entries: list[Entry], says: str
) -> None:
    path = write(tmp_path, build_zip(entries))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(RUNNER), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "wheelmatrix", "scan", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("wheelmatrix: error: ") and NAME in proc.stderr and says in proc.stderr


# --------------------------------------------------------------------------- property


_VALID = build_zip(base_entries())
_MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(_VALID) - 1), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, len(_VALID) - 1), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, len(_VALID)), st.integers(0, 255)),
    st.tuples(st.just("set"), st.integers(0, len(_VALID) - 1), st.sampled_from([0x00, 0xFF, 0x80, 0x7F])),
)


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for op, at, value in ops:
        at = min(at, max(len(out) - 1, 0))
        if not out:
            break
        if op == "flip":
            out[at] ^= value
        elif op == "truncate":
            del out[at:]
        elif op == "insert":
            out[at:at] = bytes([value])
        else:
            out[at] = value
    return bytes(out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_MUTATION, min_size=1, max_size=4))
def test_a_mutated_wheel_reads_or_is_bad_input(tmp_path: Path, ops: list[tuple[str, int, int]]) -> None:
    path = write(tmp_path, mutate(_VALID, ops))
    try:
        wheel = read_wheel(path)
    except InputError as exc:
        assert exc.exit_code == EXIT_BAD_INPUT and str(path) in exc.message
    else:
        assert isinstance(wheel, WheelFile) and wheel.project == "wmbad"
