"""Checks across the installed set, run with the import kind: files written by two distributions,
same-named bundled libraries, and the ELF files of installed wheels against their own tags."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wheelmatrix.cell.checks.context import CellRun
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.model import CheckResult, Status, installed_versions
from wheelmatrix.scan.elf import ElfInfo


def installed_set_checks(ctx: CellRun) -> list[CheckResult]:
    """Across the whole installed set: files written by two distributions (the last one
    installed wins), and bundled libraries of the same name in two wheels (a process shares
    whichever copy loads first)."""
    data = ctx.installed.installed_set
    if not data:
        return []
    return [
        ctx.result(*interpret_overlaps(data.get("overlaps") or [], int(data.get("overlap_count") or 0))),
        ctx.result(*interpret_same_libs(data.get("same_libs") or [])),
    ]


def installed_wheel_tags(ctx: CellRun) -> list[CheckResult]:
    """Requirement candidates have no wheel file on the host: scan the ELF files of the
    wheel the installer picked for this cell (read through the engine, cached by their
    RECORD digest) against that wheel's own tags; an over-claimed tag fails a `tag` check."""
    from packaging.tags import parse_tag

    from wheelmatrix.scan.policy import cell_gaps, judge_files

    got = ctx.installed
    versions = installed_versions(got.dists)
    out = []
    for pick in ctx.cell.candidates:
        paths = got.files.get(pick.project) or []
        tags = got.wheel_tags.get(pick.project) or []
        if pick.wheel is not None or not paths or not tags:
            continue
        infos = tuple(info for info in (_scan_installed(ctx, p) for p in paths) if info is not None)
        platforms = {t.platform for tag in tags for t in parse_tag(tag)}
        version = versions.get(pick.project, "?")
        scan = judge_files(f"{pick.project}=={version}", infos, platforms)
        over = [f for f in scan.findings if f.kind == "over-claimed"]
        if not over:
            continue
        gaps = cell_gaps(scan, ctx.cell.distro.symbol_versions, ctx.cell.distro.id)
        diagnosis = (
            "installers trust the tag: a system at the floor it claims installs this wheel and fails "
            "to load it"
        )
        if gaps:
            diagnosis += f"; in this cell: {gaps[0].message}"
        evidence = {"findings": [f.to_json() for f in over], "tags": tags}
        out.append(
            ctx.result(
                f"tag {pick.project} {version}", Status.FAILED, over[0].message, 0.0, evidence, diagnosis
            )
        )
    return out


def _scan_installed(ctx: CellRun, path: str) -> ElfInfo | None:
    rel = path
    for d in ctx.site_dirs:
        if path.startswith(d + "/"):
            rel = path[len(d) + 1 :]
    real = ctx.installed.elf_real.get(path, path)
    from wheelmatrix.cell.checks.cellfiles import read_cell_file

    digest = ctx.installed.elf_digests.get(path)
    return cached_elf_scan(digest, rel, lambda: read_cell_file(ctx.sandbox, real))


class _Unreadable(Exception):
    """The installed file could not be read or parsed: no scan (not cached)."""


def cached_elf_scan(digest: str | None, rel: str, read: Callable[[], bytes]) -> ElfInfo | None:
    """scan_elf of an installed file, cached on disk by its RECORD digest and the scanner."""
    from wheelmatrix.scan.cache import ELF_INFO, cached
    from wheelmatrix.scan.elf import scan_elf

    def scan() -> ElfInfo:
        try:
            return scan_elf(rel, read())
        except (ValueError, InfrastructureError) as exc:
            raise _Unreadable(str(exc)) from None

    try:
        info = cached("elf-scans", digest, ELF_INFO, scan) if digest else scan()
    except _Unreadable:
        return None
    return info._replace(path=rel) if info.path != rel else info


def interpret_overlaps(
    overlaps: Sequence[Mapping[str, Any]], count: int
) -> tuple[str, Status, str, float, dict[str, Any], str]:
    """(check, status, detail, duration, evidence, diagnosis) for files owned by two dists."""
    evidence: dict[str, Any] = {"overlaps": list(overlaps)}
    if not overlaps:
        return ("installed files", Status.PASSED, "", 0.0, evidence, "")
    differ = [o for o in overlaps if o.get("differ")]
    by_pair: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for o in differ or overlaps:
        by_pair.setdefault(tuple(o["dists"]), []).append(o)
    pair, items = max(by_pair.items(), key=lambda kv: len(kv[1]))
    example = items[0]["path"]
    names = " and ".join(pair)
    if not differ:
        detail = f"{count} file(s) written by more than one distribution, identical ({names}: {example})"
        return ("installed files", Status.PASSED, detail, 0.0, evidence, "")
    winner = items[0].get("on_disk_from") or []
    won = f"; the copy on disk is {winner[0]}'s (the last installed wins)" if winner else ""
    detail = f"{len(differ)} file(s) written by {names} with different contents, e.g. {example}{won}"
    diagnosis = (
        f"{names} install the same files ({example}): whichever is installed last overwrites the other, "
        "so the result depends on install order; install only one of them"
    )
    return ("installed files", Status.FAILED, detail, 0.0, evidence, diagnosis)


def interpret_same_libs(
    same: Sequence[Mapping[str, Any]],
) -> tuple[str, Status, str, float, dict[str, Any], str]:
    """(check, ...) for bundled libraries with the same file name in two distributions."""
    evidence: dict[str, Any] = {"same_libs": list(same)}
    differ = [s for s in same if s.get("differ")]
    if not same:
        return ("bundled library copies", Status.PASSED, "", 0.0, evidence, "")
    if not differ:
        names = ", ".join(s["name"] for s in same[:3])
        detail = f"identical copies of {names} bundled by more than one wheel"
        return ("bundled library copies", Status.PASSED, detail, 0.0, evidence, "")
    first = differ[0]
    copies = " and ".join(f"{dist}'s {path}" for dist, path in first["copies"][:2])
    noun = "library shares" if len(differ) == 1 else "libraries share"
    detail = f"{len(differ)} bundled {noun} a file name but differ: {copies}"
    diagnosis = (
        f"{first['name']} is bundled twice with different contents ({copies}); the dynamic linker loads one "
        "copy per name, so both wheels get whichever loads first"
    )
    return ("bundled library copies", Status.FAILED, detail, 0.0, evidence, diagnosis)
