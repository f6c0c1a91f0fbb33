"""JUnit XML for a gate verdict: one test case per policy x decider x check, for CI test tabs.

Test cases are grouped in one ``<testsuite>`` per policy (run-level checks in ``run``); a failed
check carries its message in ``<failure message=...>``, a check that could not be evaluated is
``<skipped>``. Text is escaped by ``xml.etree``; control characters, which XML 1.0 cannot hold
(``xml.etree`` would write them raw and CI parsers reject the file), and bidi overrides are shown
as escapes (:func:`.terminal.visible`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from ..records.gate import GateCheck, GateResult
from .terminal import visible

__all__ = ["junit_xml"]


def _case(suite: ET.Element, check: GateCheck) -> None:
    classname = visible(".".join(p for p in ("evalharness", check.policy or "run", check.decider)
                                 if p))
    case = ET.SubElement(suite, "testcase", {"classname": classname, "name": visible(check.name),
                                             "time": "0"})
    if not check.passed:
        line = visible(check.line())
        failure = ET.SubElement(case, "failure", {"message": line, "type": visible(check.check)})
        failure.text = line
    elif check.skipped:
        ET.SubElement(case, "skipped", {"message": visible(check.message)})
    else:
        out = ET.SubElement(case, "system-out")
        out.text = visible(check.message)


def junit_xml(result: GateResult, *, name: str = "evalharness gate") -> str:
    """The verdict as a JUnit XML document (UTF-8, with declaration)."""
    by_suite: dict[str, list[GateCheck]] = defaultdict(list)
    for check in result.checks:
        by_suite[check.policy or "run"].append(check)
    root = ET.Element("testsuites", {
        "name": name,
        "tests": str(len(result.checks)),
        "failures": str(len(result.failures)),
        "errors": "0",
        "skipped": str(sum(c.skipped and c.passed for c in result.checks)),
    })
    for suite_name, checks in by_suite.items():
        suite = ET.SubElement(root, "testsuite", {
            "name": visible(f"{name}: {suite_name}"),
            "tests": str(len(checks)),
            "failures": str(sum(not c.passed for c in checks)),
            "errors": "0",
            "skipped": str(sum(c.skipped and c.passed for c in checks)),
        })
        for check in checks:
            _case(suite, check)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
