"""What a scenario runner sees of its cell: `CellRun` (implemented by CellFlow), after the install
and the network cut."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from wheelmatrix.backends.base import Sandbox
from wheelmatrix.cell.options import CellOptions
from wheelmatrix.cell.plan import Installed, MakeResult
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult, Status


class CellRun(Protocol):
    cell: Cell  # the scenario cell being run (one of a group sharing the install)
    sandbox: Sandbox
    options: CellOptions
    cancel: threading.Event
    site_dirs: list[str]  # the venv's site-packages directories
    installed: Installed
    project_dirs: dict[Path, str]  # scenario sources -> where they were copied in the cell
    prepared: dict[str, list[CheckResult]]  # scenario -> results of its kind's `prepare`
    # kinds of the scenarios that run after this one in the same sandbox (a kind may leave
    # them what it observed: the import kind's traced imports, for the symbols kind)
    later: tuple[str, ...]

    @property
    def result(self) -> MakeResult:
        """Makes one check result of this cell."""
        ...

    def missing(self, check: str) -> CheckResult:
        """The error result of a check the probe gave no record for."""
        ...

    def phase_done(self, name: str, seconds: float) -> None:
        """Add a phase timed inside the cell (a probe's steps) to the run's profile."""
        ...

    def oom(self, status: Status, rec: Mapping[str, Any], detail: str) -> tuple[str, str]:
        """(detail, diagnosis) naming the OOM killer when it killed this check; else (detail, "")."""
        ...

    def static_tls(self, check_id: str, code: str) -> str:
        """The diagnosis of an import that ran out of static TLS (re-run with a larger reserve)."""
        ...

    def crash_evidence(self, code: str) -> dict[str, Any]:
        """Native evidence of a crashed check, from a re-run: fault address, gdb, bindings."""
        ...
