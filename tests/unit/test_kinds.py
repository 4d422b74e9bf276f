"""The table of scenario kinds (wheelmatrix/cell/kinds.py): the same names config accepts, every
shipped scenario registered, and the cell flow dispatching through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.sandbox import IMPORT, FakeSandbox, installed_ok, make_cell, options, run_rec
from wheelmatrix.cell import kinds
from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.flow import CellFlow
from wheelmatrix.cell.kinds import KINDS, ScenarioKind, kind_of
from wheelmatrix.config import scenarios
from wheelmatrix.config.catalog import Catalog
from wheelmatrix.config.cibuildwheel import read_project
from wheelmatrix.config.scenarios import (
    Scenario,
    cibuildwheel_scenario,
    default_scenarios_path,
    load_scenarios,
)
from wheelmatrix.model import CheckResult, Status


def test_registered_kinds_are_the_kinds_config_accepts() -> None:
    assert tuple(KINDS) == scenarios.KINDS
    assert set(scenarios.KIND_KEYS) == set(KINDS)


def test_every_shipped_scenario_has_a_registered_kind() -> None:
    shipped = load_scenarios(default_scenarios_path())
    assert shipped
    for scenario in shipped.values():
        assert kind_of(scenario) is KINDS[scenario.kind]


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_is_one_module_under_checks(name: str) -> None:
    kind = KINDS[name]
    assert kind.run.__module__.startswith("wheelmatrix.cell.checks.")
    assert kind.interpret.__module__ == kind.run.__module__


def test_an_unregistered_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="scenario 'x': no registered kind 'shell'"):
        kind_of(Scenario(name="x", kind="shell", description=""))


def test_only_the_test_suite_kinds_copy_sources_and_install_more(catalog: Catalog, tmp_path: Path) -> None:
    pytest_cell = make_cell(catalog, Scenario(name="t", kind="pytest", description=""))
    assert KINDS["pytest"].copies_sources and KINDS["pytest"].requires(pytest_cell) == ["pytest"]
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "mypkg"\n[tool.cibuildwheel]\ntest-command = "pytest"\n'
        'test-requires = "pytest"\ntest-extras = "test"\n'
    )
    project = read_project(tmp_path / "pyproject.toml", environ={})
    cibw_cell = make_cell(catalog, cibuildwheel_scenario(project))
    assert KINDS["cibuildwheel"].copies_sources
    assert KINDS["cibuildwheel"].requires(cibw_cell) == ["pytest", "mypkg[test]"]
    others = [k for k in KINDS if k not in ("pytest", "cibuildwheel")]
    import_cell = make_cell(catalog, IMPORT)
    assert not any(KINDS[k].copies_sources or KINDS[k].requires(import_cell) for k in others)


def test_the_flow_dispatches_through_the_table(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replacing the table's entry for a kind replaces what runs: its runner gets the flow after
    the install and the network cut, its requirements are installed, its sources copied."""
    seen: list[tuple[str, list[str]]] = []

    def run(ctx: CellRun) -> list[CheckResult]:
        seen.append((ctx.cell.scenario.name, [c for c, _ in sandbox.calls]))
        return [ctx.result("stand-in", Status.PASSED, str(sorted(ctx.installed.modules)))]

    stand_in = ScenarioKind(run=run, interpret=run, requires=lambda s: ["extra-req"], copies_sources=True)
    monkeypatch.setitem(kinds.KINDS, "import", stand_in)
    sandbox = FakeSandbox(answers={"install": installed_ok})
    scenario = Scenario(name="imp", kind="import", description="", sources=tmp_path)
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert [(r.check, r.status, r.detail) for r in results] == [
        ("stand-in", Status.PASSED, "['companion', 'mypkg']")
    ]
    assert seen == [("imp", ["install", "put_dir", "isolate"])]
    assert sandbox.plan("install")["steps"][-1]["argv"][-1] == "extra-req"


def test_a_group_runs_each_scenario_by_its_own_kind(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    def runner(label: str) -> Any:
        def run(ctx: CellRun) -> list[CheckResult]:
            ran.append(f"{label}:{ctx.cell.scenario.name}")
            return []

        return run

    for name in ("import", "command"):
        monkeypatch.setitem(kinds.KINDS, name, ScenarioKind(run=runner(name), interpret=runner(name)))
    cells = [
        make_cell(catalog, IMPORT),
        make_cell(catalog, Scenario(name="cli", kind="command", description="", argv=("x",))),
    ]
    sandbox = FakeSandbox(answers={"install": installed_ok})
    CellFlow(cells[0], sandbox, options()).run_group(cells)
    assert ran == ["import:import", "command:cli"]
    assert sandbox.order == ["install", "isolate"]  # one install, one network cut for the group


def test_every_phase_of_a_container_is_timed(catalog: Catalog, tmp_path: Path) -> None:
    """The run's profile: install, the copy, before the cut, the cut, each scenario."""
    import dataclasses as dc

    seen: list[tuple[str, str, float]] = []
    opts = dc.replace(options(), on_phase=lambda cell, phase, s: seen.append((cell, phase, s)))
    scenario = Scenario(name="tests", kind="pytest", description="", sources=tmp_path)
    answers = {"install": installed_ok, "exec": lambda plan: [run_rec("pytest")]}
    CellFlow(make_cell(catalog, scenario), FakeSandbox(answers=answers), opts).run()
    phases = [p for _c, p, _s in seen if not p.startswith("install: ")]
    assert phases == ["install", "copy sources", "network cut", "scenario tests"]
    # each installer step's own time, as the probe measured it
    steps = [(p, s) for _c, p, s in seen if p.startswith("install: ")]
    assert [p for p, _s in steps] == ["install: venv", "install: install"], steps
    assert {c for c, _p, _s in seen} == {"debian-12/x86_64/py3.11"} and all(s >= 0 for _c, _p, s in seen)
