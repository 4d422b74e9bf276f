"""Data files shipped inside the package (wheelmatrix/data/).

The top-level `distros.yaml` and `scenarios/` of the source tree are links to these files:
the documented, editable source is the same file that ships in the wheel.
"""

from __future__ import annotations

from pathlib import Path

_DATA = Path(__file__).parent / "data"
_cache: dict[str, Path] = {}


def data_path(name: str) -> Path:
    """A real filesystem path to wheelmatrix/data/NAME (extracted once if the package is zipped)."""
    if name not in _cache:
        found = _DATA / name
        # installed from a wheel or a source tree, the file is right there; importlib.resources
        # (and its imports, a few milliseconds of every scan's start) only for other loaders
        _cache[name] = found if found.is_file() else _extracted(name)
    return _cache[name]


def _extracted(name: str) -> Path:
    import atexit
    import contextlib
    from importlib import resources

    ref = resources.files("wheelmatrix") / "data" / name
    if not ref.is_file():
        raise FileNotFoundError(f"wheelmatrix package data '{name}' is missing (broken install?)")
    stack = contextlib.ExitStack()
    atexit.register(stack.close)
    return stack.enter_context(resources.as_file(ref))
