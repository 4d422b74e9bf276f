"""The JSON report's format, writer and reader side by side: an object with the tool, the
schema (model.SCHEMA_VERSION), the run, a summary, a `results` list (one entry per check), the
static scans and the problems grouped by root cause. `reporters/jsonfile.py` writes it;
`load_results` (resume, compare, merge, render) reads it back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wheelmatrix import __version__
from wheelmatrix.errors import InputError
from wheelmatrix.findings.causes import root_causes
from wheelmatrix.findings.explain import explain
from wheelmatrix.inputs.jsonshape import first_problem, sane
from wheelmatrix.model import SCHEMA_VERSION, CheckResult, Status, ValuePool, exit_code
from wheelmatrix.run.stream import INPUT_HINT, LoadedResults, loads, no_cyclic_gc

TOOL = "wheelmatrix"


def report_document(
    results: Sequence[CheckResult],
    run: Mapping[str, Any],
    static: Sequence[Any] = (),
    *,
    version: str = __version__,
) -> dict[str, Any]:
    """The report of `results`; a problem without a finding (results of an older wheelmatrix,
    merged or rendered again) gets the one its evidence gives, so every report carries them."""
    results = [r if r.finding is not None else dataclasses.replace(r, finding=explain(r)) for r in results]
    counts = {s.value: sum(1 for r in results if r.status is s) for s in Status}
    return {
        "tool": TOOL,
        "schema": SCHEMA_VERSION,
        "version": version,
        "run": dict(run),
        "summary": {"checks": len(results), "exit_code": exit_code(results), **counts},
        "results": [r.to_json() for r in results],
        "static_scan": list(static),
        "causes": causes_json(results),
    }


def causes_json(results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """The problems grouped by root cause, with the check ids of each group."""
    return [
        {
            "cause": c.text,
            "kind": c.kind,
            "subject": c.subject,
            "fix": c.fix,
            "statuses": sorted(s.value for s in c.statuses),
            "checks": len(c.checks),
            "cells": c.cells,
            "check_ids": [r.check_id for r in c.checks],
        }
        for c in root_causes(results)
    ]


def parse_json(path: Path) -> Any:
    """A JSON file from a stranger: orjson refuses NaN, infinity, numbers too large for a
    double, lone surrogates and nesting beyond 1,024 levels; the standard library's own
    recursion is caught where orjson is missing."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}", hint=INPUT_HINT) from None
    try:
        return loads(data)
    except (ValueError, RecursionError) as exc:
        why = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
    # Valid JSON orjson refuses (a 400-digit number, a lone surrogate) is read once more by the
    # standard library only to name where it is.
    try:
        problem = sane(json.loads(data, parse_constant=_no_constant))
    except (ValueError, RecursionError):
        problem = None
    if problem is not None:
        raise InputError(f"{path}: not a valid wheelmatrix report: {problem}", hint=INPUT_HINT)
    raise InputError(f"{path} is not valid JSON ({why})", hint=INPUT_HINT)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_report(path: Path, doc: Mapping[str, Any], schema: int) -> None:
    """Refuse a report that breaks the shipped schema (report.schema.json), naming the JSON
    path. Reports of an older schema are held to what this version reads of them: sane values,
    and the types of each result's evidence and of the static scans."""
    if schema == SCHEMA_VERSION:
        problem = first_problem(doc, "report")
    else:
        problem = sane(doc)
        for index, entry in enumerate(doc["results"]):
            if problem is None and isinstance(entry, dict) and "evidence" in entry:
                where = f"results[{index}].evidence"
                problem = first_problem(entry["evidence"], "report", "evidence", where)
        for index, scan in enumerate(doc.get("static_scan") or ()):
            if problem is None:
                problem = first_problem(scan, "report", "static_scan", f"static_scan[{index}]")
    if problem is not None:
        raise InputError(
            f"{path}: not a valid wheelmatrix report: {problem}",
            hint="use the report.json wheelmatrix wrote, unchanged (its schema: "
            "wheelmatrix/data/schemas/report.schema.json)",
        )


def read_report(path: Path) -> LoadedResults:
    with no_cyclic_gc():
        doc = parse_json(path)
        if not (isinstance(doc, dict) and doc.get("tool") == TOOL and isinstance(doc.get("results"), list)):
            raise InputError(
                f'{path} is not a wheelmatrix report (no "tool": "wheelmatrix" with a "results" list)',
                hint=INPUT_HINT,
            )
        schema = doc.get("schema", 1)
        if type(schema) is not int or not 1 <= schema <= SCHEMA_VERSION:
            raise InputError(
                f"{path} is a wheelmatrix report of schema {schema!r}; "
                f"this wheelmatrix ({__version__}) reads schema 1 to {SCHEMA_VERSION}",
                hint="read it with the wheelmatrix that wrote it, or upgrade wheelmatrix",
            )
        check_report(path, doc, schema)
        pool = ValuePool()
        by_check: dict[str, CheckResult] = {}
        for index, entry in enumerate(doc["results"]):
            try:
                if not isinstance(entry, dict):
                    raise ValueError(f"a {type(entry).__name__}, not an object")
                result = CheckResult.from_json(entry, pool=pool)
            except ValueError as exc:
                raise InputError(f"{path}: results[{index}] is not a check result: {exc}") from None
            by_check[result.check_id] = result
    run = doc.get("run")
    return LoadedResults(
        results=list(by_check.values()),
        partial=[],
        run=dict(run) if isinstance(run, dict) else {},
        source=path,
        complete_cells={r.cell_id for r in by_check.values()},
        kind="report",
        schema=int(schema),
    )


def read_static_scans(path: Path) -> list[Any]:
    """The `static_scan` of a JSON report (or of a run directory's report.json); [] when there
    is none or it cannot be read: the scans are extra, the results are what counts."""
    report = path / "report.json" if path.is_dir() else path
    if report.suffix != ".json" or not report.is_file():
        return []
    try:
        doc = loads(report.read_bytes())
    except (OSError, ValueError, RecursionError):
        return []
    scans = doc.get("static_scan") if isinstance(doc, dict) else None
    if not isinstance(scans, list):
        return []
    for index, scan in enumerate(scans):
        problem = first_problem(scan, "report", "static_scan", f"static_scan[{index}]")
        if problem is not None:
            raise InputError(
                f"{report}: not a valid wheelmatrix report: {problem}",
                hint="use the report.json wheelmatrix wrote, unchanged",
            )
    return scans
