"""A wheel member's bytes, inflated forward from its compressed data, with no CRC and no copy
of what is skipped.

The ELF reader needs a few ranges of each library, the last of which (the dynamic section) sits
near the file's end: almost all of a member is inflated only to be skipped. zipfile's member
stream does that through a bounded output buffer and a CRC over every byte (0.68 s of zlib time
for libnvrtc's 97 MB); inflating 256 KiB of compressed input at a time with ISA-L (the `isal`
package, about twice zlib's speed; zlib when it is not installed) takes 0.16 s. Standard library
otherwise; other compression methods and encrypted members go through zipfile.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any, Protocol

# Members with at least this much compressed data inflate with ISA-L (the `isal` package, about
# twice zlib's speed, zlib where it is not installed); smaller ones with zlib: ISA-L's state
# costs about 2.7 MB of peak memory, which only a big member repays.
LARGE_MEMBER = 1 << 20


def _inflater(compressed: int) -> Any:
    if compressed >= LARGE_MEMBER:
        try:
            from isal import isal_zlib

            return isal_zlib.decompressobj(-15)
        except ImportError:  # pragma: no cover - the dependency is declared; a source build may lack it
            pass
    return zlib.decompressobj(-15)


def _inflate_errors() -> tuple[Any, ...]:
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover
        return (zlib.error,)
    return (zlib.error, isal_zlib.error)


class ByteStream(Protocol):
    """What the ELF reader needs of a file: forward reads, seeks, its position."""

    def read(self, count: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # signature ... name length, extra length
_LOCAL_SIGNATURE = b"PK\x03\x04"
INPUT_STEP = 1 << 16
OUTPUT_STEP = 1 << 17
FIRST_STEP = 1 << 12


class MemberError(ValueError):
    """The member's local header or compressed data is not what the central directory says."""


def open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes] | InflatingMember:
    """A stream of the member's bytes: an InflatingMember for stored and deflated members (the
    ones wheels use), zipfile's own stream for anything else."""
    fp: Any = zf.fp
    if fp is None:
        raise MemberError("the archive is closed")
    archive_size = fp.seek(0, 2)
    if not 0 <= info.header_offset <= archive_size - _LOCAL_HEADER.size:
        raise MemberError(f"{info.filename}: its local header at {info.header_offset} is outside the archive")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 0x1:
        return zf.open(info)
    archive_size = fp.seek(0, 2)
    if not 0 <= info.header_offset <= archive_size - _LOCAL_HEADER.size:
        raise MemberError(
            f"{info.filename}: its local header offset {info.header_offset} is outside the archive"
        )
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
        raise MemberError(f"{info.filename}: no local file header at offset {info.header_offset}")
    fields = _LOCAL_HEADER.unpack(header)
    start = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]
    if start + info.compress_size > archive_size:
        raise MemberError(f"{info.filename}: its compressed data runs past the end of the archive")
    return InflatingMember(
        fp.read,
        fp.seek,
        start,
        info.compress_size,
        info.file_size,
        info.compress_type == zipfile.ZIP_DEFLATED,
    )


class InflatingMember:
    """Forward reads of one member; seek(0) starts over, any other seek goes forward only."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        seek: Callable[[int], int],
        start: int,
        compressed: int,
        size: int,
        deflated: bool,
    ) -> None:
        self._read_raw, self._seek_raw = read, seek
        self.start, self.compressed, self.size, self.deflated = start, compressed, size, deflated
        self.seek(0)

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0, /) -> int:
        if whence != 0:
            raise ValueError("InflatingMember seeks from the start only")
        if offset == 0:
            self.pos, self.taken, self.pending = 0, 0, b""
            self.inflater = _inflater(self.compressed) if self.deflated else None
        elif offset < self.pos:
            self.seek(0)
        self.skip(offset - self.pos)
        return self.pos

    def _next(self) -> bytes:
        """The next piece of the member's bytes (b"" at its end), at most OUTPUT_STEP long: a
        run of zeros inflates a thousandfold, and a piece must not hold it whole."""
        while True:
            if self.inflater is not None and self.inflater.unconsumed_tail:
                raw = self.inflater.unconsumed_tail
            elif self.taken < self.compressed:
                self._seek_raw(self.start + self.taken)
                step = INPUT_STEP if self.taken else FIRST_STEP  # a look at the magic costs little
                raw = self._read_raw(min(step, self.compressed - self.taken))
                if not raw:
                    raise MemberError("the archive ends inside the member's compressed data")
                self.taken += len(raw)
                if self.inflater is None:
                    return raw
            else:
                return b""
            assert self.inflater is not None
            try:
                piece: bytes = self.inflater.decompress(raw, OUTPUT_STEP)
            except _inflate_errors() as exc:
                raise MemberError(f"corrupt compressed data: {exc}") from None
            if piece:
                return piece
            if self.inflater.eof:  # the deflate stream ended before the declared size
                return b""
            if raw is self.inflater.unconsumed_tail or len(self.inflater.unconsumed_tail) >= len(raw):
                raise MemberError("corrupt compressed data: inflating makes no progress")

    def skip(self, count: int) -> None:
        """Move `count` bytes forward, inflating and dropping them."""
        count = min(count, self.size - self.pos)
        while count > 0:
            if not self.pending:
                self.pending = self._next()
                if not self.pending:
                    return
            used = min(count, len(self.pending))
            self.pending = self.pending[used:]
            self.pos += used
            count -= used

    def read(self, count: int = -1, /) -> bytes:
        count = self.size - self.pos if count < 0 else min(count, self.size - self.pos)
        parts: list[bytes] = []
        while count > 0:
            if not self.pending:
                self.pending = self._next()
                if not self.pending:
                    break
            part, self.pending = self.pending[:count], self.pending[count:]
            parts.append(part)
            self.pos += len(part)
            count -= len(part)
        return b"".join(parts)

    def close(self) -> None:
        self.pending = b""

    def __enter__(self) -> InflatingMember:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
