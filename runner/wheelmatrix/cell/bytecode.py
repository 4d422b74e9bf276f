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

import contextlib
import hashlib
import io
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from wheelmatrix.backends.layout import UV_CACHE

# below this many sources, compiling in the cell what its checks import is cheaper
MIN_SOURCES = 300
# the sources read out of a cell are spooled to disk; past this, the cell compiles lazily
MAX_SOURCE_BYTES = 1 << 30
MAX_SOURCE_FILE = 64 << 20  # a source read on this machine, for its digest
COMPILE_PREFIX = "/tmp/wm-pyc"  # in the native sandbox

# (sources, dirs, prefix, only these files or all, the standard library too) -> compiled tree
NativeCompile = Callable[[IO[bytes], Sequence[str], str, "Sequence[str] | None", bool], "IO[bytes] | None"]


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
    digests: dict[str, str] | None = None,
    read_local: Callable[[str], bytes | None] = lambda path: None,
) -> tuple[IO[bytes], int] | None:
    """The .py files under `dirs` (and the uv cache files their symlinks point to) as a tar to
    unpack at /, spooled to disk, and how many sources it holds; None past MAX_SOURCE_BYTES.
    With fewer than `at_least` sources under `dirs`, the cache files are not read (the caller
    will not compile so few); nor are those of a cache folder the compile sandbox mounts
    itself (`mounted`). `digests` gets the SHA-256 of each source under `dirs` (of the file a
    link points to: read out with the cache folder, or on this machine with `read_local` for a
    folder it mounts), or "link:TARGET" where neither could read it."""
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
                    if digests is not None:
                        if fh is not None:
                            digests[where], fh = _hashed(fh)
                        else:
                            links[where] = posixpath.normpath(
                                posixpath.join(posixpath.dirname(where), member.linkname)
                            )
                    add(member, fh, where, dst)
                if size > MAX_SOURCE_BYTES:
                    return False
        if count < at_least:
            return True
        for root in sorted(r for r in roots if not mounted(r)):
            for member, fh, where in _members(read_tree, root):
                if member.isdir() or (member.isfile() and member.name.endswith(".py")):
                    size += member.size
                    if fh is not None and digests is not None:
                        targets[where], fh = _hashed(fh)
                    add(member, fh, where, dst)
                if size > MAX_SOURCE_BYTES:
                    return False
        return True

    links: dict[str, str] = {}  # source -> the uv cache file it points to
    targets: dict[str, str] = {}  # a uv cache file read out -> its SHA-256
    with tarfile.open(fileobj=out, mode="w") as dst:
        complete = fill(dst)
    if not complete:
        out.close()
        return None
    if digests is not None:
        for where, target in links.items():
            known = targets.get(target)
            if known is None:
                data = read_local(target) if mounted(_root_of(target)) else None
                known = hashlib.sha256(data).hexdigest() if data is not None else f"link:{target}"
            digests[where] = known
    out.seek(0)
    return out, count


def _hashed(fh: IO[bytes]) -> tuple[str, IO[bytes]]:
    """A member's SHA-256, and its bytes to read again (for the archive)."""
    data = fh.read()
    return hashlib.sha256(data).hexdigest(), io.BytesIO(data)


def _root_of(path: str) -> str:
    """The uv cache folder (archive-v0/ID) a cache file is in."""
    rest = path[len(UV_CACHE) + 1 :].split("/") if path.startswith(UV_CACHE + "/") else []
    return posixpath.join(UV_CACHE, *rest[:2]) if len(rest) >= 2 else path


class BytecodeStore:
    """Bytecode compiled natively for one emulated image, kept on this machine between cells and
    runs: the compile sandbox's pycache-prefix tree (`tree/`, one .pyc per source, at the
    source's absolute path), and what each source was when it was compiled (`sources.json`:
    path -> digest, as `sources_archive` reads them). A cell compiles only the sources the store
    has not seen as they are now; a cell of the same stack compiles nothing. The .pyc files are
    hash-checked, so one that another cell's different source left at a path is compiled again
    by the cell, never run; they are only ever written here from the compile sandbox's output,
    member by member, as regular files under `tree/`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tree = folder / "tree"
        self._manifest = folder / "sources.json"
        self._known: dict[str, str] | None = None  # read once (callers hold the store's lock)

    def known(self) -> dict[str, str]:
        if self._known is None:
            try:
                doc = json.loads(self._manifest.read_text())
            except (OSError, ValueError):
                doc = {}
            self._known = (
                {k: v for k, v in doc.items() if isinstance(k, str) and isinstance(v, str)}
                if isinstance(doc, dict)
                else {}
            )
        return self._known

    @property
    def has_stdlib(self) -> bool:
        return (self.folder / "stdlib").is_file()

    def missing(self, digests: dict[str, str]) -> list[str]:
        """The sources whose bytecode the store lacks (or holds for another content)."""
        known = self.known()
        return sorted(path for path, digest in digests.items() if known.get(path) != digest)

    def add(self, compiled: IO[bytes], digests: dict[str, str], stdlib: bool) -> None:
        """Keep a compile sandbox's output (a tar of COMPILE_PREFIX) and what it was compiled
        from: every source it was given, compiled or not (a Python 2 file, a test folder), so
        that none of them is sent again."""
        self.tree.mkdir(parents=True, exist_ok=True)
        top = posixpath.basename(COMPILE_PREFIX)
        with tarfile.open(fileobj=compiled, mode="r|") as src:
            for member in src:
                head, _sep, tail = member.name.partition("/")
                parts = tail.split("/")
                if head != top or not member.isfile() or not tail.endswith(".pyc"):
                    continue
                if any(p in ("", ".", "..") for p in parts):
                    continue
                target = self.tree.joinpath(*parts)
                data = src.extractfile(member)
                if data is None:
                    continue
                partial = target.with_name(f".{target.name}.{os.getpid()}.part")
                try:  # a path some other package made a folder (or a file) of is not kept
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with partial.open("wb") as out:
                        shutil.copyfileobj(data, out)
                    partial.chmod(0o644)
                    os.replace(partial, target)
                except OSError:
                    with contextlib.suppress(OSError):
                        partial.unlink()
        self._known = {**self.known(), **digests}
        partial = self._manifest.with_name(f".sources.{os.getpid()}.part")
        partial.write_text(json.dumps(self._known, sort_keys=True))
        os.replace(partial, self._manifest)
        if stdlib:
            (self.folder / "stdlib").write_text("compiled\n")

    def archive(self, sources: Sequence[str], user_prefix: str, uid: int) -> IO[bytes]:
        """The bytecode of `sources` (the cell's own) and of the standard library, as a tar of
        the check user's prefix, owned by that user (its checks add what they compile)."""
        out = tempfile.TemporaryFile()  # noqa: SIM115 (returned: the caller closes it)
        wanted = {_stem(path) for path in sources}
        top = posixpath.basename(user_prefix)
        with tarfile.open(fileobj=out, mode="w") as dst:
            dirs: set[str] = set()
            for root, _subdirs, files in os.walk(self.tree):
                rel = os.path.relpath(root, self.tree)
                for name in sorted(files):
                    path = name if rel == "." else f"{rel}/{name}"
                    if not name.endswith(".pyc") or (
                        path.startswith(_VENV_REL) and _stem(path) not in wanted
                    ):
                        continue
                    _add_dirs(dst, top, posixpath.dirname(path), dirs, uid)
                    info = dst.gettarinfo(os.path.join(root, name), f"{top}/{path}")
                    _rename(info, f"{top}/{path}", uid)
                    info.mode = 0o644
                    with open(os.path.join(root, name), "rb") as fh:
                        dst.addfile(info, fh)
        out.seek(0)
        return out


_VENV_REL = "tmp/"  # the venv (/tmp/wm-venv) under the tree: only a cell's own sources go back


def _stem(path: str) -> str:
    """A source (dir/name.py) or its bytecode under a pycache prefix (dir/name.cpython-313.pyc),
    relative, without what follows the module's name."""
    head, name = posixpath.split(path.lstrip("/"))
    return f"{head}/{name.split('.', 1)[0]}"


def _add_dirs(dst: tarfile.TarFile, top: str, rel: str, done: set[str], uid: int) -> None:
    parts = [p for p in rel.split("/") if p]
    for i in range(len(parts) + 1):
        name = "/".join([top, *parts[:i]])
        if name in done:
            continue
        done.add(name)
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, uid, uid
        dst.addfile(info)
