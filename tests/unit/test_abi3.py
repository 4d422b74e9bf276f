"""The abi3 audit (scan/abi3.py): the shipped stable-ABI data, the scan of a real fixture wheel
tagged cp36-abi3 that uses a 3.10 function, and its prediction, confirmation and finding in a
Python 3.9 cell."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.wheels import Fixture
from tests.unit.test_diagnose import cells_for, projects, result
from wheelmatrix.config.catalog import default_catalog_path, load_catalog
from wheelmatrix.findings.diagnose import diagnose, predict_cell
from wheelmatrix.findings.explain import Context, explain
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.resources import data_path
from wheelmatrix.scan.abi3 import abi3_floor, audit, data_source, lookup
from wheelmatrix.scan.elf import ElfInfo
from wheelmatrix.scan.policy import WheelScan
from wheelmatrix.scan.wheel import scans_json, static_scans

UNDEFINED_DETAIL = (
    "ImportError: /venv/lib/python3.9/site-packages/wmabi3new/_native.abi3.so: "
    "undefined symbol: PyModule_AddObjectRef"
)


def elf(path: str, undefined: tuple[str, ...], exports: tuple[str, ...] = ()) -> ElfInfo:
    return ElfInfo(
        path=path,
        machine="x86_64",
        needed=(),
        rpath=(),
        runpath=(),
        requirements=(),
        exports=exports,
        undefined=undefined,
    )


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize(
    ("name", "since", "kind"),
    [
        ("PyType_FromSpec", (3, 2), "function"),
        ("Py_IncRef", (3, 2), "function"),
        ("PyExc_TypeError", (3, 2), "data"),
        ("PyType_FromSpecWithBases", (3, 3), "function"),
        ("PyModule_AddType", (3, 10), "function"),
        ("PyType_FromModuleAndSpec", (3, 10), "function"),
        ("PyType_GetModuleByDef", (3, 13), "function"),
        ("Py_TYPE", None, None),  # a macro until 3.14, never a symbol of the 3.13 manifest
        ("_PyObject_GC_Malloc", None, None),  # private, not in the stable ABI
    ],
)
def test_stable_abi_data(name: str, since: tuple[int, int] | None, kind: str | None) -> None:
    entry = lookup(name)
    assert (entry.added if entry else None, entry.kind if entry else None) == (since, kind)


def test_data_flags_and_source() -> None:
    doc = json.loads(data_path("stable-abi.json").read_text())
    assert doc["source"].startswith("CPython 3.13.") and doc["source"] == data_source()
    dealloc, ref_total = lookup("_Py_Dealloc"), lookup("_Py_RefTotal")
    assert dealloc is not None and dealloc.abi_only and dealloc.ifdef is None
    assert ref_total is not None and ref_total.ifdef == "Py_REF_DEBUG" and ref_total.kind == "data"
    broken_pipe = lookup("PyExc_BrokenPipeError")  # "added = '3.7'  # (and 3.6.1 and 3.5.3)"
    assert broken_pipe is not None and broken_pipe.added == (3, 7)
    assert broken_pipe.also == ("3.6.1", "3.5.3")
    assert sum(1 for e in doc["symbols"].values() if e.get("also")) > 60
    # only functions and data are symbols: no struct, const, macro or typedef entries
    assert {e["kind"] for e in doc["symbols"].values()} == {"function", "data"}
    assert lookup("PyObject") is None and lookup("Py_TPFLAGS_DEFAULT") is None


@pytest.mark.parametrize(
    ("filename", "floor"),
    [
        ("x-1.0-cp36-abi3-manylinux_2_17_x86_64.whl", ("cp36", (3, 6))),
        ("x-1.0-cp310-abi3-manylinux_2_17_x86_64.whl", ("cp310", (3, 10))),
        ("x-1.0-cp37.cp39-abi3-manylinux_2_17_x86_64.whl", ("cp37", (3, 7))),  # the lowest installs
        ("x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", None),
        ("x-1.0-py3-none-any.whl", None),
        ("not a wheel name", None),
    ],
)
def test_abi3_floor(filename: str, floor: tuple[str, tuple[int, int]] | None) -> None:
    assert abi3_floor(filename) == floor


# --------------------------------------------------------------------------- audit


def test_audit_names_newer_and_non_stable_symbols() -> None:
    files = (
        elf(
            "pkg/_a.abi3.so",
            (
                "PyType_FromSpec",
                "PyModule_AddType",
                "_PyObject_GC_Malloc",
                "PyInit__a",
                "PyFoo_Own",
                "memcpy",
            ),
            exports=("PyFoo_Own",),
        ),
    )
    found = {f.kind: f for f in audit("pkg-1.0-cp38-abi3-manylinux_2_17_x86_64.whl", files)}
    assert set(found) == {"abi3-over-claimed", "abi3-non-stable"}
    over = found["abi3-over-claimed"]
    assert (over.symbol, over.version, over.tag, over.file) == (
        "PyModule_AddType",
        "3.10",
        "cp38-abi3",
        "pkg/_a.abi3.so",
    )
    assert over.message == (
        "tagged cp38-abi3 but pkg/_a.abi3.so uses PyModule_AddType (stable ABI since 3.10): "
        "Python 3.8 to 3.9 accept the tag, but their stable ABI lacks it"
    )
    assert found["abi3-non-stable"].symbol == "_PyObject_GC_Malloc"
    assert "not in the stable ABI (as of CPython 3.13)" in found["abi3-non-stable"].message
    # the same file in a wheel whose tag is high enough, or that is not abi3: nothing to say
    assert [f.kind for f in audit("pkg-1.0-cp310-abi3-manylinux_2_17_x86_64.whl", files)] == [
        "abi3-non-stable"
    ]
    assert audit("pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", files) == []


def test_point_release_caveat_narrows_who_fails() -> None:
    files = (elf("m.abi3.so", ("PyExc_BrokenPipeError", "PyExc_ConnectionError")),)
    (over,) = audit("m-1.0-cp36-abi3-linux_x86_64.whl", files)
    assert over.message.endswith(
        "uses PyExc_BrokenPipeError, PyExc_ConnectionError (stable ABI since 3.7; also in 3.6.1 and 3.5.3): "
        "Python 3.6.0 accept the tag, but their stable ABI lacks them"
    )


def test_fixture_wheel_over_claims(fixtures: dict[str, Fixture]) -> None:
    scans = static_scans(projects(fixtures["abi3new"]), cache=False)
    for scan in scans.values():
        assert "-cp36-abi3-" in scan.wheel
        (over,) = [f for f in scan.findings if f.kind.startswith("abi3-")]
        assert over.kind == "abi3-over-claimed" and over.symbol == "PyModule_AddObjectRef"
        assert over.message == (
            "tagged cp36-abi3 but wmabi3new/_native.abi3.so uses PyModule_AddObjectRef, "
            "PyType_FromModuleAndSpec (stable ABI since 3.10): Python 3.6 to 3.9 accept the tag, "
            "but their stable ABI lacks them"
        )
        assert "abi3-over-claimed" in json.dumps(scans_json({scan.wheel: scan}))
    # the other native fixtures are honest cp39-abi3 wheels
    for scan in static_scans(projects(fixtures["newglibc"]), cache=False).values():
        assert not [f for f in scan.findings if f.kind.startswith("abi3-")]


# --------------------------------------------------------------------------- in a cell


@pytest.fixture(scope="module")
def in_cells(fixtures: dict[str, Fixture]) -> tuple[dict[str, Cell], dict[str, WheelScan], CheckResult]:
    """Debian 11 and 12 cells with the fixture wheel, its scans and a failed import on Debian 11."""
    given = projects(fixtures["abi3new"])
    cells = cells_for(load_catalog(default_catalog_path()), given)
    failed = result(cells["debian-11"], "import wmabi3new", Status.FAILED, UNDEFINED_DETAIL)
    return cells, static_scans(given), failed


def test_predicted_confirmed_and_explained_in_a_python_39_cell(
    in_cells: tuple[dict[str, Cell], dict[str, WheelScan], CheckResult],
) -> None:
    cells, scans, failed = in_cells
    preds = predict_cell(cells["debian-11"], scans)
    assert {p.finding.symbol for p in preds} == {"PyType_FromModuleAndSpec", "PyModule_AddObjectRef"}
    assert {p.finding.kind for p in preds} == {"cell-abi3"}
    assert all(p.finding.message.endswith("debian-11 has Python 3.9") for p in preds)
    assert predict_cell(cells["debian-12"], scans) == []

    (out,) = diagnose(list(cells.values()), [failed], scans)
    assert out.diagnosis.startswith(
        "predicted and confirmed: tagged cp36-abi3 but wmabi3new/_native.abi3.so uses PyModule_AddObjectRef"
    )
    assert out.evidence["confirmed"]["kind"] == "cell-abi3"
    finding = explain(out, Context(cells["debian-11"], scans))
    assert finding is not None and finding.kind == "abi3-over-claim"
    assert finding.subject == out.evidence["confirmed"]["wheel"] and finding.subject.endswith(".whl")
    assert "since 3.10" in finding.message and finding.evidence == {"symbol": "PyModule_AddObjectRef"}


def test_undefined_symbol_alone_is_recognised_from_the_scan(
    in_cells: tuple[dict[str, Cell], dict[str, WheelScan], CheckResult],
) -> None:
    cells, scans, failed = in_cells
    finding = explain(failed, Context(cells["debian-11"], scans))  # no diagnosis, no confirmation
    assert finding is not None and finding.kind == "abi3-over-claim"
    other = result(cells["debian-11"], "import wmabi3new", Status.FAILED, "undefined symbol: wm_other")
    other_finding = explain(other, Context(cells["debian-11"], scans))
    assert other_finding is not None and other_finding.kind == "undefined-symbol"
