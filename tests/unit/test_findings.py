"""Findings as typed values (findings/explain.py): one explainer per kind, grouping by
(kind, subject), every failing check explained, and older reports explained on read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wheelmatrix.findings.causes import root_causes
from wheelmatrix.findings.explain import EXPLAINERS, KINDS, explain
from wheelmatrix.model import CheckResult, Finding, Status
from wheelmatrix.run.rundir import load_results


def result(check: str, status: Status, detail: str = "", **kw: object) -> CheckResult:
    return CheckResult(
        distro=str(kw.pop("distro", "debian-12")), arch="x86_64", python="3.11", scenario="import",
        check=check, status=status, detail=detail, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_every_kind_has_one_explainer_or_is_a_status_fallback() -> None:
    assert len(KINDS) == len(set(KINDS))
    assert {k for k, _ in EXPLAINERS} <= set(KINDS)


def test_one_over_claimed_wheel_is_one_group_not_three() -> None:
    """The demo's over-claimed wheel: the tag check, the import predicted and confirmed, and the
    symbols scenario's loader message are one cause about one wheel."""
    wheel = "wmover-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    tag = result(
        f"tag {wheel}",
        Status.FAILED,
        "tagged manylinux_2_17_x86_64 but needs GLIBC_2.36",
        evidence={"findings": [{"kind": "over-claimed"}]},
        diagnosis="installers trust the tag: …",
    )
    confirmed = result(
        "import wmover",
        Status.FAILED,
        "ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.36' not found",
        distro="debian-11",
        evidence={"confirmed": {"kind": "cell-lacks", "wheel": wheel, "message": "needs GLIBC_2.36"}},
        diagnosis="predicted and confirmed: needs GLIBC_2.36 (arc4random …)",
    )
    again = result(
        "import wmover",
        Status.FAILED,
        "ImportError: version `GLIBC_2.36' not found",
        distro="ubuntu-20.04",
        evidence={"confirmed": {"kind": "cell-lacks", "wheel": wheel, "message": "needs GLIBC_2.36"}},
    )
    causes = root_causes([tag, confirmed, again])
    assert [(c.kind, c.subject, len(c.checks)) for c in causes] == [("over-claimed-tag", wheel, 3)]
    assert "auditwheel repair" in causes[0].fix


@pytest.mark.parametrize(
    ("detail", "kind", "subject"),
    [
        (
            "ImportError: libwm.so: cannot enable executable stack as shared object requires: "
            "Invalid argument",
            "executable-stack",
            "libwm.so",
        ),
        (
            "TypeError: Descriptors cannot be created directly. If this call came from a _pb2.py file…",
            "protobuf-runtime",
            "protobuf 5.29.0",
        ),
        (
            "ImportError: libGL.so.1: cannot open shared object file: No such file or directory",
            "missing-library",
            "libGL.so.1",
        ),
        ("ImportError: /x/_ext.so: undefined symbol: PyFoo_Bar", "undefined-symbol", "PyFoo_Bar"),
        (
            "ImportError: libgomp.so.1: cannot allocate memory in static TLS block",
            "static-tls",
            "libgomp.so.1",
        ),
    ],
)
def test_explainers_read_the_evidence(detail: str, kind: str, subject: str) -> None:
    found = explain(result("import wm", Status.FAILED, detail, installed=("protobuf==5.29.0",)))
    assert found is not None and (found.kind, found.subject) == (kind, subject), found
    assert found.message and found.fix


@pytest.mark.parametrize("status", [Status.FAILED, Status.CRASHED, Status.TIMED_OUT, Status.ERROR])
def test_every_problem_carries_a_finding_even_with_no_diagnosis(status: Status) -> None:
    found = explain(result("import wm", status, "something nobody has seen before; at 0x7f00"))
    assert found is not None and found.kind and found.subject and found.message
    assert "0x7f00" not in found.message, "cell-specific addresses do not split a cause"


def test_a_plain_pass_has_no_finding_and_a_warning_does() -> None:
    assert explain(result("import wm", Status.PASSED)) is None
    warned = explain(result("import wm", Status.PASSED, evidence={"warnings": ["DeprecationWarning: x"]}))
    assert warned is not None and (warned.kind, warned.subject) == ("import-warning", "DeprecationWarning")


def test_findings_round_trip_and_schema_2_reports_are_explained_on_read(tmp_path: Path) -> None:
    finding = Finding(kind="missing-library", subject="libGL.so.1", message="m", fix="f", evidence={"a": 1})
    r = result("import wm", Status.FAILED, "x", finding=finding)
    assert CheckResult.from_json(json.loads(json.dumps(r.to_json()))) == r
    old = result(
        "import wm",
        Status.FAILED,
        "ImportError: libGL.so.1: cannot open shared object file: No such file or directory",
    )
    doc = old.to_json()
    del doc["finding"]
    report = tmp_path / "old.json"
    report.write_text(json.dumps({"tool": "wheelmatrix", "schema": 2, "results": [doc]}))
    loaded = load_results(report)
    assert loaded.schema == 2 and loaded.results[0].finding is None
    (cause,) = root_causes(loaded.results)
    assert (cause.kind, cause.subject) == ("missing-library", "libGL.so.1")


def test_a_malformed_finding_is_a_clear_value_error() -> None:
    doc = result("import wm", Status.FAILED).to_json()
    doc["finding"] = {"kind": "x"}
    with pytest.raises(ValueError, match="finding is missing 'subject'"):
        CheckResult.from_json(doc)
    doc["finding"] = ["not", "an", "object"]
    with pytest.raises(ValueError, match="finding is list"):
        CheckResult.from_json(doc)


def test_attach_names_the_cause_in_an_empty_diagnosis() -> None:
    from wheelmatrix.findings.explain import attach

    bare = result(
        "import wm",
        Status.FAILED,
        "TypeError: Descriptors cannot be created directly.",
        installed=("protobuf==6.31.1",),
    )
    (done,) = attach([], [bare], {})
    assert done.finding is not None and done.finding.kind == "protobuf-runtime"
    assert "protoc" in done.diagnosis, "the evidence names the cause: the diagnosis says it"
    plain = result("import wm", Status.FAILED, "ValueError: boom")
    (same,) = attach([], [plain], {})
    assert same.finding is not None and same.finding.kind == "check-failed" and same.diagnosis == ""


def test_an_undeclared_dependency_is_named_with_the_wheel_that_imports_it() -> None:
    from tests.fixtures.sandbox import make_cell
    from wheelmatrix.config.catalog import default_catalog_path, load_catalog
    from wheelmatrix.config.scenarios import Scenario
    from wheelmatrix.findings.explain import Context

    cell = make_cell(
        load_catalog(default_catalog_path()), Scenario(name="import", kind="import", description="")
    )
    failed = result("import mypkg", Status.FAILED, "ModuleNotFoundError: No module named 'attr'")
    found = explain(failed, Context(cell))
    assert found is not None and (found.kind, found.subject) == ("undeclared-dependency", "mypkg -> attr")
    assert "Requires-Dist" in found.fix
    # the module being tested is itself missing: not a dependency problem
    itself = explain(
        result("import mypkg", Status.FAILED, "ModuleNotFoundError: No module named 'mypkg'"), Context(cell)
    )
    assert itself is not None and itself.kind == "check-failed"


def test_a_failing_collision_check_is_an_interposed_symbol_named_by_its_symbol() -> None:
    evidence = {
        "collisions": [
            {
                "symbol": "wm_state",
                "readable": "wm_state",
                "crossed": [{"judged": "benign-unique", "benign": True}],
            },
            {
                "symbol": "_ZN2wm5stateE",
                "readable": "wm::state",
                "crossed": [{"judged": "two different definitions", "benign": False}],
            },
        ],
        "bindings": {"benign": {"unique": 1}, "failing": {"differ": 1}},
    }
    failed = CheckResult(
        distro="debian-12", arch="x86_64", python="3.11", scenario="symbols", check="symbol collisions",
        status=Status.FAILED, detail="wm::state defined by a and b", evidence=evidence,
    )  # fmt: skip
    found = explain(failed)
    assert found is not None and (found.kind, found.subject) == ("interposed-symbol", "wm::state")
    assert "two different definitions" in found.message and "visibility" in found.fix
