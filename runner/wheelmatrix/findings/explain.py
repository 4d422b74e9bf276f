"""One explainer per finding kind: a check result (and, when known, its cell and the static
scans) -> a typed `Finding` (model.py), or None when the kind does not apply.

Explainers read what was observed — the loader's message, the signal, the probe's evidence,
the static scan — never another explainer's sentence. `explain` asks them in the order of
`EXPLAINERS` (the most specific first) and falls back to one finding per status, so every
failing, crashed or timed-out check carries a finding. A new kind is one function here and one
line in `EXPLAINERS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from wheelmatrix.model import CheckResult, Finding, Status
from wheelmatrix.scan.policy import FIXES, TAG_FAILURES, WheelScan

if TYPE_CHECKING:
    from wheelmatrix.matrix.cells import Cell


@dataclass(frozen=True)
class Context:
    """What an explainer may know besides the result: the cell it ran in and the static scans."""

    cell: Cell | None = None
    scans: Mapping[str, WheelScan] = field(default_factory=dict)

    def wheel_of(self, path_or_module: str) -> str | None:
        """The wheel file of the cell that ships this file or top-level module."""
        if self.cell is None:
            return None
        parts = PurePosixPath(path_or_module).parts
        tops = {p for i, p in enumerate(parts) if i and parts[i - 1] in ("site-packages", "dist-packages")}
        tops.add(path_or_module.split(".")[0])
        for pick in (*self.cell.candidates, *self.cell.companions):
            if pick.wheel is not None and tops & {m.split(".")[0] for m in pick.wheel.modules}:
                return pick.wheel.filename
        return None

    def over_claimed(self, wheel: str | None) -> bool:
        scan = self.scans.get(wheel or "")
        return scan is not None and any(f.kind == "over-claimed" for f in scan.findings)


EMPTY = Context()
Explainer = Callable[[CheckResult, Context], Finding | None]


def _text(r: CheckResult) -> str:
    return f"{r.detail}\n{r.evidence.get('output_tail') or ''}"


_NEEDS_VERSION = re.compile(r"version [`']?(GLIBC(?:XX)?_[\d.]+)'? not found \(required by ([^)]+)\)")
_EXECSTACK = re.compile(r"(\S+\.so[\w.]*): cannot enable executable stack")
_UNDEFINED = re.compile(r"undefined symbol:? ([^\s,()]+)")
_MUSL_RELOC = re.compile(r"Error relocating [^:]+: ([^\s:]+): symbol not found")
_NO_MODULE = re.compile(r"No module named '([^']+)'")
_STATIC_TLS = re.compile(r"(\S+\.so[\w.]*): cannot allocate memory in static TLS block")
_NUMPY_ABI = re.compile(
    r"compiled using NumPy 1\.x cannot be run in|numpy\.dtype size changed|_ARRAY_API not found"
    r"|numpy\.core\.multiarray failed to import"
)
_PROTOBUF = re.compile(r"Descriptors cannot be created directly")
_SIGNAL = re.compile(r"\b(SIG[A-Z]+)\b")


def known_problem(r: CheckResult, ctx: Context) -> Finding | None:
    entry = r.evidence.get("known_problem")
    if not entry and r.status is not Status.KNOWN:
        return None
    subject = str(entry or r.variant.removesuffix(".baseline") or r.check)
    return Finding(
        kind="known-problem",
        subject=subject,
        message=f"known problem `{subject}`",
        fix="see the catalog entry's reference; pin around the versions it names",
        evidence={"variant": r.variant} if r.variant else {},
    )


def over_claimed_tag(r: CheckResult, ctx: Context) -> Finding | None:
    """The wheel's tag claims an older platform than its files need: the `tag` check itself,
    an import that fails for it (predicted and confirmed), and the loader's 'version not found'
    for a file of that wheel are one cause."""
    wheel = None
    if r.check.startswith("tag ") and r.evidence.get("findings"):
        wheel = r.check.removeprefix("tag ")
        if " " in wheel:  # "tag PROJECT VERSION": judged in the cell; the file it installed
            project = wheel.split()[0]
            wheel = str((r.installed_wheels.get(project) or {}).get("file") or wheel)
    confirmed = r.evidence.get("confirmed") or {}
    if wheel is None and confirmed.get("kind") in ("cell-lacks", "over-claimed") and confirmed.get("wheel"):
        wheel = str(confirmed["wheel"])
    m = _NEEDS_VERSION.search(_text(r))
    if wheel is None and m and r.status.is_wheel_failure:
        owner = ctx.wheel_of(m.group(2))
        if owner and ctx.over_claimed(owner):
            wheel = owner
    if wheel is None:
        return None
    scan = ctx.scans.get(wheel)
    over = [f for f in scan.findings if f.kind in TAG_FAILURES] if scan else []
    message = over[0].message if over else f"{wheel}: its tag claims an older platform than its files need"
    return Finding(
        kind="over-claimed-tag",
        subject=wheel,
        message=message,
        fix=FIXES[over[0].kind if over else "over-claimed"],
        evidence={"needs": m.group(1), "file": m.group(2)} if m else {},
    )


def abi3_over_claim(r: CheckResult, ctx: Context) -> Finding | None:
    """An abi3 wheel whose tag admits this cell's Python fails to import because it uses a
    stable-ABI symbol that Python does not have yet (predicted and confirmed, or recognised
    from the loader's 'undefined symbol' and the static scan)."""
    confirmed = r.evidence.get("confirmed") or {}
    m = _UNDEFINED.search(_text(r)) if r.status.is_wheel_failure else None
    wheel = str(confirmed.get("wheel") or "") if confirmed.get("kind") == "cell-abi3" else ""
    message = str(confirmed.get("message") or "") if wheel else ""
    if not wheel and m and ctx.cell is not None:
        from wheelmatrix.scan.abi3 import cell_gaps

        python = ctx.cell.distro.python_version
        for pick in (*ctx.cell.candidates, *ctx.cell.companions):
            scan = ctx.scans.get(pick.wheel.filename) if pick.wheel else None
            gaps = cell_gaps(scan.wheel, scan.files, python, ctx.cell.distro.id) if scan else []
            hit = next((g for g in gaps if g.symbol == m.group(1)), None)
            if hit is not None:
                wheel, message = scan.wheel if scan else "", hit.message
                break
    if not wheel:
        return None
    return Finding(
        kind="abi3-over-claim",
        subject=wheel,
        message=message,
        fix="raise the wheel's abi3 floor to the newest version its symbols need (e.g. "
        "py_limited_api='cp310', Py_LIMITED_API=0x030A0000), or stop using the newer function",
        evidence={"symbol": m.group(1)} if m else {},
    )


def needs_newer_libc(r: CheckResult, ctx: Context) -> Finding | None:
    m = _NEEDS_VERSION.search(_text(r))
    if not m or not r.status.is_wheel_failure:
        return None
    owner = ctx.wheel_of(m.group(2)) or PurePosixPath(m.group(2)).name
    return Finding(
        kind="needs-newer-libc",
        subject=owner,
        message=f"{owner} needs {m.group(1)}, newer than this cell's",
        fix="build on the oldest base image you support (the manylinux tag's floor)",
        evidence={"needs": m.group(1), "file": m.group(2)},
    )


def executable_stack(r: CheckResult, ctx: Context) -> Finding | None:
    m = _EXECSTACK.search(_text(r))
    confirmed = (r.evidence.get("confirmed") or {}).get("kind") == "cell-execstack"
    if not m and not confirmed:
        return None
    path = m.group(1) if m else str(r.evidence.get("confirmed", {}).get("wheel", r.check))
    owner = ctx.wheel_of(path) or PurePosixPath(path).name
    return Finding(
        kind="executable-stack",
        subject=owner,
        message=f"{PurePosixPath(path).name} asks for an executable stack, which glibc 2.41 and later "
        "refuse to give a library loaded at run time",
        fix="link with -Wl,-z,noexecstack (or clear the flag: `execstack -c` / patchelf "
        "--clear-execstack) and rebuild the wheel",
        evidence={"file": path},
    )


def cpu_level(r: CheckResult, ctx: Context) -> Finding | None:
    confirmed = r.evidence.get("confirmed") or {}
    if confirmed.get("kind") != "cell-cpu" and "CPU ISA level is lower than required" not in r.detail:
        return None
    subject = str(confirmed.get("wheel") or r.check)
    return Finding(
        kind="cpu-level",
        subject=subject,
        message=str(confirmed.get("message") or "the code needs a newer CPU level than this cell's"),
        fix="build for the baseline CPU level (x86-64 v1/v2, armv8.0) or dispatch at run time",
    )


def missing_library(r: CheckResult, ctx: Context) -> Finding | None:
    from wheelmatrix.scan.system_libs import missing_library as soname_of

    soname = soname_of(_text(r)) if r.status.is_wheel_failure else None
    if soname is None:
        return None
    return Finding(
        kind="missing-library",
        subject=soname,
        message=f"{soname} is not in the cell: a wheel needs it and does not ship it",
        fix="vendor it into the wheel (auditwheel repair), or document the system package to install",
    )


def static_tls(r: CheckResult, ctx: Context) -> Finding | None:
    m = _STATIC_TLS.search(_text(r))
    if not m:
        return None
    return Finding(
        kind="static-tls",
        subject=PurePosixPath(m.group(1)).name,
        message=f"{PurePosixPath(m.group(1)).name} uses initial-exec TLS beyond glibc's static TLS reserve",
        fix="build it with -ftls-model=global-dynamic, or import it first",
    )


def glibc_on_musl(r: CheckResult, ctx: Context) -> Finding | None:
    if ctx.cell is None or ctx.cell.distro.libc.family != "musl":
        return None
    m = _MUSL_RELOC.search(_text(r)) or _UNDEFINED.search(_text(r))
    if not m:
        return None
    return Finding(
        kind="glibc-on-musl",
        subject=m.group(1),
        message=f"musl's libc does not define `{m.group(1)}` (a glibc-only or newer function)",
        fix="build the musllinux wheel in a musllinux image against musl, or guard the call",
    )


def undefined_symbol(r: CheckResult, ctx: Context) -> Finding | None:
    m = _UNDEFINED.search(_text(r)) if r.status.is_wheel_failure else None
    if not m:
        return None
    return Finding(
        kind="undefined-symbol",
        subject=m.group(1),
        message=f"undefined symbol `{m.group(1)}`",
        fix="link the library that defines it, or require the release that has it",
    )


def removed_module(r: CheckResult, ctx: Context) -> Finding | None:
    if ctx.cell is None or r.status is not Status.FAILED:
        return None
    from wheelmatrix.scan.stdlib_removals import explain_missing_module

    why = explain_missing_module(_text(r), ctx.cell.distro.python_version)
    m = _NO_MODULE.search(_text(r))
    if not why or not m:
        return None
    return Finding(
        kind="removed-stdlib-module",
        subject=m.group(1).split(".")[0],
        message=why.split("; ")[0],
        fix="use a release of the package that no longer imports it, or its PyPI backport",
    )


def undeclared_dependency(r: CheckResult, ctx: Context) -> Finding | None:
    """`No module named 'X'` raised while importing a wheel, for an X that no wheel in the cell
    ships and this Python never had: a dependency the wheel imports but does not declare."""
    m = _NO_MODULE.search(_text(r)) if r.status is Status.FAILED else None
    if not m or ctx.cell is None:
        return None
    missing = m.group(1).split(".")[0]
    checked = r.check.removeprefix("import ").split(".")[0]
    if missing == checked or ctx.wheel_of(missing) is not None:
        return None  # the module itself is missing (a packaging bug of another kind), or shipped
    from wheelmatrix.scan.stdlib_removals import explain_missing_module

    if explain_missing_module(_text(r), ctx.cell.distro.python_version):
        return None
    owner = ctx.wheel_of(checked) or checked
    return Finding(
        kind="undeclared-dependency",
        subject=f"{owner} -> {missing}",
        message=f"importing {checked} needs the module {missing}, which no installed distribution provides",
        fix=f"declare the distribution that provides {missing} in the wheel's Requires-Dist (or make the "
        "import optional)",
        evidence={"module": missing},
    )


def runtime_mismatch(r: CheckResult, ctx: Context) -> Finding | None:
    text = f"{_text(r)}\n{' '.join(map(str, r.evidence.get('warnings') or ()))}"
    versions = r.installed_versions
    if _NUMPY_ABI.search(text):
        return Finding(
            kind="numpy-abi",
            subject=f"numpy {versions.get('numpy', '2')}",
            message="an extension compiled against NumPy 1.x was loaded with NumPy 2 (the C ABI changed)",
            fix="use a release of that package built for NumPy 2, or pin numpy<2",
        )
    if _PROTOBUF.search(text):
        return Finding(
            kind="protobuf-runtime",
            subject=f"protobuf {versions.get('protobuf', '')}".strip(),
            message="_pb2.py modules generated by an old protoc run on a newer protobuf runtime",
            fix="regenerate them with protoc >= 3.19, or pin protobuf<=3.20 "
            "(or set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python)",
        )
    return None


def order_dependence(r: CheckResult, ctx: Context) -> Finding | None:
    pair = r.evidence.get("order_dependent")
    if not pair:
        return None
    return Finding(
        kind="order-dependence",
        subject=" + ".join(sorted(map(str, r.evidence.get("modules") or ()))),
        message=f"the import order decides: `{pair.get('bad')}` {pair.get('what')}, "
        f"`{pair.get('good')}` passes",
        fix="one wheel's symbols interpose on the other's: build with -fvisibility=hidden and "
        "-Wl,--exclude-libs,ALL, or do not vendor the runtime both export",
        evidence={"suspects": list(pair.get("suspects") or ())},
    )


def interposed_symbol(r: CheckResult, ctx: Context) -> Finding | None:
    """The symbols scenario's collision check failed: a binding crossed between wheels and was
    judged able to break (or the C++ runtime is defined twice). Subject: the first such symbol."""
    if r.check != "symbol collisions" or r.status is not Status.FAILED:
        return None
    bad = [
        (c, pair)
        for c in r.evidence.get("collisions") or ()
        for pair in c.get("crossed") or ()
        if pair.get("benign") is False
    ]
    if bad:
        c, pair = bad[0]
        name = str(c.get("readable") or c.get("symbol"))
        return Finding(
            kind="interposed-symbol",
            subject=name,
            message=f"`{name}` bound across wheels ({pair.get('judged')}): "
            "one wheel's code runs another's copy",
            fix="build with -fvisibility=hidden and -Wl,--exclude-libs,ALL (or a version script), so each "
            "wheel keeps its own definitions",
            evidence={"bindings": dict(r.evidence.get("bindings") or {}), "count": len(bad)},
        )
    return Finding(
        kind="interposed-symbol",
        subject="C++ runtime",
        message="the C++ runtime is defined twice and one copy is the process's: std::call_once and "
        "exceptions break across them",
        fix="link libstdc++ statically with hidden symbols, or rely on the system's libstdc++",
    )


def out_of_memory(r: CheckResult, ctx: Context) -> Finding | None:
    if r.status is not Status.CRASHED or "out of memory" not in r.detail:
        return None
    return Finding(
        kind="out-of-memory",
        subject=r.check,
        message="killed by the kernel's OOM killer at the container's memory limit",
        fix="raise --memory (or `memory:` in the config file) if the package needs more",
    )


def import_warning(r: CheckResult, ctx: Context) -> Finding | None:
    warnings = r.evidence.get("warnings") or ()
    if r.status is not Status.PASSED or not warnings:
        return None
    first = str(warnings[0])
    category = re.search(r"\b(\w+Warning)\b", first)
    return Finding(
        kind="import-warning",
        subject=category.group(1) if category else first[:80],
        message=f"the import printed: {first[:200]}",
        fix="fix the warning's cause before it becomes an error (or pass --strict-warnings in CI)",
    )


def _normal(text: str) -> str:
    text = re.sub(
        r"\b(?:debian|ubuntu|fedora|alpine|centos|alma|almalinux|rocky|musl)-[\w.]+\b", "<distro>", text
    )
    return re.sub(r"\b0x[0-9a-f]+\b", "0x…", text).strip()[:200]


# status -> (kind, fix) of the fallback finding
_BY_STATUS: dict[Status, tuple[str, str]] = {
    Status.CRASHED: (
        "crash",
        "`wheelmatrix repro` reruns the cell with the crash's native evidence (and gdb)",
    ),
    Status.TIMED_OUT: (
        "timeout",
        "raise --timeout if it is slow, or `wheelmatrix repro` to see where it hangs",
    ),
    Status.NOT_INSTALLABLE: ("not-installable", "publish a wheel for this platform, or leave the cell out"),
    Status.ERROR: (
        "infrastructure",
        "not the wheel's fault: `wheelmatrix doctor` checks the engine and emulation",
    ),
    Status.FAILED: ("check-failed", ""),
    Status.KNOWN: ("known-problem", ""),
    Status.SKIPPED: ("skipped", "the project's test-skip rule says so; remove the rule to run it here"),
    Status.PASSED: ("information", ""),
}


def by_status(r: CheckResult, ctx: Context) -> Finding | None:
    """The fallback: one finding per status, about the check, from its own diagnosis or detail."""
    if r.status is Status.PASSED and not r.diagnosis:
        return None
    first = re.sub(
        r"^predicted and confirmed: ", "", (r.diagnosis or r.detail or r.status.value).split("; ")[0]
    )
    kind, fix = _BY_STATUS[r.status]
    subject = r.check
    if r.status is Status.CRASHED:
        sig = _SIGNAL.search(r.detail)
        subject = f"{r.check} ({sig.group(1) if sig else 'signal'})"
    return Finding(kind=kind, subject=subject, message=_normal(first), fix=fix)


# kind -> explainer, asked in this order (the most specific first); `by_status` comes last
EXPLAINERS: tuple[tuple[str, Explainer], ...] = (
    ("known-problem", known_problem),
    ("over-claimed-tag", over_claimed_tag),
    ("abi3-over-claim", abi3_over_claim),
    ("executable-stack", executable_stack),
    ("cpu-level", cpu_level),
    ("static-tls", static_tls),
    ("needs-newer-libc", needs_newer_libc),
    ("missing-library", missing_library),
    ("glibc-on-musl", glibc_on_musl),
    ("removed-stdlib-module", removed_module),
    ("undeclared-dependency", undeclared_dependency),
    ("numpy-abi", runtime_mismatch),
    ("protobuf-runtime", runtime_mismatch),
    ("order-dependence", order_dependence),
    ("interposed-symbol", interposed_symbol),
    ("undefined-symbol", undefined_symbol),
    ("out-of-memory", out_of_memory),
    ("import-warning", import_warning),
)
KINDS: tuple[str, ...] = (
    *dict.fromkeys(k for k, _ in EXPLAINERS),
    "crash",
    "timeout",
    "not-installable",
    "infrastructure",
    "check-failed",
    "information",
)


def explain(r: CheckResult, ctx: Context = EMPTY) -> Finding | None:
    """The result's finding: the first explainer that applies, else the status fallback; None
    for a plain pass."""
    if r.status is Status.PASSED and not r.diagnosis and not r.evidence.get("warnings"):
        return None
    seen: set[Explainer] = set()
    for _kind, explainer in EXPLAINERS:
        if explainer in seen:
            continue
        seen.add(explainer)
        found = explainer(r, ctx)
        if found is not None:
            return found
    return by_status(r, ctx)


def finding_of(r: CheckResult) -> Finding | None:
    """The finding a result carries, or (a schema-1/2 report) the one its evidence gives."""
    return r.finding if r.finding is not None else explain(r)


def attach(
    cells: Sequence[Cell], results: Sequence[CheckResult], scans: Mapping[str, WheelScan]
) -> list[CheckResult]:
    """Every result with its finding, explained in its own cell."""
    import dataclasses

    by_id = {c.id: c for c in cells}
    fallback = {kind for kind, _fix in _BY_STATUS.values()}
    out = []
    for r in results:
        found = explain(r, Context(by_id.get(r.cell_id), scans))
        if found != r.finding:
            r = dataclasses.replace(r, finding=found)
        if found is not None and not r.diagnosis and found.kind not in fallback:
            # a cause the evidence names is said in the diagnosis too, not only in the finding
            r = dataclasses.replace(r, diagnosis="; ".join(t for t in (found.message, found.fix) if t))
        out.append(r)
    return out
