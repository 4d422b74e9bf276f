"""Command line: one module per command, registered here; errors are caught once, in `main`.
May import every room; a command module parses arguments, calls the service and prints (no command
imports another).

wheelmatrix validate | run | plan | report | repro | minimize | bisect | scan | compare | runs | init
            | doctor | distros
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from wheelmatrix import __version__
from wheelmatrix.errors import EXIT_INFRASTRUCTURE, WheelmatrixError
from wheelmatrix.options import add_arguments

# One module per command (wheelmatrix/cli/NAME.py), imported only when its parser is needed:
# `wheelmatrix scan X` loads the scan command alone, `--help` loads them all.
COMMANDS = (
    "validate", "run", "plan", "report", "repro", "minimize", "bisect", "scan", "compare", "runs",
    "init", "doctor", "distros",
)  # fmt: skip


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"wheelmatrix.cli.{name}")


# Commands whose positional inputs may be interleaved with options (`validate a.whl --with x b.whl`).
_INPUTS = {
    "validate": "inputs",
    "run": "inputs",
    "plan": "inputs",
    "repro": "inputs",
    "minimize": "inputs",
    "scan": "wheels",
}
# Commands that take a command line after `--`.
_COMMAND_AFTER_DASHES = ("repro", "bisect")


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    add_arguments(common, "common", default=argparse.SUPPRESS)  # --catalog
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="tracebacks for unexpected errors"
    )
    return common


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, the parser of that one command (a faster start)."""
    parser = argparse.ArgumentParser(
        prog="wheelmatrix",
        description="Validate wheels across a real distro x arch x Python container matrix.",
        parents=[_common()],
    )
    parser.add_argument("--version", action="version", version=f"wheelmatrix {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()
    original = sub.add_parser

    def add_parser(name: str, **kwargs: object) -> argparse.ArgumentParser:
        return original(name, parents=[common], **kwargs)  # type: ignore[arg-type]

    sub.add_parser = add_parser  # type: ignore[method-assign]
    for name in (only,) if only in COMMANDS else COMMANDS:
        command_module(str(name)).register(sub)
    return parser


def _named_command(argv: Sequence[str]) -> str | None:
    """The command argv names (its first word that is one), else None (then every command's
    parser is built, for --help and for argparse's own error messages)."""
    previous = ""
    for arg in argv:
        if arg == "--":
            return None
        if arg in COMMANDS and previous != "--catalog":  # not the value of an option before it
            return arg
        previous = arg
    return None


# Commands that print plain text: they never load the terminal library (a scan starts as fast
# as the tools it is compared with).
_PLAIN = ("scan",)


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)  # logs: do not fold the table at 80 columns
    return console


def _stderr(message: str) -> None:
    """Errors go out whole, never folded: they name a path the user may copy."""
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_named_command(argv))
    command: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    args, extra = parser.parse_known_args(argv)
    args.argv = argv
    if command and args.command not in _COMMAND_AFTER_DASHES:
        parser.error(f"unrecognized arguments: -- {' '.join(command)}")
    args.command_argv = command
    for name, default in (("catalog", None), ("debug", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    unknown = [e for e in extra if e.startswith("-")]
    field = _INPUTS.get(args.command)
    if unknown or (extra and field is None):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if extra and field is not None:
        values = [Path(e) for e in extra] if field == "wheels" else extra
        setattr(args, field, [*getattr(args, field), *values])
    console = None if args.command in _PLAIN else _console()
    try:
        code: int = args.func(args, console)
        return code
    except WheelmatrixError as exc:
        _stderr(f"wheelmatrix: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _stderr("wheelmatrix: interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        _stderr(
            f"wheelmatrix: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
        )
        return EXIT_INFRASTRUCTURE
