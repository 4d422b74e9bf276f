"""`wheelmatrix repro --distro ID --arch ARCH [--python X.Y] REQ_OR_WHEEL... [--with REQ]... [-- CMD...]`:
one cell, live. The install and the command stream their output; the exit code is the
command's (128+N for signal N); at the end, the diagnosis the matrix would give. A failing
command leaves a reproducer bundle (wheelmatrix/bundle.py) anyone reruns with plain docker.

    --repeat N               run the command N times: how many failed, and how
    --from REPORT --check ID rerun one check of a matrix report or run directory
    --shell                  an interactive shell in the prepared cell instead of a command
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from wheelmatrix.cli.common import cell_config, install_failed
from wheelmatrix.cli.options import add_cell_arguments, add_input_arguments, add_sandbox_arguments
from wheelmatrix.config.limits import REPEAT
from wheelmatrix.errors import InputError
from wheelmatrix.options import count_in

if TYPE_CHECKING:
    from wheelmatrix.model import CheckResult
    from wheelmatrix.service.live import LiveCell, Outcome

HELP = "run one cell live: stream the output, exit as the command, diagnose, write a reproducer bundle"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "repro",
        help=HELP,
        description=HELP + ". Put the command after `--` (default: import everything given, in order).",
    )
    add_input_arguments(p, inputs_required=False)
    add_cell_arguments(p, required=False)
    add_sandbox_arguments(p)
    p.add_argument(
        "--repeat",
        type=count_in(REPEAT),
        default=1,
        metavar="N",
        help=f"run the command N times ({REPEAT.describe()})",
    )
    p.add_argument(
        "--bundle",
        type=Path,
        metavar="DIR",
        help="write the reproducer bundle here "
        "(default: ./wheelmatrix-repro-DISTRO-ARCH, when the command fails)",
    )
    p.add_argument("--no-bundle", action="store_true", help="write no bundle, even when the command fails")
    p.add_argument(
        "--shell", action="store_true", help="an interactive shell in the prepared cell (venv active)"
    )
    p.add_argument("--network", action="store_true", help="leave the network attached after the install")
    p.add_argument(
        "--from", dest="from_results", type=Path, metavar="REPORT", help="a JSON report or run directory"
    )
    p.add_argument("--check", dest="check_id", metavar="ID", help="with --from: the check id to rerun")
    p.set_defaults(func=main)


def main(args: argparse.Namespace, console: Console) -> int:
    from wheelmatrix.backends.factory import connect
    from wheelmatrix.service.live import LiveCell, engine_of, import_argv, single_cell

    command = list(getattr(args, "command_argv", None) or [])
    if args.from_results is not None or args.check_id is not None:
        command = _from_results(args, command)
    elif not args.inputs:
        raise InputError("repro needs at least one wheel file or requirement")
    if args.bundle is not None:
        from wheelmatrix.service.bundle import check_destination

        check_destination(args.bundle)  # before anything starts
    if args.shell and args.repeat != 1:
        raise InputError("--shell and --repeat do not go together")
    plan, cell = single_cell(cell_config(args))
    client = connect(engine_of(plan))
    out = _Out(console)
    with LiveCell(plan, cell, client, log=out.note, image=getattr(args, "image_ref", None)) as live:
        out.note(
            f"cell {cell.id}: installing {', '.join(p.project for p in (*cell.candidates, *cell.companions))}"
        )
        if not live.open(on_output=out.line, network=args.network):
            return install_failed(live, console)
        argv = command or import_argv(live.given_modules())
        if args.shell:
            return _shell(live, console, network=args.network)
        return _run(live, argv, args, console, out)


class _Out:
    """Streamed lines go straight to stdout, unfolded and unstyled (they are the program's)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def line(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        self.console.print(f"[dim]wheelmatrix:[/] {escape(text)}", highlight=False, soft_wrap=True)


def _run(live: LiveCell, argv: list[str], args: argparse.Namespace, console: Console, out: _Out) -> int:
    import shlex

    out.note(f"running: {shlex.join(argv)}")
    outcomes: list[Outcome] = []
    for i in range(args.repeat):
        if args.repeat > 1:
            out.note(f"run {i + 1}/{args.repeat}")
        outcome = live.run(argv, on_output=out.line)
        outcomes.append(outcome)
        if args.repeat > 1:
            out.note(f"run {i + 1}/{args.repeat}: {outcome.signature} ({outcome.duration_s:.1f} s)")
    failing = [o for o in outcomes if o.failed]
    shown = failing[0] if failing else outcomes[-1]
    result = live.explain(shown, argv)
    _summary(console, outcomes, result, shown)
    if args.bundle is not None or (failing and not args.no_bundle):
        _bundle(live, argv, result, shown, args, out)
    return shown.exit_code


def _summary(console: Console, outcomes: list[Outcome], result: CheckResult, shown: Outcome) -> None:
    failing = [o for o in outcomes if o.failed]
    if len(outcomes) > 1:
        kinds = Counter(o.signature for o in failing)
        how = escape(", ".join(f"{k} x{n}" for k, n in kinds.most_common()))
        console.print(
            f"[bold]{len(failing)} of {len(outcomes)} runs failed[/]" + (f": {how}" if how else ""),
            highlight=False,
            soft_wrap=True,
        )
    style = "green" if result.status.value == "passed" else "bold red"
    console.print(
        f"[{style}]{result.status.value}[/] (exit {shown.exit_code})"
        + (f": {escape(result.detail)}" if result.detail else ""),
        highlight=False,
        soft_wrap=True,
    )
    if result.diagnosis:
        console.print(f"[bold]diagnosis:[/] {escape(result.diagnosis)}", highlight=False, soft_wrap=True)


def _bundle(
    live: LiveCell, argv: list[str], result: CheckResult, shown: Outcome, args: Any, out: _Out
) -> None:
    from wheelmatrix.service.bundle import BundleSpec, default_destination, write_bundle

    dest = args.bundle or default_destination(live.cell, Path.cwd())
    spec = BundleSpec(
        cell=live.cell,
        image=live.image,
        argv=argv,
        result=result,
        exit_code=shown.exit_code,
        signature=shown.signature,
        installed=live.installed,
        find_links=live.options.find_links,
        memory=live.options.memory,
        pids=live.options.pids,
    )
    path = write_bundle(dest, spec, live.backend, out.note)
    out.note(f"reproducer bundle: {path} (rerun with `sh {path}/run.sh`; needs docker only)")


def _shell(live: LiveCell, console: Console, *, network: bool) -> int:
    import subprocess

    argv = live.started.interactive_argv(
        ["/bin/sh", "-c", "if command -v bash >/dev/null; then exec bash; else exec sh; fi"],
        user=live.started.check_user,
        env={**live.env(), "HOME": "/tmp", "PS1": f"({live.cell.distro.id}/{live.cell.arch}) \\w $ "},
        tty=sys.stdin.isatty(),
    )
    net = "network attached" if network else "no network"
    console.print(
        f"[dim]wheelmatrix:[/] shell in {escape(live.cell.id)} as nobody, venv active, {net}; "
        "the container is removed on exit",
        highlight=False,
        soft_wrap=True,
    )
    return subprocess.call(argv)


def _from_results(args: argparse.Namespace, command: list[str]) -> list[str]:
    """Fill args from one check of a report: its cell, inputs pinned to the versions it had,
    its image, and its command."""
    from wheelmatrix.model import installed_versions
    from wheelmatrix.run.rundir import load_results
    from wheelmatrix.service.live import import_argv

    if args.from_results is None or args.check_id is None:
        raise InputError("--from REPORT and --check ID go together")
    loaded = load_results(args.from_results)
    matches = [r for r in loaded.results if r.check_id == args.check_id]
    if not matches:
        ids = [r.check_id for r in loaded.results]
        close = [i for i in ids if args.check_id in i][:5]
        raise InputError(
            f"{args.from_results}: no check with id '{args.check_id}'",
            hint=("did you mean: " + "; ".join(close))
            if close
            else "`wheelmatrix compare` and the JSON report list check ids",
        )
    r = matches[-1]
    args.distro, args.arch, args.python = r.distro, r.arch, r.python
    wheels = _wheel_files(r, loaded, args)
    versions = installed_versions(r.installed)
    from_files = {_dist_of(w) for w in wheels}
    args.inputs = [str(w) for w in wheels] or [f"{n}=={v}" for n, v in versions.items()][:1]
    pinned = [
        f"{n}=={v}" for n, v in versions.items() if n not in from_files and f"{n}=={v}" not in args.inputs
    ]
    args.companions = [*(args.companions or []), *pinned]
    if r.image:
        args.image_ref = r.image
    if command:
        return command
    argv = r.evidence.get("argv")
    modules = r.evidence.get("modules")
    if argv:
        return [str(a) for a in argv]
    if modules:
        return import_argv([str(m) for m in modules])
    raise InputError(
        f"check '{args.check_id}' ran no command wheelmatrix can rerun (no modules, no argv)",
        hint="give the command after `--`",
    )


def _dist_of(path: Path) -> str:
    from packaging.utils import canonicalize_name, parse_wheel_filename

    return str(canonicalize_name(parse_wheel_filename(path.name)[0]))


def _wheel_files(r: CheckResult, loaded: Any, args: argparse.Namespace) -> list[Path]:
    """The wheel files the check installed: given on the command line, else those the run was
    started with (its config.json), matched by file name and, for candidates, sha256."""
    from wheelmatrix.inputs.wheels import file_sha256

    given = [Path(i) for i in (args.inputs or []) if str(i).endswith(".whl")]
    started = []
    if loaded.kind == "run":
        cfg = _run_config(loaded.source)
        cwd = Path(cfg.get("cwd") or ".")
        started = [cwd / a for a in cfg.get("argv", []) if str(a).endswith(".whl")]
    found: list[Path] = []
    for name in r.wheels:
        sha = r.wheel_sha256.get(name)
        pool = [p for p in (*given, *started) if p.name == name and p.is_file()]
        pool = [p for p in pool if sha is None or file_sha256(p) == sha]
        if not pool:
            raise InputError(
                f"the check installed {name}, which is not here"
                + (f" with sha256 {sha[:12]}..." if sha else ""),
                hint="give that wheel file as an input: "
                "`wheelmatrix repro --from REPORT --check ID WHEEL...`",
            )
        found.append(pool[0])
    return found


def _run_config(run_dir: Path) -> dict[str, Any]:
    import json

    try:
        doc: dict[str, Any] = json.loads((run_dir / "config.json").read_text())
        return doc
    except (OSError, ValueError):
        return {}
