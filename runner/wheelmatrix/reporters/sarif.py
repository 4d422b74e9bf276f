"""SARIF 2.1.0: the problems grouped by root cause as the results of one run, for code-scanning
views (GitHub's upload-sarif, IDE viewers). One rule per status (`wheelmatrix/crashed`...),
one result per root cause with the same level rules as the workflow annotations, located at
the wheel file it hit, and a fingerprint of the cause text so a view can follow it across runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from wheelmatrix.findings.causes import Cause, root_causes
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters.base import ReportContext, TextReporter
from wheelmatrix.reporters.github import level, wheels_of

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULE_TEXT = {
    Status.PASSED: "passed, with a warning or a diagnosis",
    Status.FAILED: "a check failed (a Python exception, or the installer rejected the set)",
    Status.CRASHED: "a check crashed (killed by a signal)",
    Status.TIMED_OUT: "a check timed out",
    Status.NOT_INSTALLABLE: "not installable in the cell",
    Status.ERROR: "the infrastructure broke (not blamed on the wheel)",
    Status.KNOWN: "a known problem of a companion set, not of the candidates",
    Status.SKIPPED: "not run: the project's own rule skips it here (cibuildwheel's test-skip)",
}


def rule_id(status: Status) -> str:
    return f"wheelmatrix/{status.value}"


def _result(cause: Cause) -> dict[str, Any]:
    worst = min(cause.statuses, key=list(Status).index)
    example = cause.checks[0]
    text = f"{cause.summary()}. e.g. {example.row} {example.check}: {example.detail or example.status.value}"
    out: dict[str, Any] = {
        "ruleId": rule_id(worst),
        "level": level(cause),
        "message": {"text": text},
        "partialFingerprints": {"wheelmatrixCause/v1": hashlib.sha256(cause.text.encode()).hexdigest()},
        "properties": {
            "statuses": sorted(s.value for s in cause.statuses),
            "cells": cause.cells,
            "check_ids": [r.check_id for r in cause.checks],
        },
    }
    wheels = wheels_of(cause)
    if wheels:
        out["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": w}}} for w in wheels]
    return out


def render_sarif(results: Sequence[CheckResult], context: ReportContext) -> str:
    causes = root_causes(results)
    used = sorted({min(c.statuses, key=list(Status).index) for c in causes}, key=list(Status).index)
    driver = {
        "name": "wheelmatrix",
        "version": context.tool_version,
        "rules": [
            {"id": rule_id(s), "name": s.value, "shortDescription": {"text": RULE_TEXT[s]}} for s in used
        ],
    }
    run: dict[str, Any] = {"tool": {"driver": driver}, "results": [_result(c) for c in causes]}
    if context.run.get("id"):
        run["automationDetails"] = {"id": f"wheelmatrix/{context.run['id']}"}
    doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"


SARIF = TextReporter("sarif", "a SARIF 2.1.0 log, one result per root cause", render_sarif)
