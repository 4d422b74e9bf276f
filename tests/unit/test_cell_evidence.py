"""Evidence re-runs after a failed check: crash symbolisation (cell/crash.py), the OOM probe
(cell/oom.py) and the static-TLS re-run (cell/static_tls.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.fixtures.sandbox import IMPORT, FakeSandbox, installed_ok, make_cell, options, run_rec
from wheelmatrix.cell.flow import CellFlow
from wheelmatrix.cell.static_tls import STATIC_TLS_TRY
from wheelmatrix.config.catalog import Catalog
from wheelmatrix.model import Status


def test_crash_gets_native_evidence_rerun(catalog: Catalog) -> None:
    def run(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            run_rec(c["id"], rc=-11, signal="SIGSEGV", tail="Fatal Python error: Segmentation fault")
            for c in plan["checks"]
        ]

    crash = {"crash": {"signal": "SIGSEGV", "pc": {"dso": "/x/_a.so", "symbol": "boom"}}}
    sandbox = FakeSandbox(answers={"install": installed_ok, "run": run, "crash": lambda plan: [crash]})
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert all(r.status is Status.CRASHED for r in results)
    assert sandbox.order.count("crash") == len(results)
    assert results[0].evidence["native"] == crash["crash"]


def _killed(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [run_rec(c["id"], rc=-9, signal="SIGKILL", tail="") for c in plan["checks"]]


def test_sigkill_by_the_oom_killer_is_named_with_the_limit(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={
            "install": installed_ok,
            "run": _killed,
            "memory": lambda plan: [{"memory": {"oom_kills": 1, "limit": 268435456}}],
            "crash": lambda plan: [{"crash": {}}],
        }
    )
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options(memory="256m")).run()
    first = results[0]
    assert first.status is Status.CRASHED
    assert first.detail == "SIGKILL: out of memory (limit 256m)"
    assert "OOM killer" in first.diagnosis and "--memory" in first.diagnosis
    assert sandbox.order.count("crash") == len(results) - 1  # no native re-run for the OOM kill
    # the second SIGKILL with no new OOM kill is not blamed on memory
    assert "out of memory" not in results[1].detail


def test_sigkill_without_oom_kill_stays_a_plain_crash(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={
            "install": installed_ok,
            "run": _killed,
            "memory": lambda plan: [{"memory": {"oom_kills": 0, "limit": None}}],
            "crash": lambda plan: [{"crash": {}}],
        }
    )
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert all(r.status is Status.CRASHED and "out of memory" not in r.detail for r in results)


TLS_TAIL = "ImportError: libgomp.so.1: cannot allocate memory in static TLS block"


@pytest.mark.parametrize(
    ("passes_with_reserve", "verdict"), [(True, "the import passes"), (False, "still fails")]
)
def test_static_tls_failure_is_rerun_with_a_larger_reserve(
    catalog: Catalog, passes_with_reserve: bool, verdict: str
) -> None:
    def run(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        rerun = "GLIBC_TUNABLES" in (plan.get("env") or {})
        rc = 0 if rerun and passes_with_reserve else 1
        return [run_rec(c["id"], rc=rc, tail="" if rc == 0 else TLS_TAIL) for c in plan["checks"]]

    sandbox = FakeSandbox(answers={"install": installed_ok, "run": run})
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options(timeout_s=9)).run()
    first = results[0]
    assert first.status is Status.FAILED and "static TLS block" in first.detail
    assert f"GLIBC_TUNABLES=glibc.rtld.optional_static_tls={STATIC_TLS_TRY}" in first.diagnosis
    assert verdict in first.diagnosis and "initial-exec TLS" in first.diagnosis
    reruns = [a["plan"] for c, a in sandbox.calls if c == "run" and "env" in a["plan"]]
    assert len(reruns) == len(results)  # each failing check re-run alone, with the check's code
    assert reruns[0]["checks"] == [{"id": "c0", "code": "import mypkg"}] and reruns[0]["timeout"] == 9
