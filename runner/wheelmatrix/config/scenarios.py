"""Scenario definitions: the built-in file (wheelmatrix/data/scenarios.yaml) and run-file entries.

Kinds: `import` and `symbols` (built-in checks), `command` (run an argv in the cell once the
candidates are installed; exit status 0 passes), `commands` (every command the candidates ship,
with `argv` as its arguments: does it start?) and `pytest` (install pytest plus `requires`,
copy `sources` into the cell and run pytest with `argv`, where `{project}` stands for the
in-cell copy of `sources`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wheelmatrix.config._yaml import Node, load_yaml_file
from wheelmatrix.config.cibuildwheel import CibwProject, read_project
from wheelmatrix.config.limits import SECONDS
from wheelmatrix.errors import InputError, did_you_mean
from wheelmatrix.inputs.wheels import parse_requirement

# The scenario kinds and the keys each takes besides `kind` and `description`: data, so that
# config (below cell) can reject an unknown kind; each kind's code is registered in
# wheelmatrix/cell/kinds.py, and tests/unit/test_kinds.py holds the two to the same names.
KIND_KEYS: Mapping[str, tuple[str, ...]] = {
    "import": (),
    "symbols": (),
    "pytest": ("argv", "requires", "sources", "env", "timeout"),
    "command": ("argv", "env", "timeout"),
    "commands": ("argv", "env", "timeout"),
    # the project's [tool.cibuildwheel] test settings: `project` is its directory (default: the
    # directory of the file that defines the scenario), `package` the package directory in it
    "cibuildwheel": ("project", "package", "env", "timeout", "network"),
}
KINDS = tuple(KIND_KEYS)
PROJECT_PLACEHOLDER = "{project}"
PYTEST_DEFAULT_ARGV = (PROJECT_PLACEHOLDER,)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    kind: str
    description: str
    # command: the argv to run (non-empty); pytest: pytest's arguments, ("{project}",) when a
    # scenario file leaves them out ({project} = the in-cell copy of `sources`)
    argv: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()  # pytest: requirements installed besides pytest (always added)
    sources: Path | None = None  # pytest: absolute host directory copied into the cell
    env: Mapping[str, str] = field(default_factory=dict, hash=False)  # extra environment
    timeout_s: float | None = None  # whole-scenario timeout; None = the run's per-check timeout
    default: bool = True  # built-ins: run when no scenario is named (`default: false` opts out)
    network: bool = False  # keep the cell's network for this scenario (cibuildwheel kind)
    cibuildwheel: CibwProject | None = field(default=None, compare=False)  # the project's tests


def parse_scenario(
    node: Node,
    name: str,
    base_dir: Path,
    *,
    require_description: bool = True,
    extra_keys: Iterable[str] = (),
) -> Scenario:
    """One scenario from its mapping. Relative `sources` are resolved against `base_dir` (the
    directory of the file that defines the scenario). `extra_keys` are allowed and ignored (the
    caller reads them, e.g. `name` in a run file's list of scenarios)."""
    if not _NAME.match(name):
        raise node.error(
            None,
            f"scenario name '{name}' must start with a letter or digit and contain only "
            "letters, digits, '.', '_', '-'",
        )
    if not node.has("kind"):
        raise node.error(
            None, f"missing required key '{node.path('kind')}'", hint=f"kinds: {', '.join(KINDS)}"
        )
    kind = node.text("kind")
    if kind not in KINDS:
        raise node.error(
            "kind",
            f"'{node.path('kind')}': unknown kind '{kind}'{did_you_mean(kind, KINDS)}",
            hint=f"kinds: {', '.join(KINDS)}",
        )
    own = ("kind", "description", *KIND_KEYS[kind])
    for key in node.value:
        takers = [k for k in KINDS if key in KIND_KEYS[k]]
        if key not in own and takers:
            raise node.error(
                str(key),
                f"unknown key '{node.path(str(key))}' for kind '{kind}' "
                f"(only kind {' and '.join(takers)} takes it)",
                hint=f"allowed keys for kind '{kind}': {', '.join(own)}",
            )
    node.check_keys(
        ["kind", "description"] if require_description else ["kind"], [*own, "default", *extra_keys]
    )

    sources = _sources(node, base_dir) if node.has("sources") else None
    cibw = _cibuildwheel(node, base_dir) if kind == "cibuildwheel" else None
    if cibw is not None:
        sources = cibw.root
    argv = _argv(node, kind, sources)
    requires = node.texts("requires")
    for index, req in enumerate(requires):
        try:
            parse_requirement(req)
        except InputError as exc:
            raise node.error(
                "requires", f"'{node.item('requires', index)}': {exc.message}", index=index, hint=exc.hint
            ) from None
    env = _env(node) if node.has("env") else {}
    timeout_s = node.number("timeout", SECONDS) if node.has("timeout") else None
    if node.has("description") or require_description:
        description = node.text("description")
    elif kind == "command":
        description = f"run {' '.join(argv)}"
    elif kind == "pytest":
        description = f"pytest {' '.join(argv)}" + (f" (tests from {sources})" if sources else "")
    elif cibw is not None:
        description = cibuildwheel_description(cibw)
    else:
        description = f"the built-in {kind} check"
    return Scenario(
        name=name,
        kind=kind,
        description=description,
        argv=argv,
        requires=requires,
        sources=sources,
        env=env,
        timeout_s=timeout_s,
        default=node.flag("default", True),
        network=node.flag("network", False),
        cibuildwheel=cibw,
    )


def cibuildwheel_description(project: CibwProject) -> str:
    return f"the test-command of [tool.cibuildwheel] in {project.pyproject}, run as cibuildwheel runs it"


def cibuildwheel_scenario(project: CibwProject, name: str = "cibuildwheel") -> Scenario:
    """The scenario that runs a project's cibuildwheel tests in every cell."""
    project.check()  # every setting checked now, before anything starts
    return Scenario(
        name=name,
        kind="cibuildwheel",
        description=cibuildwheel_description(project),
        sources=project.root,
        cibuildwheel=project,
    )


def _cibuildwheel(node: Node, base_dir: Path) -> CibwProject:
    root = base_dir
    if node.has("project"):
        root = node.local_path("project", node.text("project"), base_dir).resolve()
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise node.error(
            "project" if node.has("project") else None,
            f"a cibuildwheel scenario reads {pyproject}, which does not exist",
            hint="set 'project' to the directory that holds the project's pyproject.toml",
        )
    package = node.text("package") if node.has("package") else "."
    project = read_project(pyproject, package=package)
    if not project.has_tests:
        raise node.error(
            None,
            f"{pyproject} sets no test-command in [tool.cibuildwheel] (nor does CIBW_TEST_COMMAND)",
            hint="add test-command there, or use a pytest or command scenario",
        )
    project.check()
    return project


def _sources(node: Node, base_dir: Path) -> Path:
    text = node.text("sources")
    path = node.local_path("sources", text, base_dir).resolve()
    if not path.exists():
        raise node.error(
            "sources",
            f"'{node.path('sources')}': no such directory '{text}' (looked for {path})",
            hint="paths are relative to the directory of the file that defines the scenario",
        )
    if not path.is_dir():
        raise node.error("sources", f"'{node.path('sources')}': '{text}' is not a directory")
    return path


def _argv(node: Node, kind: str, sources: Path | None) -> tuple[str, ...]:
    if node.has("argv") and not isinstance(node.value["argv"], list):
        raise node.error(
            "argv",
            f"'{node.path('argv')}' must be a list of strings (one per argument)",
            hint='e.g. argv: ["python", "-m", "mypkg.selftest"]',
        )
    argv = node.texts("argv")
    if kind == "command":
        if not argv:
            raise node.error(
                "argv" if node.has("argv") else None,
                f"a command scenario needs a non-empty '{node.path('argv')}'",
                hint='e.g. argv: ["python", "-m", "mypkg.selftest"]',
            )
        return argv
    if kind == "commands":
        return argv or ("--version",)
    if kind != "pytest":
        return argv
    if not node.has("argv"):
        if sources is None:
            raise node.error(
                None,
                f"a pytest scenario needs '{node.path('sources')}' (a directory of tests copied into "
                f"the cell) or '{node.path('argv')}'",
                hint='e.g. sources: tests, or argv: ["--pyargs", "mypkg"]',
            )
        return PYTEST_DEFAULT_ARGV
    if sources is None:
        for index, arg in enumerate(argv):
            if PROJECT_PLACEHOLDER in arg:
                raise node.error(
                    "argv",
                    f"'{node.item('argv', index)}' uses {PROJECT_PLACEHOLDER}, which stands for the "
                    f"copy of '{node.path('sources')}' in the cell, but no sources are given",
                    index=index,
                )
    return argv


def _env(node: Node) -> dict[str, str]:
    env_node = node.child("env")
    out: dict[str, str] = {}
    for key, value in env_node.value.items():
        name = str(key)
        if not _ENV_NAME.match(name):
            raise env_node.error(name, f"'{env_node.path(name)}': not a valid environment variable name")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise env_node.error(
                name, f"'{env_node.path(name)}' must be a string (quote it in {env_node.language})"
            )
        out[name] = str(value)
    return out


def load_scenarios(path: Path) -> dict[str, Scenario]:
    root = Node(path, "", load_yaml_file(path))
    root.check_keys(["scenarios"])
    node = root.child("scenarios")
    out: dict[str, Scenario] = {}
    for key in node.value:
        out[str(key)] = parse_scenario(node.child(str(key)), str(key), path.parent)
    return out


def select_scenarios(known: Mapping[str, Scenario], names: list[str]) -> list[Scenario]:
    if not names:
        return [s for s in known.values() if s.default]
    out = []
    for name in names:
        if name not in known:
            raise InputError(
                f"unknown scenario '{name}'{did_you_mean(name, known)}",
                hint=f"built-in scenarios: {', '.join(known)}",
            )
        out.append(known[name])
    return out


def default_scenarios_path() -> Path:
    from wheelmatrix.resources import data_path

    return data_path("scenarios.yaml")
