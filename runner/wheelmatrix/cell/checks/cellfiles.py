"""A cell's files as the symbols probe's analysis reads them, on the runner's side (issue 19).

Under QEMU every instruction of the probe's ELF reading is emulated: listing the symbols of the
objects a scientific stack loads took 17 s in an aarch64 cell and 0.2 s natively. The objects
and the dynamic linker's logs are read out of the cell through the engine API (which also
serves remote engines) into a scratch folder, and the probe's own analysis runs over them
natively (`wm_symbols.reading_through`), so what it concludes is the same code's conclusion.

The engine answers one file per call, and a call costs tens of milliseconds however small the
file: files in a folder the local engine mounts into the cell (uv's cache, where the files of
its symlink installs are) are read there directly, the rest through the engine.

Nothing read from the cell is trusted as a path on this side: copies are named by a counter,
symbolic links are followed inside the cell's namespace (never on the runner's file system; a
mounted folder is walked one name at a time, and a link there sends the file to the engine),
and the bytes read are capped.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from wheelmatrix.backends.base import Sandbox
from wheelmatrix.cell.bytecode import ChunkReader
from wheelmatrix.probe import wm_symbols

ReadTree = Callable[[str], Iterable[bytes]]
LocalPath = Callable[[str], "tuple[Path, str] | None"]
# Set (to anything) to have emulated cells analyse what the symbol probe observed in the cell,
# as native cells do: the two must read the same (tests/integration/test_symbols_outside.py).
IN_CELL_ENV = "WHEELMATRIX_SYMBOLS_IN_CELL"


def observe_only(emulated: bool, sandbox: Sandbox) -> bool:
    """Whether the symbols probe only observes in this cell and the runner reads the files: in
    an emulated cell whose probe runs emulated (a native one reads them faster where they are)."""
    return emulated and not sandbox.native_probe and not os.environ.get(IN_CELL_ENV)


# Past this many bytes of loaded objects, reading them out of the cell costs more than parsing
# their symbol tables in it (which reads only the tables, not whole files).
MAX_READ_BYTES = 2 << 30
MAX_HOPS = 40  # symbolic links followed for one path, as the kernel's limit
MAX_OPEN = 1000  # files held open where they are mounted; past this, copied through the engine


class TooMuchToRead(Exception):
    """The cell's files would take more than the cap: analyse in the cell instead."""


class CellFiles:
    """open/isfile/realpath/listdir/unlink over a cell's files, fetched on first use."""

    def __init__(
        self, read_tree: ReadTree, scratch: Path, max_bytes: int, local: LocalPath | None = None
    ) -> None:
        self._read = read_tree
        self._local = local
        self._fds: dict[str, int] = {}  # cell path -> open descriptor of the mounted file
        self._listed: dict[str, list[str]] = {}  # folder -> its names, as last read
        self._scratch = scratch
        self._max = max_bytes
        self._bytes = 0
        self._count = 0
        self._files: dict[str, Path | None] = {}  # cell path -> local copy; None: no file there
        self._links: dict[str, str] = {}  # cell path -> where its symbolic link points
        self._lock = threading.Lock()

    # -- fetching ------------------------------------------------------------------------------
    def fetch(self, paths: Sequence[str], workers: int = 4) -> None:
        """Read these files (and what their links point to) out of the cell, a few at a time."""
        todo = [p for p in dict.fromkeys(paths) if p not in self._files and p not in self._links]
        with concurrent.futures.ThreadPoolExecutor(max(1, min(workers, len(todo) or 1))) as pool:
            for _ in pool.map(self._resolve, todo):
                pass

    def close(self) -> None:
        """Close the files held open where they are mounted."""
        with self._lock:
            fds, self._fds = list(self._fds.values()), {}
        for fd in fds:
            os.close(fd)

    def __enter__(self) -> CellFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _mounted(self, path: str) -> bool:
        """Hold the file open if it is in a folder mounted from this machine; whether it was."""
        where = self._local(path) if self._local is not None else None
        if where is None or len(self._fds) >= MAX_OPEN:
            return False
        fd = open_without_links(*where)
        if fd is None:
            return False
        with self._lock:
            self._fds[path] = fd
            self._files[path] = Path(f"/proc/self/fd/{fd}")  # a fresh open of the same file
        return True

    def _fetch_one(self, path: str) -> None:
        if self._mounted(path):
            return
        name = posixpath.basename(path.rstrip("/"))
        found: Path | None = None
        for member, fh in self._members(path):
            if member.name != name:
                continue
            if member.issym():
                target = posixpath.join(posixpath.dirname(path), member.linkname)
                with self._lock:
                    self._links[path] = posixpath.normpath(target)
                return
            if member.isfile() and fh is not None:
                found = self._keep(fh, member.size)
        with self._lock:
            self._files[path] = found

    def _members(self, path: str) -> Iterable[tuple[tarfile.TarInfo, IO[bytes] | None]]:
        chunks = ChunkReader(self._read(path))
        if not chunks.peek():
            return
        with tarfile.open(fileobj=chunks, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                yield member, (tar.extractfile(member) if member.isfile() else None)

    def _keep(self, fh: IO[bytes], size: int) -> Path:
        with self._lock:
            if self._bytes + size > self._max:
                raise TooMuchToRead(f"more than {self._max} bytes to read out of the cell")
            self._bytes += size
            self._count += 1
            local = self._scratch / str(self._count)
        with open(local, "wb") as out:
            shutil.copyfileobj(fh, out, 1 << 20)
        return local

    def _resolve(self, path: str) -> str:
        """The path a cell path ends at once its symbolic links are followed (the engine
        resolves the folders above it; the link itself is read as a link)."""
        path = posixpath.normpath(path)
        for _ in range(MAX_HOPS):
            if path not in self._files and path not in self._links:
                self._fetch_one(path)
            if path not in self._links:
                return path
            path = self._links[path]
        return path  # a loop of links: nothing is there, as for the kernel

    # -- what the probe's analysis calls -------------------------------------------------------
    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        local = self._files.get(self._resolve(path))
        if local is None:
            raise FileNotFoundError(f"{path}: no such file in the cell")
        return open(local, mode, **kwargs)  # noqa: SIM115 (the caller closes it)

    def isfile(self, path: str) -> bool:
        return self._files.get(self._resolve(path)) is not None

    def realpath(self, path: str) -> str:
        return self._resolve(path)

    def changed(self, folder: str) -> None:
        """Something in the cell wrote to this folder: its next listing reads it afresh."""
        self._listed.pop(posixpath.normpath(folder), None)

    def listdir(self, folder: str) -> list[str]:
        """The names in a folder of the cell, its files read with it (once, until `changed`:
        the dynamic linker's logs are tens of MiB)."""
        folder = posixpath.normpath(folder)
        if folder in self._listed:
            return list(self._listed[folder])
        top = posixpath.basename(folder)
        names = []
        got_any = False
        for member, fh in self._members(folder):
            got_any = True
            parts = member.name.split("/")
            if len(parts) != 2 or parts[0] != top:
                continue
            names.append(parts[1])
            path = posixpath.join(folder, parts[1])
            self.unlink(path)
            if member.isfile() and fh is not None:
                self._files[path] = self._keep(fh, member.size)
            elif member.issym():
                self._links[path] = posixpath.normpath(posixpath.join(folder, member.linkname))
            else:
                self._files[path] = None
        if not got_any:
            raise FileNotFoundError(f"{folder}: no such folder in the cell")
        self._listed[folder] = names
        return list(names)

    def unlink(self, path: str) -> None:
        """Forget a file (its copy on this side goes; the cell's stays for the cell's end)."""
        local = self._files.pop(path, None)
        self._links.pop(path, None)
        listed = self._listed.get(posixpath.dirname(path))
        if listed is not None and posixpath.basename(path) in listed:
            listed.remove(posixpath.basename(path))
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)
        elif local is not None:
            with self._lock:
                self._bytes -= local.stat().st_size
            os.unlink(local)


def open_without_links(root: Path, relative: str) -> int | None:
    """A read-only descriptor of the regular file ROOT/RELATIVE, reached one name at a time
    without following any link (nor "..") below ROOT; None if that is not such a file."""
    names = relative.split("/")
    if not names or any(n in ("", ".", "..") for n in names):
        return None
    try:
        at = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        for name in names[:-1]:
            step = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=at)
            os.close(at)
            at = step
        fd = os.open(names[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=at)
    except OSError:
        return None
    finally:
        os.close(at)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


# the probe is stdlib-only and untyped (it runs in cells): reached through Any
PROBE: Any = wm_symbols


@contextlib.contextmanager
def probe_reading(sandbox: Any) -> Iterator[CellFiles]:
    """The symbol probe's own analysis, run in this block on the runner's side, reads the
    sandbox's files through a CellFiles view (copies in a scratch folder removed at the end)."""
    with (
        tempfile.TemporaryDirectory(prefix="wm-cellfiles-") as scratch,
        CellFiles(sandbox.read_tree, Path(scratch), MAX_READ_BYTES, sandbox.local_path) as view,
        PROBE.reading_through(view),
    ):
        yield view


def read_local(sandbox: Any, path: str, limit: int = -1) -> bytes | None:
    """The bytes of one file of a sandbox where the local engine mounts it, read there (no link
    followed, at most `limit`); None if it is not such a file."""
    where = sandbox.local_path(path)
    fd = open_without_links(*where) if where is not None else None
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit)


def read_cell_file(sandbox: Any, path: str) -> bytes:
    """The bytes of one file of a sandbox: where the local engine mounts it, read there (no
    link followed); else through the engine (a call per file)."""
    data = read_local(sandbox, path)
    if data is None:
        data = sandbox.read_file(path)
    return data
