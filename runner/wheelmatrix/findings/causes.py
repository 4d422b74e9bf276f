"""What every report shares: short status marks, the matrix laid out as rows and numbered
columns, and failures grouped by root cause ("needs GLIBC_2.36: 8 checks in 2 cells") instead
of the same explanation repeated per check."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from wheelmatrix.findings.explain import finding_of
from wheelmatrix.model import CheckResult, Status

MARK = {
    Status.PASSED: "✓",
    Status.FAILED: "✗",
    Status.CRASHED: "C",
    Status.TIMED_OUT: "T",
    Status.NOT_INSTALLABLE: "-",
    Status.ERROR: "E",
    Status.KNOWN: "K",
    Status.SKIPPED: "S",
}
WARNED = "!"  # passed, but printed an import-time warning
LEGEND = (
    "✓ passed  ! passed with a warning  ✗ failed  C crashed  T timed out  - not installable  E error"
    "  K known  S skipped"
)


def warned(r: CheckResult) -> bool:
    return r.status is Status.PASSED and bool(r.evidence.get("warnings"))


def mark(r: CheckResult) -> str:
    return WARNED if warned(r) else MARK[r.status]


def column(r: CheckResult) -> str:
    """The column a check goes in: its scenario (unless import) and its name. The tag checks of
    one project share a column, whichever wheel file (one per arch) each row judged."""
    name = r.check
    if name.startswith("tag "):
        judged = name[4:]  # "file.whl", or "PROJECT VERSION" (the file a cell installed)
        project = judged.split("-", 1)[0] if judged.endswith(".whl") else judged.split(" ", 1)[0]
        name = "tag " + re.sub(r"[-_.]+", "-", project).lower()
    return name if r.scenario == "import" else f"{r.scenario}: {name}"


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


def cause_of(r: CheckResult) -> str:
    """The root cause of a problem in one line, the same for every cell it hits: its finding's
    message (derived from the evidence for results of reports older than schema 3)."""
    found = finding_of(r)
    return found.message if found is not None else r.status.value


@dataclass
class Cause:
    """One root cause: a finding's (kind, subject), and every check it explains."""

    text: str
    kind: str = ""
    subject: str = ""
    fix: str = ""
    statuses: set[Status] = field(default_factory=set)
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def cells(self) -> list[str]:
        return list(dict.fromkeys(r.row for r in self.checks))

    def summary(self) -> str:
        n, m = len(self.checks), len(self.cells)
        return f"{self.text}: {n} check{'s' * (n != 1)} in {m} cell{'s' * (m != 1)}"

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "text": self.text,
            "fix": self.fix,
            "checks": [r.check_id for r in self.checks],
            "cells": self.cells,
        }


def problems(results: Sequence[CheckResult]) -> list[CheckResult]:
    """What a report explains: anything not passed, and passes with a warning or a diagnosis."""
    return [r for r in results if r.status is not Status.PASSED or r.diagnosis or warned(r)]


def root_causes(results: Sequence[CheckResult]) -> list[Cause]:
    """Problems grouped by their finding's (kind, subject), the most checks first; failures
    before information."""
    groups: dict[tuple[str, str], Cause] = {}
    for r in problems(results):
        found = finding_of(r)
        key = found.key if found is not None else (r.status.value, r.check)
        cause = groups.get(key)
        if cause is None:
            cause = groups[key] = (
                Cause(found.message, found.kind, found.subject, found.fix)
                if found is not None
                else Cause(r.status.value, r.status.value, r.check)
            )
        cause.statuses.add(r.status)
        cause.checks.append(r)
    info = {Status.PASSED, Status.KNOWN, Status.SKIPPED}
    return sorted(groups.values(), key=lambda c: (c.statuses <= info, -len(c.checks), c.text))
