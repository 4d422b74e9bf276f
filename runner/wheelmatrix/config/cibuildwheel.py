"""A project's cibuildwheel test settings, read the way cibuildwheel reads them.

`[tool.cibuildwheel]` of pyproject.toml, its `[tool.cibuildwheel.linux]` table, the
`[[tool.cibuildwheel.overrides]]` whose `select` matches a build identifier, then the
`CIBW_*` and `CIBW_*_LINUX` environment variables, each later one winning (or appended to or
prepended to, as an override's `inherit` says). Lists are joined as cibuildwheel joins them:
commands with " && ", requirements and globs with spaces, extras with commas.

What is read: test-command, before-test, test-requires (with `-r FILE` lines read from the
project), test-extras, test-groups (PEP 735 dependency groups), test-sources,
test-environment and test-skip. Every error names the setting and where it came from (the
pyproject line, or the environment variable), and nothing is started.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wheelmatrix.config._yaml import load_toml_file
from wheelmatrix.errors import InputError
from wheelmatrix.inputs.wheels import parse_requirement

PYPROJECT = "pyproject.toml"
# the test settings and how cibuildwheel joins a list of each into one string
SEPARATORS: Mapping[str, str] = {
    "test-command": " && ",
    "before-test": " && ",
    "test-requires": " ",
    "test-extras": ",",
    "test-groups": " ",
    "test-sources": " ",
    "test-environment": " ",
    "test-skip": " ",
}
KEYS = tuple(SEPARATORS)
# test-skip is one global setting in cibuildwheel: read without CIBW_TEST_SKIP_LINUX, and no
# override applies to it (the linux table does)
_GLOBAL = ("test-skip",)
# what cibuildwheel fills in each setting; any other `{...}` is left alone, as it leaves it
# (shell `${HOME}`, awk's `{print}`), and `#{name}` is a literal `{name}`
PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {
    "test-command": ("project", "package", "wheel"),
    "before-test": ("project", "package"),
}
# names cibuildwheel fills in other settings (repair and audit commands): in a test setting
# they would stay as written, which is never what was meant
_OTHER_PLACEHOLDERS = ("wheel", "dest_dir", "delocate_archs", "abi3_wheel", "abi3_dir")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INHERIT = ("none", "append", "prepend")
MAX_REQUIREMENT_FILES = 32


def env_name(key: str, platform: bool = False) -> str:
    """The environment variable cibuildwheel reads for a setting (CIBW_TEST_COMMAND[_LINUX])."""
    name = "CIBW_" + key.upper().replace("-", "_")
    return name + "_LINUX" if platform else name


@dataclass(frozen=True)
class Value:
    """One setting's value as one string, and where it was read."""

    text: str
    where: str  # "/p/pyproject.toml:12: tool.cibuildwheel.test-command" or "$CIBW_TEST_COMMAND"


@dataclass(frozen=True)
class Override:
    select: tuple[str, ...]  # identifier globs
    values: Mapping[str, Value]
    inherit: Mapping[str, str]  # key -> none | append | prepend


@dataclass(frozen=True, kw_only=True)
class CibwTests:
    """The test settings for one build identifier, resolved."""

    identifier: str
    command: Value | None  # None: the project sets no test-command (nothing to run)
    before_test: Value | None
    requires: tuple[str, ...]  # test-requires (files read), then the test-groups' requirements
    extras: tuple[str, ...]
    sources: tuple[str, ...]  # paths relative to the project root
    environment: tuple[str, ...]  # NAME=VALUE assignments, as shell words (the cell's sh expands them)
    skipped_by: str  # the test-skip glob that matches the identifier ("" when none does)
    skip_where: str


@dataclass(frozen=True, kw_only=True)
class CibwProject:
    """A project's cibuildwheel test settings, before a build identifier picks its overrides."""

    pyproject: Path
    root: Path  # the project directory ({project})
    package: str  # the package directory relative to it ({package}); "." by default
    name: str  # [project].name, for test-extras ("" when the table has none)
    base: Mapping[str, Value]
    linux: Mapping[str, Value]
    overrides: tuple[Override, ...]
    env: Mapping[str, Value] = field(default_factory=dict)
    groups: Mapping[str, Any] = field(default_factory=dict)  # [dependency-groups]
    # resolved settings by identifier: each reads its -r files and groups once per run, not once
    # per cell and phase
    _resolved: dict[str, CibwTests] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def has_tests(self) -> bool:
        """Whether any layer sets a test-command (for some identifier)."""
        layers = [self.base, self.linux, *(o.values for o in self.overrides)]
        texts = [layer["test-command"].text for layer in layers if "test-command" in layer]
        texts += [v.text for k, v in self.env.items() if k in ("test-command", "test-command/linux")]
        return any(text.strip() for text in texts)

    def check(self) -> None:
        """Check every layer's settings (files, groups, placeholders, environment) now, before
        any cell starts: InputError naming the line."""
        for layer in (self.base, self.linux, *(o.values for o in self.overrides)):
            self._checked("", layer)
        self._checked("", {k.removesuffix("/linux"): v for k, v in self.env.items()})

    def resolve(self, identifier: str) -> CibwTests:
        """The settings cibuildwheel would use when testing the wheel of `identifier`."""
        if identifier not in self._resolved:
            self._resolved[identifier] = self._resolve(identifier)
        return self._resolved[identifier]

    def _resolve(self, identifier: str) -> CibwTests:
        values: dict[str, Value | None] = {}
        for key in KEYS:
            current = self.linux.get(key, self.base.get(key))
            for override in self.overrides if key not in _GLOBAL else ():
                if key in override.values and _matches(override.select, identifier):
                    current = _inherit(current, override.values[key], override.inherit.get(key, "none"), key)
            current = self.env.get(key, current)
            if key not in _GLOBAL:
                current = self.env.get(key + "/linux", current)
            values[key] = current
        return self._checked(identifier, values)

    def _checked(self, identifier: str, values: Mapping[str, Value | None]) -> CibwTests:
        def text(key: str) -> str:
            value = values.get(key)
            return value.text.strip() if value is not None else ""

        command = values.get("test-command")
        before = values.get("before-test")
        for key, value in (("test-command", command), ("before-test", before)):
            if value is not None:
                _check_placeholders(key, value)
        requires = _requirements(self, values.get("test-requires"))
        groups = _split(values.get("test-groups"))
        if groups:
            requires += _group_requirements(self, groups, values["test-groups"])
        extras = tuple(e.strip() for e in text("test-extras").split(",") if e.strip())
        if extras and not self.name:
            where = values["test-extras"].where  # type: ignore[union-attr]
            raise InputError(
                f"{where}: test-extras needs the project's name, and {self.pyproject} has no [project] name",
                hint="add name = ... to [project], or drop test-extras",
            )
        for extra in extras:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", extra):
                where = values["test-extras"].where  # type: ignore[union-attr]
                raise InputError(
                    f"{where}: '{extra}' is not an extra's name", hint="extras are names such as 'test'"
                )
        sources = _split(values.get("test-sources"))
        for source in sources:
            _check_source(self.root, source, values["test-sources"])  # type: ignore[arg-type]
        skip = values.get("test-skip")
        rule = _first_match(_split(skip), identifier)
        return CibwTests(
            identifier=identifier,
            command=command if command is not None and command.text.strip() else None,
            before_test=before if before is not None and before.text.strip() else None,
            requires=tuple(requires),
            extras=extras,
            sources=sources,
            environment=_environment(values.get("test-environment")),
            skipped_by=rule,
            skip_where=skip.where if skip is not None and rule else "",
        )

    def requirements(self, identifiers: Iterable[str]) -> list[str]:
        """Everything the test settings install for these identifiers: test-requires, the
        test-groups and the candidates' test-extras (`name[extra]`)."""
        out: list[str] = []
        for identifier in identifiers:
            tests = self.resolve(identifier)
            out += tests.requires
            if tests.extras:
                out.append(f"{self.name}[{','.join(tests.extras)}]")
        return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- reading


def find_project(directory: Path, environ: Mapping[str, str] | None = None) -> CibwProject | None:
    """The cibuildwheel test settings of the project in `directory` when it has any test-command
    (in pyproject.toml or the CIBW_TEST_COMMAND variables), else None."""
    environ = os.environ if environ is None else environ
    pyproject = directory / PYPROJECT
    if not pyproject.is_file():
        return None
    text = pyproject.read_text(encoding="utf-8", errors="replace")
    if "cibuildwheel" not in text and not any(env_name("test-command", p) in environ for p in (False, True)):
        return None
    project = read_project(pyproject, environ=environ)
    return project if project.has_tests else None


def read_project(
    pyproject: Path, *, package: str = ".", environ: Mapping[str, str] | None = None
) -> CibwProject:
    """The test settings of one pyproject.toml (InputError naming the line when malformed)."""
    environ = os.environ if environ is None else environ
    doc = load_toml_file(pyproject)
    text = pyproject.read_text(encoding="utf-8", errors="replace")
    lines = _KeyLines(pyproject, text)
    tool = doc.get("tool", {})
    table = tool.get("cibuildwheel", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise InputError(f"{pyproject}: 'tool.cibuildwheel' must be a table")
    base = _layer(
        table, "tool.cibuildwheel", lines, skip=("linux", "macos", "windows", "ios", "pyodide", "overrides")
    )
    linux_table = table.get("linux", {})
    if not isinstance(linux_table, dict):
        raise InputError(
            f"{lines.where('tool.cibuildwheel', 'linux')}: 'tool.cibuildwheel.linux' must be a table"
        )
    linux = _layer(linux_table, "tool.cibuildwheel.linux", lines, skip=())
    overrides = _overrides(table.get("overrides", []), lines)
    env: dict[str, Value] = {}
    for key in KEYS:
        if env_name(key) in environ:
            env[key] = Value(environ[env_name(key)], f"${env_name(key)}")
        if key not in _GLOBAL and env_name(key, True) in environ:
            env[key + "/linux"] = Value(environ[env_name(key, True)], f"${env_name(key, True)}")
    project_table = doc.get("project", {})
    name = project_table.get("name", "") if isinstance(project_table, dict) else ""
    groups = doc.get("dependency-groups", {})
    root = pyproject.resolve().parent
    if not (root / package).resolve().is_relative_to(root):
        raise InputError(f"package directory '{package}' is outside the project {root}")
    return CibwProject(
        pyproject=pyproject,
        root=root,
        package=package,
        name=name if isinstance(name, str) else "",
        base=base,
        linux=linux,
        overrides=overrides,
        env=env,
        groups=groups if isinstance(groups, dict) else {},
    )


class _KeyLines:
    """Where a key of a table is written in the pyproject text (tomllib keeps no positions)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.found: dict[tuple[str, str], int] = {}
        table, seen = "", dict[str, int]()
        for number, line in enumerate(text.splitlines(), 1):
            header = self._HEADER.match(line)
            if header:
                table = header.group(2).replace('"', "").replace(" ", "")
                if header.group(1) == "[[":
                    seen[table] = seen.get(table, -1) + 1
                    table = f"{table}[{seen[table]}]"
                continue
            key = re.match(r'^\s*"?([A-Za-z0-9_.-]+?)"?\s*=', line)
            if key:
                dotted = key.group(1).split(".")
                prefix = ".".join([table, *dotted[:-1]]) if table else ".".join(dotted[:-1])
                self.found.setdefault((prefix, dotted[-1]), number)

    def where(self, table: str, key: str) -> str:
        number = self.found.get((table, key))
        place = f"{self.path}:{number}" if number else str(self.path)
        return f"{place}: {table}.{key}"


def _layer(table: Mapping[str, Any], name: str, lines: _KeyLines, skip: Sequence[str]) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for key, raw in table.items():
        if key in skip or key not in SEPARATORS:
            continue  # build settings: not ours to read
        where = lines.where(name, key)
        out[key] = Value(_stringify(key, raw, where), where)
    return out


def _overrides(raw: Any, lines: _KeyLines) -> tuple[Override, ...]:
    if not isinstance(raw, list):
        raise InputError(
            f"{lines.where('tool.cibuildwheel', 'overrides')}: 'overrides' must be an array of tables"
        )
    out = []
    for index, entry in enumerate(raw):
        name = f"tool.cibuildwheel.overrides[{index}]"
        if not isinstance(entry, dict):
            raise InputError(
                f"{lines.where('tool.cibuildwheel', 'overrides')}: each override must be a table"
            )
        select = entry.get("select")
        if isinstance(select, list) and all(isinstance(s, str) for s in select):
            select = " ".join(select)
        if not isinstance(select, str) or not select.strip():
            raise InputError(
                f"{lines.where(name, 'select')}: an override needs 'select' (identifier globs)",
                hint='e.g. select = "cp312-*"',
            )
        inherit = entry.get("inherit", {})
        if not isinstance(inherit, dict) or any(v not in _INHERIT for v in inherit.values()):
            raise InputError(
                f"{lines.where(name, 'inherit')}: 'inherit' maps settings to one of {', '.join(_INHERIT)}"
            )
        values = _layer(entry, name, lines, skip=("select", "inherit"))
        out.append(Override(select=tuple(select.split()), values=values, inherit=dict(inherit)))
    return tuple(out)


def _stringify(key: str, raw: Any, where: str) -> str:
    """A setting's TOML value as cibuildwheel's one string."""
    sep = SEPARATORS[key]
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool | int):  # cibuildwheel's str() of a number or a boolean
        return str(raw)
    if isinstance(raw, list) and all(isinstance(v, str | int | float) for v in raw):
        quote = shlex.quote if key in ("test-requires", "test-sources") else str
        return sep.join(quote(str(v)) for v in raw)
    if isinstance(raw, dict) and key == "test-environment":
        bad = [k for k in raw if not _ENV_NAME.match(str(k))]
        if bad:
            raise InputError(f"{where}: '{bad[0]}' is not an environment variable name")
        return " ".join(f'{k}="{v}"' for k, v in raw.items())
    kinds = (
        "a string, or a table of variables"
        if key == "test-environment"
        else "a string or an array of strings"
    )
    raise InputError(f"{where}: must be {kinds}, not {type(raw).__name__}")


def _inherit(before: Value | None, after: Value, rule: str, key: str) -> Value:
    if rule == "none" or before is None or not before.text:
        return after
    if not after.text:
        return before
    sep = SEPARATORS[key]
    if rule == "append":
        return Value(before.text + sep + after.text, after.where)
    return Value(after.text + sep + before.text, after.where)


# --------------------------------------------------------------------------- settings


def _split(value: Value | None) -> tuple[str, ...]:
    if value is None or not value.text.strip():
        return ()
    try:
        return tuple(shlex.split(value.text))
    except ValueError as exc:
        raise InputError(f"{value.where}: {exc} in {value.text!r}", hint="close the quote") from None


def _check_placeholders(key: str, value: Value) -> None:
    """A placeholder cibuildwheel fills only in other settings is an error here."""
    for name in _OTHER_PLACEHOLDERS:
        if name not in PLACEHOLDERS[key] and uses_placeholder(value.text, name):
            raise InputError(
                f"{value.where}: placeholder '{{{name}}}' is not filled in {key} (cibuildwheel fills it "
                "only in other settings)",
                hint=f"{key} has " + ", ".join("{" + p + "}" for p in PLACEHOLDERS[key]),
            )


def uses_placeholder(text: str, name: str) -> bool:
    return re.search(r"(?<!#)\{" + name + r"\}", text) is not None


def fill(text: str, values: Mapping[str, str]) -> str:
    """cibuildwheel's substitution: each `{name}` given is replaced, unless written `#{name}`,
    which becomes `{name}`; anything else in braces is left as it is."""
    for name, value in values.items():
        text = value.join(re.split(r"(?<!#)\{" + name + r"\}", text))
        text = text.replace("#{" + name + "}", "{" + name + "}")
    return text


def _check_source(root: Path, source: str, value: Value) -> None:
    try:
        _check_source_path(root, source, value)
    except (OSError, ValueError) as exc:
        raise InputError(f"{value.where}: test source {source!r} cannot be read: {exc}") from None


def _check_source_path(root: Path, source: str, value: Value) -> None:
    path = (root / source).resolve()
    if not path.is_relative_to(root):
        raise InputError(f"{value.where}: test source '{source}' is outside the project")
    if not path.exists():
        raise InputError(f"{value.where}: test source '{source}' does not exist in {root}")


def _requirements(project: CibwProject, value: Value | None) -> list[str]:
    """test-requires as requirement strings: `-r FILE` (relative to the project root, as pip
    in cibuildwheel's container reads it) is read here, each line checked."""
    out: list[str] = []
    tokens = list(_split(value))
    where = value.where if value is not None else ""
    files = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        path_text = None
        if token in ("-r", "--requirement"):
            if i + 1 >= len(tokens):
                raise InputError(f"{where}: '{token}' is not followed by a file name")
            path_text, i = tokens[i + 1], i + 2
        elif token.startswith("--requirement="):
            path_text, i = token.split("=", 1)[1], i + 1
        elif token.startswith("-r") and len(token) > 2:
            path_text, i = token[2:], i + 1
        else:
            i += 1
        if path_text is not None:
            files += 1
            out += _requirement_file(project.root, project.root / path_text, where, files)
            continue
        if token.startswith("-"):
            raise InputError(
                f"{where}: installer option '{token}' is not supported in test-requires",
                hint="list requirements (and -r FILE); the cell's installer picks the index",
            )
        out.append(_requirement(token, where))
    return out


def _requirement_file(root: Path, path: Path, where: str, count: int, depth: int = 0) -> list[str]:
    try:
        return _requirement_file_lines(root, path, where, count, depth)
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{where}: requirement file {str(path)!r} cannot be read: {exc}") from None


def _requirement_file_lines(root: Path, path: Path, where: str, count: int, depth: int) -> list[str]:
    if count > MAX_REQUIREMENT_FILES or depth > 8:
        raise InputError(f"{where}: requirement files include each other too deeply ({path})")
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise InputError(f"{where}: requirement file {path} is outside the project {root}")
    if not resolved.is_file():
        raise InputError(
            f"{where}: requirement file {path.relative_to(root) if path.is_relative_to(root) else path} "
            f"does not exist in {root}",
            hint="fix the -r path (it is relative to the project root, as in cibuildwheel)",
        )
    out: list[str] = []
    text = re.sub(r"\\\n", "", resolved.read_text(encoding="utf-8", errors="replace"))  # continuations
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        here = f"{resolved}:{number}"
        included = re.match(r"^(?:-r\s*|--requirement(?:\s+|=))(\S.*)$", line)
        if included:
            nested = resolved.parent / included.group(1).strip()
            out += _requirement_file(root, nested, here, count + 1, depth + 1)
        elif line.startswith("-"):
            raise InputError(
                f"{here}: installer option '{line.split()[0]}' is not supported in a test requirement file",
                hint="list requirements only; the cell's installer picks the index",
            )
        else:
            out.append(_requirement(line, here))
    return out


def _requirement(text: str, where: str) -> str:
    try:
        parse_requirement(text)
    except InputError as exc:
        raise InputError(f"{where}: {exc.message}", hint=exc.hint) from None
    return text


def _group_requirements(project: CibwProject, groups: Sequence[str], value: Value | None) -> list[str]:
    from dependency_groups import resolve

    where = value.where if value is not None else ""
    defined = {_group_name(g) for g in project.groups}
    for group in groups:
        if _group_name(group) not in defined:
            raise InputError(
                f"{where}: dependency group '{group}' is not in [dependency-groups] of {project.pyproject}",
                hint="groups: " + (", ".join(project.groups) or "none"),
            )
    try:
        resolved = resolve(project.groups, *groups)
    except (ValueError, TypeError, LookupError) as exc:
        raise InputError(f"{project.pyproject}: [dependency-groups]: {exc}") from None
    return [_requirement(str(r), where) for r in resolved]


def _group_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 735 compares names normalized


def _environment(value: Value | None) -> tuple[str, ...]:
    """test-environment as NAME=VALUE shell words (quotes kept: the cell's sh expands $VAR and
    $(...) in them, in order, as cibuildwheel does)."""
    if value is None or not value.text.strip():
        return ()
    words = _shell_words(value)
    for word in words:
        name, eq, _rest = word.partition("=")
        if not eq or not _ENV_NAME.match(name):
            raise InputError(
                f"{value.where}: '{word}' is not an assignment NAME=VALUE",
                hint='e.g. test-environment = { MY_FLAG = "1" } or "MY_FLAG=1 OTHER=$MY_FLAG"',
            )
    return tuple(words)


def _shell_words(value: Value) -> list[str]:
    """Split at blanks outside quotes and $( ), keeping both (the cell's sh reads them)."""
    words: list[str] = []
    word: list[str] = []
    stack: list[str] = []  # open quotes and $( in the word
    text = value.text
    i = 0
    while i < len(text):
        char = text[i]
        top = stack[-1] if stack else ""
        if top == "'":
            if char == "'":
                stack.pop()
        elif char == "\\" and i + 1 < len(text):
            word.append(char)
            i += 1
            char = text[i]
        elif top == '"' and char == '"':
            stack.pop()
        elif char == "$" and text.startswith(("$(", "${"), i):
            stack.append(text[i + 1])
            word.append(char)
            i += 1
            char = text[i]
        elif (top, char) in (("(", ")"), ("{", "}"), ("`", "`")):
            stack.pop()
        elif char == "`" or char in "'\"" and top != '"':
            stack.append(char)
        elif char.isspace() and not stack:
            if word:
                words.append("".join(word))
                word = []
            i += 1
            continue
        word.append(char)
        i += 1
    if stack:
        raise InputError(f"{value.where}: unclosed {stack[-1]} in {value.text!r}", hint="close the quote")
    if word:
        words.append("".join(word))
    return words


# --------------------------------------------------------------------------- identifiers


def _expand(pattern: str) -> list[str]:
    """Shell-style brace expansion of one glob, as cibuildwheel's (bracex): cp3{11,12}-*,
    cp3{10..13}-*."""
    import bracex

    try:
        return list(bracex.expand(pattern, limit=1000))
    except (ValueError, RuntimeError):  # an expansion over the limit: the glob as written
        return [pattern]


def _first_match(globs: Sequence[str], identifier: str) -> str:
    for glob in globs:
        if any(fnmatch.fnmatchcase(identifier, p) for p in _expand(glob)):
            return glob
    return ""


def _matches(globs: Sequence[str], identifier: str) -> bool:
    return bool(_first_match(globs, identifier))


def identifier(python: str, libc: str, arch: str) -> str:
    """cibuildwheel's build identifier for a CPython version on a libc and arch: ("3.13",
    "glibc", "aarch64") -> "cp313-manylinux_aarch64"; musl -> musllinux."""
    major, _, minor = python.partition(".")
    threaded = "t" if minor.endswith("t") else ""
    platform = "musllinux" if libc == "musl" else "manylinux"
    return f"cp{major}{minor.rstrip('t')}{threaded}-{platform}_{arch}"
