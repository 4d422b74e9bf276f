"""The bounds of every numeric setting and of glob expansion, said once: the option table shows
them (and so the README and --help), the run-file loader and the flags enforce them.

Standard library only and imported by wheelmatrix.options at load: keep it light.
"""

from __future__ import annotations

import math
from typing import NamedTuple

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
MEMORY_UNITS = {"b": 1, "k": KIB, "m": MIB, "g": GIB}

# A glob in a run file (e.g. dist/**/*.whl) stops with an error after this many matches or
# directories visited; a `**` glob must stay inside the run file's directory.
GLOB_MATCHES = 10_000
GLOB_DIRECTORIES = 20_000


def shown(value: object) -> str:
    """A number as a message says it; a huge integer by its size (str() of one with more than
    4,300 digits raises)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and value.bit_length() > 64:
        return (
            f"a {'negative ' if value < 0 else ''}number of about {int(value.bit_length() * 0.30103)} digits"
        )
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Bounds(NamedTuple):
    """The values a numeric setting may take: from `low` (excluded when `above`) to `high`."""

    low: float
    high: float
    above: bool = False  # more than `low` (a duration), not at least `low`
    whole: bool = False  # integers only
    text: str = ""  # how the docs say it, when the numbers alone would not (memory sizes)

    def describe(self) -> str:
        if self.text:
            return self.text
        lowest = f"more than {shown(self.low)}" if self.above else f"at least {shown(self.low)}"
        return f"{lowest}, at most {shown(self.high)}"

    def problem(self, value: float) -> str | None:
        """Why `value` is refused (a message fragment), or None when it is allowed."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"{shown(value)} is not a finite number (must be {self.describe()})"
        if self.whole and not isinstance(value, int):
            return f"{shown(value)} is not a whole number (must be {self.describe()})"
        if value < self.low or (self.above and value == self.low) or value > self.high:
            return f"{shown(value)} is out of range (must be {self.describe()})"
        return None


SECONDS = Bounds(low=0, high=86_400, above=True)  # a check, an installation, a scenario: one day
JOBS = Bounds(low=1, high=1024, whole=True)
PIDS = Bounds(low=1, high=4_194_304, whole=True)  # the kernel's PID_MAX_LIMIT
MEMORY = Bounds(low=6 * MIB, high=1024 * GIB, whole=True, text="6m (the engine's minimum) to 1024g")
SHARDS = Bounds(low=1, high=1000, whole=True)
REPEAT = Bounds(low=1, high=1000, whole=True)


def clipped(text: str, limit: int = 40) -> str:
    """`text` for a message: at most `limit` characters, with its length when cut."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def memory_bytes(text: str) -> int | None:
    """'4g' -> 4 GiB in bytes; None when `text` is not digits with an optional unit b, k, m or g.
    More than 16 digits is out of any range: the size is then MEMORY.high + 1, never parsed."""
    text = text.strip().lower()
    unit = MEMORY_UNITS.get(text[-1:])
    digits = text[:-1] if unit else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) > 16:
        return int(MEMORY.high) + 1
    return int(digits) * (unit or 1)


def memory_problem(text: str) -> str | None:
    """Why a memory size is refused (a message fragment), or None when it is allowed."""
    size = memory_bytes(text)
    if size is None:
        return (
            f"'{clipped(text)}' is not a memory size (a number with an optional unit b, k, m or g, e.g. 4g)"
        )
    if not MEMORY.low <= size <= MEMORY.high:
        return f"'{clipped(text)}' is out of range (must be {MEMORY.describe()})"
    return None
