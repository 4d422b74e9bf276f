"""Diagnosis (wheelmatrix/diagnose.py): real cells from the catalog, real static scans of fixture
wheels, hand-made check results."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from tests.fixtures.wheels import Fixture
from wheelmatrix.config.catalog import Catalog, default_catalog_path, load_catalog
from wheelmatrix.config.known_problems import KnownProblem, default_known_problems_path, load_known_problems
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.findings.diagnose import diagnose, predict_cell, shared_exports, tag_checks
from wheelmatrix.inputs.wheels import Project, parse_inputs
from wheelmatrix.matrix.cells import Cell, build_matrix, select_targets
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.scan.policy import WheelScan
from wheelmatrix.scan.wheel import static_scans

IMPORT = Scenario(name="import", kind="import", description="import everything")
NEWGLIBC_DETAIL = (
    "ImportError: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.36' not found "
    "(required by /venv/lib/python3.9/site-packages/wmnewglibc/_native.abi3.so)"
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


@pytest.fixture(scope="module")
def known() -> list[KnownProblem]:
    return load_known_problems(default_known_problems_path())


def projects(*fixtures: Fixture, role: str = "candidate") -> list[Project]:
    return parse_inputs([str(w) for f in fixtures for w in f.wheels], role=role)


def cells_for(
    catalog: Catalog,
    candidates: Sequence[Project],
    companions: Sequence[Project] = (),
    distros: Sequence[str] = ("debian-11", "debian-12"),
) -> dict[str, Cell]:
    targets = select_targets([catalog.get(d) for d in distros], ["x86_64"], [], "x86_64", ["x86_64"])
    return {c.distro.id: c for c in build_matrix(targets, [IMPORT], candidates, companions)}


def result(
    cell: Cell,
    check: str,
    status: Status,
    detail: str = "",
    modules: Sequence[str] | None = None,
    diagnosis: str = "",
    installed: tuple[str, ...] = (),
) -> CheckResult:
    if modules is None:
        modules = [m.strip() for m in check.removeprefix("import ").split(",")]
    return CheckResult(
        distro=cell.distro.id,
        arch=cell.arch,
        python=cell.python,
        scenario=cell.scenario.name,
        check=check,
        status=status,
        detail=detail,
        evidence={"modules": list(modules)},
        diagnosis=diagnosis,
        installed=installed,
    )


def by_check(results: Sequence[CheckResult], cell: Cell) -> dict[str, CheckResult]:
    return {r.check: r for r in results if r.distro == cell.distro.id}


# --------------------------------------------------------------------------- static scans


def test_static_scans_cover_every_wheel_file(fixtures: dict[str, Fixture]) -> None:
    given = projects(fixtures["newglibc"], fixtures["pure"])
    scans = static_scans(given)
    assert set(scans) == {w.name for key in ("newglibc", "pure") for w in fixtures[key].wheels}
    for name, scan in scans.items():
        assert isinstance(scan, WheelScan) and scan.wheel == name


def test_prediction_for_the_cell_with_the_older_glibc(fixtures: dict[str, Fixture], catalog: Catalog) -> None:
    given = projects(fixtures["newglibc"])
    cells = cells_for(catalog, given)
    scans = static_scans(given)

    (pred,) = predict_cell(cells["debian-11"], scans)
    assert pred.project == "wmnewglibc" and pred.modules == ("wmnewglibc",)
    assert pred.finding.version == "GLIBC_2.36"
    assert "debian-11 has GLIBC_2.31" in pred.finding.message
    assert predict_cell(cells["debian-12"], scans) == []


# --------------------------------------------------------------------------- predictions


def test_predicted_and_confirmed(fixtures: dict[str, Fixture], catalog: Catalog) -> None:
    given = projects(fixtures["newglibc"])
    cells = cells_for(catalog, given)
    failed = result(cells["debian-11"], "import wmnewglibc", Status.FAILED, NEWGLIBC_DETAIL)

    (out,) = diagnose(list(cells.values()), [failed], static_scans(given))

    assert out.diagnosis.startswith("predicted and confirmed: needs GLIBC_2.36 (arc4random in ")
    assert "wmnewglibc/_native.abi3.so, from libc.so.6" in out.diagnosis
    assert out.diagnosis.endswith("debian-11 has GLIBC_2.31")
    assert out.evidence["predicted"] == [out.diagnosis.removeprefix("predicted and confirmed: ")]
    assert out.evidence["modules"] == ["wmnewglibc"]
    assert (out.status, out.detail) == (Status.FAILED, NEWGLIBC_DETAIL)


def test_failure_that_does_not_name_the_version_is_not_confirmed(
    fixtures: dict[str, Fixture], catalog: Catalog
) -> None:
    given = projects(fixtures["newglibc"])
    cells = cells_for(catalog, given)
    failed = result(cells["debian-11"], "import wmnewglibc", Status.FAILED, "RuntimeError: something else")

    (out,) = diagnose(list(cells.values()), [failed], static_scans(given))

    assert out.diagnosis == ""
    assert len(out.evidence["predicted"]) == 1  # the prediction is still kept as evidence


def test_predicted_failure_did_not_happen(fixtures: dict[str, Fixture], catalog: Catalog) -> None:
    given = projects(fixtures["newglibc"])
    cells = cells_for(catalog, given)
    passed_11 = result(cells["debian-11"], "import wmnewglibc", Status.PASSED)
    passed_12 = result(cells["debian-12"], "import wmnewglibc", Status.PASSED)

    out = diagnose(list(cells.values()), [passed_11, passed_12], static_scans(given))

    d11, d12 = by_check(out, cells["debian-11"]), by_check(out, cells["debian-12"])
    assert d11["import wmnewglibc"].diagnosis.startswith("predicted failure did not happen: needs GLIBC_2.36")
    assert d12["import wmnewglibc"].diagnosis == ""
    assert "predicted" not in d12["import wmnewglibc"].evidence


def test_predictions_only_concern_the_checks_that_import_the_module(
    fixtures: dict[str, Fixture], catalog: Catalog
) -> None:
    given = projects(fixtures["newglibc"], fixtures["pure"])
    cells = cells_for(catalog, given)
    other = result(cells["debian-11"], "import wmpure", Status.FAILED, "GLIBC_2.36 everywhere")

    (out,) = diagnose(list(cells.values()), [other], static_scans(given))

    assert out.diagnosis == ""
    assert "predicted" not in out.evidence


def test_existing_diagnosis_is_kept_and_appended(fixtures: dict[str, Fixture], catalog: Catalog) -> None:
    given = projects(fixtures["newglibc"])
    cells = cells_for(catalog, given)
    failed = result(
        cells["debian-11"], "import wmnewglibc", Status.FAILED, NEWGLIBC_DETAIL, diagnosis="earlier note"
    )

    (out,) = diagnose(list(cells.values()), [failed], static_scans(given))

    assert out.diagnosis.startswith("predicted and confirmed: needs GLIBC_2.36")
    assert out.diagnosis.endswith("; earlier note")


# --------------------------------------------------------------------------- unshipped libraries


def test_unshipped_library(fixtures: dict[str, Fixture], catalog: Catalog) -> None:
    given = projects(fixtures["missinglib"])
    cells = cells_for(catalog, given, distros=["debian-12"])
    detail = "ImportError: libwmabsent.so.1: cannot open shared object file: No such file or directory"
    failed = result(cells["debian-12"], "import wmmissing", Status.FAILED, detail)
    passed = result(cells["debian-12"], "import wmmissing", Status.PASSED, modules=["wmmissing"])

    out = diagnose(list(cells.values()), [failed, passed], static_scans(given))

    assert out[0].diagnosis == (
        "wmmissing/_native.abi3.so needs libwmabsent.so.1, which the wheel does not ship and "
        "manylinux_2_17 does not allow (it is not on every system)"
    )
    assert out[1].diagnosis == ""


# --------------------------------------------------------------------------- order dependence


@pytest.fixture
def collision_cells(
    fixtures: dict[str, Fixture], catalog: Catalog
) -> tuple[dict[str, Cell], dict[str, WheelScan]]:
    cands = projects(fixtures["colla"])
    comps = projects(fixtures["collb"], role="companion")
    return cells_for(catalog, cands, comps, distros=["debian-12"]), static_scans([*cands, *comps])


def test_shared_exports_from_real_scans(
    collision_cells: tuple[dict[str, Cell], dict[str, WheelScan]],
) -> None:
    cells, scans = collision_cells
    (collision,) = shared_exports(cells["debian-12"], scans)  # PyInit_* and friends are benign
    assert collision.symbol == "wm_shared_state"
    assert collision.files == ("wmcolla/_a.abi3.so", "wmcollb/_b.abi3.so")


def test_order_dependent_crash_names_both_files_and_the_symbol(
    collision_cells: tuple[dict[str, Cell], dict[str, WheelScan]],
) -> None:
    cells, scans = collision_cells
    cell = cells["debian-12"]
    native = "SIGSEGV at PyInit__b+0x14 in wmcollb/_b.abi3.so (fault address 0x0)"
    results = [
        result(cell, "import wmcolla", Status.PASSED),
        result(cell, "import wmcollb", Status.PASSED),
        result(
            cell,
            "import wmcolla, wmcollb",
            Status.CRASHED,
            "SIGSEGV; Fatal Python error: Segmentation fault; in <module>",
            diagnosis=native,
        ),
        result(cell, "import wmcollb, wmcolla", Status.PASSED),
    ]

    out = by_check(diagnose([cell], results, scans), cell)

    assert out["import wmcolla, wmcollb"].diagnosis == (
        "order-dependent crash: `import wmcolla, wmcollb` SIGSEGV, `import wmcollb, wmcolla` passes; "
        "`wm_shared_state` is exported by both wmcolla/_a.abi3.so and wmcollb/_b.abi3.so; " + native
    )
    assert out["import wmcollb, wmcolla"].diagnosis == ""
    assert out["import wmcolla"].diagnosis == out["import wmcollb"].diagnosis == ""


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (Status.TIMED_OUT, "order-dependent hang: `import wmcolla, wmcollb` hangs"),
        (Status.FAILED, "order-dependent failure: `import wmcolla, wmcollb` fails"),
    ],
)
def test_order_dependent_hang_and_failure(
    collision_cells: tuple[dict[str, Cell], dict[str, WheelScan]], status: Status, words: str
) -> None:
    cells, scans = collision_cells
    cell = cells["debian-12"]
    results = [
        result(cell, "import wmcolla, wmcollb", status, "did not finish / ValueError"),
        result(cell, "import wmcollb, wmcolla", Status.PASSED),
    ]

    out = by_check(diagnose([cell], results, scans), cell)

    assert out["import wmcolla, wmcollb"].diagnosis.startswith(words + ", `import wmcollb, wmcolla` passes")


def test_both_orders_failing_is_not_order_dependent(
    collision_cells: tuple[dict[str, Cell], dict[str, WheelScan]],
) -> None:
    cells, scans = collision_cells
    cell = cells["debian-12"]
    results = [
        result(cell, "import wmcolla, wmcollb", Status.CRASHED, "SIGSEGV"),
        result(cell, "import wmcollb, wmcolla", Status.CRASHED, "SIGSEGV"),
    ]
    out = diagnose([cell], results, scans)
    assert [r.diagnosis for r in out] == ["", ""]


def test_results_of_unknown_cells_pass_through(
    collision_cells: tuple[dict[str, Cell], dict[str, WheelScan]],
) -> None:
    cells, scans = collision_cells
    stray = CheckResult(
        distro="debian-99",
        arch="x86_64",
        python="3.99",
        scenario="import",
        check="import x",
        status=Status.FAILED,
    )
    assert diagnose(list(cells.values()), [stray], scans) == [stray]


# --------------------------------------------------------------------------- known problems


def pandas_cell(catalog: Catalog, fixtures: dict[str, Fixture], packages: Sequence[str]) -> Cell:
    comps = parse_inputs(list(packages), role="companion")
    return cells_for(catalog, projects(fixtures["pure"]), comps, distros=["debian-12"])["debian-12"]


PANDAS_DETAIL = "ValueError: numpy.dtype size changed, may indicate binary incompatibility. Expected 96"


def test_known_problem_is_named(
    fixtures: dict[str, Fixture], catalog: Catalog, known: list[KnownProblem]
) -> None:
    cell = pandas_cell(catalog, fixtures, ["pandas==2.0.3", "numpy==2.0.2"])
    failed = result(cell, "import wmpure, pandas, numpy", Status.FAILED, PANDAS_DETAIL, diagnosis="more")

    (out,) = diagnose([cell], [failed], {}, known)

    problem = next(k for k in known if k.id == "numpy2-abi-pandas20")
    assert out.diagnosis.startswith(
        "known problem `numpy2-abi-pandas20` (numpy 2.0.2, pandas 2.0.3 in this cell): "
        "pandas 2.0.3's extensions"
    )
    assert f"({problem.reference})" in out.diagnosis
    assert out.diagnosis.endswith("; more")


def test_known_problem_matched_by_the_diagnosis(
    fixtures: dict[str, Fixture], catalog: Catalog, known: list[KnownProblem]
) -> None:
    cell = pandas_cell(catalog, fixtures, ["numpy==1.26.4", "scipy==1.13.1"])
    note = "2 copies of OpenBLAS: numpy.libs/libopenblas64_p-r0.so, scipy.libs/libopenblasp-r0.so"
    dup = result(cell, "duplicate runtimes", Status.PASSED, note, modules=[], diagnosis=note)

    (out,) = diagnose([cell], [dup], {}, known)

    assert out.diagnosis.startswith(
        "known problem `duplicate-openblas-numpy126-scipy113` (numpy 1.26.4, scipy 1.13.1 in this cell): "
    )
    assert "scipy/scipy#15129" in out.diagnosis
    assert out.diagnosis.endswith("; " + note)


def test_known_problem_not_named_when_a_project_is_missing(
    fixtures: dict[str, Fixture], catalog: Catalog, known: list[KnownProblem]
) -> None:
    cell = pandas_cell(catalog, fixtures, ["numpy==2.0.2"])
    failed = result(cell, "import wmpure, numpy", Status.FAILED, PANDAS_DETAIL)
    (out,) = diagnose([cell], [failed], {}, known)
    # not named after the catalog entry; the NumPy ABI break is still recognised in general
    assert "numpy2-abi-pandas20" not in out.diagnosis
    assert out.diagnosis.startswith("an extension compiled against NumPy 1.x was loaded with")


def test_known_problem_not_named_when_the_status_differs(
    fixtures: dict[str, Fixture], catalog: Catalog, known: list[KnownProblem]
) -> None:
    cell = pandas_cell(catalog, fixtures, ["pandas==2.0.3", "numpy==2.0.2"])
    crashed = result(cell, "import wmpure, pandas, numpy", Status.CRASHED, PANDAS_DETAIL)
    (out,) = diagnose([cell], [crashed], {}, known)
    assert out.diagnosis == ""


def test_known_problem_not_named_when_the_pattern_differs(
    fixtures: dict[str, Fixture], catalog: Catalog, known: list[KnownProblem]
) -> None:
    cell = pandas_cell(catalog, fixtures, ["pandas==2.0.3", "numpy==2.0.2"])
    failed = result(cell, "import wmpure, pandas, numpy", Status.FAILED, "ModuleNotFoundError: pytz")
    (out,) = diagnose([cell], [failed], {}, known)
    assert out.diagnosis == ""


def test_undefined_symbol_named_with_the_glibc_release_that_added_it(catalog: Catalog) -> None:
    """A requirement candidate (no static scan) failing on an unversioned C23 reference."""
    cand = parse_inputs(["rustpkg==1.0"], role="candidate")
    cells = cells_for(catalog, cand)
    detail = (
        "ImportError: /venv/lib/python3.11/site-packages/rustpkg/_x.so: undefined symbol: __isoc23_strtol"
    )
    out = diagnose(
        list(cells.values()), [result(cells["debian-12"], "import rustpkg", Status.FAILED, detail)], {}
    )
    assert out[0].diagnosis == "__isoc23_strtol first appeared in glibc 2.38 (libc.so.6); this cell has 2.36"
    known_old = "ImportError: x.so: undefined symbol: memcpy"
    out = diagnose(
        list(cells.values()), [result(cells["debian-12"], "import rustpkg", Status.FAILED, known_old)], {}
    )
    assert out[0].diagnosis == ""


def test_missing_system_library_names_the_package_that_provides_it(catalog: Catalog) -> None:
    cand = parse_inputs(["opencv-python==4.11.0.86"], role="candidate")
    cells = cells_for(catalog, cand, distros=("debian-12", "debian-13"))
    detail = "ImportError: libGL.so.1: cannot open shared object file: No such file or directory"
    results = [result(c, "import cv2", Status.FAILED, detail) for c in cells.values()]
    out = {r.distro: r.diagnosis for r in diagnose(list(cells.values()), results, {})}
    assert (
        out["debian-12"]
        == "libGL.so.1 is not in this cell; on debian-12 it comes from `apt-get install libgl1`"
    )
    assert out["debian-13"].endswith("`apt-get install libgl1`")


def test_overclaimed_tag_is_a_failing_check_in_every_cell(
    catalog: Catalog, fixtures: dict[str, Fixture]
) -> None:
    cand = projects(fixtures["newglibc"])
    cells = cells_for(catalog, cand)
    scans = static_scans(cand)
    results = [result(c, "import wmnewglibc", Status.PASSED) for c in cells.values()]
    tags = tag_checks(list(cells.values()), results, scans)
    assert {t.distro for t in tags} == {"debian-11", "debian-12"}
    assert all(t.status is Status.FAILED and t.check.startswith("tag wmnewglibc-1.0-") for t in tags)
    assert all("GLIBC_2.36" in t.detail and "installers trust the tag" in t.diagnosis for t in tags)
    healthy = projects(fixtures["pure"])
    pure_cells = cells_for(catalog, healthy)
    ok = [result(c, "import wmpure", Status.PASSED) for c in pure_cells.values()]
    assert tag_checks(list(pure_cells.values()), ok, static_scans(healthy)) == []


def test_numpy_abi_and_protobuf_mismatch_named_with_the_installed_runtime(catalog: Catalog) -> None:
    cells = cells_for(catalog, parse_inputs(["oldext==1.0"], role="candidate"))
    cell = cells["debian-12"]
    numpy = dataclasses.replace(
        result(cell, "import oldext", Status.PASSED),
        evidence={
            "modules": ["oldext"],
            "warnings": ["A module that was compiled using NumPy 1.x cannot be run in NumPy 2"],
        },
        installed=("numpy==2.2.6", "oldext==1.0"),
    )
    proto = dataclasses.replace(
        result(cell, "import tfold", Status.FAILED, "TypeError: Descriptors cannot be created directly."),
        installed=("protobuf==4.21.0",),
    )
    out = {r.check: r.diagnosis for r in diagnose([cell], [numpy, proto], {})}
    assert out["import oldext"].startswith(
        "an extension compiled against NumPy 1.x was loaded with numpy 2.2.6"
    )
    assert out["import tfold"].startswith("_pb2.py modules generated by an old protoc run on protobuf 4.21.0")


def test_pure_wheel_fallback_named_with_the_library_it_needs(catalog: Catalog) -> None:
    cells = cells_for(catalog, parse_inputs(["wmfallback==1.0"], role="candidate"), distros=("debian-12",))
    cell = cells["debian-12"]
    failed = dataclasses.replace(
        result(
            cell,
            "import wmfallback",
            Status.FAILED,
            "OSError: libwmfast.so.1: cannot open shared object file: No such file or directory",
        ),
        evidence={"modules": ["wmfallback"], "pure_wheels": {"wmfallback": "1.0"}},
    )
    (out,) = diagnose([cell], [failed], {})
    assert out.diagnosis.startswith("no x86_64 wheel of wmfallback 1.0 for this cell; the pure wheel")
    assert "needs the system's libwmfast.so.1" in out.diagnosis


def test_known_problem_needs_the_versions_it_states(
    fixtures: dict[str, Fixture], catalog: Catalog, known: list[KnownProblem]
) -> None:
    """The entry is matched on its packages and version ranges, not on the message alone: the
    installed versions are named; another version, or another package with the same message,
    is explained on its own."""
    cell = pandas_cell(catalog, fixtures, ["pandas", "numpy"])
    in_range = result(
        cell, "import wmpure, pandas, numpy", Status.FAILED, PANDAS_DETAIL,
        installed=("pandas==2.1.4", "numpy==2.3.1"),
    )  # fmt: skip
    (out,) = diagnose([cell], [in_range], {}, known)
    assert out.diagnosis.startswith(
        "known problem `numpy2-abi-pandas20` (numpy 2.3.1, pandas 2.1.4 in this cell)"
    )
    fixed = dataclasses.replace(in_range, installed=("pandas==2.2.3", "numpy==2.3.1"))
    (out,) = diagnose([cell], [fixed], {}, known)
    assert "numpy2-abi-pandas20" not in out.diagnosis
    assert "NumPy 1.x" in out.diagnosis, "still explained: the NumPy 2 ABI break, on its own"
    other = pandas_cell(catalog, fixtures, ["astropy==5.0", "numpy==2.0.2"])
    same_message = result(
        other, "import wmpure, astropy, numpy", Status.FAILED, PANDAS_DETAIL,
        installed=("astropy==5.0", "numpy==2.0.2"),
    )  # fmt: skip
    (out,) = diagnose([other], [same_message], {}, known)
    assert "numpy2-abi-pandas20" not in out.diagnosis and "NumPy 1.x" in out.diagnosis


def test_pure_fallback_is_not_blamed_for_another_projects_library(catalog: Catalog) -> None:
    """A library load of tbb (no module) fails for a missing libhwloc: the stubs-only pure
    wheel installed next to it (no module either) is not the cause; when the load is its own,
    it is."""
    projects = parse_inputs(["tbb==2023.2.0", "types-requests==2.33"], role="candidate")
    cell = cells_for(catalog, projects, distros=("debian-12",))["debian-12"]
    detail = "OSError: libhwloc.so.15: cannot open shared object file: No such file or directory"
    pure = {"types-requests": "2.33"}
    for owner, blamed in (("tbb", False), ("types-requests", True)):
        failed = dataclasses.replace(
            result(cell, "load libtbbbind_2_5.so", Status.FAILED, detail),
            evidence={"project": owner, "pure_wheels": pure, "path": "/v/lib/libtbbbind_2_5.so"},
        )
        (out,) = diagnose([cell], [failed], {})
        assert out.diagnosis.startswith("no x86_64 wheel of types-requests") is blamed, out.diagnosis
