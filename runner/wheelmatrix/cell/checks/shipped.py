"""The import kind for a candidate with no importable module: a wheel of only commands
(`.data/scripts`, `pkg/bin/`), native libraries loaded through ctypes, data, headers or stubs.

Nothing can be imported, so what it ships is checked instead, each in a fresh process: every
native library is loaded with `ctypes.CDLL` (`load NAME`), every command is started with
`--version` (`run NAME --version`); a wheel with neither gets one passing `contents of PROJECT`
result that says there was nothing to load or run. Each result says it stands in for an import.

Copies of one file (`libtbb.so`, `libtbb.so.12`, `libtbb.so.12.20`: wheels cannot hold
symlinks) are loaded once. A library that needs a sibling the wheel ships but cannot find it
(no RUNPATH, and `.data/data/lib` is not on the loader's path) is loaded the way its users
must: after loading that sibling first; the result passes and says so.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

from wheelmatrix.cell.checks.commands import start_commands
from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.checks.imports import classify
from wheelmatrix.cell.install import VENV_PYTHON
from wheelmatrix.model import CheckResult, Status

MAX_LOADS = 24  # libraries loaded per candidate; the rest are named in the last result
NOTE = "the wheel has no importable module"
PRELOADED = "wheelmatrix-preloaded:"


def without_module(ctx: CellRun, project: str) -> list[CheckResult]:
    """Load the libraries and start the commands of `project`, installed with no module."""
    commands = ctx.installed.commands.get(project, [])
    libraries = [
        f
        for f in ctx.installed.files.get(project, [])
        if f not in commands and ".so" in posixpath.basename(f)
    ]
    out = _load(ctx, project, libraries, copies(libraries, ctx.installed.elf_digests)) if libraries else []
    if commands:
        note = f"{NOTE}: its commands are started instead"
        out += start_commands(ctx, commands, ("--version",), note=note, project=project)
    if not out:
        out.append(
            ctx.result(
                f"contents of {project}",
                Status.PASSED,
                f"installed; nothing to import, load or run ({NOTE}, native library or command: "
                "only data, headers or type stubs)",
                evidence={"instead_of_import": NOTE, "project": project},
            )
        )
    return out


def copies(libraries: Sequence[str], digests: Mapping[str, str]) -> dict[str, list[str]]:
    """Each library to load -> the other installed files with the same content (RECORD digest)."""
    out: dict[str, list[str]] = {}
    first: dict[str, str] = {}
    for path in libraries:
        digest = digests.get(path)
        if digest and digest in first:
            out[first[digest]].append(path)
            continue
        if digest:
            first[digest] = path
        out[path] = []
    return out


_LOADER = """import ctypes, re
path, shipped, pre = {path!r}, {shipped!r}, []
while True:
    try:
        ctypes.CDLL(path)
        break
    except OSError as exc:
        m = re.match(r"^(\\S+): cannot open shared object file", str(exc))
        if not m or m.group(1) not in shipped or m.group(1) in pre or len(pre) > 16:
            raise
        ctypes.CDLL(shipped[m.group(1)], mode=ctypes.RTLD_GLOBAL)
        pre.append(m.group(1))
if pre:
    print({marker!r}, " ".join(pre))
"""


def load_code(path: str, siblings: Sequence[str] = ()) -> str:
    """Python that loads one shared library the way a ctypes user does; a sibling it needs and
    cannot find (`siblings`: the wheel's other libraries) is loaded first, and named."""
    shipped = {posixpath.basename(s): s for s in siblings if s != path}
    return _LOADER.format(path=path, shipped=shipped, marker=PRELOADED)


def _load(
    ctx: CellRun, project: str, libraries: Sequence[str], same: Mapping[str, Sequence[str]]
) -> list[CheckResult]:
    unique = list(same)
    chosen, rest = unique[:MAX_LOADS], unique[MAX_LOADS:]
    plan = {
        "python": VENV_PYTHON,
        "timeout": ctx.options.timeout_s,
        "checks": [{"id": f"l{i}", "code": load_code(p, libraries)} for i, p in enumerate(chosen)],
    }
    budget = (ctx.options.timeout_s + 15) * len(chosen) + 60
    records = ctx.sandbox.probe("run", plan, user=ctx.sandbox.check_user, budget=budget)
    by_id = {r["check"]["id"]: r["check"] for r in records if "check" in r}
    out = []
    for i, path in enumerate(chosen):
        text = f"load {posixpath.basename(path)}"
        rec = by_id.get(f"l{i}")
        if rec is None:
            out.append(ctx.missing(text))
            continue
        status, detail = classify(rec, ctx.options.timeout_s)
        preloaded = _preloaded(str(rec.get("tail") or ""))
        if status is Status.PASSED and preloaded:
            detail = (
                f"loads only after {', '.join(preloaded)}, which the wheel ships but the loader does not "
                f"find from {posixpath.dirname(path)} (no RUNPATH $ORIGIN): load that first, or put that "
                "directory on the library path"
            )
        note = f"{NOTE}: its native libraries are loaded with ctypes instead"
        if same.get(path):
            note += f"; the same file as {', '.join(posixpath.basename(p) for p in same[path])}"
        if i == len(chosen) - 1 and rest:
            note += f"; {len(rest)} more not loaded: {', '.join(posixpath.basename(p) for p in rest[:5])}"
        evidence = {
            "returncode": rec["rc"],
            "signal": rec["signal"],
            "output_tail": rec["tail"],
            "path": path,
            "project": project,
            "instead_of_import": note,
            "preloaded": preloaded,
        }
        detail = f"{detail} ({note})" if detail else note
        diagnosis = ""
        if status is Status.CRASHED and not ctx.cancel.is_set():
            diagnosis = f"loading {path} alone crashed the process: its initialisers (constructors) fault"
        out.append(ctx.result(text, status, detail, rec["duration_s"], evidence, diagnosis))
    return out


def _preloaded(output: str) -> list[str]:
    for line in output.splitlines():
        if line.startswith(PRELOADED):
            return line[len(PRELOADED) :].split()
    return []
