"""What every report writer is: a `Reporter` (a format name, the option that asks for it, and
`write(results, context, path)`), and the `ReportContext` it is written with. `path` `-` is
standard output; a path that cannot be written is bad input (exit 2), named with the format."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from wheelmatrix import __version__
from wheelmatrix.errors import InputError
from wheelmatrix.fsutil import atomic_write_text
from wheelmatrix.model import CheckResult
from wheelmatrix.scan.policy import WheelScan

STDOUT = Path("-")
_WRITABLE_HINT = "give a path in a directory you can write to, or - for standard output"


@dataclass(frozen=True, kw_only=True)
class ReportContext:
    """What writers need besides the results.

    run: the run's information (id, engine, duration, inputs...; `merged_from` after a merge).
    static: the static scans as JSON (the `static_scan` of a JSON report), readable back.
    scans: the scans themselves, when this process made them (empty for stored results).
    """

    run: Mapping[str, Any] = field(default_factory=dict)
    static: Sequence[Mapping[str, Any]] = ()
    scans: Mapping[str, WheelScan] = field(default_factory=dict)
    tool_version: str = __version__


class Reporter(Protocol):
    @property
    def name(self) -> str:
        """The format name (`report render --format NAME`)."""
        ...

    @property
    def option(self) -> str:
        """The command-line flag (`--OPTION PATH`) and `reports:` key that ask for this format."""
        ...

    @property
    def description(self) -> str: ...

    def write(self, results: Sequence[CheckResult], context: ReportContext, path: Path) -> None: ...


Render = Callable[[Sequence[CheckResult], ReportContext], str]


@dataclass(frozen=True)
class TextReporter:
    """A reporter whose report is one text: rendered, then written atomically (or to stdout)."""

    name: str
    description: str
    render: Render
    option: str = ""

    def __post_init__(self) -> None:
        if not self.option:
            object.__setattr__(self, "option", self.name)

    def write(self, results: Sequence[CheckResult], context: ReportContext, path: Path) -> None:
        write_output(self.name, path, self.render(results, context))


def write_output(format_name: str, path: Path, text: str) -> None:
    """`text` to `path` atomically, or to standard output when `path` is `-`."""
    if path == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        atomic_write_text(Path(path), text)
    except OSError as exc:
        raise InputError(
            f"cannot write the {format_name} report to {path}: {exc.strerror or exc}", hint=_WRITABLE_HINT
        ) from exc


def check_writable(format_name: str, path: Path) -> None:
    """Refuse, before anything runs, a report path that cannot be written: a directory, or one
    whose nearest existing parent is not a writable directory."""
    if path == STDOUT:
        return
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"cannot write the {format_name} report to {path}: it is a directory", hint=_WRITABLE_HINT
        )
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(
            f"cannot write the {format_name} report to {path}: {parent} is not a writable directory",
            hint=_WRITABLE_HINT,
        )


def picked_wheel_lines(r: CheckResult, *, short: bool = False) -> list[str]:
    """One line per distribution installed in the result's cell: name version, the wheel's
    platform tag and file, its sha256 (or why there is none) and where that was read."""
    versions = r.installed_versions
    lines = []
    for dist, got in sorted(r.installed_wheels.items()):
        tag = str(got.get("tag") or "?").split("-", 2)[-1]
        sha = got.get("sha256")
        digest = (
            f"sha256 {sha[:16] if short else sha}" if sha else f"no sha256: {got.get('no_hash') or 'unknown'}"
        )
        file = "" if short else f"  {got.get('file')}"
        lines.append(f"{dist} {versions.get(dist, '?')}  {tag}{file}  {digest}  ({got.get('source') or '?'})")
    return lines
