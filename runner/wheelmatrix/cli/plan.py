"""`wheelmatrix plan [-c FILE] [WHEEL_OR_REQ...] --shards N --format github|json|text`: the
matrix as N shards, balanced by expected cost, each preparing as few images as possible; for
GitHub Actions, the `include` list of a `strategy.matrix`. Takes the same inputs as `run`; no
engine is needed (the distros are the catalog's, or those named), so every machine computes
the same shards, and `wheelmatrix run --shard I/N` runs exactly shard I.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from wheelmatrix.cli.options import add_matrix_arguments
from wheelmatrix.config.limits import SHARDS
from wheelmatrix.options import count_in

HELP = "print the matrix as shards for several machines (GitHub matrix, JSON or text)"


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help=HELP, description=HELP)
    p.add_argument("-c", "--config", type=Path, metavar="FILE", help="wheelmatrix.yaml or pyproject.toml")
    p.add_argument(
        "--shards",
        type=count_in(SHARDS),
        default=1,
        metavar="N",
        help=f"how many shards (default 1; {SHARDS.describe()})",
    )
    p.add_argument("--format", choices=("github", "json", "text"), default="text", help="output format")
    add_matrix_arguments(p, inputs_required=False)
    p.set_defaults(func=main, config_discovery=True)


def main(args: argparse.Namespace, console: Console) -> int:
    from wheelmatrix.cli.common import load_config
    from wheelmatrix.matrix.shards import split
    from wheelmatrix.service.setup import plan_run

    config = load_config(args, discover=True)
    plan = plan_run(config, static_scan=False)
    shards = split(list(plan.cells), args.shards)
    if args.format == "github":
        print(json.dumps({"include": [s.to_json() for s in shards]}, separators=(",", ":")))
    elif args.format == "json":
        doc = {
            "config_hash": plan.config_hash,
            "cells": len(plan.cells),
            "shards": [dict(s.to_json(), cell_ids=[c.id for c in s.cells]) for s in shards],
        }
        print(json.dumps(doc, indent=2))
    else:
        console.print(
            f"{len(plan.cells)} cells in {len({c.container_key for c in plan.cells})} containers, "
            f"{len(shards)} shard(s):",
            highlight=False,
        )
        for s in shards:
            console.print(
                f"  {s.label}: {len(s.cells)} cells, cost {s.cost:.1f}, images {' '.join(s.images) or '-'}",
                highlight=False,
                soft_wrap=True,
            )
    return 0
