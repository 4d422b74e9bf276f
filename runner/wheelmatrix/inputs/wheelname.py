"""Wheel file names, read by the binary distribution format's rules without `packaging.tags`.

`packaging.tags` brings `logging`, `platform` and `subprocess` with it, about a tenth of a
`wheelmatrix scan`'s start-up on a small wheel, only to split a file name into strings. The
commands that judge tag *compatibility* (the matrix, a cell's pick) still use packaging; this
module gives the same answer as `packaging.utils.parse_wheel_filename` (the unit tests hold it
to that, name by name, with generated file names) as plain strings. A `WheelTag` is a plain
(interpreter, abi, platform) tuple, which is how the matrix looks up packaging's ranked tags.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple, cast

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

# The escaped project name (at least one character; `__` is refused separately, as packaging does).
_NAME = re.compile(r"[\w._]+\Z")
# A release number without leading zeros is its own normal form (most wheels' versions): no
# need to load packaging.version, whose import compiles its large pattern.
_PLAIN_VERSION = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*\Z", re.ASCII)
# A build tag starts with a digit.
_BUILD = re.compile(r"(\d+)(.*)\Z", re.ASCII)


class InvalidWheelName(ValueError):
    """The text is not a wheel file name; the message says which part is wrong."""


class WheelTag(NamedTuple):
    """One (interpreter, abi, platform) tag, lower-cased as packaging's `Tag` keeps it."""

    interpreter: str
    abi: str
    platform: str

    def __str__(self) -> str:
        return f"{self.interpreter}-{self.abi}-{self.platform}"


class WheelName(NamedTuple):
    project: NormalizedName  # PEP 503
    version: str  # normalized, as str(packaging.version.Version(...)) gives it
    build: str  # "" when the name has no build tag
    triples: frozenset[WheelTag]

    @property
    def platforms(self) -> list[str]:
        """The platform tags the name claims, sorted."""
        return sorted({t.platform for t in self.triples})


def canonical_name(name: str) -> NormalizedName:
    """PEP 503 normalization: runs of `-`, `_` and `.` become one `-`, lower case."""
    value = name.lower().replace("_", "-").replace(".", "-")
    while "--" in value:
        value = value.replace("--", "-")
    return cast("NormalizedName", value)


def parse_wheel_name(filename: str) -> WheelName:
    """`NAME-VERSION(-BUILD)?-PYTHON-ABI-PLATFORM.whl`, each tag part possibly a dotted set."""
    if not filename.endswith(".whl"):
        raise InvalidWheelName(f"the extension is not '.whl': {filename!r}")
    stem = filename[:-4]
    dashes = stem.count("-")
    if dashes not in (4, 5):
        raise InvalidWheelName(f"{dashes + 1} dash-separated parts instead of 5 or 6: {filename!r}")
    parts = stem.split("-", dashes - 2)
    if "__" in parts[0] or _NAME.match(parts[0]) is None:
        raise InvalidWheelName(f"invalid project name {parts[0]!r}: {filename!r}")
    if _PLAIN_VERSION.match(parts[1]):  # "3.0.4": packaging would give it back unchanged
        version = parts[1]
    else:
        from packaging.version import InvalidVersion, Version

        try:
            version = str(Version(parts[1]))
        except InvalidVersion:
            raise InvalidWheelName(f"invalid version {parts[1]!r}: {filename!r}") from None
    build = ""
    if dashes == 5:
        match = _BUILD.match(parts[2])
        if match is None:
            raise InvalidWheelName(
                f"invalid build tag {parts[2]!r} (it must start with a digit): {filename!r}"
            )
        build = f"{int(match[1])}{match[2]}"  # packaging's (int, rest): leading zeros dropped
    return WheelName(canonical_name(parts[0]), version, build, parse_tags(parts[-1], filename))


def parse_tags(text: str, filename: str = "") -> frozenset[WheelTag]:
    """`py2.py3-none-any` -> its tags (the cross product of the dotted sets)."""
    where = filename or text
    components = [part.split(".") for part in text.split("-")]
    for values in components:
        if "" in values:
            raise InvalidWheelName(f"empty tag component in {'.'.join(values)!r}: {where!r}")
    if len(components) != 3:
        raise InvalidWheelName(f"the tag {text!r} does not have three parts: {where!r}")
    interpreters, abis, platforms = components
    for interpreter in interpreters:
        if not interpreter.isidentifier():
            raise InvalidWheelName(f"invalid interpreter tag {interpreter!r}: {where!r}")
    return frozenset(
        WheelTag(i.lower(), a.lower(), p.lower()) for i in interpreters for a in abis for p in platforms
    )
