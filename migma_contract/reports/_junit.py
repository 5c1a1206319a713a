"""`junit.xml`: one testcase per rule, one testsuite per level, for CI test views."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .._result import RunResult, Status
from .._rules import Level


def render_junit(result: RunResult) -> str:
    root = ET.Element("testsuites", name="migma-contract", time=f"{result.duration_s:.3f}")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for level in Level:
        rules = [r for r in result.rules if r.level == level.value]
        if not rules:
            continue
        suite = ET.SubElement(root, "testsuite", name=f"migma-contract.{level.value}", timestamp=result.started,
                              hostname=result.target.label)
        properties = ET.SubElement(suite, "properties")
        for name, value in (("target", result.target.label), ("level", result.level), ("seed", result.seed),
                            ("spec.fingerprint", result.spec.fingerprint), ("tool.version", result.tool_version),
                            ("requests", result.requests_sent)):
            ET.SubElement(properties, "property", name=name, value=str(value))
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for rule in rules:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=f"migma_contract.{level.value}", name=rule.id, time="0")
            findings = result.findings_for(rule.id)
            if rule.status == Status.FAILED:
                counts["failures"] += 1
                finding = findings[0] if findings else None
                failure = ET.SubElement(case, "failure", type="ContractViolation",
                                        message=finding.message if finding else f"{rule.failed} failure(s)")
                failure.text = "\n\n".join(_detail(rule.text, rule.source, f) for f in findings) if findings else rule.text
            elif rule.status == Status.NOT_EXERCISED:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"not exercised: {rule.reason or 'no case ran'}")
            elif rule.status == Status.ACCEPTED:
                counts["skipped"] += 1
                message = findings[0].message if findings else "known failure"
                ET.SubElement(case, "skipped", message=f"known failure accepted by the baseline: {message}")
            out = ET.SubElement(case, "system-out")
            out.text = f"{rule.text}\nsource: {rule.source}\nexercised {rule.exercised}, passed {rule.passed}, failed {rule.failed}"
            if rule.notes:
                out.text += "\n" + "\n".join(rule.notes)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
        suite.set("time", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _detail(text: str, source: str, finding) -> str:  # type: ignore[no-untyped-def]
    lines = [
        f"rule: {finding.rule} [{finding.level}]: {text}",
        f"source: {source}",
        f"case: {finding.case_label}",
        f"expected: {finding.expected}",
        f"got: {finding.actual}",
    ]
    if finding.attribution:
        lines.append(f"why: {finding.attribution}")
    lines += ["", "reproduce:", finding.request.curl, "", f"response: {finding.response.status}", finding.response.body[:2000]]
    return "\n".join(lines)
