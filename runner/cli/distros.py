"""`wheelmatrix distros`: the distro catalog (shipped, plus the user's --catalog file)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

HELP = "list the distro catalog"


def register(sub: Any) -> None:
    p = sub.add_parser("distros", help=HELP, description=HELP)
    p.set_defaults(func=main)


def main(args: argparse.Namespace, console: Console) -> int:
    from runner.config.catalog import load_catalogs

    catalog = load_catalogs(args.catalog)
    title = "distro catalog (" + " + ".join(str(s) for s in catalog.sources) + ")"
    table = Table(title=title)
    for col in ("id", "name", "libc", "python", "archs", "image / local recipe"):
        table.add_column(col, overflow="fold")
    for d in catalog.distros.values():
        source = d.recipe.suite + " (mmdebstrap)" if d.recipe else ", ".join(sorted(set(d.images.values())))
        table.add_row(d.id, d.name, str(d.libc), d.python, ", ".join(d.archs), source)
    console.print(table)
    return 0
