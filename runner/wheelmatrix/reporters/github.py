"""GitHub workflow annotations: one `::error` or `::warning` workflow command per root cause
(the grouping every report shares), so a workflow run shows what broke on its summary page and
next to the wheel. Printed to the step's standard output (`-`) GitHub reads them as they come;
written to a file, a later step can `cat` it.

`::error` when the cause failed, crashed or timed out a check or broke the infrastructure;
`::warning` for the rest (not installable, known problems, passes with a warning or a
diagnosis). `file` is the wheel file the cause hit (the one most of its checks ran with, the
others named in the message); properties and message are escaped per GitHub's rules for
workflow commands."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from wheelmatrix.findings.causes import Cause, root_causes
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters.base import ReportContext, TextReporter

_MAX_CELLS = 6


def escape_data(text: str) -> str:
    """A command's message: `%`, CR and LF percent-encoded (a newline stays a newline)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (file, title): also `:` and `,`, which end a property."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def level(cause: Cause) -> str:
    broken = any(s.is_wheel_failure or s is Status.ERROR for s in cause.statuses)
    return "error" if broken else "warning"


def wheels_of(cause: Cause) -> list[str]:
    """The wheel files the cause's checks ran with, the most used first."""
    counts = Counter(w for r in cause.checks for w in r.wheels)
    return [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def annotation(cause: Cause) -> str:
    worst = min(cause.statuses, key=list(Status).index)
    n, m = len(cause.checks), len(cause.cells)
    title = f"wheelmatrix: {worst.value}, {n} check{'s' * (n != 1)} in {m} cell{'s' * (m != 1)}"
    example = cause.checks[0]
    lines = [cause.text, f"e.g. {example.row} {example.check}: {example.detail or example.status.value}"]
    if m > 1:
        more = f" (+{m - _MAX_CELLS} more)" if m > _MAX_CELLS else ""
        lines.append(f"cells: {', '.join(cause.cells[:_MAX_CELLS])}{more}")
    wheels = wheels_of(cause)
    if len(wheels) > 1:
        lines.append(f"wheels: {', '.join(wheels)}")
    props = [f"file={escape_property(wheels[0])}"] if wheels else []
    props.append(f"title={escape_property(title)}")
    return f"::{level(cause)} {','.join(props)}::{escape_data(chr(10).join(lines))}"


def render_annotations(results: Sequence[CheckResult], context: ReportContext) -> str:
    return "".join(annotation(cause) + "\n" for cause in root_causes(results))


GITHUB = TextReporter(
    "github",
    "GitHub workflow annotations, one per root cause",
    render_annotations,
    option="annotations",
)
