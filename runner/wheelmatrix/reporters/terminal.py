"""Terminal output: live progress on a TTY (quiet otherwise) and the final matrix table."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from wheelmatrix.findings.causes import LEGEND, layout, mark, root_causes
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters.base import picked_wheel_lines
from wheelmatrix.scan.policy import WheelScan

STYLE = {
    Status.PASSED: "green",
    Status.FAILED: "red",
    Status.CRASHED: "bold red",
    Status.TIMED_OUT: "magenta",
    Status.NOT_INSTALLABLE: "yellow",
    Status.ERROR: "bold yellow on red",
    Status.KNOWN: "cyan",
    Status.SKIPPED: "dim",
}


class LiveProgress:
    """Cells done out of cells total, plus the latest event; silent when not a terminal."""

    def __init__(self, console: Console, total_cells: int) -> None:
        self.console = console
        self.enabled = console.is_terminal
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("cells", total=total_cells, last="")

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._progress.stop()

    def event(self, kind: str, message: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            if kind == "cell-done":
                self._progress.advance(self._task)
            self._progress.update(self._task, last=f"{kind}: {message}"[:80])


def label(r: CheckResult) -> str:
    """The status, marked where a passing check printed an import-time warning."""
    if r.status is Status.PASSED and r.evidence.get("warnings"):
        return "passed (warning)"
    return r.status.value


def render_table(console: Console, results: Sequence[CheckResult], *, verbose: bool = False) -> None:
    """The matrix with one-character marks and numbered columns (named below, with a legend),
    split into several tables when it is wider than the terminal; then the problems grouped by
    root cause. Readable at 80 columns. `verbose`: first the wheel files installed per cell."""
    if not results:
        console.print("no results")
        return
    if verbose:
        render_installed_wheels(console, results)
    grid = layout(results)
    row_width = max(len("distro/arch/python"), *(len(r) for r in grid.rows))
    room = console.width - (row_width + 2) - 1  # the row label, its borders
    chunks: list[list[int]] = [[]]
    used = 0
    for i in range(1, len(grid.columns) + 1):
        need = len(str(i)) + 3  # "│ 12 "
        if chunks[-1] and used + need > room:
            chunks.append([])
            used = 0
        chunks[-1].append(i)
        used += need
    for n, numbers in enumerate(chunks):
        cols = [grid.columns[i - 1] for i in numbers]
        table = Table(title=None if n else "wheelmatrix results", show_lines=False, pad_edge=False)
        table.add_column("distro/arch/python", no_wrap=True, min_width=row_width)
        for i in numbers:
            table.add_column(str(i), justify="center", no_wrap=True)
        for row, cells in grid.rows.items():
            values = [f"[{STYLE[cells[c].status]}]{mark(cells[c])}[/]" if c in cells else " " for c in cols]
            table.add_row(escape(row), *values)
        console.print(table)
    for i, col in enumerate(grid.columns, 1):
        console.print(f"  {i:>2} {escape(col)}", highlight=False, overflow="fold")
    console.print(f"  [dim]{LEGEND}[/]", highlight=False)
    causes = root_causes(results)
    if causes:
        console.print("[bold]Why[/] (grouped by root cause):")
        for cause in causes:
            worst = min(cause.statuses, key=list(Status).index)
            console.print(
                f"  [{STYLE[worst]}]{escape(cause.summary())}[/] [dim]({escape(cause.kind)}: "
                f"{escape(cause.subject)})[/]",
                highlight=False,
                overflow="fold",
            )
            example = cause.checks[0]
            what = escape(example.detail or label(example))
            console.print(
                f"      e.g. {escape(example.row)} [bold]{escape(example.check)}[/]: {what}",
                highlight=False,
                overflow="fold",
            )
            if cause.fix:
                console.print(f"      fix: {escape(cause.fix)}", highlight=False, overflow="fold")
            hit = cause.cells
            if len(hit) > 1:
                more = f" (+{len(hit) - 4} more)" if len(hit) > 4 else ""
                shown = escape(", ".join(hit[:4]))
                console.print(f"      cells: {shown}{more}", highlight=False, overflow="fold")
    counts = ", ".join(
        f"{sum(1 for r in results if r.status is s)} {s.value}"
        for s in Status
        if any(r.status is s for r in results)
    )
    console.print(f"{len(results)} checks: {counts}")


def render_installed_wheels(console: Console, results: Sequence[CheckResult]) -> None:
    """Per cell (once): the wheel file each distribution was installed from."""
    seen: set[str] = set()
    for r in results:
        if not r.installed_wheels or r.row in seen:
            continue
        seen.add(r.row)
        console.print(f"[bold]{escape(r.row)}[/] installed:", highlight=False)
        for line in picked_wheel_lines(r, short=True):
            console.print(f"  {escape(line)}", highlight=False, overflow="fold")


def render_static(console: Console, scans: Mapping[str, WheelScan]) -> None:
    """What the static ELF scan found, before the matrix ran, and what each wheel's tag and
    real needs admit of recent pip downloads."""
    from wheelmatrix.scan.wheel import wheel_reach

    findings = [(s.wheel, f) for s in scans.values() for f in s.findings]
    if findings:
        console.print("[bold]Static ELF scan:[/]")
        for wheel, f in findings:
            console.print(
                f"  {escape(wheel)} [bold]{f.kind}[/]: {escape(f.message)}", highlight=False, soft_wrap=True
            )
    reach = [(s.wheel, line) for s in scans.values() for line in wheel_reach(s)]
    if reach:
        console.print("[bold]Reach[/] (share of recent pip downloads on Linux):")
        for wheel, line in reach:
            console.print(f"  {escape(wheel)}: {escape(line)}", highlight=False, soft_wrap=True)
