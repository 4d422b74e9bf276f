"""The scenario kinds, registered in one table: kind name -> its runner and its interpreter.

A new kind is one module under cell/checks/ (its `run` and its pure interpreter) plus one line
here; config/scenarios.py keeps the kind names (and the keys each takes) as data, since config
sits below cell, and tests/unit/test_kinds.py holds the two to the same names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wheelmatrix.cell.checks import cibuildwheel, command, commands, imports, pytest, symbols
from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult


def no_requirements(cell: Cell) -> list[str]:
    return []


def pytest_requirements(cell: Cell) -> list[str]:
    return pytest.requirements(cell.scenario)


@dataclass(frozen=True, kw_only=True)
class ScenarioKind:
    run: Callable[[CellRun], list[CheckResult]]  # runs the scenario in the installed, isolated cell
    interpret: Callable[..., object]  # the pure reading of the probe's records (in the same module)
    requires: Callable[[Cell], list[str]] = no_requirements  # installed besides the picks
    copies_sources: bool = False  # the scenario's `sources` are copied into the cell
    skip_in_sources: tuple[str, ...] = ()  # names left out of that copy
    # run after the copy and before the network cut (cibuildwheel's before-test); its results go
    # to the flow's `prepared` for `run`
    prepare: Callable[[CellRun], None] | None = None


KINDS: Mapping[str, ScenarioKind] = {
    "import": ScenarioKind(run=imports.run, interpret=imports.classify),
    "symbols": ScenarioKind(run=symbols.run, interpret=symbols.interpret_smoke),
    "pytest": ScenarioKind(
        run=pytest.run, interpret=pytest.interpret_pytest, requires=pytest_requirements, copies_sources=True
    ),
    "command": ScenarioKind(run=command.run, interpret=command.interpret_command),
    "commands": ScenarioKind(run=commands.run, interpret=commands.interpret_command_start),
    "cibuildwheel": ScenarioKind(
        run=cibuildwheel.run,
        interpret=cibuildwheel.interpret_test_command,
        requires=cibuildwheel.requirements,
        copies_sources=True,
        skip_in_sources=cibuildwheel.NOT_COPIED,
        prepare=cibuildwheel.prepare,
    ),
}


def kind_of(scenario: Scenario) -> ScenarioKind:
    """The registered kind of a scenario (config rejects unknown kinds when it loads them)."""
    kind = KINDS.get(scenario.kind)
    if kind is None:
        raise ValueError(f"scenario '{scenario.name}': no registered kind '{scenario.kind}'")
    return kind
