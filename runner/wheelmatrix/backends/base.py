"""The backend seam: every kind of engine implements these protocols, nothing more.

A `Connection` is one engine as the user names it (a URL); `Connection.open` starts a run on
it and gives an `Engine` (images, sandboxes, clean-up); an `Engine` makes `Sandbox`es, one
per cell, which the cell flow (wheelmatrix/cell/flow.py) drives. The scheduler drives a
`Backend` (run/engines.py's EngineSet, over one or more engines). Nothing here imports an
engine SDK; backends/factory.py picks the implementation from the engine URL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from wheelmatrix.config.catalog import Distro
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult

Log = Callable[[str], None]


class EngineDown(InfrastructureError):
    """The engine stopped answering (connection refused or reset): the cell is not at fault."""


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """What an engine needs to know of a run to start its sandboxes (taken from CellOptions)."""

    installer: str  # "uv" or "pip"; distros without uv support always get pip
    memory: str  # container memory limit, e.g. "2g"
    pids: int  # process limit
    registry_mirror: str | None = None
    find_links_targets: tuple[tuple[str, Path], ...] = ()  # (path in the cell, host directory)

    def installer_for(self, cell: Cell) -> str:
        return self.installer if cell.distro.supports_uv else "pip"


@dataclass(frozen=True, kw_only=True)
class EngineFacts:
    """What `doctor` shows of an engine."""

    product: str  # "docker", "podman", ...
    version: str
    api: str = ""
    storage_driver: str = ""
    cgroup: str = ""
    storage_root: Path | None = None


class Backend(Protocol):
    """What the scheduler drives (run/engines.py's EngineSet implements it over engines)."""

    engine: str  # which engine(s) run the cells, for the report

    def prepare_image(self, distro: Distro, arch: str, log: Log) -> str:
        """Make the cell image for distro/arch ready; return its reference. Raise on failure."""
        ...

    def run_cells(self, cells: Sequence[Cell], image: str, cancel: threading.Event) -> list[CheckResult]:
        """Run the scenario cells of one distro/arch/Python/companion set (one container, one
        install); never raise for a wheel's misbehaviour (that is a result)."""
        ...

    def warm(self, cells: Sequence[Cell], image: str, cancel: threading.Event) -> None:
        """Cells that will run soon: their sandbox may be started now, ahead of them (or not)."""
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
    native_probe: bool  # an emulated cell's probes run at native speed (native_python.py)

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

    def put_dir(self, local: Path, target: str, skip: Collection[str] = ()) -> None:
        """Copy a host directory into the sandbox at `target` (readable by check_user), leaving
        out the entries of its top level whose names are in `skip`."""
        ...

    def read_file(self, path: str) -> bytes:
        """The bytes of one file in the sandbox (through the engine API)."""
        ...

    def read_tree(self, path: str) -> Iterable[bytes]:
        """A directory of the sandbox as a tar stream, in chunks (through the engine API);
        nothing when the sandbox has no such directory."""
        ...

    def put_tree(self, parent: str, archive: IO[bytes]) -> None:
        """Unpack a tar archive (a seekable file) into `parent` in the sandbox."""
        ...

    def local_path(self, path: str) -> tuple[Path, str] | None:
        """Where a file of the sandbox can be read on this machine without the engine: (a folder
        the local engine mounts into the sandbox, the file's path relative to it), or None.
        What the sandbox could have written there is not trusted: the reader follows no link."""
        ...

    def start(self) -> None:
        """Create and start the sandbox with the cell's inputs in place."""
        ...

    def remove(self) -> None:
        """Remove it (running or not); removing twice is fine."""
        ...

    def interactive_argv(
        self, argv: Sequence[str], *, user: str, env: Mapping[str, str], tty: bool
    ) -> list[str]:
        """A host command line that runs argv inside the sandbox attached to the caller's terminal."""
        ...


class Engine(Protocol):
    """One engine during one run: images, sandboxes, and removing what the run made."""

    engine: str  # a description, e.g. "docker 20.10.24 at unix:///var/run/docker.sock"

    def prepare_image(self, distro: Distro, arch: str, log: Log) -> str:
        """Make the cell image for distro/arch ready on this engine; its tag. Raise on failure."""
        ...

    def register_image(self, tag: str, distro: Distro, arch: str) -> None:
        """The image is on this engine (copied from another): note it for the cells."""
        ...

    def use_image(self, ref: str) -> bool:
        """Note an image this engine already holds (by id or reference) so that sandboxes can run
        it; False when the engine does not have it."""
        ...

    def image_id(self, tag: str) -> str:
        """The content id of a prepared or used image ("" if unknown)."""
        ...

    def has_image(self, tag: str) -> bool: ...

    def save_image(self, tag: str) -> Iterable[bytes]:
        """The image as an archive stream (`docker save` format), to copy or bundle it."""
        ...

    def load_image(self, chunks: Iterable[bytes]) -> None: ...

    def answers(self) -> bool: ...

    def sandbox(self, cell: Cell, image: str, cancel: threading.Event) -> Sandbox:
        """A sandbox for `cell` on `image`, not started yet."""
        ...

    def native_bytecode(
        self,
        distro: Distro,
        sources: IO[bytes],
        dirs: Sequence[str],
        prefix: str,
        timeout_s: float,
        *,
        files: Sequence[str] | None = None,
        stdlib: bool = True,
    ) -> IO[bytes] | None:
        """Compile the Python sources under `dirs` of a tar archive (unpacked at /, paths as in
        an emulated cell) with the interpreter of `distro`'s image for this engine's own arch —
        the same Python as the emulated cell's, running natively — in a throwaway sandbox with
        no network. A tar of the `prefix` tree (sys.pycache_prefix: one .pyc per source, checked
        against its source's hash), or None when this engine holds no native image of the distro
        (none is built for this). The sandbox also sees, at the same paths and read-only, the
        files the emulated cell's `local_path` answers for (so the archive need not hold them).
        With `files`, only those sources are compiled; the standard library only with `stdlib`."""
        ...

    def guard(self, cancel: threading.Event) -> AbstractContextManager[None]:
        """Translate this engine's own errors raised inside the block: a lost connection becomes
        EngineDown, any other engine error an InfrastructureError naming it."""
        ...

    def remove_later(self, sandbox: Sandbox) -> None:
        """Remove a sandbox in the background; `close` waits for every such removal."""
        ...

    def reap_stale(self) -> int:
        """Remove sandboxes left by runs on this host whose process is dead; how many."""
        ...

    def remove_run(self, run_id: str) -> int:
        """Remove every sandbox of run `run_id` (a resumed run's dead runner left them)."""
        ...

    def close(self) -> None:
        """Remove every sandbox this run created."""
        ...


class Connection(Protocol):
    """One engine as the user names it (a URL): facts about it, and runs on it."""

    url: str
    name: str  # as Engine.engine

    def answers(self) -> bool: ...

    def facts(self) -> EngineFacts: ...

    def prepared_tags(self) -> set[str]:
        """Tags of the cell images wheelmatrix prepared on this engine earlier."""
        ...

    def image_arch(self, ref: str) -> str | None:
        """The architecture (Docker naming: amd64, arm64) of a loaded image; None if not loaded."""
        ...

    def registry_answers(self, ref: str) -> bool:
        """Whether the engine's registry (or mirror) knows this reference."""
        ...

    def open(self, options: EngineOptions, run_id: str) -> Engine:
        """Start a run on this engine."""
        ...
