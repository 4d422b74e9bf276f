"""`wheelmatrix report merge RESULTS... [--json P] [--junit P] [--markdown P] [--html P]
[--annotations P] [--format NAME [-o P]]`: shard
results (JSON reports, run directories or results.jsonl streams) combined into one report with
the same verdicts as one unsharded run. Diagnoses that need results of several cells (a
known-problem set against its baseline) are computed again after merging.

`wheelmatrix report render RESULTS --html P` (or `--json`, `--markdown`, `--junit`,
`--annotations`; or `--format NAME [-o P]`, standard output by default) writes the reports of
stored results (a report, run directory or stream).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from wheelmatrix.cli.options import REPORT_FORMATS, add_report_arguments, report_flags
from wheelmatrix.errors import InputError

if TYPE_CHECKING:
    from wheelmatrix.model import CheckResult

HELP = f"merge shard results into one report, or render stored results ({', '.join(REPORT_FORMATS)})"


def register(sub: Any) -> None:
    p = sub.add_parser("report", help=HELP, description=HELP)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("merge", "combine the results of shards (each cell once) into one report"),
        ("render", "write reports of stored results (a report, run directory or stream)"),
    ):
        q = actions.add_parser(name, help=text, description=text)
        q.add_argument(
            "results", nargs="+", type=Path, metavar="RESULTS", help="JSON reports, run directories, streams"
        )
        add_report_arguments(q)
        q.add_argument(
            "--format",
            default=None,
            metavar="NAME",
            help=f"write this report format ({', '.join(REPORT_FORMATS)}) to --output",
        )
        q.add_argument(
            "--output",
            "-o",
            type=Path,
            default=None,
            metavar="PATH",
            help="where --format writes (default: - for standard output; the table then goes to stderr)",
        )
        q.add_argument(
            "--fail-on",
            choices=("failure", "never"),
            default="failure",
            help="exit 1 on any failure (default) or never",
        )
    p.set_defaults(func=main)


def merge(paths: list[Path]) -> tuple[list[CheckResult], dict[str, Any], list[Any]]:
    """(results, run info, static scans) of several stored results, each cell once."""
    from wheelmatrix.config.known_problems import default_known_problems_path, load_known_problems
    from wheelmatrix.findings.diagnose import known_from_baseline
    from wheelmatrix.run.jsonreport import read_static_scans
    from wheelmatrix.run.rundir import load_results

    results: list[CheckResult] = []
    owner: dict[str, Path] = {}
    runs: list[dict[str, Any]] = []
    static: dict[str, Any] = {}
    for path in paths:
        loaded = load_results(path)
        if loaded.partial:
            raise InputError(
                f"{path}: {len({r.cell_id for r in loaded.partial})} cell(s) did not finish",
                hint="resume that shard (`wheelmatrix run --resume`) or rerun it before merging",
            )
        for cell in sorted({r.cell_id for r in loaded.results}):
            if cell in owner:
                raise InputError(
                    f"cell {cell} is in both {owner[cell]} and {path}",
                    hint="merge the results of different shards of one matrix (each cell once)",
                )
            owner[cell] = path
        results += loaded.results
        runs.append({"source": str(path), **{k: loaded.run.get(k) for k in ("id", "engine", "duration_s")}})
        for scan in read_static_scans(path):
            static.setdefault(str(scan.get("wheel") or json.dumps(scan, sort_keys=True)), scan)
    results = known_from_baseline(results, load_known_problems(default_known_problems_path()))
    info = {
        "id": "merged",
        "merged_from": runs,
        "cells": len(owner),
        "engine": sorted({str(r["engine"]) for r in runs if r.get("engine")}),
    }
    return results, info, list(static.values())


def main(args: argparse.Namespace, console: Console) -> int:
    from wheelmatrix.model import exit_code
    from wheelmatrix.reporters import registry
    from wheelmatrix.reporters.base import STDOUT, ReportContext
    from wheelmatrix.reporters.terminal import render_table

    if args.action == "render" and len(args.results) != 1:
        raise InputError("report render takes one RESULTS (use `report merge` for several)")
    requests = [(registry.by_option(option), path) for option, path in report_flags(args)]
    if args.output is not None and args.format is None:
        raise InputError(
            "--output names where --format writes", hint=f"add --format NAME ({', '.join(REPORT_FORMATS)})"
        )
    if args.format is not None:
        requests.append((registry.get(args.format), args.output or STDOUT))
    registry.check_requests(requests)
    results, info, static = merge(list(args.results))
    registry.write_reports(results, ReportContext(run=info, static=static), requests)
    if any(path == STDOUT for _, path in requests):  # the report on stdout stays parseable
        console = Console(stderr=True)
    render_table(console, results)
    return 0 if args.fail_on == "never" else exit_code(results)
