"""`wheelmatrix scan WHEEL...`: the static ELF scan alone (no engine, no containers)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

HELP = "static ELF scan of wheels against their platform tags (no containers)"


def register(sub: Any) -> None:
    p = sub.add_parser("scan", help=HELP, description=HELP)
    p.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    p.add_argument(
        "--json", type=Path, metavar="PATH", help="write the findings and per-file evidence as JSON"
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace, console: Console) -> int:
    """Exit 1 when a wheel over-claims its tag (platform or abi3) or needs a library it neither
    ships nor may assume."""
    from wheelmatrix.findings.diagnose import scans_json, static_scans, wheel_lowest_tags
    from wheelmatrix.fsutil import atomic_write_text
    from wheelmatrix.inputs.wheels import parse_inputs
    from wheelmatrix.reporters.terminal import render_static

    projects = parse_inputs([str(w) for w in args.wheels], role="wheel")
    scans = static_scans(projects)
    for scan in scans.values():
        needs = sorted(
            {
                r.label
                for f in scan.files
                for r in f.requirements
                if r.namespace in ("GLIBC", "GLIBCXX", "CXXABI")
            },
            key=lambda label: (label.split("_")[0], tuple(int(x) for x in label.split("_")[-1].split("."))),
        )
        top = {}
        for label in needs:
            top[label.split("_")[0]] = label
        console.print(
            f"[bold]{scan.wheel}[/]: {len(scan.files)} ELF files; needs at most "
            f"{', '.join(top.values()) or 'no versioned symbols'}",
            highlight=False,
        )
        for lowest in wheel_lowest_tags(scan):
            if lowest.tag is None:
                console.print(f"  no {lowest.family} tag for {lowest.arch}: {lowest.reason}", highlight=False)
            else:
                why = f" ({lowest.reason.replace('needs ', 'not older: needs ', 1)})" if lowest.reason else ""
                console.print(f"  this constrains the platform tag to {lowest.tag}{why}", highlight=False)
    render_static(console, scans)
    if args.json:
        atomic_write_text(args.json, json.dumps({"static_scan": scans_json(scans)}, indent=2) + "\n")
    serious = {
        "over-claimed",
        "unshipped-library",
        "glibc-in-musllinux",
        "abi3-over-claimed",
        "abi3-non-stable",
    }
    return 1 if any(f.kind in serious for s in scans.values() for f in s.findings) else 0
