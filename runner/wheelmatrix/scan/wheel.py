"""The static scan of whole wheel files: each file judged against its tags (cached by its
sha256), its lowest satisfied tag per family and arch, its reach, and the JSON of all that.

What `wheelmatrix scan` runs; kept free of the cell, findings and terminal layers so that a
scan starts in a fraction of the matrix's start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from wheelmatrix.fsutil import content_key
from wheelmatrix.inputs.wheelname import InvalidWheelName, parse_wheel_name
from wheelmatrix.inputs.wheels import Project
from wheelmatrix.scan.cache import WHEEL_SCAN, cached
from wheelmatrix.scan.policy import LowestTag, WheelScan, judge_wheel, parse_platform


def static_scans(projects: Iterable[Project], *, cache: bool = True) -> dict[str, WheelScan]:
    """Judge every wheel file given (candidates and companions), before anything runs.

    Scans are cached on disk by the wheel's content (its sha256, or a BLAKE2b digest when no
    sha256 was taken) and the scanner's own code and policy data: numpy's wheel takes about a
    second to scan and nightly runs see the same files."""
    out: dict[str, WheelScan] = {}
    for project in projects:
        for wheel in project.wheels:
            platforms = sorted({t.platform for t in wheel.triples})
            key = wheel.sha256 or (content_key(wheel.path) if cache else "")
            out[wheel.filename] = cached_scan(wheel.path, key, platforms, cache)
    return out


def scan_file(path: Path, sha256: str) -> WheelScan:
    """The static scan of one wheel file by path (cached by sha256), e.g. the file a cell
    installed for a requirement candidate."""
    return cached_scan(path, sha256, platforms_of(path), True)


def platforms_of(path: Path) -> list[str]:
    """The platform tags a wheel file's name claims, sorted."""
    return parse_wheel_name(path.name).platforms


def cached_scan(path: Path, sha256: str, platforms: list[str], use_cache: bool) -> WheelScan:
    if not use_cache or not sha256:
        return judge_wheel(path, platforms)
    scan = cached(
        "scans", f"{sha256} {' '.join(platforms)}", WHEEL_SCAN, lambda: judge_wheel(path, platforms)
    )
    return scan._replace(wheel=path.name) if scan.wheel != path.name else scan


def wheel_reach(scan: WheelScan) -> list[str]:
    """For each Python and arch a wheel's tags name: the share of recent pip downloads its tag
    admits and the share its real needs admit (highest GLIBC symbol version, declared x86-64
    level), from the shipped reach data."""
    from wheelmatrix.scan import reach

    try:
        tags = parse_wheel_name(scan.wheel).triples
    except InvalidWheelName:
        return []
    floors: dict[tuple[str | None, str], tuple[int, int] | None] = {}
    musl: set[tuple[str | None, str]] = set()
    for tag in tags:
        m = re.match(r"^cp3(\d+)$", tag.interpreter)
        python = f"3.{m.group(1)}" if m and tag.abi != "abi3" else None
        parsed = parse_platform(tag.platform)
        if parsed is None or parsed[2] not in ("x86_64", "aarch64"):
            continue
        family, floor, arch = parsed
        key = (python, arch)
        if family == "musllinux":
            musl.add(key)
            continue
        old = floors.get(key)
        floors[key] = floor if old is None else min(old, floor)
    glibc = [
        tuple(int(x) for x in r.version.split(".")[:2])
        for f in scan.files
        for r in f.requirements
        if r.namespace == "GLIBC" and re.match(r"^\d+\.\d+", r.version)
    ]
    need = max(glibc) if glibc else None
    levels = sorted({f.isa_level for f in scan.files if f.isa_level})
    lines = []
    for (python, arch), tag_floor in sorted(floors.items(), key=lambda kv: (kv[0][1], kv[0][0] or "")):
        cpu = levels[-1] if levels and arch == "x86_64" else None
        need_pair = (need[0], need[1]) if need and (tag_floor is None or need > tag_floor) else None
        lines.append(reach.describe(tag_floor, need_pair, python, arch, cpu))
    for python, arch in sorted(musl, key=lambda k: (k[1], k[0] or "")):
        lines.append(reach.describe(None, None, python, arch, musl=True))
    return lines


def scans_json(scans: Mapping[str, WheelScan]) -> list[dict[str, object]]:
    return [
        {**s.to_json(), "reach": wheel_reach(s), "lowest_tags": [t.to_json() for t in wheel_lowest_tags(s)]}
        for s in scans.values()
    ]


def wheel_lowest_tags(scan: WheelScan) -> list[LowestTag]:
    """The lowest tag the wheel's files satisfy, per family and arch its tags claim."""
    from wheelmatrix.scan.policy import lowest_tags

    try:
        platforms = set(parse_wheel_name(scan.wheel).platforms)
    except InvalidWheelName:
        return []
    return lowest_tags(scan, platforms)
