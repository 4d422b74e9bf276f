"""`wheelmatrix run [-c FILE] [WHEEL_OR_REQ...] [--resume [RUN]] [--compare OLD]`: a matrix from a
config file (wheelmatrix.yaml, or [tool.wheelmatrix] in pyproject.toml) and/or flags, in a run
directory that remembers: resumable after a kill, comparable with an earlier run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from wheelmatrix.cli.common import run_from_args
from wheelmatrix.cli.options import add_matrix_arguments

HELP = "run a matrix from a config file and/or flags, with a resumable run directory"


def register(sub: Any) -> None:
    p = sub.add_parser("run", help=HELP, description=HELP)
    p.add_argument(
        "-c",
        "--config",
        type=Path,
        metavar="FILE",
        help="wheelmatrix.yaml or pyproject.toml (default: ./wheelmatrix.yaml, else "
        "[tool.wheelmatrix] in ./pyproject.toml, else flags only)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="RUN",
        help="finish a killed or interrupted run: only cells with no result run (RUN: a run "
        "directory or id; default: the latest unfinished run of the same config)",
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (as `wheelmatrix plan --shards N` prints them); the distros "
        "are then the catalog's (or those named), not only those this engine can run",
    )
    add_matrix_arguments(p, inputs_required=False)
    p.set_defaults(func=main, config_discovery=True)


def main(args: argparse.Namespace, console: Console) -> int:
    return run_from_args(args, console, discover=args.config_discovery)
