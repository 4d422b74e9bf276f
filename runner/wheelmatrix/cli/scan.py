"""`wheelmatrix scan WHEEL...`: the static ELF scan alone (no engine, no containers)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    ships nor may assume. Plain text out (bold on a terminal): a scan starts without the
    terminal library, as fast as the tools it is compared with."""
    from wheelmatrix.fsutil import atomic_write_text
    from wheelmatrix.inputs.wheels import parse_inputs
    from wheelmatrix.scan.wheel import scans_json, static_scans, wheel_lowest_tags, wheel_reach

    bold = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    def strong(text: str) -> str:
        return f"\033[1m{text}\033[0m" if bold else text

    # no sha256: a big wheel's would map OpenSSL into the scan (4-5 MB of its peak memory)
    projects = parse_inputs([str(w) for w in args.wheels], role="wheel", sha256=False)
    scans = static_scans(projects)
    out: list[str] = []
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
        out.append(
            f"{strong(scan.wheel)}: {len(scan.files)} ELF files; needs at most "
            f"{', '.join(top.values()) or 'no versioned symbols'}"
        )
        for lowest in wheel_lowest_tags(scan):
            if lowest.tag is None:
                out.append(f"  no {lowest.family} tag for {lowest.arch}: {lowest.reason}")
            else:
                why = f" ({lowest.reason.replace('needs ', 'not older: needs ', 1)})" if lowest.reason else ""
                out.append(f"  this constrains the platform tag to {lowest.tag}{why}")
    findings = [(s.wheel, f) for s in scans.values() for f in s.findings]
    if findings:
        out.append(strong("Static ELF scan:"))
        out.extend(f"  {wheel} {strong(f.kind)}: {f.message}" for wheel, f in findings)
    reach = [(s.wheel, line) for s in scans.values() for line in wheel_reach(s)]
    if reach:
        out.append(f"{strong('Reach')} (share of recent pip downloads on Linux):")
        out.extend(f"  {wheel}: {line}" for wheel, line in reach)
    print("\n".join(out), flush=True)
    if args.json:
        atomic_write_text(args.json, json.dumps({"static_scan": scans_json(scans)}, indent=2) + "\n")
    serious = {
        "over-claimed",
        "unshipped-library",
        "glibc-in-musllinux",
        "abi3-over-claimed",
        "abi3-non-stable",
        "glibc-private",
    }
    return 1 if any(f.kind in serious for s in scans.values() for f in s.findings) else 0
