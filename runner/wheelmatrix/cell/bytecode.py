"""Bytecode for an emulated cell, compiled once by a native interpreter (issue 19).

Under QEMU every instruction of the compiler is emulated: the first `import sklearn` of a
scikit-learn + scipy cell spent most of its 108 s compiling sources. Bytecode does not depend
on the CPU, only on the Python version, and the distro's image for the engine's own arch has
the very same Python. So after the install, the venv's sources (and, for uv's symlink installs,
the files they point to) are read out of the emulated cell through the engine API, compiled
there natively into a `sys.pycache_prefix` tree, and that tree is put back as the check user's
bytecode cache (the one every check of the cell already shares).

The .pyc files are hash-checked (PEP 552): the emulated interpreter compares each with its
source's hash before using it, so a source that differs is simply compiled again, as before;
what runs is byte for byte what the cell would have compiled itself. Small installs are left
to compile lazily (a native sandbox costs more than compiling the few modules they import), as
are cells whose engine holds no native image of the distro (none is built for this).
"""

from __future__ import annotations

import posixpath
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO

from wheelmatrix.backends.layout import UV_CACHE

# below this many sources, compiling in the cell what its checks import is cheaper
MIN_SOURCES = 300
# the sources read out of a cell are spooled to disk; past this, the cell compiles lazily
MAX_SOURCE_BYTES = 1 << 30
COMPILE_PREFIX = "/tmp/wm-pyc"  # in the native sandbox

NativeCompile = Callable[[IO[bytes], Sequence[str], str], "IO[bytes] | None"]


class ChunkReader:
    """A file-like view of an iterator of byte chunks, for tarfile's stream mode. The engine's
    chunks are megabytes and tarfile reads 10 KiB at a time: reads slice at an offset, never
    copying what is left of a chunk."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._at = 0

    def peek(self) -> bool:
        """Whether anything is left to read."""
        while self._at >= len(self._buf):
            chunk = next(self._it, None)
            if chunk is None:
                return False
            self._buf, self._at = chunk, 0
        return True

    def read(self, size: int = -1) -> bytes:
        parts = []
        while size != 0 and self.peek():
            end = len(self._buf) if size < 0 else min(len(self._buf), self._at + size)
            parts.append(self._buf[self._at : end])
            if size > 0:
                size -= end - self._at
            self._at = end
        return b"".join(parts)


ReadTree = Callable[[str], Iterable[bytes]]


def _members(read_tree: ReadTree, path: str) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None, str]]:
    """(member, its file object, absolute path) of each entry of a tree read out of the cell
    (none when the cell has no such directory: its read is empty)."""
    parent = posixpath.dirname(path.rstrip("/"))
    chunks = ChunkReader(read_tree(path))
    if not chunks.peek():
        return
    with tarfile.open(fileobj=chunks, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            where = posixpath.join(parent, member.name)
            yield member, (tar.extractfile(member) if member.isfile() else None), where


def _rename(member: tarfile.TarInfo, name: str, owner: int) -> None:
    """Give a member read from an archive another path and owner. A long path travels in the
    member's pax header too, which would win over the new name: that header goes."""
    member.name = name
    member.uid = member.gid = owner
    member.uname = member.gname = ""
    member.pax_headers = {
        k: v for k, v in member.pax_headers.items() if k not in ("path", "uid", "gid", "uname", "gname")
    }


def sources_archive(
    read_tree: ReadTree,
    dirs: Sequence[str],
    at_least: int = 0,
    mounted: Callable[[str], bool] = lambda path: False,
) -> tuple[IO[bytes], int] | None:
    """The .py files under `dirs` (and the uv cache files their symlinks point to) as a tar to
    unpack at /, spooled to disk, and how many sources it holds; None past MAX_SOURCE_BYTES.
    With fewer than `at_least` sources under `dirs`, the cache files are not read (the caller
    will not compile so few); nor are those of a cache folder the compile sandbox mounts
    itself (`mounted`)."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 (returned: the caller closes it)
    count = size = 0
    roots: set[str] = set()  # uv cache directories the symlinks point into

    def add(tar: tarfile.TarInfo, fh: IO[bytes] | None, where: str, dst: tarfile.TarFile) -> None:
        _rename(tar, where.lstrip("/"), 0)
        tar.mode = 0o755 if tar.isdir() else 0o644
        dst.addfile(tar, fh)

    def fill(dst: tarfile.TarFile) -> bool:
        nonlocal count, size
        for d in dirs:
            for member, fh, where in _members(read_tree, d):
                if member.isdir():
                    add(member, None, where, dst)
                elif member.name.endswith(".py") and (member.isfile() or member.issym()):
                    count += 1
                    size += member.size
                    if member.issym() and member.linkname.startswith(UV_CACHE + "/"):
                        rest = member.linkname[len(UV_CACHE) + 1 :].split("/")
                        roots.add(posixpath.join(UV_CACHE, *rest[:2]))  # archive-v0/ID
                    add(member, fh, where, dst)
                if size > MAX_SOURCE_BYTES:
                    return False
        if count < at_least:
            return True
        for root in sorted(r for r in roots if not mounted(r)):
            for member, fh, where in _members(read_tree, root):
                if member.isdir() or (member.isfile() and member.name.endswith(".py")):
                    size += member.size
                    add(member, fh, where, dst)
                if size > MAX_SOURCE_BYTES:
                    return False
        return True

    with tarfile.open(fileobj=out, mode="w") as dst:
        complete = fill(dst)
    if not complete:
        out.close()
        return None
    out.seek(0)
    return out, count


def pycache_archive(
    compiled: IO[bytes], user_prefix: str, uid: int, dirs: Sequence[str] = ("",)
) -> IO[bytes]:
    """The compiled tree (a tar of COMPILE_PREFIX) renamed to the check user's prefix (a
    directory of /tmp), owned by that user so its checks can add what they compile. Only the
    bytecode of sources under `dirs` is kept (all by default: the engine compiles the
    standard library too, hash-checked, so a file that differs in the cell is compiled again)."""
    keep = tuple(d.strip("/") for d in dirs)
    out = tempfile.TemporaryFile()  # noqa: SIM115 (returned: the caller closes it)
    old, new = posixpath.basename(COMPILE_PREFIX), posixpath.basename(user_prefix)
    with tarfile.open(fileobj=compiled, mode="r|") as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src:
            head, _sep, tail = member.name.partition("/")
            if head != old:
                continue
            if member.isfile() and not tail.startswith(keep):
                continue
            _rename(member, f"{new}/{tail}" if tail else new, uid)
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    out.seek(0)
    return out
