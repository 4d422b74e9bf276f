"""The JSON report (its format, and reading it back: run/jsonreport.py)."""

from __future__ import annotations

from collections.abc import Sequence

from wheelmatrix.fsutil import json_text
from wheelmatrix.model import CheckResult
from wheelmatrix.reporters.base import ReportContext, TextReporter
from wheelmatrix.run import jsonreport


def render_json(results: Sequence[CheckResult], context: ReportContext) -> str:
    doc = jsonreport.report_document(results, context.run, context.static, version=context.tool_version)
    return json_text(doc, indent=2) + "\n"


JSON = TextReporter(
    "json", "the JSON report (read back by resume, compare, report merge/render)", render_json
)
