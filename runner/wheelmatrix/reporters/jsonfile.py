"""JSON report: an object with a `results` list, one entry per check (schema: model.SCHEMA_VERSION;
read back by wheelmatrix/store.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wheelmatrix import __version__
from wheelmatrix.fsutil import atomic_write_text
from wheelmatrix.model import SCHEMA_VERSION, CheckResult, Status, exit_code


def write_json(
    path: Path, results: Sequence[CheckResult], run: Mapping[str, Any], static: Sequence[Any] = ()
) -> None:
    counts = {s.value: sum(1 for r in results if r.status is s) for s in Status}
    doc = {
        "tool": "wheelmatrix",
        "schema": SCHEMA_VERSION,
        "version": __version__,
        "run": dict(run),
        "summary": {"checks": len(results), "exit_code": exit_code(results), **counts},
        "results": [r.to_json() for r in results],
        "static_scan": list(static),
        "causes": _causes(results),
    }
    atomic_write_text(Path(path), json.dumps(doc, indent=2) + "\n")


def _causes(results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """The problems grouped by root cause, with the check ids of each group."""
    from wheelmatrix.findings.causes import root_causes

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
