"""`wheelmatrix validate WHEEL_OR_REQ... [flags]`: one matrix from the command line only (no
config file is read); the same run set-up and run directory as `run`."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from wheelmatrix.cli.common import run_from_args
from wheelmatrix.cli.options import add_matrix_arguments

HELP = "install and import wheels in every cell of the matrix (flags only)"


def register(sub: Any) -> None:
    p = sub.add_parser("validate", help=HELP, description=HELP)
    add_matrix_arguments(p, inputs_required=True)
    p.set_defaults(func=main)


def main(args: argparse.Namespace, console: Console) -> int:
    return run_from_args(args, console, discover=False)
