"""Explain results: confirm or refute static predictions, name order-dependent failures.

A pure function of the matrix, the results and the static scans, so it is tested without
containers. Each result may get a one-line `diagnosis`; the evidence keeps the details.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from wheelmatrix.model import CheckResult, Status
from wheelmatrix.scan.abi3 import cell_gaps as abi3_gaps
from wheelmatrix.scan.policy import FIXES, TAG_FAILURES, Finding, WheelScan, cell_gaps

if TYPE_CHECKING:  # the catalog loaders (YAML) are not needed to scan a wheel
    from wheelmatrix.config.known_problems import KnownProblem
    from wheelmatrix.matrix.cells import Cell, Pick

# Symbols every extension or DSO defines; two DSOs defining them is normal.
BENIGN = (
    "PyInit_",
    "_init",
    "_fini",
    "_edata",
    "_end",
    "__bss_start",
    "_ITM_",
    "__gmon_start__",
    "__bss_end__",  # the aarch64 static linker defines these in every shared object
    "_bss_end__",
    "__end__",
)


@dataclass(frozen=True, kw_only=True)
class Prediction:
    project: str
    modules: tuple[str, ...]
    finding: Finding


def predict_cell(cell: Cell, scans: Mapping[str, WheelScan]) -> list[Prediction]:
    """What the static scan says will break in this cell, before it runs."""
    out = []
    for pick in _installed(cell):
        assert pick.wheel is not None
        scan = scans.get(pick.wheel.filename)
        if scan is None:
            continue
        for gap in cell_gaps(scan, cell.distro.symbol_versions, cell.distro.id):
            out.append(Prediction(project=pick.project, modules=pick.wheel.modules, finding=gap))
        for gap in cpu_gaps(scan, cell.arch, cell.cpu):
            out.append(Prediction(project=pick.project, modules=pick.wheel.modules, finding=gap))
        python = cell.distro.python_version
        for gap in abi3_gaps(pick.wheel.filename, scan.files, python, cell.distro.id):
            out.append(Prediction(project=pick.project, modules=pick.wheel.modules, finding=gap))
    return out


def cpu_gaps(scan: WheelScan, arch: str, level: str) -> list[Finding]:
    """ELF files that declare (x86 GNU property note) a newer ISA level than a CPU cell's:
    predicted SIGILL. An undeclared use is only found by running."""
    from wheelmatrix.scan.cpu import below

    if not level or arch != "x86_64":
        return []
    return [
        Finding(
            kind="cell-cpu",
            file=f.path,
            version=f.isa_level,
            message=f"{f.path} declares that it needs {f.isa_level} (its GNU property note); this cell's "
            f"CPU is {level}: expect SIGILL",
        )
        for f in scan.files
        if f.isa_level and below(arch, f.isa_level, level)
    ]


@dataclass(frozen=True, kw_only=True)
class Collision:
    symbol: str
    files: tuple[str, ...]  # "project: path/in/wheel.so"


def shared_exports(cell: Cell, scans: Mapping[str, WheelScan]) -> list[Collision]:
    """Global default-visibility symbols exported by more than one of the cell's wheels (every
    export name is read again from the wheel files: the scans keep only the ones judgements
    consult, so this runs only when a collision needs naming)."""
    from wheelmatrix.scan.elf import wheel_exports

    owners: dict[str, list[str]] = {}
    for pick in _installed(cell):
        assert pick.wheel is not None
        if pick.wheel.filename not in scans:
            continue
        for path, exports in wheel_exports(pick.wheel.path).items():
            for sym in exports:
                if not sym.startswith(BENIGN):
                    owners.setdefault(sym, []).append(path)
    return [Collision(symbol=s, files=tuple(f)) for s, f in sorted(owners.items()) if len(set(f)) > 1]


def _installed(cell: Cell) -> list[Pick]:
    return [p for p in (*cell.candidates, *cell.companions) if p.wheel is not None and p.fits is not False]


def _key(r: CheckResult | Cell) -> tuple[str, str, str, str, str]:
    if isinstance(r, CheckResult):
        return (r.distro, r.arch, r.python, r.scenario, r.variant)
    return (r.distro.id, r.arch, r.python, r.scenario.name, r.variant)


def diagnose(
    cells: Sequence[Cell],
    results: Sequence[CheckResult],
    scans: Mapping[str, WheelScan],
    known: Sequence[KnownProblem] = (),
) -> list[CheckResult]:
    by_cell: dict[tuple[str, str, str, str, str], list[CheckResult]] = {}
    for r in results:
        by_cell.setdefault(_key(r), []).append(r)
    out: list[CheckResult] = []
    seen: set[tuple[str, str, str, str, str]] = set()
    for cell in cells:
        key = _key(cell)
        if key in seen:
            continue
        seen.add(key)
        out += _name_known(cell, _diagnose_cell(cell, by_cell.pop(key, []), scans), known)
    for rest in by_cell.values():
        out += rest
    return known_from_baseline(out, known)


def _failure_class(r: CheckResult) -> tuple[str, str]:
    """Same status and same exception type or signal: 'fails the same way'."""
    head = r.detail.split(";")[0].split(":")[0].strip()
    return (r.status.value, head)


def known_from_baseline(results: list[CheckResult], known: Sequence[KnownProblem]) -> list[CheckResult]:
    """A failure of a known-problem variant that the set's baseline (the set alone, without
    the candidates) shows too becomes `known`: expected, named, and not counted against the
    candidates. The baseline's own failures are `known` as well. Needs only the results (a
    baseline's variant ends in `.baseline`), so merged shards get it too; idempotent."""
    baselines = {r.cell_id for r in results if r.variant.endswith(".baseline")}
    if not baselines:
        return results
    classes: dict[tuple[str, str, str, str], set[tuple[str, str]]] = {}
    for r in results:
        if r.cell_id in baselines and r.status.is_wheel_failure:
            set_name = r.variant.removesuffix(".baseline")
            classes.setdefault((r.distro, r.arch, r.python, set_name), set()).add(_failure_class(r))
    names = {k.id: k for k in known}
    out = []
    for r in results:
        if r.status.is_wheel_failure and r.variant:
            set_name = r.variant.removesuffix(".baseline")
            seen = classes.get((r.distro, r.arch, r.python, set_name), set())
            if r.cell_id in baselines or _failure_class(r) in seen:
                entry = names.get(set_name)
                why = f"the set `{set_name}` fails the same way without the candidates"
                if entry is not None and entry.id not in r.diagnosis:
                    why += f" (known problem: {entry.symptom})"
                r = dataclasses.replace(
                    r,
                    status=Status.KNOWN,
                    detail=f"{r.status.value}: {r.detail}",
                    diagnosis=f"{why}; {r.diagnosis}" if r.diagnosis else why,
                )
        out.append(r)
    return out


def _diagnose_cell(
    cell: Cell, results: list[CheckResult], scans: Mapping[str, WheelScan]
) -> list[CheckResult]:
    predictions = predict_cell(cell, scans)
    unshipped = [
        f
        for p in _installed(cell)
        if p.wheel is not None and p.wheel.filename in scans
        for f in scans[p.wheel.filename].findings
        if f.kind == "unshipped-library"
    ]
    updated = []
    for r in results:
        modules = tuple(r.evidence.get("modules") or ())
        ran = PurePosixPath(str(r.evidence.get("path") or "")).name  # a loaded library, a started command
        relevant = [
            p
            for p in predictions
            if set(p.modules) & set(modules) or (ran and PurePosixPath(p.finding.file or "").name == ran)
        ]
        diagnosis = ""
        evidence = dict(r.evidence)
        if relevant:
            evidence["predicted"] = [p.finding.message for p in relevant]
        if r.status is Status.FAILED:
            hit = [p for p in relevant if p.finding.version and p.finding.version in r.detail]
            hit += [
                p
                for p in relevant
                if p.finding.symbol and f"undefined symbol: {p.finding.symbol}" in r.detail
            ]
            hit += [
                p for p in relevant if p.finding.kind == "cell-execstack" and "executable stack" in r.detail
            ]
            hit += [
                p
                for p in relevant
                if p.finding.kind == "cell-cpu" and "CPU ISA level is lower than required" in r.detail
            ]
            lib = [f for f in unshipped if f.library and f.library in r.detail]
            if hit:
                evidence["confirmed"] = _confirmed(cell, hit[0])
                diagnosis = f"predicted and confirmed: {hit[0].finding.message}"
                if hit[0].finding.kind == "cell-cpu":
                    diagnosis += (
                        "; glibc (2.33 and later) refuses to load an object whose GNU property note "
                        "needs a newer x86-64 level than the CPU has, so users get this ImportError "
                        "instead of a crash"
                    )
            else:
                diagnosis = (
                    _explain_pure_fallback(cell, r)
                    or _explain_missing_library(cell, r.detail, lib, scans)
                    or _explain_undefined(cell, r.detail)
                    or _explain_removed_module(cell, r)
                    or explain_runtime_mismatch(r)
                )
        elif r.status is Status.CRASHED and "SIGILL" in r.detail:
            hit = [p for p in relevant if p.finding.kind == "cell-cpu"]
            if hit:
                evidence["confirmed"] = _confirmed(cell, hit[0])
                diagnosis = f"predicted and confirmed: {hit[0].finding.message}"
        elif r.status is Status.PASSED and r.evidence.get("warnings"):
            diagnosis = explain_runtime_mismatch(r) or f"the import printed: {r.evidence['warnings'][0]}"
        elif r.status is Status.PASSED and relevant:
            diagnosis = f"predicted failure did not happen: {relevant[0].finding.message}"
        combined = "; ".join(d for d in (diagnosis, r.diagnosis) if d)
        updated.append(dataclasses.replace(r, diagnosis=combined, evidence=evidence))
    return _order_dependence(updated, lambda: shared_exports(cell, scans))


def _confirmed(cell: Cell, prediction: Prediction) -> dict[str, str]:
    """Evidence that a prediction of the static scan came true: its kind, wheel and message."""
    wheel = next(
        (p.wheel.filename for p in _installed(cell) if p.project == prediction.project and p.wheel), ""
    )
    return {"kind": prediction.finding.kind, "wheel": wheel, "message": prediction.finding.message}


def tag_checks(
    cells: Sequence[Cell],
    results: Sequence[CheckResult],
    scans: Mapping[str, WheelScan],
    installed: Mapping[str, Mapping[str, str]] | None = None,
) -> list[CheckResult]:
    """A failing `tag` check, in every import cell where the wheel was installed, for each
    candidate wheel whose tag claims an older platform than its files need: installers trust
    the tag, so users on the floor it claims fail even where this cell happens to load it.

    A candidate given as a requirement is judged by the file the cell installed for it:
    `installed` maps a cell id to {project: wheel file name} (see installed_candidates)."""
    by_cell: dict[str, CheckResult] = {}
    for r in results:
        by_cell.setdefault(r.cell_id, r)
    in_cell = {
        (r.cell_id, r.check.split()[1]) for r in results if r.check.startswith("tag ") and " " in r.check[4:]
    }
    out = []
    for cell in cells:
        if cell.scenario.kind != "import":
            continue
        template = by_cell.get(cell.id)
        if template is None or template.status is Status.ERROR and template.check == "prepare image":
            continue
        for pick in cell.candidates:
            if pick.wheel is not None:
                filename = pick.wheel.filename if pick.fits is True else ""
            elif (cell.id, pick.project) in in_cell:
                continue  # the cell judged the installed files itself (cell/checks/installed.py)
            else:
                filename = (installed or {}).get(cell.id, {}).get(pick.project, "")
            if filename not in scans:
                continue
            over = [f for f in scans[filename].findings if f.kind in TAG_FAILURES]
            if not over:
                continue
            worst = over[0]
            out.append(
                dataclasses.replace(
                    template,
                    check=f"tag {filename}",
                    status=Status.FAILED,
                    detail=worst.message,
                    duration_s=0.0,
                    evidence={"findings": [f.to_json() for f in over]},
                    diagnosis=(
                        "installers trust the tag: a system at the floor it claims installs this wheel "
                        "and fails to load it; rebuild on an older base image or retag it "
                        "(auditwheel repair picks the right tag)"
                        if worst.kind == "over-claimed"
                        else f"installers trust the tag, but no tag admits this wheel; {FIXES[worst.kind]}"
                    ),
                )
            )
    return out


def _explain_pure_fallback(cell: Cell, r: CheckResult) -> str:
    """'no aarch64 wheel of X 1.0; the pure wheel was installed and needs the system's libZ'."""
    pure: Mapping[str, str] = r.evidence.get("pure_wheels") or {}
    if not pure:
        return ""
    from wheelmatrix.scan.system_libs import install_hint, missing_library

    soname = missing_library(f"{r.detail}\n{r.evidence.get('output_tail') or ''}")
    if soname is None:
        return ""
    modules = set(r.evidence.get("modules") or ())
    names = {p.project: (p.wheel.modules if p.wheel else ()) for p in (*cell.candidates, *cell.companions)}
    owner = r.evidence.get("project")  # a check of one project's files (a library load, a command)
    involved = [
        p
        for p in pure
        if p in names and (p == owner if owner else not modules or not names[p] or set(names[p]) & modules)
    ]
    if not involved:
        return ""
    project = involved[0]
    text = (
        f"no {cell.arch} wheel of {project} {pure[project]} for this cell; the pure wheel (none-any) was "
        f"installed and needs the system's {soname}"
    )
    hint = install_hint(soname, cell.distro.family.name, cell.distro.id, arch=cell.arch)
    return f"{text} (on {cell.distro.id}: `{hint}`)" if hint else text


def _explain_missing_library(
    cell: Cell, detail: str, unshipped: Sequence[Finding], scans: Mapping[str, WheelScan]
) -> str:
    """'libGL.so.1: cannot open shared object file' -> which wheel file needs it, whether the
    manylinux policy lets a wheel assume it, and the package that provides it in this cell."""
    from wheelmatrix.scan.system_libs import install_hint, missing_library

    soname = missing_library(detail)
    if soname is None:
        # e.g. the symbols scenario's "x.so: libfoo.so.1 not found": the static finding names it
        return unshipped[0].message if unshipped else ""
    not_allowed = next((f for f in unshipped if f.library == soname), None)
    needers = sorted(
        {
            f.path
            for p in _installed(cell)
            if p.wheel is not None and p.wheel.filename in scans
            for f in scans[p.wheel.filename].files
            if soname in f.needed
        }
    )
    if not_allowed is not None:
        parts = [not_allowed.message]  # names the file, and that the tag does not allow it
    else:
        parts = [f"{soname} is not in this cell"]
        if needers:
            parts[0] += f"; {', '.join(needers[:3])} needs it"
            parts.append("the manylinux policy lets wheels assume it, so the system must provide it")
    hint = install_hint(soname, cell.distro.family.name, cell.distro.id, arch=cell.arch)
    if hint:
        parts.append(f"on {cell.distro.id} it comes from `{hint}`")
    return "; ".join(parts)


_NUMPY_ABI = re.compile(
    r"compiled using NumPy 1\.x cannot be run in|numpy\.dtype size changed|_ARRAY_API not found"
    r"|numpy\.core\.multiarray failed to import"
)
_PROTOBUF = re.compile(r"Descriptors cannot be created directly")


def explain_runtime_mismatch(r: CheckResult) -> str:
    """The NumPy 2 C-ABI break and the protobuf generated-code/runtime mismatch, recognised
    from their messages (for any package, not only catalog entries), with the runtime version
    the cell has installed."""
    text = f"{r.detail}\n{r.evidence.get('output_tail') or ''}\n{' '.join(r.evidence.get('warnings') or ())}"
    versions = r.installed_versions
    if _NUMPY_ABI.search(text):
        have = versions.get("numpy")
        installed = f"numpy {have}" if have else "NumPy 2"
        return (
            f"an extension compiled against NumPy 1.x was loaded with {installed}: "
            "NumPy 2 changed the C ABI; use a release of that package built for NumPy 2, or pin numpy<2"
        )
    if _PROTOBUF.search(text):
        have = versions.get("protobuf")
        installed = f"protobuf {have}" if have else "a newer protobuf"
        return (
            f"_pb2.py modules generated by an old protoc run on {installed}: "
            "regenerate them with protoc >= 3.19, or pin protobuf<=3.20 "
            "(or set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python)"
        )
    return ""


def _explain_removed_module(cell: Cell, r: CheckResult) -> str:
    from wheelmatrix.scan.stdlib_removals import explain_missing_module

    text = f"{r.detail}\n{r.evidence.get('output_tail') or ''}"
    return explain_missing_module(text, cell.distro.python_version) or ""


def _explain_undefined(cell: Cell, detail: str) -> str:
    """'undefined symbol: X' -> 'X first appeared in glibc 2.38 (libc.so.6); this cell has 2.36'."""
    if cell.distro.libc.family == "musl":
        from wheelmatrix.findings.musl import explain_glibc_on_musl

        return explain_glibc_on_musl(detail)
    if "undefined symbol" not in detail or cell.distro.libc.family != "glibc":
        return ""
    from wheelmatrix.scan.glibc_symbols import explain_undefined

    return explain_undefined(detail, cell.arch, cell.distro.libc.version) or ""


def _order_dependence(
    results: list[CheckResult], find_collisions: Callable[[], Sequence[Collision]]
) -> list[CheckResult]:
    """Name import orders where one fails and the other passes, with the symbols both sides
    export (looked up only when such a pair exists)."""
    found: list[Sequence[Collision]] = []

    def collisions() -> Sequence[Collision]:
        if not found:
            found.append(find_collisions())
        return found[0]

    groups: dict[frozenset[str], list[CheckResult]] = {}
    for r in results:
        modules = r.evidence.get("modules") or []
        if r.check.startswith("import ") and len(modules) > 1:
            groups.setdefault(frozenset(modules), []).append(r)
    lines: dict[int, str] = {}
    pairs: dict[int, dict[str, Any]] = {}
    for group in groups.values():
        for bad, good in itertools.product(group, group):
            if (
                bad.status in (Status.CRASHED, Status.FAILED, Status.TIMED_OUT)
                and good.status is Status.PASSED
            ):
                what = {Status.CRASHED: bad.detail.split(";")[0], Status.TIMED_OUT: "hangs"}.get(
                    bad.status, "fails"
                )
                kind = {Status.CRASHED: "crash", Status.TIMED_OUT: "hang"}.get(bad.status, "failure")
                line = f"order-dependent {kind}: `{bad.check}` {what}, `{good.check}` passes"
                suspects = [c for c in collisions() if _mentions(c, bad.evidence.get("modules") or [])]
                pairs[id(bad)] = {
                    "bad": bad.check,
                    "good": good.check,
                    "what": what,
                    "suspects": [c.symbol for c in suspects[:3]],
                }
                if suspects:
                    line += "; " + "; ".join(
                        f"`{c.symbol}` is exported by both " + " and ".join(c.files) for c in suspects[:3]
                    )
                lines[id(bad)] = f"{line}; {bad.diagnosis}" if bad.diagnosis else line
    return [
        dataclasses.replace(
            r, diagnosis=lines[id(r)], evidence={**r.evidence, "order_dependent": pairs[id(r)]}
        )
        if id(r) in lines
        else r
        for r in results
    ]


def _mentions(collision: Collision, modules: Sequence[str]) -> bool:
    tops = {Path(f).parts[0].split(".")[0] for f in collision.files}
    return len(tops & set(modules)) > 1


def _name_known(cell: Cell, results: list[CheckResult], known: Sequence[KnownProblem]) -> list[CheckResult]:
    """A failure whose signature matches a catalog entry names it, when the cell has the
    packages the entry states at versions in its ranges; otherwise the failure is explained on
    its own (another version, or another package with the same message, is not that entry)."""
    out = []
    for r in results:
        versions = _cell_versions(cell, r)
        for problem in known:
            if problem.matches(r.status, f"{r.detail}\n{r.diagnosis}") and problem.covers(versions):
                here = ", ".join(
                    f"{name} {versions[name]}" for name in sorted(problem.projects) if name in versions
                )
                named = (
                    f"known problem `{problem.id}` ({here} in this cell): "
                    f"{problem.root_cause.strip()} ({problem.reference})"
                )
                r = dataclasses.replace(
                    r,
                    diagnosis=f"{named}; {r.diagnosis}" if r.diagnosis else named,
                    evidence={**r.evidence, "known_problem": problem.id},
                )
                break
        out.append(r)
    return out


def _cell_versions(cell: Cell, r: CheckResult) -> dict[str, str]:
    """Installed versions of the cell (canonical name -> version): what the installer reported,
    else the exact pins the cell asked for (a result recorded before anything was installed)."""
    versions = dict(r.installed_versions)
    if versions:
        return versions
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    for pick in (*cell.candidates, *cell.companions):
        if pick.requirement is None:
            continue
        req = Requirement(pick.requirement)
        pins = [s.version for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if pins:
            versions[canonicalize_name(req.name)] = pins[0]
    return versions
