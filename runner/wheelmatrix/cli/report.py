"""`wheelmatrix report merge RESULTS... [--json P] [--junit P] [--markdown P] [--html P]`: shard
results (JSON reports, run directories or results.jsonl streams) combined into one report with
the same verdicts as one unsharded run. Diagnoses that need results of several cells (a
known-problem set against its baseline) are computed again after merging.

`wheelmatrix report render RESULTS --html P` (or `--json`, `--markdown`, `--junit`) writes the
reports of stored results (a report, run directory or stream).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from wheelmatrix.errors import InputError

if TYPE_CHECKING:
    from wheelmatrix.model import CheckResult

HELP = "merge shard results into one report, or render stored results (json, junit, markdown, html)"


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
        q.add_argument("--json", type=Path, metavar="PATH", help="write the merged JSON report")
        q.add_argument("--junit", type=Path, metavar="PATH", help="write JUnit XML")
        q.add_argument("--markdown", type=Path, metavar="PATH", help="write a Markdown summary")
        q.add_argument(
            "--html", type=Path, metavar="PATH", help="write the HTML report (one self-contained file)"
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
    from wheelmatrix.run.store import load_results

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
        for scan in _static_scans(path):
            static.setdefault(str(scan.get("wheel") or json.dumps(scan, sort_keys=True)), scan)
    results = known_from_baseline(results, load_known_problems(default_known_problems_path()))
    info = {
        "id": "merged",
        "merged_from": runs,
        "cells": len(owner),
        "engine": sorted({str(r["engine"]) for r in runs if r.get("engine")}),
    }
    return results, info, list(static.values())


def _static_scans(path: Path) -> list[Any]:
    report = path / "report.json" if path.is_dir() else path
    if report.suffix != ".json" or not report.is_file():
        return []
    try:
        doc = json.loads(report.read_text())
    except (OSError, ValueError):
        return []
    scans = doc.get("static_scan") if isinstance(doc, dict) else None
    return list(scans) if isinstance(scans, list) else []


def main(args: argparse.Namespace, console: Console) -> int:
    from wheelmatrix.model import exit_code
    from wheelmatrix.reporters.terminal import render_table

    if args.action == "render" and len(args.results) != 1:
        raise InputError("report render takes one RESULTS (use `report merge` for several)")
    results, info, static = merge(list(args.results))
    write_reports(
        results, info, static, json_path=args.json, junit=args.junit, markdown=args.markdown, html=args.html
    )
    render_table(console, results)
    return 0 if args.fail_on == "never" else exit_code(results)


def write_reports(
    results: list[CheckResult],
    info: dict[str, Any],
    static: list[Any],
    *,
    json_path: Path | None,
    junit: Path | None,
    markdown: Path | None,
    html: Path | None,
) -> None:
    from wheelmatrix.reporters.jsonfile import write_json
    from wheelmatrix.reporters.junit import write_junit
    from wheelmatrix.reporters.markdown import write_markdown

    if json_path:
        write_json(json_path, results, info, static)
    if junit:
        write_junit(junit, results)
    if markdown:
        write_markdown(markdown, results, {})
    if html:
        from wheelmatrix.reporters.html import write_html

        write_html(html, results, info, static)
