"""`wheelmatrix doctor`: what this host can run, and the command that fixes what is missing."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from wheelmatrix.errors import EXIT_INFRASTRUCTURE, EXIT_OK

HELP = "report the engine, emulation, disk and what is missing"


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help=HELP, description=HELP)
    p.set_defaults(func=main)


def main(args: argparse.Namespace, console: Console) -> int:
    return doctor(console)


def doctor(console: Console) -> int:
    from wheelmatrix.host import (  # here, not at the top: `import wheelmatrix.cli` stays fast
        binfmt_enabled,
        ca_bundle,
        cache_dir,
        free_disk_gib,
        host_arch,
        index_settings,
        setup_command,
    )

    SETUP = setup_command()
    table = Table(title="wheelmatrix doctor")
    for col in ("what", "state", "fix"):
        table.add_column(col, overflow="fold")
    essential_ok = True

    from wheelmatrix.backends.base import Connection
    from wheelmatrix.backends.factory import connect

    connection: Connection | None = None
    try:
        connection = connect()
        facts = connection.facts()
        table.add_row(
            "engine",
            f"[green]ok[/] {facts.product} {facts.version} (API {facts.api}), "
            f"{facts.storage_driver}, cgroup v{facts.cgroup}",
            "",
        )
        docker_root = facts.storage_root or Path("/")
    except Exception as exc:
        essential_ok = False
        docker_root = Path("/")
        cause = exc.__context__ or exc  # connect() names the engine; the SDK's own error says why
        table.add_row(
            "engine",
            f"[red]missing[/] ({type(cause).__name__})",
            f"{SETUP}  (or set DOCKER_HOST to a running engine)",
        )

    native = host_arch()
    for arch in ("x86_64", "aarch64"):
        if arch == native:
            table.add_row(f"{arch} containers", "[green]native[/]", "")
        elif binfmt_enabled(arch):
            table.add_row(f"{arch} containers", "[green]emulated[/] (QEMU via binfmt_misc)", "")
        else:
            table.add_row(
                f"{arch} containers", "[yellow]unavailable[/] (no binfmt_misc entry for QEMU)", SETUP
            )

    mmdebstrap = shutil.which("mmdebstrap")
    table.add_row(
        "local Debian images",
        "[green]mmdebstrap found[/]"
        if mmdebstrap
        else "[yellow]mmdebstrap missing[/] (needed when no registry is reachable)",
        "" if mmdebstrap else SETUP,
    )
    import os

    from wheelmatrix.scan.cpu import QEMU_STATIC

    have = [arch for arch, path in QEMU_STATIC.items() if os.access(path, os.X_OK)]
    table.add_row(
        "CPU-level cells (--cpu)",
        f"[green]{', '.join(have)}[/] (static QEMU user emulators)"
        if len(have) == len(QEMU_STATIC)
        else f"[yellow]missing for {', '.join(a for a in QEMU_STATIC if a not in have)}[/]",
        "" if len(have) == len(QEMU_STATIC) else SETUP,
    )
    for label, path in (("cache", cache_dir()), ("engine storage", docker_root)):
        try:
            gib = free_disk_gib(path)
            state = f"{gib:.1f} GiB free at {path}"
            table.add_row(
                f"disk ({label})",
                ("[green]" if gib > 10 else "[yellow]") + state + "[/]",
                "" if gib > 10 else "free space: a Debian image is ~250 MB, uv cache grows",
            )
        except OSError:
            table.add_row(f"disk ({label})", f"[yellow]unknown[/] ({path})", "")
    ca = ca_bundle()
    table.add_row(
        "CA bundle",
        f"[green]{ca}[/]" if ca else "[yellow]none found[/]",
        "" if ca else "set SSL_CERT_FILE to your CA bundle",
    )
    idx = index_settings()
    table.add_row(
        "package index",
        idx.index_url or "default (PyPI)",
        "proxies: " + ", ".join(idx.proxy_env) if idx.proxy_env else "",
    )
    console.print(table)
    if essential_ok:
        from wheelmatrix.backends.availability import Probe, causes, check_all
        from wheelmatrix.config.catalog import load_catalogs

        rows = check_all(list(load_catalogs(None).distros.values()), Probe(connection))
        can = [f"{r.distro}/{r.arch}" for r in rows if r.runnable]
        console.print(
            f"[bold]Rows this host can run[/] ({len(can)} of {len(rows)}): {', '.join(can) or 'none'}"
        )
        stopped = causes(rows)
        if stopped:
            total = sum(len(c.rows) for c in stopped)
            console.print(
                f"[bold]Rows it cannot run[/] ({total}, by cause; `wheelmatrix distros` has them all):"
            )
            for stop in stopped:
                console.print(f"  {escape(stop.line())}", highlight=False, soft_wrap=True)
    return EXIT_OK if essential_ok else EXIT_INFRASTRUCTURE
