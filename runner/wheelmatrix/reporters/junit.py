"""JUnit XML: one testcase per check, one testsuite per cell (distro/arch/Python/scenario and
variant), so testcase names are unique per cell and variant and a CI test view shows them all."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters.base import ReportContext, TextReporter

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _unique(seen: set[tuple[str, str]], suite: str, name: str) -> str:
    """The check's name, with ' (2)', ' (3)'... if the same cell reported it more than once."""
    candidate, n = name, 1
    while (suite, candidate) in seen:
        n += 1
        candidate = f"{name} ({n})"
    seen.add((suite, candidate))
    return candidate


def render_junit(results: Sequence[CheckResult], context: ReportContext) -> str:
    root = ET.Element("testsuites", name="wheelmatrix")
    suites: dict[str, ET.Element] = {}
    seen: set[tuple[str, str]] = set()
    for r in results:
        key = r.cell_id.replace("/", ".")
        suite = suites.get(key)
        if suite is None:
            suite = suites[key] = ET.SubElement(root, "testsuite", name=key)
        case = ET.SubElement(suite, "testcase", classname=key, name=_unique(seen, key, r.check))
        case.set("time", f"{r.duration_s:.3f}")
        output = str(r.evidence.get("output_tail") or r.evidence.get("installer_output") or "")
        message = f"{r.detail} => {r.diagnosis}" if r.diagnosis else r.detail
        if r.status in (Status.FAILED, Status.CRASHED, Status.TIMED_OUT):
            el = ET.SubElement(case, "failure", type=r.status.value, message=_xml_text(message))
            el.text = _xml_text(output)
        elif r.status is Status.ERROR:
            el = ET.SubElement(case, "error", type="error", message=_xml_text(message))
            el.text = _xml_text(output)
        elif r.evidence.get("warnings"):  # passed, but printed an import-time warning
            out = ET.SubElement(case, "system-err")
            out.text = _xml_text("warning: " + "\n".join(map(str, r.evidence["warnings"])))
        elif r.status is Status.KNOWN:
            ET.SubElement(case, "skipped", message=_xml_text(f"known: {message}"))
        elif r.status is Status.SKIPPED:
            ET.SubElement(case, "skipped", message=_xml_text(f"skipped: {r.detail}"))
        elif r.status is Status.NOT_INSTALLABLE:
            ET.SubElement(case, "skipped", message=_xml_text(f"not-installable: {r.detail}"))
    for suite in suites.values():
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
        suite.set("time", f"{sum(float(c.get('time', 0)) for c in cases):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


JUNIT = TextReporter("junit", "JUnit XML, one testcase per check, one testsuite per cell", render_junit)
