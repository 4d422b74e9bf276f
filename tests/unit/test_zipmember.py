"""wheelmatrix.inputs.zipmember: a member's bytes inflated forward, checked against zipfile's
own reading for stored and deflated members, any mix of reads, skips and rewinds, and corrupt
or truncated compressed data (a MemberError, never another exception)."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wheelmatrix.inputs.zipmember import InflatingMember, MemberError, open_member


def _archive(data: bytes, method: int) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        zf.writestr("pkg/lib.so", data)
    zf = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    return zf, zf.getinfo("pkg/lib.so")


ops = st.lists(
    st.tuples(st.sampled_from(["read", "skip", "seek"]), st.integers(min_value=0, max_value=300_000)),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=2_000) | st.integers(0, 255).map(lambda b: bytes([b]) * 700_000),
    method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
    steps=ops,
)
def test_reads_skips_and_rewinds_match_zipfile(
    data: bytes, method: int, steps: list[tuple[str, int]]
) -> None:
    zf, info = _archive(data, method)
    stream = open_member(zf, info)
    assert isinstance(stream, InflatingMember)
    pos = 0
    for op, n in steps:
        if op == "read":
            got = stream.read(n)
            assert got == data[pos : pos + n]
            pos += len(got)
        elif op == "skip":
            stream.skip(n)
            pos = min(len(data), pos + n)
        else:
            target = min(n, len(data))
            stream.seek(target)
            pos = target
        assert stream.tell() == pos
    assert stream.read() == data[pos:]


@settings(max_examples=60, deadline=None)
@given(at=st.integers(min_value=0), junk=st.binary(min_size=1, max_size=64))
def test_corrupt_compressed_data_is_a_member_error(at: int, junk: bytes) -> None:
    data = bytes(range(256)) * 4000
    zf, info = _archive(data, zipfile.ZIP_DEFLATED)
    raw = bytearray(zf.fp.getvalue())  # type: ignore[union-attr]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    where = start + at % max(1, info.compress_size - len(junk))  # inside the compressed data
    raw[where : where + len(junk)] = junk
    broken = zipfile.ZipFile(io.BytesIO(bytes(raw[: len(zf.fp.getvalue())])))  # type: ignore[union-attr]
    stream = open_member(broken, broken.getinfo("pkg/lib.so"))
    try:
        got = stream.read()
    except MemberError:
        return
    assert len(got) <= len(data)  # undetected (no CRC is checked): never more than declared


def test_a_member_whose_local_header_is_missing_is_refused() -> None:
    zf, info = _archive(b"\x7fELF" + b"\0" * 100, zipfile.ZIP_DEFLATED)
    info.header_offset += 1
    with pytest.raises(MemberError, match="no local file header"):
        open_member(zf, info)


def test_other_methods_use_zipfile_itself() -> None:
    zf, info = _archive(b"x" * 1000, zipfile.ZIP_BZIP2)
    stream = open_member(zf, info)
    assert not isinstance(stream, InflatingMember)
    assert stream.read() == b"x" * 1000


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2])
def test_a_local_header_outside_the_archive_is_refused_for_every_method(method: int) -> None:
    """zipfile computes a negative header offset from a central directory that claims more
    bytes before it than the file has (found by bench/fuzz.py); its own stream then fails
    with ValueError("negative seek value")."""
    zf, info = _archive(b"x" * 1000, method)
    info.header_offset = -8
    with pytest.raises(MemberError, match="outside the archive"):
        open_member(zf, info)
