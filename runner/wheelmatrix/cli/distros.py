"""`wheelmatrix distros`: the distro catalog (shipped, plus the user's --catalog file)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

HELP = "list the distro catalog"


def register(sub: Any) -> None:
    p = sub.add_parser("distros", help=HELP, description=HELP)
    p.add_argument(
        "--registry-mirror",
        default=None,
        metavar="PREFIX",
        help="judge the registry rows through this mirror (default: $WHEELMATRIX_REGISTRY_MIRROR)",
    )
    p.set_defaults(func=main)


def source_of(d: Any) -> str:
    parts = []
    if d.images:
        parts.append(", ".join(sorted(set(d.images.values()))))
    if d.recipe is not None:
        parts.append(f"{d.recipe.suite} (mmdebstrap)" if d.recipe.tool == "mmdebstrap" else d.recipe.tool)
    return "; ".join(parts)


def main(args: argparse.Namespace, console: Console) -> int:
    from wheelmatrix.backends.availability import Probe, causes, check_all
    from wheelmatrix.config.catalog import load_catalogs

    catalog = load_catalogs(args.catalog)
    from wheelmatrix.backends.base import Connection
    from wheelmatrix.backends.factory import connect

    connection: Connection | None
    try:
        connection = connect()
    except Exception:
        connection = None
    mirror = getattr(args, "registry_mirror", None)
    rows = check_all(list(catalog.distros.values()), Probe(connection, mirror))
    here = {(r.distro, r.arch): r for r in rows}
    stopped = causes(rows)
    number = {(r.distro, r.arch): i for i, c in enumerate(stopped, 1) for r in c.rows}
    title = "distro catalog (" + " + ".join(str(s) for s in catalog.sources) + ")"
    table = Table(title=title)
    for col in ("id", "name", "libc", "python", "image / local recipe", "runs here"):
        table.add_column(col, overflow="fold")
    for d in catalog.distros.values():
        lines = []
        for arch in d.archs:
            r = here[(d.id, arch)]
            if r.runnable:
                lines.append(f"{arch}: [green]yes[/], {escape(r.how)}")
            else:  # the cause is said once, under the table, for every row it stops
                lines.append(f"{arch}: [red]no[/], cause {number[(d.id, arch)]} below")
        table.add_row(d.id, d.name, str(d.libc), d.python, source_of(d), "\n".join(lines))
    console.print(table)
    runnable = sum(r.runnable for r in rows)
    console.print(f"{runnable} of {len(rows)} distro/arch rows can run on this host.")
    for i, cause in enumerate(stopped, 1):
        console.print(f"  cause {i}: {escape(cause.line())}", highlight=False, soft_wrap=True)
    return 0
