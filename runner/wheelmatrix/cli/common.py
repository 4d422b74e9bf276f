"""What several commands share between parsing and the service: the run settings from a config
file and the flags, one cell's settings, and printing a failed install. Not a command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from wheelmatrix.errors import InputError

if TYPE_CHECKING:
    from wheelmatrix.config.runfile import RunConfig
    from wheelmatrix.service.live import LiveCell


def load_config(args: argparse.Namespace, *, discover: bool) -> RunConfig:
    """The config file (if any), then the command line on top of it."""
    from wheelmatrix.config.runfile import RunConfig, find_config
    from wheelmatrix.options import load_run_config, overrides

    path = getattr(args, "config", None)
    if path is None and discover:
        path = find_config(Path.cwd())
    config = load_run_config(path) if path is not None else RunConfig()
    if path is None and discover:
        config = _with_cibuildwheel_tests(config, Path.cwd())
    return config.override(**overrides(args, config))


def _with_cibuildwheel_tests(config: RunConfig, directory: Path) -> RunConfig:
    """No config of ours: a project's [tool.cibuildwheel] tests (or CIBW_TEST_COMMAND) run as one
    more scenario beside the default ones."""
    from wheelmatrix.config.cibuildwheel import find_project

    return config.override(cibuildwheel_tests=directory) if find_project(directory) else config


def run_from_args(args: argparse.Namespace, console: Console, *, discover: bool) -> int:
    """`run` and `validate`: the settings from the file and flags, then the run service."""
    from wheelmatrix.service.runs import run_matrix

    return run_matrix(
        load_config(args, discover=discover),
        console,
        runs_dir=getattr(args, "runs_dir", None),
        resume=getattr(args, "resume", None),
        shard=getattr(args, "shard", None),
        argv=list(getattr(args, "argv", []) or []),
    )


def cell_config(args: argparse.Namespace) -> RunConfig:
    """The sandbox and input flags as a RunConfig, narrowed to the one cell asked for."""
    from wheelmatrix.service.live import one_cell_config

    if not args.distro or not args.arch:
        raise InputError("repro needs --distro ID and --arch ARCH (or --from REPORT --check ID)")
    config = load_config(args, discover=False)
    return one_cell_config(config, args.distro, args.arch, args.python)


def install_failed(live: LiveCell, console: Console) -> int:
    """Print why the cell's install failed; the exit code of those results."""
    from wheelmatrix.model import exit_code

    for r in live.install_failures:
        console.print(
            f"[bold red]{escape(r.check)}: {r.status.value}[/] {escape(r.detail)}",
            highlight=False,
            soft_wrap=True,
        )
    return exit_code(live.install_failures)
