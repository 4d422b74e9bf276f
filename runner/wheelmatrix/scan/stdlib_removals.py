"""Standard-library modules removed by a Python release (wheelmatrix/data/stdlib-removals.json):
'No module named cgi' in a Python 3.13 cell becomes 'cgi was removed from the standard
library in Python 3.13 (PEP 594)', with what to use instead."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from wheelmatrix.resources import data_path

_MISSING = re.compile(r"No module named '([A-Za-z_][\w.]*)'")


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, Any]]:
    doc = json.loads(data_path("stdlib-removals.json").read_text(encoding="utf-8"))
    modules: dict[str, dict[str, Any]] = doc["modules"]
    return modules


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def removed_in(module: str) -> tuple[int, int] | None:
    """The Python release that removed top-level module `module` from the standard library."""
    entry = _table().get(module.split(".")[0])
    return _version(entry["removed_in"]) if entry else None


def explain_missing_module(message: str, python: tuple[int, int]) -> str | None:
    """One line for 'No module named X' when X is a standard-library module this Python removed.
    Every such message counts, not only the last: a package that falls back to another module
    when the removed one is missing (pydub: audioop, then pyaudioop) fails naming the fallback."""
    table = _table()
    for match in _MISSING.finditer(message):
        name = match.group(1).split(".")[0]
        entry = table.get(name)
        if entry is not None and python >= _version(entry["removed_in"]):
            break
    else:
        return None
    text = (
        f"{name} was removed from the standard library in Python {entry['removed_in']} ({entry['pep']}); "
        f"this cell has {python[0]}.{python[1]}: use {entry['use_instead']}"
    )
    if entry.get("backport"):
        text += f", or install {entry['backport']} from PyPI"
    return text
