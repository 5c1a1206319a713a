"""`junit.xml`: one testcase per rule, one testsuite per level, for CI test views.

ElementTree escapes markup, but it writes any character it is given, and XML 1.0 forbids
most control characters (a JUnit consumer then rejects the whole file). So every value
goes through `xml_text` first: control characters made visible (`clean_text`), and
whatever XML 1.0 still does not allow replaced by a visible marker. Attribute values are
one line; element text keeps its newlines.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from migma_contract.contract.rules import Level
from migma_contract.core.untrusted import clean_text
from migma_contract.run.result import Finding, RunResult, Status

# Everything outside XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF],
# written as what is left of the code points, not as the production negated: the same set (a str holds nothing above
# U+10FFFF), and ~0.3 ms to compile instead of ~3.5 ms (the negated class builds a map of the whole of Unicode).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: object, *, multiline: bool = False) -> str:
    """Any value as text XML 1.0 allows (one line unless `multiline`)."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", clean_text(value, multiline=multiline))


def _element(parent: ET.Element | None, tag: str, text: str | None = None, **attributes: Any) -> ET.Element:
    cleaned = {name: xml_text(value) for name, value in attributes.items()}
    element = ET.Element(tag, cleaned) if parent is None else ET.SubElement(parent, tag, cleaned)
    if text is not None:
        element.text = xml_text(text, multiline=True)
    return element


def render_junit(result: RunResult) -> str:
    root = _element(None, "testsuites", name="migma-contract", time=f"{result.duration_s:.3f}")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for level in Level:
        rules = [r for r in result.rules if r.level == level.value]
        if not rules:
            continue
        suite = _element(root, "testsuite", name=f"migma-contract.{level.value}", timestamp=result.started,
                         hostname=result.target.label)
        properties = _element(suite, "properties")
        for name, value in (("target", result.target.label), ("level", result.level), ("seed", result.seed),
                            ("spec.fingerprint", result.spec.fingerprint), ("tool.version", result.tool_version),
                            ("requests", result.requests_sent)):
            _element(properties, "property", name=name, value=value)
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for rule in rules:
            counts["tests"] += 1
            case = _element(suite, "testcase", classname=f"migma_contract.{level.value}", name=rule.id, time="0")
            findings = result.findings_for(rule.id)
            if rule.status == Status.FAILED:
                counts["failures"] += 1
                finding = findings[0] if findings else None
                detail = "\n\n".join(_detail(rule.text, rule.source, f) for f in findings) if findings else clean_text(rule.text)
                _element(case, "failure", detail, type="ContractViolation",
                         message=finding.message if finding else f"{rule.failed} failure(s)")
            elif rule.status == Status.NOT_EXERCISED:
                counts["skipped"] += 1
                _element(case, "skipped", message=f"not exercised: {rule.reason or 'no case ran'}")
            elif rule.status == Status.ACCEPTED:
                counts["skipped"] += 1
                message = findings[0].message if findings else "known failure"
                _element(case, "skipped", message=f"known failure accepted by the baseline: {message}")
            more = rule.unshown_line(len(findings))
            lines = [rule.text, f"source: {rule.source}", f"exercised {rule.exercised}, passed {rule.passed}, failed {rule.failed}",
                     *([more] if more else []), *rule.notes]
            _element(case, "system-out", "\n".join(clean_text(line) for line in lines))
        run_lines = [f"warning: {warning}" for warning in result.warnings]
        run_lines += [f"stale baseline entry (no longer fails): {entry}" for entry in result.stale_baseline]
        if run_lines:  # the run's, on each suite: a CI page shows a suite's output
            _element(suite, "system-out", "\n".join(clean_text(line) for line in run_lines))
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
        suite.set("time", "0")
    errors = 0
    if not result.complete:  # a run that did not do all it planned: an error a CI test view shows, never all green
        errors = 1
        suite = _element(root, "testsuite", name="migma-contract.run", timestamp=result.started, hostname=result.target.label,
                         tests="1", failures="0", skipped="0", errors="1", time="0")
        case = _element(suite, "testcase", classname="migma_contract.run", name="run-completed", time="0")
        _element(case, "error", result.completion_words, type=f"Run{result.completion.capitalize()}",
                 message=result.completion_words)
        totals["tests"] += 1
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", str(errors))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _detail(text: str, source: str, finding: Finding) -> str:
    """The failure's text: one line per value (none can add a line), then the body excerpt."""
    lines = [
        f"rule: {finding.rule} [{finding.level}]: {text}",
        f"source: {source}",
        f"case: {finding.case_label}",
        f"expected: {finding.expected}",
        f"got: {finding.actual}",
    ]
    if finding.attribution:
        lines.append(f"why: {finding.attribution}")
    lines += ["", "reproduce:", finding.request.curl, "", f"response: {finding.response.status}"]
    return "\n".join(clean_text(line) for line in lines) + "\n" + clean_text(finding.response.body[:2000], multiline=True)
