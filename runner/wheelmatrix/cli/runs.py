"""`wheelmatrix runs`: the run directories, newest first, with date, state and verdict counts."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

HELP = "list runs (newest first) with date, state and verdict counts"


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help=HELP, description=HELP)
    p.add_argument("--runs-dir", type=Path, metavar="DIR", help="where run directories live")
    p.add_argument("--limit", type=int, default=20, help="show at most N runs (default 20)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace, console: Console) -> int:
    from wheelmatrix.run.runs import list_runs
    from wheelmatrix.service.setup import runs_root

    root = runs_root(args.runs_dir)
    runs = list_runs(root)
    if not runs:
        console.print(f"no runs in {escape(str(root))}", highlight=False)
        return 0
    table = Table(title=f"runs in {escape(str(root))}")
    statuses = ("passed", "failed", "crashed", "timed-out", "known", "skipped", "error")
    for col in ("run", "started", "state", "cells", *statuses, "config"):
        table.add_column(col, overflow="fold")
    for r in runs[: args.limit]:
        counts = r.counts or {}
        table.add_row(
            escape(r.run_id),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started else "?",
            escape(r.state),
            f"{r.cells_done}/{r.cells_planned}",
            *(str(counts.get(k, 0)) for k in statuses),
            escape(str(r.source or "")),
        )
    console.print(table)
    return 0
