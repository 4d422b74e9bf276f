"""What every report shares: short status marks, the matrix laid out as rows and numbered
columns, and failures grouped by root cause ("needs GLIBC_2.36: 8 checks in 2 cells") instead
of the same explanation repeated per check."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from wheelmatrix.model import CheckResult, Status

MARK = {
    Status.PASSED: "✓",
    Status.FAILED: "✗",
    Status.CRASHED: "C",
    Status.TIMED_OUT: "T",
    Status.NOT_INSTALLABLE: "-",
    Status.ERROR: "E",
    Status.KNOWN: "K",
}
WARNED = "!"  # passed, but printed an import-time warning
LEGEND = (
    "✓ passed  ! passed with a warning  ✗ failed  C crashed  T timed out  - not installable  E error  K known"
)


def warned(r: CheckResult) -> bool:
    return r.status is Status.PASSED and bool(r.evidence.get("warnings"))


def mark(r: CheckResult) -> str:
    return WARNED if warned(r) else MARK[r.status]


def column(r: CheckResult) -> str:
    """The column a check goes in: its scenario (unless import) and its name."""
    return r.check if r.scenario == "import" else f"{r.scenario}: {r.check}"


@dataclass(frozen=True)
class Layout:
    columns: list[str]  # numbered 1..n in the table, named in the legend
    rows: dict[str, dict[str, CheckResult]]  # row label -> column -> result


def layout(results: Sequence[CheckResult]) -> Layout:
    columns: dict[str, None] = {}
    rows: dict[str, dict[str, CheckResult]] = {}
    for r in results:
        col = column(r)
        columns.setdefault(col, None)
        rows.setdefault(r.row, {})[col] = r
    return Layout(list(columns), dict(sorted(rows.items())))


_DISTRO = re.compile(r"\b(?:debian|ubuntu|fedora|alpine|centos|alma|almalinux|rocky)-[\w.]+\b")


def cause_of(r: CheckResult) -> str:
    """The root cause of a problem in one line, the same for every cell it hits: the first
    clause of the diagnosis (or of the detail), without the cell-specific part."""
    text = (r.diagnosis or r.detail or r.status.value).strip()
    text = re.sub(r"^predicted and confirmed: ", "", text)
    first = text.split("; ")[0]
    first = _DISTRO.sub("<distro>", first)
    first = re.sub(r"\b0x[0-9a-f]+\b", "0x…", first)
    return first[:200]


@dataclass
class Cause:
    text: str
    statuses: set[Status] = field(default_factory=set)
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def cells(self) -> list[str]:
        return list(dict.fromkeys(r.row for r in self.checks))

    def summary(self) -> str:
        n, m = len(self.checks), len(self.cells)
        return f"{self.text}: {n} check{'s' * (n != 1)} in {m} cell{'s' * (m != 1)}"


def problems(results: Sequence[CheckResult]) -> list[CheckResult]:
    """What a report explains: anything not passed, and passes with a warning or a diagnosis."""
    return [r for r in results if r.status is not Status.PASSED or r.diagnosis or warned(r)]


def root_causes(results: Sequence[CheckResult]) -> list[Cause]:
    """Problems grouped by cause, the most checks first; failures before information."""
    groups: dict[str, Cause] = {}
    for r in problems(results):
        cause = groups.setdefault(cause_of(r), Cause(cause_of(r)))
        cause.statuses.add(r.status)
        cause.checks.append(r)
    info = {Status.PASSED, Status.KNOWN}
    return sorted(groups.values(), key=lambda c: (c.statuses <= info, -len(c.checks), c.text))
