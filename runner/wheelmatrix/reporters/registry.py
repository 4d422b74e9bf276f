"""Every report format by name, and writing the reports a run or `report` asked for. A new
format is a `Reporter` (reporters/base.py) added to `REPORTERS`, its option to
config/runfile.py's REPORT_KEYS/Reports, and its flag to the commands (cli/options.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from wheelmatrix.errors import InputError, did_you_mean
from wheelmatrix.model import CheckResult
from wheelmatrix.reporters.base import ReportContext, Reporter, check_writable
from wheelmatrix.reporters.github import GITHUB
from wheelmatrix.reporters.html import HTML
from wheelmatrix.reporters.jsonfile import JSON
from wheelmatrix.reporters.junit import JUNIT
from wheelmatrix.reporters.markdown import MARKDOWN
from wheelmatrix.reporters.sarif import SARIF

REPORTERS: dict[str, Reporter] = {r.name: r for r in (JSON, JUNIT, MARKDOWN, HTML, GITHUB, SARIF)}
OPTIONS: dict[str, Reporter] = {r.option: r for r in REPORTERS.values()}


def get(name: str) -> Reporter:
    """The reporter of a format; an unknown format is bad input (exit 2)."""
    try:
        return REPORTERS[name]
    except KeyError:
        raise InputError(
            f"unknown report format '{name}'{did_you_mean(name, REPORTERS)}",
            hint=f"report formats: {', '.join(REPORTERS)}",
        ) from None


def by_option(option: str) -> Reporter:
    """The reporter a `--OPTION PATH` flag or `reports:` key asks for."""
    reporter = OPTIONS.get(option)
    return reporter if reporter is not None else get(option)


def check_requests(requests: Iterable[tuple[Reporter, Path]]) -> None:
    """Refuse, before anything runs, a report path that cannot be written."""
    for reporter, path in requests:
        check_writable(reporter.name, path)


def write_reports(
    results: Sequence[CheckResult], context: ReportContext, requests: Iterable[tuple[Reporter, Path]]
) -> None:
    """Each requested report, in order."""
    for reporter, path in requests:
        reporter.write(results, context, path)
