"""The starter `wheelmatrix.yaml` that `wheelmatrix init` writes: every key, commented, with its
default, prefilled from the project's pyproject.toml and dist/ where that is possible."""

from __future__ import annotations

import json
import shlex
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from wheelmatrix.errors import InputError

_SHELL = ("&&", "||", ";", "|", ">", "<", "$(", "`")
_PYTEST_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("pytest",),
    ("python", "-m", "pytest"),
    ("python3", "-m", "pytest"),
    ("py.test",),
)


@dataclass(frozen=True, kw_only=True)
class _Project:
    name: str
    requires_python: str | None
    test_command: str | None  # [tool.cibuildwheel] test-command, as written
    test_requires: tuple[str, ...]
    test_sources: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class _TestScenario:
    kind: str  # pytest | command
    argv: tuple[str, ...]
    sources: str | None
    requires: tuple[str, ...]


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
    cibw = _table(_table(doc, "tool"), "cibuildwheel")
    name = project.get("name") if isinstance(project.get("name"), str) else project_dir.resolve().name
    requires_python = project.get("requires-python")
    command = cibw.get("test-command")
    if isinstance(command, list) and len(command) == 1:
        command = command[0]
    requires = cibw.get("test-requires", [])
    if isinstance(requires, str):
        requires = requires.split()
    sources = cibw.get("test-sources", [])
    if isinstance(sources, str):
        sources = sources.split()
    return _Project(
        name=_one_line(str(name)),
        requires_python=requires_python if isinstance(requires_python, str) else None,
        test_command=_one_line(command) if isinstance(command, str) and command.strip() else None,
        test_requires=tuple(r for r in requires if isinstance(r, str)),
        test_sources=tuple(s for s in sources if isinstance(s, str)),
    )


def _test_scenario(project_dir: Path, project: _Project) -> _TestScenario | None:
    """A pytest or command scenario equivalent to cibuildwheel's test-command, if it is simple."""
    command = project.test_command
    if command is None or any(op in command for op in _SHELL):
        return None
    try:
        argv = [a.replace("{package}", "{project}") for a in shlex.split(command)]
    except ValueError:
        return None
    requires: list[str] = []
    for req in project.test_requires:
        try:
            parsed = Requirement(req)
        except InvalidRequirement:
            return None
        if canonicalize_name(parsed.name) != "pytest" or parsed.specifier or parsed.extras:
            requires.append(req)
    prefix = next((p for p in _PYTEST_PREFIXES if tuple(argv[: len(p)]) == p), None)
    if prefix is None:
        if any("{project}" in a for a in argv) or not argv:
            return None  # a command cannot see the project's files in the cell
        return _TestScenario(kind="command", argv=tuple(argv), sources=None, requires=())
    args = argv[len(prefix) :]
    sources: str | None = None
    uses = [i for i, a in enumerate(args) if "{project}" in a]
    if len(uses) == 1 and args[uses[0]].startswith("{project}/"):
        rel = args[uses[0]][len("{project}/") :].rstrip("/")
        if rel and (project_dir / rel).is_dir():
            sources, args[uses[0]] = rel, "{project}"
    if sources is None and uses:
        sources = "."
    if sources is None and not args:
        if len(project.test_sources) == 1 and (project_dir / project.test_sources[0]).is_dir():
            sources = project.test_sources[0]
        elif (project_dir / "tests").is_dir():
            sources = "tests"
        else:
            return None
        args = ["{project}"]
    return _TestScenario(kind="pytest", argv=tuple(args), sources=sources, requires=tuple(requires))


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


def starter_config(project_dir: Path) -> str:
    """The text of a commented starter wheelmatrix.yaml for the project in `project_dir`."""
    project = _read_project(project_dir)
    distros, problems = _catalog_info()
    dist = project_dir / "dist"
    wheels = sorted(dist.glob("*.whl")) if dist.is_dir() else []
    keep, dropped = _pythons(project.requires_python, distros)
    test = _test_scenario(project_dir, project)

    out: list[str] = [
        f"# wheelmatrix run configuration for {project.name} (written by `wheelmatrix init`).",
        "#",
        "# `wheelmatrix validate` reads wheelmatrix.yaml from the current directory; command-line",
        "# flags override what is set here. Paths and globs are relative to this file.",
        "# Every setting below shows its default; uncomment a line to change it.",
        "",
        "# Candidates: the wheels under test, as paths or globs, or requirement strings",
        "# (e.g. 'mypkg==1.2'). Default: none (give them on the command line).",
    ]
    if wheels:
        out.append(f"candidates: [dist/*.whl]  # {len(wheels)} wheel(s) in dist/ now")
    else:
        out += [
            "# No wheels in dist/ yet: build them first (e.g. `python -m build`), then use",
            "# candidates: [dist/*.whl]",
            "candidates: []",
        ]
    out += [
        "",
        "# Companions: installed next to the candidates in every cell (same forms). Default: none.",
        '# companions: ["numpy>=2"]',
        "",
        "# Extra directories of wheels for the installer. Default: none.",
        "# find-links: [wheelhouse]",
        "",
        "# Known-problem sets to run as extra companions, each in its own cells: true (every set",
        "# that applies), false, or a list of set ids. Default: false.",
    ]
    if problems:
        out.append(f"# Sets: {', '.join(problems)}")
    out += [
        "# known-problems: true",
        "",
        "# The matrix. Distros are catalog ids; default: every distro in the catalog.",
    ]
    if distros:
        listing = ", ".join(f"{d} (Python {p})" for d, p in distros)
        out += textwrap.wrap(f"Catalog: {listing}", width=92, initial_indent="# ", subsequent_indent="#   ")
    out += [
        "# distros: [debian-12, ubuntu-24.04]",
        "# Archs: x86_64, aarch64 (aarch64 runs under QEMU on x86_64). Default: every arch the host runs.",
        "# archs: [x86_64, aarch64]",
        "# Pythons (quoted MAJOR.MINOR): keeps distros whose own Python is listed. Default: all.",
    ]
    if dropped and keep:
        out += [
            f"# From requires-python {_q(project.requires_python or '')} (leaves out {', '.join(dropped)}):",
            f"pythons: {_flow(keep)}",
        ]
    else:
        out.append(f"# pythons: {_flow(keep[-2:] or ['3.12'])}")
    out += [
        "# Include / exclude rules DISTRO[/ARCH[/PYTHON]]; each part may use * ? [...] wildcards.",
        "# A target is kept if it matches an include rule (or there are none) and no exclude rule.",
        "# Default: none.",
        '# include: ["debian-*", "ubuntu-*/x86_64"]',
        '# exclude: ["debian-13/aarch64", "*/*/3.8"]',
        "",
        "# Scenarios: built-in names (import, symbols) and/or your own:",
        "#   {name, kind: command, argv, env, timeout}: run argv in the cell; exit status 0 passes",
        "#   {name, kind: pytest, sources, argv, requires, env, timeout}: copy `sources` into the cell,",
        '#     install pytest plus `requires`, run pytest with argv (default ["{project}"], where',
        "#     {project} is the copy of sources)",
        "# Default: every built-in scenario.",
    ]
    if test is not None:
        out += [
            f"# From [tool.cibuildwheel] test-command: {project.test_command}",
            "scenarios:",
            "  - import",
            "  - symbols",
            f"  - name: {'tests' if test.kind == 'pytest' else 'test-command'}",
            f"    kind: {test.kind}",
        ]
        if test.sources is not None:
            note = "  # the whole project directory" if test.sources == "." else ""
            out.append(f"    sources: {_q(test.sources)}{note}")
        if test.argv:
            out.append(f"    argv: {_flow(test.argv)}")
        if test.requires:
            out.append(f"    requires: {_flow(test.requires)}")
        if test.kind == "command" and project.test_requires:
            out.append(
                "    # (a command scenario installs nothing more; "
                f"test-requires: {_flow(project.test_requires)})"
            )
        out.append("    # timeout: 600  # seconds for the whole scenario")
    else:
        if project.test_command is not None:
            out.append(f"# ([tool.cibuildwheel] test-command {_q(project.test_command)} needs adapting)")
        sources = "tests" if (project_dir / "tests").is_dir() else "path/to/tests"
        out += [
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
    out += [
        "",
        "# How each cell installs and runs.",
        "# installer: uv          # uv (fast, shared cache) or pip (the image's own pip)",
        "# link-mode: symlink     # uv: link files from the shared cache (symlink) or copy them",
        "# offline: false         # install only from find-links directories",
        "# gdb: false             # images with gdb: native backtraces for crashes (larger images)",
        "# strict-warnings: false # fail a check that passes but prints an import-time warning",
        "# jobs: auto             # cells in parallel; auto = one per CPU",
        "# timeout: 120           # seconds per check",
        "# install-timeout: 1800  # seconds per installation",
        "# memory: 4g             # memory limit per container (b, k, m or g)",
        "# pids: 1024             # process limit per container",
        "",
        "# Report files. Default: none (the terminal summary only).",
        "# reports:",
        "#   json: wheelmatrix-report.json",
        "#   junit: wheelmatrix-junit.xml",
        "#   markdown: wheelmatrix-summary.md",
        "#   html: wheelmatrix-report.html",
        '#   annotations: "-"       # GitHub workflow annotations; - for standard output',
        "#   sarif: wheelmatrix.sarif",
        "",
        "# A distro catalog file that extends (or overrides entries of) the shipped one. Default: none.",
        "# catalog: my-distros.yaml",
        "",
        "# Exit status 1 on: failure (any failed check), regression (a check that passed in",
        "# `compare` fails now) or never. Default: failure.",
        "# fail-on: failure",
        "# compare: baseline/wheelmatrix-report.json  # an earlier JSON report or run directory",
        "",
        "# Container engines to spread the cells over (unix://, tcp://, ssh://). Default: DOCKER_HOST,",
        "# else the local engine. An engine that stops answering has its cells moved to another.",
        "# engines: [unix:///var/run/docker.sock, tcp://10.0.0.5:2375]",
        "",
        "# CPU levels: the cells of each level's arch run on QEMU's model of that CPU, so code built",
        "# for a newer CPU dies of SIGILL as on a user's older machine (x86-64-v1..v3; armv8.0,",
        "# armv8.2, armv9). Default: the host's CPU (and QEMU's default for emulated arches).",
        "# cpu: [x86-64-v2, armv8.0]",
        "",
        "# Pull the catalog's registry images through a mirror or prefix (a company's pull-through",
        "# cache): debian:12 is pulled as PREFIX/library/debian:12. Default: $WHEELMATRIX_REGISTRY_MIRROR,",
        "# else the engine's own registry.",
        "# registry-mirror: registry.example.com:5000",
    ]
    return "\n".join(out) + "\n"
