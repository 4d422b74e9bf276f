"""The interfaces between the layers: the scheduler drives a `Backend`, the cell flow
(wheelmatrix/cell.py) drives a `Sandbox`. Neither imports docker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from wheelmatrix.config.catalog import Distro
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult

Log = Callable[[str], None]


class Backend(Protocol):
    def prepare_image(self, distro: Distro, arch: str, log: Log) -> str:
        """Make the cell image for distro/arch ready; return its reference. Raise on failure."""
        ...

    def run_cells(self, cells: Sequence[Cell], image: str, cancel: threading.Event) -> list[CheckResult]:
        """Run the scenario cells of one distro/arch/Python/companion set (one container, one
        install); never raise for a wheel's misbehaviour (that is a result)."""
        ...

    def close(self) -> None:
        """Remove every container this run created."""
        ...


class Sandbox(Protocol):
    """One cell's started, isolated environment (a container), as the cell flow sees it."""

    image_id: str  # the image it runs (content id), recorded with every result
    engine: str  # which engine runs it
    install_user: str  # user for installs (may write the shared installer cache)
    check_user: str  # user for package code (unprivileged)

    def probe(
        self,
        command: str,
        plan: Mapping[str, Any],
        *,
        user: str,
        budget: float,
        script: str = ...,
        on_output: Callable[[str], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Run an in-container probe command; its records. Raise InfrastructureError if it
        failed without a record; stop it (and the sandbox) after `budget` seconds. With
        `on_output`, the output of what the probe runs reaches it line by line, live."""
        ...

    def isolate(self) -> None:
        """Cut the network. Called after installs, before any package code runs."""
        ...

    def put_dir(self, local: Path, target: str) -> None:
        """Copy a host directory into the sandbox at `target` (readable by check_user)."""
        ...

    def read_file(self, path: str) -> bytes:
        """The bytes of one file in the sandbox (through the engine API)."""
        ...
