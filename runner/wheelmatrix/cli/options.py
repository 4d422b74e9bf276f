"""Argument types and the options every matrix command shares (validate, run; later plan).

Flags default to None: a flag not given leaves the config file's value, and the config's
defaults live in one place (wheelmatrix/config/runfile.py, RunConfig)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from wheelmatrix.errors import InputError

ARCHES = ("x86_64", "aarch64")  # wheelmatrix.config.catalog.ARCHES; not imported: keeps `--help` fast


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value:g}")
    return value


def python_version(text: str) -> str:
    if not re.fullmatch(r"\d+\.\d+", text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a MAJOR.MINOR Python version (e.g. 3.11)")
    return text


def memory(text: str) -> str:
    if not re.fullmatch(r"\d+[bkmg]?", text.lower()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a memory size (e.g. 4g, 512m)")
    return text.lower()


FAIL_ON = ("failure", "regression", "never")


def engine_url(text: str) -> str:
    if not re.fullmatch(r"(unix|tcp|ssh|http|https|npipe)://\S+", text):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an engine URL (e.g. unix:///var/run/docker.sock, tcp://10.0.0.5:2375, ssh://user@host)"
        )
    return text


def add_matrix_arguments(p: argparse.ArgumentParser, *, inputs_required: bool) -> None:
    """The inputs, selection, sandbox and report options of `validate` and `run`."""
    add_input_arguments(p, inputs_required=inputs_required)
    p.add_argument("--distro", dest="distros", action="append", default=None, metavar="ID", help="repeatable")
    p.add_argument("--arch", dest="archs", action="append", default=None, choices=ARCHES, help="repeatable")
    p.add_argument(
        "--python",
        dest="pythons",
        action="append",
        default=None,
        type=python_version,
        metavar="X.Y",
        help="only distros providing this Python; repeatable",
    )
    p.add_argument(
        "--include",
        action="append",
        default=None,
        metavar="DISTRO[/ARCH[/PY]]",
        help="keep only matching targets (wildcards allowed); repeatable",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=None,
        metavar="DISTRO[/ARCH[/PY]]",
        help="drop matching targets, e.g. debian-13/aarch64; repeatable",
    )
    p.add_argument(
        "--scenario", dest="scenario_names", action="append", default=None, metavar="NAME", help="repeatable"
    )
    p.add_argument(
        "--with-known-problems",
        dest="known_problems",
        action="store_const",
        const=("all",),
        default=None,
        help="also run each applicable known-problem set as companions, each in its own cells",
    )
    p.add_argument(
        "--strict-warnings",
        action="store_const",
        const=True,
        default=None,
        help="fail a check that passes but prints an import-time warning",
    )
    p.add_argument("--jobs", type=positive_int, default=None, help="cells in parallel (default: CPUs)")
    add_sandbox_arguments(p)
    add_report_arguments(p)
    p.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default=None,
        help="what makes the exit code 1: any failure (default), only a regression against "
        "--compare, or never",
    )
    p.add_argument(
        "--compare", type=Path, metavar="OLD", help="compare with an earlier report or run directory"
    )
    p.add_argument(
        "--runs-dir",
        type=Path,
        metavar="DIR",
        help="where run directories live (default: $WHEELMATRIX_RUNS or ~/.cache/wheelmatrix/runs)",
    )


REPORT_FLAGS = (  # (option, format, help) of reporters/registry.py (not imported: keeps `--help` fast)
    ("json", "json", "write a JSON report"),
    ("junit", "junit", "write a JUnit XML report"),
    ("markdown", "markdown", "write a Markdown summary"),
    ("html", "html", "write the HTML report (one self-contained file)"),
    (
        "annotations",
        "github",
        "write GitHub workflow annotations, one per root cause (- for standard output)",
    ),
    ("sarif", "sarif", "write a SARIF 2.1.0 log, one result per root cause (code scanning)"),
)
REPORT_FORMATS = tuple(name for _, name, _ in REPORT_FLAGS)


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """`--json PATH`, `--junit PATH`... one flag per report format, each writing that report."""
    for option, _, text in REPORT_FLAGS:
        p.add_argument(f"--{option}", type=Path, metavar="PATH", help=text)


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
        p.add_argument(
            "inputs",
            nargs="+" if inputs_required else "*",
            metavar="WHEEL_OR_REQ",
            help="wheel files, globs or requirements to test (the candidates)",
        )
    p.add_argument(
        "--with",
        dest="companions",
        action="append",
        default=None,
        metavar="REQ",
        help="companion to install next to the candidates (requirement or wheel); repeatable",
    )
    p.add_argument(
        "--find-links",
        action="append",
        default=None,
        type=Path,
        metavar="DIR",
        help="extra directory of wheels for the installer; repeatable",
    )


def add_sandbox_arguments(p: argparse.ArgumentParser) -> None:
    """How a cell installs and runs: the same for every command that starts containers."""
    p.add_argument(
        "--installer", choices=("uv", "pip"), default=None, help="uv (default, fast) or the image's own pip"
    )
    p.add_argument(
        "--link-mode",
        choices=("symlink", "copy"),
        default=None,
        help="uv: link installed files from the shared cache (default) or copy them",
    )
    p.add_argument("--gdb", action="store_const", const=True, default=None, help="images with gdb")
    p.add_argument(
        "--offline", action="store_const", const=True, default=None, help="install only from --find-links"
    )
    p.add_argument("--timeout", dest="timeout_s", type=positive_float, default=None, metavar="S")
    p.add_argument("--memory", type=memory, default=None, help="memory limit per container (default 4g)")
    p.add_argument("--pids", type=positive_int, default=None, help="process limit per container")
    p.add_argument(
        "--engine",
        dest="engines",
        action="append",
        default=None,
        type=engine_url,
        metavar="URL",
        help="a container engine to run cells on (unix://, tcp://, ssh://); repeatable: cells spread "
        "over every engine given (default: DOCKER_HOST or the local engine)",
    )
    p.add_argument(
        "--registry-mirror",
        type=registry_mirror,
        default=None,
        metavar="PREFIX",
        help="pull the catalog's registry images through this mirror or prefix (host[:port][/path]), "
        "e.g. a company's pull-through cache (default: $WHEELMATRIX_REGISTRY_MIRROR, else the "
        "engine's registry)",
    )
    p.add_argument(
        "--cpu",
        dest="cpus",
        action="append",
        default=None,
        type=cpu_level,
        metavar="LEVEL",
        help="run the cells of that arch on an emulated CPU of this level (x86-64-v1..v3; armv8.0, "
        "armv8.2, armv9), so code for a newer CPU dies of SIGILL as on a user's older machine; "
        "repeatable",
    )


def registry_mirror(text: str) -> str:
    from wheelmatrix.config.runfile import registry_mirror_value

    try:
        return registry_mirror_value(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})") from None


def cpu_level(text: str) -> str:
    from wheelmatrix.scan.cpu import arch_of, level

    try:
        level(arch_of(text), text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from None
    return text


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


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """RunConfig fields given on the command line (None: not given)."""
    out: dict[str, Any] = {}
    for name in (
        "companions",
        "find_links",
        "distros",
        "archs",
        "pythons",
        "include",
        "exclude",
        "installer",
        "link_mode",
        "known_problems",
        "gdb",
        "strict_warnings",
        "offline",
        "jobs",
        "timeout_s",
        "memory",
        "pids",
        "fail_on",
        "compare",
        "scenario_names",
        "engines",
        "cpus",
        "registry_mirror",
    ):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = tuple(value) if isinstance(value, list) else value
    if args.inputs:
        out["candidates"] = tuple(args.inputs)
    return out
