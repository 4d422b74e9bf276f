"""Reach: the share of recent Linux downloads that a wheel's tag, and its real needs, admit.

The numbers come from wheelmatrix/data/reach.json (written by scripts/aggregate_reach.py from the
consumer statistics that the GitHub repository mayeut/manylinux-timeline publishes): for each arch
and Python MAJOR.MINOR (and "all"), the share of manylinux-wheel downloads per client glibc version
over a recent window. The source counts glibc clients only (no musl share) and has no CPU-level
(x86-64-v2..v4) breakdown; this module says so rather than guess.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from wheelmatrix.resources import data_path

ALL = "all"
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}
_CP_RE = re.compile(r"^(?:cp|py|pp)?(\d)(\d+)$")


class Cell(NamedTuple):
    """One arch x Python cell: downloads in the window and the share per glibc (MAJOR, MINOR)."""

    downloads: int
    glibc: Mapping[tuple[int, int], float]
    unknown: float = 0.0  # share whose glibc version was unparsable

    def share_at_least(self, version: tuple[int, int]) -> float:
        total = sum(share for glibc, share in self.glibc.items() if glibc >= version)
        return min(1.0, max(0.0, total))


class ReachData(NamedTuple):
    name: str
    repository: str
    path: str
    commit: str | None
    first: str  # ISO dates (YYYY-MM-DD); only printed, so kept as text
    last: str
    cells: Mapping[tuple[str, str], Cell]  # (arch, python MAJOR.MINOR or "all") -> Cell
    has_musl: bool
    has_cpu_level: bool

    def cell(self, python: str | None, arch: str) -> Cell | None:
        return self.cells.get((normalize_arch(arch), normalize_python(python)))

    @property
    def window(self) -> str:
        return f"{self.first}..{self.last}"


def normalize_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch.lower(), arch)


def normalize_python(python: str | None) -> str:
    """'3.11', 'cp311', '311' -> '3.11'; None or 'all' -> 'all'."""
    if python is None or python == ALL:
        return ALL
    match = _CP_RE.match(python)
    if match is not None:
        return f"{match[1]}.{match[2]}"
    parts = python.split(".")
    return ".".join(parts[:2])


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return (int(major), int(minor))


_ISO_DATE = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"


def _iso_date(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(_ISO_DATE, value):
        raise ValueError(f"reach.json: window date {value!r} is not YYYY-MM-DD")
    return value


def parse(doc: Mapping[str, Any]) -> ReachData:
    """A ReachData from the reach.json document."""
    if doc.get("schema") != 1:
        raise ValueError(f"reach.json: unsupported schema {doc.get('schema')!r}")
    source = doc["source"]
    window = doc["window"]
    scope = doc.get("scope", {})
    cells: dict[tuple[str, str], Cell] = {}
    for arch, by_python in doc["arches"].items():
        for python, cell in by_python.items():
            glibc = {_version(k): float(v) for k, v in cell["glibc"].items() if k != "unknown"}
            cells[(arch, python)] = Cell(
                downloads=int(cell["downloads"]),
                glibc=glibc,
                unknown=float(cell["glibc"].get("unknown", 0.0)),
            )
    return ReachData(
        name=str(source.get("name", "manylinux-timeline")),
        repository=str(source["repository"]),
        path=str(source["path"]),
        commit=source.get("commit"),
        first=_iso_date(window["first"]),
        last=_iso_date(window["last"]),
        cells=cells,
        has_musl=scope.get("musl") is not None,
        has_cpu_level=scope.get("cpu_level") is not None,
    )


def read(path: Path) -> ReachData:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return parse(doc)


@functools.cache
def load() -> ReachData:
    """The shipped data (wheelmatrix/data/reach.json), read once."""
    return read(data_path("reach.json"))


def share_at_least(
    glibc: tuple[int, int], python: str | None, arch: str, *, data: ReachData | None = None
) -> float | None:
    """Fraction of downloads (Python MAJOR.MINOR such as "3.11", or None for all) on `arch` whose
    glibc is >= `glibc`; None when the data has no such cell."""
    cell = (data or load()).cell(python, arch)
    return None if cell is None else cell.share_at_least(glibc)


def percent(fraction: float) -> str:
    """'99.6 %'; never rounds a non-zero share to '0.0 %' or a partial one to '100.0 %'."""
    value = 100.0 * fraction
    if 0.0 < value < 0.05:
        return "<0.1 %"
    if 99.95 <= value < 100.0 and fraction < 1.0:
        return ">99.9 %"
    return f"{value:.1f} %"


def _who(python: str | None, arch: str) -> str:
    key, machine = normalize_python(python), normalize_arch(arch)
    return f"all Python {machine}" if key == ALL else f"Python {key} {machine}"


def source_line(data: ReachData | None = None) -> str:
    d = data or load()
    commit = f" @ {d.commit[:7]}" if d.commit else ""
    return (
        f"{d.name} ({d.repository}, {d.path}{commit}), downloads {d.window}: "
        "manylinux wheel downloads by glibc clients"
        + ("" if d.has_musl else "; no musl breakdown")
        + ("" if d.has_cpu_level else "; no CPU-level breakdown")
    )


def describe(
    tag_glibc: tuple[int, int] | None,
    need_glibc: tuple[int, int] | None,
    python: str | None,
    arch: str,
    cpu_level: str | None = None,
    *,
    musl: bool = False,
    data: ReachData | None = None,
) -> str:
    """One line on how many downloads the tag, and the real glibc need, admit.

    `musl` marks a musllinux tag (then `tag_glibc`/`need_glibc` are ignored: the data has no musl
    share). `cpu_level` (e.g. "x86-64-v3") is reported as unmeasurable when the data lacks it.
    """
    d = data or load()
    who = _who(python, arch)
    cell = d.cell(python, arch)
    suffix = f"(source: {d.name}, {d.window})"
    parts: list[str] = []

    if musl:
        parts.append(
            f"musllinux tag: the download data counts glibc clients only, no musl breakdown for {who}"
        )
    elif cell is None:
        bits = []
        if tag_glibc is not None:
            bits.append(f"tagged manylinux_{tag_glibc[0]}_{tag_glibc[1]}")
        if need_glibc is not None:
            bits.append(f"needs glibc {need_glibc[0]}.{need_glibc[1]}")
        parts.append(", ".join([*bits, f"no download data for {who}"]))
    else:
        if tag_glibc is None:
            parts.append(f"tag sets no glibc floor ({who}: {cell.downloads:,} downloads)")
        else:
            tag = f"manylinux_{tag_glibc[0]}_{tag_glibc[1]}"
            parts.append(f"tagged {tag}, admits {percent(cell.share_at_least(tag_glibc))} of {who} downloads")
        if need_glibc is not None:
            need = f"{need_glibc[0]}.{need_glibc[1]}"
            parts.append(f"needs glibc {need}, which {percent(cell.share_at_least(need_glibc))} have")

    if cpu_level is not None and not d.has_cpu_level:
        parts.append(f"needs CPU {cpu_level}: no CPU-level breakdown in the data")
    if not parts:
        parts.append(f"no glibc floor or need to weigh for {who}")
    return "; ".join(parts) + f" {suffix}"
