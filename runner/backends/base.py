"""The backend interface the scheduler drives (it never imports docker)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from runner.config.catalog import Distro
from runner.matrix import Cell
from runner.results import CheckResult

Log = Callable[[str], None]


class Backend(Protocol):
    def prepare_image(self, distro: Distro, arch: str, log: Log) -> str:
        """Make the cell image for distro/arch ready; return its reference. Raise on failure."""
        ...

    def run_cell(self, cell: Cell, image: str, cancel: threading.Event) -> list[CheckResult]:
        """Run one cell; never raise for a wheel's misbehaviour (that is a result)."""
        ...

    def close(self) -> None:
        """Remove every container this run created."""
        ...
