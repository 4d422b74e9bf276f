"""The cell flow (wheelmatrix/cell/flow.py) driven by a fake sandbox (tests/fixtures/sandbox.py): the
order install -> isolate -> checks, install failures, cancelling, the install plan's steps."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from tests.fixtures.sandbox import IMPORT, FakeSandbox, installed_ok, make_cell, options, req, run_rec, step
from wheelmatrix.cell.flow import CellFlow
from wheelmatrix.config.catalog import Catalog
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.matrix.cells import Cell, build_matrix, select_targets
from wheelmatrix.model import Status


def test_flow_order_install_then_isolate_then_checks(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert sandbox.order == ["install", "isolate", "run"]
    # installs as the cache owner, checks as nobody
    assert sandbox.calls[0][1]["user"] == "1000:1000"
    assert sandbox.calls[2][1]["user"] == "65534:65534"
    assert results and all(r.status is Status.PASSED for r in results)
    r = results[0]
    assert r.cell_id == "debian-12/x86_64/py3.11/import"
    assert r.check_id.startswith("debian-12/x86_64/py3.11/import::")
    assert r.image == "sha256:feedface" and r.engine == "fake 1.0"
    assert "numpy==2.3.0" in r.installed and "mypkg==1.0" in r.installed
    assert r.installed_versions["numpy"] == "2.3.0"


def test_install_failure_stops_before_network_cut(catalog: Catalog) -> None:
    def failing(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [step("venv"), step("install", rc=1, tail="error: No solution found: mypkg==1.0 conflicts")]

    sandbox = FakeSandbox(answers={"install": failing})
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert sandbox.order == ["install"]
    assert [r.status for r in results] == [Status.FAILED]
    assert results[0].check == "install mypkg, companion"
    assert "No solution found" in results[0].detail


def test_venv_failure_is_infrastructure(catalog: Catalog) -> None:
    sandbox = FakeSandbox(answers={"install": lambda plan: [step("venv", rc=1, tail="No module named venv")]})
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert [(r.check, r.status) for r in results] == [("create venv", Status.ERROR)]
    assert "No module named venv" in results[0].detail


def test_probe_infrastructure_error_becomes_error_result(catalog: Catalog) -> None:
    def broken(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise InfrastructureError("the probe failed in x (exit 137)")

    results = CellFlow(make_cell(catalog, IMPORT), FakeSandbox(answers={"install": broken}), options()).run()
    assert [(r.check, r.status, r.detail) for r in results] == [
        ("run cell", Status.ERROR, "the probe failed in x (exit 137)")
    ]


def test_cancel_after_install_runs_nothing(catalog: Catalog) -> None:
    cancel = threading.Event()

    def install_then_cancel(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        cancel.set()
        return installed_ok(plan)

    sandbox = FakeSandbox(answers={"install": install_then_cancel})
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options(), cancel).run()
    assert results == [] and sandbox.order == ["install"]


def _cell_on(catalog: Catalog, distro: str, cpus: tuple[str, ...] = ()) -> Cell:
    targets = select_targets([catalog.get(distro)], ["x86_64"], [], "x86_64", ["x86_64"])
    return build_matrix(targets, [IMPORT], [req("mypkg")], [], cpus=cpus)[0]


def test_old_distro_gets_a_current_pip_before_installing(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    CellFlow(_cell_on(catalog, "centos-7"), sandbox, options()).run()
    steps = [s["name"] for s in sandbox.plan("install")["steps"]]
    assert steps[:3] == ["venv", "pip", "install"]
    pip = sandbox.plan("install")["steps"][1]["argv"]
    assert pip[-4:] == ["install", "-q", "--upgrade", "pip"] and pip[0].endswith("/bin/python")
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    CellFlow(_cell_on(catalog, "debian-12"), sandbox, options()).run()
    assert "pip" not in [s["name"] for s in sandbox.plan("install")["steps"]]


def test_cpu_cell_wraps_the_venv_python_after_installing(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    results = CellFlow(_cell_on(catalog, "debian-12", ("x86-64-v2",)), sandbox, options()).run()
    steps = sandbox.plan("install")["steps"]
    assert [s["name"] for s in steps][-1] == "cpu" and steps[-1]["argv"][-1] == "Nehalem"
    assert results[0].cell_id == "debian-12/x86_64/py3.11/import+cpu-x86-64-v2"

    def cpu_fails(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            step(s["name"], rc=1 if s["name"] == "cpu" else 0, tail="qemu: not found") for s in plan["steps"]
        ]

    sandbox = FakeSandbox(answers={"install": cpu_fails})
    results = CellFlow(_cell_on(catalog, "debian-12", ("x86-64-v2",)), sandbox, options()).run()
    assert [(r.check, r.status) for r in results] == [("cpu x86-64-v2", Status.ERROR)]
    assert "QEMU's x86-64-v2 CPU" in results[0].detail and "qemu: not found" in results[0].detail
