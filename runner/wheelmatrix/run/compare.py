"""Compare two runs check by check: regressions, fixes, what still fails, new infrastructure
errors, checks added or gone, and the version changes that came with each regression or fix.

Also the exit code policy (`--fail-on`) shared by `compare`, `run --compare` and plain runs.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wheelmatrix.errors import EXIT_CHECK_FAILED, EXIT_INFRASTRUCTURE, EXIT_OK, InputError, did_you_mean
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.model import exit_code as results_exit_code
from wheelmatrix.options import FAIL_ON

_OK_BEFORE = (Status.PASSED, Status.NOT_INSTALLABLE, Status.KNOWN, Status.SKIPPED)


@dataclass(frozen=True, kw_only=True)
class Item:
    """One check in a category. `old`/`new` is None where the check is absent."""

    check_id: str
    cell_id: str
    check: str
    old: Status | None = None
    new: Status | None = None
    old_detail: str = ""
    new_detail: str = ""
    diagnosis: str = ""  # the newer record's one-line diagnosis
    changes: tuple[str, ...] = ()  # what changed in the cell: "numpy 2.2.6 -> 2.3.0", ...
    whole_cell: bool = False  # added/gone: the whole cell is new (or gone), not just this check

    def to_json(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "cell_id": self.cell_id,
            "check": self.check,
            "old": self.old.value if self.old else None,
            "new": self.new.value if self.new else None,
            "old_detail": self.old_detail,
            "new_detail": self.new_detail,
            "diagnosis": self.diagnosis,
            "changes": list(self.changes),
            "whole_cell": self.whole_cell,
        }


@dataclass(frozen=True, kw_only=True)
class Comparison:
    regressions: tuple[Item, ...]  # failing now; passed or was not installable before
    fixes: tuple[Item, ...]  # failing before, passed now
    still_failing: tuple[Item, ...]  # failing in both
    no_baseline: tuple[Item, ...]  # failing now; an infrastructure error before (unknown)
    new_errors: tuple[Item, ...]  # infrastructure errors now (whatever they were before)
    changed: tuple[Item, ...]  # any other status change (e.g. passed -> not-installable)
    added: tuple[Item, ...]  # checks only in the new run
    gone: tuple[Item, ...]  # checks only in the old run
    unchanged: int  # checks with the same status in both (and not listed above)
    old_checks: int
    new_checks: int
    cells: Mapping[str, int] = field(default_factory=dict)  # "old", "new", "added", "gone"

    @property
    def categories(self) -> dict[str, tuple[Item, ...]]:
        return {
            "regressions": self.regressions,
            "fixes": self.fixes,
            "still_failing": self.still_failing,
            "no_baseline": self.no_baseline,
            "new_errors": self.new_errors,
            "changed": self.changed,
            "added": self.added,
            "gone": self.gone,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": {
                "old_checks": self.old_checks,
                "new_checks": self.new_checks,
                "unchanged": self.unchanged,
                **{name: len(items) for name, items in self.categories.items()},
                "cells": dict(self.cells),
            },
            **{name: [i.to_json() for i in items] for name, items in self.categories.items()},
        }


def compare(old: Sequence[CheckResult], new: Sequence[CheckResult]) -> Comparison:
    """Compare check by check (by check id). A check id repeated keeps its last record."""
    old_by = {r.check_id: r for r in old}
    new_by = {r.check_id: r for r in new}
    old_cells = _cells(old_by.values())
    new_cells = _cells(new_by.values())
    cats: dict[str, list[Item]] = {
        k: [] for k in ("regressions", "fixes", "still_failing", "no_baseline", "new_errors", "changed")
    }
    added: list[Item] = []
    unchanged = 0
    for cid, n in new_by.items():
        o = old_by.get(cid)
        if o is None:
            added.append(_item(n, new=n, whole_cell=n.cell_id not in old_cells))
            if n.status is Status.ERROR:
                cats["new_errors"].append(_item(n, new=n))
            continue
        if n.status is Status.ERROR:
            cats["new_errors"].append(_item(n, old=o, new=n))
        elif n.status.is_wheel_failure:
            if o.status in _OK_BEFORE:
                changes = _changes(old_cells[o.cell_id], new_cells[n.cell_id])
                cats["regressions"].append(_item(n, old=o, new=n, changes=changes))
            elif o.status.is_wheel_failure:
                cats["still_failing"].append(_item(n, old=o, new=n))
            else:
                cats["no_baseline"].append(_item(n, old=o, new=n))
        elif n.status is Status.PASSED and o.status.is_wheel_failure:
            changes = _changes(old_cells[o.cell_id], new_cells[n.cell_id])
            cats["fixes"].append(_item(n, old=o, new=n, changes=changes))
        elif n.status is not o.status:
            cats["changed"].append(_item(n, old=o, new=n))
        else:
            unchanged += 1
    gone = [
        _item(o, old=o, whole_cell=o.cell_id not in new_cells)
        for cid, o in old_by.items()
        if cid not in new_by
    ]
    return Comparison(
        **{k: tuple(v) for k, v in cats.items()},
        added=tuple(added),
        gone=tuple(gone),
        unchanged=unchanged,
        old_checks=len(old_by),
        new_checks=len(new_by),
        cells={
            "old": len(old_cells),
            "new": len(new_cells),
            "added": len(new_cells.keys() - old_cells.keys()),
            "gone": len(old_cells.keys() - new_cells.keys()),
        },
    )


def _cells(results: Iterable[CheckResult]) -> dict[str, list[CheckResult]]:
    out: dict[str, list[CheckResult]] = {}
    for r in results:
        out.setdefault(r.cell_id, []).append(r)
    return out


def _item(
    r: CheckResult,
    *,
    old: CheckResult | None = None,
    new: CheckResult | None = None,
    changes: tuple[str, ...] = (),
    whole_cell: bool = False,
) -> Item:
    return Item(
        check_id=r.check_id,
        cell_id=r.cell_id,
        check=r.check,
        old=old.status if old else None,
        new=new.status if new else None,
        old_detail=old.detail if old else "",
        new_detail=new.detail if new else "",
        diagnosis=(new or old or r).diagnosis,
        changes=changes,
        whole_cell=whole_cell,
    )


def _provenance(cell: Sequence[CheckResult]) -> CheckResult:
    """The record of a cell that says most about what was installed (any check of the cell
    carries the same venv; a check that failed before installing carries none)."""
    return max(cell, key=lambda r: (len(r.installed), len(r.wheel_sha256), bool(r.image)))


def _changes(old_cell: Sequence[CheckResult], new_cell: Sequence[CheckResult]) -> tuple[str, ...]:
    """What differs between the old and the new run of a cell: distributions installed
    ("numpy 2.2.6 -> 2.3.0", "+newpkg 1.0", "-oldpkg 2.0"), candidate wheels whose content
    changed under the same file name, the image and the wheelmatrix version."""
    o, n = _provenance(old_cell), _provenance(new_cell)
    out: list[str] = []
    ov, nv = o.installed_versions, n.installed_versions
    if ov and nv:  # a side without the list (it failed before installing) says nothing
        for name in sorted(ov.keys() | nv.keys()):
            if name not in nv:
                out.append(f"-{name} {ov[name]}")
            elif name not in ov:
                out.append(f"+{name} {nv[name]}")
            elif ov[name] != nv[name]:
                out.append(f"{name} {ov[name]} -> {nv[name]}")
    for wheel in sorted(o.wheel_sha256.keys() & n.wheel_sha256.keys()):
        if o.wheel_sha256[wheel] != n.wheel_sha256[wheel]:
            out.append(f"{wheel}: content changed")
    if o.image and n.image and o.image != n.image:
        out.append(f"image {_short_image(o.image)} -> {_short_image(n.image)}")
    if o.tool_version and n.tool_version and o.tool_version != n.tool_version:
        out.append(f"wheelmatrix {o.tool_version} -> {n.tool_version}")
    return tuple(out)


def _short_image(image: str) -> str:
    algo, _, digest = image.partition(":")
    return f"{algo}:{digest[:12]}" if digest else image[:19]


# --------------------------------------------------------------------------- exit codes


def fail_on_exit(results: Iterable[CheckResult], fail_on: str, comparison: Comparison | None = None) -> int:
    """The exit code of a run or a comparison under `--fail-on`.

    never       0.
    failure     1 if a check of `results` failed, crashed or timed out; else 3 if the
                infrastructure broke; else 0 (model.exit_code).
    regression  with a comparison: 1 if it has a regression; else 3 if the new results hold an
                infrastructure error; else 0. Without one (no baseline) every failure is new:
                as "failure".
    """
    _check_fail_on(fail_on)
    if fail_on == "never":
        return EXIT_OK
    if fail_on == "failure" or comparison is None:
        return results_exit_code(results)
    if comparison.regressions:
        return EXIT_CHECK_FAILED
    if any(r.status is Status.ERROR for r in results):
        return EXIT_INFRASTRUCTURE
    return EXIT_OK


def exit_code(subject: Comparison | Iterable[CheckResult], fail_on: str) -> int:
    """`fail_on_exit` for a comparison alone (its categories stand for the new results) or for
    the results of a plain run."""
    if not isinstance(subject, Comparison):
        return fail_on_exit(subject, fail_on)
    _check_fail_on(fail_on)
    if fail_on == "never":
        return EXIT_OK
    failing = subject.regressions
    if fail_on == "failure":
        new_failures = tuple(i for i in subject.added if i.new is not None and i.new.is_wheel_failure)
        failing += subject.still_failing + subject.no_baseline + new_failures
    if failing:
        return EXIT_CHECK_FAILED
    return EXIT_INFRASTRUCTURE if subject.new_errors else EXIT_OK


def _check_fail_on(fail_on: str) -> None:
    if fail_on not in FAIL_ON:
        raise InputError(
            f"unknown fail-on policy '{fail_on}'{did_you_mean(fail_on, FAIL_ON)}",
            hint=f"one of: {', '.join(FAIL_ON)}",
        )


# --------------------------------------------------------------------------- rendering

_TITLES = {
    "regressions": "REGRESSIONS (failing now, passed before)",
    "fixes": "FIXED (passing now, failed before)",
    "new_errors": "INFRASTRUCTURE ERRORS in the new run",
    "no_baseline": "FAILING (an infrastructure error before: no baseline)",
    "still_failing": "STILL FAILING",
    "changed": "OTHER STATUS CHANGES",
    "added": "ADDED (only in the new run)",
    "gone": "GONE (only in the old run)",
}
_ORDER = tuple(_TITLES)


def summary_line(comparison: Comparison) -> str:
    c = comparison
    parts = [
        _plural(len(c.regressions), "regression"),
        _plural(len(c.fixes), "fix", "fixes"),
        f"{len(c.still_failing)} still failing",
        _plural(len(c.new_errors), "new error"),
        f"{len(c.added)} added",
        f"{len(c.gone)} gone",
    ]
    if c.no_baseline:
        parts.insert(3, f"{len(c.no_baseline)} failing without baseline")
    if c.changed:
        parts.append(_plural(len(c.changed), "other change"))
    return f"{c.old_checks} checks before, {c.new_checks} now: " + ", ".join(parts)


def render_text(comparison: Comparison, *, width: int = 100) -> str:
    """Plain text for a terminal or a log: one section per category, grouped by cell (the
    cell line carries the version changes), one line per check, cut to `width` columns."""
    lines = textwrap.wrap(summary_line(comparison), width, subsequent_indent="  ")
    for name in _ORDER:
        items = comparison.categories[name]
        if not items:
            continue
        lines += ["", f"{_TITLES[name]}: {len(items)}"]
        for cell, group in _by_cell(items).items():
            head = f"  {cell}"
            if name in ("added", "gone") and all(i.whole_cell for i in group):
                # A whole cell new or gone: one line for it, then only the checks not passing.
                head += f" (whole cell): {_status_counts(group)}"
                group = [i for i in group if (i.new or i.old) is not Status.PASSED]
            changes = group[0].changes if group else ()
            if changes:
                head += "  " + _join_fitting(changes, width - len(head) - 2)
            lines.append(_fit(head, width))
            for item in group:
                lines.append(_fit(f"    {item.check}: {_transition(item)}{_why(item)}", width))
    if not any(comparison.categories.values()):
        lines.append("no differences")
    return "\n".join(lines) + "\n"


def render_markdown(comparison: Comparison) -> str:
    """A Markdown summary: one table per non-empty category."""
    out = ["## wheelmatrix comparison", "", _md(summary_line(comparison)), ""]
    for name in _ORDER:
        items = comparison.categories[name]
        if not items:
            continue
        out += [f"### {_md(_TITLES[name].capitalize())}: {len(items)}", ""]
        out += ["| cell | check | before | now | detail | changes |", "|---|---|---|---|---|---|"]
        for i in items:
            cell = i.cell_id + (" (whole cell)" if i.whole_cell else "")
            detail = _why(i).removeprefix(": ").removeprefix(" ")
            row = (
                _code(cell),
                _code(i.check),
                i.old.value if i.old else "–",
                i.new.value if i.new else "–",
                _md(detail),
                "<br>".join(_md(c) for c in i.changes),
            )
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    if not any(comparison.categories.values()):
        out += ["No differences.", ""]
    return "\n".join(out)


def _by_cell(items: Iterable[Item]) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {}
    for i in items:
        out.setdefault(i.cell_id, []).append(i)
    return out


def _status_counts(items: Sequence[Item]) -> str:
    counts: dict[str, int] = {}
    for i in items:
        status = (i.new or i.old or Status.ERROR).value
        counts[status] = counts.get(status, 0) + 1
    return _plural(len(items), "check") + " (" + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")"


def _transition(item: Item) -> str:
    if item.old and item.new:
        return f"{item.old.value} -> {item.new.value}"
    return (item.new or item.old or Status.ERROR).value


def _why(item: Item) -> str:
    """The most telling one-line reason: the diagnosis, else the newer detail."""
    detail = item.new_detail if item.new is not None else item.old_detail
    if item.new is Status.PASSED and item.old_detail:
        detail = f"was: {item.old_detail}"
    text = item.diagnosis or detail
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f": {first}" if first else ""


def _fit(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def _join_fitting(parts: Sequence[str], room: int) -> str:
    """Join `parts` with ", " while they fit in `room`, then "+N more"."""
    shown: list[str] = []
    for index, part in enumerate(parts):
        rest = len(parts) - index - 1
        candidate = ", ".join([*shown, part]) + (f", +{rest} more" if rest else "")
        if len(candidate) > room and shown:
            return ", ".join(shown) + f", +{len(parts) - index} more"
        shown.append(part)
    return ", ".join(shown)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _code(text: str) -> str:
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"
