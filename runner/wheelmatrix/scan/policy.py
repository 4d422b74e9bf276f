"""Judge a wheel's ELF files against its platform tags and against a cell's libraries.

Ceilings come from wheelmatrix/data/policy.json (derived from auditwheel's policy files; see
scripts/update-policy.py). Findings name the file, the symbol, the version and the library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from wheelmatrix.scan.elf import ElfInfo, Requirement, iter_wheel_elves, version_key

POLICY_FILE = Path(__file__).resolve().parents[1] / "data" / "policy.json"
# Namespaces a policy bounds (others come from libraries the wheel ships itself).
BOUNDED = ("GLIBC", "GLIBCXX", "CXXABI", "GCC")
_TAG = re.compile(r"^(manylinux|musllinux)_(\d+)_(\d+)_(\w+)$")
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class Policy(NamedTuple):
    family: str  # manylinux | musllinux
    name: str  # manylinux_2_17
    version: tuple[int, int]
    ceilings: Mapping[str, Mapping[str, str]]  # arch -> namespace -> max version
    libs: frozenset[str]


class Finding(NamedTuple):
    kind: str  # over-claimed | under-claimed | unshipped-library | glibc-in-musllinux | execstack
    #            | cell-lacks | cell-execstack | cell-cpu | relr-musl | isa-level
    #            | abi3-over-claimed | abi3-non-stable | cell-abi3 (scan/abi3.py)
    message: str
    file: str | None = None
    symbol: str | None = None
    version: str | None = None
    library: str | None = None
    tag: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            k: getattr(self, k) for k in ("kind", "message", "file", "symbol", "version", "library", "tag")
        }


class WheelScan(NamedTuple):
    wheel: str
    files: tuple[ElfInfo, ...]
    findings: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "wheel": self.wheel,
            "findings": [f.to_json() for f in self.findings],
            "files": [
                {
                    "path": f.path,
                    **({"installs_as": f.installs_as} if f.installs_as else {}),
                    "machine": f.machine,
                    **({"soname": f.soname} if f.soname else {}),
                    "needed": list(f.needed),
                    "rpath": list(f.rpath),
                    "runpath": list(f.runpath),
                    "requires": {r.label: list(r.symbols) for r in f.requirements},
                    **({"glibc_private": {lib: list(syms) for lib, syms in f.private}} if f.private else {}),
                    "exports": f.export_count,
                }
                for f in self.files
            ],
        }


# Static findings that make a wheel's platform tag wrong for every system it admits: each is a
# failing `tag` check in every cell where the wheel was installed.
TAG_FAILURES = ("over-claimed", "glibc-private")
FIXES = {
    "over-claimed": "rebuild on an older base image, or retag it (auditwheel repair picks the right tag): "
    "installers trust the tag",
    "glibc-private": "link against glibc's public symbols only and do not ship glibc's own libraries "
    "(libm, libresolv, ...): GLIBC_PRIVATE changes with every glibc release",
}

# musl's loader answers for these names itself (libc.musl-x86_64.so.1 is Alpine's SONAME of
# musl, which musllinux build images link against): never a missing library on musl
MUSL_SELF = re.compile(r"^lib(c|pthread|rt|m|dl|util|xnet)\.")


@cache
def policies() -> dict[str, Policy]:
    doc = json.loads(POLICY_FILE.read_text())
    out: dict[str, Policy] = {}
    for family in ("manylinux", "musllinux"):
        for name, entry in doc[family].items():
            m = re.match(r"^\w+_(\d+)_(\d+)$", name)
            assert m, name
            out[name] = Policy(
                family=family,
                name=name,
                version=(int(m.group(1)), int(m.group(2))),
                ceilings=entry["ceilings"],
                libs=frozenset(entry["libs"]),
            )
    return out


def parse_platform(tag: str) -> tuple[str, tuple[int, int], str] | None:
    """'manylinux_2_17_x86_64' / 'manylinux2014_x86_64' -> ('manylinux', (2, 17), 'x86_64')."""
    for legacy, version in _LEGACY.items():
        if tag.startswith(legacy + "_"):
            return "manylinux", version, tag[len(legacy) + 1 :]
    m = _TAG.match(tag)
    if not m:
        return None
    return m.group(1), (int(m.group(2)), int(m.group(3))), m.group(4)


def _policy_for(family: str, version: tuple[int, int]) -> Policy | None:
    """The policy for a tag; a tag newer than any published policy uses the newest one."""
    same = [p for p in policies().values() if p.family == family and p.version <= version]
    return max(same, key=lambda p: p.version) if same else None


# glibc refuses to dlopen objects whose PT_GNU_STACK asks for an executable stack from 2.41 on.
EXECSTACK_REFUSED = (2, 41)


def system_requirements(files: Sequence[ElfInfo]) -> list[tuple[ElfInfo, Requirement]]:
    """Bounded-namespace requirements on libraries the wheel does not ship itself, plus the
    glibc release each unversioned reference to a libc symbol implies (e.g. the C23
    `__isoc23_strtol` family, new in 2.38, referenced without a version)."""
    shipped = {PurePosixPath(f.path).name for f in files} | {f.soname for f in files if f.soname}
    out = [
        (f, r) for f in files for r in f.requirements if r.namespace in BOUNDED and r.library not in shipped
    ]
    defined = {name for f in files for name in f.exports}
    for f in files:
        out.extend((f, r) for r in unversioned_requirements(f, defined))
    return out


def unversioned_requirements(f: ElfInfo, defined: Iterable[str] = ()) -> list[Requirement]:
    """Requirements inferred from unversioned references to libc names (per first release)."""
    from wheelmatrix.scan.glibc_symbols import first_version, library_of

    skip = set(defined)
    groups: dict[tuple[str, str], list[str]] = {}
    for name in f.unversioned:
        if name in skip:
            continue
        first = first_version(name, f.machine)
        if first is None:
            continue
        library = library_of(name, f.machine) or "libc.so.6"
        groups.setdefault((library, f"{first[0]}.{first[1]}"), []).append(name)
    return [
        Requirement(library=lib, namespace="GLIBC", version=v, symbols=tuple(sorted(names)), unversioned=True)
        for (lib, v), names in sorted(groups.items())
    ]


def _worst(reqs: Iterable[tuple[ElfInfo, Requirement]], namespace: str) -> tuple[ElfInfo, Requirement] | None:
    found = [(f, r) for f, r in reqs if r.namespace == namespace]
    return max(found, key=lambda fr: version_key(fr[1].version)) if found else None


def _evidence(f: ElfInfo, r: Requirement) -> str:
    sym = ", ".join(r.symbols[:3]) + (" ..." if len(r.symbols) > 3 else "")
    if r.unversioned:
        return (
            f"{r.label} ({sym} in {f.path}: referenced without a symbol version, "
            f"first in glibc {r.version}'s {r.library})"
        )
    return f"{r.label} ({sym or 'version reference'} in {f.path}, from {r.library})"


def glibc_private(files: Sequence[ElfInfo], shipped: set[str]) -> list[tuple[ElfInfo, str, tuple[str, ...]]]:
    """(file, library, symbols) for each GLIBC_PRIVATE binding to a library the wheel does not
    ship itself."""
    return [(f, lib, syms) for f in files for lib, syms in f.private if lib not in shipped]


def _private_evidence(f: ElfInfo, library: str, symbols: Sequence[str]) -> str:
    sym = ", ".join(symbols[:3]) + (" ..." if len(symbols) > 3 else "")
    return f"{f.path} needs GLIBC_PRIVATE ({sym or 'version reference'}, from {library})"


def _below(level: str) -> str:
    return f"x86-64-v{max(1, int(level[-1]) - 1)}"


def judge_wheel(wheel: Path, tags: Iterable[str]) -> WheelScan:
    from wheelmatrix.scan.abi3 import audit

    scan = judge_files(wheel.name, tuple(iter_wheel_elves(wheel)), tags)
    abi3 = audit(wheel.name, scan.files)  # the wheel file's own name carries its abi3 tag
    return scan._replace(findings=scan.findings + tuple(abi3)) if abi3 else scan


def judge_files(name: str, files: tuple[ElfInfo, ...], tags: Iterable[str]) -> WheelScan:
    """Judge ELF files (of a wheel file, or of a wheel as installed in a cell) against tags."""
    findings: list[Finding] = []
    platforms = sorted({t for t in tags})
    reqs = system_requirements(files)
    shipped = {PurePosixPath(f.path).name for f in files} | {f.soname for f in files if f.soname}
    claimed: list[tuple[str, Policy, str]] = []
    for tag in platforms:
        parsed = parse_platform(tag)
        if parsed is None:
            continue
        family, version, arch = parsed
        policy = _policy_for(family, version)
        if policy is not None:
            claimed.append((tag, policy, arch))
    for tag, policy, arch in claimed:
        ceilings = dict(policy.ceilings.get(arch, {}))
        parsed = parse_platform(tag)
        if policy.family == "manylinux" and "GLIBC" in ceilings and parsed is not None:
            # PEP 600: manylinux_X_Y allows glibc X.Y even where no policy was published for it
            major, minor = parsed[1]
            ceilings["GLIBC"] = max(ceilings["GLIBC"], f"{major}.{minor}", key=version_key)
        levels = sorted({f.isa_level for f in files if f.isa_level and f.isa_level != "x86-64-v1"})
        if levels and arch == "x86_64" and not any(x.kind == "isa-level" for x in findings):
            files_at = [f.path for f in files if f.isa_level == levels[-1]]
            one = len(files_at) == 1
            findings.append(
                Finding(
                    kind="isa-level",
                    file=files_at[0],
                    version=levels[-1],
                    message=f"{', '.join(files_at[:3])}: {'declares' if one else 'declare'} needing "
                    f"{levels[-1]} (GNU property note): glibc refuses to load {'it' if one else 'them'} on "
                    f"older CPUs, which {tag} admits (try --cpu {_below(levels[-1])})",
                )
            )
        relr = [f.path for f in files if f.relr]
        if policy.family == "musllinux" and relr:
            findings.append(
                Finding(
                    kind="relr-musl",
                    tag=tag,
                    file=relr[0],
                    message=f"{', '.join(relr[:3])}{' ...' if len(relr) > 3 else ''} use packed relative "
                    "relocations (DT_RELR), which musl reads only since 1.2.4 (Alpine 3.18): on musl "
                    f"1.2.3 and older (Alpine 3.17, Debian 12's musl) loading them crashes, though {tag} "
                    "admits them",
                )
            )
        if policy.family == "musllinux":
            for f, r in reqs:
                # musl has no symbol versions: only a versioned GLIBC_ reference shows linking
                # against glibc (unversioned names glibc also has are normal on musl)
                if r.namespace.startswith("GLIBC") and not r.unversioned:
                    findings.append(
                        Finding(
                            kind="glibc-in-musllinux",
                            tag=tag,
                            file=f.path,
                            symbol=(r.symbols or ("",))[0],
                            version=r.label,
                            library=r.library,
                            message=f"tagged {tag} but needs glibc's {_evidence(f, r)}: "
                            "musl has no symbol versions",
                        )
                    )
        for namespace, ceiling in ceilings.items():
            worst = _worst(reqs, namespace)
            if worst and version_key(worst[1].version) > version_key(ceiling):
                f, r = worst
                findings.append(
                    Finding(
                        kind="over-claimed",
                        tag=tag,
                        file=f.path,
                        symbol=(r.symbols or ("",))[0],
                        version=r.label,
                        library=r.library,
                        message=f"tagged {tag} but needs {_evidence(f, r)}; {tag} allows at most "
                        f"{namespace}_{ceiling}",
                    )
                )
        for f, lib in not_allowed(policy, files, shipped):
            findings.append(
                Finding(
                    kind="unshipped-library",
                    tag=tag,
                    file=f.path,
                    library=lib,
                    message=f"{f.path} needs {lib}, which the wheel does not ship and {policy.name} "
                    "does not allow (it is not on every system)",
                )
            )
    findings.extend(_under_claims(claimed, reqs))
    for f, library, symbols in glibc_private(files, shipped):
        findings.append(
            Finding(
                kind="glibc-private",
                file=f.path,
                symbol=(symbols or ("",))[0],
                version="GLIBC_PRIVATE",
                library=library,
                message=f"{_private_evidence(f, library, symbols)}: glibc's internal interface, which "
                "changes between glibc releases, so it loads only next to the glibc it was built "
                "with; no manylinux tag admits it (link against public symbols; do not ship glibc's "
                "own libraries)",
            )
        )
    for f in files:
        if f.execstack:
            findings.append(
                Finding(
                    kind="execstack",
                    file=f.path,
                    message=f"{f.path} asks for an executable stack (PT_GNU_STACK with PF_X): glibc "
                    f"{EXECSTACK_REFUSED[0]}.{EXECSTACK_REFUSED[1]} and newer refuse to load it "
                    '("cannot enable executable stack as shared object requires"); link it with '
                    "-Wl,-z,noexecstack (see pypa/auditwheel#634)",
                )
            )
    return WheelScan(wheel=name, files=files, findings=tuple(_dedupe(findings)))


def _under_claims(
    claimed: Sequence[tuple[str, Policy, str]], reqs: Sequence[tuple[ElfInfo, Requirement]]
) -> list[Finding]:
    out: list[Finding] = []
    many = [(t, p, a) for t, p, a in claimed if p.family == "manylinux"]
    if not many:
        return out
    lowest_tag, lowest, arch = min(many, key=lambda c: c[1].version)
    fitting = [
        p
        for p in policies().values()
        if p.family == "manylinux"
        and arch in p.ceilings
        and all(
            version_key(r.version) <= version_key(p.ceilings[arch].get(r.namespace, "0"))
            for _f, r in reqs
            if r.namespace in p.ceilings[arch]
        )
    ]
    if not fitting:
        return out
    best = min(fitting, key=lambda p: p.version)
    if best.version < lowest.version:
        labels = sorted({r.label for _f, r in reqs})
        needs = f"needs only {', '.join(labels)}" if labels else "needs no versioned system symbols"
        out.append(
            Finding(
                kind="under-claimed",
                tag=lowest_tag,
                message=f"tagged {lowest_tag} but could be {best.name}_{arch} ({needs}): "
                "an older tag installs on more systems",
            )
        )
    return out


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[tuple[object, ...], Finding] = {}
    for f in findings:
        # alias tags (manylinux_2_17_x86_64.manylinux2014_x86_64) say the same thing once
        key = (f.kind, f.file, f.version, f.library, f.message.split(" but ")[-1].replace(f.tag or "", ""))
        seen.setdefault(key, f)
    return list(seen.values())


def cell_gaps(scan: WheelScan, available: Mapping[str, str], where: str) -> list[Finding]:
    """Required symbol versions the cell's libraries lack, and objects its glibc refuses to
    load (executable stack on glibc >= 2.41): predicted failures for that cell."""
    out = []
    glibc = available.get("GLIBC")
    if glibc is not None and version_key(glibc) >= EXECSTACK_REFUSED:
        for f in scan.files:
            if f.execstack:
                out.append(
                    Finding(
                        kind="cell-execstack",
                        file=f.path,
                        version=f"GLIBC_{glibc}",
                        message=f"{f.path} asks for an executable stack; {where} has glibc {glibc}, "
                        "which refuses to load such objects (since 2.41): link it with -Wl,-z,noexecstack",
                    )
                )
    for namespace, have in available.items():
        worst = _worst(system_requirements(scan.files), namespace)
        if worst and version_key(worst[1].version) > version_key(have):
            f, r = worst
            out.append(
                Finding(
                    kind="cell-lacks",
                    file=f.path,
                    symbol=(r.symbols or ("",))[0],
                    version=r.label,
                    library=r.library,
                    message=f"needs {_evidence(f, r)}; {where} has {namespace}_{have}",
                )
            )
    return out


class LowestTag(NamedTuple):
    """The most compatible platform tag a wheel's files satisfy (as auditwheel says it: "this
    constrains the platform tag to ..."), and what stops the next older one."""

    tag: str | None  # e.g. manylinux_2_17_x86_64; None: no tag of the family (a library not allowed)
    family: str
    arch: str
    reason: str  # the requirement or library that rules out the next older policy ("" = oldest)

    def to_json(self) -> dict[str, str | None]:
        return {"tag": self.tag, "family": self.family, "arch": self.arch, "reason": self.reason}


def _blocker(
    policy: Policy, arch: str, reqs: Sequence[tuple[ElfInfo, Requirement]], files: Sequence[ElfInfo]
) -> str:
    """Why `policy` does not admit these files ("" when it does)."""
    ceilings = dict(policy.ceilings.get(arch, {}))
    if policy.family == "manylinux" and "GLIBC" in ceilings:
        ceilings["GLIBC"] = max(
            ceilings["GLIBC"], f"{policy.version[0]}.{policy.version[1]}", key=version_key
        )
    for namespace, ceiling in sorted(ceilings.items()):
        worst = _worst(reqs, namespace)
        if worst and version_key(worst[1].version) > version_key(ceiling):
            return f"needs {_evidence(*worst)}; {policy.name} allows at most {namespace}_{ceiling}"
    shipped = {PurePosixPath(f.path).name for f in files} | {f.soname for f in files if f.soname}
    for f, library, symbols in glibc_private(files, shipped):
        return f"{_private_evidence(f, library, symbols)}, which no {policy.family} policy allows"
    for f, lib in not_allowed(policy, files, shipped):
        return f"{f.path} needs {lib}, which {policy.name} does not allow"
    return ""


def not_allowed(policy: Policy, files: Sequence[ElfInfo], shipped: set[str]) -> Iterator[tuple[ElfInfo, str]]:
    """(file, library) for each library a file needs that the wheel does not ship and the
    policy does not let it assume."""
    for f in files:
        for lib in f.needed:
            if (
                lib not in policy.libs
                and lib not in shipped
                and not lib.startswith(("libpython", "ld-"))
                and not (policy.family == "musllinux" and MUSL_SELF.match(lib))
            ):
                yield f, lib


def lowest_tags(scan: WheelScan, tags: Iterable[str]) -> list[LowestTag]:
    """For each (family, arch) the wheel's tags claim: the lowest tag its files satisfy."""
    claimed = {(p[0], p[2]) for p in (parse_platform(t) for t in tags) if p is not None}
    reqs = system_requirements(scan.files)
    out = []
    for family, arch in sorted(claimed):
        ladder = sorted(
            (p for p in policies().values() if p.family == family and arch in p.ceilings),
            key=lambda p: p.version,
        )
        reason = ""
        found: str | None = None
        for policy in ladder:
            blocker = _blocker(policy, arch, reqs, scan.files)
            if not blocker:
                found = f"{policy.name}_{arch}"
                break
            reason = blocker
        out.append(LowestTag(tag=found, family=family, arch=arch, reason=reason))
    return out
