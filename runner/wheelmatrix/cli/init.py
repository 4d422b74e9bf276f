"""`wheelmatrix init`: write a commented starter wheelmatrix.yaml from dist/ and pyproject.toml."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from wheelmatrix.errors import InputError

HELP = "write a commented starter wheelmatrix.yaml for this project"


def register(sub: Any) -> None:
    p = sub.add_parser("init", help=HELP, description=HELP)
    p.add_argument("--project", type=Path, default=Path("."), help="project directory (default: .)")
    p.add_argument("--output", type=Path, help="file to write (default: PROJECT/wheelmatrix.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=main)


def main(args: argparse.Namespace, console: Console) -> int:
    from wheelmatrix.options import starter_config

    project = args.project
    if not project.is_dir():
        raise InputError(f"{project}: not a directory")
    out = args.output or project / "wheelmatrix.yaml"
    if out.exists() and not args.force:
        raise InputError(f"{out} already exists", hint="edit it, or pass --force to overwrite it")
    text = starter_config(project)
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}; run it with: wheelmatrix run -c {out}", highlight=False)
    return 0
