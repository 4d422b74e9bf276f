"""Terminal output: live progress on a TTY (quiet otherwise) and the final matrix table."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from runner.elf.policy import WheelScan
from runner.model import CheckResult, Status

STYLE = {
    Status.PASSED: "green",
    Status.FAILED: "red",
    Status.CRASHED: "bold red",
    Status.TIMED_OUT: "magenta",
    Status.NOT_INSTALLABLE: "yellow",
    Status.ERROR: "bold yellow on red",
    Status.KNOWN: "cyan",
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


def render_table(console: Console, results: Sequence[CheckResult]) -> None:
    if not results:
        console.print("no results")
        return
    rows: dict[str, dict[str, CheckResult]] = {}
    columns: dict[str, None] = {}
    for r in results:
        col = r.check if r.scenario == "import" else f"{r.scenario}: {r.check}"
        columns.setdefault(col, None)
        rows.setdefault(r.row, {})[col] = r
    table = Table(title="wheelmatrix results", show_lines=False)
    table.add_column("distro/arch/python", no_wrap=True)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row, cells in sorted(rows.items()):
        values = []
        for col in columns:
            res = cells.get(col)
            values.append(f"[{STYLE[res.status]}]{label(res)}[/]" if res else "-")
        table.add_row(row, *values)
    console.print(table)
    problems = [r for r in results if r.status is not Status.PASSED or r.diagnosis]
    if problems:
        console.print("[bold]Why:[/]")
        for r in problems:
            console.print(
                f"  [{STYLE[r.status]}]{r.status.value:>15}[/] {r.row} "
                f"[bold]{escape(r.check)}[/]: {escape(r.detail)}",
                highlight=False,
                soft_wrap=True,
            )
            if r.diagnosis:
                console.print(
                    f"  {'':>15} [bold]=>[/] {escape(r.diagnosis)}", highlight=False, soft_wrap=True
                )
    counts = ", ".join(
        f"{sum(1 for r in results if r.status is s)} {s.value}"
        for s in Status
        if any(r.status is s for r in results)
    )
    console.print(f"{len(results)} checks: {counts}")


def render_static(console: Console, scans: Mapping[str, WheelScan]) -> None:
    """What the static ELF scan found, before the matrix ran."""
    findings = [(s.wheel, f) for s in scans.values() for f in s.findings]
    if not findings:
        return
    console.print("[bold]Static ELF scan:[/]")
    for wheel, f in findings:
        console.print(
            f"  {escape(wheel)} [bold]{f.kind}[/]: {escape(f.message)}", highlight=False, soft_wrap=True
        )
