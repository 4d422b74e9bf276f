"""Aggregate manylinux-timeline's consumer statistics into wheelmatrix/data/reach.json.

    git --git-dir=MIRROR archive HEAD consumer_data/2026 | tar -x -C /tmp/src
    python scripts/aggregate_reach.py /tmp/src/consumer_data --commit "$(git --git-dir=MIRROR rev-parse HEAD)"

Source: the GitHub repository mayeut/manylinux-timeline publishes one file per day,
consumer_data/YYYY/MM/DD.csv.xz (older days: DD.csv), made by its update_consumer_data.py from the
public PyPI download logs (BigQuery table pypi.file_downloads). Each row is

    cpu,num_downloads,python_version,glibc_version,project

and counts, for one UTC day, the downloads of *manylinux wheel files* (file names matching
`manylinux*.whl`) of the projects the repository tracks, made by clients that reported
`details.distro.libc.lib == "glibc"`, grouped by the client's `uname -m` (cpu), its Python
MAJOR.MINOR and its glibc MAJOR.MINOR (everything up to the second dot of the reported version,
so a few values carry suffixes such as `2.20-2014`). Files before 2025-05-22 have a pip_version
column instead of project; both layouts are read (only cpu, num_downloads, python_version and
glibc_version are used).

What the numbers therefore are, and are not:
  * downloads, not users or machines (CI fleets re-downloading count many times);
  * glibc clients only: the query drops musl and unknown-libc clients, so there is no musl share
    and no "unknown libc" share (rows whose glibc version is empty or unparsable are kept, under
    "unknown");
  * no CPU-level (x86-64-v1..v4) breakdown: cpu is the plain machine name;
  * only downloads of manylinux wheels, so clients too old for every wheel on offer (who fall back
    to an sdist) are under-counted; for the mainstream manylinux2014 floor (glibc 2.17) this bias
    is small.

The output holds, per arch and per Python version (plus "all"), the number of downloads in the
window and the share of them per glibc MAJOR.MINOR. Cells with fewer than --min-downloads
downloads are left out (too few to mean anything), as are arches outside --arches.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import lzma
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "runner" / "wheelmatrix" / "data" / "reach.json"
REPOSITORY = "mayeut/manylinux-timeline"
SOURCE_PATH = "consumer_data/YYYY/MM/DD.csv.xz"
DEFAULT_ARCHES = ("x86_64", "aarch64", "ppc64le", "s390x", "armv7l", "i686", "riscv64")
DEFAULT_PYTHONS = tuple(f"3.{minor}" for minor in range(7, 16))
UNKNOWN = "unknown"
ALL = "all"
SHARE_DIGITS = 6

_DAY_RE = re.compile(r"(?P<y>\d{4})[/\\](?P<m>\d{2})[/\\](?P<d>\d{2})\.csv(?:\.xz)?$")
_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)")


@dataclass(frozen=True)
class Row:
    cpu: str
    downloads: int
    python: str
    glibc: str


# arch -> python ("all" included) -> glibc MAJOR.MINOR (or "unknown") -> downloads
Counts = dict[str, dict[str, Counter[str]]]


def day_of(path: Path) -> date | None:
    """The day a consumer_data file describes, from its .../YYYY/MM/DD.csv[.xz] path."""
    match = _DAY_RE.search(path.as_posix())
    if match is None:
        return None
    try:
        return date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None


def discover(paths: Iterable[Path]) -> dict[date, Path]:
    """Day -> file, for every consumer_data file given or found under a given directory."""
    found: dict[date, Path] = {}
    for path in paths:
        candidates = sorted(path.rglob("*.csv*")) if path.is_dir() else [path]
        for candidate in candidates:
            day = day_of(candidate)
            if day is None:
                if not path.is_dir():
                    raise ValueError(f"{candidate}: not a consumer_data/YYYY/MM/DD.csv[.xz] file")
                continue
            previous = found.get(day)
            # a day present both plain and compressed: keep one (the .xz, as upstream does)
            if previous is None or candidate.suffix == ".xz":
                found[day] = candidate
    return found


def major_minor(raw: str) -> str:
    """'2.20-2014' -> '2.20', '3.11' -> '3.11'; anything without a leading MAJOR.MINOR -> 'unknown'."""
    match = _VERSION_RE.match(raw)
    if match is None:
        return UNKNOWN
    major, minor = int(match[1]), int(match[2])
    if major > 50:  # garbage such as a date
        return UNKNOWN
    return f"{major}.{minor}"


def read_rows(path: Path) -> Iterator[Row]:
    raw = path.read_bytes()
    data = lzma.decompress(raw) if path.suffix == ".xz" else raw
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    missing = {"num_downloads", "python_version", "glibc_version"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    for record in reader:
        yield Row(
            cpu=(record.get("cpu") or "").strip() or UNKNOWN,
            downloads=int(record["num_downloads"]),
            python=major_minor(record["python_version"] or ""),
            glibc=major_minor(record["glibc_version"] or ""),
        )


def accumulate(files: Iterable[Path]) -> Counts:
    counts: Counts = defaultdict(lambda: defaultdict(Counter))
    for path in files:
        for row in read_rows(path):
            by_python = counts[row.cpu]
            by_python[row.python][row.glibc] += row.downloads
            by_python[ALL][row.glibc] += row.downloads
    return counts


def _version_key(version: str) -> tuple[int, int]:
    if version == UNKNOWN:
        return (-1, -1)
    major, minor = version.split(".")
    return (int(major), int(minor))


def shares(counter: Counter[str]) -> dict[str, float]:
    """glibc -> share of downloads, oldest glibc first ('unknown' first of all).

    Shares are rounded to SHARE_DIGITS decimals; entries that round to 0 are dropped (each is below
    0.00005 %), so a table sums to 1 within a few 1e-5.
    """
    total = sum(counter.values())
    if total <= 0:
        return {}
    rounded = {version: round(counter[version] / total, SHARE_DIGITS) for version in counter}
    return {
        version: rounded[version] for version in sorted(counter, key=_version_key) if rounded[version] > 0
    }


def select_window(
    found: dict[date, Path], days: int, end: date | None = None
) -> tuple[date, date, list[date]]:
    """(first, last, missing days) of the `days`-day window ending on `end` (default: the last day found)."""
    if not found:
        raise ValueError("no consumer_data files found")
    last = end or max(found)
    first = last - timedelta(days=days - 1)
    missing = [first + timedelta(days=i) for i in range(days) if first + timedelta(days=i) not in found]
    return first, last, missing


def build_report(
    counts: Counts,
    *,
    first: date,
    last: date,
    missing: Sequence[date],
    commit: str | None,
    commit_date: str | None,
    arches: Sequence[str] = DEFAULT_ARCHES,
    pythons: Sequence[str] = DEFAULT_PYTHONS,
    min_downloads: int = 10_000,
) -> dict[str, Any]:
    cells: dict[str, dict[str, Any]] = {}
    for arch in arches:
        by_python = counts.get(arch)
        if not by_python:
            continue
        arch_cells: dict[str, Any] = {}
        for python in (ALL, *pythons):
            counter = by_python.get(python)
            if counter is None:
                continue
            total = sum(counter.values())
            if total < min_downloads:
                continue
            arch_cells[python] = {"downloads": total, "glibc": shares(counter)}
        if arch_cells:
            cells[arch] = arch_cells
    every_arch = {
        arch: sum(by_python[ALL].values()) for arch, by_python in counts.items() if ALL in by_python
    }
    days = (last - first).days + 1
    return {
        "_comment": (
            "Share of recent Linux downloads of manylinux wheels per glibc MAJOR.MINOR, per arch and "
            "Python version. Written by scripts/aggregate_reach.py; read by wheelmatrix/reach.py."
        ),
        "schema": 1,
        "source": {
            "name": "manylinux-timeline",
            "repository": REPOSITORY,
            "host": "GitHub",
            "path": SOURCE_PATH,
            "commit": commit,
            "commit_date": commit_date,
            "origin": "public PyPI download logs (BigQuery table pypi.file_downloads), via the repository",
        },
        "window": {
            "first": first.isoformat(),
            "last": last.isoformat(),
            "days": days,
            "days_missing": [day.isoformat() for day in missing],
        },
        "scope": {
            "unit": "downloads of manylinux wheel files (not users, not machines)",
            "libc": "glibc clients only (the source query keeps details.distro.libc.lib == 'glibc')",
            "musl": None,
            "musl_note": "no musl breakdown: musl (and unknown-libc) clients are not in the source",
            "cpu_level": None,
            "cpu_level_note": "no x86-64-v1..v4 (or other CPU level) breakdown: cpu is the machine name",
            "python": "details.python MAJOR.MINOR of the client (any implementation, not only CPython)",
            "unknown_glibc": "'unknown': rows whose reported glibc version has no MAJOR.MINOR",
            "min_downloads": min_downloads,
        },
        "downloads_by_arch": dict(sorted(every_arch.items(), key=lambda item: -item[1])),
        "arches": cells,
    }


def dump(report: dict[str, Any]) -> str:
    """Indented JSON, but each glibc share table on one line, to stay small and diffable."""
    text = json.dumps(report, indent=1)
    # fold {"2.17": 0.1, ...} tables (innermost objects of numbers) onto one line
    return (
        re.sub(
            r"\{\n\s+(\"[^\"\n]+\": [0-9.e-]+(?:,\n\s+\"[^\"\n]+\": [0-9.e-]+)*)\n\s+\}",
            lambda m: "{" + re.sub(r",\n\s+", ", ", m[1]) + "}",
            text,
        )
        + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="consumer_data directory or DD.csv[.xz] files")
    parser.add_argument("--days", type=int, default=90, help="window length, ending on the last day found")
    parser.add_argument("--end", type=date.fromisoformat, help="last day of the window (default: newest)")
    parser.add_argument("--commit", help="the source repository's commit the files come from")
    parser.add_argument("--commit-date", help="that commit's date")
    parser.add_argument("--min-downloads", type=int, default=10_000)
    parser.add_argument("--arches", default=",".join(DEFAULT_ARCHES))
    parser.add_argument("--pythons", default=",".join(DEFAULT_PYTHONS))
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")

    found = discover(args.paths)
    try:
        first, last, missing = select_window(found, args.days, args.end)
    except ValueError as exc:
        parser.error(str(exc))
    files = [found[day] for day in sorted(found) if first <= day <= last]
    if not files:
        parser.error(f"no files in {first}..{last}")
    counts = accumulate(files)
    report = build_report(
        counts,
        first=first,
        last=last,
        missing=missing,
        commit=args.commit,
        commit_date=args.commit_date,
        arches=[a for a in args.arches.split(",") if a],
        pythons=[p for p in args.pythons.split(",") if p],
        min_downloads=args.min_downloads,
    )
    args.output.write_text(dump(report))
    print(f"{args.output}: {len(files)} day(s), {first}..{last}, {len(missing)} missing", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
