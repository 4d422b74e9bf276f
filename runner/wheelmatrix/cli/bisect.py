"""`wheelmatrix bisect PKG --good V1 --bad V2 [--with REQ]... --distro ID --arch ARCH [-- CMD...]`:
binary search over the released versions of PKG between a good and a bad one (from the index,
or --find-links directories), one fresh cell per step, each step printed; ends with the first
bad version and what changed in the diagnosis.

Exit code: 1 when the first bad version was found (a version fails), 2 when the premise does
not hold (the good version fails or the bad one passes), 3 when the engine or the index broke.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from wheelmatrix.cli.options import add_cell_arguments, add_input_arguments, add_sandbox_arguments
from wheelmatrix.errors import InfrastructureError, InputError

if TYPE_CHECKING:
    from packaging.version import Version

    from wheelmatrix.model import CheckResult
    from wheelmatrix.service.live import Outcome

HELP = "find the first version of a package that fails in one cell, by binary search"


def register(sub: Any) -> None:
    p = sub.add_parser("bisect", help=HELP, description=HELP)
    p.add_argument("package", metavar="PKG", help="the distribution whose versions are searched")
    p.add_argument("--good", required=True, metavar="V1", help="a version that works")
    p.add_argument("--bad", required=True, metavar="V2", help="a later version that fails")
    add_input_arguments(p, inputs_required=False, positional=False)
    p.add_argument("--pre", action="store_true", help="include pre-releases")
    add_cell_arguments(p)
    add_sandbox_arguments(p)
    p.set_defaults(func=main, inputs=[])


def released_versions(package: str, find_links: list[Path], *, offline: bool, pre: bool) -> list[Version]:
    """Every version of `package` with a wheel in the --find-links directories and, unless
    offline, every version the index lists (asked with pip, which honours the host's index
    configuration); sorted."""
    from packaging.utils import canonicalize_name, parse_wheel_filename
    from packaging.version import InvalidVersion, Version

    want = canonicalize_name(package)
    found: set[Version] = set()
    for directory in find_links:
        for path in Path(directory).glob("*.whl"):
            try:
                name, version, _b, _t = parse_wheel_filename(path.name)
            except ValueError:
                continue
            if canonicalize_name(name) == want:
                found.add(version)
    if not offline:
        argv = [sys.executable, "-m", "pip", "index", "versions", package, "--disable-pip-version-check"]
        argv += ["--pre"] if pre else []
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        m = re.search(r"^Available versions: (.+)$", proc.stdout, re.MULTILINE)
        if m:
            for text in m.group(1).split(","):
                try:
                    found.add(Version(text.strip()))
                except InvalidVersion:
                    continue
        elif not found:
            raise InfrastructureError(
                f"could not list the versions of {package} from the index: "
                + (proc.stderr or proc.stdout).strip()[-300:],
                hint="check the index configuration (pip config, PIP_INDEX_URL), "
                "or give --find-links DIR --offline",
            )
    return sorted(v for v in found if pre or not v.is_prerelease)


def between(versions: list[Version], good: Version, bad: Version) -> list[Version]:
    """The versions from good to bad inclusive (both are added if the listing missed them)."""
    return sorted({*(v for v in versions if good <= v <= bad), good, bad})


class Step:
    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.count = 0

    def __call__(self, version: Version) -> tuple[Outcome, CheckResult]:
        from wheelmatrix.backends.factory import connect
        from wheelmatrix.cli.common import cell_config
        from wheelmatrix.service.live import LiveCell, engine_of, import_argv, single_cell

        self.count += 1
        sub = argparse.Namespace(**vars(self.args))
        sub.inputs = [f"{self.args.package}=={version}"]
        plan, cell = single_cell(cell_config(sub))
        with LiveCell(plan, cell, connect(engine_of(plan)), log=lambda _m: None) as live:
            if not live.open():
                failure = live.install_failures[0]
                raise InputError(
                    f"{self.args.package}=={version} does not install in {cell.id}: {failure.detail}",
                    hint="pick --good/--bad versions with wheels for this cell",
                )
            argv = list(getattr(self.args, "command_argv", None) or []) or import_argv(live.given_modules())
            outcome = live.run(argv)
            result = live.explain(outcome, argv, check=f"{self.args.package}=={version}")
        verdict = "bad" if outcome.failed else "good"
        self.console.print(
            f"step {self.count}: {self.args.package} {version} -> {outcome.signature} ({verdict})",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
        return outcome, result


def main(args: argparse.Namespace, console: Console) -> int:
    from packaging.version import InvalidVersion, Version

    try:
        good, bad = Version(args.good), Version(args.bad)
    except InvalidVersion as exc:
        raise InputError(
            f"bisect: {exc}", hint="--good and --bad take version numbers such as 1.26.4"
        ) from None
    if not good < bad:
        raise InputError(f"bisect: --good {good} must be older than --bad {bad}")
    for d in args.find_links or []:
        if not d.is_dir():
            raise InputError(f"--find-links {d}: not a directory")
    versions = between(
        released_versions(
            args.package, list(args.find_links or []), offline=bool(args.offline), pre=args.pre
        ),
        good,
        bad,
    )
    console.print(
        f"{args.package}: {len(versions)} versions from {good} to {bad}: {', '.join(map(str, versions))}",
        highlight=False,
        soft_wrap=True,
    )
    step = Step(args, console)
    bad_outcome, bad_result = step(bad)
    if not bad_outcome.failed:
        console.print(f"{args.package} {bad} passes in this cell: nothing to bisect", highlight=False)
        return 2
    good_outcome, good_result = step(good)
    if good_outcome.failed:
        console.print(
            f"{args.package} {good} fails too ({good_outcome.signature}): pick an older --good",
            highlight=False,
        )
        return 2
    lo, hi = 0, len(versions) - 1
    results = {hi: (bad_outcome, bad_result), lo: (good_outcome, good_result)}
    while hi - lo > 1:
        mid = (lo + hi) // 2
        results[mid] = step(versions[mid])
        if results[mid][0].failed:
            hi = mid
        else:
            lo = mid
    first_outcome, first_result = results[hi]
    console.print(
        f"[bold]first bad version: {args.package} {versions[hi]}[/] "
        f"(last good: {versions[lo]}; {step.count} cell runs)",
        highlight=False,
        soft_wrap=True,
    )
    if first_outcome.signature != bad_outcome.signature:
        console.print(
            f"note: {versions[hi]} fails as {first_outcome.signature}, {bad} as {bad_outcome.signature}",
            highlight=False,
        )
    console.print(f"{versions[lo]}: passed", highlight=False, markup=False)
    console.print(
        f"{versions[hi]}: {first_result.status.value}: {first_result.detail}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if first_result.diagnosis:
        console.print(
            f"[bold]diagnosis:[/] {escape(first_result.diagnosis)}", highlight=False, soft_wrap=True
        )
    return 1
