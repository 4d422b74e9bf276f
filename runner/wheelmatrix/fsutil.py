"""Small file-system and process helpers every layer may use: atomic writes (a reader never sees
half a file, a killed writer leaves the old file or none) and whether a process still runs."""

from __future__ import annotations

import json
import math
import os
from _thread import get_ident  # threading's own, without loading threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write `data` to `path` through a temporary file in the same directory and a rename; the
    directory is created if needed. `fsync` flushes the data to disk before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{get_ident()}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, fsync: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: Path, doc: Any, *, fsync: bool = True) -> None:
    """`doc` as indented JSON with a final newline; flushed to disk by default (run state)."""
    atomic_write_text(path, json_text(doc, indent=2) + "\n", fsync=fsync)


# numbers the schemas require: a non-finite one is written as 0, any other as null
_NUMBER_KEYS = frozenset({"duration_s", "finished_at", "at"})


def json_text(doc: Any, *, indent: int | None = None) -> str:
    """`doc` as JSON that every wheelmatrix reader accepts (strict JSON, as orjson reads it):
    NaN and infinity (say from evidence a program produced) are written as null (as 0 under
    duration_s, finished_at, at), and a lone surrogate in a string as '?'. Documents without
    either are dumped once, unchanged."""
    try:
        text = json.dumps(doc, indent=indent, allow_nan=False)
    except ValueError:
        text = None
    if text is None or "\\ud" in text:
        text = json.dumps(_strict(doc), indent=indent, allow_nan=False)
    return text


def _strict(value: Any, key: object = None) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return 0.0 if key in _NUMBER_KEYS else None
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, Mapping):
        return {_strict(k) if isinstance(k, str) else k: _strict(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (someone else's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    except OSError:
        return False
    return True


def content_key(path: Path) -> str:
    """A digest of a file's bytes for keying caches: BLAKE2b from CPython's own module (as fast
    as hashing gets without OpenSSL, which a small process should not load to key a cache)."""
    from _blake2 import blake2b  # hashlib's import would load OpenSSL too

    digest = blake2b(digest_size=32)
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return "blake2b=" + digest.hexdigest()


def sha256(data: bytes = b"", *, large: bool = False) -> Any:
    """A SHA-256 hash object. CPython's own implementation unless `large`: hashlib's OpenSSL
    one is several times faster on big inputs but maps libcrypto into the process (about 4 MB
    of a small scan's peak memory)."""
    if not large:
        try:
            import _sha256  # type: ignore[import-not-found]  # CPython's built-in SHA-256

            return _sha256.sha256(data)
        except ImportError:  # pragma: no cover - another Python implementation
            pass
    import hashlib

    return hashlib.sha256(data)
