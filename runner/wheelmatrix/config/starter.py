"""What the starter `wheelmatrix.yaml` that `wheelmatrix init` writes learns from the project:
its name, and lines prefilled from its pyproject.toml and dist/ where that is possible. The
keys, what each does and its default come from the option table (wheelmatrix.options
.starter_config, which writes the file)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from wheelmatrix.errors import InputError


@dataclass(frozen=True, kw_only=True)
class _Project:
    name: str
    requires_python: str | None


def _q(text: str) -> str:
    """A YAML scalar for any string (a JSON string is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _flow(items: Sequence[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _read_project(project_dir: Path) -> _Project:
    doc: dict[str, Any] = {}
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        from wheelmatrix.config._yaml import load_toml_file

        try:
            doc = load_toml_file(pyproject)
        except InputError:
            doc = {}  # a broken pyproject.toml: write the generic starter
    project = _table(doc, "project")
    name = project.get("name") if isinstance(project.get("name"), str) else project_dir.resolve().name
    requires_python = project.get("requires-python")
    return _Project(
        name=_one_line(str(name)),
        requires_python=requires_python if isinstance(requires_python, str) else None,
    )


def _catalog_info() -> tuple[list[tuple[str, str]], list[str]]:
    """(distro id, its Python) from the shipped catalog, and the known-problem set ids."""
    distros: list[tuple[str, str]] = []
    problems: list[str] = []
    try:
        from wheelmatrix.config.catalog import load_catalogs

        distros = [(d.id, d.python) for d in load_catalogs().distros.values()]
    except (InputError, OSError):
        pass
    try:
        from wheelmatrix.config.known_problems import default_known_problems_path, load_known_problems

        problems = [k.id for k in load_known_problems(default_known_problems_path())]
    except (InputError, OSError):
        pass
    return distros, problems


def _pythons(requires_python: str | None, distros: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The catalog's Pythons that requires-python admits, and those it does not."""
    versions = sorted({p for _d, p in distros}, key=lambda v: tuple(int(x) for x in v.split(".")))
    if requires_python is None:
        return versions, []
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return versions, []
    keep = [v for v in versions if spec.contains(f"{v}.0", prereleases=True)]
    return keep, [v for v in versions if v not in keep]


def prefill(project_dir: Path) -> tuple[list[str], dict[str, list[str]]]:
    """The starter's first lines (whose it is, how it is read) and, for the run-file keys the
    project says something about, the lines in place of the commented default
    (wheelmatrix.options.starter_config writes the rest)."""
    project = _read_project(project_dir)
    header = [
        f"# wheelmatrix run configuration for {project.name} (written by `wheelmatrix init`).",
        "#",
        "# `wheelmatrix validate` reads wheelmatrix.yaml from the current directory; command-line",
        "# flags override what is set here. Paths and globs are relative to this file.",
        "# Every setting below shows its default; uncomment a line to change it.",
    ]
    distros, problems = _catalog_info()
    dist = project_dir / "dist"
    wheels = sorted(dist.glob("*.whl")) if dist.is_dir() else []
    keep, dropped = _pythons(project.requires_python, distros)
    out: dict[str, list[str]] = {}
    if wheels:
        out["candidates"] = [f"candidates: [dist/*.whl]  # {len(wheels)} wheel(s) in dist/ now"]
    else:
        out["candidates"] = [
            "# No wheels in dist/ yet: build them first (e.g. `python -m build`), then use",
            "# candidates: [dist/*.whl]",
            "candidates: []",
        ]
    if problems:
        out["known-problems"] = [f"# Sets: {', '.join(problems)}", "# known-problems: true"]
    if distros:
        listing = ", ".join(f"{d} (Python {p})" for d, p in distros)
        out["distros"] = [
            *textwrap.wrap(f"Catalog: {listing}", width=92, initial_indent="# ", subsequent_indent="#   "),
            "# distros: [debian-12, ubuntu-24.04]",
        ]
    if dropped and keep:
        out["pythons"] = [
            f"# From requires-python {_q(project.requires_python or '')} (leaves out {', '.join(dropped)}):",
            f"pythons: {_flow(keep)}",
        ]
    else:
        out["pythons"] = [f"# pythons: {_flow(keep[-2:] or ['3.12'])}"]
    out["scenarios"] = _scenario_lines(project_dir, project)
    return header, out


def _scenario_lines(project_dir: Path, project: _Project) -> list[str]:
    out = [
        "#   {name, kind: command, argv, env, timeout}: run argv in the cell; exit status 0 passes",
        "#   {name, kind: pytest, sources, argv, requires, env, timeout}: copy `sources` into the cell,",
        '#     install pytest plus `requires`, run pytest with argv (default ["{project}"], where',
        "#     {project} is the copy of sources)",
    ]
    from wheelmatrix.config.cibuildwheel import find_project

    try:  # the file, not this shell's CIBW_* variables: they are read at every run
        cibw = find_project(project_dir, environ={})
        if cibw is not None:
            cibw.check()
            tests = cibw.resolve("cp312-manylinux_x86_64")
        problem = ""
    except InputError as exc:
        cibw, problem = None, exc.message
    if cibw is not None:
        settings = [("test-command", tests.command), ("before-test", tests.before_test)]
        out += [
            "#   {name, kind: cibuildwheel, project, package, network, timeout}: the project's",
            "#     [tool.cibuildwheel] tests, run as cibuildwheel runs them",
            "# The tests come from [tool.cibuildwheel] in pyproject.toml, read there at every run",
            "# (written down once; test-skip picks cells by cibuildwheel's build identifiers):",
            *(f"#   {key}: {_one_line(value.text)}" for key, value in settings if value is not None),
            *([f"#   test-requires: {' '.join(tests.requires)}"] if tests.requires else []),
            "scenarios:",
            "  - import",
            "  - symbols",
            "  - name: cibuildwheel",
            "    kind: cibuildwheel",
            "    # network: true  # keep the network for the tests (cut by default)",
            "    # timeout: 600  # seconds for the whole scenario",
        ]
        return out
    if problem:
        out.append(f"# ([tool.cibuildwheel] could not be read: {_one_line(problem)})")
    sources = "tests" if (project_dir / "tests").is_dir() else "path/to/tests"
    return [
        *out,
        "# scenarios:",
        "#   - import",
        "#   - symbols",
        "#   - name: tests",
        "#     kind: pytest",
        f"#     sources: {sources}",
        '#     requires: ["hypothesis"]',
        "#   - name: selftest",
        "#     kind: command",
        '#     argv: ["python", "-m", "mypkg.selftest"]',
    ]
