"""On-disk cache of static scans, keyed by content and by the scanner itself.

A wheel (by its sha256) or an installed ELF file (by its RECORD digest) is scanned once per
machine; any change to the scanner's code or its data gives new keys, so stale scans are never
reused. A broken or foreign cache entry is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from wheelmatrix import __version__
from wheelmatrix.fsutil import atomic_write_bytes
from wheelmatrix.host import cache_dir

T = TypeVar("T")
_PACKAGE = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def scanner_stamp() -> str:
    """Changes whenever the scanner or its policy data change."""
    digest = hashlib.sha256(__version__.encode())
    data = _PACKAGE / "data"
    for path in sorted((_PACKAGE / "scan").glob("*.py")) + [
        data / "policy.json",
        data / "glibc-symbols.json",
        data / "stable-abi.json",
    ]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cached(kind: str, key: str, expected: type[T], compute: Callable[[], T]) -> T:
    """`compute()`, remembered under cache_dir()/kind/ by `key` and the scanner stamp."""
    name = hashlib.sha256(f"{key} {scanner_stamp()}".encode()).hexdigest()[:32]
    store = cache_dir() / kind / f"{name}.pickle"
    try:
        with store.open("rb") as fh:
            value = pickle.load(fh)
        if isinstance(value, expected):
            return value
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        pass
    value = compute()
    with contextlib.suppress(OSError):
        atomic_write_bytes(store, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return value
