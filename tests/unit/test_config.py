"""The distro catalog and scenario files (wheelmatrix/config/): strict loading, helpful errors."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from wheelmatrix.config._yaml import load_yaml_file
from wheelmatrix.config.catalog import Catalog, default_catalog_path, load_catalog
from wheelmatrix.config.scenarios import (
    KINDS,
    Scenario,
    default_scenarios_path,
    load_scenarios,
    select_scenarios,
)
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError

ALL_IDS = {
    "debian-11",
    "almalinux-8",
    "almalinux-9",
    "musl-1.2.5",
    "debian-12",
    "debian-13",
    "ubuntu-20.04",
    "ubuntu-22.04",
    "ubuntu-24.04",
    "fedora-41",
    "alpine-3.20",
    "centos-7",
}

MINIMAL: dict[str, Any] = {
    "schema": 1,
    "families": {"debian": {"python_packages": ["python3"], "install": ["apt-get install -y {packages}"]}},
    "distros": {
        "mini-1": {
            "name": "Mini 1",
            "family": "debian",
            "libc": {"family": "glibc", "version": "2.36"},
            "python": "3.11",
            "archs": ["x86_64"],
            "images": {"x86_64": "mini:1"},
        }
    },
}


def write_yaml(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(MINIMAL)
    change(doc)
    return doc


def mini(doc: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = doc["distros"]["mini-1"]
    return entry


def catalog_error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        load_catalog(path)
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert str(path) in info.value.message
    return str(info.value)


# --------------------------------------------------------------------------- the real catalog


@pytest.fixture(scope="module")
def real() -> Catalog:
    return load_catalog(default_catalog_path())


def test_real_catalog_has_every_distro(real: Catalog) -> None:
    assert set(real.distros) == ALL_IDS
    assert all(d.archs == ("x86_64", "aarch64") for d in real.distros.values())


def test_real_catalog_debian_12(real: Catalog) -> None:
    d = real.get("debian-12")
    assert (d.libc.family, d.libc.version, str(d.libc)) == ("glibc", (2, 36), "glibc 2.36")
    assert (d.python, d.python_version, d.python_executable) == ("3.11", (3, 11), "/usr/bin/python3")
    assert d.recipe is not None
    assert (d.recipe.tool, d.recipe.suite) == ("mmdebstrap", "bookworm")
    assert "python3-venv" in d.recipe.packages
    assert d.images == {"x86_64": "debian:12", "aarch64": "debian:12"}
    script = d.family.install_script()
    assert "python3 python3-venv" in script and "{packages}" not in script


def test_real_catalog_odd_ones(real: Catalog) -> None:
    assert real.get("alpine-3.20").libc.family == "musl"
    assert real.get("centos-7").supports_uv is False
    assert real.get("ubuntu-22.04").python == "3.10"
    assert real.get("fedora-41").libc.version == (2, 40)


def test_get_unknown_distro_suggests_the_close_one(real: Catalog) -> None:
    with pytest.raises(InputError) as info:
        real.get("debain-12")
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert "debain-12" in info.value.message
    assert "did you mean 'debian-12'" in info.value.message


# --------------------------------------------------------------------------- broken catalogs


def test_minimal_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog(write_yaml(tmp_path, MINIMAL))
    assert list(catalog.distros) == ["mini-1"]
    assert catalog.get("mini-1").recipe is None


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    lines = yaml.safe_dump(MINIMAL, sort_keys=False).splitlines()
    bad_line = next(i for i, ln in enumerate(lines) if ln.strip().startswith("name:")) + 1
    lines[bad_line - 1] += ": oops: nested"
    path = tmp_path / "catalog.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    message = catalog_error(path)
    assert "invalid YAML" in message
    assert f"line {bad_line}," in message


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in catalog_error(tmp_path / "nope.yaml")


@pytest.mark.parametrize("content", ["", "- just\n- a list\n"], ids=["empty", "list"])
def test_top_level_must_be_a_mapping(tmp_path: Path, content: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(content, encoding="utf-8")
    assert "top level must be a mapping" in catalog_error(path)


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda d: mini(d).update(pyton="3.11"),
            ["unknown key 'distros.mini-1.pyton'", "did you mean 'python'"],
        ),
        (
            lambda d: mini(d)["libc"].update(versoin="2.36"),
            ["distros.mini-1.libc.versoin", "did you mean 'version'"],
        ),
        (lambda d: d.update(familes={}), ["unknown key 'familes'", "did you mean 'families'"]),
        (lambda d: mini(d).pop("python"), ["missing required key 'distros.mini-1.python'"]),
    ],
    ids=["distro-key", "libc-key", "top-key", "missing-key"],
)
def test_keys_are_checked(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    message = catalog_error(write_yaml(tmp_path, mutated(change)))
    for text in expected:
        assert text in message


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda d: mini(d).update(archs="x86_64"), "'distros.mini-1.archs' must be a list of strings"),
        (lambda d: mini(d).update(supports_uv="yes"), "'distros.mini-1.supports_uv' must be true or false"),
        (lambda d: mini(d).update(name=["x"]), "'distros.mini-1.name' must be a non-empty string"),
        (lambda d: mini(d).update(libc="glibc 2.36"), "distros.mini-1.libc must be a mapping, got str"),
        (lambda d: mini(d).update(python="three"), "is not a MAJOR.MINOR version"),
        (lambda d: mini(d)["libc"].update(family="uclibc"), "'distros.mini-1.libc.family' must be one of"),
        (
            lambda d: mini(d).update(images={"x86_64": ""}),
            "'distros.mini-1.images.x86_64' must be a non-empty",
        ),
        (
            lambda d: mini(d).update(images={"aarch64": "mini:1"}),
            "'distros.mini-1.images.aarch64' is not in archs",
        ),
        (lambda d: mini(d).pop("images"), "needs 'images' or a 'recipe'"),
        (lambda d: d["families"]["debian"].update(install=[]), "must list at least one command"),
    ],
    ids=[
        "archs",
        "bool",
        "name",
        "libc",
        "version",
        "libc-family",
        "image",
        "image-arch",
        "no-image",
        "no-install",
    ],
)
def test_wrong_values(tmp_path: Path, change: Callable[[dict[str, Any]], None], expected: str) -> None:
    assert expected in catalog_error(write_yaml(tmp_path, mutated(change)))


def test_unknown_family(tmp_path: Path) -> None:
    message = catalog_error(write_yaml(tmp_path, mutated(lambda d: mini(d).update(family="debain"))))
    assert "unknown family 'debain'" in message and "did you mean 'debian'" in message


def test_unknown_arch(tmp_path: Path) -> None:
    message = catalog_error(write_yaml(tmp_path, mutated(lambda d: mini(d).update(archs=["x86-64"]))))
    assert "unknown arch 'x86-64'" in message and "did you mean 'x86_64'" in message


def test_bad_distro_id(tmp_path: Path) -> None:
    doc = mutated(lambda d: d["distros"].update({"Mini 2": d["distros"]["mini-1"]}))
    assert "distro id 'Mini 2'" in catalog_error(write_yaml(tmp_path, doc))


@pytest.mark.parametrize("field", ["python", "libc"])
def test_unquoted_version_with_trailing_zero_is_not_silently_changed(tmp_path: Path, field: str) -> None:
    path = tmp_path / "catalog.yaml"
    text = yaml.safe_dump(MINIMAL, sort_keys=False)
    text = text.replace("python: '3.11'", "python: 3.10").replace("version: '2.36'", "version: 2.40")
    path.write_text(text, encoding="utf-8")
    try:
        distro = load_catalog(path).get("mini-1")
    except InputError as exc:  # refusing the ambiguous number is fine too
        assert str(path) in exc.message
        return
    if field == "python":
        assert distro.python == "3.10"
    else:
        assert distro.libc.version == (2, 40)


# --------------------------------------------------------------------------- scenarios


def test_builtin_scenarios() -> None:
    known = load_scenarios(default_scenarios_path())
    assert list(known) == ["import", "symbols", "commands"]
    assert known["commands"].kind == "commands" and not known["commands"].default  # opt-in
    assert known["import"].kind == "import" and known["symbols"].kind == "symbols"
    assert select_scenarios(known, []) == [known["import"], known["symbols"]]  # all by default
    assert select_scenarios(known, ["symbols"]) == [known["symbols"]]


def test_select_unknown_scenario() -> None:
    known = load_scenarios(default_scenarios_path())
    with pytest.raises(InputError) as info:
        select_scenarios(known, ["imprt"])
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert "unknown scenario 'imprt'" in info.value.message
    assert "did you mean 'import'" in info.value.message


@pytest.mark.parametrize(
    "doc, expected",
    [
        ({"scenarios": {"x": {"kind": "imprt", "description": "d"}}}, "did you mean 'import'"),
        ({"scenarios": {"x": {"kind": "import"}}}, "missing required key 'scenarios.x.description'"),
        (
            {"scenarios": {"x": {"kind": "import", "description": "d", "timeout": 3}}},
            "unknown key 'scenarios.x.timeout'",
        ),
    ],
    ids=["kind", "missing", "extra"],
)
def test_bad_scenario_file(tmp_path: Path, doc: dict[str, Any], expected: str) -> None:
    path = write_yaml(tmp_path, doc)
    with pytest.raises(InputError) as info:
        load_scenarios(path)
    assert str(path) in info.value.message and expected in info.value.message


# --------------------------------------------------------------------------- line numbers


def line_of(text: str, start: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith(start))


def test_unknown_key_error_names_its_line(tmp_path: Path) -> None:
    text = yaml.safe_dump(MINIMAL, sort_keys=False).replace("python: '3.11'", "pyton: '3.11'")
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    message = catalog_error(path)
    assert f"{path}:{line_of(text, 'pyton:')}: unknown key 'distros.mini-1.pyton'" in message


def test_missing_key_error_names_the_mapping_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, mutated(lambda d: mini(d).pop("python")))
    text = path.read_text(encoding="utf-8")
    message = catalog_error(path)
    assert f"{path}:{line_of(text, 'mini-1:')}: missing required key 'distros.mini-1.python'" in message


def test_wrong_type_error_names_its_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, mutated(lambda d: mini(d).update(supports_uv="yes")))
    text = path.read_text(encoding="utf-8")
    message = catalog_error(path)
    assert (
        f"{path}:{line_of(text, 'supports_uv:')}: 'distros.mini-1.supports_uv' must be true or false"
        in message
    )


def test_list_item_error_names_the_item_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    text = yaml.safe_dump(mutated(lambda d: mini(d).update(archs=["x86_64", 3])), sort_keys=False)
    path.write_text(text, encoding="utf-8")
    message = catalog_error(path)
    assert f"{path}:{line_of(text, '- 3')}: 'distros.mini-1.archs' must be a list of strings" in message


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("schema: 1\nfamilies: {}\nschema: 2\n", encoding="utf-8")
    message = catalog_error(path)
    assert "line 3" in message and "duplicate key 'schema' (first defined at line 1)" in message


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    text = yaml.safe_dump(MINIMAL, sort_keys=False).replace(
        "families:\n  debian:\n",
        "families:\n  base: &fam {python_packages: [p], install: [i]}\n"
        "  copy: {<<: *fam, install: [j]}\n  debian:\n",
    )
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    assert list(load_catalog(path).distros) == ["mini-1"]
    doc = load_yaml_file(path)
    assert doc["families"]["copy"] == {"python_packages": ["p"], "install": ["j"]}


# --------------------------------------------------------------------------- scenario kinds


def test_scenario_file_with_every_kind(tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "pyproject.toml").write_text(
        '[tool.cibuildwheel]\ntest-command = "pytest {project}"\n'
    )
    path = tmp_path / "scenarios.yaml"
    path.write_text(
        textwrap.dedent(
            """
            scenarios:
              imports: {kind: import, description: i}
              cmd:
                kind: command
                description: run the self test
                argv: [python, -m, demo.selftest]
                env: {DEMO: "1"}
                timeout: 60
              tests:
                kind: pytest
                description: the test suite
                sources: suite
                requires: ["hypothesis"]
              project-tests: {kind: cibuildwheel, description: c, project: suite, network: true}
            """
        ),
        encoding="utf-8",
    )
    known = load_scenarios(path)
    assert set(KINDS) == {"import", "symbols", "pytest", "command", "commands", "cibuildwheel"}
    assert known["imports"] == Scenario(name="imports", kind="import", description="i")
    cmd = known["cmd"]
    assert (cmd.argv, cmd.env, cmd.timeout_s, cmd.sources) == (
        ("python", "-m", "demo.selftest"),
        {"DEMO": "1"},
        60.0,
        None,
    )
    tests = known["tests"]
    assert tests.sources == tmp_path / "suite"  # relative to the scenario file
    assert (tests.argv, tests.requires) == (("{project}",), ("hypothesis",))
    cibw = known["project-tests"]
    assert cibw.cibuildwheel is not None and cibw.cibuildwheel.root == tmp_path / "suite"
    assert (cibw.sources, cibw.network) == (tmp_path / "suite", True)


@pytest.mark.parametrize(
    "entry, line, expected",
    [
        (
            "{kind: pytest, description: d, sources: nowhere}",
            3,
            "'scenarios.x.sources': no such directory 'nowhere'",
        ),
        ("{kind: command, description: d}", 3, "a command scenario needs a non-empty 'scenarios.x.argv'"),
        (
            "{kind: symbols, description: d, argv: [a]}",
            3,
            "unknown key 'scenarios.x.argv' for kind 'symbols'",
        ),
    ],
)
def test_bad_scenario_kinds(tmp_path: Path, entry: str, line: int, expected: str) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(f"scenarios:\n  ok: {{kind: import, description: d}}\n  x: {entry}\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_scenarios(path)
    assert f"{path}:{line}: " in info.value.message
    assert expected in info.value.message


def test_real_catalog_musl_entry(real: Catalog) -> None:
    d = real.get("musl-1.2.5")
    assert (d.libc.family, d.libc.version) == ("musl", (1, 2))
    assert d.recipe is not None and d.recipe.tool == "musl-python"
    assert d.images == {} and d.family.install == ()
    assert d.python_executable == "/usr/local/bin/python3"
    assert "not Alpine" in d.name and "3.11.2" in d.name and "1.2.5" in d.name


def test_recipe_only_entry_needs_no_family_but_images_do(tmp_path: Path) -> None:
    base = load_catalog(default_catalog_path())
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "schema: 1\ndistros:\n  mine:\n    name: x\n    libc: {family: glibc, version: '2.36'}\n"
        "    python: '3.11'\n    archs: [x86_64]\n    images: {x86_64: 'debian:12'}\n"
    )
    with pytest.raises(InputError, match="needs a 'family'"):
        load_catalog(extra, base)


def test_unknown_recipe_tool_is_named(tmp_path: Path) -> None:
    base = load_catalog(default_catalog_path())
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "schema: 1\ndistros:\n  mine:\n    name: x\n    libc: {family: musl, version: '1.2'}\n"
        "    python: '3.11'\n    archs: [x86_64]\n    recipe: {tool: musl-pyhton}\n"
    )
    with pytest.raises(InputError, match="unknown tool 'musl-pyhton'.*musl-python"):
        load_catalog(extra, base)
