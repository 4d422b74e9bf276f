"""The known-problem catalog (wheelmatrix/config/known_problems.py, scenarios/known-problems.yaml) and
the extra cells it adds to the matrix (wheelmatrix/matrix.py CompanionSet)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from wheelmatrix.config.catalog import Catalog, Distro, default_catalog_path, load_catalog
from wheelmatrix.config.known_problems import KnownProblem, default_known_problems_path, load_known_problems
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError
from wheelmatrix.inputs.wheelname import parse_tags
from wheelmatrix.inputs.wheels import Project, WheelFile, parse_inputs
from wheelmatrix.matrix.cells import Cell, CompanionSet, Target, build_matrix, select_targets
from wheelmatrix.model import Status

IMPORT = Scenario(name="import", kind="import", description="import everything")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


@pytest.fixture(scope="module")
def known() -> dict[str, KnownProblem]:
    return {k.id: k for k in load_known_problems(default_known_problems_path())}


# --------------------------------------------------------------------------- the real catalog


def test_real_catalog_loads(known: dict[str, KnownProblem]) -> None:
    assert set(known) == {
        "numpy2-abi-pandas20",
        "duplicate-openblas-numpy126-scipy113",
        "opencv-python-and-headless",
    }
    pandas = known["numpy2-abi-pandas20"]
    assert pandas.packages == ("pandas==2.0.3", "numpy==2.0.2")
    assert pandas.projects == frozenset({"pandas", "numpy"})
    assert pandas.imports == ()
    assert pandas.libc == ("glibc",)  # the default
    assert pandas.statuses == (Status.FAILED,)
    assert pandas.pythons == ("3.9", "3.10", "3.11")
    assert pandas.verified and all("(" in v for v in pandas.verified)

    blas = known["duplicate-openblas-numpy126-scipy113"]
    assert blas.projects == frozenset({"numpy", "scipy"})
    assert blas.imports == ("scipy.linalg",)
    assert blas.statuses == (Status.PASSED, Status.FAILED)
    assert blas.reference == "scipy/scipy#15129"
    assert blas.root_cause.strip() and blas.symptom


def test_applies_by_python_arch_and_libc(catalog: Catalog, known: dict[str, KnownProblem]) -> None:
    pandas = known["numpy2-abi-pandas20"]
    blas = known["duplicate-openblas-numpy126-scipy113"]
    d11, d12, d13 = (catalog.get(d) for d in ("debian-11", "debian-12", "debian-13"))

    assert pandas.applies(d11, "x86_64") and pandas.applies(d12, "aarch64")
    assert not pandas.applies(d13, "x86_64")  # Python 3.13
    assert not pandas.applies(d12, "riscv64")
    assert blas.applies(d12, "x86_64") and not blas.applies(d13, "aarch64")

    musl = Distro(
        id="alpine-x",
        name="musl distro",
        family=d12.family,
        libc=type(d12.libc)(family="musl", version=(1, 2)),
        python="3.11",
        python_executable="/usr/bin/python3",
        archs=("x86_64",),
    )
    assert not pandas.applies(musl, "x86_64")


def test_matches_by_status_and_pattern(known: dict[str, KnownProblem]) -> None:
    pandas = known["numpy2-abi-pandas20"]
    text = "ValueError: numpy.dtype size changed, may indicate binary incompatibility"
    assert pandas.matches(Status.FAILED, text)
    assert pandas.matches(
        Status.FAILED, "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.2"
    )
    assert not pandas.matches(Status.CRASHED, text)
    assert not pandas.matches(Status.FAILED, "ModuleNotFoundError: No module named 'pytz'")

    blas = known["duplicate-openblas-numpy126-scipy113"]
    assert blas.matches(Status.PASSED, "2 copies of OpenBLAS: a, b")
    assert blas.matches(
        Status.FAILED,
        "`openblas_get_config` defined by numpy.libs/libopenblas64_p.so and scipy.libs/libopenblasp.so",
    )
    assert not blas.matches(Status.CRASHED, "2 copies of OpenBLAS: a, b")


# --------------------------------------------------------------------------- input errors

GOOD = {
    "packages": '["pandas==2.0.3", "numpy==2.0.2"]',
    "pythons": '["3.11"]',
    "archs": "[x86_64]",
    "status": "[failed]",
    "pattern": '"numpy\\\\.dtype size changed"',
}


def write_catalog(tmp_path: Path, **override: str) -> Path:
    values = {**GOOD, **override}
    path = tmp_path / "known.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            problems:
              broken-entry:
                packages: {values["packages"]}
                pythons: {values["pythons"]}
                archs: {values["archs"]}
                symptom: "it breaks"
                signature:
                  status: {values["status"]}
                  pattern: {values["pattern"]}
                root_cause: "because"
                reference: "somewhere#1"
            """
        )
    )
    return path


def load_error(tmp_path: Path, **override: str) -> InputError:
    path = write_catalog(tmp_path, **override)
    with pytest.raises(InputError) as info:
        load_known_problems(path)
    assert info.value.exit_code == EXIT_BAD_INPUT
    return info.value


def test_good_entry_loads(tmp_path: Path) -> None:
    (problem,) = load_known_problems(write_catalog(tmp_path))
    assert problem.id == "broken-entry"
    assert problem.pattern.search("numpy.dtype size changed")
    assert problem.verified == ()


def test_bad_regex(tmp_path: Path) -> None:
    err = load_error(tmp_path, pattern='"numpy.dtype (size"')
    assert str(tmp_path / "known.yaml") in err.message
    assert "problems.broken-entry.signature.pattern" in err.message
    assert "invalid regular expression" in err.message


def test_unknown_status(tmp_path: Path) -> None:
    err = load_error(tmp_path, status="[failed, exploded]")
    assert str(tmp_path / "known.yaml") in err.message
    assert "problems.broken-entry.signature.status" in err.message
    assert "exploded" in err.message


def test_unknown_arch(tmp_path: Path) -> None:
    err = load_error(tmp_path, archs="[x86_64, sparc]")
    assert str(tmp_path / "known.yaml") in err.message
    assert "problems.broken-entry.archs" in err.message and "sparc" in err.message


def test_bad_python_version(tmp_path: Path) -> None:
    err = load_error(tmp_path, pythons='["3"]')
    assert "problems.broken-entry.pythons" in err.message and "'3'" in err.message


def test_unknown_key(tmp_path: Path) -> None:
    path = write_catalog(tmp_path)
    path.write_text(path.read_text().replace("root_cause:", "root_casue:"))
    with pytest.raises(InputError) as info:
        load_known_problems(path)
    assert "problems.broken-entry.root_casue" in info.value.message


def test_bad_requirement_names_the_file_and_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, packages='["pandas>>2", "numpy==2.0.2"]')
    assert "pandas>>2" in err.message
    assert str(tmp_path / "known.yaml") in err.message
    assert "problems.broken-entry.packages" in err.message


def test_bad_requirement_is_an_input_error(tmp_path: Path) -> None:
    err = load_error(tmp_path, packages='["pandas>>2"]')
    assert "pandas>>2" in err.message


# --------------------------------------------------------------------------- matrix variants


def wheels_project(project: str, tag: str) -> Project:
    wheel = WheelFile(
        path=Path(f"/wheels/{project}-1.0-{tag}.whl"),
        project=canonicalize_name(project),
        version="1.0",
        triples=parse_tags(tag),
        modules=(project,),
    )
    return Project(name=wheel.project, wheels=(wheel,))


def all_targets(catalog: Catalog) -> list[Target]:
    distros = [catalog.get(d) for d in ("debian-11", "debian-12", "debian-13")]
    return select_targets(distros, [], [], "x86_64", ["x86_64", "aarch64"])


def companion_set(problem: KnownProblem) -> CompanionSet:
    return CompanionSet(
        name=problem.id,
        projects=tuple(parse_inputs(list(problem.packages), role=f"known problem {problem.id}")),
        imports=problem.imports,
        applies=problem.applies,
    )


def test_extra_cells_only_where_the_set_applies(catalog: Catalog, known: dict[str, KnownProblem]) -> None:
    problem = known["numpy2-abi-pandas20"]
    targets = all_targets(catalog)
    cand = wheels_project("wmpure", "py3-none-any")

    cells = build_matrix(targets, [IMPORT], [cand], [], [companion_set(problem)])

    plain = [c for c in cells if not c.variant]
    extra = [c for c in cells if c.variant and not c.baseline]
    baselines = [c for c in cells if c.baseline]
    assert len(plain) == len(targets) == 6
    # the set alone, once per target where it applies: what fails without the candidates
    assert {(c.distro.id, c.arch) for c in baselines} == {(c.distro.id, c.arch) for c in extra}
    for cell in baselines:
        assert cell.candidates == () and cell.variant == "numpy2-abi-pandas20.baseline"
        assert [p.install_arg for p in cell.companions] == ["pandas==2.0.3", "numpy==2.0.2"]
    assert {(c.distro.id, c.arch) for c in extra} == {
        (d, a) for d in ("debian-11", "debian-12") for a in ("x86_64", "aarch64")
    }
    for cell in extra:
        assert cell.variant == "numpy2-abi-pandas20"
        assert cell.label.endswith("/import+numpy2-abi-pandas20")
        assert cell.label.startswith(f"{cell.distro.id}/{cell.arch}/py{cell.python}/")
        assert problem.applies(cell.distro, cell.arch)
        assert [p.install_arg for p in cell.companions] == ["pandas==2.0.3", "numpy==2.0.2"]
        assert [p.project for p in cell.candidates] == ["wmpure"]
    for cell in plain:
        assert cell.companions == () and "+" not in cell.label and cell.extra_imports == ()


def test_extra_imports_travel_with_the_set(catalog: Catalog, known: dict[str, KnownProblem]) -> None:
    problem = known["duplicate-openblas-numpy126-scipy113"]
    cells = build_matrix(
        all_targets(catalog),
        [IMPORT],
        [wheels_project("wmpure", "py3-none-any")],
        [],
        [companion_set(problem)],
    )
    extra = [c for c in cells if c.variant]
    assert extra and all(c.extra_imports == ("scipy.linalg",) for c in extra)
    assert {c.distro.id for c in extra} == {"debian-11", "debian-12"}


def test_set_pins_replace_a_user_companion_of_the_same_project(
    catalog: Catalog, known: dict[str, KnownProblem]
) -> None:
    problem = known["numpy2-abi-pandas20"]
    user = parse_inputs(["numpy>=1.26", "requests==2.32.3"], role="companion")
    targets = select_targets([catalog.get("debian-12")], ["x86_64"], [], "x86_64", ["x86_64"])

    cells = build_matrix(
        targets, [IMPORT], [wheels_project("wmpure", "py3-none-any")], user, [companion_set(problem)]
    )

    (plain,) = [c for c in cells if not c.variant]
    (extra,) = [c for c in cells if c.variant and not c.baseline]
    assert [p.install_arg for p in plain.companions] == ["numpy>=1.26", "requests==2.32.3"]
    assert sorted(p.install_arg for p in extra.companions) == [
        "numpy==2.0.2",
        "pandas==2.0.3",
        "requests==2.32.3",
    ]


def test_a_candidate_is_never_also_a_companion(catalog: Catalog, known: dict[str, KnownProblem]) -> None:
    problem = known["numpy2-abi-pandas20"]
    targets = select_targets([catalog.get("debian-12")], ["x86_64"], [], "x86_64", ["x86_64"])
    cand = wheels_project("numpy", "cp311-cp311-manylinux_2_17_x86_64")

    cells = build_matrix(targets, [IMPORT], [cand], [], [companion_set(problem)])

    (extra,) = [c for c in cells if c.variant and not c.baseline]
    assert [p.install_arg for p in extra.companions] == ["pandas==2.0.3"]
    assert [p.project for p in extra.candidates] == ["numpy"]


def test_sets_that_never_apply_add_nothing(catalog: Catalog) -> None:
    never = CompanionSet(name="never", projects=(), applies=lambda distro, arch: False)
    targets = all_targets(catalog)
    cells = build_matrix(targets, [IMPORT], [wheels_project("wmpure", "py3-none-any")], [], [never])
    assert len(cells) == len(targets)
    assert all(c.variant == "" for c in cells)


def test_failure_the_baseline_shows_too_is_known_and_does_not_fail_the_run(
    catalog: Catalog, known: dict[str, KnownProblem]
) -> None:
    from wheelmatrix.findings.diagnose import diagnose
    from wheelmatrix.model import CheckResult, Status, exit_code

    problem = known["numpy2-abi-pandas20"]
    targets = select_targets([catalog.get("debian-12")], ["x86_64"], [], "x86_64", ["x86_64"])
    cells = build_matrix(
        targets, [IMPORT], [wheels_project("wmpure", "py3-none-any")], [], [companion_set(problem)]
    )
    base = next(c for c in cells if c.baseline)
    extra = next(c for c in cells if c.variant and not c.baseline)
    detail = "ValueError: numpy.dtype size changed, may indicate binary incompatibility"

    def res(cell: Cell, check: str, status: Status, text: str = "") -> CheckResult:
        mods = check.removeprefix("import ").split(", ")
        return CheckResult(
            distro=cell.distro.id, arch=cell.arch, python=cell.python, scenario="import", check=check,
            status=status, detail=text, variant=cell.variant, evidence={"modules": mods},
        )  # fmt: skip

    results = [
        res(base, "import pandas, numpy", Status.FAILED, detail),
        res(extra, "import wmpure", Status.PASSED),
        res(extra, "import wmpure, pandas, numpy", Status.FAILED, detail),
    ]
    out = {(r.variant, r.check): r for r in diagnose(cells, results, {}, list(known.values()))}
    combined = out[("numpy2-abi-pandas20", "import wmpure, pandas, numpy")]
    assert combined.status is Status.KNOWN
    assert "fails the same way without the candidates" in combined.diagnosis
    assert out[("numpy2-abi-pandas20.baseline", "import pandas, numpy")].status is Status.KNOWN
    assert exit_code(out.values()) == 0
    # a failure of another kind, which the baseline does not show, still counts
    other = res(extra, "import wmpure, pandas, numpy", Status.CRASHED, "SIGSEGV")
    (crash,) = [
        r
        for r in diagnose(cells, [results[0], other], {}, list(known.values()))
        if r.variant == extra.variant
    ]
    assert crash.status is Status.CRASHED


def test_affects_ranges_load_and_a_bad_one_names_its_key(tmp_path: Path) -> None:
    path = write_catalog(tmp_path)
    path.write_text(
        path.read_text().replace("    pythons:", '    affects: ["pandas<2.2.2", "numpy>=2"]\n    pythons:')
    )
    (problem,) = load_known_problems(path)
    assert problem.affects == ("pandas<2.2.2", "numpy>=2")
    assert problem.covers({"pandas": "2.1.4", "numpy": "2.3.0"})
    assert not problem.covers({"pandas": "2.2.3", "numpy": "2.3.0"})
    assert not problem.covers({"numpy": "2.3.0"}), "a package it affects is not installed"
    path.write_text(path.read_text().replace('"numpy>=2"', '"numpy>=2; rm -rf /"'))
    with pytest.raises(InputError) as info:
        load_known_problems(path)
    assert "problems.broken-entry.affects" in info.value.message
