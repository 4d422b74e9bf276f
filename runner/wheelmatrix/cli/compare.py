"""`wheelmatrix compare OLD NEW`: new failures, fixes, still failing, cells added or gone, and
the version changes that came with each new failure. OLD/NEW: JSON reports or run directories."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from wheelmatrix.options import FAIL_ON

HELP = "compare two runs (reports or run directories): regressions, fixes, version changes"


def register(sub: Any) -> None:
    p = sub.add_parser("compare", help=HELP, description=HELP)
    p.add_argument(
        "old", type=Path, metavar="OLD", help="earlier JSON report, results.jsonl or run directory"
    )
    p.add_argument("new", type=Path, metavar="NEW", help="later JSON report, results.jsonl or run directory")
    p.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="regression",
        help="exit 1 on a regression (default), on any failure in NEW, or never",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write the comparison as JSON")
    p.add_argument("--markdown", type=Path, metavar="PATH", help="write the comparison as Markdown")
    p.set_defaults(func=main)


def main(args: argparse.Namespace, console: Console) -> int:
    from wheelmatrix.fsutil import atomic_write_text
    from wheelmatrix.run.compare import compare, fail_on_exit, render_markdown, render_text
    from wheelmatrix.run.rundir import load_results

    old = load_results(args.old)
    new = load_results(args.new)
    comparison = compare(old.results, new.results)
    if args.json:
        atomic_write_text(args.json, json.dumps(comparison.to_json(), indent=2) + "\n")
    if args.markdown:
        atomic_write_text(args.markdown, render_markdown(comparison))
    console.print(f"compare {old.source} -> {new.source}", highlight=False, markup=False)
    console.print(render_text(comparison), highlight=False, soft_wrap=True, markup=False)
    return fail_on_exit(new.results, args.fail_on, comparison)
