"""The JSON report's format, writer and reader side by side: an object with the tool, the
schema (model.SCHEMA_VERSION), the run, a summary, a `results` list (one entry per check), the
static scans and the problems grouped by root cause. `reporters/jsonfile.py` writes it;
`load_results` (resume, compare, merge, render) reads it back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wheelmatrix import __version__
from wheelmatrix.findings.causes import root_causes
from wheelmatrix.model import SCHEMA_VERSION, CheckResult, Status, exit_code

TOOL = "wheelmatrix"


def report_document(
    results: Sequence[CheckResult],
    run: Mapping[str, Any],
    static: Sequence[Any] = (),
    *,
    version: str = __version__,
) -> dict[str, Any]:
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
            "statuses": sorted(s.value for s in c.statuses),
            "checks": len(c.checks),
            "cells": c.cells,
            "check_ids": [r.check_id for r in c.checks],
        }
        for c in root_causes(results)
    ]
