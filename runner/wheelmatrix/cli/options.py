"""The options every matrix command shares (validate, run, plan; the sandbox and input options
of repro, minimize and bisect), built from the option table (wheelmatrix/options.py).

Flags default to None: a flag not given leaves the config file's value, and the config's
defaults live in one place (wheelmatrix/config/runfile.py, RunConfig). Importing this stays
cheap (no config modules) to keep `--help` fast."""

from __future__ import annotations

import argparse
from pathlib import Path

from wheelmatrix.options import (
    ARCHES,
    REPORT_FLAGS,
    REPORT_FORMATS,
    add_arguments,
    add_positional,
    python_version,
)

__all__ = ["ARCHES", "REPORT_FLAGS", "REPORT_FORMATS", "add_report_arguments", "report_flags"]


def add_matrix_arguments(p: argparse.ArgumentParser, *, inputs_required: bool) -> None:
    """The inputs, selection, sandbox and report options of `validate`, `run` and `plan`."""
    add_input_arguments(p, inputs_required=inputs_required)
    add_arguments(p, "matrix")
    add_sandbox_arguments(p)
    add_arguments(p, "reports")
    add_report_arguments(p)
    p.add_argument(
        "--runs-dir",
        type=Path,
        metavar="DIR",
        help="where run directories live (default: $WHEELMATRIX_RUNS or ~/.cache/wheelmatrix/runs)",
    )


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """`--json PATH`, `--junit PATH`... one flag per report format (the option table's)."""
    add_arguments(p, "report-files")


def report_flags(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(report option, path) of each report flag given, in REPORT_FLAGS order."""
    return [
        (option, path) for option, _, _ in REPORT_FLAGS if (path := getattr(args, option, None)) is not None
    ]


def add_input_arguments(
    p: argparse.ArgumentParser, *, inputs_required: bool, positional: bool = True
) -> None:
    """What to install: candidates (positional, unless the command names its own), companions
    and extra wheel directories."""
    if positional:
        add_positional(p, required=inputs_required)
    add_arguments(p, "inputs")


def add_sandbox_arguments(p: argparse.ArgumentParser) -> None:
    """How a cell installs and runs: the same for every command that starts containers."""
    add_arguments(p, "sandbox")


def add_cell_arguments(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Exactly one cell: distro, arch and (optionally) Python."""
    p.add_argument("--distro", required=required, metavar="ID", help="the cell's distro id (see `distros`)")
    p.add_argument("--arch", required=required, choices=ARCHES, help="the cell's architecture")
    p.add_argument(
        "--python",
        type=python_version,
        default=None,
        metavar="X.Y",
        help="the cell's Python (default: the distro's)",
    )
