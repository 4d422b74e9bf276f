"""How cells install and run: the options every cell of a run shares, taken from its RunConfig."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wheelmatrix.cell.install import find_links_targets
from wheelmatrix.config.runfile import RunConfig
from wheelmatrix.host import IndexSettings


@dataclass(frozen=True, kw_only=True)
class CellOptions:
    """How cells install and run: taken from a RunConfig (where every default lives, once)."""

    installer: str
    link_mode: str
    offline: bool
    find_links: tuple[Path, ...]
    timeout_s: float
    install_timeout_s: float
    memory: str
    pids: int
    index: IndexSettings
    strict_warnings: bool
    registry_mirror: str | None = None
    # checks of one kind a cell may run at once: the cores the run leaves its containers (a
    # check that does not pass among others is run again alone, and that run is its result)
    check_workers: int = 1
    # each phase of a container's cells as it ends: (cell label, phase, seconds); the run
    # directory's profile.jsonl
    on_phase: Callable[[str, str, float], None] | None = field(default=None, compare=False)

    @functools.cached_property
    def find_links_targets(self) -> list[tuple[str, Path]]:
        """Where each --find-links directory appears in a cell: computed once per run, so the
        mounts and the installer's arguments always agree."""
        return find_links_targets(self.find_links)

    @classmethod
    def from_config(cls, config: RunConfig, index: IndexSettings) -> CellOptions:
        return cls(
            installer=config.installer,
            link_mode=config.link_mode,
            offline=config.offline,
            find_links=tuple(Path(p) for p in config.find_links),
            timeout_s=config.timeout_s,
            install_timeout_s=config.install_timeout_s,
            memory=config.memory,
            pids=config.pids,
            index=index,
            strict_warnings=config.strict_warnings,
            registry_mirror=config.registry_mirror,
        )
