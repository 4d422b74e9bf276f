"""Command line: `wheelmatrix validate|doctor|distros`."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from runner import __version__
from runner.config.catalog import ARCHES, Catalog, Distro, default_catalog_path, load_catalog
from runner.config.known_problems import default_known_problems_path, load_known_problems
from runner.config.scenarios import default_scenarios_path, load_scenarios, select_scenarios
from runner.diagnose import diagnose, predict_cell, scans_json, static_scans
from runner.errors import EXIT_INFRASTRUCTURE, InputError, WheelmatrixError, did_you_mean
from runner.host import cache_dir, host_arch, index_settings, runnable_archs
from runner.inputs import parse_inputs
from runner.matrix import Cell, CompanionSet, build_matrix, select_targets
from runner.reporters.jsonfile import write_json
from runner.reporters.junit import write_junit
from runner.reporters.markdown import write_markdown
from runner.reporters.terminal import LiveProgress, render_static, render_table
from runner.results import ResultLog, exit_code


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value:g}")
    return value


def _python_version(text: str) -> str:
    if not re.fullmatch(r"\d+\.\d+", text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a MAJOR.MINOR Python version (e.g. 3.11)")
    return text


def _memory(text: str) -> str:
    if not re.fullmatch(r"\d+[bkmg]?", text.lower()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a memory size (e.g. 4g, 512m)")
    return text.lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelmatrix",
        description="Validate wheels across a real distro x arch x Python container matrix.",
    )
    parser.add_argument("--version", action="version", version=f"wheelmatrix {__version__}")
    parser.add_argument("--catalog", type=Path, default=None, help="distro catalog (default: distros.yaml)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="install and import wheels in every cell of the matrix")
    v.add_argument("inputs", nargs="+", metavar="WHEEL_OR_REQ", help="wheel files or requirements to test")
    v.add_argument(
        "--with",
        dest="companions",
        action="append",
        default=[],
        metavar="REQ",
        help="companion to install next to the candidates (requirement or wheel); repeatable",
    )
    v.add_argument(
        "--find-links",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="extra directory of wheels for the installer; repeatable",
    )
    v.add_argument("--distro", action="append", default=[], metavar="ID", help="distro id; repeatable")
    v.add_argument("--arch", action="append", default=[], choices=ARCHES, help="arch; repeatable")
    v.add_argument(
        "--python",
        action="append",
        default=[],
        type=_python_version,
        metavar="X.Y",
        help="only distros providing this Python; repeatable",
    )
    v.add_argument("--scenario", action="append", default=[], metavar="NAME", help="scenario; repeatable")
    v.add_argument(
        "--installer",
        choices=("uv", "pip"),
        default="uv",
        help="uv (default, fast, shared cache) or the image's own pip (fidelity)",
    )
    v.add_argument(
        "--link-mode",
        choices=("symlink", "copy"),
        default="symlink",
        help="uv: link installed files from the shared cache (fast, default) or copy them",
    )
    v.add_argument(
        "--with-known-problems",
        action="store_true",
        help="also run each applicable known-problem set (scenarios/known-problems.yaml) as companions",
    )
    v.add_argument(
        "--gdb",
        action="store_true",
        help="prepare images with gdb so crashed checks get a native backtrace (larger images)",
    )
    v.add_argument("--offline", action="store_true", help="install only from --find-links directories")
    v.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 2, help="cells in parallel")
    v.add_argument(
        "--timeout",
        type=_positive_float,
        default=120.0,
        metavar="S",
        help="per-check timeout in seconds (default 120)",
    )
    v.add_argument("--memory", type=_memory, default="4g", help="memory limit per container (default 4g)")
    v.add_argument("--pids", type=_positive_int, default=1024, help="process limit per container")
    v.add_argument("--json", type=Path, metavar="PATH", help="write a JSON report")
    v.add_argument("--junit", type=Path, metavar="PATH", help="write a JUnit XML report")
    v.add_argument("--markdown", type=Path, metavar="PATH", help="write a Markdown summary (CI step summary)")

    sc = sub.add_parser("scan", help="static ELF scan of wheels against their platform tags (no containers)")
    sc.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    sc.add_argument(
        "--json", type=Path, metavar="PATH", help="write the findings and per-file evidence as JSON"
    )

    sub.add_parser("doctor", help="report the engine, emulation, disk and what is missing")
    sub.add_parser("distros", help="list the distro catalog")
    return parser


def _catalog(args: argparse.Namespace) -> Catalog:
    return load_catalog(args.catalog or default_catalog_path())


def _select_distros(catalog: Catalog, ids: Sequence[str], client: Any) -> list[Distro]:
    """The distros asked for; by default every distro this machine can run.

    A distro can run when its prepared image is already here, when it has a local recipe and
    mmdebstrap is installed, or when the registry answers (asked once, only if needed).
    """
    if ids:
        return [catalog.get(i) for i in dict.fromkeys(ids)]
    from runner.backends.images import image_tag

    have_mmdebstrap = shutil.which("mmdebstrap") is not None
    local_tags = {
        t for img in client.images.list(filters={"label": "org.wheelmatrix.managed=true"}) for t in img.tags
    }
    registry_ok: bool | None = None
    out = []
    for distro in catalog.distros.values():
        buildable = distro.recipe is not None and have_mmdebstrap
        cached = any(image_tag(distro, a, None) in local_tags for a in distro.archs)
        if buildable or cached:
            out.append(distro)
            continue
        if registry_ok is None:
            registry_ok = _registry_reachable(client)
        if registry_ok:
            out.append(distro)
    return out


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    # Everything the user gave is checked before anything starts.
    catalog = _catalog(args)
    scenarios = select_scenarios(load_scenarios(default_scenarios_path()), args.scenario)
    candidates = parse_inputs(args.inputs, role="candidate")
    companions = parse_inputs(args.companions, role="companion")
    overlap = {p.name for p in candidates} & {p.name for p in companions}
    if overlap:
        raise InputError(f"'{', '.join(sorted(overlap))}' is both a candidate and a companion")
    for d in args.find_links:
        if not d.is_dir():
            raise InputError(f"--find-links {d}: not a directory")
    if args.offline and not args.find_links:
        raise InputError("--offline needs at least one --find-links directory")
    for distro_id in args.distro:
        catalog.get(distro_id)
    known = load_known_problems(default_known_problems_path())
    extra_sets = (
        [
            CompanionSet(
                name=k.id,
                projects=tuple(parse_inputs(list(k.packages), role=f"known problem {k.id}")),
                imports=k.imports,
                applies=k.applies,
            )
            for k in known
        ]
        if args.with_known_problems
        else []
    )
    scans = static_scans([*candidates, *companions])  # on the host, before anything runs

    from runner.backends.docker import CellOptions, DockerBackend, connect

    client = connect()
    distros = _select_distros(catalog, args.distro, client)
    if args.gdb:
        distros = [d.with_packages(("gdb",)) for d in distros]
    targets = select_targets(distros, args.arch, args.python, host_arch(), runnable_archs())
    cells = build_matrix(targets, scenarios, candidates, companions, extra_sets)

    run_id = uuid.uuid4().hex[:12]
    options = CellOptions(
        installer=args.installer,
        link_mode=args.link_mode,
        offline=args.offline,
        find_links=tuple(args.find_links),
        timeout_s=args.timeout,
        memory=args.memory,
        pids=args.pids,
        index=index_settings(),
    )
    backend = DockerBackend(client, options, run_id)
    reaped = backend.reap_stale()
    if reaped:
        console.print(f"removed {reaped} container(s) left by an earlier run that was killed", style="dim")
    console.print(
        f"wheelmatrix {__version__}: {len(cells)} cells "
        f"({len(targets)} distro/arch x {len(scenarios)} scenario), {args.jobs} in parallel, "
        f"installer {args.installer}",
        highlight=False,
    )
    stream = cache_dir() / "runs" / run_id / "results.jsonl"
    log = ResultLog(stream)
    predictions = [
        {"cell": c.label, "project": pr.project, **pr.finding.to_json()}
        for c in cells
        if c.scenario.kind == "import"
        for pr in predict_cell(c, scans)
    ]
    if predictions:
        console.print("[bold]Predicted before running[/] (from the static scan):")
        for pr in predictions:
            console.print(f"  {pr['cell']}: {pr['project']} {pr['message']}", highlight=False, soft_wrap=True)
    started = time.time()
    interrupted = _run(cells, backend, args.jobs, log, console)
    results = log.results
    log.close()
    order = {c.label: i for i, c in enumerate(cells)}
    results.sort(
        key=lambda r: order.get(
            f"{r.distro}/{r.arch}/py{r.python}/{r.scenario}" + (f"+{r.variant}" if r.variant else ""), 0
        )
    )
    results = diagnose(cells, results, scans, known)
    run_info: dict[str, Any] = {
        "id": run_id,
        "started": started,
        "duration_s": round(time.time() - started, 3),
        "installer": args.installer,
        "interrupted": interrupted,
        "cells": len(cells),
        "inputs": list(args.inputs),
        "companions": list(args.companions),
    }
    if args.json:
        write_json(args.json, results, {**run_info, "predictions": predictions}, scans_json(scans))
    if args.junit:
        write_junit(args.junit, results)
    if args.markdown:
        write_markdown(args.markdown, results, scans)
    # Reports are on disk before the terminal output, which a closed pipe could cut short.
    render_static(console, scans)
    render_table(console, results)
    if interrupted:
        console.print(f"interrupted: {len(results)} results kept in {stream}", style="bold")
        return 130
    return exit_code(results)


def _run(cells: list[Cell], backend: Any, jobs: int, log: ResultLog, console: Console) -> bool:
    from runner.scheduler import Scheduler

    with LiveProgress(console, len(cells)) as progress:
        scheduler = Scheduler(backend, jobs=jobs, on_result=log.add, on_event=progress.event)
        previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            scheduler.run(cells)
            return False
        except KeyboardInterrupt:
            scheduler.cancel()
            return True
        finally:
            backend.close()
            signal.signal(signal.SIGTERM, previous)


def _registry_reachable(client: Any) -> bool:
    try:
        client.images.get_registry_data("debian:12")
        return True
    except Exception:
        return False


def cmd_scan(args: argparse.Namespace, console: Console) -> int:
    """Exit 1 when a wheel over-claims its tag or needs a library it neither ships nor may assume."""
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
    render_static(console, scans)
    if args.json:
        from runner.reporters.jsonfile import _atomic_write

        _atomic_write(args.json, json.dumps({"static_scan": scans_json(scans)}, indent=2) + "\n")
    serious = {"over-claimed", "unshipped-library", "glibc-in-musllinux"}
    return 1 if any(f.kind in serious for s in scans.values() for f in s.findings) else 0


def cmd_distros(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    catalog = _catalog(args)
    table = Table(title=f"distro catalog ({catalog.source})")
    for col in ("id", "name", "libc", "python", "archs", "local recipe"):
        table.add_column(col)
    for d in catalog.distros.values():
        table.add_row(
            d.id, d.name, str(d.libc), d.python, ", ".join(d.archs), d.recipe.suite if d.recipe else "-"
        )
    console.print(table)
    return 0


def _stderr(message: str) -> None:
    """Errors go out whole, never folded: they name a path the user may copy."""
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Wheels may follow options (`validate a.whl --with x b.whl`): fold them back into inputs.
    unknown = [e for e in extra if e.startswith("-")]
    if unknown or (extra and args.command not in ("validate", "scan")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if extra and args.command == "validate":
        args.inputs = [*args.inputs, *extra]
    elif extra:
        args.wheels = [*args.wheels, *map(Path, extra)]
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)  # logs: do not fold the table at 80 columns
    try:
        if args.command == "validate":
            return cmd_validate(args, console)
        if args.command == "doctor":
            from runner.doctor import doctor

            return doctor(console)
        if args.command == "distros":
            return cmd_distros(args, console)
        if args.command == "scan":
            return cmd_scan(args, console)
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
    parser.error(f"unknown command{did_you_mean(str(args.command), ['validate', 'doctor', 'distros'])}")
    return 2
