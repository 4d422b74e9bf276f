"""The matrix (wheelmatrix/matrix.py): predictions, target selection and cell construction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from wheelmatrix.config.catalog import Catalog, default_catalog_path, load_catalog
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError
from wheelmatrix.inputs.wheelname import parse_tags
from wheelmatrix.inputs.wheels import Project, RequirementSpec, WheelFile
from wheelmatrix.matrix.cells import Target, build_matrix, predict, select_targets

BOTH = ("x86_64", "aarch64")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


def wheel(project: str, tag: str, version: str = "1.0") -> WheelFile:
    return WheelFile(
        path=Path(f"/wheels/{project}-{version}-{tag}.whl"),
        project=canonicalize_name(project),
        version=version,
        triples=parse_tags(tag),
        modules=(project,),
    )


def wheels_project(project: str, *tags: str) -> Project:
    return Project(name=canonicalize_name(project), wheels=tuple(wheel(project, t) for t in tags))


def requirement_project(text: str, name: str) -> Project:
    spec = RequirementSpec(text=text, project=canonicalize_name(name))
    return Project(name=spec.project, requirement=spec)


def scenario(name: str = "import") -> Scenario:
    return Scenario(name=name, kind="import", description=f"scenario {name}")


def targets(
    catalog: Catalog,
    *ids: str,
    archs: Sequence[str] = (),
    pythons: Sequence[str] = (),
    runnable: Sequence[str] = BOTH,
) -> list[Target]:
    return select_targets([catalog.get(i) for i in ids], archs, pythons, "x86_64", runnable)


# --------------------------------------------------------------------------- predict


def test_predict_fitting_wheel(catalog: Catalog) -> None:
    project = wheels_project("wmdemo", "cp39-abi3-manylinux_2_17_x86_64", "cp39-abi3-manylinux_2_17_aarch64")
    pick = predict(project, catalog.get("debian-12"), "aarch64")

    assert pick.fits is True
    assert pick.wheel is not None
    assert pick.install_arg == "wmdemo-1.0-cp39-abi3-manylinux_2_17_aarch64.whl"
    assert "wmdemo-1.0-cp39-abi3-manylinux_2_17_aarch64.whl" in pick.reason


def test_predict_wheel_that_needs_a_newer_glibc(catalog: Catalog) -> None:
    project = wheels_project("wmdemo", "cp39-abi3-manylinux_2_34_x86_64")
    pick = predict(project, catalog.get("debian-11"), "x86_64")

    assert pick.fits is False
    # The installer is still asked (to confirm), so a wheel is attached.
    assert pick.install_arg == "wmdemo-1.0-cp39-abi3-manylinux_2_34_x86_64.whl"
    assert "wmdemo" in pick.reason
    assert "cp39-abi3-manylinux_2_34_x86_64" in pick.reason  # what the wheel has
    assert "manylinux_2_31_x86_64" in pick.reason  # what the cell wants
    assert "cp39" in pick.reason


def test_predict_foreign_platform_wheel(catalog: Catalog) -> None:
    pick = predict(wheels_project("wmforeign", "cp311-cp311-win_amd64"), catalog.get("debian-12"), "x86_64")
    assert pick.fits is False
    assert "wmforeign" in pick.reason and "cp311-cp311-win_amd64" in pick.reason


def test_predict_requirement_cannot_be_told_in_advance(catalog: Catalog) -> None:
    pick = predict(requirement_project("numpy>=1.26", "numpy"), catalog.get("debian-12"), "x86_64")
    assert pick.fits is None
    assert pick.wheel is None
    assert pick.install_arg == "numpy>=1.26"


# --------------------------------------------------------------------------- select_targets


def test_select_targets_all_runnable_marks_foreign_arch_emulated(catalog: Catalog) -> None:
    found = {(t.distro.id, t.arch): t.emulated for t in targets(catalog, "debian-11", "debian-12")}
    assert found == {
        ("debian-11", "x86_64"): False,
        ("debian-11", "aarch64"): True,
        ("debian-12", "x86_64"): False,
        ("debian-12", "aarch64"): True,
    }


def test_select_targets_skips_archs_the_host_cannot_run_when_not_asked(catalog: Catalog) -> None:
    found = targets(catalog, "debian-11", "debian-12", runnable=["x86_64"])
    assert [(t.distro.id, t.arch) for t in found] == [("debian-11", "x86_64"), ("debian-12", "x86_64")]


def test_select_targets_python_filter(catalog: Catalog) -> None:
    found = targets(
        catalog, "debian-11", "debian-12", "debian-13", pythons=["3.11", "3.13"], archs=["x86_64"]
    )
    assert [t.distro.id for t in found] == ["debian-12", "debian-13"]


def test_select_targets_explicit_arch_that_cannot_run_is_an_input_error(catalog: Catalog) -> None:
    with pytest.raises(InputError) as info:
        targets(catalog, "debian-12", archs=["aarch64"], runnable=["x86_64"])
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert "aarch64" in info.value.message
    assert info.value.hint is not None and "doctor" in info.value.hint


def test_select_targets_empty_selection_is_an_input_error(catalog: Catalog) -> None:
    with pytest.raises(InputError) as info:
        targets(catalog, "debian-11", "debian-12", pythons=["2.7"])
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert "empty" in info.value.message
    assert "debian-11, debian-12" in info.value.message and "2.7" in info.value.message


# --------------------------------------------------------------------------- build_matrix


def test_build_matrix_is_targets_times_scenarios_with_per_arch_picks(catalog: Catalog) -> None:
    chosen = targets(catalog, "debian-11", "debian-12")
    scenarios = [scenario("import"), scenario("import-again")]
    native = wheels_project("wmnative", "cp39-abi3-manylinux_2_17_x86_64", "cp39-abi3-manylinux_2_17_aarch64")
    companion = requirement_project("numpy>=1.26", "numpy")

    cells = build_matrix(chosen, scenarios, [native], [companion])

    assert len(cells) == len(chosen) * len(scenarios) == 8
    assert len({c.label for c in cells}) == 8
    for cell in cells:
        (pick,) = cell.candidates
        assert pick.fits is True
        assert pick.install_arg == f"wmnative-1.0-cp39-abi3-manylinux_2_17_{cell.arch}.whl"
        (comp,) = cell.companions
        assert comp.fits is None and comp.install_arg == "numpy>=1.26"
        assert cell.unfit == ()
        assert cell.emulated is (cell.arch == "aarch64")
        assert cell.label == f"{cell.distro.id}/{cell.arch}/py{cell.distro.python}/{cell.scenario.name}"


def test_build_matrix_unfit_lists_the_wheels_predicted_not_installable(catalog: Catalog) -> None:
    chosen = targets(catalog, "debian-11", "debian-12", archs=["x86_64"])
    newglibc = wheels_project("wmnewglibc", "cp39-abi3-manylinux_2_34_x86_64")
    pure = wheels_project("wmpure", "py3-none-any")

    cells = {c.distro.id: c for c in build_matrix(chosen, [scenario()], [newglibc, pure])}

    assert [p.project for p in cells["debian-11"].unfit] == ["wmnewglibc"]
    assert cells["debian-12"].unfit == ()
    assert [p.fits for p in cells["debian-11"].candidates] == [False, True]
