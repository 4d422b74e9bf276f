"""`wheelmatrix minimize --distro ID --arch ARCH REQ_OR_WHEEL... [-r FILE]... [--with REQ]...`:
the smallest set, and import order, that still fails the same way (same status, same signal or
exception type) in one cell, by delta debugging; each step printed.

The whole set is installed once; each step imports a subset in that environment (no install
per step). The result is then confirmed in a fresh cell with only the minimal set installed;
if it does not fail there (it needs something installed but never imported), the search is
redone with a fresh install per step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from wheelmatrix.cli.options import add_cell_arguments, add_input_arguments, add_sandbox_arguments
from wheelmatrix.errors import InputError

if TYPE_CHECKING:
    from wheelmatrix.service.live import Outcome

HELP = "shrink a failing set to the fewest packages and the import order that still fail the same way"


def register(sub: Any) -> None:
    p = sub.add_parser("minimize", help=HELP, description=HELP)
    add_input_arguments(p, inputs_required=False)
    p.add_argument(
        "-r",
        "--requirements",
        action="append",
        type=Path,
        default=None,
        metavar="FILE",
        help="a requirements file (e.g. a user's `pip freeze`), in import order; repeatable",
    )
    add_cell_arguments(p)
    add_sandbox_arguments(p)
    p.set_defaults(func=main)


def gather_inputs(args: argparse.Namespace) -> list[str]:
    from wheelmatrix.service.minimize import parse_requirements_file

    items = list(args.inputs or [])
    for path in args.requirements or []:
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
        items += parse_requirements_file(text, str(path))
    if len(items) < 2:
        raise InputError("minimize needs a set of at least two packages (arguments or -r FILE)")
    return items


class Steps:
    """Runs and prints the steps of a search against one signature."""

    def __init__(self, console: Console, want: str) -> None:
        self.console = console
        self.want = want
        self.count = 0

    def show(self, names: list[str], outcome: Outcome, fresh: bool = False) -> bool:
        self.count += 1
        same = outcome.signature == self.want
        verdict = "same failure" if same else ("passes" if not outcome.failed else "fails differently")
        how = " (fresh install)" if fresh else ""
        self.console.print(
            f"step {self.count}{how}: {len(names)} package(s) [{', '.join(names)}] -> "
            f"{outcome.signature}: {verdict}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
        return same


def main(args: argparse.Namespace, console: Console) -> int:
    from wheelmatrix.backends.factory import connect
    from wheelmatrix.cli.common import cell_config
    from wheelmatrix.service.live import LiveCell, engine_of, import_argv, single_cell
    from wheelmatrix.service.minimize import Search

    items = gather_inputs(args)
    args.inputs = items
    plan, cell = single_cell(cell_config(args))
    client = connect(engine_of(plan))
    note = _note(console)
    started = time.monotonic()
    with LiveCell(plan, cell, client, log=note) as live:
        note(f"installing all {len(items)} packages once in {cell.id}")
        if not live.open():
            from wheelmatrix.cli.common import install_failed

            return install_failed(live, console)
        projects = [p for p in _projects_in_order(items) if any(c.project == p for c in cell.candidates)]
        modules = {p: live.modules.get(p, []) for p in projects}
        silent = [p for p in projects if not modules[p]]
        if silent:
            note(f"no importable module, left out of the imports: {', '.join(silent)}")
        names = [p for p in projects if modules[p]]

        def run(subset: tuple[str, ...]) -> Outcome:
            return live.run(import_argv([m for p in subset for m in modules[p]]))

        first = run(tuple(names))
        console.print(f"the whole set ({len(names)} packages): {first.signature}", highlight=False)
        if not first.failed:
            console.print("the set does not fail in this cell: nothing to minimize", highlight=False)
            return 0
        steps = Steps(console, first.signature)
        search: Search[str] = Search(lambda s: steps.show(list(s), run(s)))
        search.tried[tuple(names)] = True
        smallest = search.ddmin(names)
        order, reverse_same = _order(search, smallest)
        runs = search.runs
    confirmed, result = _fresh(args, order, steps, note)
    runs += 1
    if not confirmed:
        note(
            "the minimal set does not fail alone: it needs packages installed but not imported; "
            "searching again with a fresh install per step"
        )
        search = Search(lambda s: _fresh(args, list(s), steps, note)[0])
        search.tried[tuple(names)] = True
        smallest = search.ddmin(names)
        order, reverse_same = _order(search, smallest)
        runs += search.runs
        confirmed, result = _fresh(args, order, steps, note)
        runs += 1
    took = time.monotonic() - started
    console.print(
        f"[bold]minimal set[/] ({len(order)} of {len(names)}, {runs} cell runs, {took:.1f} s): "
        + ", ".join(order),
        highlight=False,
        soft_wrap=True,
    )
    if len(order) > 1:
        console.print(
            f"import order: {' then '.join(order)}"
            + ("; the reverse order fails the same way" if reverse_same else "; the reverse order does not"),
            highlight=False,
            soft_wrap=True,
        )
    if result is not None:
        console.print(f"{result.status.value}: {escape(result.detail)}", highlight=False, soft_wrap=True)
        if result.diagnosis:
            console.print(f"[bold]diagnosis:[/] {escape(result.diagnosis)}", highlight=False, soft_wrap=True)
    return 1


def _order(search: Any, smallest: list[str]) -> tuple[list[str], bool]:
    """The failing order of the minimal set (the given one) and whether the reverse fails too."""
    if len(smallest) < 2:
        return smallest, True
    return smallest, search.fails(tuple(reversed(smallest)))


def _fresh(args: argparse.Namespace, order: list[str], steps: Steps, note: Any) -> tuple[bool, Any]:
    """A fresh cell with only `order` installed, importing them in that order."""
    from wheelmatrix.backends.factory import connect
    from wheelmatrix.cli.common import cell_config
    from wheelmatrix.service.live import LiveCell, engine_of, import_argv, single_cell

    sub = argparse.Namespace(**vars(args))
    sub.inputs = _inputs_for(args.inputs, order)
    plan, cell = single_cell(cell_config(sub))
    with LiveCell(plan, cell, connect(engine_of(plan)), log=note) as live:
        if not live.open():
            return False, None
        mods = [m for p in order for m in live.modules.get(p, [])]
        argv = import_argv(mods)
        outcome = live.run(argv)
        same = steps.show(order, outcome, fresh=True)
        return same, live.explain(outcome, argv) if outcome.failed else None


def _project_of(text: str) -> str:
    from wheelmatrix.inputs.wheels import parse_inputs

    return str(parse_inputs([text], role="candidate")[0].name)


def _projects_in_order(inputs: list[str]) -> list[str]:
    """The projects of the inputs in the order given (the import order to keep)."""
    return list(dict.fromkeys(_project_of(t) for t in inputs))


def _inputs_for(inputs: list[str], projects: list[str]) -> list[str]:
    """The original inputs (wheel paths or requirements) of the given projects, in that order."""
    by_project: dict[str, list[str]] = {}
    for text in inputs:
        by_project.setdefault(_project_of(text), []).append(text)
    return [t for p in projects for t in by_project.get(p, [])]


def _note(console: Console) -> Any:
    def note(text: str) -> None:
        console.print(f"[dim]wheelmatrix:[/] {escape(text)}", highlight=False, soft_wrap=True)

    return note
