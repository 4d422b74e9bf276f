"""The run configuration: `wheelmatrix.yaml` (or `[tool.wheelmatrix]` in pyproject.toml).

`RunConfig` is the one place the defaults of a run live. Which key sets which field, and how
its value is read (`PARSERS`), is the option table's (wheelmatrix/options.py, one layer up: it
hands its settings to `parse_run_config`, and its `load_run_config` is the entry point): every
key checked, every error naming FILE:LINE and the key. The CLI builds a RunConfig from its flags,
or overlays its flags on the file's with `RunConfig.override` (flags not given are None and keep
the file's value).

Paths and globs in a file are relative to the file's directory, never to the current directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Protocol

from wheelmatrix.config._yaml import Node, load_toml_file, load_yaml_file
from wheelmatrix.config.catalog import ARCHES
from wheelmatrix.config.limits import GLOB_DIRECTORIES, GLOB_MATCHES, Bounds, clipped, memory_problem
from wheelmatrix.config.scenarios import Scenario, parse_scenario
from wheelmatrix.errors import InputError, did_you_mean
from wheelmatrix.inputs.wheels import parse_requirement

CONFIG_NAMES = ("wheelmatrix.yaml", "wheelmatrix.yml")
PYPROJECT = "pyproject.toml"
REPORT_KEYS = ("json", "junit", "markdown", "html", "annotations", "sarif")  # reporters/registry.py OPTIONS
ALL_KNOWN_PROBLEMS = "all"
RULE_HINT = (
    "a rule is DISTRO[/ARCH[/PYTHON]], each part an exact value or a pattern with * ? [...], "
    "e.g. debian-13/aarch64 or debian-*/*/3.11"
)
BUILD_HINT = "build the wheels first (e.g. `python -m build`)"
PYTHON_VERSION = re.compile(r"^\d+\.\d+$")  # also the CLI's --python
_MAGIC = re.compile(r"[*?[]")


@dataclass(frozen=True, kw_only=True)
class Reports:
    """Report files to write (absolute once loaded from a file); None = not written."""

    json: Path | None = None
    junit: Path | None = None
    markdown: Path | None = None
    html: Path | None = None
    annotations: Path | None = None  # GitHub workflow annotations; "-" is standard output
    sarif: Path | None = None

    def requested(self) -> list[tuple[str, Path]]:
        """(report option, path) of each report to write, in REPORT_KEYS order."""
        return [(key, path) for key in REPORT_KEYS if (path := getattr(self, key)) is not None]


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything a `wheelmatrix validate` run is asked to do, with its defaults.

    Scenarios: `scenarios` holds what the configuration defines, in order: built-in scenarios
    named in the file are resolved to their `Scenario` at load time (unknown names are errors
    with FILE:LINE), inline ones are parsed; empty means every built-in scenario.
    `scenario_names` is a selection on top (the CLI's `--scenario NAME` flags; a file never sets
    it): names are looked up in `scenarios` first, then among the built-ins, so a flag can pick
    a scenario the file defines. `selected_scenarios(builtins)` resolves both.
    """

    candidates: tuple[str, ...] = ()  # wheel paths (absolute once loaded) or requirement strings
    companions: tuple[str, ...] = ()  # same rules as candidates
    find_links: tuple[Path, ...] = ()  # directories of wheels for the installer
    known_problems: tuple[str, ...] = ()  # known-problem set ids, or ("all",)
    distros: tuple[str, ...] = ()  # catalog ids; empty = every distro
    archs: tuple[str, ...] = ()  # x86_64 / aarch64; empty = every runnable arch
    pythons: tuple[str, ...] = ()  # "X.Y"; empty = every distro's Python
    include: tuple[str, ...] = ()  # rules DISTRO[/ARCH[/PYTHON]]; empty = every target
    exclude: tuple[str, ...] = ()  # rules DISTRO[/ARCH[/PYTHON]]
    scenarios: tuple[Scenario, ...] = ()  # empty = every built-in scenario
    scenario_names: tuple[str, ...] = ()  # selection (CLI --scenario); empty = all of the above
    cibuildwheel_tests: Path | None = None  # CLI: a project whose cibuildwheel tests are added
    installer: str = "uv"  # uv | pip
    link_mode: str = "symlink"  # symlink | copy
    offline: bool = False
    gdb: bool = False
    strict_warnings: bool = False  # a check that passes with an import-time warning fails
    jobs: int | None = None  # None = one per CPU, decided when the run starts
    timeout_s: float = 120.0  # per check
    install_timeout_s: float = 1800.0  # per installation
    memory: str = "4g"  # per container
    pids: int = 1024  # per container
    reports: Reports = field(default_factory=Reports)
    catalog: Path | None = None  # a catalog file extending the shipped one
    fail_on: str = "failure"  # failure | regression | never
    verbose: bool = False  # the terminal summary lists the wheel files installed in each cell
    compare: Path | None = None  # baseline: a JSON report or a run directory
    engines: tuple[
        str, ...
    ] = ()  # engine URLs (unix://, tcp://, ssh://); empty = DOCKER_HOST or the local one
    registry_mirror: str | None = None  # pull catalog images through this mirror/prefix (host[:port][/path])
    cpus: tuple[str, ...] = ()  # CPU levels (x86-64-v2, armv8.0, ...): cells of that arch run at them
    source: Path | None = None  # the file this came from

    def override(self, **changes: Any) -> RunConfig:
        """A copy with `changes` applied, like dataclasses.replace, except that None values are
        ignored (a CLI flag that was not given) and lists become tuples. Unknown names raise
        TypeError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"RunConfig has no field {', '.join(map(repr, unknown))}")
        given: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in changes.items() if v is not None
        }
        return dataclasses.replace(self, **given)

    def cibuildwheel_scenario(self) -> Scenario:
        """The scenario of `cibuildwheel_tests`: that project's cibuildwheel test settings."""
        from wheelmatrix.config.cibuildwheel import PYPROJECT, find_project
        from wheelmatrix.config.scenarios import cibuildwheel_scenario

        directory = self.cibuildwheel_tests or Path.cwd()
        project = find_project(directory)
        if project is None:
            raise InputError(
                f"no test-command in [tool.cibuildwheel] of {directory / PYPROJECT} "
                "(nor in CIBW_TEST_COMMAND)",
                hint="--cibuildwheel-tests names the directory that holds the project's pyproject.toml",
            )
        return cibuildwheel_scenario(project)

    def selected_scenarios(self, builtins: Mapping[str, Scenario]) -> list[Scenario]:
        """The scenarios to run: `scenarios` (or every built-in), narrowed by `scenario_names`."""
        pool = list(self.scenarios) if self.scenarios else [s for s in builtins.values() if s.default]
        extra = [self.cibuildwheel_scenario()] if self.cibuildwheel_tests is not None else []
        pool += [s for s in extra if s.name not in {p.name for p in pool}]
        if not self.scenario_names:
            return pool
        known = {**builtins, **{s.name: s for s in (*self.scenarios, *extra)}}
        out: list[Scenario] = []
        for name in self.scenario_names:
            if name not in known:
                raise InputError(
                    f"unknown scenario '{name}'{did_you_mean(name, known)}",
                    hint=f"scenarios: {', '.join(known)}",
                )
            if known[name] not in out:
                out.append(known[name])
        return out


# --------------------------------------------------------------------------- finding and loading


def find_config(cwd: Path) -> Path | None:
    """wheelmatrix.yaml (or .yml) in `cwd`, else its pyproject.toml if that has a
    [tool.wheelmatrix] table, else None."""
    for name in CONFIG_NAMES:
        if (cwd / name).is_file():
            return cwd / name
    pyproject = cwd / PYPROJECT
    if pyproject.is_file() and _tool_table(pyproject) is not None:
        return pyproject
    return None


def _tool_table(pyproject: Path) -> Any:
    try:
        if "wheelmatrix" not in pyproject.read_text(encoding="utf-8"):
            return None  # not ours: do not parse (nor complain about) someone else's file
    except (OSError, UnicodeDecodeError):
        return None
    tool = load_toml_file(pyproject).get("tool")
    return tool.get("wheelmatrix") if isinstance(tool, dict) else None


class Setting(Protocol):
    """What the loader needs of one run-file key; wheelmatrix.options.Option is one (the table
    lives above this layer, so it is handed in, never imported)."""

    @property
    def name(self) -> str: ...  # the key in the file
    @property
    def field(self) -> str: ...  # the RunConfig field it sets
    @property
    def parse(self) -> str: ...  # a name in PARSERS
    @property
    def choices(self) -> tuple[str, ...]: ...
    @property
    def bounds(self) -> Bounds | None: ...


@dataclass(frozen=True, kw_only=True)
class LoadContext:
    """What a value parser may need besides its key: the file's directory (paths are relative
    to it), the catalog the file names, the field's default and the key's choices."""

    base: Path
    catalog: Path | None
    default: Any
    choices: tuple[str, ...] = ()
    bounds: Bounds | None = None  # numbers: the values allowed


Parser = Callable[[Node, str, LoadContext], Any]


def read_run_file(path: Path) -> Node:
    """The settings of a run configuration file: YAML, or the [tool.wheelmatrix] table of a
    pyproject.toml; not yet checked."""
    if path.name == PYPROJECT:
        if not path.is_file():
            raise InputError(f"{path}: file not found")
        table = _tool_table(path)
        if table is None:
            raise InputError(
                f"{path}: no [tool.wheelmatrix] table",
                hint="add one, or write a wheelmatrix.yaml (`wheelmatrix init` writes a starter)",
            )
        if not isinstance(table, dict):
            raise InputError(f"{path}: 'tool.wheelmatrix' must be a table")
        return Node(path, "tool.wheelmatrix", table)
    if path.suffix == ".toml":
        raise InputError(
            f"{path}: a TOML run configuration is read from pyproject.toml's [tool.wheelmatrix] table",
            hint="move the settings there, or write them as YAML in wheelmatrix.yaml",
        )
    doc = load_yaml_file(path)
    if doc is None:
        raise InputError(
            f"{path}: the file is empty",
            hint="a run configuration is a mapping of settings, e.g. `candidates: [dist/*.whl]`",
        )
    if not isinstance(doc, Mapping):
        line = getattr(doc, "line", None)
        raise InputError(
            f"{path}{f':{line}' if line else ''}: a run configuration must be a mapping of settings, "
            f"got {'a list' if isinstance(doc, list) else type(doc).__name__}",
            hint="e.g. `candidates: [dist/*.whl]` on its own line",
        )
    return Node(path, "", doc)


def parse_run_config(node: Node, settings: Sequence[Setting]) -> RunConfig:
    """A RunConfig from a file's settings: every key must be one of `settings` (else the
    did-you-mean error naming FILE:LINE), a key not given keeps RunConfig's default. The
    catalog is read first: distros and rules are checked against it."""
    node.check_keys([], [s.name for s in settings])
    base = node.source.absolute().parent
    defaults = RunConfig()
    ordered = sorted(settings, key=lambda s: s.field != "catalog")
    catalog: Path | None = None
    values: dict[str, Any] = {}
    for setting in ordered:
        if not node.has(setting.name):
            continue
        context = LoadContext(
            base=base,
            catalog=catalog,
            default=getattr(defaults, setting.field),
            choices=setting.choices,
            bounds=setting.bounds,
        )
        values[setting.field] = PARSERS[setting.parse](node, setting.name, context)
        if setting.field == "catalog":
            catalog = values["catalog"]
    return RunConfig(**values, source=node.source.absolute())


# --------------------------------------------------------------------------- values


_MIRROR = re.compile(r"^(https?://)?[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._/-]+)?/?$")


def registry_mirror_value(text: str) -> str:
    if not _MIRROR.match(text):
        raise InputError(
            f"'{text}' is not a registry mirror or prefix",
            hint="e.g. registry.example.com:5000 or registry.example.com/dockerhub (host[:port][/path])",
        )
    return text


def _registry_mirror(node: Node, key: str, ctx: LoadContext) -> str | None:
    text = node.text(key)
    try:
        return registry_mirror_value(text)
    except InputError as exc:
        raise InputError(f"{node.source}: '{node.path(key)}': {exc.message}", hint=exc.hint) from None


def _cpus(node: Node, key: str, ctx: LoadContext) -> tuple[str, ...]:
    from wheelmatrix.scan.cpu import arch_of, level

    names = node.texts(key, ())
    for index, name in enumerate(names):
        try:
            level(arch_of(name), name)
        except InputError as exc:
            raise InputError(
                f"{node.source}: '{node.item(key, index)}': {exc.message}", hint=exc.hint
            ) from None
    return tuple(dict.fromkeys(names))


ENGINE_URL = re.compile(r"^(unix|tcp|ssh|http|https|npipe)://\S+$")  # also the CLI's --engine


def _engines(node: Node, key: str, ctx: LoadContext) -> tuple[str, ...]:
    urls = tuple(node.texts(key, ()))
    for url in urls:
        if not ENGINE_URL.match(url):
            raise InputError(
                f"{node.source}: '{node.path(key)}': '{url}' is not an engine URL",
                hint="e.g. unix:///var/run/docker.sock, tcp://10.0.0.5:2375 or ssh://user@host",
            )
    return urls


def _looks_like_path(text: str) -> bool:
    if "://" in text:
        return False  # a requirement with a URL: name @ https://...
    # not "exists relative to base": a project's source package (./mypkg) often sits next to the
    # file, and `mypkg` there means the requirement
    return text.endswith(".whl") or "/" in text or os.sep in text or text.startswith((".", "~"))


def _inputs(node: Node, key: str, ctx: LoadContext) -> tuple[str, ...]:
    """Wheel paths and globs (relative to the file, expanded, absolute) and requirement strings."""
    base = ctx.base
    out: dict[str, None] = {}
    for index, item in enumerate(node.texts(key)):
        where = node.item(key, index)
        if not _looks_like_path(item):
            try:
                parse_requirement(item)
            except InputError as exc:
                raise node.error(key, f"'{where}': {exc.message}", hint=exc.hint, index=index) from None
            out[item] = None
            continue
        path = node.local_path(key, item, base, index)
        if _MAGIC.search(item):
            try:
                matches = bounded_glob(str(path), base)
            except InputError as exc:
                raise node.error(key, f"'{where}': {exc.message}", hint=exc.hint, index=index) from None
            if not matches:
                raise node.error(
                    key, f"'{where}': '{item}' matches no file (in {base})", hint=BUILD_HINT, index=index
                )
            out.update(dict.fromkeys(matches))
        elif path.is_dir():
            raise node.error(
                key,
                f"'{where}': '{item}' is a directory",
                hint=f"give the wheel files, e.g. {item.rstrip('/')}/*.whl",
                index=index,
            )
        elif not path.exists():
            raise node.error(
                key, f"'{where}': no such file '{item}' (in {base})", hint=BUILD_HINT, index=index
            )
        else:
            out[str(path)] = None
    return tuple(out)


def bounded_glob(pattern: str, base: Path) -> list[str]:
    """The files an absolute glob matches, sorted, as glob.glob(recursive=True) finds them (`*`
    and `**` skip hidden names; `**` is zero or more directories), except that `**` does not
    descend into symbolic links, must start inside `base` (the run file's directory), and the
    search stops with an InputError after GLOB_MATCHES files or GLOB_DIRECTORIES directories."""
    parts = Path(pattern).parts
    fixed = 0
    while fixed < len(parts) and not _MAGIC.search(parts[fixed]):
        fixed += 1
    root = Path(*parts[:fixed]) if fixed else Path(os.sep)
    rest = parts[fixed:]
    if "**" in rest and not root.is_relative_to(base):
        raise InputError(
            f"'{pattern}': a '**' glob searches every directory below {root}, outside the run "
            f"file's directory {base}",
            hint="start the glob inside that directory (e.g. dist/**/*.whl), or name the wheel "
            "directory without '**' (e.g. /wheelhouse/*.whl)",
        )
    found: set[str] = set()
    visited = 0
    pending: list[tuple[str, int]] = [(str(root), 0)]
    seen: set[tuple[str, int]] = set()
    while pending:
        directory, at = pending.pop()
        if (directory, at) in seen:
            continue
        seen.add((directory, at))
        if at == len(rest):
            if os.path.isfile(directory):
                found.add(directory)
                if len(found) > GLOB_MATCHES:
                    raise InputError(
                        f"'{pattern}' matches more than {GLOB_MATCHES:,} files",
                        hint="narrow the glob to the wheels under test",
                    )
            continue
        part = rest[at]
        if not _MAGIC.search(part):
            pending.append((os.path.join(directory, part), at + 1))
            continue
        visited += 1
        if visited > GLOB_DIRECTORIES:
            raise InputError(
                f"'{pattern}': the glob visited more than {GLOB_DIRECTORIES:,} directories without finishing",
                hint="narrow the glob (fewer '**', a deeper fixed start such as dist/)",
            )
        try:
            with os.scandir(directory) as scan:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in scan]
        except (OSError, ValueError):
            continue  # not a directory, unreadable, gone: no match, as glob.glob
        if part == "**":
            pending.append((directory, at + 1))  # zero directories
            pending += [(os.path.join(directory, n), at) for n, is_dir in entries if is_dir and n[0] != "."]
            continue
        hidden_ok = part.startswith(".")
        pending += [
            (os.path.join(directory, n), at + 1)
            for n, _ in entries
            if (hidden_ok or n[0] != ".") and fnmatchcase(n, part)
        ]
    return sorted(found)


def _directories(node: Node, key: str, ctx: LoadContext) -> tuple[Path, ...]:
    base = ctx.base
    out: list[Path] = []
    for index, item in enumerate(node.texts(key)):
        path = node.local_path(key, item, base, index)
        if not path.is_dir():
            problem = "is not a directory" if path.exists() else "does not exist"
            raise node.error(key, f"'{node.item(key, index)}': '{item}' {problem} (in {base})", index=index)
        if path not in out:
            out.append(path)
    return tuple(out)


def _file(node: Node, key: str, ctx: LoadContext) -> Path:
    text, base = node.text(key), ctx.base
    path = node.local_path(key, text, base)
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise node.error(key, f"'{node.path(key)}': '{text}' {problem} (in {base})")
    return path


def _existing(node: Node, key: str, ctx: LoadContext) -> Path:
    text, base = node.text(key), ctx.base
    path = node.local_path(key, text, base)
    if not path.exists():
        raise node.error(
            key,
            f"'{node.path(key)}': '{text}' does not exist (in {base})",
            hint="give a JSON report or the directory of an earlier run",
        )
    return path


def _known_problems(node: Node, key: str, ctx: LoadContext) -> tuple[str, ...]:
    value = node.value[key]
    if value is True or value == ALL_KNOWN_PROBLEMS:
        return (ALL_KNOWN_PROBLEMS,)
    if value is False:
        return ()
    if not isinstance(value, list):
        raise node.error(
            "known-problems",
            f"'{node.path('known-problems')}' must be true (all sets), false, or a list of set ids",
        )
    ids = node.texts("known-problems")
    if ALL_KNOWN_PROBLEMS in ids:
        if len(ids) > 1:
            raise node.error(
                "known-problems", f"'{node.path('known-problems')}': 'all' already includes every set"
            )
        return ids
    from wheelmatrix.config.known_problems import default_known_problems_path, load_known_problems

    known = [k.id for k in load_known_problems(default_known_problems_path())]
    for index, problem in enumerate(ids):
        if problem not in known:
            raise node.error(
                "known-problems",
                f"'{node.item('known-problems', index)}': unknown known-problem set "
                f"'{problem}'{did_you_mean(problem, known)}",
                hint=f"known sets: {', '.join(known)} (or `true` for all)",
                index=index,
            )
    return tuple(dict.fromkeys(ids))


def _catalog_ids(catalog: Path | None) -> Collection[str]:
    from wheelmatrix.config.catalog import load_catalogs

    return load_catalogs(catalog).distros.keys()


def _distros(node: Node, key: str, ctx: LoadContext) -> tuple[str, ...]:
    ids = node.texts(key)
    known = _catalog_ids(ctx.catalog)
    for index, distro in enumerate(ids):
        if distro not in known:
            raise node.error(
                "distros",
                f"'{node.item('distros', index)}': unknown distro '{distro}'{did_you_mean(distro, known)}",
                hint=f"known distros: {', '.join(known)}",
                index=index,
            )
    return tuple(dict.fromkeys(ids))


def _archs(node: Node, key: str, ctx: LoadContext) -> tuple[str, ...]:
    archs = node.texts(key)
    for index, arch in enumerate(archs):
        if arch not in ARCHES:
            raise node.error(
                "archs",
                f"'{node.item('archs', index)}': unknown arch '{arch}'{did_you_mean(arch, ARCHES)}",
                hint=f"archs: {', '.join(ARCHES)}",
                index=index,
            )
    return tuple(dict.fromkeys(archs))


def _pythons(node: Node, key: str, ctx: LoadContext) -> tuple[str, ...]:
    pythons = node.texts(key)
    for index, version in enumerate(pythons):
        if not PYTHON_VERSION.match(version):
            raise node.error(
                "pythons",
                f"'{node.item('pythons', index)}': '{version}' is not a MAJOR.MINOR Python version",
                hint='e.g. pythons: ["3.10", "3.12"] (quoted)',
                index=index,
            )
    return tuple(dict.fromkeys(pythons))


def _rules(node: Node, key: str, ctx: LoadContext) -> tuple[str, ...]:
    rules = node.texts(key)
    known: Collection[str] | None = None
    for index, rule in enumerate(rules):
        where = node.item(key, index)
        try:
            check_rule(rule)
        except InputError as exc:
            raise node.error(key, f"'{where}': {exc.message}", hint=exc.hint, index=index) from None
        if known is None:
            known = _catalog_ids(ctx.catalog)
        distro = rule.split("/")[0]
        if not any(fnmatchcase(d, distro) for d in known):
            raise node.error(
                key,
                f"'{where}': '{distro}' matches no distro in the catalog{did_you_mean(distro, known)}",
                hint=f"known distros: {', '.join(known)}",
                index=index,
            )
    return rules


def _scenarios(node: Node, key: str, ctx: LoadContext) -> tuple[Scenario, ...]:
    base = ctx.base
    from wheelmatrix.config.scenarios import default_scenarios_path, load_scenarios

    builtins = load_scenarios(default_scenarios_path())
    out: dict[str, Scenario] = {}
    for index, item in node.items(key):
        where = node.item(key, index)
        if isinstance(item, str):
            if item not in builtins:
                raise node.error(
                    key,
                    f"'{where}': unknown scenario '{item}'{did_you_mean(item, builtins)}",
                    hint=f"built-in scenarios: {', '.join(builtins)}; or define one as a mapping "
                    "with name, kind and its settings",
                    index=index,
                )
            scenario = builtins[item]
        elif isinstance(item, Mapping):
            sub = node.item_node(key, index)
            if not sub.has("name"):
                raise sub.error(None, f"missing required key '{sub.path('name')}'")
            name = sub.text("name")
            if name in builtins:
                raise sub.error(
                    "name",
                    f"'{sub.path('name')}': '{name}' is the name of a built-in scenario; choose another",
                )
            scenario = parse_scenario(sub, name, base, require_description=False, extra_keys=("name",))
        else:
            raise node.error(
                key,
                f"'{where}' must be the name of a built-in scenario or a mapping "
                "(name, kind, argv, requires, sources, env, timeout)",
                index=index,
            )
        if scenario.name in out:
            raise node.error(key, f"'{where}': scenario '{scenario.name}' is listed twice", index=index)
        out[scenario.name] = scenario
    return tuple(out.values())


def _bounds(ctx: LoadContext) -> Bounds:
    if ctx.bounds is None:
        raise TypeError("a numeric setting needs its bounds in the option table")
    return ctx.bounds


def _jobs(node: Node, key: str, ctx: LoadContext) -> int | None:
    value = node.value.get(key)
    if value is None or value == "auto":
        return None
    if isinstance(value, str):
        raise node.error(key, f"'{node.path(key)}' must be a whole number or 'auto', got '{clipped(value)}'")
    return node.whole_number(key, _bounds(ctx))


def _memory(node: Node, key: str, ctx: LoadContext) -> str:
    text = node.text(key).lower()
    problem = memory_problem(text)
    if problem:
        raise node.error(
            key,
            f"'{node.path(key)}': {problem}",
            hint="a number of bytes with an optional unit b, k, m or g, e.g. 4g or 512m",
        )
    return text


def _reports(node: Node, key: str, ctx: LoadContext) -> Reports:
    sub = node.child(key)
    sub.check_keys([], REPORT_KEYS)
    paths: dict[str, Path] = {}
    for name in REPORT_KEYS:
        if sub.has(name):
            text = sub.text(name)  # "-": standard output
            paths[name] = Path(text) if text == "-" else sub.local_path(name, text, ctx.base)
    return Reports(**paths)


PARSERS: Mapping[str, Parser] = {
    "wheels-or-requirements": _inputs,
    "directories": _directories,
    "known-problems": _known_problems,
    "distros": _distros,
    "archs": _archs,
    "pythons": _pythons,
    "rules": _rules,
    "scenarios": _scenarios,
    "choice": lambda node, key, ctx: node.choice(key, ctx.choices, ctx.default),
    "flag": lambda node, key, ctx: node.flag(key, ctx.default),
    "jobs": _jobs,
    "seconds": lambda node, key, ctx: node.number(key, _bounds(ctx)),
    "count": lambda node, key, ctx: node.whole_number(key, _bounds(ctx)),
    "memory": _memory,
    "reports": _reports,
    "file": _file,
    "existing-path": _existing,
    "engines": _engines,
    "cpus": _cpus,
    "registry-mirror": _registry_mirror,
}
"""The kinds of value a run-file key may hold, by name (wheelmatrix.options names one per key)."""


# --------------------------------------------------------------------------- include / exclude


def check_rule(text: str) -> None:
    """Refuse a malformed include/exclude rule: empty parts, more than 3 parts, an exact arch or
    Python part that cannot match anything."""
    parts = text.split("/")
    if len(parts) > 3:
        raise InputError(f"'{text}': a rule has at most 3 parts (DISTRO/ARCH/PYTHON)", hint=RULE_HINT)
    if any(not p for p in parts):
        raise InputError(f"'{text}': a rule cannot have an empty part", hint=RULE_HINT)
    if len(parts) > 1 and not _MAGIC.search(parts[1]) and parts[1] not in ARCHES:
        raise InputError(
            f"'{text}': unknown arch '{parts[1]}'{did_you_mean(parts[1], ARCHES)}",
            hint=f"archs: {', '.join(ARCHES)}; {RULE_HINT}",
        )
    if len(parts) > 2 and not _MAGIC.search(parts[2]) and not PYTHON_VERSION.match(parts[2]):
        raise InputError(f"'{text}': '{parts[2]}' is not a MAJOR.MINOR Python version", hint=RULE_HINT)


def _matches(rule: str, target: tuple[str, str, str]) -> bool:
    return all(fnmatchcase(value, part) for value, part in zip(target, rule.split("/"), strict=False))


def target_selected(
    distro_id: str, arch: str, python: str, include: Sequence[str], exclude: Sequence[str]
) -> bool:
    """Whether a distro/arch/Python target is kept: it matches an include rule (or there are
    none) and no exclude rule. A rule with fewer parts matches any value of the missing ones."""
    target = (distro_id, arch, python)
    if include and not any(_matches(rule, target) for rule in include):
        return False
    return not any(_matches(rule, target) for rule in exclude)
