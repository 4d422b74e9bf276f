"""The option table: every run setting once, as an `Option`, in `OPTIONS`.

The run-file loader (its keys, which field each sets, how its value is read), the argparse flags
of every command that takes run settings, the CLI -> RunConfig overrides, the `init` starter
and the README's option table are derived from it; tests/unit/test_options.py fails when any of
them, or RunConfig's defaults, disagree with it. One cascade: RunConfig's defaults, then the
file, then the flags (a flag not given is None and keeps the file's value).

Kept light: `wheelmatrix.cli` imports this to build its parsers, so the config modules (YAML,
packaging, the catalog) are imported only when a file is read or a flag value is checked.
`python -m wheelmatrix.options --markdown` prints the README table; `--readme FILE` rewrites it
between the marker comments.

May import config, scan, inputs and the base modules (the heavy ones inside functions only).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from wheelmatrix.config.limits import JOBS, MEMORY, PIDS, SECONDS, Bounds, clipped, memory_problem
from wheelmatrix.errors import InputError

if TYPE_CHECKING:
    from wheelmatrix.config.runfile import RunConfig

FAIL_ON = ("failure", "regression", "never")  # also `compare --fail-on` and run/compare.py
INSTALLERS = ("uv", "pip")
LINK_MODES = ("symlink", "copy")
ARCHES = ("x86_64", "aarch64")  # wheelmatrix.config.catalog.ARCHES (a test keeps them equal)
Group = Literal["inputs", "matrix", "sandbox", "reports", "report-files", "common"]

# (option, report format, help) of every report file a run or `report` writes; the formats are
# reporters/registry.py's (not imported here: keeps `--help` fast; a test keeps them equal)
REPORT_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("json", "json", "a JSON report"),
    ("junit", "junit", "a JUnit XML report"),
    ("markdown", "markdown", "a Markdown summary"),
    ("html", "html", "the HTML report (one self-contained file)"),
    ("annotations", "github", "GitHub workflow annotations, one per root cause (- for standard output)"),
    ("sarif", "sarif", "a SARIF 2.1.0 log, one result per root cause (code scanning)"),
)
REPORT_FORMATS = tuple(name for _, name, _ in REPORT_FLAGS)
README_BEGIN = "<!-- options:begin (generated: python -m wheelmatrix.options --readme README.md) -->"
README_END = "<!-- options:end -->"


# --------------------------------------------------------------------------- flag value types


def number_in(bounds: Bounds) -> Callable[[str], float]:
    """A flag type: a number within `bounds` (an int when they are whole); never NaN or inf."""

    def parse(text: str) -> float:
        value: float
        try:
            if len(text) > 100:
                raise ValueError
            value = int(text) if bounds.whole else float(text)
        except ValueError:
            kind = "a whole number" if bounds.whole else "a number"
            raise argparse.ArgumentTypeError(
                f"'{clipped(text)}' is not {kind} (must be {bounds.describe()})"
            ) from None
        problem = bounds.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = "whole number" if bounds.whole else "number"  # argparse's fallback message
    return parse


def count_in(bounds: Bounds) -> Callable[[str], int]:
    """A flag type: a whole number within `bounds`."""
    parse = number_in(bounds._replace(whole=True))
    return lambda text: int(parse(text))


def python_version(text: str) -> str:
    from wheelmatrix.config.runfile import PYTHON_VERSION

    if not PYTHON_VERSION.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a MAJOR.MINOR Python version (e.g. 3.11)")
    return text


def memory(text: str) -> str:
    problem = memory_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text.lower()


def engine_url(text: str) -> str:
    from wheelmatrix.config.runfile import ENGINE_URL

    if not ENGINE_URL.match(text):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an engine URL (e.g. unix:///var/run/docker.sock, tcp://10.0.0.5:2375, ssh://user@host)"
        )
    return text


def registry_mirror(text: str) -> str:
    from wheelmatrix.config.runfile import registry_mirror_value

    try:
        return registry_mirror_value(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})") from None


def cpu_level(text: str) -> str:
    from wheelmatrix.scan.cpu import arch_of, level

    try:
        level(arch_of(text), text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from None
    return text


# --------------------------------------------------------------------------- the table


class Option(NamedTuple):
    """One run setting: its run-file key and/or its command-line flag, and how each is read.

    `name` is the run-file key (for a flag-only option, the flag without its dashes). `field`
    is the RunConfig field it sets ("reports.json": one field of RunConfig.reports). `default`
    is RunConfig's (a test holds them equal); `default_doc` says it in words where the value
    alone would not ("auto", "every distro"). `parse` names the value parser in
    wheelmatrix.config.runfile.PARSERS; `type` checks a flag's value. `group` is which commands
    get the flag: inputs (every command that installs), sandbox (every command that starts
    containers), matrix and reports (validate, run, plan), common (every command).
    """

    name: str
    field: str
    doc: str  # what it does: the README row and the starter's comment
    default: object = None
    default_doc: str = ""
    in_file: bool = True
    parse: str = ""
    flags: tuple[str, ...] = ()  # () = run file only
    positional: str = ""  # the candidates: argparse dest of the positional argument
    group: Group | None = None
    dest: str = ""  # argparse dest when it is not `field` (the report files)
    action: Literal["store", "append", "store_const"] = "store"
    const: object = None
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    help: str = ""  # --help, where it differs from `doc`; "{default}" is replaced
    example: str = ""  # the starter's value, commented out (default: the default)
    bounds: Bounds | None = None  # numbers: the values allowed (flag and file alike)

    @property
    def key(self) -> str | None:
        """The run-file key, or None for a flag-only option."""
        return self.name if self.in_file else None

    @property
    def where(self) -> Literal["file", "cli", "both"]:
        on_cli = bool(self.flags or self.positional)
        return "both" if self.in_file and on_cli else ("file" if self.in_file else "cli")

    @property
    def argparse_dest(self) -> str:
        return self.positional or self.dest or self.field

    def shown_default(self) -> str:
        """The default as the docs say it."""
        if self.default_doc:
            return self.default_doc
        value = self.default
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, float):
            return f"{value:g}"
        if value is None or value == ():
            return "none"
        return str(value)

    @property
    def full_doc(self) -> str:
        """`doc` with the allowed values of a number."""
        return f"{self.doc}; {self.bounds.describe()}" if self.bounds else self.doc

    @property
    def flag_type(self) -> Callable[[str], Any] | None:
        """How a flag's value is read: `type`, else a number within `bounds`."""
        if self.type is not None or self.bounds is None:
            return self.type
        return number_in(self.bounds)

    def help_text(self) -> str:
        text = (self.help or self.doc).replace("{default}", self.shown_default())
        return f"{text}; {self.bounds.describe()}" if self.bounds and text else text


OPTIONS: tuple[Option, ...] = (
    Option(
        name="candidates",
        field="candidates",
        doc="the wheels under test: wheel files, globs or requirement strings (e.g. 'mypkg==1.2')",
        default=(),
        parse="wheels-or-requirements",
        positional="inputs",
        group="inputs",
        metavar="WHEEL_OR_REQ",
        help="wheel files, globs or requirements to test (the candidates)",
        example="[dist/*.whl]",
    ),
    Option(
        name="companions",
        field="companions",
        doc="installed next to the candidates in every cell (requirements or wheels)",
        default=(),
        parse="wheels-or-requirements",
        flags=("--with",),
        group="inputs",
        action="append",
        metavar="REQ",
        help="companion to install next to the candidates (requirement or wheel); repeatable",
        example='["numpy>=2"]',
    ),
    Option(
        name="find-links",
        field="find_links",
        doc="extra directories of wheels for the installer",
        default=(),
        parse="directories",
        flags=("--find-links",),
        group="inputs",
        action="append",
        type=Path,
        metavar="DIR",
        help="extra directory of wheels for the installer; repeatable",
        example="[wheelhouse]",
    ),
    Option(
        name="known-problems",
        field="known_problems",
        doc="known-problem sets to run as extra companions, each in its own cells: true (every set "
        "that applies), false, or a list of set ids",
        default=(),
        default_doc="false",
        parse="known-problems",
        flags=("--with-known-problems",),
        group="matrix",
        action="store_const",
        const=("all",),
        help="also run each applicable known-problem set as companions, each in its own cells",
        example="true",
    ),
    Option(
        name="distros",
        field="distros",
        doc="catalog distro ids",
        default=(),
        default_doc="every distro this machine can run",
        parse="distros",
        flags=("--distro",),
        group="matrix",
        action="append",
        metavar="ID",
        help="a catalog distro id; repeatable",
        example="[debian-12, ubuntu-24.04]",
    ),
    Option(
        name="archs",
        field="archs",
        doc="architectures: x86_64, aarch64 (aarch64 runs under QEMU on x86_64)",
        default=(),
        default_doc="every arch the host runs or emulates",
        parse="archs",
        flags=("--arch",),
        group="matrix",
        action="append",
        choices=ARCHES,
        help="repeatable",
        example="[x86_64, aarch64]",
    ),
    Option(
        name="pythons",
        field="pythons",
        doc='keep the distros whose own Python is one of these (quoted MAJOR.MINOR: "3.12")',
        default=(),
        default_doc="every distro's",
        parse="pythons",
        flags=("--python",),
        group="matrix",
        action="append",
        type=python_version,
        metavar="X.Y",
        help="only distros providing this Python; repeatable",
        example='["3.11", "3.12"]',
    ),
    Option(
        name="include",
        field="include",
        doc="keep only the targets matching a rule DISTRO[/ARCH[/PYTHON]] (wildcards * ? [...])",
        default=(),
        parse="rules",
        flags=("--include",),
        group="matrix",
        action="append",
        metavar="DISTRO[/ARCH[/PY]]",
        help="keep only matching targets (wildcards allowed); repeatable",
        example='["debian-*", "ubuntu-*/x86_64"]',
    ),
    Option(
        name="exclude",
        field="exclude",
        doc="drop the targets matching a rule DISTRO[/ARCH[/PYTHON]]",
        default=(),
        parse="rules",
        flags=("--exclude",),
        group="matrix",
        action="append",
        metavar="DISTRO[/ARCH[/PY]]",
        help="drop matching targets, e.g. debian-13/aarch64; repeatable",
        example='["debian-13/aarch64", "*/*/3.8"]',
    ),
    Option(
        name="scenarios",
        field="scenarios",
        doc="built-in scenario names and your own (command, pytest) scenarios",
        default=(),
        default_doc="the default built-in scenarios (import, symbols)",
        parse="scenarios",
        example="[import, symbols]",
    ),
    Option(
        name="scenario",
        field="scenario_names",
        doc="run only these scenarios (built-in, or defined in the run file)",
        default=(),
        default_doc="all",
        in_file=False,
        flags=("--scenario",),
        group="matrix",
        action="append",
        metavar="NAME",
        help="repeatable",
    ),
    Option(
        name="cibuildwheel-tests",
        field="cibuildwheel_tests",
        doc="also run the [tool.cibuildwheel] tests of the project in DIR in every cell",
        default=None,
        in_file=False,
        flags=("--cibuildwheel-tests",),
        group="matrix",
        type=Path,
        metavar="DIR",
        help="also run the [tool.cibuildwheel] tests (test-command, test-requires, ...) of the "
        "project in DIR in every cell, as cibuildwheel runs them",
    ),
    Option(
        name="installer",
        field="installer",
        doc="uv (fast, a shared cache) or the image's own pip",
        default="uv",
        parse="choice",
        flags=("--installer",),
        group="sandbox",
        choices=INSTALLERS,
        help="uv (default, fast) or the image's own pip",
    ),
    Option(
        name="link-mode",
        field="link_mode",
        doc="uv: link installed files from the shared cache (symlink) or copy them",
        default="symlink",
        parse="choice",
        flags=("--link-mode",),
        group="sandbox",
        choices=LINK_MODES,
        help="uv: link installed files from the shared cache (default) or copy them",
    ),
    Option(
        name="offline",
        field="offline",
        doc="install only from the find-links directories",
        default=False,
        parse="flag",
        flags=("--offline",),
        group="sandbox",
        action="store_const",
        const=True,
        help="install only from --find-links",
    ),
    Option(
        name="gdb",
        field="gdb",
        doc="images with gdb: native backtraces for crashes (larger images)",
        default=False,
        parse="flag",
        flags=("--gdb",),
        group="sandbox",
        action="store_const",
        const=True,
        help="images with gdb",
    ),
    Option(
        name="strict-warnings",
        field="strict_warnings",
        doc="fail a check that passes but prints an import-time warning",
        default=False,
        parse="flag",
        flags=("--strict-warnings",),
        group="matrix",
        action="store_const",
        const=True,
    ),
    Option(
        name="verbose",
        field="verbose",
        doc="the terminal summary also lists, per cell, the wheel file each distribution was "
        "installed from (its platform tag and sha256)",
        default=False,
        parse="flag",
        flags=("--verbose", "-v"),
        group="reports",
        action="store_const",
        const=True,
        help="also list, per cell, the wheel file each distribution was installed from",
    ),
    Option(
        name="jobs",
        field="jobs",
        doc="cells in parallel (a whole number, or auto: one per CPU)",
        default=None,
        default_doc="auto",
        parse="jobs",
        flags=("--jobs",),
        group="matrix",
        bounds=JOBS,
        help="cells in parallel (default: CPUs)",
    ),
    Option(
        name="timeout",
        field="timeout_s",
        doc="seconds per check",
        default=120.0,
        parse="seconds",
        flags=("--timeout",),
        group="sandbox",
        bounds=SECONDS,
        metavar="S",
        help="seconds per check (default {default})",
    ),
    Option(
        name="install-timeout",
        field="install_timeout_s",
        doc="seconds per installation",
        default=1800.0,
        parse="seconds",
        bounds=SECONDS,
    ),
    Option(
        name="memory",
        field="memory",
        doc="memory limit per container (a number with b, k, m or g)",
        default="4g",
        parse="memory",
        flags=("--memory",),
        group="sandbox",
        type=memory,
        bounds=MEMORY,
        help="memory limit per container (default {default})",
    ),
    Option(
        name="pids",
        field="pids",
        doc="process limit per container",
        default=1024,
        parse="count",
        flags=("--pids",),
        group="sandbox",
        bounds=PIDS,
    ),
    Option(
        name="reports",
        field="reports",
        doc="report files to write: a mapping of json, junit, markdown, html, annotations, sarif to paths",
        default_doc="none (the terminal summary only)",
        parse="reports",
        example="\n  json: wheelmatrix-report.json\n  junit: wheelmatrix-junit.xml"
        "\n  markdown: wheelmatrix-summary.md\n  html: wheelmatrix-report.html"
        '\n  annotations: "-"\n  sarif: wheelmatrix.sarif',
    ),
    *(
        Option(
            name=kind,
            field=f"reports.{kind}",
            doc=f"write {what}; in the run file, `{kind}:` under `reports`",
            in_file=False,
            flags=(f"--{kind}",),
            group="report-files",
            dest=kind,
            type=Path,
            metavar="PATH",
            help=f"write {what}",
        )
        for kind, _format, what in REPORT_FLAGS
    ),
    Option(
        name="catalog",
        field="catalog",
        doc="a distro catalog file that extends or overrides the shipped one",
        parse="file",
        flags=("--catalog",),
        group="common",
        type=Path,
        metavar="FILE",
        example="my-distros.yaml",
    ),
    Option(
        name="fail-on",
        field="fail_on",
        doc="what makes the exit code 1: any failed check (failure), only a regression against "
        "compare, or never",
        default="failure",
        parse="choice",
        flags=("--fail-on",),
        group="matrix",
        choices=FAIL_ON,
        help="what makes the exit code 1: any failure (default), only a regression against "
        "--compare, or never",
    ),
    Option(
        name="compare",
        field="compare",
        doc="a baseline to compare with: an earlier JSON report or run directory",
        parse="existing-path",
        flags=("--compare",),
        group="matrix",
        type=Path,
        metavar="OLD",
        help="compare with an earlier report or run directory",
        example="baseline/wheelmatrix-report.json",
    ),
    Option(
        name="engines",
        field="engines",
        doc="container engines to spread the cells over (unix://, tcp://, ssh:// URLs); an engine "
        "that stops answering has its cells moved to another",
        default=(),
        default_doc="DOCKER_HOST, else the local engine",
        parse="engines",
        flags=("--engine",),
        group="sandbox",
        action="append",
        type=engine_url,
        metavar="URL",
        help="a container engine to run cells on (unix://, tcp://, ssh://); repeatable: cells spread "
        "over every engine given (default: {default})",
        example="[unix:///var/run/docker.sock, tcp://10.0.0.5:2375]",
    ),
    Option(
        name="cpu",
        field="cpus",
        doc="CPU levels (x86-64-v1..v3; armv8.0, armv8.2, armv9): the cells of each level's arch run "
        "on QEMU's model of that CPU, so code for a newer CPU dies of SIGILL as on a user's older "
        "machine",
        default=(),
        default_doc="the host's CPU (QEMU's default when emulated)",
        parse="cpus",
        flags=("--cpu",),
        group="sandbox",
        action="append",
        type=cpu_level,
        metavar="LEVEL",
        help="run the cells of that arch on an emulated CPU of this level (x86-64-v1..v3; armv8.0, "
        "armv8.2, armv9), so code for a newer CPU dies of SIGILL as on a user's older machine; "
        "repeatable",
        example="[x86-64-v2, armv8.0]",
    ),
    Option(
        name="registry-mirror",
        field="registry_mirror",
        doc="pull the catalog's registry images through this mirror or prefix (host[:port][/path]), "
        "e.g. a company's pull-through cache: debian:12 is pulled as PREFIX/library/debian:12",
        default_doc="$WHEELMATRIX_REGISTRY_MIRROR, else the engine's registry",
        parse="registry-mirror",
        flags=("--registry-mirror",),
        group="sandbox",
        type=registry_mirror,
        metavar="PREFIX",
        help="pull the catalog's registry images through this mirror or prefix (host[:port][/path]), "
        "e.g. a company's pull-through cache (default: {default})",
        example="registry.example.com:5000",
    ),
)

FILE_OPTIONS = tuple(o for o in OPTIONS if o.in_file)
KEYS = tuple(o.name for o in FILE_OPTIONS)


def option(name: str) -> Option:
    """The option with this run-file key or flag name."""
    for o in OPTIONS:
        if o.name == name:
            return o
    raise KeyError(name)


# --------------------------------------------------------------------------- the run file


def load_run_config(path: Path) -> RunConfig:
    """Read a run configuration file: YAML, or the [tool.wheelmatrix] table of a pyproject.toml.
    An unknown key fails with the closest known one (exit 2, naming FILE:LINE and the key)."""
    from wheelmatrix.config.runfile import parse_run_config, read_run_file

    return parse_run_config(read_run_file(path), FILE_OPTIONS)


# --------------------------------------------------------------------------- the command line


def add_arguments(p: argparse.ArgumentParser, group: Group, **changes: Any) -> None:
    """The flags of one group, in table order; `changes` are passed to every add_argument
    (e.g. default=argparse.SUPPRESS for options every command takes)."""
    for o in OPTIONS:
        if o.group != group or not o.flags:
            continue
        kwargs: dict[str, Any] = {"dest": o.argparse_dest, "action": o.action, "default": None}
        if o.action == "store_const":
            kwargs["const"] = o.const
        else:
            kwargs.update(type=o.flag_type, metavar=o.metavar)
            if o.choices:
                kwargs["choices"] = o.choices
        help_text = o.help_text()
        if help_text:
            kwargs["help"] = help_text
        kwargs.update(changes)
        p.add_argument(*o.flags, **{k: v for k, v in kwargs.items() if v is not None or k == "default"})


def add_positional(p: argparse.ArgumentParser, *, required: bool) -> None:
    """The candidates, as positional arguments."""
    o = option("candidates")
    p.add_argument(o.positional, nargs="+" if required else "*", metavar=o.metavar, help=o.help_text())


def overrides(args: argparse.Namespace, base: RunConfig) -> dict[str, Any]:
    """The RunConfig fields given on the command line, to overlay on `base` with
    RunConfig.override (a flag not given is None; an empty positional list was not given)."""

    out: dict[str, Any] = {}
    reports: dict[str, Any] = {}
    for o in OPTIONS:
        if not (o.flags or o.positional):
            continue
        value = getattr(args, o.argparse_dest, None)
        if value is None or value == []:
            continue
        value = tuple(value) if isinstance(value, list) else value
        if o.field.startswith("reports."):
            reports[o.field.split(".", 1)[1]] = value
        else:
            out[o.field] = value
    if reports:
        import dataclasses

        out["reports"] = dataclasses.replace(base.reports, **reports)
    return out


# --------------------------------------------------------------------------- docs


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """The README's option table."""
    lines = ["| Run-file key | Flag | Default | What it does |", "|---|---|---|---|"]
    for o in OPTIONS:
        key = f"`{o.name}`" if o.in_file else "—"
        if o.positional:
            flag = f"`{o.metavar}...` (arguments)"
        else:
            flag = ", ".join(f"`{f}`" for f in o.flags) or "—"
        lines.append(f"| {key} | {flag} | {_cell(o.shown_default())} | {_cell(o.full_doc)} |")
    return "\n".join(lines) + "\n"


def readme_with_table(readme: str) -> str:
    """`readme` with the text between its option-table markers replaced by markdown_table()."""
    begin, end = readme.find(README_BEGIN), readme.find(README_END)
    if begin < 0 or end < begin:
        raise InputError(f"the README has no option table markers ({README_BEGIN} ... {README_END})")
    return readme[: begin + len(README_BEGIN)] + "\n" + markdown_table() + readme[end:]


def starter_config(project_dir: Path) -> str:
    """The text of a commented starter wheelmatrix.yaml for the project in `project_dir`: every
    run-file key in table order, with what it does and its default, prefilled from the project's
    pyproject.toml and dist/ where that is possible (wheelmatrix.config.starter)."""
    import textwrap

    from wheelmatrix.config.starter import prefill

    out, filled = prefill(project_dir)
    for o in FILE_OPTIONS:
        out.append("")
        doc = f"{o.name}: {o.full_doc}. Default: {o.shown_default()}."
        out += textwrap.wrap(doc, width=92, initial_indent="# ", subsequent_indent="#   ")
        lines = filled.get(o.name)
        if lines is not None:
            out += lines
            continue
        value = o.example or o.shown_default()
        out += [f"# {line}" for line in f"{o.name}: {value}".split("\n")]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wheelmatrix.options", description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="print the README's option table")
    parser.add_argument("--readme", type=Path, metavar="FILE", help="rewrite the table in FILE")
    args = parser.parse_args(argv)
    if args.readme is not None:
        args.readme.write_text(readme_with_table(args.readme.read_text(encoding="utf-8")), encoding="utf-8")
    if args.markdown or args.readme is None:
        sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
