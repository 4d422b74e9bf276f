"""Markdown summary for a CI step summary: the matrix, the failures with their diagnosis,
and what the static scan found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wheelmatrix.findings.causes import root_causes
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters.base import ReportContext, TextReporter
from wheelmatrix.scan.policy import WheelScan

ICON = {
    Status.PASSED: "✅ passed",
    Status.FAILED: "❌ failed",
    Status.CRASHED: "💥 crashed",
    Status.TIMED_OUT: "⏱ timed-out",
    Status.NOT_INSTALLABLE: "➖ not-installable",
    Status.ERROR: "⚠️ error",
    Status.KNOWN: "🔁 known",
    Status.SKIPPED: "⏭ skipped",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _icon(r: CheckResult) -> str:
    if r.status is Status.PASSED and r.evidence.get("warnings"):
        return "⚠️ passed (warning)"
    return ICON[r.status]


def render_markdown(results: Sequence[CheckResult], scans: Mapping[str, WheelScan]) -> str:
    lines = ["## wheelmatrix", ""]
    counts = ", ".join(
        f"{sum(1 for r in results if r.status is s)} {s.value}"
        for s in Status
        if any(r.status is s for r in results)
    )
    lines += [f"{len(results)} checks: {counts or 'none'}", ""]
    columns: dict[str, None] = {}
    rows: dict[str, dict[str, CheckResult]] = {}
    for r in results:
        col = r.check if r.scenario == "import" else f"{r.scenario}: {r.check}"
        columns.setdefault(col, None)
        rows.setdefault(r.row, {})[col] = r
    if rows:
        lines.append("| distro/arch/python | " + " | ".join(f"`{_cell(c)}`" for c in columns) + " |")
        lines.append("|---" * (len(columns) + 1) + "|")
        for row, cells in sorted(rows.items()):
            values = [_icon(cells[c]) if c in cells else "" for c in columns]
            lines.append(f"| {row} | " + " | ".join(values) + " |")
        lines.append("")
    causes = root_causes(results)
    if causes:
        lines += ["### Why (grouped by root cause)", ""]
        for cause in causes:
            worst = min(cause.statuses, key=list(Status).index)
            lines.append(
                f"- **{ICON[worst]}** {_cell(cause.summary())} (`{cause.kind}`: {_cell(cause.subject)})"
            )
            example = cause.checks[0]
            lines.append(f"  - e.g. {example.row} `{_cell(example.check)}`: {_cell(example.detail) or 'ok'}")
            if cause.fix:
                lines.append(f"  - fix: {_cell(cause.fix)}")
            if len(cause.cells) > 1:
                more = f" (+{len(cause.cells) - 6} more)" if len(cause.cells) > 6 else ""
                lines.append(f"  - cells: {', '.join(cause.cells[:6])}{more}")
        lines.append("")
    findings = [(s.wheel, f) for s in scans.values() for f in s.findings]
    if findings:
        lines += ["### Static ELF scan", ""]
        lines += [f"- `{wheel}` **{f.kind}**: {_cell(f.message)}" for wheel, f in findings]
    from wheelmatrix.scan.wheel import wheel_reach

    reach = [(s.wheel, line) for s in scans.values() for line in wheel_reach(s)]
    if reach:
        lines += ["", "### Reach (share of recent pip downloads on Linux)", ""]
        lines += [f"- `{wheel}`: {_cell(line)}" for wheel, line in reach]
        lines.append("")
    return "\n".join(lines)


def _render(results: Sequence[CheckResult], context: ReportContext) -> str:
    return render_markdown(results, context.scans) + "\n"


MARKDOWN = TextReporter("markdown", "a Markdown summary (for a CI step summary)", _render)
