"""What a cell accepts, computed with `packaging` from the cell's Python, libc and arch."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from packaging.tags import Tag, compatible_tags, cpython_tags

from wheelmatrix.config.catalog import Libc
from wheelmatrix.inputs.wheels import WheelFile

# manylinux: the oldest glibc each arch ever had a tag for; legacy aliases (PEP 600).
_GLIBC_FLOOR = {"x86_64": 5, "aarch64": 17}
_LEGACY = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


def platform_tags(libc: Libc, arch: str) -> list[str]:
    """Platform tags a Linux cell accepts, most specific first (as pip and uv order them)."""
    major, minor = libc.version
    out: list[str] = []
    if libc.family == "glibc":
        for m in range(minor, _GLIBC_FLOOR[arch] - 1, -1):
            out.append(f"manylinux_{major}_{m}_{arch}")
            legacy = _LEGACY.get((major, m))
            if legacy and (legacy == "manylinux2014" or arch == "x86_64"):
                out.append(f"{legacy}_{arch}")
    else:
        out.extend(f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1))
    out.append(f"linux_{arch}")
    return out


@functools.lru_cache(maxsize=256)
def cell_tags(python: tuple[int, int], libc: Libc, arch: str) -> tuple[Tag, ...]:
    """All tags a CPython `python` on this libc/arch accepts, in priority order.

    Cached: a matrix has few distinct (Python, libc, arch) triples but many cells."""
    platforms = platform_tags(libc, arch)
    abi = f"cp{python[0]}{python[1]}"
    tags = list(cpython_tags(python, abis=[abi], platforms=platforms))
    tags += list(compatible_tags(python, interpreter=abi, platforms=platforms))
    return tuple(tags)


# A tag as a plain (interpreter, abi, platform) triple: a wheel's `WheelTag` is one.
Triple = tuple[str, str, str]


def _ranked(tags: Sequence[Tag]) -> dict[Triple, int]:
    rank: dict[Triple, int] = {}
    for i, tag in enumerate(tags):
        rank.setdefault((tag.interpreter, tag.abi, tag.platform), i)
    return rank


@functools.lru_cache(maxsize=256)
def tag_ranks(python: tuple[int, int], libc: Libc, arch: str) -> dict[Triple, int]:
    """Priority of each accepted tag (lower is preferred)."""
    return _ranked(cell_tags(python, libc, arch))


def pick_wheel(
    wheels: Sequence[WheelFile], accepted: Sequence[Tag] | Mapping[Triple, int]
) -> WheelFile | None:
    """The wheel an installer would choose: the one whose best tag ranks highest."""
    rank = accepted if isinstance(accepted, Mapping) else _ranked(accepted)
    best: tuple[int, WheelFile] | None = None
    for wheel in wheels:
        scores = [rank[t] for t in wheel.triples if t in rank]
        if scores and (best is None or min(scores) < best[0]):
            best = (min(scores), wheel)
    return best[1] if best else None


def describe_tags(wheel: WheelFile) -> str:
    return ", ".join(sorted(str(t) for t in wheel.triples))
