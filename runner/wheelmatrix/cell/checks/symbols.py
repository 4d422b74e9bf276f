"""The symbols kind and crash evidence: plans for the in-container probe, and how to read
its records into checks with one-line details."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wheelmatrix.cell.checks.cellfiles import (
    MAX_READ_BYTES,
    PROBE,
    TooMuchToRead,
    observe_only,
    probe_reading,
)
from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.cell.install import SYMBOLS_PROBE, VENV_PYTHON
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.findings.musl import explain_glibc_on_musl
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.resources import data_path

# Where an earlier scenario of the cell (the import kind) leaves the imports it traced for this
# one: TRACE_DIR/KEY.ld.PID (the dynamic linker's bindings), KEY.dsos (the objects mapped once
# everything was imported), KEY.rc (how that interpreter ended). Under emulation one import of a
# scientific stack is half a minute; the symbols probe reads these instead of importing again.
TRACE_DIR = "/tmp/wm-trace"

Groups = Sequence[tuple[str, Sequence[str]]]


def import_orders(cands: Groups, comps: Groups) -> list[list[str]]:
    """The two orders the symbols probe imports everything in: candidates then companions, and
    companions then the candidates in reverse."""
    return [
        [m for _p, mods in (*cands, *comps) for m in mods],
        [m for _p, mods in (*comps, *reversed(cands)) for m in mods],
    ]


def trace_key(modules: Sequence[str]) -> str:
    """The file name under TRACE_DIR of an import of these modules in this order."""
    text = "\n".join(dict.fromkeys(modules))
    return "i" + hashlib.sha256(text.encode()).hexdigest()[:16]


def trace_path(modules: Sequence[str]) -> str:
    """Where the traced import of these modules in this order leaves its files (NAME.ld.PID,
    NAME.dsos, NAME.rc)."""
    return TRACE_DIR + "/" + trace_key(modules)


def run(ctx: CellRun) -> list[CheckResult]:
    """Every candidate ELF file's DT_NEEDED and eager binding, then what imports load together."""
    opts = ctx.options
    cands, comps = ctx.installed.module_groups(ctx.cell)
    files = ctx.installed.files
    orders = import_orders(cands, comps)
    plan = {
        "python": VENV_PYTHON,
        "timeout": opts.timeout_s,
        "site_dirs": ctx.site_dirs,
        "modules": [m for _p, mods in (*cands, *comps) for m in mods],
        "orders": orders,
        "traces": [trace_path(order) for order in orders],
        "trace_dir": TRACE_DIR,
        "files": {p: list(files.get(p, [])) for p, _m in cands},
        "same_libs": [s for s in ctx.installed.installed_set.get("same_libs") or [] if s.get("differ")],
        # an emulated cell only observes; the reading of files and logs is done on this side
        "observe_only": observe_only(ctx.cell.emulated, ctx.sandbox),
    }
    started = time.monotonic()
    records = ctx.sandbox.probe(
        "smoke", plan, user=ctx.sandbox.check_user, budget=opts.timeout_s * 3 + 120, script=SYMBOLS_PROBE
    )
    observed = next((r["observed"] for r in records if isinstance(r.get("observed"), dict)), None)
    if observed is not None:
        records += analyse_outside(ctx, plan, observed)
    took = time.monotonic() - started
    for rec in records:
        for name, seconds in rec.get("steps") or ():
            if isinstance(name, str) and isinstance(seconds, (int, float)):
                ctx.phase_done(f"symbols: {name}", float(seconds))
    return [
        ctx.result(c.check, c.status, c.detail, took, c.evidence, c.diagnosis)
        for c in interpret_smoke([p for p, _m in cands], records, ctx.site_dirs)
    ]


def analyse_outside(ctx: CellRun, plan: Mapping[str, Any], observed: dict[str, Any]) -> list[dict[str, Any]]:
    """The probe's analysis of what an emulated cell observed, run natively over the cell's
    files read through the engine API (cell/checks/cellfiles.py); its records, as the probe
    would emit them in the cell."""
    budget = ctx.options.timeout_s * 2 + 120

    def in_cell(command: str, arg: Mapping[str, Any]) -> list[dict[str, Any]]:
        return ctx.sandbox.probe(
            command, arg, user=ctx.sandbox.check_user, budget=budget, script=SYMBOLS_PROBE
        )

    def trace(i: int) -> tuple[str, bool]:
        got = next((r["traced"] for r in in_cell("trace", {**plan, "order": i}) if "traced" in r), None)
        if not (isinstance(got, list) and len(got) == 2 and isinstance(got[0], str)):
            raise InfrastructureError(f"the symbol probe did not trace import order {i}")
        view.changed(posixpath.dirname(got[0]))  # a new log is there
        return got[0], bool(got[1])

    if not well_formed(observed, len(plan["orders"])):
        why = "the symbol probe's record of what it observed was malformed"
        return [{"loaded": None, "why": why, "error": True}]
    if observed.get("bytes", 0) > MAX_READ_BYTES:
        return in_cell("analyse", {**plan, "observed": observed})
    steps = PROBE.Steps()
    try:
        with probe_reading(ctx.sandbox) as view:
            steps("objects read out of the cell")
            view.fetch(observed["loaded"])
            loaded = PROBE.analyse(plan, observed, steps, trace)
    except TooMuchToRead:
        return in_cell("analyse", {**plan, "observed": observed})
    steps(None)
    return [loaded, {"steps": steps.done}]


def well_formed(observed: Mapping[str, Any], orders: int) -> bool:
    """Whether the probe's record of what it observed holds what the analysis reads, of the
    types it reads (it comes out of a cell where package code ran: never trusted blindly)."""

    def paths(v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(p, str) and p.startswith("/") for p in v)

    logs = observed.get("logs")
    return (
        paths(observed.get("loaded"))
        and paths(observed.get("startup"))
        and isinstance(logs, dict)
        and all(
            isinstance(k, str)
            and k.isdigit()
            and int(k) < orders
            and len(v) == 2
            and paths(v[:1])
            and isinstance(v[1], bool)
            for k, v in logs.items()
            if isinstance(v, list)
        )
        and all(isinstance(v, list) for v in logs.values())
        and (observed.get("used") is None or isinstance(observed.get("used"), list))
        and isinstance(observed.get("partial"), bool)
        and isinstance(observed.get("traceable"), bool)
        and (observed.get("reserve") is None or type(observed.get("reserve")) is int)
        and type(observed.get("bytes", 0)) is int
    )


@dataclass(frozen=True, kw_only=True)
class SymbolCheck:
    check: str
    status: Status
    detail: str = ""
    diagnosis: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)


_ARCHIVE = re.compile(r"^.*/archive-v0/[^/]+/")  # uv's unpacked wheels (symlink installs)


def short(path: str, site_dirs: Sequence[str]) -> str:
    """A path of a wheel's file as the wheel names it (wmcolla/_a.abi3.so)."""
    for d in site_dirs:
        if path.startswith(d.rstrip("/") + "/"):
            return path[len(d.rstrip("/")) + 1 :]
    m = _ARCHIVE.match(path)
    return path[m.end() :] if m else path


def demangle(names: Sequence[str]) -> dict[str, str]:
    """C++ names made readable with the host's c++filt when it is there."""
    mangled = [n for n in names if n.startswith("_Z")]
    tool = shutil.which("c++filt")
    if not mangled or tool is None:
        return {}
    proc = subprocess.run([tool], input="\n".join(mangled), capture_output=True, text=True)
    return dict(zip(mangled, proc.stdout.splitlines(), strict=False))


def _sym(name: str, readable: Mapping[str, str]) -> str:
    return f"`{readable[name]}` ({name})" if name in readable else f"`{name}`"


_MUSL_SIGNS = re.compile(r"\(wants |Error relocating")  # only the musl path words it so


def interpret_smoke(
    projects: Sequence[str], records: Sequence[Mapping[str, Any]], site_dirs: Sequence[str]
) -> list[SymbolCheck]:
    files_rec = next((r["files"] for r in records if "files" in r), None)
    loaded_rec = next((r for r in records if "loaded" in r), None)
    out: list[SymbolCheck] = []
    if files_rec is None:
        return [
            SymbolCheck(check="symbol smoke", status=Status.ERROR, detail="the symbol probe gave no result")
        ]
    for project in projects:
        mine = {p: v for p, v in files_rec.items() if v["project"] == project}
        if not mine:
            continue
        missing = [
            f"{short(path, site_dirs)}: {lib} not found"
            for path, info in mine.items()
            for lib, where in (info["needed"] or {}).items()
            if where is None
        ]
        resolved = {
            short(path, site_dirs): info["needed"]
            for path, info in mine.items()
            if info["needed"] is not None
        }
        out.append(
            SymbolCheck(
                check=f"libraries of {project}",
                status=Status.FAILED if missing else Status.PASSED,
                detail="; ".join(missing),
                evidence={"resolved": resolved},
            )
        )
        unresolved = []
        for path, info in mine.items():
            for problem in info["unresolved"]:
                if "version" in problem:
                    unresolved.append(f"{short(path, site_dirs)}: version {problem['version']} not found")
                elif problem.get("needs_version"):
                    unresolved.append(
                        f"{short(path, site_dirs)}: undefined symbol {problem['symbol']} "
                        f"(wants {problem['symbol']}@{problem['needs_version']})"
                    )
                else:
                    unresolved.append(f"{short(path, site_dirs)}: undefined symbol {problem['symbol']}")
            if info.get("load_error") and not info["unresolved"]:
                unresolved.append(f"{short(path, site_dirs)}: {info['load_error']}")
        detail = "; ".join(dict.fromkeys(unresolved))
        out.append(
            SymbolCheck(
                check=f"eager binding of {project}",
                status=Status.FAILED if unresolved else Status.PASSED,
                detail=detail,
                diagnosis=explain_glibc_on_musl(detail)
                if re.search(r"\(wants |Error relocating", detail)
                else "",
                evidence={"unresolved": [p for info in mine.values() for p in info["unresolved"]]},
            )
        )
    if loaded_rec is None or loaded_rec.get("loaded") is None:
        why = (loaded_rec or {}).get("why", "no result")
        ours = bool((loaded_rec or {}).get("error"))  # not the wheels': ours (or the probe's)
        out.append(
            SymbolCheck(
                check="loaded DSOs",
                status=Status.ERROR if ours else Status.FAILED,
                detail=f"could not inspect the set: {why}"
                if ours
                else f"could not import the set to inspect it: {why}",
            )
        )
        return out
    dsos = loaded_rec["loaded"]
    if loaded_rec.get("partial"):
        out.append(
            SymbolCheck(
                check="loaded DSOs",
                status=Status.PASSED,
                detail="the set does not import together in either order; DSOs of each module loaded alone",
                evidence={"loaded": [short(p, site_dirs) for p in dsos]},
            )
        )
    runtimes: Mapping[str, list[str]] = loaded_rec.get("runtimes") or {}
    note = "; ".join(
        f"{len(paths)} copies of {name}: " + ", ".join(short(p, site_dirs) for p in paths)
        for name, paths in runtimes.items()
    )
    out.append(
        SymbolCheck(
            check="duplicate runtimes",
            status=Status.PASSED,
            detail=note,
            diagnosis=note,  # a hazard worth showing, not a failure by itself
            evidence={"loaded": [short(p, site_dirs) for p in dsos], "runtimes": dict(runtimes)},
        )
    )
    out.append(interpret_collisions(loaded_rec, site_dirs))
    if loaded_rec.get("shared_copies"):  # only when the installed set has same-named libraries
        out.append(interpret_shared_copies(loaded_rec["shared_copies"] or []))
    tls = loaded_rec.get("static_tls") or {}
    if tls.get("objects"):
        out.append(interpret_static_tls(tls, site_dirs))
    return out


@dataclass(frozen=True)
class Verdict:
    """How a binding from one wheel's object to another wheel's definition was judged."""

    benign: bool
    reason: str  # counted in the evidence
    specifics: str = ""  # said in the diagnosis


@functools.cache
def _sharing() -> Mapping[str, Any]:
    with data_path("symbol-sharing.json").open(encoding="utf-8") as fh:
        data: Mapping[str, Any] = json.load(fh)
    return data


def judge(collision: Mapping[str, Any], pair: Mapping[str, Any], all_imported: bool) -> Verdict:
    """Whether a crossed binding can break anything. It breaks when the symbol holds a runtime's
    state (each copy keeps its own) or the definitions differ (size, or the bytes of data objects
    where the files show them); it cannot when the library it went to is byte-identical to the
    wheel's own copy, or the symbol is shared by design: STB_GNU_UNIQUE objects, C++ vague
    linkage (weak typeinfo, vtables, guard variables, inline statics, template instances), a
    private copy of a compiler runtime. A crossing while an import order fails stays a failure."""
    name = str(collision["symbol"])
    data = _sharing()
    for entry in data["stateful"]:
        if re.search(entry["pattern"], name):
            return Verdict(False, "stateful runtime symbol", f"{entry['what']} bound across copies")
    if pair.get("identical"):
        return Verdict(True, "identical copy of the library (reused by name)")
    # the definition it meant against the one it got; all of them when it is not known
    meant = [pair[k] for k in ("mine", "theirs") if pair.get(k)]
    defs: list[Mapping[str, Any]] = meant if len(meant) == 2 else collision.get("defs") or []
    sizes = sorted({int(d["size"]) for d in defs})
    if len(sizes) > 1:
        return Verdict(
            False,
            "definitions differ in size",
            "two different definitions (" + " and ".join(map(str, sizes)) + " bytes)",
        )
    digests = {d["contents"] for d in defs if d.get("contents")}
    if len(digests) > 1:
        return Verdict(
            False,
            "definitions differ in contents",
            f"two different definitions ({sizes[0]} bytes each, other contents)",
        )
    if not all_imported:
        return Verdict(False, "an import order failed", "bound across wheels while an import order fails")
    binds = {d["bind"] for d in defs}
    if "unique" in binds:
        return Verdict(True, "STB_GNU_UNIQUE (one definition per process by design)")
    if defs and binds <= {"weak"} and name.startswith("_Z"):
        what = next(v["what"] for v in data["vague_linkage"] if name.startswith(v["prefix"]))
        return Verdict(True, f"C++ vague linkage ({what})")
    if re.search(data["runtimes"], os.path.basename(str(pair["bound_to"]))) and ".libs/" in str(
        pair["bound_to"]
    ):
        return Verdict(True, "private compiler-runtime copy, same sizes")
    return Verdict(False, "interposed", "one wheel's code runs another wheel's copy")


def interpret_collisions(loaded_rec: Mapping[str, Any], site_dirs: Sequence[str]) -> SymbolCheck:
    """Symbols defined by more than one loaded DSO: a failure only for the C++ runtime's
    call_once machinery next to the system's libstdc++, or a binding across wheels judged able
    to break; every crossed binding's verdict is counted in the evidence."""
    collisions: list[Mapping[str, Any]] = loaded_rec.get("collisions") or []
    readable = demangle([c["symbol"] for c in collisions])
    imported = loaded_rec.get("orders_imported")
    all_imported = imported is None or all(imported)
    counts: dict[str, dict[str, int]] = {"benign": {}, "failing": {}}
    judged: list[dict[str, Any]] = []
    failing: list[tuple[Mapping[str, Any], Mapping[str, Any], Verdict]] = []
    for c in collisions:
        pairs = []
        for pair in c.get("crossed") or []:
            verdict = judge(c, pair, all_imported)
            group = counts["benign" if verdict.benign else "failing"]
            group[verdict.reason] = group.get(verdict.reason, 0) + 1
            pairs.append(dict(pair, judged=verdict.reason, benign=verdict.benign))
            if not verdict.benign:
                failing.append((c, pair, verdict))
        judged.append(
            dict(c, crossed=pairs, readable=readable.get(c["symbol"]))
            if pairs
            else dict(c, readable=readable.get(c["symbol"]))
        )
    # The C++ runtime's pieces break when one of the copies is the system's libstdc++ (shared
    # by everything in the process) or a binding crossed; wheels' own renamed copies loaded
    # privately (every C++ musllinux wheel vendors one) each serve their own wheel.
    cxx = [
        c
        for c in collisions
        if c["cxx_runtime"] and (c.get("crossed") or any(short(f, site_dirs) == f for f in c["files"]))
    ]
    bad = {id(c) for c in cxx} | {id(c) for c, _p, _v in failing}
    shown = ([c for c in collisions if id(c) in bad] + [c for c in collisions if id(c) not in bad])[:5]
    parts = [
        f"{_sym(c['symbol'], readable)} defined by " + " and ".join(short(f, site_dirs) for f in c["files"])
        for c in shown
    ]
    detail = "; ".join(parts) + (
        f" (+{len(collisions) - len(shown)} more)" if len(collisions) > len(shown) else ""
    )
    benign = sum(counts["benign"].values())
    diagnosis = ""
    if cxx:
        names = ", ".join(_sym(c["symbol"], readable) for c in cxx[:3])
        diagnosis = (
            f"C++ runtime pieces are defined twice ({names}): the first DSO loaded wins, "
            "which breaks std::call_once and exceptions across them"
        )
    elif failing:
        first, b, verdict = failing[0]
        diagnosis = (
            f"{_sym(first['symbol'], readable)} wanted by {short(b['wanted_by'], site_dirs)} was bound to "
            f"{short(b['bound_to'], site_dirs)}: {verdict.specifics}"
        )
        if verdict.reason != "interposed":
            diagnosis += ", so one wheel's code runs another wheel's copy"
    elif benign:
        why = ", ".join(f"{n} {r}" for r, n in sorted(counts["benign"].items(), key=lambda kv: -kv[1]))
        diagnosis = (
            f"information: {benign} binding{'s' if benign != 1 else ''} crossed between wheels, "
            f"none can break: {why}"
        )
    elif collisions and not loaded_rec.get("bindings_checked", True):
        diagnosis = (
            "information: the copies are wheels' own, loaded privately; this loader (musl) cannot "
            "trace bindings, so crossings were not checked"
        )
    elif collisions:
        diagnosis = (
            "information: the copies are loaded privately and no binding crossed between wheels "
            "(no interposition)"
        )
    crossed_first = sorted(judged, key=lambda c: not c.get("crossed"))
    return SymbolCheck(
        check="symbol collisions",
        status=Status.FAILED if cxx or failing else Status.PASSED,
        detail=detail,
        diagnosis=diagnosis,
        evidence={"collisions": crossed_first[:200], "bindings": counts, "defined_twice": len(collisions)},
    )


STATIC_TLS_WORKAROUNDS = (
    "import that library first (or LD_PRELOAD it) so that it is loaded at start, or raise the "
    "reserve with GLIBC_TUNABLES=glibc.rtld.optional_static_tls=BYTES (glibc 2.32+); the known "
    "case is libgomp on aarch64 (scikit-learn#17231, LightGBM#6509)"
)


def interpret_static_tls(tls: Mapping[str, Any], site_dirs: Sequence[str]) -> SymbolCheck:
    """Initial-exec TLS of the objects imports loaded, against the loader's reserve for it."""
    objects = [(short(p, site_dirs), int(n)) for p, n in tls["objects"]]
    total = sum(n for _p, n in objects)
    reserve = tls.get("reserve")
    listing = ", ".join(f"{p} {n} B" for p, n in sorted(objects, key=lambda o: -o[1])[:5])
    detail = f"{total} bytes of initial-exec TLS in dlopen'd objects ({listing})"
    diagnosis = ""
    if isinstance(reserve, int):
        detail += f"; the loader keeps {reserve} bytes (glibc.rtld.optional_static_tls) for them"
        if total > reserve * 3 // 4:
            diagnosis = (
                f"close to the static TLS reserve ({total} of {reserve} bytes): one more such library "
                "fails with 'cannot allocate memory in static TLS block'; " + STATIC_TLS_WORKAROUNDS
            )
    return SymbolCheck(
        check="static TLS",
        status=Status.PASSED,
        detail=detail,
        diagnosis=diagnosis,
        evidence={"static_tls": {"objects": objects, "total": total, "reserve": reserve}},
    )


def interpret_shared_copies(shared: Sequence[Mapping[str, Any]]) -> SymbolCheck:
    """Same-named bundled libraries with different contents, seen in the running process: which
    copy loaded and which wheels' objects run against a copy that is not theirs."""
    evidence = {"shared_copies": list(shared)}
    crossed = [s for s in shared if s.get("users") and s.get("loaded")]
    if not crossed:
        notes = [
            f"{s['name']}: only {' and '.join(f'{d} ({p})' for d, p in s['loaded'])} loaded"
            for s in shared
            if s.get("loaded")
        ]
        return SymbolCheck(
            check="shared library copies", status=Status.PASSED, detail="; ".join(notes), evidence=evidence
        )
    first = crossed[0]
    dist, path = first["loaded"][0]
    user = first["users"][0]
    own_dist, own_path = user["expected"]
    others = len(crossed) - 1
    more = f" (+{others} more librar{'y' if others == 1 else 'ies'})" if others else ""
    detail = (
        f"{user['file']} needs {first['name']} and runs against {dist}'s copy ({path}), "
        f"not its own ({own_path}){more}"
    )
    diagnosis = (
        f"{dist} and {own_dist} both bundle {first['name']} with different contents; the dynamic linker "
        f"reuses the copy loaded first by name, so {own_dist}'s code runs {dist}'s build (wrong results or "
        "a crash where they differ, and the import order decides which wins); the wheels must give their "
        "copies distinct names (auditwheel repair names them by content hash) or share one build"
    )
    failed = Status.FAILED
    return SymbolCheck(
        check="shared library copies", status=failed, detail=detail, diagnosis=diagnosis, evidence=evidence
    )


def _frame(line: str) -> str:
    """'#0  0x7f.. in PyInit__native () from /x/y.so' -> 'PyInit__native'."""
    text = line.split(" in ", 1)[-1] if " in " in line else line.split(None, 1)[-1]
    return text.split(" (")[0].strip()


def illegal_instruction(native: Mapping[str, Any], pc: Mapping[str, Any], site_dirs: Sequence[str]) -> str:
    """'illegal instruction `vpaddd ymm0, ...` (needs x86-64-v3: AVX2...) ...' for a SIGILL."""
    from wheelmatrix.scan import cpu

    arch = str(native.get("arch") or "x86_64")
    insn = cpu.decode(arch, str(native["fault"]["code"]))
    where = short(str(pc.get("dso") or "?"), site_dirs)
    if pc.get("symbol"):
        where += f" ({pc['symbol']}+{pc.get('symbol_offset')})"
    if insn is None:
        return f"illegal instruction in {where}"
    text = f"illegal instruction `{insn.text}` in {where}"
    if insn.needs:
        text += f"; it needs {insn.needs}" + (f" ({insn.what})" if insn.what else "")
    level = native.get("cpu")
    if level and insn.needs:
        model = next((lv.qemu for lv in cpu.levels(arch) if lv.name == level), None)
        text += f", and this cell's CPU is {level} (QEMU {model})"
        if cpu.below(arch, insn.needs, level):
            text += (
                "; users whose CPUs are older than that get this crash: build for the wheel's "
                "declared baseline, or select the code path at run time (CPU feature checks, "
                "function multi-versioning)"
            )
    return text


def native_summary(native: Mapping[str, Any], site_dirs: Sequence[str]) -> str:
    """One line from a crash re-run: where it faulted and which bindings were interposed."""
    bits = []
    fault = native.get("fault") or {}
    pc = fault.get("pc") or {}
    if pc.get("dso"):
        where = f"{pc['symbol']}+{pc['symbol_offset']}" if pc.get("symbol") else f"offset {pc.get('offset')}"
        bits.append(
            f"{fault.get('signal', 'fault')} at {where} in {short(pc['dso'], site_dirs)}"
            f" (fault address {fault.get('fault_address')})"
        )
    for b in (native.get("bindings") or [])[:3]:
        bits.append(
            f"`{b['symbol']}` wanted by {short(b['wanted_by'], site_dirs)} was bound to "
            f"{short(b['bound_to'], site_dirs)}"
        )
    if fault.get("signal") == "SIGILL" and fault.get("code"):
        bits.append(illegal_instruction(native, pc, site_dirs))
    stack = native.get("thread_stack") or {}
    if stack and stack.get("exit") == 0:
        bits.append(
            f"it runs with {stack['raised_to']} default thread stacks: a thread started without an "
            f"explicit stack size overflows musl's {stack['default']} default (glibc gives the stack "
            "limit, usually 8 MiB); the extension should size the threads it starts "
            "(pthread_attr_setstacksize), or be linked with -Wl,-z,stack-size=N, which musl reads "
            "as a larger default; threads started from Python take threading.stack_size()"
        )
    frames = [_frame(line) for line in native.get("gdb_backtrace") or []]
    named = [f for f in frames if f and f != "??"]
    if named:
        bits.append("gdb: " + " <- ".join(named[:4]))
    return "; ".join(bits)
