"""Data files shipped inside the package (wheelmatrix/data/), found through importlib.resources.

The top-level `distros.yaml` and `scenarios/` of the source tree are links to these files:
the documented, editable source is the same file that ships in the wheel.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from pathlib import Path

_stack = contextlib.ExitStack()
atexit.register(_stack.close)
_cache: dict[str, Path] = {}


def data_path(name: str) -> Path:
    """A real filesystem path to wheelmatrix/data/NAME (extracted once if the package is zipped)."""
    if name not in _cache:
        ref = resources.files("wheelmatrix") / "data" / name
        if not ref.is_file():
            raise FileNotFoundError(f"wheelmatrix package data '{name}' is missing (broken install?)")
        _cache[name] = _stack.enter_context(resources.as_file(ref))
    return _cache[name]
